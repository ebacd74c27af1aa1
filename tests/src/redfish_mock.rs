//! A Redfish service on loopback for the tests: DMTF's `public-localstorage` mockup
//! (`tests/data/fixtures/redfish/public-localstorage/`, each folder's `index.json` the body of
//! `GET /redfish/v1/<folder>`), held in memory so that a test can change it between polls
//! (drives failing, a rebuild), and made to misbehave: slow answers, a fixed status (401),
//! malformed JSON, basic authentication required; over HTTP or HTTPS.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

#[derive(Default)]
struct MockState {
    docs: BTreeMap<String, Value>,
    delay: Duration,
    status: Option<u16>,
    malformed: bool,
    /// The `Authorization` header value required, when set.
    auth: Option<String>,
    requests: usize,
}

/// A running mock BMC.
pub struct RedfishMock {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<MockState>>,
}

/// The mockup's documents by path (`/redfish/v1`, `/redfish/v1/Systems`, ...).
pub fn mockup_docs() -> BTreeMap<String, Value> {
    let root = crate::fixture("redfish/public-localstorage");
    let mut docs = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, docs: &mut BTreeMap<String, Value>) {
        for e in std::fs::read_dir(dir).expect("reading the mockup") {
            let p = e.expect("mockup entry").path();
            if p.is_dir() {
                walk(root, &p, docs);
            } else if p.file_name().is_some_and(|n| n == "index.json") {
                let rel = p.parent().unwrap().strip_prefix(root).unwrap();
                let key = if rel.as_os_str().is_empty() {
                    "/redfish/v1".to_owned()
                } else {
                    format!("/redfish/v1/{}", rel.display())
                };
                let text = std::fs::read_to_string(&p).expect("mockup file");
                docs.insert(key, serde_json::from_str(&text).expect("mockup JSON"));
            }
        }
    }
    walk(&root, &root, &mut docs);
    docs
}

impl RedfishMock {
    /// Serves the healthy mockup over plain HTTP.
    pub fn start() -> RedfishMock {
        Self::start_with(None)
    }

    /// Serves the healthy mockup over HTTPS with this certificate and key (PEM files; see
    /// [`crate::TestCerts`]).
    pub fn start_tls(cert: &Path, key: &Path) -> RedfishMock {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("reading the certificate")
            .map(|c| c.expect("a PEM certificate"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).expect("reading the key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a TLS server config");
        Self::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> RedfishMock {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the mock BMC");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(MockState {
            docs: mockup_docs(),
            ..MockState::default()
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (s, tls) = (s.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(stream, &s),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(conn, stream), &s);
                    }
                });
            }
        });
        RedfishMock { url, state }
    }

    /// Changes the documents (a drive fails, a rebuild starts).
    pub fn update(&self, f: impl FnOnce(&mut BTreeMap<String, Value>)) {
        f(&mut self.state.lock().unwrap().docs);
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// Every answer has this status and an empty JSON object.
    pub fn set_status(&self, status: u16) {
        self.state.lock().unwrap().status = Some(status);
    }

    /// Every answer is `200` with a body that is not JSON.
    pub fn set_malformed(&self) {
        self.state.lock().unwrap().malformed = true;
    }

    /// Answers 401 unless the request carries these basic credentials.
    pub fn require_auth(&self, user: &str, password: &str) {
        self.state.lock().unwrap().auth = Some(format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes())
        ));
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

/// Standard base64 with padding (for the one header the mock checks).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve(stream: impl Read + Write, state: &Mutex<MockState>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut auth = None;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth = Some(v.trim().to_owned());
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (delay, answer) = {
            let mut s = state.lock().unwrap();
            s.requests += 1;
            let path = path
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            let answer = if s.auth.is_some() && s.auth != auth {
                (401, "{\"error\":\"unauthorized\"}".to_owned())
            } else if let Some(code) = s.status {
                (code, "{}".to_owned())
            } else if s.malformed {
                (
                    200,
                    "{\"@odata.id\": \"/redfish/v1\", \"Systems\": ".to_owned(),
                )
            } else {
                match s.docs.get(path) {
                    Some(v) => (200, v.to_string()),
                    None => (404, "{\"error\":\"not found\"}".to_owned()),
                }
            };
            (s.delay, answer)
        };
        std::thread::sleep(delay);
        let (code, body) = answer;
        let reason = match code {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Status",
        };
        let extra = if code == 401 {
            "WWW-Authenticate: Basic realm=\"mock\"\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let out = reader.get_mut();
        if out.write_all(head.as_bytes()).is_err()
            || out.write_all(body.as_bytes()).is_err()
            || out.flush().is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads_as_the_standard_says() {
        assert_eq!(super::base64(b"monitor:s3cret"), "bW9uaXRvcjpzM2NyZXQ=");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
