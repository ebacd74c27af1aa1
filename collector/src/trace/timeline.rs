//! Turning what was found of a message into its answer: the hops in order, each said in words,
//! and the final status of each recipient.

use std::collections::BTreeMap;

use logwarden_core::Event;
use logwarden_core::trace::{Hop, RecipientStatus, TracedMessage};
use serde_json::Value;

use super::field::str_field;
use super::follow::{Found, Role, sort_events};

/// The message's answer.
pub fn assemble(found: Found) -> Option<TracedMessage> {
    let mut tagged: Vec<(Event, Role)> = Vec::new();
    let mut queues = Vec::new();
    let mut open_queues = 0;
    for (inst, role) in &found.instances {
        queues.push((inst.start(), format!("{}/{}", inst.host, inst.qid)));
        if inst.open() && *role == Role::Message {
            open_queues += 1;
        }
        tagged.extend(inst.events.iter().cloned().map(|e| (e, *role)));
    }
    tagged.extend(found.others);
    let mut seen = std::collections::HashSet::new();
    tagged.retain(|(e, _)| seen.insert(e.id.to_string()));
    if tagged.is_empty() {
        return None;
    }
    let roles: std::collections::HashMap<String, Role> =
        tagged.iter().map(|(e, r)| (e.id.to_string(), *r)).collect();
    let mut events: Vec<Event> = tagged.into_iter().map(|(e, _)| e).collect();
    sort_events(&mut events);
    queues.sort();

    let role_of = |e: &Event| roles.get(&e.id.to_string()).copied();
    let is_message = |e: &Event| role_of(e) == Some(Role::Message);
    let message_id = events
        .iter()
        .filter(|e| is_message(e))
        .find_map(|e| str_field(e, "message_id"))
        .map(str::to_owned);
    // The envelope sender as qmgr queued it (pickup's is unqualified), else as anything said it.
    let from_of = |qmgr_only: bool| {
        events
            .iter()
            .filter(|e| is_message(e) && (!qmgr_only || e.app.ends_with("qmgr")))
            .find_map(|e| str_field(e, "from"))
    };
    let from = from_of(true).or_else(|| from_of(false)).map(str::to_owned);

    let mut hops = Vec::with_capacity(events.len());
    let mut prev = None;
    for e in &events {
        hops.push(Hop {
            ts: e.ts,
            host: e.host.to_string(),
            component: component(e),
            queue_id: str_field(e, "queue_id").map(str::to_owned),
            what: what(e),
            delay_s: prev.map(|p: chrono::DateTime<chrono::Utc>| {
                (e.ts - p).num_microseconds().unwrap_or(0) as f64 / 1e6
            }),
            notification: role_of(e) == Some(Role::Notification),
            event_id: e.id.to_string(),
        });
        prev = Some(e.ts);
    }

    let recipients = recipients(events.iter().filter(|e| is_message(e)), open_queues > 0);
    let status = summary(&recipients, open_queues > 0);
    Some(TracedMessage {
        message_id,
        from,
        first_seen: events.first().map(|e| e.ts)?,
        last_seen: events.last().map(|e| e.ts)?,
        queues: queues.into_iter().map(|(_, q)| q).collect(),
        hops,
        recipients,
        status,
    })
}

