//! Helpers for the end-to-end tests: start the real binaries in temporary folders on loopback
//! port 0, talk to them, wait for conditions, and kill them for real.
//!
//! The binaries are taken from the same target folder as the test itself, so build them first:
//! `cargo build --workspace --bins` (the test script does).

pub mod cluster_view;
pub mod journal;
pub mod nats;
pub mod redfish_mock;
pub mod rsyslog;
pub mod schedule;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The path of one of the project's binaries, next to the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable sits in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `logwarden-collector`.
pub struct Collector {
    child: Child,
    pub url: String,
    pub addr: String,
    /// The syslog listeners (on free ports unless the test chose).
    pub syslog_udp: Option<String>,
    pub syslog_tcp: Option<String>,
    /// Syslog over TLS, when the collector has a certificate.
    pub syslog_tls: Option<String>,
    pub data_dir: PathBuf,
    extra: Vec<String>,
    /// A CA the CLI and the helpers trust (a collector with a test certificate).
    pub ca_file: Option<PathBuf>,
    /// Where its log goes ([`Collector::start_logged`]; the test's stderr when `None`).
    log: Option<PathBuf>,
}

impl Collector {
    /// Starts a collector with `certs` (HTTPS, syslog over TLS on a free port) that the CLI
    /// and the helpers trust.
    pub fn start_tls(data_dir: &Path, certs: &TestCerts, extra: &[&str]) -> Collector {
        let mut args = certs.collector_flags();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Self::start_on(data_dir, "127.0.0.1:0", args);
        c.ca_file = Some(certs.ca.clone());
        c
    }

