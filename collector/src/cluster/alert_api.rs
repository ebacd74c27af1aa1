//! The alert API across a cluster: alerts, acks and silences asked of any collector reach the
//! one alert engine, which runs on the alert leader (`leader.rs`).
//!
//! - Every collector's API holds an [`AlertsHandle`] whose commands go to a router ([`front`]):
//!   on the leader they go to its engine; elsewhere they become NATS requests on
//!   `logwarden.alerts.api`, which only the leader answers ([`serve`]). So no collector needs
//!   another's address or token, and an ack made anywhere is written to the leader's shared
//!   state (`alert_state.rs`) before it is answered.
//! - Without a leader (during an election, at most the lease TTL), a request answers 503 with
//!   the reason.
//! - `logwarden fleet forget` reaches the leader's engine like the others (its fleet side is
//!   `fleet.rs`).
//!
//! Requests and answers are JSON ([`Request`], [`Answer`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use logwarden_core::wire::{AckRequest, SilenceRequest, TestAlertRequest};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::names::ALERT_API;
use crate::rules::engine::Command;
use crate::rules::{AlertsHandle, EngineError};

/// How long a collector waits for the leader's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// An alert API call, as sent to the leader.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    List { all: bool },
    Ack { id: String, req: AckRequest },
    AddSilence { req: SilenceRequest },
    ExpireSilence { id: String },
    Silences,
    Test { req: TestAlertRequest },
    Forget { host: String, author: String },
}

/// The leader's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer<T> {
    Ok(T),
    NoSuchAlert(String),
    NoSuchSilence(String),
    /// Refused as invalid (answered 400).
    Invalid(String),
    /// Failed (answered 503).
    Failed(String),
}

impl<T> From<Result<T, EngineError>> for Answer<T> {
    fn from(r: Result<T, EngineError>) -> Answer<T> {
        match r {
            Ok(v) => Answer::Ok(v),
            Err(EngineError::NoSuchAlert(id)) => Answer::NoSuchAlert(id),
            Err(EngineError::NoSuchSilence(id)) => Answer::NoSuchSilence(id),
            Err(e @ (EngineError::Silence(_) | EngineError::Invalid(_))) => {
                Answer::Invalid(e.to_string())
            }
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

impl<T> From<Answer<T>> for Result<T, EngineError> {
    fn from(a: Answer<T>) -> Result<T, EngineError> {
        match a {
            Answer::Ok(v) => Ok(v),
            Answer::NoSuchAlert(id) => Err(EngineError::NoSuchAlert(id)),
            Answer::NoSuchSilence(id) => Err(EngineError::NoSuchSilence(id)),
            Answer::Invalid(m) => Err(EngineError::Invalid(m)),
            Answer::Failed(m) => Err(EngineError::Cluster(format!("the alert leader: {m}"))),
        }
    }
}

/// The leader's engine, when this collector leads.
#[derive(Clone, Default)]
pub struct Local(Arc<RwLock<Option<AlertsHandle>>>);

impl Local {
    pub fn set(&self, handle: Option<AlertsHandle>) {
        if let Ok(mut l) = self.0.write() {
            *l = handle;
        }
    }

    fn get(&self) -> Option<AlertsHandle> {
        self.0.read().ok().and_then(|l| l.clone())
    }
}

/// The API's handle in cluster mode, and where the leader's engine goes once this collector
/// leads. The router ends when every clone of the handle is gone.
pub fn front(client: async_nats::Client) -> (AlertsHandle, Local) {
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    let local = Local::default();
    let here = local.clone();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match here.get() {
                Some(engine) => {
                    // On error the reply is dropped with the command: the caller is answered
                    // `Stopped`.
                    let _ = engine.pass(cmd).await;
                }
                None => {
                    tokio::spawn(remote(client.clone(), cmd));
                }
            }
        }
    });
    (AlertsHandle::to(tx), local)
}

