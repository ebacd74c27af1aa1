//! Reading a BMC over Redfish: one blocking HTTP client per BMC (basic authentication from a
//! password file, TLS trusting a CA file or, when asked explicitly, anything), and the walk of
//! one poll: service root -> `Systems` -> each system's `Storage` -> each storage, its `Drives`
//! and `Volumes` (and each volume's member and spare drives) -> `Chassis` -> each chassis'
//! `Drives`. Every document is fetched once per poll.
//!
//! Failure handling: a document that cannot be read is named in [`Walk::errors`] and the walk
//! goes on with the others; but a BMC that does not answer at all (refused, timed out) or
//! refuses the credentials (401/403) ends the walk at once, so that a dead BMC costs one
//! timeout per poll, not one per document.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::redfish::{RedfishTarget, Walk, link_ids, strip_fragment};

/// Largest document accepted (a BMC answer is a few KiB; a log service can be large).
const MAX_DOC_BYTES: u64 = 8 << 20;

/// The client cannot be built: the password or CA file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RedfishSetupError {
    #[error("password file {}: {source}", path.display())]
    PasswordRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "password file {}: readable by group or others (mode {mode:04o}); chmod 600 it",
        path.display()
    )]
    PasswordMode { path: PathBuf, mode: u32 },
    #[error("password file {}: empty", path.display())]
    PasswordEmpty { path: PathBuf },
    #[error("{0}")]
    Ca(#[from] logwarden_core::tls::CaFileError),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// Reads the first line of a password file that only its owner may read.
pub fn read_password_file(path: &Path) -> Result<String, RedfishSetupError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| RedfishSetupError::PasswordRead {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(RedfishSetupError::PasswordMode {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(err)?;
    let pw = text.lines().next().unwrap_or("").to_owned();
    if pw.is_empty() {
        return Err(RedfishSetupError::PasswordEmpty {
            path: path.to_owned(),
        });
    }
    Ok(pw)
}

/// One BMC's client.
pub struct RedfishClient {
    http: reqwest::blocking::Client,
    /// `https://bmc:443` (scheme and authority): `@odata.id`s are paths under it.
    origin: String,
    root: String,
    auth: Option<(String, Option<String>)>,
    timeout: Duration,
}

/// How a GET failed; `fatal` ends the walk (nothing else will answer either).
struct GetError {
    message: String,
    fatal: bool,
}

impl RedfishClient {
    pub fn new(t: &RedfishTarget) -> Result<RedfishClient, RedfishSetupError> {
        let timeout = t.timeout;
        let mut b = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3));
        if let Some(ca) = &t.ca_file {
            let certs = logwarden_core::tls::read_ca_file(ca)?
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RedfishSetupError::Http(format!("CA file {}: {e}", ca.display())))?;
            b = b.tls_certs_only(certs);
        }
        if t.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        let http = b
            .build()
            .map_err(|e| RedfishSetupError::Http(e.to_string()))?;
        let auth = match (&t.user, &t.password_file) {
            (Some(u), Some(f)) => Some((u.clone(), Some(read_password_file(f)?))),
            (Some(u), None) => Some((u.clone(), None)),
            _ => None,
        };
        // `@odata.id`s are absolute paths: they go under the scheme and authority alone.
        let service_root = t.service_root();
        let (scheme, rest) = service_root
            .split_once("://")
            .unwrap_or(("https", &service_root));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, "redfish/v1"));
        let origin = format!("{scheme}://{authority}");
        let root = format!("/{path}");
        Ok(RedfishClient {
            http,
            origin,
            root,
            auth,
            timeout,
        })
    }

    fn get(&self, path: &str) -> Result<Value, GetError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.origin, strip_fragment(path))
        };
        let shown = strip_fragment(path);
        let fail = |message: String, fatal: bool| GetError {
            message: format!("GET {shown}: {message}"),
            fatal,
        };
        let mut req = self.http.get(&url).header("Accept", "application/json");
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, p.as_deref());
        }
        let resp = req.send().map_err(|e| {
            let m = if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs())
            } else if e.is_connect() {
                format!("cannot connect: {}", innermost(&e))
            } else {
                innermost(&e)
            };
            fail(m, true)
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(fail(
                format!("{status} (check user and password_file)"),
                true,
            ));
        }
        if !status.is_success() {
            return Err(fail(status.to_string(), false));
        }
        let mut body = Vec::new();
        resp.take(MAX_DOC_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                let m = if is_timeout(&e) {
                    format!("no answer within {} s", self.timeout.as_secs())
                } else {
                    format!("reading the answer: {e}")
                };
                fail(m, true)
            })?;
        if body.len() as u64 > MAX_DOC_BYTES {
            return Err(fail(format!("answer over {MAX_DOC_BYTES} bytes"), false));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("malformed JSON: {e}"), false))?;
        if !v.is_object() {
            return Err(fail("malformed JSON: not an object".into(), false));
        }
        Ok(v)
    }

    /// One poll: every document the assessment needs (module doc).
    pub fn walk(&self) -> Walk {
        let mut w = Walk::default();
        let fetch = |w: &mut Walk, path: &str| -> Result<Option<Value>, ()> {
            let key = strip_fragment(path).to_owned();
            if let Some(v) = w.docs.get(&key) {
                return Ok(Some(v.clone()));
            }
            match self.get(&key) {
                Ok(v) => {
                    w.docs.insert(key, v.clone());
                    Ok(Some(v))
                }
                Err(e) => {
                    w.errors.push(e.message);
                    if e.fatal { Err(()) } else { Ok(None) }
                }
            }
        };
        let _ = (|| -> Result<(), ()> {
            let Some(root) = fetch(&mut w, &self.root)? else {
                return Ok(());
            };
            let link = |v: &Value, k: &str| {
                v.pointer(&format!("/{k}/@odata.id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            if let Some(systems) = link(&root, "Systems")
                && let Some(coll) = fetch(&mut w, &systems)?
            {
                for sys in link_ids(coll.get("Members")) {
                    let Some(sys_doc) = fetch(&mut w, &sys)? else {
                        continue;
                    };
                    let Some(storage) = link(&sys_doc, "Storage") else {
                        continue;
                    };
                    let Some(coll) = fetch(&mut w, &storage)? else {
                        continue;
                    };
                    for st in link_ids(coll.get("Members")) {
                        let Some(st_doc) = fetch(&mut w, &st)? else {
                            continue;
                        };
                        w.storages.push(st.clone());
                        for d in link_ids(st_doc.get("Drives")) {
                            fetch(&mut w, &d)?;
                        }
                        let Some(vols) = link(&st_doc, "Volumes") else {
                            continue;
                        };
                        let Some(coll) = fetch(&mut w, &vols)? else {
                            continue;
                        };
                        for v in link_ids(coll.get("Members")) {
                            let Some(vd) = fetch(&mut w, &v)? else {
                                continue;
                            };
                            for d in link_ids(vd.pointer("/Links/Drives"))
                                .into_iter()
                                .chain(link_ids(vd.pointer("/Links/DedicatedSpareDrives")))
                            {
                                fetch(&mut w, &d)?;
                            }
                        }
                    }
                }
            }
            if let Some(chassis) = link(&root, "Chassis")
                && let Some(coll) = fetch(&mut w, &chassis)?
            {
                for ch in link_ids(coll.get("Members")) {
                    let Some(ch_doc) = fetch(&mut w, &ch)? else {
                        continue;
                    };
                    let Some(drives) = link(&ch_doc, "Drives") else {
                        continue;
                    };
                    let Some(coll) = fetch(&mut w, &drives)? else {
                        continue;
                    };
                    for d in link_ids(coll.get("Members")) {
                        if fetch(&mut w, &d)?.is_some() {
                            w.chassis_drives.push(d);
                        }
                    }
                }
            }
            Ok(())
        })();
        w
    }
}

/// The most specific message in an error's chain (`Connection refused (os error 111)`).
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut || innermost(e).contains("timed out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_others_can_read_is_refused_and_the_first_line_is_the_password() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&f).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password_file(&f).unwrap(), "s3cret");
        let e = read_password_file(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn a_refused_connection_is_one_fatal_error_naming_the_url() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = RedfishTarget::new(&format!("http://127.0.0.1:{port}"));
        let w = RedfishClient::new(&t).unwrap().walk();
        assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
        assert!(
            w.errors[0].starts_with("GET /redfish/v1: cannot connect"),
            "{:?}",
            w.errors
        );
    }
}
