//! A JetStream cluster of real `nats-server` processes (Debian's package; scripts/test installs
//! it) on free loopback ports, each node with its own store under a temporary folder, for the
//! cluster-mode tests. Nodes are killed with SIGKILL and started again on the same ports and
//! store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_addr, wait_until};

/// Where Debian installs the server.
pub fn nats_server() -> PathBuf {
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "nats-server is not installed: scripts/test installs Debian's package (apt-get install nats-server)"
    );
}

/// One node of the cluster.
pub struct NatsNode {
    pub name: String,
    /// Clients connect here (`nats://127.0.0.1:PORT`).
    pub url: String,
    /// The monitoring endpoint (`http://127.0.0.1:PORT`).
    pub monitor: String,
    config: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    fn spawn(&mut self) {
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
    }

    /// SIGKILL: the node's Raft groups lose a member without warning.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL nats-server");
            c.wait().expect("reap nats-server");
        }
    }

    /// Starts the node again on its ports and store after [`NatsNode::kill9`].
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// `GET /jsz` of the monitoring endpoint.
    pub fn jsz(&self) -> Option<serde_json::Value> {
        self.monitoring("jsz")
    }

    /// `GET /PATH` of the monitoring endpoint, as JSON (`None`: the node does not answer).
    pub fn monitoring(&self, path: &str) -> Option<serde_json::Value> {
        reqwest::blocking::Client::new()
            .get(format!("{}/{path}", self.monitor))
            .timeout(Duration::from_secs(2))
            .send()
            .ok()?
            .json()
            .ok()
    }

    /// Whether a client that named itself `name` is connected to this node (`/connz`).
    pub fn serves(&self, name: &str) -> bool {
        self.monitoring("connz?limit=1024").is_some_and(|c| {
            c["connections"]
                .as_array()
                .is_some_and(|a| a.iter().any(|conn| conn["name"] == name))
        })
    }
}

impl Drop for NatsNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A JetStream cluster of `n` nodes, started and with a meta leader elected; `n` = 1 is a
/// lone server (no cluster block: a cluster of one never elects a meta leader), ready once
/// its JetStream answers.
pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
}

impl NatsCluster {
    pub fn start(dir: &Path, n: usize) -> NatsCluster {
        NatsCluster::start_with(dir, n, "")
    }

    /// [`NatsCluster::start`] with `extra` added to every node's config (e.g.
    /// `max_payload: 16384`).
    pub fn start_with(dir: &Path, n: usize, extra: &str) -> NatsCluster {
        let client: Vec<String> = (0..n).map(|_| free_addr()).collect();
        let route: Vec<String> = (0..n).map(|_| free_addr()).collect();
        let monitor: Vec<String> = (0..n).map(|_| free_addr()).collect();
        let mut nodes = Vec::new();
        for i in 0..n {
            let name = format!("n{}", i + 1);
            let store = dir.join(&name);
            std::fs::create_dir_all(&store).expect("creating the node's store");
            let routes: Vec<String> = route
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| format!("\"nats-route://{r}\""))
                .collect();
            let mut text = format!(
                "server_name: {name}\nlisten: \"{}\"\nhttp: \"{}\"\n\
                 jetstream {{ store_dir: \"{}\", max_memory_store: 64MB, max_file_store: 1GB }}\n{extra}\n",
                client[i],
                monitor[i],
                store.display(),
            );
            if n > 1 {
                text.push_str(&format!(
                    "cluster {{ name: logwarden-test, listen: \"{}\", routes: [{}] }}\n",
                    route[i],
                    routes.join(", ")
                ));
            }
            let config = dir.join(format!("{name}.conf"));
            std::fs::write(&config, text).expect("writing the node's config");
            let mut node = NatsNode {
                name,
                url: format!("nats://{}", client[i]),
                monitor: format!("http://{}", monitor[i]),
                config,
                child: None,
            };
            node.spawn();
            nodes.push(node);
        }
        let cluster = NatsCluster { nodes };
        if n == 1 {
            assert!(
                wait_until(Duration::from_secs(60), || cluster.nodes[0]
                    .jsz()
                    .is_some_and(|j| j["config"].is_object())),
                "the NATS server's JetStream did not answer within 60 s"
            );
            return cluster;
        }
        assert!(
            wait_until(Duration::from_secs(60), || cluster.meta_leader().is_some()),
            "the NATS cluster elected no JetStream meta leader within 60 s"
        );
        cluster
    }

    /// The client URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// The node a client that named itself `name` is connected to, if any answers so.
    pub fn node_serving(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.serves(name))
    }

    /// The node that leads stream `name`'s Raft group, as a running node reports it.
    pub fn stream_leader(&self, name: &str) -> Option<usize> {
        let leader = self.nodes.iter().find_map(|n| {
            let jsz = n.monitoring("jsz?accounts=true&streams=true")?;
            jsz["account_details"]
                .as_array()?
                .iter()
                .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                .find(|s| s["name"] == name)
                .and_then(|s| s["cluster"]["leader"].as_str().map(str::to_owned))
        })?;
        self.nodes.iter().position(|n| n.name == leader)
    }

    /// The JetStream meta leader, as a running node reports it.
    pub fn meta_leader(&self) -> Option<String> {
        self.nodes.iter().find_map(|n| {
            let jsz = n.jsz()?;
            let leader = jsz["meta_cluster"]["leader"].as_str()?;
            (!leader.is_empty()).then(|| leader.to_owned())
        })
    }
}
