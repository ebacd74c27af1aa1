//! End to end: the collector's config reloaded on SIGHUP while agents' events keep arriving.
//! A valid file changes receivers and rules without a restart, no event is lost and no alert is
//! paged twice; an invalid one is refused and the running config kept; a firing alert whose rule
//! is removed resolves once. `/metrics` reports each reload's outcome.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, event_line, wait_until};

fn config(path: &Path, hooks: &[&HttpSink], rule: bool, extra: &str) {
    let mut text = String::from("[alerts]\nresolve_hold_s = 1\ngroup_interval_s = 0.5\n");
    for (i, h) in hooks.iter().enumerate() {
        text.push_str(&format!(
            "\n[[alerts.receivers]]\nname = \"hook{}\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            i + 1,
            h.url
        ));
    }
    if rule {
        text.push_str(
            "\n[[alerts.rules]]\nname = \"Boom\"\nquery = 'boom'\nthreshold = 1\nwindow_s = 3600\n\
             group_by = [\"host\"]\nseverity = \"critical\"\n",
        );
    }
    text.push_str(extra);
    std::fs::write(path, text).unwrap();
}

fn sighup(c: &Collector) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &c.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

fn count(sink: &HttpSink, status: &str) -> usize {
    sink.alerts("Boom")
        .iter()
        .filter(|(s, _, _)| s == status)
        .count()
}

#[test]
fn sighup_reloads_receivers_and_rules_under_load_refuses_a_bad_file_and_resolves_a_removed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (hook1, hook2) = (HttpSink::start(0), HttpSink::start(0));
    let cfg = dir.path().join("collector.toml");
    config(&cfg, &[&hook1], true, "");
    let c = Arc::new(Collector::start(
        &dir.path().join("c"),
        &["--config", cfg.to_str().unwrap()],
    ));
    let started_at = c
        .metric("logwarden_config_last_reload_success_timestamp_seconds")
        .unwrap();
    assert_eq!(
        c.metric("logwarden_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(
        started_at > 1.7e9,
        "the start counts as a load: {started_at}"
    );

    c.ingest_ok(&[event_line("boom", 1, "boom went the disk")]);
    assert!(
        wait_until(Duration::from_secs(10), || count(&hook1, "firing") == 1),
        "Boom not paged"
    );

    // Events keep arriving through every reload below.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (c, stop, sent) = (c.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<String> = (0..200)
                    .map(|_| {
                        seq += 1;
                        event_line("load", seq, &format!("loadline {seq}"))
                    })
                    .collect();
                c.ingest_ok(&batch);
                sent.fetch_add(200, Ordering::SeqCst);
            }
        })
    };

    // 1. A second receiver: it is told what fires now; the first is not paged again.
    config(&cfg, &[&hook1, &hook2], true, "");
    sighup(&c);
    assert!(
        wait_until(Duration::from_secs(10), || count(&hook2, "firing") == 1),
        "the new receiver was not told"
    );
    let after_first = c
        .metric("logwarden_config_last_reload_success_timestamp_seconds")
        .unwrap();
    assert!(after_first >= started_at);
    assert_eq!(
        c.metric("logwarden_config_last_reload_successful"),
        Some(1.0)
    );

    // 2. A file with a mistake is refused: the running config (both receivers, the rule) stays.
    config(
        &cfg,
        &[&hook1],
        false,
        "\n[alerts.route]\nreceiver = \"hook1\"\n[[alerts.route.routes]]\nmatchers = ['host=~\"mbox[0-9\"']\n",
    );
    sighup(&c);
    assert!(
        wait_until(Duration::from_secs(10), || c
            .metric("logwarden_config_last_reload_successful")
            == Some(0.0)),
        "the bad file was not refused"
    );
    assert_eq!(
        c.metric("logwarden_config_last_reload_success_timestamp_seconds"),
        Some(after_first)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&hook1, "resolved"), 0, "the rule was kept");

    // 3. The rule removed: its firing alert resolves, once, to each receiver told it fired.
    config(&cfg, &[&hook1, &hook2], false, "");
    sighup(&c);
    assert!(
        wait_until(Duration::from_secs(15), || count(&hook1, "resolved") == 1
            && count(&hook2, "resolved") == 1),
        "no resolve: hook1 {:?} hook2 {:?}",
        hook1.alerts("Boom"),
        hook2.alerts("Boom")
    );
    assert_eq!(
        c.metric("logwarden_config_last_reload_successful"),
        Some(1.0)
    );

    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    // Quiet for a while: nothing more comes.
    std::thread::sleep(Duration::from_secs(2));
    for (name, h) in [("hook1", &hook1), ("hook2", &hook2)] {
        assert_eq!(
            count(h, "firing"),
            1,
            "{name} paged twice: {:?}",
            h.alerts("Boom")
        );
        assert_eq!(count(h, "resolved"), 1, "{name}: {:?}", h.alerts("Boom"));
    }
    // No event lost: every load line is searchable.
    let total = sent.load(Ordering::SeqCst);
    assert!(total >= 200, "the load ran: {total}");
    assert!(
        wait_until(Duration::from_secs(60), || c.count("loadline") == total),
        "{} of {total} events searchable",
        c.count("loadline")
    );
    eprintln!("{total} events ingested across 3 reloads; none lost");
}

