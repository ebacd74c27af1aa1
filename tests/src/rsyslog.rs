//! rsyslog as a real syslog client for the tests: a private rsyslogd (foreground, its own
//! config, pid file and work directory, never the system's) that takes RFC 5424 messages on a
//! loopback imtcp port and forwards them with omfwd to a collector, octet-counted over plain
//! TCP or over TLS (gtls). Needs Debian's `rsyslog` and `rsyslog-gnutls` (scripts/test
//! installs them).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait_until;

/// A private rsyslogd, killed when dropped.
pub struct Rsyslogd {
    child: Child,
    /// Where it takes messages (imtcp, `127.0.0.1:PORT`).
    pub input: String,
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
pub fn rsyslogd(dir: &Path, to: &str, ca: Option<&Path>) -> Rsyslogd {
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
pub fn send(rsyslog: &Rsyslogd, token: &str, n: usize) {
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
