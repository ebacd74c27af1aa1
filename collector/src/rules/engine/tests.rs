//! The engine as a whole: replays, snapshots and restarts against a real WAL and committer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration as Span};
use logwarden_core::wire::{
    Ack, AckRequest, AlertSeverity, AlertStatus, AlertView, Matcher, Silence,
};
use logwarden_core::{Event, EventId, Kind};
use serde_json::json;

use super::*;
use crate::rules::alert::{alert_key, labels};
use crate::rules::record::AlertRecord;
use crate::rules::snapshot::{self, Snapshot};
use crate::rules::state;
use crate::rules::user::{Query, UserRule};
use crate::wal::{Originals, Record, RecordKind, Wal, WalOptions};

fn settings() -> EngineSettings {
    EngineSettings {
        user_rules: vec![UserRule {
            name: "Oom".into(),
            query: Query::parse("oom").unwrap(),
            threshold: 3,
            window: Span::seconds(60),
            group_by: vec!["host".into()],
            severity: AlertSeverity::Warning,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }],
        ..EngineSettings::default()
    }
}

/// A WAL in `dir` and its committer; the receiver follows the durable LSN.
fn committer(dir: &std::path::Path) -> (Committer, watch::Receiver<u64>) {
    let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
    let (tx, rx) = watch::channel(wal.durable_lsn());
    let (c, _thread) = Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
    (c, rx)
}

fn event(seq: u64, kind: Kind, host: &str, msg: &str, at: DateTime<Utc>) -> Event {
    let mut e = Event::log(EventId::new("ag", seq), at, host, "phx", "/x", msg.into());
    e.kind = kind;
    e.received = Some(at);
    e
}

fn failed_login(seq: u64, at: DateTime<Utc>) -> Event {
    let mut e = event(
        seq,
        Kind::Log,
        "mta1",
        "SASL LOGIN authentication failed",
        at,
    );
    e.fields = json!({"auth": "failed", "ip": "203.0.113.9"})
        .as_object()
        .cloned()
        .unwrap()
        .into();
    e
}

fn degraded(seq: u64, at: DateTime<Utc>) -> Event {
    let mut e = event(seq, Kind::Health, "mbox3", "", at);
    e.fields = json!({"check": "raid", "array": "md2", "level": "raid6", "state": "degraded",
        "disks_total": 8, "disks_working": 7, "disks_spare": 1, "redundancy_left": 1})
    .as_object()
    .cloned()
    .unwrap()
    .into();
    e
}

fn events_record(lsn: u64, events: &[Event]) -> Record {
    let mut payload = Vec::new();
    for e in events {
        payload.extend(serde_json::to_vec(e).unwrap());
        payload.push(b'\n');
    }
    Record {
        lsn,
        kind: RecordKind::Events,
        payload,
    }
}

fn state_record(lsn: u64, changes: &[StateChange]) -> Record {
    Record {
        lsn,
        kind: RecordKind::AlertState,
        payload: state::encode(changes),
    }
}

/// The alerts without the times the lifecycle stamps on them (two engines differ there).
fn alerts(e: &Engine) -> BTreeMap<String, (String, AlertStatus, AlertSeverity, Option<Ack>)> {
    e.table
        .alerts
        .iter()
        .map(|(k, a)| {
            let r = &a.record;
            (
                k.clone(),
                (r.name.clone(), r.status, r.severity, a.ack.clone()),
            )
        })
        .collect()
}

fn fired(e: &Engine) -> BTreeSet<String> {
    e.pending
        .iter()
        .filter_map(|c| match c {
            StateChange::Alert(r) if r.status == AlertStatus::Firing => Some(r.name.clone()),
            _ => None,
        })
        .collect()
}

fn sorted(mut v: Vec<Signal>) -> Vec<Signal> {
    v.sort_by_key(Signal::key);
    v
}

