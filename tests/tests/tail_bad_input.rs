//! Bad input under the agent's globs, end to end: a FIFO, a directory, a symlink loop, a file
//! without read permission, a glob that matches nothing, a binary file, a gzip file with a
//! `.log` name and a 50 MB line with no newline. Each problem is said once in the agent's log (not at every scan), naming the path
//! and the problem; the agent goes on; nothing readable is lost: the good file, the binary
//! file's lines, the head of the long line (flagged `truncated`) and the line after it, and the
//! unreadable file's lines once it is made readable.
//!
//! Permissions do not stop root: run as root, the test starts the agent as `nobody` (65534)
//! through `setpriv`, with its data folder given to that user.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Collector, bin, wait_until};

const NOBODY: u32 = 65534;

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).expect("chown");
}

#[test]
fn fifos_directories_loops_unreadable_binary_and_huge_lines_are_named_once_and_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cdir, adir, logs) = (
        tmp.path().join("collector"),
        tmp.path().join("agent"),
        tmp.path().join("logs"),
    );
    std::fs::create_dir_all(&adir).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let root = rustix::process::geteuid().is_root();
    let collector = Collector::start(&cdir, &[]);

    let good: String = (0..100).map(|i| format!("badinput good n{i}\n")).collect();
    std::fs::write(logs.join("good.log"), &good).unwrap();
    let mut binary = b"\x00\x01\x02ELF\x00\xff\xfe\n".to_vec();
    binary.extend_from_slice(b"badinput binary line\n");
    std::fs::write(logs.join("binary.log"), &binary).unwrap();
    let mut long = std::fs::File::create(logs.join("long.log")).unwrap();
    long.write_all(b"badinput longline ").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..50 {
        long.write_all(&chunk).unwrap();
    }
    Command::new("mkfifo")
        .arg(logs.join("pipe.log"))
        .status()
        .expect("mkfifo");
    std::fs::create_dir(logs.join("folder.log")).unwrap();
    std::os::unix::fs::symlink(logs.join("loop1.log"), logs.join("loop2.log")).unwrap();
    std::os::unix::fs::symlink(logs.join("loop2.log"), logs.join("loop1.log")).unwrap();
    // Compressed content under a name the glob takes: never read as text.
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(logs.join("packed.log")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(b"badinput packed n1\n").unwrap();
    gz.finish().unwrap();
    let secret = logs.join("secret.log");
    std::fs::write(&secret, "badinput secret n1\nbadinput secret n2\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    if root {
        chown(&adir, NOBODY);
        for f in ["good.log", "binary.log", "long.log", "packed.log"] {
            chown(&logs.join(f), NOBODY);
        }
    }

    let log_path = tmp.path().join("agent.log");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin("logwarden-agent"));
        c
    } else {
        Command::new(bin("logwarden-agent"))
    };
    let glob = format!("{}/*.log", logs.display());
    let nothing = format!("{}/nothing-here-*.log", logs.display());
    let mut agent = cmd
        .arg("run")
        .args([
            "--collector",
            &collector.url,
            "--host",
            "badhost",
            "--site",
            "lab",
        ])
        .arg("--data-dir")
        .arg(&adir)
        .args(["--file", &glob, "--file", &nothing])
        .env("LOGWARDEN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("starting the agent");

    // The good file, the binary file's line and the head of the long line arrive.
    assert!(
        wait_until(Duration::from_secs(60), || collector.count("badinput good")
            >= 100
            && collector.count("badinput binary") >= 1),
        "good and binary lines did not arrive"
    );
    // The long line goes on, then ends: its head is shipped cut and flagged, the next line too.
    long.write_all(b"\nbadinput afterlong\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || collector
            .count("badinput afterlong")
            == 1),
        "the line after the 50 MB line did not arrive"
    );
    let head = collector.hits("badinput longline", 10);
    assert_eq!(head.len(), 1, "the long line's head: {head:?}");
    assert_eq!(head[0]["fields"]["truncated"], true);
    assert_eq!(head[0]["message"].as_str().unwrap().len(), 64 * 1024);
    // Some more scans (250 ms each): the problems must not be said again.
    std::thread::sleep(Duration::from_secs(3));
    assert!(agent.try_wait().unwrap().is_none(), "the agent exited");

    let text = std::fs::read_to_string(&log_path).unwrap();
    let warned = |needle: &str| {
        text.lines()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .count()
    };
    for (needle, problem) in [
        ("pipe.log", "fifo"),
        ("folder.log", "directory"),
        ("loop1.log", "symlink loop"),
        ("loop2.log", "symlink loop"),
        ("nothing-here-", "no match"),
        ("binary.log", "binary"),
        ("long.log", "longer than max_line_bytes"),
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{needle} ({problem}) must be said exactly once; agent log:\n{text}"
        );
        assert!(
            lines[0].contains(problem),
            "{needle}: {problem} not named: {}",
            lines[0]
        );
    }
    let compressed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("packed.log") && l.contains("compressed"))
        .collect();
    assert_eq!(compressed.len(), 1, "packed.log: {compressed:?}");
    // Unreadable for the agent's user: said once, not at every scan.
    assert_eq!(
        warned("secret.log"),
        1,
        "an unreadable file must be said once; agent log:\n{text}"
    );
    assert!(text.contains("Permission denied"), "{text}");
    // Made readable: read from its start, and the problem is said to be over.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || collector
            .count("badinput secret")
            == 2),
        "the file made readable was not read"
    );
    let _ = agent.kill();
    let _ = agent.wait();
    // Nothing was read twice.
    assert_eq!(collector.count("badinput good"), 100);
    assert_eq!(collector.count("badinput binary"), 1);
    assert_eq!(collector.count("badinput packed"), 0);
}
