//! The engine's handling of the API's commands (`handle.rs` has the handle and the commands),
//! one named step per command. Commands run on the engine's task between two batches of work,
//! so they see and change the same table as the lifecycle; those the API waits on (ack,
//! silences) are written to the WAL before the answer ([`Engine::write_now`]).

use chrono::{DateTime, Utc};
use logwarden_core::wire::{
    Ack, AckRequest, AlertStatus, AlertView, Silence, SilenceRequest, TestAlertRequest,
};
use tokio::time::Instant;

use super::Engine;
use super::handle::{Command, EngineError, TestReply};
use crate::rules::silence;
use crate::rules::state::StateChange;
use crate::rules::test_send;

impl Engine {
    pub(super) async fn command(&mut self, cmd: Command) {
        let wall = Utc::now();
        match cmd {
            Command::List { all, reply } => {
                let _ = reply.send(self.list(all, wall));
            }
            Command::Ack { id, req, reply } => {
                let res = self.ack(id, req, wall).await;
                let _ = reply.send(res);
            }
            Command::AddSilence { req, reply } => {
                let res = self.add_silence(req, wall).await;
                let _ = reply.send(res);
            }
            Command::ExpireSilence { id, reply } => {
                let res = self.expire_silence(id, wall).await;
                let _ = reply.send(res);
            }
            Command::Signal(sig) => self.signal(sig, true),
            Command::Forget {
                host,
                author,
                reply,
            } => self.write_forget(host, author, wall, reply).await,
            Command::Silences { reply } => {
                let _ = reply.send(self.silences(wall));
            }
            Command::Test { req, reply } => self.test(req, reply),
        }
    }

    /// `GET /api/v1/alerts`: firing first, then by severity, newest first.
    fn list(&self, all: bool, wall: DateTime<Utc>) -> Vec<AlertView> {
        let mut v: Vec<AlertView> = self
            .table
            .alerts
            .values()
            .filter(|e| all || e.record.status == AlertStatus::Firing)
            .map(|e| self.table.view(e, wall))
            .collect();
        v.sort_by(|a, b| {
            (
                a.status != AlertStatus::Firing,
                std::cmp::Reverse(a.severity),
                std::cmp::Reverse(a.starts_at),
            )
                .cmp(&(
                    b.status != AlertStatus::Firing,
                    std::cmp::Reverse(b.severity),
                    std::cmp::Reverse(b.starts_at),
                ))
        });
        v
    }

    /// Acknowledges a firing alert (at its current severity); answered once it is in the WAL.
    async fn ack(
        &mut self,
        id: String,
        req: AckRequest,
        wall: DateTime<Utc>,
    ) -> Result<AlertView, EngineError> {
        let found = self
            .table
            .alerts
            .get(&id)
            .filter(|e| e.record.status == AlertStatus::Firing)
            .map(|e| e.record.severity);
        let Some(severity) = found else {
            return Err(EngineError::NoSuchAlert(id));
        };
        let ack = Ack {
            author: if req.author.is_empty() {
                "unknown".into()
            } else {
                req.author
            },
            comment: req.comment,
            at: wall,
            severity,
        };
        self.change(StateChange::Ack {
            key: id.clone(),
            ack,
        });
        let res = self.write_now().await.map(|()| {
            let e = &self.table.alerts[&id];
            self.table.view(e, wall)
        });
        self.schedule_groups(&id, Instant::now());
        res
    }

    async fn add_silence(
        &mut self,
        req: SilenceRequest,
        wall: DateTime<Utc>,
    ) -> Result<Silence, EngineError> {
        match silence::build(req, wall) {
            Ok(s) => {
                self.change(StateChange::Silence(s.clone()));
                self.write_now().await.map(|()| s)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a silence now; what it held back is looked at again.
    async fn expire_silence(
        &mut self,
        id: String,
        wall: DateTime<Utc>,
    ) -> Result<Silence, EngineError> {
        if !self.table.silences.contains_key(&id) {
            return Err(EngineError::NoSuchSilence(id));
        }
        self.change(StateChange::SilenceExpired {
            id: id.clone(),
            at: wall,
        });
        let res = self
            .write_now()
            .await
            .map(|()| self.table.silences[&id].clone());
        self.schedule_all_firing(Instant::now());
        res
    }

    /// The silences (a recurring one with its next opening), then each maintenance window of
    /// the config with its current or next opening.
    fn silences(&self, wall: DateTime<Utc>) -> Vec<Silence> {
        let windows = self.table.maintenance.0.iter();
        self.table
            .silences
            .values()
            .map(|s| silence::listed(s, wall))
            .chain(windows.filter_map(|w| w.as_silence(wall)))
            .collect()
    }

    /// `logwarden alerts test`, off the engine's loop: a slow receiver must not hold up
    /// alerting.
    fn test(&self, req: TestAlertRequest, reply: TestReply) {
        let (settings, routes, http) = (
            self.settings.clone(),
            self.routes.clone(),
            self.http.clone(),
        );
        tokio::spawn(async move {
            let r = test_send::run(
                req,
                &settings.receivers,
                &routes,
                &http,
                &settings.external_url,
            )
            .await;
            let _ = reply.send(r);
        });
    }
}
