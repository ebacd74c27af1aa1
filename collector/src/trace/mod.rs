//! Mail tracing: `GET /api/v1/trace?q=...` follows a message across the fleet from the fields
//! the parsers read out of postfix, amavis and Zimbra's mailbox log (docs/parsers.md, "Mail
//! delivery").
//!
//! - [`field`]: reading a parser's field off an event (for [`follow`], [`timeline`] and this file).
//! - [`lookup`]: index lookups by one field's value, checked exactly.
//! - [`follow`]: from a starting point to every queue, host and mailbox the message reached.
//! - [`timeline`]: the hops in words and each recipient's final status.
//!
//! `q` is read as a message-id when it is `<...>`, as an address when it holds an `@` (and, when
//! no address matches, as a message-id pasted without its `<>`), and as a queue id when it is 5
//! to 20 letters and digits; anything else is refused (400). A queue id
//! may name several messages over time (ids are reused once a message leaves the queue): each
//! is its own answer. An address lists the messages from or to it, newest first.

pub mod field;
pub mod follow;
pub mod lookup;
pub mod timeline;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use logwarden_core::Event;
use logwarden_core::trace::{
    DEFAULT_TRACE_LIMIT, MAX_TRACE_LIMIT, TraceParams, TraceResponse, TraceTarget, TracedMessage,
};

use crate::index::Catalog;
use crate::search::SearchError;
use crate::search::time::parse_time;
use field::str_field;
use follow::{Follower, Found};
use lookup::{Lookup, Range};

/// How far back a trace looks when not told (`since`): from `until`, or from now.
pub const DEFAULT_SINCE_DAYS: i64 = 30;

/// What `q` is, or why it is none of them.
pub fn classify(q: &str) -> Result<TraceTarget, String> {
    let bad = |why: &str| {
        Err(format!(
            "{q:?} is not a queue id (5-20 letters and digits), a message-id (<...>) or an address (user@domain): {why}"
        ))
    };
    if q.is_empty() {
        return bad("it is empty");
    }
    if q.len() > 998 {
        return bad("it is longer than a header line may be");
    }
    if q.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return bad("it holds spaces, quotes or control characters");
    }
    if q.starts_with('<') {
        if q.len() > 2 && q.ends_with('>') && !q[1..q.len() - 1].contains(['<', '>']) {
            return Ok(TraceTarget::MessageId);
        }
        return bad("a message-id is written <id@host>");
    }
    if let Some((local, domain)) = q.rsplit_once('@') {
        if !local.is_empty() && !domain.is_empty() && !q.contains(['<', '>']) {
            return Ok(TraceTarget::Address);
        }
        return bad("an address is user@domain");
    }
    if (5..=20).contains(&q.len()) && q.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(TraceTarget::QueueId);
    }
    bad("no such form")
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// `q`, `since`, `until` or `limit` is not acceptable (400).
    #[error("{0}")]
    BadParam(String),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Runs one trace.
pub fn trace(
    catalog: Arc<Catalog>,
    params: &TraceParams,
    now: DateTime<Utc>,
) -> Result<TraceResponse, TraceError> {
    let started = Instant::now();
    let q = params.q.trim();
    let mut target = classify(q).map_err(TraceError::BadParam)?;
    let limit = params.limit.unwrap_or(DEFAULT_TRACE_LIMIT);
    if limit == 0 || limit > MAX_TRACE_LIMIT {
        return Err(TraceError::BadParam(format!(
            "limit {limit} is not between 1 and {MAX_TRACE_LIMIT}"
        )));
    }
    let time = |s: &Option<String>| {
        s.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_time(s, now).map_err(TraceError::BadParam))
            .transpose()
    };
    let until = time(&params.until)?;
    let since =
        time(&params.since)?.unwrap_or(until.unwrap_or(now) - Duration::days(DEFAULT_SINCE_DAYS));
    if until.is_some_and(|u| u <= since) {
        return Err(TraceError::BadParam(format!(
            "since {since} is not before until {}",
            until.unwrap_or_default()
        )));
    }
    let seed_range = Range {
        since: Some(since),
        until,
    };
    // A message found in the range is followed a day before it (its first queue) and a week
    // after (retries, the mailbox).
    let follow_range = Range {
        since: Some(since - Duration::days(1)),
        until: until.map(|u| u + Duration::days(7)),
    };
    let on_host = |e: &Event| {
        params
            .host
            .as_deref()
            .is_none_or(|h| e.host.eq_ignore_ascii_case(h))
    };

    let mut lookup = Lookup::new(catalog);
    // Seeds: the events the query names, newest first.
    let mut seeds: Vec<Event> = match target {
        TraceTarget::QueueId => lookup.by_field("queue_id", q, seed_range)?,
        TraceTarget::MessageId => lookup.by_field("message_id", q, seed_range)?,
        TraceTarget::Address => {
            let mut all = Vec::new();
            for field in ["from", "to", "orig_to"] {
                all.extend(lookup.by_field(field, q, seed_range)?);
            }
            if all.is_empty() {
                // A message-id pasted without its <>.
                all = lookup.by_field("message_id", &format!("<{q}>"), seed_range)?;
                if !all.is_empty() {
                    target = TraceTarget::MessageId;
                }
            }
            all
        }
    };
    seeds.retain(on_host);
    seeds.sort_by_key(|e| std::cmp::Reverse(e.ts));

    let mut follower = Follower::new(&mut lookup, follow_range);
    let mut messages: Vec<(TracedMessage, Found)> = Vec::new();
    let mut truncated = false;
    for seed in &seeds {
        let id = seed.id.to_string();
        if messages.iter().any(|(_, f)| f.has_event(&id)) {
            continue;
        }
        if messages.len() == limit {
            truncated = true;
            break;
        }
        let found = follow_seed(&mut follower, seed)?;
        if let Some(m) = timeline::assemble(found.clone()) {
            messages.push((m, found));
        }
    }
    truncated |= follower.truncated();
    let mut messages: Vec<TracedMessage> = messages.into_iter().map(|(m, _)| m).collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.first_seen));
    Ok(TraceResponse {
        query: q.to_owned(),
        target,
        messages,
        truncated,
        took_us: started.elapsed().as_micros() as u64,
    })
}

/// The message a seed event belongs to.
fn follow_seed(follower: &mut Follower<'_>, seed: &Event) -> Result<Found, SearchError> {
    let is_verdict = seed.fields.contains_key("verdict");
    if !is_verdict && let Some(qid) = str_field(seed, "queue_id") {
        let inst = follower
            .queue(qid)?
            .0
            .iter()
            .find(|i| {
                i.host.eq_ignore_ascii_case(&seed.host) && i.events.iter().any(|e| e.id == seed.id)
            })
            .cloned();
        if let Some(inst) = inst {
            return follower.from_instance(inst);
        }
    }
    if let Some(mid) = str_field(seed, "message_id") {
        return follower.from_message_id(mid);
    }
    // A line with neither (a rejected RCPT): a message of its own.
    Ok(Found {
        instances: Vec::new(),
        others: vec![(seed.clone(), follow::Role::Message)],
    })
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
