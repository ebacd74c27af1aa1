//! Following one message from a starting point: its queues on each host, the content filter,
//! the next MTA, the mailbox hosts and the bounce notification it caused.
//!
//! A postfix queue id is only unique on its host and only for a while: once `qmgr` logs
//! `removed`, the id may name the next message. So the events of one `(host, queue id)` are cut
//! into *instances*: a new one begins after `removed`, or at a second `client=`/`uid=` line.
//! Links between instances:
//!
//! - the message-id (`cleanup`, amavis, Zimbra's LMTP and mailop lines): every queue on every
//!   host that logged it, the instance whose time holds that line;
//! - `queued_as` (amavis, and the `queued as X` of a delivery's reply): the instance of X that
//!   starts nearest to that line, within a minute before (clocks differ) and an hour after, and
//!   whose message-id is the same when both are known;
//! - content-filter verdicts name the queue they took the message from (`Queue-ID`); amavis may
//!   run on a host of its own, so a verdict joins an instance by time and by message-id (by host
//!   when either has none);
//! - `notification_id` (bounce): the notification's queue, marked as the notification;
//! - upstream, from a notification's queue to the message that caused it, so that a trace
//!   started anywhere shows the whole story.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use logwarden_core::Event;

use super::field::str_field;
use super::lookup::{Lookup, Range};
use crate::search::SearchError;

/// Most index lookups made for one message.
const MAX_LOOKUPS_PER_MESSAGE: usize = 100;

/// Whether an event belongs to the message or to the bounce notification it caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Message,
    Notification,
}

/// The events of one use of a queue id on one host, in order.
#[derive(Debug, Clone)]
pub struct Instance {
    pub host: String,
    pub qid: String,
    pub events: Vec<Event>,
}

impl Instance {
    pub fn start(&self) -> DateTime<Utc> {
        self.events.first().map(|e| e.ts).unwrap_or_default()
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.events.last().map(|e| e.ts).unwrap_or_default()
    }

    /// Still in the queue: no `removed` seen.
    pub fn open(&self) -> bool {
        !self
            .events
            .iter()
            .any(|e| str_field(e, "status") == Some("removed"))
    }

    /// The message-id its `cleanup` logged.
    pub fn message_id(&self) -> Option<&str> {
        self.events.iter().find_map(|e| str_field(e, "message_id"))
    }

    /// Whether this instance may be the one a link expects: the same message-id when both
    /// are known (a queue id on another host, or reused, is another message).
    fn agrees(&self, mid: Option<&str>) -> bool {
        match (self.message_id(), mid) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        }
    }

    /// Whether `t` falls within this instance (with a little slack for clocks and stamps
    /// without fractions).
    fn holds(&self, t: DateTime<Utc>) -> bool {
        let slack = Duration::seconds(2);
        t >= self.start() - slack && (self.open() || t <= self.end() + slack)
    }

    fn key(&self) -> (String, String, i64) {
        (
            self.host.as_str().to_ascii_lowercase(),
            self.qid.clone(),
            self.start().timestamp_micros(),
        )
    }
}

/// A line that starts a queue file: `smtpd`'s `client=` or `pickup`'s `uid=`.
fn receives(e: &Event) -> bool {
    e.fields.contains_key("client") || e.fields.contains_key("uid")
}

/// The order of lines logged in the same instant, as postfix writes them: receive, cleanup,
/// queue, filter, deliver, notify, remove.
pub fn rank(e: &Event) -> u8 {
    let f = |k| e.fields.contains_key(k);
    let status = str_field(e, "status");
    if receives(e) {
        0
    } else if e.app.ends_with("cleanup") {
        1
    } else if f("from") && status.is_none() && f("queue_id") {
        2
    } else if f("verdict") {
        3
    } else if f("notification_id") {
        5
    } else if matches!(status, Some("removed") | Some("expired")) {
        6
    } else {
        4
    }
}

/// Sorts events by time, then by [`rank`].
pub fn sort_events(events: &mut [Event]) {
    events.sort_by(|a, b| a.ts.cmp(&b.ts).then(rank(a).cmp(&rank(b))));
}

