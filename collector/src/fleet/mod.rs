//! The fleet view: for every host, when it was last heard from and the newest health record of
//! each check and subject (array, disk, virtual drive, mount, backup pair). It answers
//! `GET /api/v1/fleet` and `logwarden fleet`.
//!
//! Like the index, it is a view of the WAL: a thread follows the log up to the durable LSN and
//! applies each event. It is saved every few seconds to `fleet.json` in the data directory
//! (`{"version": 1, "lsn": N, "hosts": {...}}`, temp file, fsync, rename), and at start it loads
//! that snapshot and replays the WAL after `lsn`; a snapshot of another version, or unreadable,
//! is dropped and the view rebuilt from the whole WAL.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logwarden_core::wire::{FleetResponse, HostHealth};
use logwarden_core::{Event, Kind};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub mod forget;

use crate::wal::{Read, Recent, RecordKind, WalReader};

const VERSION: u32 = 1;
const SAVE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Host {
    site: String,
    last_seen: Option<DateTime<Utc>>,
    /// `check` -> subject -> newest record.
    checks: BTreeMap<String, BTreeMap<String, Event>>,
}

/// The state and the WAL position it reflects.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Fleet {
    version: u32,
    lsn: u64,
    hosts: BTreeMap<String, Host>,
}

impl Fleet {
    /// Loads the snapshot in `path`, or starts empty.
    pub fn load(path: &Path) -> Fleet {
        let empty = Fleet {
            version: VERSION,
            ..Fleet::default()
        };
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Fleet>(&bytes) {
                Ok(f) if f.version == VERSION => f,
                Ok(f) => {
                    tracing::warn!(path = %path.display(), version = f.version, "fleet snapshot of another version; rebuilding from the WAL");
                    empty
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "fleet snapshot unreadable; rebuilding from the WAL");
                    empty
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "fleet snapshot unreadable; rebuilding from the WAL");
                empty
            }
        }
    }

    /// Takes one event into the view.
    pub fn apply(&mut self, event: &Event) {
        self.seen(&Seen::from(event));
        if event.kind == Kind::Health {
            self.health(event.clone());
        }
    }

    /// Notes that an event's host was heard from.
    fn seen(&mut self, event: &Seen<'_>) {
        let host = match self.hosts.get_mut(event.host.as_ref()) {
            Some(h) => h,
            None => self
                .hosts
                .entry(event.host.clone().into_owned())
                .or_default(),
        };
        if host.site != event.site {
            host.site = event.site.clone().into_owned();
        }
        let seen = event.received.unwrap_or(event.ts);
        if host.last_seen.is_none_or(|t| seen > t) {
            host.last_seen = Some(seen);
        }
    }

    /// Keeps a health record if it is the newest of its check and subject.
    fn health(&mut self, event: Event) {
        let Some(host) = self.hosts.get_mut(event.host.as_str()) else {
            return;
        };
        let Some(check) = event.fields.get("check").and_then(|c| c.as_str()) else {
            return;
        };
        let check = check.to_owned();
        let subject = logwarden_core::health::subject(&event.fields);
        let slot = host.checks.entry(check).or_default();
        match slot.get(&subject) {
            Some(old) if old.ts > event.ts => {} // an older record arriving late
            _ => {
                slot.insert(subject, event);
            }
        }
    }

    pub fn response(&self) -> FleetResponse {
        let hosts = self
            .hosts
            .iter()
            .filter_map(|(name, h)| {
                Some(HostHealth {
                    host: name.clone(),
                    site: h.site.clone(),
                    last_seen: h.last_seen?,
                    checks: h
                        .checks
                        .values()
                        .flat_map(|m| m.values().cloned())
                        .collect(),
                })
            })
            .collect();
        FleetResponse {
            hosts,
            ..FleetResponse::default()
        }
    }

    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// Whether the view holds `host` (as written).
    pub fn has_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    /// The hosts the view holds, sorted.
    pub fn host_names(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    /// Drops a host until it reports again (`logwarden fleet forget`).
    pub fn forget(&mut self, host: &str) -> bool {
        self.hosts.remove(host).is_some()
    }
}

