//! Cluster mode on NATS JetStream (issue 32, docs/scale.md): several collectors share one
//! fleet through a replicated JetStream stream instead of a protocol of their own.
//!
//! - `names.rs`: the stream, the bucket, the subjects, the partition of an agent.
//! - `member.rs`: this collector's connection to the cluster and what it owns.
//! - `stream.rs`: a collector publishes each accepted agent batch to the stream, one message
//!   per event on the subject of the agent's partition, de-duplicated by `Nats-Msg-Id`
//!   (`agent_id:seq`), and acknowledges the agent only after JetStream's publish ack.
//! - `lease.rs`: ownership of a partition is a lease in a JetStream key-value bucket.
//! - `shard.rs`: each collector holds a fair share of the partitions and takes over those of a
//!   collector that stopped renewing its leases.
//! - `consumer.rs`: the owner of a partition reads it through its own durable consumer into its
//!   local WAL, from which its index and fleet view follow as for a single collector;
//!   `given_up.rs`: the consumers of partitions given up or lost are deleted.
//!
//! - `fanout.rs`: search, count, export and fleet asked of any collector ask every partition's
//!   owner (`owner.rs` answers, `partition_page.rs` pages one partition in the order of
//!   `cursor.rs`, `fleet.rs` merges the fleet views, `exact_count.rs` makes counts by value
//!   exact in two rounds), and name the partitions that did not answer; `scope.rs`: a
//!   collector's reads see only the partitions it owns now.
//!
//! - `leader.rs`: one collector, elected by a lease, runs the cluster's alert engine over
//!   every partition (`alert_feed.rs`), its state in JetStream (`alert_state.rs`); the alert
//!   API of any collector reaches it (`alert_api.rs`); `view.rs`: the whole cluster for status.
//!
//! - `tail.rs`: the live tail of every owner, merged in time order within a short delay.
//!
//! Syslog received by any collector is published to the stream as agents' events are
//! (`crate::syslog::cluster`).

pub mod alert_api;
pub mod alert_feed;
pub mod alert_state;
pub mod config;
pub mod consumer;
pub mod cursor;
pub mod exact_count;
pub mod fanout;
pub mod fleet;
pub mod given_up;
pub mod leader;
pub mod lease;
pub mod member;
pub mod names;
pub mod owner;
mod partition_page;
pub mod scope;
pub mod shard;
pub mod status;
pub mod stream;
pub mod tail;
pub mod view;

use std::sync::Arc;

use config::ClusterSettings;
use member::Member;

/// Connects to the cluster when `[cluster]` is set, and starts holding this collector's share
/// of the partitions in `tasks` until `stop`.
pub async fn start(
    settings: &Option<ClusterSettings>,
    committer: &crate::wal::Committer,
    tasks: &mut tokio::task::JoinSet<()>,
    stop: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<Arc<Member>>> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let cluster = Member::connect(settings.clone()).await?;
    tasks.spawn(shard::run(cluster.clone(), committer.clone(), stop.clone()));
    Ok(Some(cluster))
}

/// Cluster mode's alerting: this collector takes part in the election of the one alert
/// engine (`leader.rs`); returns the API's handle, which reaches the leader's engine.
pub fn start_alerts(
    member: &Arc<Member>,
    (settings, counters): (crate::rules::EngineSettings, Arc<crate::metrics::Counters>),
    committer: &crate::wal::Committer,
    tasks: &mut tokio::task::JoinSet<()>,
    stop: &tokio_util::sync::CancellationToken,
) -> crate::rules::AlertsHandle {
    leader::start(member, settings, committer, counters, tasks, stop)
}