/// Hands `cmd` to the leader over NATS and its answer back to the caller.
async fn remote(client: async_nats::Client, cmd: Command) {
    match cmd {
        Command::List { all, reply } => {
            let _ = reply.send(ask(&client, &Request::List { all }).await);
        }
        Command::Silences { reply } => {
            let _ = reply.send(ask(&client, &Request::Silences).await);
        }
        Command::Ack { id, req, reply } => {
            let _ = reply.send(ask(&client, &Request::Ack { id, req }).await);
        }
        Command::AddSilence { req, reply } => {
            let _ = reply.send(ask(&client, &Request::AddSilence { req }).await);
        }
        Command::ExpireSilence { id, reply } => {
            let _ = reply.send(ask(&client, &Request::ExpireSilence { id }).await);
        }
        Command::Test { req, reply } => {
            let _ = reply.send(ask(&client, &Request::Test { req }).await.map(Ok));
            // (The leader's refusals come back as `Invalid`, answered 400 as a test's own.)
        }
        Command::Forget {
            host,
            author,
            reply,
        } => {
            let _ = reply.send(ask(&client, &Request::Forget { host, author }).await);
        }
        // Verdicts about the collector itself come from replication, which a cluster has not.
        Command::Signal(s) => {
            tracing::debug!(alert = %s.name, "cluster: a local verdict dropped off the leader")
        }
    }
}

/// One request to the leader and its answer.
async fn ask<T: DeserializeOwned>(
    client: &async_nats::Client,
    req: &Request,
) -> Result<T, EngineError> {
    let body = serde_json::to_vec(req).map_err(|e| EngineError::Cluster(e.to_string()))?;
    let msg = tokio::time::timeout(ANSWER_WITHIN, client.request(ALERT_API, body.into()))
        .await
        .map_err(|_| {
            EngineError::Cluster(format!(
                "the alert leader did not answer within {}s",
                ANSWER_WITHIN.as_secs()
            ))
        })?
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => EngineError::Cluster(
                "no collector leads alerting right now (an election takes up to the lease TTL); try again".into(),
            ),
            _ => EngineError::Cluster(format!("asking the alert leader failed: {e}")),
        })?;
    let answer: Answer<T> = serde_json::from_slice(&msg.payload).map_err(|e| {
        EngineError::Cluster(format!("the alert leader's answer is unreadable: {e}"))
    })?;
    answer.into()
}

/// The leader's side: answers the other collectors' requests from `engine` until `stop`.
pub async fn serve(
    client: async_nats::Client,
    engine: AlertsHandle,
    stop: CancellationToken,
) -> Result<(), String> {
    let mut requests = client
        .subscribe(ALERT_API)
        .await
        .map_err(|e| format!("cluster: cannot serve the alert API: {e}"))?;
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            msg = requests.next() => match msg {
                Some(m) => m,
                None => break,
            },
        };
        let Some(reply) = msg.reply.clone() else {
            continue;
        };
        let (client, engine) = (client.clone(), engine.clone());
        tokio::spawn(async move {
            let body = answer(&engine, &msg.payload).await;
            if let Err(e) = client.publish(reply, body.into()).await {
                tracing::warn!(error = %e, "cluster: alert API answer not sent");
            }
        });
    }
    let _ = requests.unsubscribe().await;
    Ok(())
}

/// The engine's answer to one request, as JSON.
async fn answer(engine: &AlertsHandle, payload: &[u8]) -> Vec<u8> {
    fn json<T: Serialize>(r: Result<T, EngineError>) -> Vec<u8> {
        serde_json::to_vec(&Answer::from(r)).unwrap_or_default()
    }
    let req: Request = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => {
            return json::<()>(Err(EngineError::Invalid(format!(
                "unreadable alert API request: {e}"
            ))));
        }
    };
    match req {
        Request::List { all } => json(engine.list(all).await),
        Request::Ack { id, req } => json(engine.ack(id, req).await),
        Request::AddSilence { req } => json(engine.add_silence(req).await),
        Request::ExpireSilence { id } => json(engine.expire_silence(id).await),
        Request::Silences => json(engine.silences().await),
        Request::Forget { host, author } => json(engine.forget(host, author).await),
        Request::Test { req } => json(match engine.test(req).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(EngineError::Invalid(e.to_string())),
            Err(e) => Err(e),
        }),
    }
}
