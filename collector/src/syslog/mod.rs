//! Syslog intake: UDP and TCP listeners for devices and daemons that only speak syslog
//! (RFC 3164 and RFC 5424, parsed by `logwarden-parse`). TCP accepts both RFC 6587 framings,
//! detected per connection (`framing.rs`). Messages go through the same WAL as agent events
//! (`intake.rs`), or, in cluster mode, the same JetStream stream (`cluster.rs`).
//!
//! A broken or hostile connection only ever affects itself: framing errors close it, oversized
//! messages are cut and flagged, and the number of open connections is capped (when full, the
//! connection idle the longest makes room: `conn_table.rs`).

pub mod cluster;
mod conn_table;
pub mod forward;
pub mod framing;
pub mod intake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use framing::{Frame, Framer};
use intake::Parser;
use logwarden_core::Draft;

use crate::wal::WalStats;

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct SyslogSettings {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    /// Syslog over TLS (RFC 5425: octet counting, though LF framing is taken too).
    pub tls: Option<(SocketAddr, crate::tls::TlsFiles)>,
    /// Longest message kept; longer ones are cut and flagged `truncated`.
    pub max_message_bytes: usize,
    /// TCP connections open at once; when full, the one idle the longest is closed for a new
    /// one (or, all busy, the new one waits).
    pub max_connections: usize,
    /// TCP connections one sender address may hold; more are closed at once (idle
    /// connections from one host never lock the others out).
    pub max_connections_per_client: usize,
    /// A TCP connection that sends nothing for this long is closed (a sender reconnects).
    pub idle_timeout: std::time::Duration,
}

/// The addresses actually bound (port 0 resolved), for logs and tests.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

/// Binds the listeners and starts them and the intake. The tasks stop on `shutdown`; the intake
/// stops once every listener is gone, after committing what it holds.
pub async fn start(
    settings: &SyslogSettings,
    sink: forward::Sink,
    room: intake::Room,
    site: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<(Bound, JoinSet<()>)> {
    let mut tasks = JoinSet::new();
    let mut bound = Bound::default();
    if settings.udp.is_none() && settings.tcp.is_none() && settings.tls.is_none() {
        return Ok((bound, tasks));
    }
    // Parsed messages from every listener to the intake, a batch per read (one channel hand-over
    // per message cost as much as parsing it); closed when all listeners stop.
    let (tx, rx) = mpsc::channel::<Vec<Draft>>(CHANNEL_BATCHES);
    let to_intake = ToIntake {
        tx,
        stats: room.wal_stats.clone(),
    };
    if let Some(addr) = settings.udp {
        let sock = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding syslog UDP on {addr}"))?;
        bound.udp = Some(sock.local_addr()?);
        tasks.spawn(serve_udp(
            sock,
            to_intake.clone(),
            settings.max_message_bytes,
            room.counters.clone(),
            shutdown.clone(),
        ));
    }
    if let Some(addr) = settings.tcp {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding syslog TCP on {addr}"))?;
        bound.tcp = Some(listener.local_addr()?);
        tasks.spawn(serve_tcp(
            listener,
            None,
            to_intake.clone(),
            settings.clone(),
            room.counters.clone(),
            shutdown.clone(),
        ));
    }
    if let Some((addr, files)) = &settings.tls {
        let acceptor = files.acceptor(&[])?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding syslog TLS on {addr}"))?;
        bound.tls = Some(listener.local_addr()?);
        tasks.spawn(serve_tcp(
            listener,
            Some(acceptor),
            to_intake.clone(),
            settings.clone(),
            room.counters.clone(),
            shutdown.clone(),
        ));
    }
    drop(to_intake);
    let ids = intake::ids(&room.data_dir, &sink, site).context("opening the syslog seq lease")?;
    // The intake runs on a thread of its own, with a runtime of its own, rather than as a task
    // of the shared runtime. There, the connection task that filled a batch woke the intake on
    // its own worker (tokio runs a task woken by a task next, on the same worker), so that for
    // stretches of a burst one worker parsed and numbered by turns while the other idled. On
    // its own thread the two run side by side: +10 % messages per second with 10 % less CPU
    // (docs/BENCHMARKS.md, session 11).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the syslog intake's runtime")?;
    let site = site.to_owned();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("syslog-intake".into())
        .spawn(move || {
            rt.block_on(intake::run(rx, sink, ids, site, room));
            let _ = done_tx.send(());
        })
        .context("starting the syslog intake's thread")?;
    tasks.spawn(async move {
        if done_rx.await.is_err() {
            tracing::error!("the syslog intake's thread ended without finishing");
        }
    });
    Ok((bound, tasks))
}

/// Batches waiting for the intake, at most: a TCP read of 64 KiB holds up to a few hundred
/// messages, a UDP batch up to [`UDP_BATCH`], so this holds some 16,000-32,000 messages while the
/// intake waits (for room, or for the index backlog). 1,024 held half a million and a paused
/// intake reached 880 MiB.
const CHANNEL_BATCHES: usize = 64;
/// Datagrams already queued on the socket that are read into one batch.
const UDP_BATCH: usize = 256;

/// A listener's way to the intake: the channel of parsed batches (closed when every listener
/// is gone), and where to say that its senders are ahead of it (`wal/backlog.rs`: indexing
/// then leaves the CPU to the intake).
#[derive(Clone)]
struct ToIntake {
    tx: mpsc::Sender<Vec<Draft>>,
    stats: Arc<WalStats>,
}

async fn serve_udp(
    sock: UdpSocket,
    to: ToIntake,
    max: usize,
    counters: Arc<crate::metrics::Counters>,
    shutdown: CancellationToken,
) {
    let mut parser = Parser::new("udp");
    let mut buf = vec![0u8; 65_536];
    let mut dropped: u64 = 0;
    loop {
        let first = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog UDP receive failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some((n, peer)) = next {
            let mut msg = &buf[..n];
            while let Some(rest) = msg.strip_suffix(b"\n").or_else(|| msg.strip_suffix(b"\r")) {
                msg = rest;
            }
            if !msg.is_empty() {
                let frame = Frame {
                    bytes: &msg[..msg.len().min(max)],
                    truncated: msg.len() > max,
                };
                batch.push(parser.parse(frame, peer));
            }
            next = if batch.len() < UDP_BATCH {
                sock.try_recv_from(&mut buf).ok()
            } else {
                None
            };
        }
        if batch.is_empty() {
            continue;
        }
        if batch.len() == UDP_BATCH {
            to.stats.backlog.intake_pressed();
        }
        // UDP has no flow control: when the WAL cannot keep up, drop and count rather than
        // let the socket buffer drop silently.
        let n = batch.len() as u64;
        if to.tx.try_send(batch).is_err() {
            let before = dropped;
            dropped += n;
            counters
                .syslog_dropped
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            // Logged at 1, 2, 4, 8, ... dropped, not for each.
            if before.checked_ilog2() != dropped.checked_ilog2() {
                tracing::warn!(
                    dropped,
                    "syslog UDP messages dropped: the collector is overloaded"
                );
            }
        }
    }
}

/// Accepts TCP connections (wrapped in TLS when `tls` is given) and serves each in its own task.
async fn serve_tcp(
    listener: TcpListener,
    tls: Option<crate::tls::Acceptor>,
    to: ToIntake,
    settings: SyslogSettings,
    counters: Arc<crate::metrics::Counters>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let per_client = crate::per_client::PerClient::default();
    let table = conn_table::ConnTable::new();
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog TCP accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Some(counted) = per_client.admit(peer.ip(), settings.max_connections_per_client) else {
            counters.client_connections_refused.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "syslog connection closed: its sender holds [syslog] max_connections_per_client");
            continue;
        };
        let Some(permit) = slot(&permits, &table, &settings, &counters, &shutdown).await else {
            break;
        };
        let entry = table.enter(&shutdown);
        let (to, max) = (to.clone(), settings.max_message_bytes);
        let tls = tls.clone();
        let idle = settings.idle_timeout;
        conns.spawn(async move {
            match tls {
                None => serve_conn(stream, "tcp", peer, to, max, idle, &entry).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_conn(stream, "tls", peer, to, max, idle, &entry).await
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(%peer, error = %e, "syslog TLS handshake failed")
                        }
                        Err(_) => tracing::warn!(%peer, "syslog TLS handshake timed out"),
                    }
                }
            }
            drop((permit, counted));
        });
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