    /// Starts a collector on a free loopback port with its data in `data_dir`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Collector {
        Self::start_on(
            data_dir,
            "127.0.0.1:0",
            extra.iter().map(|s| s.to_string()).collect(),
        )
    }

    /// Like [`Collector::start`], with the collector's log appended to `log` instead of the
    /// test's stderr (also after [`Collector::restart`]).
    pub fn start_logged(data_dir: &Path, extra: &[&str], log: &Path) -> Collector {
        let extra = extra.iter().map(|s| s.to_string()).collect();
        Self::start_logged_on(data_dir, "127.0.0.1:0", extra, Some(log))
    }

    /// Starts a collector on a chosen address (see [`free_addr`]), e.g. for a pair that must
    /// know each other's URL before either starts.
    pub fn start_at(data_dir: &Path, listen: &str, extra: &[&str]) -> Collector {
        Self::start_on(
            data_dir,
            listen,
            extra.iter().map(|s| s.to_string()).collect(),
        )
    }

    /// `GET /api/v1/status` as JSON, or `None` when the collector does not answer.
    pub fn status(&self) -> Option<serde_json::Value> {
        reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/status", self.url))
            .timeout(Duration::from_secs(2))
            .send()
            .ok()?
            .json()
            .ok()
    }

    /// The first LSN the collector's WAL still holds (status `wal.first_lsn`; 0 when it does
    /// not answer).
    pub fn wal_first_lsn(&self) -> u64 {
        self.status()
            .and_then(|s| s["wal"]["first_lsn"].as_u64())
            .unwrap_or(0)
    }

    fn start_on(data_dir: &Path, listen: &str, extra: Vec<String>) -> Collector {
        Self::start_logged_on(data_dir, listen, extra, None)
    }

    fn start_logged_on(
        data_dir: &Path,
        listen: &str,
        extra: Vec<String>,
        log: Option<&Path>,
    ) -> Collector {
        let mut cmd = Command::new(bin("logwarden-collector"));
        cmd.arg("run")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data_dir);
        // Never the default syslog ports: tests run side by side.
        for flag in ["--syslog-udp", "--syslog-tcp", "--syslog-tls"] {
            if !extra.iter().any(|a| a == flag) {
                cmd.arg(flag).arg("127.0.0.1:0");
            }
        }
        // Tests send events with fixed dates: keep them whatever the day the suite runs on
        // (retention is tested with its own flag in tests/retention.rs).
        if !extra.iter().any(|a| a == "--retention-days") {
            cmd.arg("--retention-days").arg("0");
        }
        let mut child = cmd
            .args(&extra)
            .env("LOGWARDEN_LOG", "info,tantivy=warn")
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(p) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("opening the collector's log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("starting logwarden-collector");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("logwarden-collector ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let (mut url, mut syslog_udp, mut syslog_tcp, mut syslog_tls) = (None, None, None, None);
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == "ready" => break,
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("listening on ") {
                        url = Some(u.to_owned());
                    } else if let Some(a) = line.strip_prefix("syslog udp on ") {
                        syslog_udp = Some(a.to_owned());
                    } else if let Some(a) = line.strip_prefix("syslog tcp on ") {
                        syslog_tcp = Some(a.to_owned());
                    } else if let Some(a) = line.strip_prefix("syslog tls on ") {
                        syslog_tls = Some(a.to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("collector did not report ready within 30 s");
                }
            }
        }
        let url = url.expect("collector printed its address before ready");
        let addr = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned();
        Collector {
            child,
            url,
            addr,
            syslog_udp,
            syslog_tcp,
            syslog_tls,
            data_dir: data_dir.to_owned(),
            extra,
            ca_file: None,
            log: log.map(Path::to_owned),
        }
    }

    /// The collector's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the collector");
        self.child.wait().expect("reap the collector");
    }

    /// Starts again on the same address and data after [`Collector::kill9`].
    pub fn restart(&mut self) {
        let addr = self.addr.clone();
        let mut last = None;
        // The port was just freed; retry briefly in case another process grabbed it meanwhile.
        for _ in 0..3 {
            let next = std::panic::catch_unwind(|| {
                let log = self.log.as_deref();
                Self::start_logged_on(&self.data_dir, &addr, self.extra.clone(), log)
            });
            match next {
                Ok(mut c) => {
                    c.ca_file = self.ca_file.take();
                    *self = c;
                    return;
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::panic::resume_unwind(last.expect("at least one attempt"));
    }

    /// Runs the CLI against this collector.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(bin("logwarden"));
        cmd.arg("--server").arg(&self.url);
        if let Some(ca) = &self.ca_file {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd.args(args).output().expect("running logwarden")
    }

    /// An HTTP client for this collector (trusting its test CA, if any).
    pub fn http(&self) -> reqwest::blocking::Client {
        let mut b = reqwest::blocking::Client::builder();
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).expect("reading the test CA");
            let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("test CA is PEM");
            b = b.tls_certs_merge(certs);
        }
        b.build().expect("HTTP client")
    }

    /// `logwarden search QUERY -o json --limit 10000`: the events found.
    pub fn search(&self, query: &str) -> Vec<serde_json::Value> {
        let out = self.cli(&["search", query, "-o", "json", "--limit", "10000"]);
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "search failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("search -o json prints JSON lines"))
            .collect()
    }

    /// The value of a series without labels in `/metrics` (`None`: not there).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .http()
            .get(format!("{}/metrics", self.url))
            .send()
            .and_then(|r| r.text())
            .expect("GET /metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// `GET /api/v1/search?q=QUERY&limit=1`: how many events match in all.
    pub fn count(&self, query: &str) -> u64 {
        self.search_api(query, 1)["total"]
            .as_u64()
            .expect("total in the search answer")
    }

    /// `GET /api/v1/search?q=QUERY&limit=LIMIT`: the events found (at most 10,000).
    pub fn hits(&self, query: &str, limit: usize) -> Vec<serde_json::Value> {
        match self.search_api(query, limit)["hits"].take() {
            serde_json::Value::Array(hits) => hits,
            other => panic!("hits is not an array: {other}"),
        }
    }

    /// `GET /api/v1/search?q=QUERY&limit=LIMIT`: the whole answer (in cluster mode it may name
    /// `missing_partitions`).
    pub fn search_api(&self, query: &str, limit: usize) -> serde_json::Value {
        let client = self.http();
        let resp = client
            .get(format!("{}/api/v1/search", self.url))
            .query(&[("q", query), ("limit", &limit.to_string())])
            .send()
            .expect("search request");
        let status = resp.status();
        let text = resp.text().expect("search answer");
        assert!(status.is_success(), "search {query:?}: {status}: {text}");
        serde_json::from_str(&text).expect("search answer is JSON")
    }

    /// POSTs an NDJSON body to the ingest endpoint.
    pub fn ingest(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let client = self.http();
        let mut req = client
            .post(format!("{}/api/v1/ingest", self.url))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("ingest request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("ingest answer");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ingest answer is not JSON ({e}): {text}"));
        (status, json)
    }

    /// POSTs `lines` as one NDJSON batch and asserts that it was answered 200 with every line
    /// accepted.
    #[track_caller]
    pub fn ingest_ok(&self, lines: &[String]) {
        let (status, body) = self.ingest(lines.join("\n").into_bytes(), &[]);
        assert_same("ingest status", 200, status);
        assert_same(
            "accepted",
            lines.len() as u64,
            body["accepted"].as_u64().unwrap_or(0),
        );
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python interpreter of the tests' own virtualenv (aiosmtpd, jsonschema), which
/// `scripts/test` makes in `target/test-venv`; `LOGWARDEN_TEST_PYTHON` names another.
pub fn test_python() -> PathBuf {
    if let Ok(p) = std::env::var("LOGWARDEN_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: scripts/test makes it (python3 -m venv target/test-venv && \
         target/test-venv/bin/pip install aiosmtpd==1.4.6 jsonschema==4.23.0 \
         rfc3339-validator==0.1.4), or set LOGWARDEN_TEST_PYTHON",
        venv.display()
    );
    venv
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local address").to_string()
}

/// A running `logwarden-collector witness`.
pub struct Witness {
    child: Child,
    pub url: String,
}

impl Witness {
    pub fn start(data_dir: &Path) -> Witness {
        Self::start_with(data_dir, &[], &[])
    }

    /// Like [`Witness::start`], with more flags and environment variables.
    pub fn start_with(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Witness {
        let mut child = Command::new(bin("logwarden-collector"))
            .args(["witness", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the witness");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut url = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(u) = line.strip_prefix("logwarden-collector listening on ") {
                url = Some(u.to_owned());
            }
            if line == "logwarden-collector ready" {
                break;
            }
        }
        // Keep reading so that the witness never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Witness {
            child,
            url: url.expect("the witness printed its address"),
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP relay on loopback that the test can cut and heal: a network partition between two
/// processes without network namespaces. Cutting closes every relayed connection and refuses
/// new ones (accepted and closed at once, as a dropped link would fail them).
pub struct Gate {
    pub addr: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Gate {
    /// Relays `127.0.0.1:<new port>` to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Gate {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the gate");
        let addr = listener.local_addr().expect("gate address").to_string();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o, c, up) = (open.clone(), conns.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(&up) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                let mut c = c.lock().unwrap();
                c.push(client);
                c.push(server);
            }
        });
        Gate { addr, open, conns }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running `logwarden-agent`.
pub struct Agent {
    child: Child,
    /// The agent's `/metrics` and `/status` listener (`host:port`), when started with
    /// `--metrics-listen`.
    pub metrics: Option<String>,
}

impl Agent {
    pub fn start(data_dir: &Path, collector_url: &str, files: &[&str]) -> Agent {
        Self::start_with(data_dir, collector_url, files, &[])
    }

    /// Like [`Agent::start`], with more flags for `run`.
    pub fn start_with(
        data_dir: &Path,
        collector_url: &str,
        files: &[&str],
        extra: &[&str],
    ) -> Agent {
        Self::start_logged(data_dir, collector_url, files, extra, None)
    }

    /// Like [`Agent::start_with`], with the agent's log appended to `log` (when given) instead
    /// of the test's stderr.
    pub fn start_logged(
        data_dir: &Path,
        collector_url: &str,
        files: &[&str],
        extra: &[&str],
        log: Option<&Path>,
    ) -> Agent {
        let mut cmd = Command::new(bin("logwarden-agent"));
        cmd.arg("run")
            .arg("--collector")
            .arg(collector_url)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--host")
            .arg("testhost")
            .arg("--site")
            .arg("lab");
        for f in files {
            cmd.arg("--file").arg(f);
        }
        cmd.args(extra);
        let observed = extra.contains(&"--metrics-listen");
        let mut child = cmd
            .env("LOGWARDEN_LOG", "info")
            .stdout(if observed {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(match log {
                Some(p) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("opening the agent's log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("starting logwarden-agent");
        let mut metrics = None;
        if observed {
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(a) = line.strip_prefix("logwarden-agent metrics on ") {
                        let _ = tx.send(a.to_owned());
                    }
                }
            });
            // Generous: a debug agent on a loaded 2-core machine has been seen to need 30 s.
            match rx.recv_timeout(Duration::from_secs(90)) {
                Ok(a) => metrics = Some(a),
                Err(_) => {
                    let _ = child.kill();
                    panic!("the agent did not report its metrics listener within 90 s");
                }
            }
        }
        Agent { child, metrics }
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the agent");
        self.child.wait().expect("reap the agent");
    }

    /// Whether the process is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM and wait: a clean stop. Returns the exit status and how long the stop took.
    pub fn stop(&mut self) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let start = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("reap the agent");
        (status, start.elapsed())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file of the test fixtures (`tests/data/fixtures/...`, sources in its SOURCES.md).
pub fn fixture(rel: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/fixtures")
        .join(rel);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// An NDJSON event line with the given identity and message.
pub fn event_line(agent: &str, seq: u64, message: &str) -> String {
    serde_json::json!({
        "id": format!("{agent}:{seq}"),
        "ts": "2026-11-29T10:00:00Z",
        "host": "h1",
        "site": "lab",
        "source": "/var/log/test.log",
        "app": "test",
        "severity": "info",
        "kind": "log",
        "message": message,
    })
    .to_string()
}

/// Batch `b` of agent `agent`'s bulk events: 2,000 lines of about 300 bytes (so 12 batches fill
/// six 1 MiB WAL segments), seqs `b*2000+1 ..= b*2000+2000`, each with the word `filler` or the
/// word `words` gives its seq.
pub fn filler_batch(agent: &str, b: u64, words: &[(u64, &str)]) -> Vec<String> {
    (b * 2000 + 1..=b * 2000 + 2000)
        .map(|seq| {
            let word = words
                .iter()
                .find(|(s, _)| *s == seq)
                .map_or("filler", |(_, w)| w);
            event_line(
                agent,
                seq,
                &format!("{word} line {seq} {}", "x".repeat(150)),
            )
        })
        .collect()
}

/// The stdout of a command that must have succeeded (its stderr is shown when it did not).
#[track_caller]
pub fn ok_stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Prints expected and actual side by side when they differ.
#[track_caller]
pub fn assert_same<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, actual: T) {
    if expected != actual {
        panic!("{what} differs\n  expected: {expected:?}\n    actual: {actual:?}");
    }
}

/// A test CA and a server certificate it signed for `localhost` and `127.0.0.1`, written as PEM
/// files (made fresh by each test: no key is checked in).
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client certificate signed by the same CA (for mutual TLS), and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestCerts {
    pub fn make(dir: &Path) -> TestCerts {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "logwarden test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        let client_key = KeyPair::generate().expect("client key");
        let mut client_params =
            CertificateParams::new(Vec::<String>::new()).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "mbox1 agent");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params
            .signed_by(&client_key, &ca)
            .expect("client certificate");
        let certs = TestCerts {
            ca: dir.join("ca.pem"),
            cert: dir.join("collector.pem"),
            key: dir.join("collector.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        std::fs::write(&certs.client_cert, client_cert.pem()).unwrap();
        std::fs::write(&certs.client_key, client_key.serialize_pem()).unwrap();
        std::fs::write(&certs.ca, ca.pem()).unwrap();
        std::fs::write(&certs.cert, cert.pem()).unwrap();
        std::fs::write(&certs.key, key.serialize_pem()).unwrap();
        certs
    }

    /// The flags that give a collector this certificate.
    pub fn collector_flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver for the alert tests (alerts.rs, failover.rs)
// ---------------------------------------------------------------------------------------------

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One POST the sink received.
#[derive(Clone, Debug)]
pub struct Post {
    pub at: std::time::Instant,
    pub body: serde_json::Value,
}

/// An HTTP server on loopback that records every POST body (JSON) and answers 200, or 429
/// with `Retry-After: 1` for the first `refuse_first` requests.
pub struct HttpSink {
    pub url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    /// Requests seen, refused ones included.
    pub refused: Arc<AtomicUsize>,
}

impl HttpSink {
    pub fn start(refuse_first: usize) -> HttpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let (p, r) = (posts.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (p, r) = (p.clone(), r.clone());
                std::thread::spawn(move || serve_http(stream, &p, &r, refuse_first));
            }
        });
        HttpSink {
            url,
            posts,
            refused,
        }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Alertmanager-format alerts received, as (status, alertname, severity, POST time).
    pub fn alerts(&self, name: &str) -> Vec<(String, String, std::time::Instant)> {
        let mut out = Vec::new();
        for p in self.posts() {
            for a in p.body["alerts"].as_array().into_iter().flatten() {
                if a["labels"]["alertname"] == name {
                    out.push((
                        a["status"].as_str().unwrap_or("").to_owned(),
                        a["labels"]["severity"].as_str().unwrap_or("").to_owned(),
                        p.at,
                    ));
                }
            }
        }
        out
    }
}

/// Reads one HTTP/1.1 request (request line, headers, a `content-length` body) off a
/// connection and gives its body; `None` once the connection ends or breaks. For the small
/// servers tests stand up in place of a collector.
pub fn read_request_body(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        if h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn serve_http(
    mut stream: std::net::TcpStream,
    posts: &Mutex<Vec<Post>>,
    refused: &AtomicUsize,
    refuse_first: usize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while let Some(body) = read_request_body(&mut reader) {
        let at = std::time::Instant::now();
        if refused.fetch_add(1, Ordering::SeqCst) < refuse_first {
            let _ = stream.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
            );
            continue;
        }
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        posts.lock().unwrap().push(Post { at, body });
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    }
}

/// A tmpfs mounted for one test (a small disk that can really fill), unmounted when dropped.
/// Mounting needs root: `Err` carries mount's complaint so that the test can say why it skips.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system under `dir` with a ballast file (another process's, as far as the
/// collector can tell), then gives `leave` bytes back (0: full to the last block; a few KiB:
/// room for some writes and not others); returns its path, to remove to free the disk.
pub fn fill_disk(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 << 10];
    while f.write_all(&block).is_ok() {}
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    path
}

/// A heartbeat of `host` (agent id `HOST-agent`, seq `seq`), as an agent sends it, dated now.
pub fn heartbeat(host: &str, seq: u64) -> String {
    serde_json::json!({
        "id": format!("{host}-agent:{seq}"),
        "ts": chrono::Utc::now().to_rfc3339(),
        "host": host,
        "site": "lab",
        "source": "logwarden-agent",
        "app": "logwarden-agent",
        "severity": "info",
        "kind": "heartbeat",
        "message": "heartbeat",
    })
    .to_string()
}
