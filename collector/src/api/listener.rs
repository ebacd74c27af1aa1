//! The HTTP accept loop: a cap on open connections, a bound on how long a request's headers may
//! take (slow-loris, and idle keep-alive connections), TLS when a certificate is configured (each
//! handshake in its connection's own task, so a slow or broken client holds up nobody else), and
//! the peer address for the auth check.
//!
//! Over `max_connections`, a new connection is still accepted and answered `429` naming the
//! limit (so an agent backs off and retries instead of hanging), up to [`OVERFLOW`] such
//! answers at once; past that, connections wait in the kernel's backlog.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
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
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
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
        let (tls, shutdown) = (tls.clone(), shutdown.clone());
        match slot {
            Slot::Served(permit) => {
                let app = app.clone();
                let http = http.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        app.clone().oneshot(req)
                    });
                    serve_stream(stream, tls, &http, service, peer, shutdown).await;
                    drop(permit);
                });
            }
            Slot::Refused(permit) => {
                counters.connections_refused.fetch_add(1, Relaxed);
                let max = limits.max_connections;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(2))
                    .keep_alive(false);
                conns.spawn(async move {
                    let service =
                        hyper::service::service_fn(move |_req: Request<Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(too_many(max))
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
    Refused(OwnedSemaphorePermit),
}

/// Serves one connection, after its TLS handshake when `tls` is set.
async fn serve_stream<S>(
    stream: TcpStream,
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
    let body = serde_json::json!({
        "error": format!("the collector has {max} connections open, its limit ([limits] max_connections); retry later")
    });
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::RETRY_AFTER, "1")
        .header(header::CONNECTION, "close")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a static response")
}