/// An annotation template that does not read, given by a SIGHUP: the file is refused, the log
/// names its file and line, and the running rules (with their old template) keep paging.
#[test]
fn a_reload_with_a_template_that_does_not_read_is_refused_with_its_line_and_the_rules_kept() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpSink::start(0);
    let cfg = dir.path().join("collector.toml");
    let log = dir.path().join("collector.log");
    let write = |summary: &str| {
        config(
            &cfg,
            &[&hook],
            true,
            &format!("[alerts.rules.annotations]\nsummary = \"{summary}\"\n"),
        )
    };
    write("{{ labels.host }} went boom");
    let c = Collector::start_logged(
        &dir.path().join("c"),
        &["--config", cfg.to_str().unwrap()],
        &log,
    );
    let boom = |host: &str, seq: u64| {
        serde_json::json!({
            "id": format!("{host}:{seq}"), "ts": chrono::Utc::now().to_rfc3339(),
            "host": host, "site": "lab", "source": "/var/log/test.log", "app": "test",
            "severity": "info", "kind": "log", "message": "boom went the disk",
        })
        .to_string()
    };
    let summaries = || -> Vec<String> {
        hook.posts()
            .iter()
            .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["annotations"]["summary"].as_str().map(str::to_owned))
            .collect()
    };
    c.ingest_ok(&[boom("mbox1", 1)]);
    assert!(
        wait_until(Duration::from_secs(10), || summaries()
            .contains(&"mbox1 went boom".to_owned())),
        "{:?}",
        summaries()
    );

    write("{{ labels.host went boom");
    let bad_line = std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("summary"))
        .unwrap()
        + 1;
    sighup(&c);
    assert!(
        wait_until(Duration::from_secs(10), || c
            .metric("logwarden_config_last_reload_successful")
            == Some(0.0)),
        "the bad template was not refused"
    );
    let where_ = format!("{}, line {bad_line}", cfg.display());
    assert!(
        wait_until(Duration::from_secs(5), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines().any(|l| {
                l.contains("config reload refused")
                    && l.contains(&where_)
                    && l.contains("annotation \"summary\"")
                    && l.contains("without a closing")
            })
        }),
        "no log line names {where_}:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // The running rule, with its template, still pages.
    c.ingest_ok(&[boom("mbox2", 1)]);
    assert!(
        wait_until(Duration::from_secs(10), || summaries()
            .contains(&"mbox2 went boom".to_owned())),
        "{:?}",
        summaries()
    );
}
