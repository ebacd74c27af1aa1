//! The journal as a source through journal rotation and vacuum, against real journal files.
//!
//! Rotation is done as journald does it: the active `system.journal` is renamed to its archived
//! name (`system@SEQNUMID-HEADSEQNUM-HEADREALTIME.journal`) and the next entries go to a new
//! `system.journal` (written by `systemd-journal-remote`: `journalctl --rotate` only talks to a
//! running journald, which a test cannot own). Vacuum is the real `journalctl --directory=DIR
//! --vacuum-files=N` / `--vacuum-size=S`, which deletes archived files by those names.
//!
//! Checked: entries before and after a rotation arrive exactly once, with the agent following
//! and across a SIGKILL whose cursor is in a file rotated meanwhile; a vacuum of files already
//! read changes nothing; and after a vacuum removed the file holding the saved cursor, the agent
//! says so in one line and reads on from the oldest entry left, reading nothing acknowledged
//! again (before the fix, `--after-cursor` skipped that oldest entry).
//!
//! Without `journalctl` or `systemd-journal-remote` the test says so and checks nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use logwarden_tests::journal::{BASE_US, acked, found, tools_missing, write_journal};
use logwarden_tests::{Agent, Collector, wait_until};

/// What the agent says when the saved cursor's entry is gone.
const GONE: &str = "the journal entry of the saved cursor is gone";

/// Rotates `dir/system.journal` as journald does: renamed to an archived name; `n` numbers the
/// rotation (its seqnum id) and `first` is the file's first entry (its head time).
fn rotate(dir: &Path, n: u64, first: u64) {
    let archived = format!(
        "system@{n:032x}-{:016x}-{:016x}.journal",
        first + 1,
        BASE_US + first * 1_000_000
    );
    std::fs::rename(dir.join("system.journal"), dir.join(archived))
        .expect("rotating system.journal");
}

/// Runs `journalctl --directory=DIR ARG` (a vacuum) and says what it printed.
fn vacuum(dir: &Path, arg: &str) -> String {
    let out = Command::new("journalctl")
        .arg(format!("--directory={}", dir.display()))
        .arg(arg)
        .output()
        .expect("running journalctl");
    assert!(out.status.success(), "journalctl {arg} failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("listing the journal folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Waits until entries `0..n` are all at the collector, then checks each is there once.
fn exactly_once(collector: &Collector, n: u64, when: &str) {
    let arrived = wait_until(Duration::from_secs(60), || {
        collector.count("journaltest") >= n
    });
    // A little more time for late copies.
    std::thread::sleep(Duration::from_millis(1500));
    let seen = found(collector);
    let missing: Vec<u64> = (0..n).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<u64> = (0..n).filter(|i| seen.get(i) > Some(&1)).collect();
    let extra: Vec<u64> = seen.keys().copied().filter(|&i| i >= n).collect();
    println!(
        "{when}: {} of {n} entries, missing {missing:?}, twice {twice:?}",
        seen.len()
    );
    assert!(
        arrived && missing.is_empty() && twice.is_empty() && extra.is_empty(),
        "{when}: missing {missing:?}, duplicated {twice:?}, unexpected {extra:?}"
    );
}

fn warnings(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(GONE)
        .count()
}

#[test]
fn journal_rotation_and_vacuum_lose_and_repeat_nothing_acknowledged() {
    if let Some(why) = tools_missing() {
        println!("SKIPPED: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (cdir, adir, jdir) = (
        tmp.path().join("collector"),
        tmp.path().join("agent"),
        tmp.path().join("journal"),
    );
    let alog = tmp.path().join("agent.log");
    std::fs::create_dir_all(&jdir).unwrap();
    write_journal(&jdir, "system.journal", 0..30);
    let collector = Collector::start(&cdir, &[]);
    let none = tmp.path().join("no-such.log");
    let journald = format!("--journald={}", jdir.display());
    let start = || {
        Agent::start_logged(
            &adir,
            &collector.url,
            &[none.to_str().unwrap()],
            &[&journald],
            Some(&alog),
        )
    };
    let mut agent = start();
    exactly_once(&collector, 30, "before any rotation");

    // 1. Rotated while the agent follows: the entries after the rotation, in the new file, once.
    rotate(&jdir, 1, 0);
    write_journal(&jdir, "system.journal", 30..60);
    exactly_once(&collector, 60, "rotated while followed");

    // 2. Killed; the file holding its cursor rotated meanwhile, more entries: resumed in the
    //    archived file, nothing read twice.
    agent.kill9();
    write_journal(&jdir, "system.journal", 60..70);
    rotate(&jdir, 2, 30);
    write_journal(&jdir, "system.journal", 70..90);
    let mut agent = start();
    exactly_once(&collector, 90, "restarted after a rotation");

    // 3. Vacuum of archived files already read, while following: nothing changes.
    let said = vacuum(&jdir, "--vacuum-size=1K");
    println!(
        "vacuum of read files: {} -> {:?}",
        said.trim(),
        files(&jdir)
    );
    assert_eq!(files(&jdir), ["system.journal"], "{said}");
    write_journal(&jdir, "system.journal", 90..100);
    exactly_once(&collector, 100, "vacuumed while followed");
    assert!(
        wait_until(Duration::from_secs(30), || acked(&adir)
            == Some(BASE_US + 99 * 1_000_000)),
        "the last entry was not acknowledged: {:?}",
        acked(&adir)
    );
    assert_eq!(warnings(&alog), 0, "a cursor reported gone too early");

    // 4. Stopped with everything acknowledged; the file of its cursor rotated and vacuumed
    //    away: one line says so, reading goes on from the oldest entry left (n0100), nothing
    //    acknowledged is read again.
    agent.kill9();
    rotate(&jdir, 3, 70);
    write_journal(&jdir, "system.journal", 100..130);
    let said = vacuum(&jdir, "--vacuum-files=1");
    println!(
        "vacuum of the cursor's file: {} -> {:?}",
        said.trim(),
        files(&jdir)
    );
    assert_eq!(files(&jdir), ["system.journal"], "{said}");
    let mut agent = start();
    exactly_once(&collector, 130, "the cursor's file vacuumed away");
    assert!(
        wait_until(Duration::from_secs(10), || warnings(&alog) == 1),
        "the agent should say once that the saved cursor is gone; said {} times",
        warnings(&alog)
    );
    // And it still follows, and a restart from a cursor that exists says nothing more.
    agent.kill9();
    write_journal(&jdir, "system.journal", 130..140);
    let mut agent = start();
    exactly_once(&collector, 140, "restarted after the vacuum");
    agent.stop();
    assert_eq!(warnings(&alog), 1, "the cursor was reported gone again");
}