/// A slot for a connection just accepted: a free one, or else the slot of the connection idle the
/// longest (closed for it), or else (every connection busy) the first to come free; `None` at
/// shutdown.
async fn slot(
    permits: &Arc<Semaphore>,
    table: &conn_table::ConnTable,
    settings: &SyslogSettings,
    counters: &crate::metrics::Counters,
    shutdown: &CancellationToken,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    loop {
        if let Ok(p) = permits.clone().try_acquire_owned() {
            return Some(p);
        }
        if let Some(idle) = table.evict_idlest(conn_table::MIN_IDLE) {
            counters.syslog_connections_evicted.fetch_add(1, Relaxed);
            table.warn_evicted(idle, settings.max_connections);
        }
        tokio::select! {
            p = permits.clone().acquire_owned() => return p.ok(),
            // Busy connections may have gone idle meanwhile.
            _ = tokio::time::sleep(conn_table::MIN_IDLE) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// A sender that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve_conn(
    mut stream: impl tokio::io::AsyncRead + Unpin,
    transport: &'static str,
    peer: SocketAddr,
    to: ToIntake,
    max: usize,
    idle: std::time::Duration,
    conn: &conn_table::Entry,
) {
    let mut framer = Framer::new(max);
    let mut parser = Parser::new(transport);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "syslog TCP read failed");
                    break;
                }
                Err(_) => {
                    tracing::debug!(%peer, "closing syslog connection idle past [syslog] idle_timeout");
                    break;
                }
            },
            _ = conn.ended().cancelled() => break,
        };
        if n == 0 {
            break;
        }
        conn.touch();
        if n == buf.len() {
            // More was waiting than one read takes.
            to.stats.backlog.intake_pressed();
        }
        let mut batch = Vec::new();
        if let Err(e) = framer.push(&buf[..n], |f| batch.push(parser.parse(f, peer))) {
            tracing::warn!(%peer, error = %e, "closing syslog connection");
            return;
        }
        // Waiting here is TCP's flow control: the sender slows down with the WAL.
        if !batch.is_empty() && to.tx.send(batch).await.is_err() {
            return;
        }
    }
    if let Some(f) = framer.finish() {
        let _ = to.tx.send(vec![parser.parse(f, peer)]).await;
    }
}
