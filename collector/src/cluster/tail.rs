//! The live tail of a cluster: `GET /api/v1/tail` asked of any collector in cluster mode opens
//! the tail of every partition owner (`GET /api/v1/cluster/tail?partitions=..`, each its own
//! tail over the partitions asked that it owns) and forwards their lines as one NDJSON stream,
//! in time order within [`ORDER_DELAY`]: each line is held that long, then sent with every
//! line held of an earlier time (by time, then event id), so that lines of different owners
//! that reach this collector within that delay of one another come out in time order. A line
//! that comes later than that after a newer one was sent is sent as it comes (the tail does
//! not wait for a straggler longer than the delay).
//!
//! It never lacks partitions silently: it is refused (503, naming them) when a partition has
//! no reachable owner at the start, and it ends (the client sees the stream end, as when a
//! collector stops) as soon as an owner's stream ends or the owner of any partition changes;
//! `logwarden search -f` can then be run again. It starts from now on every owner, as a single
//! collector's tail asked without `after` does: `after` is a position in one collector's WAL
//! and is not passed on (so the events that became searchable between `search -f`'s first page
//! and the tail's start are not shown; a single collector shows them).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use logwarden_core::wire::TailParams;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::fanout::{self, Owners};
use super::member::Member;
use super::owner::Asked;
use crate::api::error::ApiError;

pub const TAIL_PATH: &str = "/api/v1/cluster/tail";

/// How often the owners are read again to notice a partition that moved.
const RECHECK: Duration = Duration::from_secs(2);
/// How long a line is held to be put in time order with the other owners' lines.
pub const ORDER_DELAY: Duration = Duration::from_secs(2);
/// A blank line to the client when nothing came for this long.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The client of the streams: no overall timeout (a tail never ends by itself).
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Opens every owner's tail; the merged lines come out of the receiver, which closes when the
/// tail ends (an owner's stream ended, a partition moved, `stop` fired).
pub async fn open(
    member: std::sync::Arc<Member>,
    params: TailParams,
    stop: CancellationToken,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let owners = fanout::owners(&member).await?;
    if !owners.missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cluster: no live tail now: partitions {:?} cannot be followed ({}); try again",
                owners.missing,
                owners.reasons.join("; ")
            ),
        ));
    }
    let token = fanout::token(&member)?;
    let mut streams = Vec::new();
    for (url, (id, parts)) in &owners.by_url {
        let mut req = client()
            .get(format!("{url}{TAIL_PATH}"))
            .query(&[("q", params.q.as_str())])
            .query(&[("partitions", Asked::of(parts))]);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cluster: no live tail now: {id} ({parts:?}) did not answer: {e}"),
                )
            })?;
        streams.push(resp);
    }
    let (tx, rx) = mpsc::channel(64);
    let (lines, merged) = mpsc::channel(256);
    let end = stop.child_token();
    for resp in streams {
        tokio::spawn(forward(resp, lines.clone(), end.clone()));
    }
    tokio::spawn(in_order(merged, tx.clone(), end.clone()));
    tokio::spawn(watch(member, owners.by_url, tx, end));
    Ok(rx)
}

/// A line's place in the merged order: its event's time (microseconds) and id.
type Key = (i64, String);

/// The time and id of an event line (`None`: not an event; sent as it comes).
fn key_of(line: &[u8]) -> Option<Key> {
    #[derive(serde::Deserialize)]
    struct Placed {
        ts: chrono::DateTime<chrono::Utc>,
        id: String,
    }
    let p: Placed = serde_json::from_slice(line).ok()?;
    Some((p.ts.timestamp_micros(), p.id))
}

/// Forwards one owner's whole lines (not its keep-alives), each with its key; ends the tail
/// when its stream ends.
async fn forward(
    mut resp: reqwest::Response,
    tx: mpsc::Sender<(Option<Key>, Bytes)>,
    end: CancellationToken,
) {
    let mut partial: Vec<u8> = Vec::new();
    'stream: loop {
        let chunk = tokio::select! {
            _ = end.cancelled() => return,
            c = resp.chunk() => c,
        };
        let Ok(Some(chunk)) = chunk else { break };
        partial.extend_from_slice(&chunk);
        let Some(cut) = partial.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let rest = partial.split_off(cut + 1);
        for l in partial.split(|&b| b == b'\n') {
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line: Bytes = l.iter().copied().chain([b'\n']).collect::<Vec<u8>>().into();
            if tx.send((key_of(l), line)).await.is_err() {
                break 'stream;
            }
        }
        partial = rest;
    }
    end.cancel();
}

/// Lines held to be sent in time order: by key, with when each came.
#[derive(Default)]
struct Reorder {
    held: BTreeMap<Key, Bytes>,
    came: VecDeque<(tokio::time::Instant, Key)>,
}

impl Reorder {
    fn push(&mut self, key: Key, line: Bytes, now: tokio::time::Instant) {
        if self.held.insert(key.clone(), line).is_none() {
            self.came.push_back((now, key));
        }
    }

