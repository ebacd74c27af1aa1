//! rsyslog as a real syslog client: a private rsyslogd (foreground, its own config, pid file and
//! work directory, never the system's) takes RFC 5424 messages on a loopback imtcp port and
//! forwards them with omfwd to the collector, octet-counted over plain TCP and over TLS (gtls,
//! verifying the collector's certificate against the test's CA). Every message must then be
//! found with its host, app, severity and structured data.
//!
//! Needs Debian's `rsyslog` and `rsyslog-gnutls` (scripts/test installs them).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Collector, TestCerts, assert_same, wait_until};

/// A private rsyslogd, killed when dropped.
struct Rsyslogd {
    child: Child,
    input: String,
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts rsyslogd forwarding everything it gets on a loopback imtcp port to `to`, with TLS
/// (and the CA to verify against) when `ca` is given.
fn rsyslogd(dir: &Path, to: &str, ca: Option<&Path>) -> Rsyslogd {
    let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (scripts/test does)",
        );
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let (host, port) = to.rsplit_once(':').unwrap();
    let input = free_port();
    let tls_global = ca
        .map(|ca| format!(" DefaultNetstreamDriverCAFile=\"{}\"", ca.display()))
        .unwrap_or_default();
    let tls_action = if ca.is_some() {
        " StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers=\"localhost\""
    } else {
        ""
    };
    let conf = format!(
        r#"global(workDirectory="{work}"{tls_global})
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{input}")
action(type="omfwd" target="{host}" port="{port}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
       action.resumeRetryCount="-1"{tls_action})
"#,
        work = work.display(),
    );
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let check = Command::new(bin)
        .args(["-N1", "-f"])
        .arg(&conf_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "rsyslogd refuses the test config: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting rsyslogd");
    let input = format!("127.0.0.1:{input}");
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect(&input)
            .is_ok()),
        "rsyslogd did not open its input port {input}"
    );
    Rsyslogd { child, input }
}

/// Sends `n` RFC 5424 messages carrying `token` to rsyslog's input, over several hosts, apps
/// and severities, with structured data.
fn send(rsyslog: &Rsyslogd, token: &str, n: usize) {
    let mut s = TcpStream::connect(&rsyslog.input).unwrap();
    for i in 0..n {
        let sev = i % 8;
        let pri = 16 * 8 + sev; // local0
        writeln!(
            s,
            "<{pri}>1 2026-11-29T10:00:{:02}.000Z mta{} postfix/smtpd {} QUEUE [origin@32473 seq=\"{i}\" via=\"rsyslog\"] {token} message {i}",
            i % 60,
            i % 3,
            1000 + i
        )
        .unwrap();
    }
    s.flush().unwrap();
}

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