#[tokio::test]
async fn a_replay_from_a_snapshot_ends_in_the_same_state_as_a_replay_of_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = committer(dir.path());
    let t0 = Utc::now() - Span::seconds(60);
    let at = |s: i64| t0 + Span::seconds(s);
    let raid_key = alert_key(
        "RaidArrayDegraded",
        &labels([("host", "mbox3"), ("array", "md2")]),
    );

    // A: a heartbeat (the only one), 15 of the 20 failed logins that make AuthBruteForce,
    // 2 of the 3 OOM lines that make the user rule fire, a degraded array; then its alert,
    // acked, a silence and a notification.
    let mut a = vec![
        event(1, Kind::Heartbeat, "mbox1", "", at(0)),
        degraded(2, at(0)),
    ];
    a.extend((0..15).map(|i| failed_login(10 + i, at(i as i64))));
    a.extend((0..2).map(|i| event(30 + i, Kind::Log, "mbox3", "OOM killer", at(1))));
    let rec = AlertRecord {
        key: raid_key.clone(),
        name: "RaidArrayDegraded".into(),
        severity: AlertSeverity::Warning,
        status: AlertStatus::Firing,
        labels: labels([("host", "mbox3"), ("array", "md2")]),
        annotations: BTreeMap::new(),
        starts_at: at(0),
        ends_at: None,
        updated_at: at(0),
    };
    let silence = Silence {
        id: "s1".into(),
        matchers: vec![Matcher {
            name: "host".into(),
            value: "mbox9".into(),
            negative: false,
            regex: false,
        }],
        starts_at: at(0),
        ends_at: at(7200),
        author: "me".into(),
        comment: String::new(),
        created_at: at(0),
        every: None,
        next_window: None,
    };
    let part_a = vec![
        events_record(1, &a),
        state_record(
            2,
            &[
                StateChange::Alert(rec),
                StateChange::Ack {
                    key: raid_key.clone(),
                    ack: Ack {
                        author: "me".into(),
                        comment: String::new(),
                        at: at(2),
                        severity: AlertSeverity::Warning,
                    },
                },
                StateChange::Silence(silence),
                StateChange::Notified {
                    receiver: "ops".into(),
                    group: "g".into(),
                    firing: BTreeSet::from([raid_key.clone()]),
                    resolved: BTreeSet::new(),
                    at: at(3),
                },
            ],
        ),
    ];
    // B: the last 5 failed logins (inside the window that began in A) and the third OOM.
    let mut b: Vec<Event> = (0..5)
        .map(|i| failed_login(40 + i, at(20 + i as i64)))
        .collect();
    b.push(event(50, Kind::Log, "mbox3", "OOM killer", at(21)));
    let part_b = vec![
        events_record(3, &b),
        state_record(
            4,
            &[StateChange::SilenceExpired {
                id: "s1".into(),
                at: at(30),
            }],
        ),
    ];
    let start_lsn = 4;

    let mut all = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
    for r in part_a.iter().chain(&part_b) {
        all.record(r.clone(), start_lsn);
    }
    all.reconcile();

    let mut first = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
    for r in &part_a {
        first.record(r.clone(), start_lsn);
    }
    let payload = snapshot::capture(
        2,
        first.written_lsn,
        &first.table,
        &first.desired,
        &first.builtins,
        &first.user,
    )
    .encode();
    drop(first);
    let mut second = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
    let restored = Snapshot::decode(&payload).unwrap().restore(
        &mut second.table,
        &mut second.desired,
        &mut second.builtins,
        &mut second.user,
    );
    assert_eq!(restored.dropped_user_windows, 0);
    for r in &part_b {
        second.record(r.clone(), start_lsn);
    }
    second.reconcile();

    // AuthBruteForce and the user rule fire thanks to the counts from A alone: B by itself
    // does not make them. (The array's alert is updated too: its record here lacks the
    // summary the rule gives.)
    assert_eq!(fired(&second), fired(&all));
    for name in ["AuthBruteForce", "Oom"] {
        assert!(fired(&second).contains(name), "{:?}", fired(&second));
    }
    let mut only_b = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
    for r in &part_b {
        only_b.record(r.clone(), start_lsn);
    }
    only_b.reconcile();
    assert!(fired(&only_b).is_empty(), "{:?}", fired(&only_b));

    assert_eq!(second.desired, all.desired);
    assert_eq!(alerts(&second), alerts(&all));
    assert!(
        alerts(&second)[&raid_key].3.is_some(),
        "the ack came through"
    );
    assert_eq!(second.table.silences, all.table.silences);
    assert_eq!(second.table.silences["s1"].ends_at, at(30), "expired in B");
    assert_eq!(second.table.nflog, all.table.nflog);
    assert_eq!(second.table.nflog.len(), 1);
    assert_eq!(second.builtins.save(), all.builtins.save());
    assert_eq!(second.user.save(), all.user.save());

    // Later, the agent whose heartbeat came in A only is silent in both.
    let later = Utc::now() + Span::minutes(10);
    let tick = |e: &mut Engine| {
        let mut out = Vec::new();
        e.builtins.on_tick(later, &mut out);
        e.user.on_tick(later, &mut out);
        sorted(out)
    };
    let (from_all, from_second) = (tick(&mut all), tick(&mut second));
    assert_eq!(from_second, from_all);
    assert!(
        from_second
            .iter()
            .any(|s| s.name == "AgentSilent" && s.firing.is_some()),
        "{from_second:?}"
    );
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn summary(list: &[AlertView]) -> BTreeSet<(String, String, &'static str, bool)> {
    list.iter()
        .map(|a| {
            (
                a.id.clone(),
                a.name.clone(),
                a.status.as_str(),
                a.ack.is_some(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_makes_a_snapshot_and_the_next_start_begins_there_with_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().to_owned();
    let (c, durable) = committer(&wal_dir);
    let stop = CancellationToken::new();
    let (alerts, task) = start(
        settings(),
        c.clone(),
        wal_dir.clone(),
        durable.clone(),
        stop.clone(),
        Default::default(),
    );
    let now = Utc::now();
    let mut events: Vec<Event> = (0..20).map(|i| failed_login(i, now)).collect();
    events.push(degraded(100, now));
    events.push(event(101, Kind::Heartbeat, "mbox1", "", now));
    c.commit(events, Originals::default()).await.unwrap();
    let raid = eventually("the alerts to fire", async || {
        let list = alerts.list(false).await.unwrap();
        let raid = list
            .iter()
            .find(|a| a.name == "RaidArrayDegraded")?
            .id
            .clone();
        list.iter()
            .any(|a| a.name == "AuthBruteForce")
            .then_some(raid)
    })
    .await;
    alerts
        .ack(
            raid.clone(),
            AckRequest {
                author: "me".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let checkpoint = c
        .commit_record(RecordKind::Checkpoint, b"{}".to_vec())
        .await
        .unwrap();
    let snap = eventually("a rules snapshot", async || {
        crate::wal::newest_of_kind(&wal_dir, RecordKind::RulesSnapshot, u64::MAX).unwrap()
    })
    .await;
    let decoded = Snapshot::from_record(&snap).unwrap();
    assert_eq!(decoded.lsn, checkpoint, "as of the checkpoint record");
    assert!(
        decoded
            .table
            .alerts
            .iter()
            .any(|a| a.record.key == raid && a.ack.is_some())
    );

    // After the snapshot: the user rule fires.
    let oom = (0..3)
        .map(|i| event(200 + i, Kind::Log, "mbox3", "OOM killer", now))
        .collect();
    c.commit(oom, Originals::default()).await.unwrap();
    let before = eventually("the user rule to fire", async || {
        let list = alerts.list(true).await.unwrap();
        list.iter().any(|a| a.name == "Oom").then_some(list)
    })
    .await;
    assert_eq!(before.len(), 3, "{before:?}");
    stop.cancel();
    task.await.unwrap();
    drop(alerts);

    // The next start restores that snapshot (the probe runs the start's first step) ...
    let start_lsn = *durable.borrow();
    let mut probe = Engine::new(settings(), c.clone(), wal_dir.clone(), Default::default());
    assert_eq!(probe.restore_snapshot(start_lsn).await, Some(checkpoint));
    assert_eq!(probe.restored_alert_state_lsn, decoded.alert_state_lsn);
    assert!(
        probe.table.alerts.values().all(|a| a.record.name != "Oom"),
        "not yet"
    );

    // ... and, replaying what followed, has the same alerts as before.
    let stop = CancellationToken::new();
    let (alerts, task) = start(
        settings(),
        c.clone(),
        wal_dir.clone(),
        durable.clone(),
        stop.clone(),
        Default::default(),
    );
    let after = alerts.list(true).await.unwrap();
    assert_eq!(summary(&after), summary(&before));
    assert!(summary(&after).contains(&(raid, "RaidArrayDegraded".into(), "firing", true)));
    stop.cancel();
    task.await.unwrap();
}

/// A cluster's leader sends a notification only once the change that fired the alert is in the
/// shared store. Sent while the store refused it (its stream electing a leader after a NATS
/// node died), the page was sent again by the next leader, which took the state over without
/// it: two pages for one incident in tests/cluster_load.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_leader_pages_only_once_the_shared_store_holds_the_alert() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = committer(&dir.path().join("wal"));
    let pages = dir.path().join("pages");
    let mut s = settings();
    s.receivers = vec![crate::notify::Receiver {
        name: "cmd".into(),
        kind: crate::notify::ReceiverKind::Command {
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!("cat > /dev/null; echo page >> {}", pages.display()),
            ],
            timeout: std::time::Duration::from_secs(10),
        },
        severities: Vec::new(),
        matchers: Vec::new(),
        send_resolved: true,
    }];
    // The shared store: refuses every write until told otherwise.
    let refuse = Arc::new(AtomicBool::new(true));
    let (writes, mut writes_rx) = mpsc::channel::<StateWrite>(16);
    let refusing = refuse.clone();
    tokio::spawn(async move {
        while let Some(w) = writes_rx.recv().await {
            let answer = if refusing.load(Ordering::SeqCst) {
                Err("storing the alert state failed: no stream found for given subject".into())
            } else {
                Ok(())
            };
            let _ = w.done.send(answer);
        }
    });
    let (events_tx, events) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let (_handle, engine) = start_shared(
        s,
        c,
        Shared {
            start: SharedStart::default(),
            events,
            writes,
            snapshot_every: std::time::Duration::from_secs(3600),
            leading: Arc::new(|| true),
        },
        shutdown.clone(),
        Default::default(),
    );
    let now = Utc::now();
    let batch = |events: Vec<Event>, last_seq| FeedBatch {
        events,
        last_seq,
        replay: false,
    };
    events_tx.send(batch(Vec::new(), 0)).await.unwrap();
    let oom: Vec<Event> = (1..=3)
        .map(|i| event(i, Kind::Log, "mbox3", "OOM killer", now))
        .collect();
    events_tx.send(batch(oom, 3)).await.unwrap();
    let paged = || std::fs::read_to_string(&pages).map_or(0, |t| t.lines().count());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(paged(), 0, "paged while the shared store lacked the alert");
    refuse.store(false, Ordering::SeqCst);
    let mut waited = 0;
    while paged() == 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(paged(), 1, "the page once the store holds the alert");
    shutdown.cancel();
    let _ = engine.await;
}
