//! End to end: the agent's file list reloaded on SIGHUP (`systemctl reload`). A glob added
//! starts being tailed (its file's lines arrive once); a glob removed stops being read, and
//! where it was read to is kept (added back, only its new lines arrive); a config that does not
//! pass is refused with its file and line in the log, and the running list goes on.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use logwarden_tests::{Agent, Collector, wait_until};

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

fn files_config(path: &Path, globs: &[&Path]) {
    let mut text = String::from("[tail]\nscan_ms = 100\n");
    for g in globs {
        text.push_str(&format!("\n[[files]]\npath = \"{}\"\n", g.display()));
    }
    std::fs::write(path, text).unwrap();
}

fn sighup(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

#[test]
fn sighup_tails_an_added_glob_stops_a_removed_one_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("c"), &[]);
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (alpha, bravo) = (logs.join("alpha.log"), logs.join("bravo.log"));
    let bravo_glob = logs.join("brav*.log");
    append(&alpha, &["alphaword one"]);
    append(&bravo, &["bravoword one", "bravoword two"]);
    let cfg = dir.path().join("agent.toml");
    let log = dir.path().join("agent.log");
    files_config(&cfg, &[&alpha]);
    let agent = Agent::start_logged(
        &dir.path().join("a"),
        &c.url,
        &[],
        &["--config", cfg.to_str().unwrap()],
        Some(&log),
    );
    let count_is = |word: &str, n: u64| {
        wait_until(Duration::from_secs(30), || c.count(word) >= n) && {
            // Nothing more comes (a line read twice would).
            std::thread::sleep(Duration::from_millis(700));
            c.count(word) == n
        }
    };
    assert!(count_is("alphaword", 1), "alpha: {}", c.count("alphaword"));
    assert_eq!(c.count("bravoword"), 0, "bravo is not in the list yet");
    let logged = |what: &str| {
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains(what))
        })
    };

    // 1. A glob added: its file is read from its start, once; alpha goes on.
    files_config(&cfg, &[&alpha, &bravo_glob]);
    sighup(agent.pid());
    assert!(count_is("bravoword", 2), "bravo: {}", c.count("bravoword"));
    append(&alpha, &["alphaword two"]);
    assert!(count_is("alphaword", 2), "alpha: {}", c.count("alphaword"));

    // 2. alpha's glob removed: its new lines are not read; bravo goes on.
    files_config(&cfg, &[&bravo_glob]);
    sighup(agent.pid());
    assert!(
        logged("no longer in the file list"),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    append(&alpha, &["alphaword three"]);
    append(&bravo, &["bravoword three"]);
    assert!(count_is("bravoword", 3), "bravo: {}", c.count("bravoword"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(c.count("alphaword"), 2, "alpha is no longer read");

    // 3. A file that does not parse: refused with its file and line; the list stays.
    std::fs::write(
        &cfg,
        format!(
            "[tail]\nscan_ms = 100\n\n[[files]]\npath = \"{}\"\nformat = 7\n",
            alpha.display()
        ),
    )
    .unwrap();
    sighup(agent.pid());
    let refused = format!("{}, line 6", cfg.display());
    assert!(
        logged("config reload refused") && logged(&refused),
        "no refusal naming {refused}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    append(&bravo, &["bravoword four"]);
    assert!(count_is("bravoword", 4), "bravo: {}", c.count("bravoword"));
    assert_eq!(c.count("alphaword"), 2, "the bad file's glob was not taken");

    // 4. alpha added back, after the tailer's prune of contents no file holds (every 10 s)
    //    has passed: only what it was not read of arrives (its place was kept).
    std::thread::sleep(Duration::from_secs(11));
    files_config(&cfg, &[&alpha, &bravo_glob]);
    sighup(agent.pid());
    assert!(count_is("alphaword", 3), "alpha: {}", c.count("alphaword"));
    let three = c.search("alphaword");
    let mut messages: Vec<&str> = three.iter().filter_map(|e| e["message"].as_str()).collect();
    messages.sort();
    assert_eq!(
        messages,
        ["alphaword one", "alphaword three", "alphaword two"]
    );
}
