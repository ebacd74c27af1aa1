//! The journal as a source, end to end, against a real journal: `systemd-journal-remote` (Debian's
//! package of that name, which `scripts/test` installs) writes journal files from export-format
//! text into a folder the test owns, and the agent reads that folder with `--journald=DIR`
//! (`journalctl --directory`). Checked: the field mapping (host, app, severity, pid, unit, time),
//! following new entries, exactly once across a SIGKILL of the agent (the cursor resumes after
//! what was spooled), and the checkpoint taking a cursor only after the ack (it stays put while
//! the collector is away, and the entries read meanwhile go once, from the spool, after a
//! SIGKILL).
//!
//! Without `journalctl` or `systemd-journal-remote` the test says so and checks nothing.

use std::time::Duration;

use logwarden_tests::journal::{BASE_US, acked, found, tools_missing, write_journal};
use logwarden_tests::{Agent, Collector, wait_until};

#[test]
fn a_real_journal_is_read_mapped_followed_and_resumed_exactly_once_after_sigkill() {
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
    std::fs::create_dir_all(&jdir).unwrap();
    write_journal(&jdir, "first.journal", 0..40);
    let mut collector = Collector::start(&cdir, &[]);
    let none = tmp.path().join("no-such.log");
    let journald = format!("--journald={}", jdir.display());
    // The collector restarts on the same address: its URL stays.
    let url = collector.url.clone();
    let start = || Agent::start_with(&adir, &url, &[none.to_str().unwrap()], &[&journald]);
    let mut agent = start();
    assert!(
        wait_until(Duration::from_secs(60), || collector.count("journaltest")
            >= 40),
        "the journal's 40 entries did not arrive: {}",
        collector.count("journaltest")
    );
    let hit = &collector.hits("journaltest AND n0003", 10)[0];
    assert_eq!(hit["host"], "mbox1", "{hit}");
    assert_eq!(hit["app"], "postfix/smtpd", "{hit}");
    assert_eq!(hit["severity"], "err", "{hit}");
    assert_eq!(hit["fields"]["pid"], 1003, "{hit}");
    assert_eq!(hit["fields"]["unit"], "postfix.service", "{hit}");
    assert_eq!(hit["ts"], "2025-12-05T10:20:03Z", "{hit}");
    assert_eq!(hit["source"], format!("journald:{}", jdir.display()));

    // Killed, more entries meanwhile, started again: the new ones once, the old ones not again.
    agent.kill9();
    write_journal(&jdir, "second.journal", 40..70);
    let mut agent = start();
    assert!(
        wait_until(Duration::from_secs(60), || collector.count("journaltest")
            >= 70),
        "after the restart: {}",
        collector.count("journaltest")
    );
    // Followed while running.
    write_journal(&jdir, "third.journal", 70..100);
    assert!(
        wait_until(Duration::from_secs(60), || collector.count("journaltest")
            >= 100),
        "followed entries: {}",
        collector.count("journaltest")
    );
    // The checkpoint holds the cursor of the last acknowledged entry (n0099, by its time)...
    let last = BASE_US + 99 * 1_000_000;
    assert!(
        wait_until(Duration::from_secs(30), || acked(&adir) == Some(last)),
        "checkpointed journal place {:?}, wanted {last}",
        acked(&adir)
    );
    // ...and does not move while the collector is away, though new entries are read (spooled).
    collector.kill9();
    write_journal(&jdir, "fourth.journal", 100..120);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(acked(&adir), Some(last), "the cursor moved without an ack");
    // Killed with those entries only in the spool: they go once, from the spool, after the
    // restart; the journal is not read again before them.
    agent.kill9();
    collector.restart();
    let mut agent = start();
    assert!(
        wait_until(Duration::from_secs(60), || collector.count("journaltest")
            >= 120),
        "after the outage: {}",
        collector.count("journaltest")
    );
    assert!(
        wait_until(Duration::from_secs(30), || acked(&adir)
            == Some(BASE_US + 119 * 1_000_000)),
        "the cursor did not move on after the acks: {:?}",
        acked(&adir)
    );
    std::thread::sleep(Duration::from_secs(2));
    agent.stop();
    let seen = found(&collector);
    let missing: Vec<u64> = (0..120).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<u64> = (0..120).filter(|i| seen.get(i) > Some(&1)).collect();
    assert!(
        missing.is_empty() && twice.is_empty() && seen.len() == 120,
        "missing {missing:?}, duplicated {twice:?}"
    );
}
