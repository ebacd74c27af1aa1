//! `MailRelayDeferring [host, relay]`: the other half of "mail stuck in the deferred queue".
//! `MailDeferred` fires for one message deferred too long; this one fires when postfix on one
//! host defers many deliveries to one relay within a short window (a remote MX refusing or
//! timing out, a mailbox server's LMTP down, a provider rate-limiting us), long before any
//! single message has waited `deferred_after`.
//!
//! Every postfix delivery line (`smtp`, `lmtp`, ... with `status=deferred`) counts once for its
//! host and relay, over a sliding window of event time ([`super::window`]). The relay is the
//! host name of postfix's `relay=` (`mx.example.net[203.0.113.5]:25` -> `mx.example.net`, so
//! the addresses of one MX count together); when postfix could not reach any (`relay=none`),
//! the host it tried, from the reason (`connect to mx.example.net[...]:25: Connection timed
//! out`); `none` when the reason names none either (a DNS failure). It fires at
//! `relay_deferrals` in `relay_deferral_window` and resolves when the count in the window drops
//! below that again (the window empties by itself on the engine's tick when deferrals stop).

use chrono::{DateTime, Duration, Utc};
use logwarden_core::Event;
use logwarden_core::wire::AlertSeverity::Warning;
use serde_json::Value;

use super::alert::{Signal, labels};
use super::builtin::{CountState, Counts};
use super::window::Window;

pub const NAME: &str = "MailRelayDeferring";

/// Per (host, relay): its labels, its window and whether it fires.
#[derive(Debug, Default)]
pub struct RelayDeferrals {
    counts: Counts,
}

fn field<'a>(ev: &'a Event, k: &str) -> Option<&'a str> {
    ev.fields.get(k).and_then(Value::as_str)
}

