//! A real `nats-server` (Debian's; scripts/test installs it) for the cluster modules' tests:
//! one node with JetStream on a free loopback port, its store in a temporary folder.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;

use super::config::ClusterSettings;

/// One `nats-server` with JetStream on a free loopback port, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nats-server is not installed: scripts/test installs Debian's package")
}

pub fn start_server(max_payload: usize) -> Server {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port");
    let config = dir.path().join("nats.conf");
    let store = dir.path().join("js");
    std::fs::write(
        &config,
        format!(
            "listen: \"{addr}\"\nmax_payload: {max_payload}\n\
             jetstream {{ store_dir: \"{}\", max_memory_store: 64MB, max_file_store: 1GB }}\n",
            store.display()
        ),
    )
    .expect("writing the server's config");
    let child = Command::new(nats_server())
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nats-server");
    Server {
        child,
        url: format!("nats://{addr}"),
        _dir: dir,
    }
}

pub async fn connect(url: &str) -> jetstream::Context {
    for _ in 0..200 {
        if let Ok(c) = async_nats::connect(url).await {
            return jetstream::new(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nats-server at {url} did not accept a connection within 10 s");
}

pub fn settings(url: &str) -> ClusterSettings {
    ClusterSettings {
        nats: vec![url.to_owned()],
        id: "a".into(),
        partitions: 4,
        replicas: 1,
        stream_max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(120),
        lease_ttl: Duration::from_secs(6),
        alert_snapshot_every: Duration::from_secs(30),
        url: None,
        token_file: None,
    }
}
