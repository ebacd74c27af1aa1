//! TLS end to end, with certificates made by the test (a private CA): the agent ships to an
//! `https://` collector trusting that CA (`--ca-file`), the CLI searches over HTTPS, a client
//! that does not trust the CA is refused with the reason named, and syslog over TLS (RFC 5425,
//! octet counting) lands in the index.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;

use logwarden_tests::{Agent, Collector, TestCerts, assert_same, ok_stdout, wait_until};

#[test]
fn agent_and_cli_talk_https_to_a_collector_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let c = Collector::start_tls(&dir.path().join("data"), &certs, &[]);
    assert!(c.url.starts_with("https://127.0.0.1:"), "{}", c.url);

    let log = dir.path().join("app.log");
    let lines: String = (0..50).map(|i| format!("wombat line {i}\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let agent_url = c.url.replace("127.0.0.1", "localhost");
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &agent_url,
        &[log.to_str().unwrap()],
        &["--ca-file", certs.ca.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(20), || c.count("wombat") == 50),
        "found {} of 50 lines shipped over HTTPS",
        c.count("wombat")
    );
    let out = c.cli(&["search", "wombat", "--limit", "5", "-o", "raw"]);
    let stdout = ok_stdout(&out);
    assert_same(
        "lines printed by the CLI over HTTPS",
        5,
        stdout.lines().count(),
    );

    // Without the CA the CLI refuses the server, and says why.
    let out = std::process::Command::new(logwarden_tests::bin("logwarden"))
        .args(["--server", &c.url, "status"])
        .env_remove("LOGWARDEN_CA_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");

    // Plain HTTP to the HTTPS port gets no answer, and the collector goes on serving.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://{}/api/v1/status", c.addr))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP was answered"
    );
    assert_same("still searchable after", 50, c.count("wombat"));
}

#[test]
fn syslog_over_tls_octet_counted_is_indexed_and_a_non_tls_sender_does_not_disturb_it() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let c = Collector::start_tls(&dir.path().join("data"), &certs, &[]);
    let addr = c.syslog_tls.clone().expect("syslog tls listener");

    // A sender that speaks plain TCP to the TLS port is dropped at the handshake.
    let mut rude = TcpStream::connect(&addr).unwrap();
    rude.write_all(b"<13>1 2026-11-29T10:00:00Z h app - - - not tls\n")
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&certs.ca).unwrap();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&addr).unwrap());
    for i in 0..20 {
        let msg = format!(
            "<11>1 2026-11-29T10:00:{i:02}Z raid7 storcli 4242 VD0 [meta@32473 array=\"md{i}\"] echidna degraded {i}"
        );
        write!(tls, "{} {msg}", msg.len()).unwrap();
    }
    tls.flush().unwrap();
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    drop(rude);

    assert!(
        wait_until(Duration::from_secs(10), || c.count("echidna") == 20),
        "found {} of 20 syslog-over-TLS messages",
        c.count("echidna")
    );
    let hits = c.hits("\"echidna degraded 7\"", 10);
    assert_same("hits for md7", 1, hits.len());
    let h = &hits[0];
    assert_same("host", "raid7", h["host"].as_str().unwrap());
    assert_same("app", "storcli", h["app"].as_str().unwrap());
    assert_same("severity", "err", h["severity"].as_str().unwrap());
    assert_same(
        "structured data",
        "md7",
        h["fields"]["sd"]["meta@32473"]["array"].as_str().unwrap(),
    );
    assert_same(
        "transport",
        "tls",
        h["fields"]["transport"].as_str().unwrap(),
    );
}

/// Mutual TLS (`--tls-client-ca`): an agent with a certificate signed by the client CA ships;
/// one without a certificate is refused at the handshake and delivers nothing, and so is any
/// other client without one.
#[test]
fn with_a_client_ca_only_agents_with_a_signed_certificate_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let c = Collector::start_tls(
        &dir.path().join("data"),
        &certs,
        &["--tls-client-ca", certs.ca.to_str().unwrap()],
    );
    let url = c.url.replace("127.0.0.1", "localhost");
    // Started first, so that it has tried for as long as the good one has shipped.
    let stranger_log = dir.path().join("stranger.log");
    std::fs::write(&stranger_log, "platypus without a certificate\n").unwrap();
    let _stranger = Agent::start_with(
        &dir.path().join("stranger"),
        &url,
        &[stranger_log.to_str().unwrap()],
        &["--ca-file", certs.ca.to_str().unwrap()],
    );
    let log = dir.path().join("app.log");
    let lines: String = (0..20).map(|i| format!("numbat line {i}\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &url,
        &[log.to_str().unwrap()],
        &[
            "--ca-file",
            certs.ca.to_str().unwrap(),
            "--client-cert",
            certs.client_cert.to_str().unwrap(),
            "--client-key",
            certs.client_key.to_str().unwrap(),
        ],
    );

    // Reading needs the client certificate too: a client that has it.
    let pem = [
        std::fs::read(&certs.client_key).unwrap(),
        std::fs::read(&certs.client_cert).unwrap(),
    ]
    .concat();
    let with_cert = reqwest::blocking::Client::builder()
        .tls_certs_merge(
            reqwest::Certificate::from_pem_bundle(&std::fs::read(&certs.ca).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let total = |q: &str| -> u64 {
        with_cert
            .get(format!("{url}/api/v1/search"))
            .query(&[("q", q), ("limit", "1")])
            .send()
            .and_then(|r| r.json::<serde_json::Value>())
            .map(|v| v["total"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(20), || total("numbat") == 20),
        "found {} of 20 lines shipped with a client certificate",
        total("numbat")
    );
    // The stranger has been retrying all along; give it a few more rounds.
    std::thread::sleep(Duration::from_secs(3));
    assert_same(
        "events delivered without a client certificate",
        0,
        total("platypus"),
    );

    // Any client without a certificate: no HTTP answer at all, the handshake fails.
    let bare = c
        .http()
        .get(format!("{url}/api/v1/status"))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(
        bare.is_err(),
        "answered without a client certificate: {bare:?}"
    );
    assert_same("still searchable after", 20, total("numbat"));

    // The CLI: refused without `--client-cert`, served with it.
    let cli = |extra: &[&str]| {
        std::process::Command::new(logwarden_tests::bin("logwarden"))
            .args(["--server", &url, "--ca-file", certs.ca.to_str().unwrap()])
            .args(extra)
            .args(["search", "numbat", "-o", "raw", "--limit", "100"])
            .output()
            .unwrap()
    };
    let out = cli(&[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the CLI was served without a certificate"
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
    let out = cli(&[
        "--client-cert",
        certs.client_cert.to_str().unwrap(),
        "--client-key",
        certs.client_key.to_str().unwrap(),
    ]);
    let stdout = ok_stdout(&out);
    assert_same(
        "lines the CLI printed with its certificate",
        20,
        stdout.lines().count(),
    );
}
