//! The long-running health probes of `logwarden-agent run`: two threads that send health
//! records into the pipeline's item channel.
//!
//! ```text
//! health-md thread:   read /proc/mdstat -> poll(POLLPRI, mdstat_reread_ms) -> read again ...
//!                     sends an array's record as soon as its condition changes, arrays with a
//!                     sync running every progress_interval, every array every
//!                     report_interval
//! health-slow thread: SMART every smart_interval, storcli every storcli_interval, file
//!                     systems and backups every report_interval (all at start)
//! ```
//!
//! Why poll() and a re-read: the kernel wakes a poll() on `/proc/mdstat` with POLLPRI|POLLERR
//! when md's event counter changes (a disk fails, a spare is added, a sync starts or ends), and
//! a read re-arms it. That makes a failure visible in well under a second, where mdadm
//! --monitor polls every 60 s. The poll also times out every `mdstat_reread_ms`, and the file
//! is read again then: it bounds the delay where no wake-up comes (a regular file given as
//! `mdstat`, an event the kernel does not signal) and costs a few microseconds.
//!
//! SMART and storcli run on their own thread because a smartctl run can take seconds (a disk
//! spinning up, a sick drive retrying) and must never delay an array's record.
//!
//! # Wiring (for `pipeline::run`)
//!
//! ```ignore
//! let probes = if settings.health.enabled {
//!     Some(health::spawn_probes(&settings.health, item_tx.clone(), stop_reading.clone())?)
//! } else { None };
//! // ... on shutdown, after stop_reading.cancel():
//! if let Some(p) = probes { tokio::task::spawn_blocking(move || p.join()).await.ok(); }
//! ```
//! The threads hold clones of `item_tx`, so the item channel closes (and the batcher ends) only
//! once they have stopped: they notice `cancel` within `mdstat_reread_ms` (md) or 200 ms (the
//! rest, between two probes), and never block on a full channel for longer than that.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{PollFd, PollFlags, Timespec};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use logwarden_core::{Kind, Severity};

use super::probe;
use super::raid::RaidStatus;
use super::settings::HealthConfig;
use super::smart::SmartHistory;
use super::{filesystem, storcli};
use crate::draft::Draft;
use crate::observe::metrics::AgentMetrics;
use crate::source::Item;

/// The running probe threads.
#[derive(Debug)]
pub struct Probes {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Probes {
    /// Waits for the threads to stop (after `cancel`, or once the channel is closed).
    pub fn join(self) {
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!("a health probe thread panicked");
            }
        }
    }
}

/// Starts the probes. Records go to `tx` as `Item { draft, origin: None }`; the threads stop
/// when `cancel` fires or when the channel closes. See the module doc for the wiring.
pub fn spawn_probes(
    config: &HealthConfig,
    tx: mpsc::Sender<Item>,
    cancel: CancellationToken,
) -> std::io::Result<Probes> {
    spawn_counted_probes(config, tx, cancel, Arc::default())
}

/// [`spawn_probes`], counting failed probe runs into `metrics`.
pub fn spawn_counted_probes(
    config: &HealthConfig,
    tx: mpsc::Sender<Item>,
    cancel: CancellationToken,
    metrics: Arc<AgentMetrics>,
) -> std::io::Result<Probes> {
    let mut threads = Vec::new();
    let (cfg, tx2, cancel2, metrics2) =
        (config.clone(), tx.clone(), cancel.clone(), metrics.clone());
    threads.push(
        std::thread::Builder::new()
            .name("health-md".into())
            .spawn(move || {
                watch_mdstat(
                    &cfg,
                    &Sink {
                        tx: tx2,
                        cancel: cancel2,
                        metrics: metrics2,
                    },
                )
            })?,
    );
    super::redfish_poller::spawn(config, &tx, &cancel, &metrics)?;
    let cfg = config.clone();
    threads.push(
        std::thread::Builder::new()
            .name("health-slow".into())
            .spawn(move || {
                slow_probes(
                    &cfg,
                    &Sink {
                        tx,
                        cancel,
                        metrics,
                    },
                )
            })?,
    );
    Ok(Probes { threads })
}

/// Where records go, and when to stop.
struct Sink {
    /// Into the pipeline; closed by the pipeline when it stops reading.
    tx: mpsc::Sender<Item>,
    cancel: CancellationToken,
    /// Counts probe runs that failed.
    metrics: Arc<AgentMetrics>,
}

