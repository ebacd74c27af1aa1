//! The syslog TCP connections open at once (`[syslog] max_connections`) and when each last
//! sent something. Per-address caps (`per_client`) keep one host from taking every slot, but
//! idle connections from many addresses could still fill the table and lock real senders out
//! for `idle_timeout` (issue 26). So when the table is full, a new connection takes the slot of
//! the one idle the longest (counted in `logwarden_syslog_connections_evicted_total`, warned at
//! most once a minute); connections that sent within [`MIN_IDLE`] are never evicted, and a new
//! one waits for a slot as before when every connection is that busy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A connection that sent something more recently than this is never evicted.
pub const MIN_IDLE: Duration = Duration::from_secs(1);
/// At most one eviction warning this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The open connections, by a number of their own.
#[derive(Clone)]
pub struct ConnTable(Arc<Inner>);

struct Inner {
    /// What `last` counts milliseconds from.
    start: Instant,
    conns: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    /// When the last warning was logged, and the evictions since.
    warned: Mutex<(Option<Instant>, u64)>,
}

struct Slot {
    /// Milliseconds after `Inner::start` when it last sent something (or opened).
    last: AtomicU64,
    /// Cancelled to evict it (a child of the listener's shutdown token).
    evict: CancellationToken,
}

/// One connection in the table, until dropped. It ends when `ended` fires: eviction or
/// shutdown.
pub struct Entry {
    table: ConnTable,
    id: u64,
    slot: Arc<Slot>,
}

impl ConnTable {
    pub fn new() -> ConnTable {
        ConnTable(Arc::new(Inner {
            start: Instant::now(),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            warned: Mutex::new((None, 0)),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.0.start.elapsed().as_millis() as u64
    }

    /// Adds a connection; it also ends when `shutdown` fires.
    pub fn enter(&self, shutdown: &CancellationToken) -> Entry {
        let slot = Arc::new(Slot {
            last: AtomicU64::new(self.now_ms()),
            evict: shutdown.child_token(),
        });
        let id = self.0.next_id.fetch_add(1, Relaxed);
        lock(&self.0.conns).insert(id, slot.clone());
        Entry {
            table: self.clone(),
            id,
            slot,
        }
    }

    /// Ends the connection idle the longest, if one has been idle for at least `min_idle`;
    /// returns how long it had been idle. Its slot comes free once its task has stopped.
    pub fn evict_idlest(&self, min_idle: Duration) -> Option<Duration> {
        let now = self.now_ms();
        let conns = lock(&self.0.conns);
        let (_, slot) = conns
            .iter()
            .filter(|(_, s)| !s.evict.is_cancelled())
            .min_by_key(|(_, s)| s.last.load(Relaxed))?;
        let idle = Duration::from_millis(now.saturating_sub(slot.last.load(Relaxed)));
        if idle < min_idle {
            return None;
        }
        slot.evict.cancel();
        Some(idle)
    }

    /// Logs an eviction, at most once per [`WARN_EVERY`] with the count since the last line.
    pub fn warn_evicted(&self, idle: Duration, max_connections: usize) {
        let mut w = lock(&self.0.warned);
        w.1 += 1;
        if w.0.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            evicted = w.1,
            idle_s = idle.as_secs(),
            max_connections,
            "syslog TCP connections full ([syslog] max_connections): closed the one idle the longest to let a new sender in"
        );
        *w = (Some(Instant::now()), 0);
    }
}

impl Entry {
    /// The connection sent something.
    pub fn touch(&self) {
        self.slot.last.store(self.table.now_ms(), Relaxed);
    }

    /// Fires when the connection is evicted or the listener shuts down.
    pub fn ended(&self) -> &CancellationToken {
        &self.slot.evict
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.table.0.conns).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idlest_is_evicted_and_a_busy_one_never() {
        let shutdown = CancellationToken::new();
        let t = ConnTable::new();
        let old = t.enter(&shutdown);
        std::thread::sleep(Duration::from_millis(30));
        let young = t.enter(&shutdown);
        assert_eq!(
            t.evict_idlest(Duration::from_secs(60)),
            None,
            "none idle long enough"
        );
        assert!(t.evict_idlest(Duration::from_millis(20)).is_some());
        assert!(old.ended().is_cancelled() && !young.ended().is_cancelled());
        // An evicted connection still in the table is not chosen twice.
        std::thread::sleep(Duration::from_millis(30));
        young.touch();
        assert_eq!(
            t.evict_idlest(Duration::from_millis(20)),
            None,
            "young just sent"
        );
        drop(old);
        assert_eq!(lock(&t.0.conns).len(), 1);
        shutdown.cancel();
        assert!(
            young.ended().is_cancelled(),
            "shutdown ends every connection"
        );
    }
}
