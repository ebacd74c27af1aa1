//! The README's first command, `scripts/start`, as a new user meets it: it says which files it
//! tails and which are missing, what it started (and that the collector answering is its own),
//! and a second start in the same folder says what is already running instead of starting a
//! second agent. Run on the debug binaries (`LOGWARDEN_BIN_DIR`) and free loopback ports.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use logwarden_tests::{bin, free_addr, wait_until};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/start")
}

struct Env {
    cwd: PathBuf,
    url: String,
    syslog: String,
    metrics: String,
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(args)
            .current_dir(&self.cwd)
            .env(
                "LOGWARDEN_BIN_DIR",
                bin("logwarden").parent().expect("binaries' folder"),
            )
            .env("LOGWARDEN_SERVER", &self.url)
            .env("LOGWARDEN_SYSLOG", &self.syslog)
            .env("LOGWARDEN_AGENT_METRICS", &self.metrics);
        cmd
    }
}

/// The running script; stopped with SIGTERM (which stops the agent, then the collector).
struct Started {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Started {
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        self.child.wait().expect("reaping scripts/start")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn start_reports_its_files_and_a_second_start_says_what_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "hello from the first hour wallaby\n").unwrap();
    let missing = format!("{}/nothing-*.log", dir.path().display());
    let env = Env {
        cwd: dir.path().to_owned(),
        url: format!("http://{}", free_addr()),
        syslog: free_addr(),
        metrics: free_addr(),
    };

    let mut child = env
        .command(&["--file", log.to_str().unwrap(), "--file", &missing])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running scripts/start");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut first = Started { child, lines: rx };
    let mut banner = Vec::new();
    loop {
        match first.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line == "Press Ctrl-C to stop." => break,
            Ok(line) => banner.push(line),
            Err(_) => panic!("scripts/start did not finish starting; printed: {banner:#?}"),
        }
    }
    let text = banner.join("\n");
    println!("{text}");
    assert!(
        text.contains(&format!("  found     {}", log.display())),
        "the existing file is reported: {text}"
    );
    assert!(
        text.contains(&format!("  missing   {missing} (nothing there now")),
        "the glob that matches nothing is reported: {text}"
    );
    // `logwarden is running: collector pid N (./logwarden-data), agent pid M (...)`.
    let running = banner
        .iter()
        .find(|l| l.starts_with("logwarden is running: collector pid "))
        .expect("the banner names the processes");
    let pids: Vec<u32> = running
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (collector_pid, agent_pid) = (pids[0], pids[1]);
    assert!(alive(collector_pid) && alive(agent_pid), "{running}");

    // The --file given is tailed: its line is searchable.
    let cli = || {
        let mut c = Command::new(bin("logwarden"));
        c.arg("--server").arg(&env.url);
        c
    };
    assert!(
        wait_until(Duration::from_secs(60), || {
            cli()
                .args(["search", "wallaby", "--since", "1h"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("first hour wallaby"))
        }),
        "the line of the --file was not found"
    );

    // A second start in the same folder: refused at once, naming both running processes.
    let second = env
        .command(&[])
        .output()
        .expect("running scripts/start again");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("logwarden is already running from this folder"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "./logwarden-data is in use by pid {collector_pid}: "
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "./logwarden-agent-data is in use by pid {agent_pid}: "
        )),
        "{err}"
    );
    assert!(alive(collector_pid) && alive(agent_pid));

    // From another folder, on the same address: the port is taken by a collector, said so.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Env {
        cwd: elsewhere.path().to_owned(),
        url: env.url.clone(),
        syslog: free_addr(),
        metrics: free_addr(),
    };
    let third = other.command(&[]).output().expect("running scripts/start");
    let err = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(
            "a logwarden collector (not this folder's: ./logwarden-data is free) already listens on"
        ),
        "{err}"
    );
    assert!(!elsewhere.path().join("logwarden-data").exists());

    // SIGTERM stops both, and the folder is free again.
    let status = first.stop();
    assert!(status.success(), "scripts/start stopped with {status}");
    assert!(wait_until(Duration::from_secs(30), || !alive(
        collector_pid
    ) && !alive(
        agent_pid
    )));
}
