//! One alert engine for the cluster: the collector holding the lease `alerts.leader` in the
//! lease bucket (`lease.rs`, renewed as a partition's) runs the rules, over the events of every
//! partition (`alert_feed.rs`), with its state in JetStream (`alert_state.rs`), so that the
//! next leader continues it and pages nothing twice. The other collectors run no rules and
//! send no notification; their alert API goes to the leader (`alert_api.rs`).
//!
//! Every tick (a sixth of the lease TTL) each collector renews the lease if it holds it, or
//! tries to take it, and notes who holds it (for status). A collector that holds the lease
//! starts a session: it reads the alert state, starts the engine (`rules/engine/shared.rs`)
//! with the stream's events after the state's snapshot (without one, those of the rules'
//! lookback: `rules::engine::lookback`), and answers the alert API. The session
//! ends when the lease is lost or no longer surely held (3/4 of the TTL without a renewal:
//! another collector may have it by then), when another collector wrote the state (it was
//! deposed without knowing), or when its reading of the stream failed; a session that ended by
//! itself is started again after [`RETRY`], from the shared state.
//!
//! A leader killed with SIGKILL stops renewing: its lease expires after the TTL and another
//! collector takes it within two ticks, then takes the state over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::alert_api::{self, Local};
use super::lease::{self, Fresh, Lease};
use super::member::Member;
use super::names::ALERT_LEADER;
use super::{alert_feed, alert_state};
use crate::rules::AlertsHandle;
use crate::rules::engine::{self, EngineSettings, Shared};
use crate::wal::Committer;

/// Pause before a session that ended by itself starts again.
const RETRY: Duration = Duration::from_secs(1);

/// What a session needs to start an engine.
struct Parts {
    settings: EngineSettings,
    committer: Committer,
    counters: Arc<crate::metrics::Counters>,
    local: Local,
}

/// Takes part in the election until `stop`; returns the API's handle on the cluster's alerts.
pub fn start(
    member: &Arc<Member>,
    settings: EngineSettings,
    committer: &Committer,
    counters: Arc<crate::metrics::Counters>,
    tasks: &mut JoinSet<()>,
    stop: &CancellationToken,
) -> AlertsHandle {
    let (handle, local) = alert_api::front(member.jetstream().client());
    let parts = Arc::new(Parts {
        settings,
        committer: committer.clone(),
        counters,
        local,
    });
    tasks.spawn(run(member.clone(), parts, stop.clone()));
    handle
}

/// A leadership in progress.
struct Session {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Session {
    fn start(member: Arc<Member>, parts: Arc<Parts>, fresh: Fresh) -> Session {
        let stop = CancellationToken::new();
        let task = tokio::spawn(lead(member, parts, fresh, stop.clone()));
        Session { stop, task }
    }

    async fn end(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn run(member: Arc<Member>, parts: Arc<Parts>, stop: CancellationToken) {
    let tick = (member.settings.lease_ttl / 6).max(Duration::from_millis(300));
    let mut lease: Option<Lease> = None;
    let mut session: Option<Session> = None;
    let mut not_before = Instant::now();
    loop {
        elect(&member, &mut lease).await;
        let holds = lease.as_ref().is_some_and(|l| l.fresh().holds());
        if let Some(s) = session.take_if(|s| s.task.is_finished()) {
            s.end().await;
            not_before = Instant::now() + RETRY;
        }
        match session.take() {
            Some(s) if !holds => {
                tracing::warn!(
                    "cluster: alert leadership not held any more; the alert engine stops here"
                );
                s.end().await;
            }
            None if holds && Instant::now() >= not_before => {
                let fresh = lease.as_ref().map(Lease::fresh);
                session = fresh.map(|f| Session::start(member.clone(), parts.clone(), f));
            }
            s => session = s,
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    if let Some(s) = session {
        s.end().await;
    }
    if let (Some(l), Ok(kv)) = (lease, member.leases().await) {
        lease::release(kv, l).await;
    }
}

/// One tick of the election: renew or take the lease, note who holds it.
async fn elect(member: &Member, lease: &mut Option<Lease>) {
    let s = &member.settings;
    let kv = match member.leases().await {
        Ok(kv) => kv,
        Err(e) => {
            tracing::warn!(error = %e, "cluster: alert leadership not updated");
            return;
        }
    };
    match lease {
        Some(l) => {
            if lease::renew(kv, &s.id, l, s.lease_ttl).await.is_err() {
                tracing::warn!("cluster: alert leadership lost to another collector");
                *lease = None;
            }
        }
        None => {
            *lease = lease::take_named(kv, &s.id, ALERT_LEADER, s.lease_ttl).await;
            if lease.is_some() {
                tracing::info!(id = %s.id, "cluster: this collector now leads alerting");
            }
        }
    }
    match lease::holder(kv, ALERT_LEADER).await {
        Ok(holder) => member.set_alert_leader(holder),
        Err(e) => tracing::debug!(error = %e, "cluster: who leads alerting is not known"),
    }
}

/// A session: until `stop`, or until it fails (logged).
async fn lead(member: Arc<Member>, parts: Arc<Parts>, fresh: Fresh, stop: CancellationToken) {
    if let Err(e) = lead_until(&member, &parts, fresh, &stop).await {
        tracing::warn!(error = %e, "cluster: leading alerting failed; trying again");
    }
    parts.local.set(None);
}

async fn lead_until(
    member: &Arc<Member>,
    parts: &Parts,
    fresh: Fresh,
    stop: &CancellationToken,
) -> Result<(), String> {
    let js = member.jetstream().clone();
    member.leases().await?;
    alert_state::ensure(&js, &member.settings).await?;
    let (start, last) = alert_state::load(&js).await?;
    // After the snapshot; without one, only as far back as the rules look (not the whole
    // stream): the table and the notification log come from the store either way.
    let from = match &start.snapshot {
        Some(s) => alert_feed::Start::After(s.lsn),
        None => alert_feed::Start::Since(engine::lookback(&parts.settings)),
    };
    // Everything of the session stops on `ending`: the leader's stop, the state written by
    // another collector, or the engine's end (its reading of the stream failed).
    let ending = stop.child_token();
    let (events_tx, events) = mpsc::channel(4);
    let (writes, writes_rx) = mpsc::channel(16);
    let feed = tokio::spawn(alert_feed::run(
        member.clone(),
        from,
        events_tx,
        ending.clone(),
    ));
    let writer = tokio::spawn(alert_state::serve_writes(
        js.clone(),
        last,
        writes_rx,
        ending.clone(),
    ));
    let (handle, mut engine) = engine::start_shared(
        parts.settings.clone(),
        parts.committer.clone(),
        Shared {
            start,
            events,
            writes,
            snapshot_every: member.settings.alert_snapshot_every,
            leading: Arc::new(move || fresh.holds()),
        },
        ending.clone(),
        parts.counters.clone(),
    );
    parts.local.set(Some(handle.clone()));
    let api = tokio::spawn(alert_api::serve(js.client(), handle, ending.clone()));
    let engine_ended = tokio::select! {
        _ = ending.cancelled() => false,
        _ = &mut engine => true,
    };
    ending.cancel();
    parts.local.set(None);
    if !engine_ended {
        let _ = engine.await;
    }
    let _ = feed.await;
    let _ = writer.await;
    match api.await {
        Ok(served) => served,
        Err(e) => Err(e.to_string()),
    }
}