/// The relay a deferral counts for (see the module doc).
pub fn relay_of(relay: Option<&str>, reason: Option<&str>) -> String {
    let name = |s: &str| {
        s.split(['[', ':'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    if let Some(r) = relay.map(name).filter(|r| !r.is_empty() && r != "none") {
        return r;
    }
    reason
        .and_then(|t| t.split_once("connect to "))
        .map(|(_, rest)| name(rest))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "none".to_owned())
}

impl RelayDeferrals {
    /// Counts a postfix deferral; fires when its (host, relay) reaches `threshold` in `span`.
    pub fn on_event(
        &mut self,
        ev: &Event,
        received: DateTime<Utc>,
        (threshold, span): (u64, Duration),
        out: &mut Vec<Signal>,
    ) {
        if !ev.app.starts_with("postfix") || field(ev, "status") != Some("deferred") {
            return;
        }
        let relay = relay_of(field(ev, "relay"), field(ev, "status_text"));
        let (l, w, firing) = self
            .counts
            .entry(format!("{}\u{1}{relay}", ev.host))
            .or_insert_with(|| {
                let l = labels([("host", ev.host.as_str()), ("relay", relay.as_str())]);
                (l, Window::new(span), false)
            });
        let count = w.add(ev.ts, received, 1);
        if count < threshold || *firing {
            return;
        }
        *firing = true;
        let mut sig = Signal::fire(
            NAME,
            l.clone(),
            Warning,
            format!(
                "{count} deliveries from {} to {relay} deferred within {}: {}",
                ev.host,
                logwarden_core::config_duration::format(span.to_std().unwrap_or_default()),
                field(ev, "status_text").unwrap_or("no reason logged")
            ),
        );
        if let Some(f) = sig.firing.as_mut() {
            for k in ["queue_id", "to", "dsn"] {
                if let Some(v) = field(ev, k) {
                    f.annotations.insert(format!("last_{k}"), v.to_owned());
                }
            }
        }
        out.push(sig);
    }

    /// Windows emptied by time: those below `threshold` again resolve.
    pub fn on_tick(&mut self, now: DateTime<Utc>, threshold: u64, out: &mut Vec<Signal>) {
        self.counts.retain(|_, (l, w, firing)| {
            let left = w.expire(now);
            if *firing && left < threshold {
                *firing = false;
                out.push(Signal::clear(NAME, l.clone()));
            }
            !w.is_empty() || *firing
        });
    }

    /// What the rules snapshot keeps (sorted: one state, one byte string).
    pub fn save(&self) -> Vec<CountState> {
        CountState::save_all(&self.counts)
    }

    /// Takes back what [`RelayDeferrals::save`] kept, with the span the config gives now.
    pub fn restore(saved: Vec<CountState>, span: Duration) -> RelayDeferrals {
        RelayDeferrals {
            counts: CountState::restore_all(saved, span),
        }
    }

    /// Drops a retired host's counts (`logwarden fleet forget`).
    pub fn forget_host(&mut self, host: &str) {
        self.counts
            .retain(|_, (l, _, _)| l.get("host").map(String::as_str) != Some(host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_is_the_host_postfix_delivered_to_or_tried() {
        assert_eq!(
            relay_of(Some("MX.Example.net[203.0.113.5]:25"), None),
            "mx.example.net"
        );
        assert_eq!(
            relay_of(
                Some("none"),
                Some("connect to mx.remote.example.net[198.51.100.7]:25: Connection timed out")
            ),
            "mx.remote.example.net"
        );
        assert_eq!(
            relay_of(Some("none"), Some("Host or domain name not found")),
            "none"
        );
        assert_eq!(relay_of(None, None), "none");
    }

    fn deferral(host: &str, relay: &str, ts: DateTime<Utc>) -> Event {
        let id = logwarden_core::EventId::new(host, 1);
        let mut ev = Event::log(id, ts, host, "lab", "/var/log/zimbra.log", "x".into());
        ev.app = "postfix/smtp".into();
        ev.received = Some(ts);
        ev.fields.insert("status".into(), "deferred".into());
        ev.fields.insert("relay".into(), relay.into());
        ev
    }

    #[test]
    fn fires_at_the_threshold_per_host_and_relay_and_resolves_when_the_window_empties() {
        let t0 = Utc::now();
        let cfg = (3, Duration::minutes(10));
        let mut r = RelayDeferrals::default();
        let mut out = Vec::new();
        for i in 0..2 {
            let at = t0 + Duration::seconds(i);
            r.on_event(
                &deferral("mta1", "mx.a.example[1.2.3.4]:25", at),
                at,
                cfg,
                &mut out,
            );
            r.on_event(
                &deferral("mta1", "mx.b.example[1.2.3.5]:25", at),
                at,
                cfg,
                &mut out,
            );
            r.on_event(
                &deferral("mta2", "mx.a.example[1.2.3.4]:25", at),
                at,
                cfg,
                &mut out,
            );
        }
        assert!(out.is_empty(), "two each: {out:?}");
        let at = t0 + Duration::seconds(5);
        r.on_event(
            &deferral("mta1", "mx.a.example[9.9.9.9]:25", at),
            at,
            cfg,
            &mut out,
        );
        r.on_event(
            &deferral("mta1", "mx.a.example[1.2.3.4]:25", at),
            at,
            cfg,
            &mut out,
        );
        assert_eq!(out.len(), 1, "fires once: {out:?}");
        assert_eq!(out[0].name, NAME);
        assert_eq!(
            out[0].labels,
            labels([("host", "mta1"), ("relay", "mx.a.example")])
        );
        out.clear();
        let saved = r.save();
        let mut r = RelayDeferrals::restore(saved, cfg.1);
        r.on_tick(t0 + Duration::minutes(5), cfg.0, &mut out);
        assert!(out.is_empty(), "still in the window");
        r.on_tick(t0 + Duration::minutes(11), cfg.0, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].firing.is_none(), "resolves");
        assert!(r.save().is_empty(), "emptied windows are dropped");
    }
}