/// Cuts the postfix events of one queue id into instances (see the module doc). Content-filter
/// verdicts (amavis names the queue id too, from its own host) are left out: they are joined to
/// an instance by time.
pub fn instances(mut events: Vec<Event>) -> Vec<Instance> {
    sort_events(&mut events);
    let mut by_host: HashMap<(String, String), Vec<Instance>> = HashMap::new();
    for e in events {
        if e.fields.contains_key("verdict") {
            continue;
        }
        let Some(qid) = str_field(&e, "queue_id").map(str::to_owned) else {
            continue;
        };
        let list = by_host
            .entry((e.host.as_str().to_ascii_lowercase(), qid.clone()))
            .or_default();
        let new = match list.last() {
            None => true,
            Some(last) => !last.open() || (receives(&e) && last.events.iter().any(receives)),
        };
        if new {
            list.push(Instance {
                host: e.host.to_string(),
                qid,
                events: Vec::new(),
            });
        }
        if let Some(last) = list.last_mut() {
            last.events.push(e);
        }
    }
    let mut all: Vec<Instance> = by_host.into_values().flatten().collect();
    all.sort_by_key(|i| i.start());
    all
}

/// The use of a queue id a link at `at` names: the one starting nearest to it, within a minute
/// before (clocks differ) and an hour after, with message-id `mid` when both are known; on
/// `prefer` if there is one there, else on any host.
fn nearest(
    list: &[Instance],
    prefer: &str,
    at: DateTime<Utc>,
    mid: Option<&str>,
) -> Option<Instance> {
    let window = |i: &&Instance| {
        i.start() >= at - Duration::seconds(60)
            && i.start() <= at + Duration::hours(1)
            && i.agrees(mid)
    };
    let distance = |i: &&Instance| (i.start() - at).num_milliseconds().abs();
    list.iter()
        .filter(window)
        .filter(|i| i.host.eq_ignore_ascii_case(prefer))
        .min_by_key(distance)
        .or_else(|| list.iter().filter(window).min_by_key(distance))
        .cloned()
}

/// What one message was found to be made of.
#[derive(Debug, Default, Clone)]
pub struct Found {
    pub instances: Vec<(Instance, Role)>,
    /// Events outside any queue: content-filter verdicts, Zimbra's LMTP and mailop lines.
    pub others: Vec<(Event, Role)>,
}

impl Found {
    pub fn has_event(&self, id: &str) -> bool {
        self.instances
            .iter()
            .any(|(i, _)| i.events.iter().any(|e| e.id.to_string() == id))
            || self.others.iter().any(|(e, _)| e.id.to_string() == id)
    }
}

enum Work {
    /// The instance of `qid` holding `at`, on `host`.
    Within {
        host: String,
        qid: String,
        at: DateTime<Utc>,
    },
    /// The instance of `qid` that starts nearest after `at` (`queued_as`, a notification),
    /// on `prefer` if it has one, carrying message-id `mid` when that is known.
    Next {
        prefer: String,
        qid: String,
        at: DateTime<Utc>,
        mid: Option<String>,
    },
    MessageId(String),
}

/// Follows one message. Lookups are cached for the life of the follower (one request).
pub struct Follower<'a> {
    lookup: &'a mut Lookup,
    range: Range,
    queues: HashMap<String, (Vec<Instance>, Vec<Event>)>,
    message_ids: HashMap<String, Vec<Event>>,
}

