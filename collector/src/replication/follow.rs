//! The standby's side of replication: a task that pulls the primary's records and writes them
//! through the committer with their LSNs, for as long as this collector is a standby.
//!
//! A copy this collector cannot write (its disk full) is retried with backoff up to
//! [`LOCAL_RETRY_MAX`], from its own durable LSN: the committer kept nothing of it
//! (`wal/commit`), so the same records come again and the standby catches up on its own once
//! there is room. Meanwhile status says `write_failing` with the error, and
//! `logwarden_replication_standby_write_failing` is 1.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{DURABLE_HEADER, EPOCH_HEADER, Next, Replication, STANDBY_HEADER};
use crate::wal::{Committer, decode_stream};

/// How long the primary may hold one request open when it has nothing new.
const POLL_WAIT: Duration = Duration::from_secs(1);
/// Pause after a failed request before the next.
const RETRY: Duration = Duration::from_millis(200);
/// The longest pause between two tries to write a copy here (doubling from [`RETRY`]).
const LOCAL_RETRY_MAX: Duration = Duration::from_secs(5);

pub const WAL_STREAM_PATH: &str = "/api/v1/replication/wal";

/// Runs until `repl.restart` fires.
pub async fn run(repl: Arc<Replication>, committer: Committer, durable: watch::Receiver<u64>) {
    let Some(peer) = repl.settings.peer.clone() else {
        tracing::error!("standby without a peer ([replication] peer): nothing to copy from");
        return;
    };
    let http = reqwest::Client::builder()
        .timeout(POLL_WAIT + Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let url = match peer.join(WAL_STREAM_PATH) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(peer = %peer, error = %e, "peer URL cannot be joined with the replication path");
            return;
        }
    };
    let mut failures = 0u32;
    let mut local = LocalFailures::default();
    loop {
        let from = *durable.borrow() + 1;
        let step = pull_once(&repl, &http, &url, &committer, from);
        let result = tokio::select! {
            r = step => r,
            _ = repl.restart.cancelled() => return,
        };
        if result.is_ok() {
            local.over(&repl);
        }
        match result {
            Ok(()) => failures = 0,
            Err(Pull::Local(why)) => {
                let pause = local.failed(&repl, why);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = repl.restart.cancelled() => return,
                }
            }
            Err(Pull::Diverged(why)) => {
                tracing::error!(
                    reason = why,
                    "this collector's log diverged from the primary's: moving it aside and copying afresh"
                );
                repl.end_round(Next::Rebuild);
                return;
            }
            Err(Pull::Trimmed(why)) => {
                tracing::error!(
                    reason = why,
                    "the primary no longer holds the records this standby needs next: copying its WAL afresh"
                );
                repl.end_round(Next::Reseed);
                return;
            }
            Err(Pull::Failed(why)) => {
                failures += 1;
                // One line per outage, not one per retry.
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::warn!(peer = %peer, reason = why, failures, "cannot copy from the primary; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = repl.restart.cancelled() => return,
                }
            }
        }
    }
}

enum Pull {
    Diverged(String),
    /// 410: WAL retention on the primary deleted what comes next here.
    Trimmed(String),
    Failed(String),
    /// The primary answered, but this collector could not write the records (its disk).
    Local(String),
}

/// Copies this collector failed to write in a row, and since when.
#[derive(Default)]
struct LocalFailures {
    count: u32,
    since: Option<std::time::Instant>,
}

impl LocalFailures {
    /// One more failed write: logged (the first, then every 50th), shown in status; returns the
    /// pause before the next try.
    fn failed(&mut self, repl: &Replication, why: String) -> Duration {
        self.count += 1;
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if self.count == 1 || self.count.is_multiple_of(50) {
            tracing::error!(
                error = why,
                tries = self.count,
                stuck_for = ?since.elapsed(),
                "cannot write the records copied from the primary here (disk full?); copying them again every {LOCAL_RETRY_MAX:?} at most until there is room, no restart needed"
            );
        }
        repl.set_write_failure(Some(why));
        (RETRY * 2u32.saturating_pow(self.count.min(8))).min(LOCAL_RETRY_MAX)
    }

    /// The last copy was written: over, if it was failing.
    fn over(&mut self, repl: &Replication) {
        if let Some(since) = self.since.take() {
            tracing::info!(tries = self.count, stuck_for = ?since.elapsed(), "writing the records copied from the primary again");
            repl.set_write_failure(None);
        }
        self.count = 0;
    }
}

async fn pull_once(
    repl: &Replication,
    http: &reqwest::Client,
    url: &reqwest::Url,
    committer: &Committer,
    from: u64,
) -> Result<(), Pull> {
    let mut req = http
        .post(url.clone())
        .header(STANDBY_HEADER, repl.site.as_str())
        .query(&[
            ("from", from),
            ("epoch", repl.epoch()),
            ("log_epoch", repl.log_epoch()),
            ("wait_ms", POLL_WAIT.as_millis() as u64),
        ]);
    if let Some(t) = &repl.settings.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| Pull::Failed(e.to_string()))?;
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let epoch = header(EPOCH_HEADER);
    let primary_durable = header(DURABLE_HEADER);
    let body = resp
        .bytes()
        .await
        .map_err(|e| Pull::Failed(e.to_string()))?;
    if status == reqwest::StatusCode::CONFLICT {
        return Err(Pull::Diverged(String::from_utf8_lossy(&body).into_owned()));
    }
    if status == reqwest::StatusCode::GONE {
        return Err(Pull::Trimmed(String::from_utf8_lossy(&body).into_owned()));
    }
    if !status.is_success() {
        return Err(Pull::Failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    if let Some(e) = epoch
        && e > repl.epoch()
        && let Err(err) = repl.step_down(e)
    {
        tracing::error!(error = %err, "cannot save the primary's epoch");
    }
    let records = decode_stream(&body)
        .map_err(|at| Pull::Failed(format!("damaged record at byte {at} of the answer")))?;
    if let Some(first) = records.first()
        && first.lsn < from
    {
        return Err(Pull::Failed(format!(
            "the primary sent LSN {} when {from} was asked for",
            first.lsn
        )));
    }
    // The primary answered: heard from, whatever becomes of the records here (a standby that
    // cannot write is not one that lost its primary).
    repl.primary_heard(primary_durable.unwrap_or(0));
    if !records.is_empty() {
        committer
            .commit_replicated(records)
            .await
            .map_err(|e| Pull::Local(e.to_string()))?;
    }
    Ok(())
}
