//! One process per data folder: a second agent or collector started on a folder in use exits at
//! once, naming the folder and the pid of the process that holds it; the lock goes with the
//! process (SIGKILL included), so a restart on the same folder is never refused.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Agent, Collector, bin, event_line, wait_until};

/// Runs a second process that must give up on its own: its exit code and stderr. It is killed
/// (and the test fails) if it is still running after 30 s.
fn second(program: &str, args: &[&str], data_dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(bin(program))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the second process");
    let exited = wait_until(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
    }
    let out = child
        .wait_with_output()
        .expect("reaping the second process");
    assert!(
        exited,
        "the second {program} on one data folder kept running"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(program: &str, code: Option<i32>, stderr: &str, dir: &Path, holder: u32) {
    assert_eq!(code, Some(2), "{program} exit code; stderr: {stderr}");
    let expected = format!(
        "{program}: {} is in use by another {program} (pid {holder}",
        dir.display()
    );
    assert!(
        stderr.contains(&expected),
        "stderr names the folder and the holder:\n  expected {expected:?}\n  got {stderr:?}"
    );
}

#[test]
fn a_second_collector_on_one_data_folder_exits_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let mut first = Collector::start(&data, &[]);
    first.ingest_ok(&[event_line("a1", 1, "before the second collector")]);

    // On another port: only the lock can stop it.
    let (code, stderr) = second(
        "logwarden-collector",
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--syslog-udp",
            "off",
            "--syslog-tcp",
            "off",
        ],
        &data,
    );
    assert_refused("logwarden-collector", code, &stderr, &data, first.pid());
    // On the first one's own port: the folder is named, not "Address already in use".
    let (code, stderr) = second(
        "logwarden-collector",
        &["run", "--listen", &first.addr.clone()],
        &data,
    );
    assert_refused("logwarden-collector", code, &stderr, &data, first.pid());

    // The first one went on untouched.
    first.ingest_ok(&[event_line("a1", 2, "after the second collector")]);
    assert!(wait_until(Duration::from_secs(30), || first
        .count("collector")
        == 2));

    // SIGKILL releases the lock: the restart on the same folder is not refused, and keeps both.
    first.kill9();
    first.restart();
    assert!(wait_until(Duration::from_secs(30), || first
        .count("collector")
        == 2));
}

#[test]
fn a_second_agent_on_one_data_folder_exits_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let log = dir.path().join("app.log");
    std::fs::write(&log, "first line numbat\n").unwrap();
    let data = dir.path().join("agent");
    let mut first = Agent::start(&data, &collector.url, &[log.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("numbat")
        == 1));

    let (code, stderr) = second(
        "logwarden-agent",
        &[
            "run",
            "--collector",
            &collector.url,
            "--file",
            log.to_str().unwrap(),
        ],
        &data,
    );
    assert_refused("logwarden-agent", code, &stderr, &data, first.pid());
    assert!(first.is_running(), "the first agent keeps running");

    // SIGKILL releases the lock: a new agent on the folder resumes, nothing read twice.
    first.kill9();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"second line numbat\n"))
        .unwrap();
    let _again = Agent::start(&data, &collector.url, &[log.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("numbat")
        == 2));
    // Give a duplicate time to show up.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(collector.count("numbat"), 2);
}
