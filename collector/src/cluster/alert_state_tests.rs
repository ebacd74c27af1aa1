//! The alert state store against a real `nats-server` (Debian's; scripts/test installs it)
//! whose `max_payload` is small, so that snapshots and batches of changes go over it.

use std::collections::BTreeSet;

use async_nats::jetstream;
use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::super::test_nats::{connect, settings, start_server};
use super::*;
use crate::rules::builtin::BuiltinsState;
use crate::rules::snapshot::{NflogState, SNAPSHOT_VERSION, TableState};
use crate::rules::state::StateChange;

/// The server's limit in these tests: 32 KiB instead of 1 MiB, so that the state goes over it
/// with a few thousand entries.
const MAX_PAYLOAD: usize = 32 * 1024;

fn at(rng: &mut StdRng) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + rng.random_range(0..10_000_000), 0)
        .single()
        .expect("a valid time")
}

/// A name that does not compress away (16 random hex digits).
fn name(rng: &mut StdRng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

fn notified(rng: &mut StdRng, n: usize) -> Vec<StateChange> {
    (0..n)
        .map(|_| StateChange::Notified {
            receiver: name(rng),
            group: name(rng),
            firing: (0..3).map(|_| name(rng)).collect(),
            resolved: BTreeSet::new(),
            at: at(rng),
        })
        .collect()
}

fn snapshot(rng: &mut StdRng, lsn: u64, entries: usize) -> Snapshot {
    Snapshot {
        v: SNAPSHOT_VERSION,
        lsn,
        alert_state_lsn: lsn,
        taken_at: at(rng),
        table: TableState {
            alerts: vec![],
            silences: vec![],
            nflog: (0..entries)
                .map(|_| NflogState {
                    receiver: name(rng),
                    group: name(rng),
                    firing: (0..3).map(|_| name(rng)).collect(),
                    resolved: BTreeSet::new(),
                    at: Some(at(rng)),
                })
                .collect(),
        },
        desired: vec![],
        builtins: BuiltinsState::default(),
        user: vec![],
    }
}

/// What the store must give back: the newest whole snapshot and the changes after it.
#[derive(Default)]
struct Model {
    snapshot: Option<Snapshot>,
    changes: Vec<StateChange>,
}

async fn assert_loads(js: &jetstream::Context, model: &Model, seed: u64, step: usize) -> u64 {
    let (start, last) = load(js)
        .await
        .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
    assert!(
        start.snapshot == model.snapshot,
        "seed {seed} step {step}: the snapshot read back differs (lsn {:?}, expected {:?})",
        start.snapshot.as_ref().map(|s| s.lsn),
        model.snapshot.as_ref().map(|s| s.lsn)
    );
    assert!(
        start.changes == model.changes,
        "seed {seed} step {step}: {} changes read back, {} expected",
        start.changes.len(),
        model.changes.len()
    );
    last
}

async fn messages_held(js: &jetstream::Context) -> u64 {
    let mut s = js.get_stream(ALERT_STATE).await.expect("the stream");
    s.info().await.expect("its info").state.messages
}

/// One seeded schedule of writes: small and large (over `max_payload`) batches of changes
/// and snapshots, and leaders killed between two parts of a large write (the parts before
/// the kill are in the stream, then a new leader loads the state and writes on). After every
/// step a new leader reads exactly the newest whole snapshot and the changes after it.
async fn schedule(js: &jetstream::Context, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut last = 0;
    let mut lsn = 0;
    for step in 0..16 {
        lsn += rng.random_range(1..1000);
        let large = rng.random_bool(0.6);
        let (kind, payload, snap, changes) = if rng.random_bool(0.4) {
            let snap = snapshot(&mut rng, lsn, if large { 3000 } else { 20 });
            (StateKind::Snapshot, snap.encode(), Some(snap), vec![])
        } else {
            let changes = notified(&mut rng, if large { 2000 } else { 3 });
            (StateKind::Changes, state::encode(&changes), None, changes)
        };
        let parts = messages(&kind, &payload, MAX_PAYLOAD);
        assert_eq!(parts.len() > 1, payload.len() > MAX_PAYLOAD - 4096);
        let n = parts.len();
        if n > 1 && rng.random_bool(0.3) {
            // Killed after part k of n: the new leader takes the state without this write.
            let k = rng.random_range(1..n);
            let kept: Vec<_> = parts.into_iter().take(k).collect();
            publish_in_order(js, &mut last, kept)
                .await
                .unwrap_or_else(|(_, e)| panic!("seed {seed} step {step}: {e}"));
            last = assert_loads(js, &model, seed, step).await;
            continue;
        }
        write(js, &mut last, &kind, &payload)
            .await
            .unwrap_or_else(|(_, e)| panic!("seed {seed} step {step}: {n} parts: {e}"));
        match snap {
            Some(s) => {
                model.snapshot = Some(s);
                model.changes.clear();
                // Rolled up, or the older messages purged: the stream holds this snapshot.
                assert_eq!(messages_held(js).await, n as u64, "seed {seed} step {step}");
            }
            None => model.changes.extend(changes),
        }
        if rng.random_bool(0.5) {
            last = assert_loads(js, &model, seed, step).await;
        }
    }
    assert_loads(js, &model, seed, 16).await;
}

/// A state larger than the server's `max_payload` is stored (in parts) and a new leader reads
/// it back exactly, whatever part a leader was killed after. Seeds 1-4; replay one with
/// `LOGWARDEN_SEED=<n>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_over_max_payload_is_stored_and_read_back_exactly_after_kills_between_parts() {
    let server = start_server(MAX_PAYLOAD);
    let js = connect(&server.url).await;
    assert_eq!(js.client().max_payload(), MAX_PAYLOAD);
    let seeds: Vec<u64> = match std::env::var("LOGWARDEN_SEED") {
        Ok(s) => vec![s.parse().expect("LOGWARDEN_SEED is a number")],
        Err(_) => (1..=4).collect(),
    };
    for seed in seeds {
        let _ = js.delete_stream(ALERT_STATE).await;
        ensure(&js, &settings(&server.url))
            .await
            .expect("the stream");
        schedule(&js, seed).await;
    }
}

/// A snapshot in parts whose older messages were not purged (a leader killed between its
/// last part and the purge): the newest whole snapshot counts, the older one and the changes
/// between them do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_snapshot_left_before_a_newer_one_is_superseded() {
    let server = start_server(MAX_PAYLOAD);
    let js = connect(&server.url).await;
    ensure(&js, &settings(&server.url))
        .await
        .expect("the stream");
    let mut rng = StdRng::seed_from_u64(7);
    let mut last = 0;
    let (old, new) = (snapshot(&mut rng, 10, 3000), snapshot(&mut rng, 20, 3000));
    let (between, after) = (notified(&mut rng, 5), notified(&mut rng, 5));
    for (kind, payload) in [
        (StateKind::Snapshot, old.encode()),
        (StateKind::Changes, state::encode(&between)),
    ] {
        write(&js, &mut last, &kind, &payload)
            .await
            .expect("stored");
    }
    let encoded = new.encode();
    let parts = messages(&StateKind::Snapshot, &encoded, MAX_PAYLOAD);
    assert!(parts.len() > 1);
    publish_in_order(&js, &mut last, parts)
        .await
        .expect("stored");
    write(&js, &mut last, &StateKind::Changes, &state::encode(&after))
        .await
        .expect("stored");
    let model = Model {
        snapshot: Some(new),
        changes: after,
    };
    assert_loads(&js, &model, 7, 0).await;
}