impl Sink {
    fn failed(&self) {
        self.metrics
            .probe_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sends one record, waiting while the channel is full; `false` when it is time to stop
    /// (cancelled, or the pipeline is gone).
    fn send(&self, draft: Draft) -> bool {
        send_waiting(&self.tx, &self.cancel, draft)
    }

    fn stopped(&self) -> bool {
        self.cancel.is_cancelled() || self.tx.is_closed()
    }

    /// Sleeps up to `d`, waking early to stop.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(200)));
        }
        !self.stopped()
    }
}

/// Sends one record from a probe thread, waiting while the channel is full (a thread may
/// block, the pipeline's tasks may not); `false` when it is time to stop (cancelled, or the
/// pipeline is gone).
pub(super) fn send_waiting(
    tx: &mpsc::Sender<Item>,
    cancel: &CancellationToken,
    draft: Draft,
) -> bool {
    let mut item = Item {
        draft,
        origin: None,
    };
    loop {
        match tx.try_send(item) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if cancel.is_cancelled() {
                    return false;
                }
                item = back;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The record sent when an array vanishes from mdstat (stopped with `mdadm --stop`, or gone).
fn gone_draft(name: &str) -> Draft {
    let mut fields = logwarden_core::Fields::new();
    fields.insert("check".into(), "raid".into());
    fields.insert("array".into(), name.into());
    fields.insert("state".into(), "inactive".into());
    fields.insert("gone".into(), true.into());
    Draft {
        ts: None,
        host: None,
        source: "health".into(),
        app: "raid".into(),
        severity: Severity::Warning,
        kind: Kind::Health,
        message: format!("{name} is no longer in /proc/mdstat (stopped or removed)"),
        fields,
    }
}

/// What the md watcher remembers between two reads.
#[derive(Default)]
struct MdState {
    /// The last record sent per array.
    sent: BTreeMap<String, RaidStatus>,
    last_progress: Option<Instant>,
    last_report: Option<Instant>,
    /// The last error logged, so that a lasting problem is logged once.
    last_error: Option<String>,
}

impl MdState {
    /// Compares a fresh reading with what was sent and returns what to send now.
    fn changes(&mut self, now: Instant, arrays: Vec<RaidStatus>, cfg: &HealthConfig) -> Vec<Draft> {
        let report_due = self
            .last_report
            .is_none_or(|t| now - t >= cfg.report_interval);
        let progress_due = self
            .last_progress
            .is_none_or(|t| now - t >= cfg.progress_interval);
        let mut out = Vec::new();
        let names: HashSet<String> = arrays.iter().map(|a| a.array.clone()).collect();
        for gone in self
            .sent
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect::<Vec<_>>()
        {
            self.sent.remove(&gone);
            out.push(gone_draft(&gone));
        }
        for a in arrays {
            let changed = self
                .sent
                .get(&a.array)
                .is_none_or(|s| !s.same_condition(&a));
            let syncing = a.sync_action != "idle";
            if changed || report_due || (progress_due && syncing) {
                out.push(a.to_draft());
            }
            self.sent.insert(a.array.clone(), a);
        }
        if report_due {
            self.last_report = Some(now);
        }
        if progress_due {
            self.last_progress = Some(now);
        }
        out
    }
}

/// The health-md thread: see the module doc.
fn watch_mdstat(cfg: &HealthConfig, sink: &Sink) {
    let reread = Duration::from_millis(cfg.mdstat_reread_ms.max(10));
    let mut state = MdState::default();
    let mut missing_logged = false;
    while !sink.stopped() {
        let mut file = match std::fs::File::open(&cfg.mdstat) {
            Ok(f) => f,
            Err(e) => {
                if !missing_logged {
                    tracing::info!(path = %cfg.mdstat.display(), error = %e,
                        "no md RAID on this machine; looking again every 10 s");
                    missing_logged = true;
                }
                // md may be loaded later (modprobe, first array assembled).
                if !sink.sleep(Duration::from_secs(10)) {
                    return;
                }
                continue;
            }
        };
        missing_logged = false;
        if !watch_open_file(cfg, sink, &mut file, &mut state, reread) {
            return;
        }
    }
}

/// Reads, sends and polls one open mdstat until it fails to read (then the caller reopens) or
/// it is time to stop (`false`).
fn watch_open_file(
    cfg: &HealthConfig,
    sink: &Sink,
    file: &mut std::fs::File,
    state: &mut MdState,
    reread: Duration,
) -> bool {
    let mut text = String::new();
    loop {
        if sink.stopped() {
            return false;
        }
        text.clear();
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text));
        if let Err(e) = read {
            tracing::warn!(path = %cfg.mdstat.display(), error = %e, "reading mdstat failed; reopening");
            sink.failed();
            return sink.sleep(Duration::from_secs(1));
        }
        match probe::raid_from_text(&text, &cfg.mdstat, &cfg.sys_block) {
            Ok(arrays) => {
                state.last_error = None;
                for d in state.changes(Instant::now(), arrays, cfg) {
                    if !sink.send(d) {
                        return false;
                    }
                }
            }
            Err(e) => {
                sink.failed();
                let msg = e.to_string();
                if state.last_error.as_deref() != Some(&msg) {
                    tracing::warn!(error = %msg, "mdstat not readable");
                    state.last_error = Some(msg);
                }
            }
        }
        wait_for_md_event(file, reread);
        if replaced(file, &cfg.mdstat) {
            // A file given as `mdstat` that was replaced by a rename: read the new one.
            tracing::info!(path = %cfg.mdstat.display(), "mdstat was replaced; reopening");
            return true;
        }
    }
}

