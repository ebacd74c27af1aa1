//! End to end: the e-mail receiver against a real SMTP server (aiosmtpd from PyPI, started by
//! `tests/peers/smtpd.py` on loopback) that demands STARTTLS before AUTH, or speaks TLS from the
//! first byte, with a certificate made by the test. `scripts/test` installs aiosmtpd into
//! `target/test-venv`; `LOGWARDEN_TEST_PYTHON` names another interpreter that has it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Collector, TestCerts, free_addr, wait_until};
use serde_json::{Value, json};

/// A running aiosmtpd; killed on drop.
struct SmtpServer {
    child: Child,
    addr: String,
    out: PathBuf,
}

const USER: &str = "alerts";
const PASSWORD: &str = "s3cret-pw";

impl SmtpServer {
    fn start(dir: &Path, mode: &str, certs: &TestCerts) -> SmtpServer {
        let out = dir.join(format!("mail-{mode}"));
        std::fs::create_dir_all(&out).unwrap();
        let addr = free_addr();
        let port = addr.rsplit_once(':').unwrap().1.to_owned();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/smtpd.py");
        let mut child = Command::new(logwarden_tests::test_python())
            .arg(script)
            .args([mode, &port])
            .arg(&certs.cert)
            .arg(&certs.key)
            .args([USER, PASSWORD])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpServer { child, addr, out }
    }

    /// The messages it accepted, as `smtpd.py` wrote them.
    fn messages(&self) -> Vec<Value> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.out).unwrap().map_while(Result::ok) {
            if e.path().extension().is_some_and(|x| x == "json") {
                v.push(serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap());
            }
        }
        v
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smart_failing(seq: u64) -> String {
    json!({
        "id": format!("t:{seq}"),
        "ts": chrono::Utc::now().to_rfc3339(),
        "host": "mbox3", "site": "lab", "source": "health", "app": "smart",
        "severity": "warning", "kind": "health", "message": "test record",
        "fields": {"check": "smart", "device": "/dev/sdb", "verdict": "failing",
                   "reasons": ["overall health FAILED"]},
    })
    .to_string()
}

fn email_receiver(name: &str, server: &SmtpServer, tls: &str, extra: &str) -> String {
    format!(
        r#"
[[alerts.receivers]]
name = "{name}"
type = "email"
smtp = "{}"
from = "logwarden@example.com"
to = ["oncall@example.com"]
username = "{USER}"
password = "{PASSWORD}"
tls = "{tls}"
{extra}
"#,
        server.addr.replace("127.0.0.1", "localhost")
    )
}

#[test]
fn mail_goes_over_starttls_and_implicit_tls_with_auth_to_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let starttls = SmtpServer::start(dir.path(), "starttls", &certs);
    let implicit = SmtpServer::start(dir.path(), "tls", &certs);
    let ca = format!("ca_file = {:?}", certs.ca.display().to_string());
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[alerts]\ngroup_interval_s = 0.5\n{}{}",
            email_receiver("starttls", &starttls, "starttls", &ca),
            email_receiver("smtps", &implicit, "tls", &ca),
        ),
    )
    .unwrap();
    let c = Collector::start(&dir.path().join("c"), &["--config", cfg.to_str().unwrap()]);
    c.ingest_ok(&[smart_failing(1)]);
    for (what, server) in [("STARTTLS", &starttls), ("implicit TLS", &implicit)] {
        assert!(
            wait_until(Duration::from_secs(20), || !server.messages().is_empty()),
            "no e-mail over {what}"
        );
        let m = &server.messages()[0];
        assert_eq!(m["tls"], true, "{what}: {m}");
        assert_eq!(m["login"], USER, "{what}: {m}");
        assert_eq!(m["rcpt_tos"], json!(["oncall@example.com"]), "{what}");
        let data = m["data"].as_str().unwrap();
        for want in [
            "Subject: [FIRING:1] SmartDiskFailing host=mbox3",
            "/dev/sdb on mbox3 is failing",
        ] {
            assert!(
                data.contains(want),
                "{what}: e-mail lacks {want:?}:\n{data}"
            );
        }
    }
}

