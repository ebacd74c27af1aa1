//! rsyslog as a real syslog client: a private rsyslogd (foreground, its own config, pid file and
//! work directory, never the system's) takes RFC 5424 messages on a loopback imtcp port and
//! forwards them with omfwd to the collector, octet-counted over plain TCP and over TLS (gtls,
//! verifying the collector's certificate against the test's CA). Every message must then be
//! found with its host, app, severity and structured data.
//!
//! Needs Debian's `rsyslog` and `rsyslog-gnutls` (scripts/test installs them).

use std::time::Duration;

use logwarden_tests::rsyslog::{rsyslogd, send};
use logwarden_tests::{Collector, TestCerts, assert_same, wait_until};

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Checks that all `n` messages with `token` arrived, each with its host, app, severity and
/// structured data, over `transport`.
fn check_all_found(c: &Collector, token: &str, n: usize, transport: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || c.count(token) == n as u64),
        "found {} of {n} messages forwarded by rsyslog over {transport}",
        c.count(token)
    );
    let hits = c.hits(token, 10_000);
    let mut seen = vec![false; n];
    for h in &hits {
        let i: usize = h["fields"]["sd"]["origin@32473"]["seq"]
            .as_str()
            .unwrap_or_else(|| panic!("no structured data in {h}"))
            .parse()
            .unwrap();
        assert!(!seen[i], "message {i} twice");
        seen[i] = true;
        assert_same(
            "host",
            format!("mta{}", i % 3).as_str(),
            h["host"].as_str().unwrap(),
        );
        assert_same("app", "postfix/smtpd", h["app"].as_str().unwrap());
        assert_same(
            "severity",
            SEVERITIES[i % 8],
            h["severity"].as_str().unwrap(),
        );
        assert_same(
            "message",
            format!("{token} message {i}").as_str(),
            h["message"].as_str().unwrap(),
        );
        assert_same(
            "sd via",
            "rsyslog",
            h["fields"]["sd"]["origin@32473"]["via"].as_str().unwrap(),
        );
        assert_same(
            "transport",
            transport,
            h["fields"]["transport"].as_str().unwrap(),
        );
    }
    assert!(seen.iter().all(|s| *s), "missing: {:?}", seen);
}

#[test]
fn rsyslog_forwards_octet_counted_over_tcp_and_every_message_is_found_whole() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"), &[]);
    let r = rsyslogd(dir.path(), c.syslog_tcp.as_deref().unwrap(), None);
    send(&r, "kookaburra", 200);
    check_all_found(&c, "kookaburra", 200, "tcp");
}

#[test]
fn rsyslog_forwards_over_tls_verifying_the_collector_and_every_message_is_found_whole() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let c = Collector::start_tls(&dir.path().join("data"), &certs, &[]);
    // First an rsyslogd that trusts another CA: it must not deliver to this collector.
    let other = tempfile::tempdir().unwrap();
    let stranger = TestCerts::make(other.path());
    let wrong = rsyslogd(
        other.path(),
        c.syslog_tls.as_deref().unwrap(),
        Some(&stranger.ca),
    );
    send(&wrong, "cassowary", 5);
    std::thread::sleep(Duration::from_secs(3));
    assert_same(
        "delivered by an rsyslogd not trusting the collector",
        0,
        c.count("cassowary"),
    );
    drop(wrong);
    let r = rsyslogd(
        dir.path(),
        c.syslog_tls.as_deref().unwrap(),
        Some(&certs.ca),
    );
    send(&r, "lyrebird", 200);
    check_all_found(&c, "lyrebird", 200, "tls");
}
