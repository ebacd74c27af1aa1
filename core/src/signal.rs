//! How the long-running binaries (`logwarden-agent run`, `logwarden-collector run` and
//! `witness`) learn that they should stop: SIGINT or SIGTERM cancels their shutdown token, and
//! each part then stops in its own order. Behind the `signal` feature, so that the crates that
//! never wait for a signal (the CLI, the parsers) do not build tokio for it.

use tokio_util::sync::CancellationToken;

/// Cancels `shutdown` at the first SIGINT (Ctrl-C) or SIGTERM. Spawn it once at start. If the
/// SIGTERM handler cannot be installed, says so and returns without cancelling: the process
/// then stops only when killed.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    shutdown.cancel();
}