/// `postfix/smtpd`, `amavis`, or for Zimbra's log4j lines the file's app and the category
/// (`mailbox lmtp`).
fn component(e: &Event) -> String {
    match str_field(e, "category") {
        Some(c) => format!("{} {c}", e.app),
        None => e.app.to_string(),
    }
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn num(e: &Event, k: &str) -> Option<String> {
    e.fields.get(k).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// What an event says happened, in a few words.
fn what(e: &Event) -> String {
    let s = |k| str_field(e, k);
    let bracket = |a: &str| format!("<{a}>");
    if let Some(verdict) = s("verdict") {
        let mut w = format!("{verdict} {}", s("content").unwrap_or_default());
        if let Some(h) = num(e, "hits") {
            w.push_str(&format!(", hits {h}"));
        }
        if let Some(q) = s("queued_as") {
            w.push_str(&format!(", queued as {q}"));
        }
        if let Some(q) = s("quarantine") {
            w.push_str(&format!(", quarantined {q}"));
        }
        return w;
    }
    if let Some(client) = s("client") {
        let mut w = format!("received from {client}");
        if let Some(u) = s("sasl_username") {
            w.push_str(&format!(" (authenticated as {u})"));
        }
        return w;
    }
    if let Some(uid) = num(e, "uid") {
        return format!(
            "picked up from uid {uid}, from {}",
            bracket(s("from").unwrap_or_default())
        );
    }
    if let Some(n) = s("notification_id") {
        return format!(
            "{} notification queued as {n}",
            s("notification").unwrap_or("bounce")
        );
    }
    match (s("to"), s("status")) {
        (_, Some("removed")) => return "removed from the queue".into(),
        (_, Some("expired")) => return "expired, returned to sender".into(),
        (Some(to), Some(status)) => {
            let mut w = format!("{status} to {}", bracket(to));
            if let Some(o) = s("orig_to") {
                w.push_str(&format!(" (was {})", bracket(o)));
            }
            if let Some(r) = s("relay") {
                w.push_str(&format!(" via {r}"));
            }
            if let Some(d) = s("dsn") {
                w.push_str(&format!(", dsn {d}"));
            }
            if let Some(d) = num(e, "delay") {
                w.push_str(&format!(", delay {d}s"));
            }
            if let Some(t) = s("status_text") {
                w.push_str(&format!(": {t}"));
            }
            return w;
        }
        _ => {}
    }
    match str_field(e, "category") {
        Some("lmtp") if s("message_id").is_some() => {
            return format!(
                "LMTP delivery from {}: {} recipient(s), {} bytes",
                bracket(s("from").unwrap_or_default()),
                num(e, "nrcpt").unwrap_or_else(|| "?".into()),
                num(e, "size").unwrap_or_else(|| "?".into())
            );
        }
        Some("mailop") if s("folder").is_some() => {
            let who = s("to").or(s("account")).unwrap_or("?");
            return format!(
                "added to {who}'s {} (item {})",
                s("folder").unwrap_or_default(),
                num(e, "item_id").unwrap_or_else(|| "?".into())
            );
        }
        Some("smtp") if s("relay").is_some() => {
            return format!(
                "sent by {} to the MTA at {}",
                s("from").unwrap_or("?"),
                s("relay").unwrap_or_default()
            );
        }
        _ => {}
    }
    if let Some(m) = s("message_id") {
        return format!("message-id {m}");
    }
    if let Some(f) = s("from") {
        let mut w = format!("queued from {}", bracket(f));
        if let Some(n) = num(e, "size") {
            w.push_str(&format!(", {n} bytes"));
        }
        if let Some(n) = num(e, "nrcpt") {
            w.push_str(&format!(", {n} recipient(s)"));
        }
        return w;
    }
    e.message.clone()
}

/// The relay's host name: `mbox1.example.com[10.0.0.21]:7025` -> `mbox1.example.com`.
fn relay_host(relay: &str) -> &str {
    relay.split('[').next().unwrap_or(relay)
}

/// Each recipient's last word, by time: a delivery into a mailbox stays; otherwise the latest
/// delivery attempt says it (a `sent` into the content filter, followed by nothing, is still
/// `queued`).
fn recipients<'a>(events: impl Iterator<Item = &'a Event>, queued: bool) -> Vec<RecipientStatus> {
    let mut by_addr: BTreeMap<String, RecipientStatus> = BTreeMap::new();
    let mut expired_at = None;
    let mut queues_seen: Vec<String> = Vec::new();
    let events: Vec<&Event> = events.collect();
    for e in &events {
        if let Some(q) = str_field(e, "queue_id") {
            queues_seen.push(q.to_owned());
        }
    }
    for e in events {
        let s = |k| str_field(e, k).map(str::to_owned);
        if str_field(e, "status") == Some("expired") {
            expired_at = Some(e.ts);
            continue;
        }
        if str_field(e, "verdict") == Some("Blocked") {
            for to in strs(e.fields.get("to")) {
                by_addr.insert(
                    to.to_ascii_lowercase(),
                    RecipientStatus {
                        address: to.to_owned(),
                        status: "blocked".into(),
                        ts: e.ts,
                        host: Some(e.host.to_string()),
                        folder: None,
                        dsn: None,
                        detail: s("content").map(|c| format!("{c} (content filter)")),
                    },
                );
            }
            continue;
        }
        let Some(to) = s("to") else { continue };
        let key = to.to_ascii_lowercase();
        if str_field(e, "category") == Some("mailop") {
            by_addr.insert(
                key,
                RecipientStatus {
                    address: to,
                    status: "delivered".into(),
                    ts: e.ts,
                    host: Some(e.host.to_string()),
                    folder: s("folder"),
                    dsn: None,
                    detail: None,
                },
            );
            continue;
        }
        let Some(status) = s("status") else { continue };
        if by_addr
            .get(&key)
            .is_some_and(|r| r.status == "delivered" || r.status == "blocked")
        {
            continue;
        }
        let handed_on = s("queued_as").is_some_and(|q| queues_seen.contains(&q));
        let status = match status.as_str() {
            // Into the content filter or the next MTA of the fleet: what happens there says more;
            // until it does, the message is still on its way.
            "sent" if handed_on => "queued".to_owned(),
            other => other.to_owned(),
        };
        by_addr.insert(
            key,
            RecipientStatus {
                address: to,
                status,
                ts: e.ts,
                host: s("relay").map(|r| relay_host(&r).to_owned()),
                folder: None,
                dsn: s("dsn"),
                detail: s("status_text"),
            },
        );
    }
    let mut out: Vec<RecipientStatus> = by_addr.into_values().collect();
    for r in &mut out {
        if r.status == "deferred" && expired_at.is_some_and(|t| t >= r.ts) {
            r.status = "expired".into();
        } else if r.status == "deferred" && !queued {
            // Deferred and then gone from the queue without another word: say what is known.
            r.detail = r
                .detail
                .take()
                .map(|d| format!("{d} (no later attempt logged)"));
        }
    }
    out
}

fn summary(recipients: &[RecipientStatus], queued: bool) -> String {
    let mut statuses: Vec<&str> = recipients.iter().map(|r| r.status.as_str()).collect();
    statuses.sort();
    statuses.dedup();
    match statuses.as_slice() {
        [] if queued => "queued".into(),
        [] => "unknown".into(),
        [one] => (*one).to_owned(),
        _ => "mixed".into(),
    }
}
