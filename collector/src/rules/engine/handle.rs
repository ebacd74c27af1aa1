//! The API's handle on the engine ([`AlertsHandle`], held by the API, replication and the
//! server), the [`Command`]s it sends over the engine's channel, the errors it gets back, and
//! the answers the engine still owes (a forget is answered once its record was read back).
//! A leaf: the engine's files use it, it uses none of them.

use logwarden_core::wire::{
    AckRequest, AlertView, ForgetResponse, Silence, SilenceRequest, TestAlertRequest,
    TestAlertResponse,
};
use tokio::sync::{mpsc, oneshot};

use crate::rules::alert::Signal;
use crate::rules::silence::SilenceError;
use crate::rules::test_send;

/// Errors the API can get back from the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No alert has this id (or it is not firing, for an ack).
    #[error("no firing alert with id {0}")]
    NoSuchAlert(String),
    #[error("no silence with id {0}")]
    NoSuchSilence(String),
    #[error(transparent)]
    Silence(#[from] SilenceError),
    /// The WAL refused the change.
    #[error("alert state not written: {0}")]
    Wal(String),
    /// The engine has stopped (shutdown).
    #[error("the alert engine has stopped")]
    Stopped,
    /// Cluster mode: the alert leader could not be reached, or the shared alert state refused
    /// the change (crate::cluster::leader).
    #[error("cluster: {0}")]
    Cluster(String),
    /// Cluster mode: the alert leader refused the request as invalid (its reason).
    #[error("{0}")]
    Invalid(String),
}

/// Requests from the API to the engine; each carries its reply channel. In cluster mode a
/// collector that does not lead alerting hands them to the leader (crate::cluster::alert_api).
pub(crate) enum Command {
    List {
        all: bool,
        reply: oneshot::Sender<Result<Vec<AlertView>, EngineError>>,
    },
    Ack {
        id: String,
        req: AckRequest,
        reply: oneshot::Sender<Result<AlertView, EngineError>>,
    },
    AddSilence {
        req: SilenceRequest,
        reply: oneshot::Sender<Result<Silence, EngineError>>,
    },
    ExpireSilence {
        id: String,
        reply: oneshot::Sender<Result<Silence, EngineError>>,
    },
    Silences {
        reply: oneshot::Sender<Result<Vec<Silence>, EngineError>>,
    },
    /// A verdict on the collector itself (e.g. `ReplicationDegraded`), from outside the WAL.
    Signal(Signal),
    /// `logwarden fleet forget HOST` (`forget.rs`).
    Forget {
        host: String,
        author: String,
        reply: ForgetReply,
    },
    /// `logwarden alerts test`: answered by a task of its own (test_send).
    Test {
        req: TestAlertRequest,
        reply: TestReply,
    },
}

/// A test's answer; the outer error when the engine could not be asked (cluster mode).
pub(crate) type TestReply =
    oneshot::Sender<Result<Result<TestAlertResponse, test_send::TestError>, EngineError>>;

/// The API's handle on the engine. Cheap to clone.
#[derive(Clone)]
pub struct AlertsHandle {
    /// Commands to the engine task; it stops reading them at shutdown.
    pub(super) tx: mpsc::Sender<Command>,
}

impl AlertsHandle {
    /// A handle whose commands go to `tx` (cluster mode: to the router that hands them to the
    /// alert leader, crate::cluster::alert_api).
    pub(crate) fn to(tx: mpsc::Sender<Command>) -> AlertsHandle {
        AlertsHandle { tx }
    }

    /// Hands `cmd` on to this handle's engine (its reply goes straight back to the caller).
    pub(crate) async fn pass(&self, cmd: Command) -> Result<(), EngineError> {
        self.tx.send(cmd).await.map_err(|_| EngineError::Stopped)
    }
}

impl AlertsHandle {
    /// A handle with no engine behind it (a standby runs none): every call answers
    /// [`EngineError::Stopped`].
    pub fn none() -> AlertsHandle {
        let (tx, _) = mpsc::channel(1);
        AlertsHandle { tx }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn list(&self, all: bool) -> Result<Vec<AlertView>, EngineError> {
        self.ask(|reply| Command::List { all, reply }).await?
    }

    pub async fn ack(&self, id: String, req: AckRequest) -> Result<AlertView, EngineError> {
        self.ask(|reply| Command::Ack { id, req, reply }).await?
    }

    pub async fn add_silence(&self, req: SilenceRequest) -> Result<Silence, EngineError> {
        self.ask(|reply| Command::AddSilence { req, reply }).await?
    }

    pub async fn expire_silence(&self, id: String) -> Result<Silence, EngineError> {
        self.ask(|reply| Command::ExpireSilence { id, reply })
            .await?
    }

    /// Retires a host: a `HostForgotten` record, its alerts resolved (see `forget.rs`).
    pub async fn forget(
        &self,
        host: String,
        author: String,
    ) -> Result<ForgetResponse, EngineError> {
        self.ask(|reply| Command::Forget {
            host,
            author,
            reply,
        })
        .await?
    }

    pub async fn silences(&self) -> Result<Vec<Silence>, EngineError> {
        self.ask(|reply| Command::Silences { reply }).await?
    }

    /// Sends a synthetic alert through the routes and receivers now in force; the engine's
    /// state is not touched (test_send).
    pub async fn test(
        &self,
        req: TestAlertRequest,
    ) -> Result<Result<TestAlertResponse, test_send::TestError>, EngineError> {
        self.ask(|reply| Command::Test { req, reply }).await?
    }

    /// Hands the engine a verdict about the collector itself (it is not in the WAL, so the
    /// sender repeats its current verdict after every start).
    pub async fn signal(&self, s: Signal) -> Result<(), EngineError> {
        self.tx
            .send(Command::Signal(s))
            .await
            .map_err(|_| EngineError::Stopped)
    }
}

pub(crate) type ForgetReply = oneshot::Sender<Result<ForgetResponse, EngineError>>;

/// A forget written and not yet answered.
pub(super) struct Forgotten {
    /// Its record.
    pub(super) lsn: u64,
    pub(super) reply: ForgetReply,
    /// Set once the record was read back and applied.
    pub(super) answer: Option<ForgetResponse>,
}