/// What the view needs of every event. Most events are log lines, of which it keeps only when
/// their host was last heard from: reading just these keys (borrowed from the WAL line) instead
/// of the whole event made the fleet thread several times cheaper under log load.
#[derive(Debug, Deserialize)]
struct Seen<'a> {
    #[serde(borrow)]
    host: Cow<'a, str>,
    #[serde(borrow, default)]
    site: Cow<'a, str>,
    #[serde(deserialize_with = "logwarden_core::timestamp::deserialize")]
    ts: DateTime<Utc>,
    #[serde(
        default,
        deserialize_with = "logwarden_core::timestamp::deserialize_opt"
    )]
    received: Option<DateTime<Utc>>,
    #[serde(default)]
    kind: Kind,
}

impl<'a> From<&'a Event> for Seen<'a> {
    fn from(e: &'a Event) -> Seen<'a> {
        Seen {
            host: e.host.as_str().into(),
            site: e.site.as_str().into(),
            ts: e.ts,
            received: e.received,
            kind: e.kind,
        }
    }
}

/// Shared with the API; written only by the follower thread.
pub type SharedFleet = Arc<RwLock<Fleet>>;

/// Starts the thread that keeps `fleet` up to date from the WAL in `wal_dir` and saves it to
/// `path`. It stops, after a last save, when `shutdown` fires. `saved` is kept at the LSN the
/// saved snapshot reflects: WAL retention keeps the records after it.
pub fn start(
    fleet: SharedFleet,
    path: PathBuf,
    wal_dir: PathBuf,
    mut durable: watch::Receiver<u64>,
    recent: Arc<Recent>,
    saved: Arc<std::sync::atomic::AtomicU64>,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    use std::sync::atomic::Ordering::Relaxed;
    let from = fleet.read().map(|f| f.lsn + 1).unwrap_or(1);
    let mut reader = WalReader::new(wal_dir, from);
    let rt = tokio::runtime::Handle::current();
    let mut saved_lsn = fleet.read().map(|f| f.lsn).unwrap_or(0);
    saved.store(saved_lsn, Relaxed);
    std::thread::Builder::new().name("fleet".into()).spawn(move || {
        let mut last_save = Instant::now();
        loop {
            let upto = *durable.borrow_and_update();
            if let Err(e) = follow(&fleet, &mut reader, upto, &recent) {
                tracing::error!(error = %e, "fleet view cannot read the WAL; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
            let stopping = shutdown.is_cancelled();
            let lsn = fleet.read().map(|f| f.lsn).unwrap_or(0);
            if lsn > saved_lsn && (stopping || last_save.elapsed() >= SAVE_EVERY) {
                match save(&fleet, &path) {
                    Ok(()) => {
                        saved_lsn = lsn;
                        saved.store(lsn, Relaxed);
                    }
                    Err(e) => tracing::error!(path = %path.display(), error = %e, "saving the fleet view failed"),
                }
                last_save = Instant::now();
            }
            if stopping {
                break;
            }
            crate::wal::wait_for_durable(&rt, &mut durable, &shutdown, SAVE_EVERY);
        }
    })
}

fn follow(
    fleet: &SharedFleet,
    reader: &mut WalReader,
    upto: u64,
    recent: &Recent,
) -> Result<(), crate::wal::WalError> {
    // Events the committer still holds are taken as it had them: their payload is not read.
    while let Some(read) = reader.next_unless_known(upto, |head| recent.events_for(head))? {
        let mut f = fleet.write().unwrap_or_else(|p| p.into_inner());
        let rec = match read {
            Read::Known(head, events) => {
                events.iter().for_each(|e| f.apply(e));
                f.lsn = head.lsn;
                continue;
            }
            Read::Record(rec) => rec,
        };
        if rec.kind == RecordKind::HostForgotten {
            match forget::Forget::decode(&rec.payload) {
                Ok(forget) => {
                    f.forget(&forget.host);
                }
                Err(e) => tracing::error!(lsn = rec.lsn, error = %e, "forget record skipped"),
            }
        }
        if rec.kind == RecordKind::Events {
            for line in crate::wal::event_lines(&rec.payload) {
                let seen = match serde_json::from_slice::<Seen>(line) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL");
                        continue;
                    }
                };
                f.seen(&seen);
                if seen.kind == Kind::Health {
                    match serde_json::from_slice::<Event>(line) {
                        Ok(e) => f.health(e),
                        Err(e) => {
                            tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL")
                        }
                    }
                }
            }
        }
        f.lsn = rec.lsn;
    }
    Ok(())
}

