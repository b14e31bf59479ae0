//! A real three-node nats-server cluster on loopback, for the tests of
//! replicated state (and `scripts/nats-cluster.sh`, which writes the same
//! configuration for users).
//!
//! Each node is a [`NatsServer`] with a configuration of its own: its
//! client port, a cluster listener, routes to every node, a monitoring port
//! (`/jsz` shows what the node holds) and JetStream on its own store
//! directory, so a node killed with SIGKILL restarts on the same ports with
//! the same store and catches up like a real one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::nats::NatsServer;
use crate::ports::free_port;

/// The cluster's name in every node's configuration.
const CLUSTER_NAME: &str = "faas-test";

/// A running cluster of nats-server processes; dropping it kills them all
/// and removes their stores.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    monitor_ports: Vec<u16>,
    // Dropped last: the nodes' stores are in it.
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes on free ports, JetStream on each, and waits until
    /// JetStream answers on every node (a meta leader is elected).
    pub async fn start(size: usize) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("faas-nats-cluster-")
            .tempdir()
            .context("create a temporary directory for the cluster")?;
        let client_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let monitor_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<String> =
            cluster_ports.iter().map(|port| format!("\"nats-route://127.0.0.1:{port}\"")).collect();
        let mut nodes = Vec::with_capacity(size);
        for i in 0..size {
            let node_dir: PathBuf = dir.path().join(format!("n{i}"));
            std::fs::create_dir_all(&node_dir).with_context(|| format!("create {}", node_dir.display()))?;
            let config = node_dir.join("node.conf");
            std::fs::write(&config, node_config(i, cluster_ports[i], monitor_ports[i], &routes))
                .with_context(|| format!("write {}", config.display()))?;
            nodes.push(NatsServer::start_in_with_config(&node_dir, client_ports[i], &config, &[])?);
        }
        let cluster = Self { nodes, monitor_ports, _dir: dir };
        cluster.wait_jetstream(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// How many nodes the cluster has (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Every node's client URL, comma-separated: what `NATS_URL` takes.
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// Node `i`.
    pub fn node(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// Node `i`'s monitoring base URL (`http://127.0.0.1:PORT`), where
    /// `/jsz?streams=true` lists the streams it holds and their state.
    pub fn monitor_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.monitor_ports[i])
    }

    /// The index of the node whose server name is `name` (`n0`, `n1`, ...),
    /// as JetStream names a stream's leader and replicas.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        name.strip_prefix('n').and_then(|i| i.parse().ok()).filter(|i| *i < self.nodes.len())
    }

    /// Kills node `i` with SIGKILL: no goodbye to its peers or clients.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again on its ports with its store.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].restart()
    }

    /// Waits until JetStream answers an account request on every running
    /// node, for at most `timeout`.
    pub async fn wait_jetstream(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for url in self.urls() {
            let client = async_nats::connect(&url).await.with_context(|| format!("connect to {url}"))?;
            let js = async_nats::jetstream::new(client);
            loop {
                match js.query_account().await {
                    Ok(_) => break,
                    Err(err) if Instant::now() >= deadline => {
                        anyhow::bail!("JetStream on {url} never answered within {timeout:?}: {err}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }
}

/// Node `i`'s configuration: name, monitoring, JetStream with a fixed
/// storage limit (as [`NatsServer`] declares it), and the cluster.
fn node_config(i: usize, cluster_port: u16, monitor_port: u16, routes: &[String]) -> String {
    format!(
        "server_name: \"n{i}\"\n\
         http: \"127.0.0.1:{monitor_port}\"\n\
         jetstream {{\n  max_file_store: 8GB\n  max_memory_store: 256MB\n}}\n\
         cluster {{\n  name: \"{CLUSTER_NAME}\"\n  listen: \"127.0.0.1:{cluster_port}\"\n  routes: [\n    {}\n  ]\n}}\n",
        routes.join("\n    ")
    )
}