/// Whether `path` now names another file than the open `file` (replaced by a rename). A path
/// that does not exist for a moment is not a replacement: the open file is read on.
fn replaced(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(now)) => (open.dev(), open.ino()) != (now.dev(), now.ino()),
        _ => false,
    }
}

/// poll() for POLLPRI (md's "something changed"), up to `timeout`.
fn wait_for_md_event(file: &std::fs::File, timeout: Duration) {
    let ts = Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let mut fds = [PollFd::new(file, PollFlags::PRI)];
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => {}
        Err(e) => {
            // Not pollable: fall back to the timer alone.
            tracing::debug!(error = %e, "poll on mdstat failed");
            std::thread::sleep(timeout);
        }
    }
}

/// The health-slow thread: SMART, hardware RAID, file systems and backups on their timers.
fn slow_probes(cfg: &HealthConfig, sink: &Sink) {
    let mut history = SmartHistory::default();
    let mut next_smart = Instant::now();
    let mut next_storcli = Instant::now();
    let mut next_report = Instant::now();
    let mut smart_off = !cfg.smart;
    // Lines said once: a machine without smartctl should not log it every half hour.
    let mut said: HashSet<String> = HashSet::new();
    let mut note = |line: String| {
        if said.insert(line.clone()) {
            tracing::info!("{line}");
        }
    };
    loop {
        let now = Instant::now();
        if !smart_off && now >= next_smart {
            let run = probe::smart_devices(cfg, &mut history);
            for n in run.notes {
                if n.contains("not installed") {
                    smart_off = true;
                }
                note(n);
            }
            for e in run.errors {
                tracing::warn!(error = %e, "smart probe");
                sink.failed();
            }
            for r in run.reports {
                if !sink.send(r.to_draft()) {
                    return;
                }
            }
            next_smart = Instant::now() + cfg.smart_interval;
        }
        if let Some(program) = &cfg.storcli
            && now >= next_storcli
        {
            match probe::storcli_command(program) {
                Ok(vds) => {
                    for d in vds.iter().map(storcli::VirtualDriveStatus::to_draft) {
                        if !sink.send(d) {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "hardware RAID probe");
                    sink.failed();
                }
            }
            next_storcli = Instant::now() + cfg.storcli_interval;
        }
        if now >= next_report {
            for d in report(cfg, &mut note) {
                if !sink.send(d) {
                    return;
                }
            }
            next_report = Instant::now() + cfg.report_interval;
        }
        let mut next = next_report;
        if !smart_off {
            next = next.min(next_smart);
        }
        if cfg.storcli.is_some() {
            next = next.min(next_storcli);
        }
        if !sink.sleep(next.saturating_duration_since(Instant::now())) {
            return;
        }
    }
}

/// File systems and backups, once.
fn report(cfg: &HealthConfig, note: &mut impl FnMut(String)) -> Vec<Draft> {
    let mounts = match probe::mounts(&cfg.mountinfo) {
        Ok(m) => m,
        Err(e) => {
            note(format!("filesystem/backup: skipped, {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    if cfg.filesystems {
        let (fs, errors) = probe::filesystems(&mounts, &cfg.fs_policy());
        out.extend(fs.iter().map(filesystem::FsStatus::to_draft));
        for e in errors {
            note(format!("filesystem: {e}"));
        }
    }
    let pairs = cfg.backup_pairs();
    if pairs.is_empty() {
        note(format!(
            "backup: no backup folders configured and no {}; nothing to check",
            cfg.zimbra_root.display()
        ));
    }
    let (statuses, errors) = probe::backups(
        &pairs,
        &mounts,
        &cfg.sys_block,
        &probe::fstab_points(&cfg.fstab),
        cfg.backup_stale_after,
        SystemTime::now(),
    );
    out.extend(statuses.iter().map(super::backup::BackupStatus::to_draft));
    for e in errors {
        note(format!("backup: {e}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::mdstat;

    const CLEAN: &str = "Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      100 blocks [2/2] [UU]\n\nunused devices: <none>\n";
    const DEGRADED: &str = "Personalities : [raid1]\nmd0 : active raid1 sdb1[1](F) sda1[0]\n      100 blocks [2/1] [U_]\n\nunused devices: <none>\n";

    fn arrays(text: &str) -> Vec<RaidStatus> {
        mdstat::parse(text)
            .unwrap()
            .arrays
            .iter()
            .map(|a| crate::health::raid::assess(a, None))
            .collect()
    }

    #[test]
    fn only_changes_are_sent_between_full_reports() {
        let cfg = HealthConfig::default();
        let mut s = MdState::default();
        let t0 = Instant::now();
        assert_eq!(
            s.changes(t0, arrays(CLEAN), &cfg).len(),
            1,
            "first reading is a report"
        );
        assert!(
            s.changes(t0 + Duration::from_secs(1), arrays(CLEAN), &cfg)
                .is_empty()
        );
        let d = s.changes(t0 + Duration::from_secs(2), arrays(DEGRADED), &cfg);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].fields["state"], "degraded");
        assert!(
            s.changes(t0 + Duration::from_secs(3), arrays(DEGRADED), &cfg)
                .is_empty()
        );
        assert_eq!(
            s.changes(t0 + Duration::from_secs(301), arrays(DEGRADED), &cfg)
                .len(),
            1,
            "periodic report"
        );
        let gone = s.changes(
            t0 + Duration::from_secs(302),
            arrays("Personalities : [raid1]\nunused devices: <none>\n"),
            &cfg,
        );
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].fields["gone"], true);
    }

    #[test]
    fn a_changed_mdstat_file_is_sent_within_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mdstat");
        std::fs::write(&path, CLEAN).unwrap();
        let cfg = HealthConfig {
            mdstat: path.clone(),
            sys_block: dir.path().join("none"),
            mountinfo: dir.path().join("none"),
            smart: false,
            backups: vec![],
            zimbra_root: dir.path().join("none"),
            ..HealthConfig::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(16);
            let cancel = CancellationToken::new();
            let probes = spawn_probes(&cfg, tx, cancel.clone()).unwrap();
            let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(first.draft.fields["state"], "clean");
            std::fs::write(&path, DEGRADED).unwrap();
            let start = Instant::now();
            let next = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("no record within 2 s")
                .unwrap();
            let took = start.elapsed();
            eprintln!("degraded record {took:?} after the write");
            assert_eq!(next.draft.fields["state"], "degraded");
            assert!(took < Duration::from_secs(1), "took {took:?}");
            assert!(next.origin.is_none());

            // Replaced by a rename (a new inode): the new file is read, not the old one.
            let tmp = dir.path().join("mdstat.new");
            std::fs::write(&tmp, CLEAN).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            let next = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .expect("the renamed-in mdstat was not read within 3 s")
                .unwrap();
            assert_eq!(next.draft.fields["state"], "clean");
            cancel.cancel();
            tokio::task::spawn_blocking(move || probes.join())
                .await
                .unwrap();
        });
    }
}