#[test]
fn a_password_in_clear_is_refused_at_config_time_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[alerts.receivers]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"127.0.0.1:25\"\n\
         from = \"a@example.com\"\nto = [\"b@example.com\"]\nusername = \"u\"\npassword = \"p\"\n\
         tls = \"none\"\n",
    )
    .unwrap();
    let out = Command::new(logwarden_tests::bin("logwarden-collector"))
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {err}");
    assert!(
        err.contains("c.toml") && err.contains("password in clear"),
        "{err}"
    );
}

/// `logwarden alerts test`: through the real routes to the real receivers, each outcome printed
/// with the peer's answer, nothing left in the alert table; admin role only.
#[test]
fn alerts_test_sends_through_the_routes_and_prints_each_receivers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let starttls = SmtpServer::start(dir.path(), "starttls", &certs);
    let implicit = SmtpServer::start(dir.path(), "tls", &certs);
    let hook = logwarden_tests::HttpSink::start(0);
    let ca = format!("ca_file = {:?}", certs.ca.display().to_string());
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{}{}{}
[[alerts.receivers]]
name = "hook"
type = "webhook"
url = "{}"

[alerts.route]
receiver = "hook"

[[alerts.route.routes]]
matchers = ["severity=critical"]
receiver = "mail-ok"
continue = true

[[alerts.route.routes]]
matchers = ["team=mail"]
receiver = "mail-badpw"
continue = true

[[alerts.route.routes]]
matchers = ['team=~"ma.*"']
receiver = "mail-untrusted"
"#,
            email_receiver("mail-ok", &starttls, "starttls", &ca),
            email_receiver("mail-badpw", &starttls, "starttls", &ca)
                .replace(PASSWORD, "wrong-password"),
            // No ca_file: the test CA is not among the system's roots.
            email_receiver("mail-untrusted", &implicit, "tls", ""),
            hook.url
        ),
    )
    .unwrap();
    let c = Collector::start(
        &dir.path().join("c"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--admin-token",
            "adm1n",
            "--read-token",
            "r3ad",
        ],
    );
    let cli = |token: &str, args: &[&str]| {
        let mut all = vec!["--token", token, "alerts", "test"];
        all.extend_from_slice(args);
        c.cli(&all)
    };

    // Through the routes: critical and team=mail reach the three mail receivers, not the root.
    let out = cli(
        "adm1n",
        &["--labels", "severity=critical,team=mail,host=mbox3"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("logwarden alerts test said:\n{text}");
    assert_eq!(out.status.code(), Some(1), "one refused: exit 1\n{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .to_owned()
    };
    assert!(line("mail-ok").starts_with("sent "), "{text}");
    let badpw = line("mail-badpw");
    assert!(
        badpw.starts_with("REFUSED") && badpw.contains("535"),
        "the server's answer is printed: {badpw}"
    );
    let untrusted = line("mail-untrusted");
    assert!(
        untrusted.starts_with("REFUSED") && untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    assert!(
        !text.contains(" hook "),
        "the root's receiver is not reached: {text}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || starttls.messages().len() == 1),
        "the mail that was sent arrived"
    );
    let data = starttls.messages()[0]["data"].as_str().unwrap().to_owned();
    assert!(data.contains("LogwardenTest"), "{data}");
    assert!(
        implicit.messages().is_empty(),
        "nothing over an untrusted certificate"
    );

    // --receiver: that one alone, whatever the routes say.
    let out = cli(
        "adm1n",
        &["--receiver", "hook", "--labels", "severity=info"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(wait_until(Duration::from_secs(5), || hook.posts().len() == 1));
    let post = &hook.posts()[0].body;
    assert_eq!(post["alerts"][0]["labels"]["alertname"], "LogwardenTest");

    // An unknown receiver is an error naming the known ones; a read token is not enough.
    let out = cli("adm1n", &["--receiver", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no receiver named \"nope\""),
        "{err}"
    );
    let out = cli("r3ad", &["--receiver", "hook"]);
    assert!(!out.status.success(), "a read token sent a test");
    assert_eq!(hook.posts().len(), 1);

    // Nothing entered the alert table.
    let out = c.cli(&["--token", "adm1n", "alerts", "--all", "-o", "json"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(!listed.contains("LogwardenTest"), "{listed}");
}