impl<'a> Follower<'a> {
    pub fn new(lookup: &'a mut Lookup, range: Range) -> Follower<'a> {
        Follower {
            lookup,
            range,
            queues: HashMap::new(),
            message_ids: HashMap::new(),
        }
    }

    pub fn truncated(&self) -> bool {
        self.lookup.truncated
    }

    /// The instances of a queue id (every host), and the content-filter verdicts naming it.
    pub fn queue(&mut self, qid: &str) -> Result<&(Vec<Instance>, Vec<Event>), SearchError> {
        if !self.queues.contains_key(qid) {
            let events = self.lookup.by_field("queue_id", qid, self.range)?;
            let verdicts = events
                .iter()
                .filter(|e| e.fields.contains_key("verdict"))
                .cloned()
                .collect();
            self.queues
                .insert(qid.to_owned(), (instances(events), verdicts));
        }
        Ok(&self.queues[qid])
    }

    /// The use of `qid` on `host` that holds `at`.
    pub fn within(
        &mut self,
        qid: &str,
        host: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Instance>, SearchError> {
        Ok(self
            .queue(qid)?
            .0
            .iter()
            .filter(|i| i.host.eq_ignore_ascii_case(host) && i.holds(at))
            .min_by_key(|i| (i.start() - at).num_milliseconds().abs())
            .cloned())
    }

    fn message_id(&mut self, mid: &str) -> Result<Vec<Event>, SearchError> {
        let key = mid.to_ascii_lowercase();
        if !self.message_ids.contains_key(&key) {
            let events = self.lookup.by_field("message_id", mid, self.range)?;
            self.message_ids.insert(key.clone(), events);
        }
        Ok(self.message_ids[&key].clone())
    }

    /// The instance a notification was made for: the queue whose bounce line names `inst`.
    /// A queue that was received (`client=`, `uid=`) is no notification; and the bounce line
    /// must name this very use of the id (the nearest one to it, as [`Work::Next`] picks), not
    /// an earlier or later one.
    fn parent(&mut self, inst: &Instance) -> Result<Option<Instance>, SearchError> {
        if inst.events.iter().any(receives) {
            return Ok(None);
        }
        let start = inst.start();
        let mut bounces = self
            .lookup
            .by_field("notification_id", &inst.qid, self.range)?;
        bounces.retain(|e| {
            e.host.eq_ignore_ascii_case(&inst.host) && (e.ts - start).num_seconds().abs() <= 60
        });
        bounces.sort_by_key(|e| (e.ts - start).num_milliseconds().abs());
        for e in bounces {
            let names_this = nearest(&self.queue(&inst.qid)?.0, &inst.host, e.ts, None)
                .is_some_and(|i| i.key() == inst.key());
            let Some(qid) = str_field(&e, "queue_id") else {
                continue;
            };
            if !names_this {
                continue;
            }
            let found = self.within(qid, &e.host, e.ts)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The message an instance belongs to, from its root (the message whose bounce made it, if
    /// it is a notification) down through every link.
    pub fn from_instance(&mut self, inst: Instance) -> Result<Found, SearchError> {
        let mut root = inst;
        for _ in 0..4 {
            match self.parent(&root)? {
                Some(p) => root = p,
                None => break,
            }
        }
        let work = Work::Within {
            host: root.host.clone(),
            qid: root.qid.clone(),
            at: root.start(),
        };
        self.follow(vec![(work, Role::Message)])
    }

    /// The message that carries `mid`, from the earliest queue that logged it (or, with none,
    /// from the message-id's other lines).
    pub fn from_message_id(&mut self, mid: &str) -> Result<Found, SearchError> {
        let events = self.message_id(mid)?;
        let first_queue = events
            .iter()
            .find(|e| !e.fields.contains_key("verdict") && str_field(e, "queue_id").is_some());
        if let Some(e) = first_queue
            && let Some(qid) = str_field(e, "queue_id")
        {
            let (qid, host, at) = (qid.to_owned(), e.host.to_string(), e.ts);
            if let Some(inst) = self.within(&qid, &host, at)? {
                return self.from_instance(inst);
            }
        }
        self.follow(vec![(Work::MessageId(mid.to_owned()), Role::Message)])
    }

    fn follow(&mut self, start: Vec<(Work, Role)>) -> Result<Found, SearchError> {
        let mut found = Found::default();
        let mut seen_instances: HashSet<(String, String, i64)> = HashSet::new();
        let mut seen_mids: HashSet<String> = HashSet::new();
        let mut seen_events: HashSet<String> = HashSet::new();
        let mut todo: VecDeque<(Work, Role)> = start.into();
        let budget_start = self.lookup.lookups;
        while let Some((work, role)) = todo.pop_front() {
            if self.lookup.lookups - budget_start > MAX_LOOKUPS_PER_MESSAGE {
                self.lookup.truncated = true;
                break;
            }
            let (inst, verdicts) = match work {
                Work::MessageId(mid) => {
                    if !seen_mids.insert(mid.to_ascii_lowercase()) {
                        continue;
                    }
                    for e in self.message_id(&mid)? {
                        match str_field(&e, "queue_id") {
                            Some(qid) if !e.fields.contains_key("verdict") => {
                                todo.push_back((
                                    Work::Within {
                                        host: e.host.to_string(),
                                        qid: qid.to_owned(),
                                        at: e.ts,
                                    },
                                    role,
                                ));
                            }
                            _ => {
                                if seen_events.insert(e.id.to_string()) {
                                    if let Some(next) = str_field(&e, "queued_as") {
                                        todo.push_back((
                                            Work::Next {
                                                prefer: e.host.to_string(),
                                                qid: next.to_owned(),
                                                at: e.ts,
                                                mid: Some(mid.clone()),
                                            },
                                            role,
                                        ));
                                    }
                                    found.others.push((e, role));
                                }
                            }
                        }
                    }
                    continue;
                }
                Work::Within { host, qid, at } => {
                    let inst = self.within(&qid, &host, at)?;
                    (inst, self.queue(&qid)?.1.clone())
                }
                Work::Next {
                    prefer,
                    qid,
                    at,
                    mid,
                } => {
                    let (list, verdicts) = self.queue(&qid)?;
                    (nearest(list, &prefer, at, mid.as_deref()), verdicts.clone())
                }
            };
            let Some(inst) = inst else { continue };
            if !seen_instances.insert(inst.key()) {
                continue;
            }
            // The content filter's verdicts on this instance, by time.
            let window_end = if inst.open() {
                DateTime::<Utc>::MAX_UTC
            } else {
                inst.end() + Duration::seconds(60)
            };
            for v in verdicts {
                // amavis names the queue it took the message from; it may run on a host of its
                // own, so the message-id (or, without one, the host) must agree too.
                let ours = match (str_field(&v, "message_id"), inst.message_id()) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => v.host.eq_ignore_ascii_case(&inst.host),
                };
                if ours
                    && v.ts >= inst.start() - Duration::seconds(60)
                    && v.ts <= window_end
                    && seen_events.insert(v.id.to_string())
                {
                    if let Some(next) = str_field(&v, "queued_as") {
                        todo.push_back((
                            Work::Next {
                                prefer: v.host.to_string(),
                                qid: next.to_owned(),
                                at: v.ts,
                                mid: str_field(&v, "message_id").map(str::to_owned),
                            },
                            role,
                        ));
                    }
                    if let Some(mid) = str_field(&v, "message_id") {
                        todo.push_back((Work::MessageId(mid.to_owned()), role));
                    }
                    found.others.push((v, role));
                }
            }
            let inst_mid = inst.message_id().map(str::to_owned);
            for e in &inst.events {
                seen_events.insert(e.id.to_string());
                if let Some(mid) = str_field(e, "message_id") {
                    todo.push_back((Work::MessageId(mid.to_owned()), role));
                }
                if let Some(next) = str_field(e, "queued_as") {
                    todo.push_back((
                        Work::Next {
                            prefer: e.host.to_string(),
                            qid: next.to_owned(),
                            at: e.ts,
                            mid: inst_mid.clone(),
                        },
                        role,
                    ));
                }
                if let Some(n) = str_field(e, "notification_id") {
                    todo.push_back((
                        Work::Next {
                            prefer: e.host.to_string(),
                            qid: n.to_owned(),
                            at: e.ts,
                            mid: None,
                        },
                        Role::Notification,
                    ));
                }
            }
            found.instances.push((inst, role));
        }
        Ok(found)
    }
}