fn save(fleet: &SharedFleet, path: &Path) -> std::io::Result<()> {
    let bytes = {
        let f = fleet.read().unwrap_or_else(|p| p.into_inner());
        serde_json::to_vec(&*f).map_err(std::io::Error::other)?
    };
    logwarden_core::durable::save_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;

    fn health(seq: u64, host: &str, ts: &str, array: &str, state: &str) -> Event {
        let ts = DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::log(
            EventId::new("a", seq),
            ts,
            host,
            "phx",
            "health",
            format!("{array} {state}"),
        );
        e.kind = Kind::Health;
        e.fields.insert("check".into(), "raid".into());
        e.fields.insert("array".into(), array.into());
        e.fields.insert("state".into(), state.into());
        e
    }

    #[test]
    fn the_newest_record_per_host_check_and_subject_wins_and_late_old_ones_do_not() {
        let mut f = Fleet::default();
        f.apply(&health(1, "mbox3", "2026-11-29T10:00:00Z", "md0", "clean"));
        f.apply(&health(2, "mbox3", "2026-11-29T10:00:00Z", "md1", "clean"));
        f.apply(&health(
            3,
            "mbox3",
            "2026-11-29T10:05:00Z",
            "md0",
            "degraded",
        ));
        f.apply(&health(4, "mbox3", "2026-11-29T10:01:00Z", "md0", "clean")); // late and old
        f.apply(&health(5, "mta1", "2026-11-29T10:02:00Z", "md0", "clean"));
        let r = f.response();
        assert_eq!(r.hosts.len(), 2);
        let mbox3 = &r.hosts[0];
        assert_eq!(mbox3.host, "mbox3");
        let states: Vec<(String, String)> = mbox3
            .checks
            .iter()
            .map(|e| {
                (
                    e.fields["array"].as_str().unwrap().into(),
                    e.fields["state"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            states,
            vec![
                ("md0".into(), "degraded".into()),
                ("md1".into(), "clean".into())
            ]
        );
    }

    #[test]
    fn a_snapshot_of_another_version_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        std::fs::write(&path, r#"{"version": 99, "lsn": 5, "hosts": {}}"#).unwrap();
        assert_eq!(Fleet::load(&path).lsn(), 0);
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(Fleet::load(&path).lsn(), 0);
    }

    #[test]
    fn a_forgotten_host_leaves_the_view_and_comes_back_with_its_next_event() {
        let mut f = Fleet::default();
        f.apply(&health(
            1,
            "mbox3",
            "2026-11-29T10:00:00Z",
            "md0",
            "degraded",
        ));
        f.apply(&health(2, "mta1", "2026-11-29T10:00:00Z", "md0", "clean"));
        assert!(f.forget("mbox3"));
        assert!(!f.forget("mbox3"));
        let hosts: Vec<String> = f.response().hosts.into_iter().map(|h| h.host).collect();
        assert_eq!(hosts, vec!["mta1".to_owned()]);
        // Back as new: nothing of what it said before the forget.
        f.apply(&health(3, "mbox3", "2026-11-29T10:05:00Z", "md1", "clean"));
        let r = f.response();
        let mbox3 = r.hosts.iter().find(|h| h.host == "mbox3").unwrap();
        assert_eq!(mbox3.checks.len(), 1);
        assert_eq!(mbox3.checks[0].fields["array"], "md1");
    }
}
