//! The HTTP accept loop: a cap on open connections, a bound on how long a request's headers may
//! take (slow-loris, and idle keep-alive connections), TLS when a certificate is configured (each
//! handshake in its connection's own task, so a slow or broken client holds up nobody else), and
//! the peer address for the auth check.
//!
//! Over `max_connections`, a new connection is still accepted and answered `429` naming the
//! limit (so an agent backs off and retries instead of hanging), up to [`OVERFLOW`] such
//! answers at once; past that, connections wait in the kernel's backlog.
//!
//! One client address holds at most `max_connections_per_client` of the slots (more are
//! answered 429 the same way, or closed when the 429 answers are all busy), so idle
//! connections from one host cannot lock the others out. A live tail gives its slot back and
//! holds one of `max_tail_streams` instead ([`ConnSlot`]): readers never take agents' slots.
//! Every write to a client waits at most `write_timeout` (`write_timeout.rs`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::write_timeout::WriteTimeout;
use crate::per_client::PerClient;
use crate::tls::Acceptor;

/// Connections answered 429 at once, beyond `max_connections`.
pub const OVERFLOW: usize = 64;

/// Limits of the HTTP listener (`[limits]` in the config).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a request's headers may take to arrive, from the connection's start or the
    /// end of the previous response: also the idle timeout of keep-alive connections.
    pub header_timeout: Duration,
    /// Connections one client address may hold at once (within `max_connections`).
    pub max_connections_per_client: usize,
    /// Live tails open at once; a tail gives its connection's slot back and holds one of
    /// these instead, so readers never take the slots agents need.
    pub max_tail_streams: usize,
    /// How long a write to a client may wait before the connection is dropped.
    pub write_timeout: Duration,
    /// The memory budget of ingest bodies and tail buffers (`ingest::budget`).
    pub max_memory_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            max_connections_per_client: 256,
            max_tail_streams: 64,
            write_timeout: Duration::from_secs(30),
            max_memory_bytes: 256 << 20,
        }
    }
}

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown`, then lets requests in
/// flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Acceptor>,
    limits: HttpLimits,
    counters: Arc<crate::metrics::Counters>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(OVERFLOW));
    let per_client = PerClient::default();
    let conns = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        // Wait for a slot of either kind before accepting: with both full, new connections
        // stay in the backlog instead of costing memory here.
        let slot = tokio::select! {
            // In this order: a free slot is always taken before an overflow one.
            biased;
            p = slots.clone().acquire_owned() => Slot::Served(p.expect("never closed")),
            p = overflow.clone().acquire_owned() => Slot::Refused(p.expect("never closed")),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let stream = WriteTimeout::new(stream, limits.write_timeout);
        let (tls, shutdown) = (tls.clone(), shutdown.clone());
        // A client over its share is refused like a connection over the limit.
        let (slot, counted) = match slot {
            Slot::Served(permit) => {
                match per_client.admit(peer.ip(), limits.max_connections_per_client) {
                    Some(c) => (Slot::Served(permit), Some(c)),
                    None => {
                        drop(permit);
                        counters.client_connections_refused.fetch_add(1, Relaxed);
                        match overflow.clone().try_acquire_owned() {
                            Ok(p) => (Slot::OverShare(p), None),
                            // Every 429 answer is busy: close at once.
                            Err(_) => continue,
                        }
                    }
                }
            }
            refused => (refused, None),
        };
        let over_share = matches!(slot, Slot::OverShare(_));
        match slot {
            Slot::Served(permit) => {
                let app = app.clone();
                let http = http.clone();
                let conn_slot = ConnSlot(Arc::new(Mutex::new(Some(permit))));
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req.extensions_mut().insert(conn_slot.clone());
                        app.clone().oneshot(req)
                    });
                    serve_stream(stream, tls, &http, service, peer, shutdown).await;
                    drop(counted);
                });
            }
            Slot::Refused(permit) | Slot::OverShare(permit) => {
                if !over_share {
                    counters.connections_refused.fetch_add(1, Relaxed);
                }
                let max = limits.max_connections;
                let share = limits.max_connections_per_client;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(2))
                    .keep_alive(false);
                conns.spawn(async move {
                    let service =
                        hyper::service::service_fn(move |_req: Request<Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(if over_share {
                                too_many_from_one(share)
                            } else {
                                too_many(max)
                            })
                        });
                    serve_stream(stream, tls, &http, service, peer, shutdown).await;
                    drop(permit);
                });
            }
        }
    }
    conns.close();
    conns.wait().await;
}

enum Slot {
    Served(OwnedSemaphorePermit),
    /// Over `max_connections`: answered 429.
    Refused(OwnedSemaphorePermit),
    /// Over the client's share: answered 429 (holding a 429 answer's permit).
    OverShare(OwnedSemaphorePermit),
}

/// A connection's slot among `max_connections`, in every request's extensions: a live tail
/// gives it back ([`ConnSlot::release`]) and holds a tail slot instead.
#[derive(Clone, Debug)]
pub struct ConnSlot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl ConnSlot {
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Serves one connection, after its TLS handshake when `tls` is set.
async fn serve_stream<S>(
    stream: WriteTimeout<TcpStream>,
    tls: Option<Acceptor>,
    http: &hyper::server::conn::http1::Builder,
    service: S,
    peer: SocketAddr,
    shutdown: CancellationToken,
) where
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(acceptor) = tls else {
        return run_conn(
            http.serve_connection(TokioIo::new(stream), service),
            peer,
            shutdown,
        )
        .await;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            run_conn(
                http.serve_connection(TokioIo::new(tls), service),
                peer,
                shutdown,
            )
            .await
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn run_conn<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    peer: SocketAddr,
    shutdown: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn too_many(max: usize) -> Response<axum::body::Body> {
    refusal(format!(
        "the collector has {max} connections open, its limit ([limits] max_connections); retry later"
    ))
}

fn too_many_from_one(max: usize) -> Response<axum::body::Body> {
    refusal(format!(
        "this client has {max} connections open, its share ([limits] max_connections_per_client); retry later"
    ))
}

fn refusal(message: String) -> Response<axum::body::Body> {
    let body = serde_json::json!({ "error": message });
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::RETRY_AFTER, "1")
        .header(header::CONNECTION, "close")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a static response")
}