    /// The lines due at `now`, in order: each line held [`ORDER_DELAY`] is sent, and with it
    /// every line held of an earlier key.
    fn due(&mut self, now: tokio::time::Instant) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some((at, _)) = self.came.front() {
            if now.duration_since(*at) < ORDER_DELAY {
                break;
            }
            let Some((_, key)) = self.came.pop_front() else {
                break;
            };
            while let Some(first) = self.held.first_entry() {
                if *first.key() > key {
                    break;
                }
                out.push(first.remove());
            }
        }
        out
    }

    /// When the next line is due.
    fn next_due(&self) -> Option<tokio::time::Instant> {
        self.came.front().map(|(at, _)| *at + ORDER_DELAY)
    }

    /// Every line held, in order.
    fn all(&mut self) -> Vec<Bytes> {
        self.came.clear();
        std::mem::take(&mut self.held).into_values().collect()
    }
}

/// Puts the owners' lines in time order within [`ORDER_DELAY`] (`Reorder`) and sends them on.
async fn in_order(
    mut lines: mpsc::Receiver<(Option<Key>, Bytes)>,
    tx: mpsc::Sender<Bytes>,
    end: CancellationToken,
) {
    let mut held = Reorder::default();
    loop {
        let wake = held.next_due();
        let mut now_out = Vec::new();
        tokio::select! {
            _ = end.cancelled() => break,
            got = lines.recv() => match got {
                Some((Some(key), line)) => held.push(key, line, tokio::time::Instant::now()),
                Some((None, line)) => now_out.push(line),
                None => break,
            },
            _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {}
        }
        now_out.extend(held.due(tokio::time::Instant::now()));
        for line in now_out {
            if tx.send(line).await.is_err() {
                end.cancel();
                return;
            }
        }
    }
    // The tail ends: what is held goes out first, if the client still takes it.
    for line in held.all() {
        if tx.try_send(line).is_err() {
            break;
        }
    }
}

/// Ends the tail when the owners differ from those it opened, and sends keep-alives.
async fn watch(
    member: std::sync::Arc<Member>,
    opened: BTreeMap<String, (String, Vec<u32>)>,
    tx: mpsc::Sender<Bytes>,
    end: CancellationToken,
) {
    let mut quiet = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = end.cancelled() => return,
            _ = tx.closed() => break,
            _ = tokio::time::sleep(RECHECK) => {}
        }
        let now: Option<Owners> = fanout::owners(&member).await.ok();
        if now.is_none_or(|o| !o.missing.is_empty() || o.by_url != opened) {
            tracing::info!("cluster: a partition moved; the live tail ends");
            break;
        }
        if quiet.elapsed() >= KEEPALIVE {
            quiet = tokio::time::Instant::now();
            if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                break;
            }
        }
    }
    end.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: i64, id: &str) -> (Key, Bytes) {
        ((ts, id.to_owned()), Bytes::from(format!("{ts} {id}\n")))
    }

    /// Lines of several owners that come within the delay of one another go out in time
    /// order; each after the delay; a straggler after it goes out as it comes.
    #[test]
    fn lines_go_out_in_time_order_after_the_delay() {
        let t0 = tokio::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut r = Reorder::default();
        let (k, l) = line(30, "b:1");
        r.push(k, l, ms(0));
        let (k, l) = line(10, "a:1");
        r.push(k, l, ms(100));
        let (k, l) = line(30, "c:2");
        r.push(k, l, ms(200));
        assert!(r.due(ms(1999)).is_empty(), "held for the delay");
        assert_eq!(r.next_due(), Some(ms(2000)));
        let out = r.due(ms(2000));
        assert_eq!(out, vec![Bytes::from("10 a:1\n"), Bytes::from("30 b:1\n")]);
        assert_eq!(r.due(ms(2150)), Vec::<Bytes>::new(), "a:1 went out already");
        assert_eq!(r.due(ms(2200)), vec![Bytes::from("30 c:2\n")]);
        let (k, l) = line(5, "late:1");
        r.push(k, l, ms(3000));
        assert_eq!(r.due(ms(5000)), vec![Bytes::from("5 late:1\n")]);
        let (k, l) = line(7, "x:1");
        r.push(k.clone(), l.clone(), ms(6000));
        r.push(k, l, ms(6001));
        assert_eq!(r.all(), vec![Bytes::from("7 x:1\n")], "a line once");
        assert_eq!(r.next_due(), None);
    }

    #[test]
    fn an_event_line_is_placed_by_its_time_and_id() {
        let e = logwarden_core::Event::log(
            logwarden_core::EventId::new("vm:7", 42),
            chrono::DateTime::from_timestamp_micros(1_764_288_000_000_001).unwrap(),
            "h",
            "s",
            "/x",
            "m".into(),
        );
        let json = serde_json::to_vec(&e).unwrap();
        assert_eq!(
            key_of(&json),
            Some((1_764_288_000_000_001, "vm:7:42".to_owned()))
        );
        assert_eq!(key_of(b"not json"), None);
    }
}
