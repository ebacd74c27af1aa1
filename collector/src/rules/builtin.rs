//! The built-in rules (PRODUCT.md, "Alerts"; every one is described in docs/alerts.md).
//!
//! Health records are snapshots of one thing (an array, a disk, a file system, a backup pair),
//! so each record yields a verdict, firing or clear, for every alert about that thing: a clean
//! array clears `RaidArrayDegraded` as surely as a degraded one fires it. Log rules fire on the
//! line that shows the problem and clear on the line that shows it gone (zimbramon's `Running`),
//! or after a quiet period when the logs never say so. Rate rules count over a sliding window of
//! event time ([`super::window`]). `AgentSilent` is the one rule of the collector's clock: it
//! fires when a host that sent heartbeats has sent none for three intervals.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use logwarden_core::wire::AlertSeverity::{Critical, Info, Warning};
use logwarden_core::{Event, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alert::{Signal, labels};
use super::relay_deferrals::RelayDeferrals;
use super::window::{Window, WindowState};

/// The built-in rules' state ([`Builtins::save`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuiltinsState {
    pub heartbeats: Vec<HeartbeatState>,
    /// Per account.
    pub deletes: Vec<CountState>,
    /// Per source IP.
    pub auth: Vec<CountState>,
    pub quiet: Vec<QuietState>,
    /// Per (host, relay): `MailRelayDeferring` (rules::relay_deferrals).
    #[serde(default)]
    pub relay_deferrals: Vec<CountState>,
}

/// A host that sent heartbeats: when it last did, and whether `AgentSilent` fires for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatState {
    pub host: String,
    pub site: String,
    pub last: DateTime<Utc>,
    pub silent: bool,
}

/// A rate count of a built-in rule: its key (account, IP), labels, window and whether it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountState {
    pub key: String,
    pub labels: BTreeMap<String, String>,
    pub window: WindowState,
    pub firing: bool,
}

/// The rate counts of one built-in rule by key: labels, window and whether it fires.
pub type Counts = HashMap<String, (BTreeMap<String, String>, Window, bool)>;

impl CountState {
    /// Every count of `counts`, sorted by key (one state, one byte string).
    pub fn save_all(counts: &Counts) -> Vec<CountState> {
        let mut v: Vec<CountState> = counts
            .iter()
            .map(|(key, (labels, w, firing))| CountState {
                key: key.clone(),
                labels: labels.clone(),
                window: w.save(),
                firing: *firing,
            })
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Takes back what [`CountState::save_all`] kept, with the span the config gives now.
    pub fn restore_all(saved: Vec<CountState>, span: Duration) -> Counts {
        saved
            .into_iter()
            .map(|c| (c.key, (c.labels, Window::restore(span, c.window), c.firing)))
            .collect()
    }
}

/// A firing log alert that resolves after a quiet period, and when its last line came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuietState {
    pub signal: Signal,
    pub last: DateTime<Utc>,
}

/// `MailDeferred` resolves after this long without a deferral of that host and domain: twice
/// postfix's longest retry interval (`maximal_backoff_time`, 4000 s), so that a queue still
/// retrying keeps it firing between attempts.
const DEFERRED_QUIET: Duration = Duration::seconds(8000);

/// The span `mass_delete_per_minute` counts over.
const DELETE_WINDOW: Duration = Duration::seconds(60);

/// The thresholds of the built-in rules (`[alerts]` in the config).
#[derive(Debug, Clone)]
pub struct BuiltinSettings {
    pub fs_warn_percent: f64,
    pub fs_crit_percent: f64,
    /// The agents' heartbeat interval; `AgentSilent` fires after `silent_intervals` of them.
    pub heartbeat_interval: Duration,
    pub silent_intervals: u32,
    /// Deletes (moves to Trash, expunges) per account per minute.
    pub mass_delete_per_minute: u64,
    /// Failed authentications per source IP within `auth_window`.
    pub auth_failures: u64,
    pub auth_window: Duration,
    /// A log alert that no line clears (`MailQueueDown`, `LdapUnreachable`) resolves after this
    /// long without another line saying the same.
    pub log_quiet: Duration,
    /// `MailDeferred`: a message still deferred this long after it arrived (postfix's `delay`).
    pub deferred_after: Duration,
    /// `MailRelayDeferring`: this many deferrals by one host to one relay within
    /// `relay_deferral_window`.
    pub relay_deferrals: u64,
    pub relay_deferral_window: Duration,
}

impl BuiltinSettings {
    /// The longest span of the past any built-in rule looks at: its windows, its quiet
    /// periods and the silence of agents (`rules::engine::shared`'s start without a snapshot).
    pub fn longest_span(&self) -> Duration {
        [
            DEFERRED_QUIET,
            DELETE_WINDOW,
            self.log_quiet,
            self.auth_window,
            self.relay_deferral_window,
            self.heartbeat_interval * self.silent_intervals as i32,
        ]
        .into_iter()
        .max()
        .unwrap_or(DEFERRED_QUIET)
    }
}

impl Default for BuiltinSettings {
    fn default() -> BuiltinSettings {
        BuiltinSettings {
            fs_warn_percent: 85.0,
            fs_crit_percent: 95.0,
            heartbeat_interval: Duration::seconds(30),
            silent_intervals: 3,
            mass_delete_per_minute: 1000,
            auth_failures: 20,
            auth_window: Duration::seconds(300),
            log_quiet: Duration::seconds(600),
            deferred_after: Duration::seconds(3600),
            relay_deferrals: 20,
            relay_deferral_window: Duration::minutes(10),
        }
    }
}

/// The state of the built-in rules between events.
pub struct Builtins {
    cfg: BuiltinSettings,
    /// When this engine started: a host is not called silent for the time the collector was down.
    started: DateTime<Utc>,
    /// host -> (site, last heartbeat received, AgentSilent firing).
    heartbeats: HashMap<String, (String, DateTime<Utc>, bool)>,
    /// account -> deletes.
    deletes: Counts,
    /// source IP -> failed authentications.
    auth: Counts,
    /// Firing log alerts cleared by quiet: key -> (signal, last line received).
    quiet: HashMap<String, (Signal, DateTime<Utc>)>,
    relay_deferrals: RelayDeferrals,
}

fn s<'a>(ev: &'a Event, k: &str) -> Option<&'a str> {
    ev.fields.get(k).and_then(Value::as_str)
}

fn n(ev: &Event, k: &str) -> Option<f64> {
    ev.fields.get(k).and_then(Value::as_f64)
}

fn summary_or(ev: &Event, fallback: String) -> String {
    if ev.message.is_empty() {
        fallback
    } else {
        format!("{} on {}", ev.message, ev.host)
    }
}

impl Builtins {
    pub fn new(cfg: BuiltinSettings, started: DateTime<Utc>) -> Builtins {
        Builtins {
            cfg,
            started,
            heartbeats: HashMap::new(),
            deletes: HashMap::new(),
            auth: HashMap::new(),
            quiet: HashMap::new(),
            relay_deferrals: RelayDeferrals::default(),
        }
    }

    /// What the rules snapshot keeps: everything the events made (not `started`, which is this
    /// process's own, nor the thresholds, which come from the config). Sorted, so that the same
    /// state always gives the same bytes.
    pub fn save(&self) -> BuiltinsState {
        let mut heartbeats: Vec<HeartbeatState> = self
            .heartbeats
            .iter()
            .map(|(host, (site, last, silent))| HeartbeatState {
                host: host.clone(),
                site: site.clone(),
                last: *last,
                silent: *silent,
            })
            .collect();
        heartbeats.sort_by(|a, b| a.host.cmp(&b.host));
        let mut quiet: Vec<QuietState> = self
            .quiet
            .values()
            .map(|(signal, last)| QuietState {
                signal: signal.clone(),
                last: *last,
            })
            .collect();
        quiet.sort_by_key(|q| q.signal.key());
        BuiltinsState {
            heartbeats,
            deletes: CountState::save_all(&self.deletes),
            auth: CountState::save_all(&self.auth),
            quiet,
            relay_deferrals: self.relay_deferrals.save(),
        }
    }

    /// New thresholds from a config reload; what the events made is kept (windows take the new
    /// spans, as at a restart).
    pub fn reconfigure(&mut self, cfg: BuiltinSettings) {
        let saved = self.save();
        self.cfg = cfg;
        self.restore(saved);
    }

    /// Takes back what [`Builtins::save`] kept; windows get the spans the config gives now.
    pub fn restore(&mut self, saved: BuiltinsState) {
        self.heartbeats = saved
            .heartbeats
            .into_iter()
            .map(|h| (h.host, (h.site, h.last, h.silent)))
            .collect();
        self.deletes = CountState::restore_all(saved.deletes, DELETE_WINDOW);
        self.auth = CountState::restore_all(saved.auth, self.cfg.auth_window);
        // Keyed as `services` keys them: by the alert the signal is about.
        self.quiet = saved
            .quiet
            .into_iter()
            .map(|q| (q.signal.key(), (q.signal, q.last)))
            .collect();
        self.relay_deferrals =
            RelayDeferrals::restore(saved.relay_deferrals, self.cfg.relay_deferral_window);
    }

    /// Drops what the rules keep of a host retired with `logwarden fleet forget`: its
    /// heartbeats (so no `AgentSilent` until it sends one again) and its quiet log alerts.
    pub fn forget_host(&mut self, host: &str) {
        self.heartbeats.remove(host);
        self.quiet
            .retain(|_, (sig, _)| sig.labels.get("host").map(String::as_str) != Some(host));
        self.relay_deferrals.forget_host(host);
    }

    /// The verdicts one event gives.
    pub fn on_event(&mut self, ev: &Event, out: &mut Vec<Signal>) {
        let received = ev.received.unwrap_or(ev.ts);
        match ev.kind {
            Kind::Heartbeat => {
                let e = self
                    .heartbeats
                    .entry(ev.host.to_string())
                    .or_insert_with(|| (ev.site.to_string(), received, false));
                e.1 = e.1.max(received);
                if e.2 {
                    e.2 = false;
                    out.push(Signal::clear("AgentSilent", labels([("host", &ev.host)])));
                }
            }
            Kind::Health => match s(ev, "check") {
                Some("raid") => raid(ev, out),
                Some("hwraid") => hwraid(ev, out),
                Some("smart") => smart(ev, out),
                Some("backup") => backup(ev, out),
                Some("filesystem") => self.filesystem(ev, out),
                Some("redfish") => bmc(ev, out),
                _ => {}
            },
            Kind::Log => {
                self.services(ev, received, out);
                self.mail_deferred(ev, received, out);
                let relay = (self.cfg.relay_deferrals, self.cfg.relay_deferral_window);
                self.relay_deferrals.on_event(ev, received, relay, out);
                self.auth_failure(ev, received, out);
                self.mass_delete(ev, received, out);
            }
        }
    }

    /// The verdicts the passing of time gives: windows that emptied, quiet log alerts, silent
    /// agents.
    pub fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Signal>) {
        let silent_after = self.cfg.heartbeat_interval * self.cfg.silent_intervals as i32;
        for (host, (site, last, firing)) in self.heartbeats.iter_mut() {
            let since = (*last).max(self.started);
            if !*firing && now - since > silent_after {
                *firing = true;
                out.push(Signal::fire(
                    "AgentSilent",
                    labels([("host", host)]),
                    Critical,
                    format!(
                        "no heartbeat from the agent on {host} (site {site}) since {}",
                        last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
        }
        for (name, map) in [
            ("MassMailboxDelete", &mut self.deletes),
            ("AuthBruteForce", &mut self.auth),
        ] {
            map.retain(|_, (l, w, firing)| {
                let left = w.expire(now);
                let threshold = if name == "MassMailboxDelete" {
                    self.cfg.mass_delete_per_minute
                } else {
                    self.cfg.auth_failures
                };
                if *firing && left < threshold {
                    *firing = false;
                    out.push(Signal::clear(name, l.clone()));
                }
                !w.is_empty() || *firing
            });
        }
        self.relay_deferrals
            .on_tick(now, self.cfg.relay_deferrals, out);
        let log_quiet = self.cfg.log_quiet;
        self.quiet.retain(|_, (sig, last)| {
            let quiet = if sig.name == "MailDeferred" {
                DEFERRED_QUIET
            } else {
                log_quiet
            };
            if now - *last > quiet {
                out.push(Signal::clear(&sig.name, sig.labels.clone()));
                false
            } else {
                true
            }
        });
    }

    fn filesystem(&self, ev: &Event, out: &mut Vec<Signal>) {
        let Some(mount) = s(ev, "mount") else { return };
        let used = n(ev, "used_percent").unwrap_or(0.0);
        let inodes = n(ev, "inodes_used_percent").unwrap_or(0.0);
        let worst = used.max(inodes);
        let what = if inodes > used { "inodes" } else { "space" };
        let sev = if worst >= self.cfg.fs_crit_percent {
            Some(Critical)
        } else if worst >= self.cfg.fs_warn_percent {
            Some(Warning)
        } else {
            None
        };
        out.push(Signal::when(
            sev.map(|s| {
                (
                    s,
                    format!("{mount} on {} at {worst:.0}% {what} used", ev.host),
                )
            }),
            "FilesystemFull",
            labels([("host", &ev.host), ("mount", mount)]),
        ));
    }

    /// `ZimbraServiceDown`, `MailQueueDown`, `LdapUnreachable` from zimbramon, postfix and slapd.
    fn services(&mut self, ev: &Event, received: DateTime<Utc>, out: &mut Vec<Signal>) {
        let (Some(service), Some(status)) = (s(ev, "service"), s(ev, "status")) else {
            return;
        };
        let up = matches!(status, "running" | "starting");
        if ev.app == "zimbramon" && matches!(status, "running" | "stopped") {
            let l = labels([("host", &ev.host), ("service", service)]);
            out.push(Signal::when(
                (status == "stopped").then(|| {
                    (
                        Critical,
                        format!("Zimbra service {service} stopped on {}", ev.host),
                    )
                }),
                "ZimbraServiceDown",
                l,
            ));
        }
        let log_alert = match (service, status) {
            ("mta", "down") => Some("MailQueueDown"),
            ("ldap", "unreachable") => Some("LdapUnreachable"),
            _ => None,
        };
        if let Some(name) = log_alert {
            let sig = Signal::fire(
                name,
                labels([("host", &ev.host)]),
                Critical,
                summary_or(ev, format!("{name} on {}", ev.host)),
            );
            self.quiet.insert(sig.key(), (sig.clone(), received));
            out.push(sig);
        } else if up && matches!(service, "mta" | "ldap") {
            let name = if service == "mta" {
                "MailQueueDown"
            } else {
                "LdapUnreachable"
            };
            let sig = Signal::clear(name, labels([("host", &ev.host)]));
            self.quiet.remove(&sig.key());
            out.push(sig);
        }
    }

    /// `MailDeferred [host, domain]`: postfix still deferring mail to a domain longer than
    /// `deferred_after` after the message arrived (the delivery line's `delay`). Resolves when
    /// that host delivers (or bounces) mail to the domain, or after [`DEFERRED_QUIET`].
    fn mail_deferred(&mut self, ev: &Event, received: DateTime<Utc>, out: &mut Vec<Signal>) {
        if !ev.app.starts_with("postfix") {
            return;
        }
        let (Some(status), Some(to)) = (s(ev, "status"), s(ev, "to")) else {
            return;
        };
        let domain = to
            .rsplit_once('@')
            .map_or("(local)".to_owned(), |(_, d)| d.to_ascii_lowercase());
        let l = labels([("host", ev.host.as_str()), ("domain", domain.as_str())]);
        match status {
            "deferred" => {
                let delay = n(ev, "delay").unwrap_or(0.0);
                if delay < self.cfg.deferred_after.num_seconds() as f64 {
                    return;
                }
                let mut sig = Signal::fire(
                    "MailDeferred",
                    l,
                    Warning,
                    format!(
                        "mail to {domain} deferred on {} for {:.0} min: {}",
                        ev.host,
                        delay / 60.0,
                        s(ev, "status_text").unwrap_or("no reason logged")
                    ),
                );
                if let Some(f) = sig.firing.as_mut() {
                    for k in ["queue_id", "to", "relay", "dsn"] {
                        if let Some(v) = s(ev, k) {
                            f.annotations.insert(k.into(), v.to_owned());
                        }
                    }
                }
                self.quiet.insert(sig.key(), (sig.clone(), received));
                out.push(sig);
            }
            "sent" | "bounced" => {
                let sig = Signal::clear("MailDeferred", l);
                if self.quiet.remove(&sig.key()).is_some() {
                    out.push(sig);
                }
            }
            _ => {}
        }
    }

    fn auth_failure(&mut self, ev: &Event, received: DateTime<Utc>, out: &mut Vec<Signal>) {
        let failed = s(ev, "auth") == Some("failed")
            || (s(ev, "cmd") == Some("Auth") && s(ev, "error").is_some());
        if !failed {
            return;
        }
        let Some(ip) = s(ev, "ip").or_else(|| s(ev, "oip")) else {
            return;
        };
        let span = self.cfg.auth_window;
        let threshold = self.cfg.auth_failures;
        let (l, w, firing) = self
            .auth
            .entry(ip.to_owned())
            .or_insert_with(|| (labels([("ip", ip)]), Window::new(span), false));
        let count = w.add(ev.ts, received, 1);
        if count >= threshold && !*firing {
            *firing = true;
            let mut sig = Signal::fire(
                "AuthBruteForce",
                l.clone(),
                Warning,
                format!(
                    "{count} failed logins from {ip} within {} s (last on {})",
                    span.num_seconds(),
                    ev.host
                ),
            );
            if let (Some(f), Some(account)) = (sig.firing.as_mut(), s(ev, "account")) {
                f.annotations
                    .insert("last_account".into(), account.to_owned());
            }
            out.push(sig);
        }
    }

    fn mass_delete(&mut self, ev: &Event, received: DateTime<Utc>, out: &mut Vec<Signal>) {
        let Some(account) = s(ev, "account") else {
            return;
        };
        let count = deletes_in(&ev.message);
        if count == 0 {
            return;
        }
        let threshold = self.cfg.mass_delete_per_minute;
        let (l, w, firing) = self.deletes.entry(account.to_owned()).or_insert_with(|| {
            (
                labels([("account", account)]),
                Window::new(DELETE_WINDOW),
                false,
            )
        });
        let in_window = w.add(ev.ts, received, count);
        if in_window >= threshold && !*firing {
            *firing = true;
            out.push(Signal::fire(
                "MassMailboxDelete",
                l.clone(),
                Warning,
                format!(
                    "{account} deleted or trashed {in_window} messages within a minute on {}",
                    ev.host
                ),
            ));
        }
    }
}

/// How many messages a mailbox.log line deletes, moves to Trash or expunges.
///
/// `moving Message (id=339) to Folder Trash (id=3)` and `moving 3 Messages (id=1,2,3) to
/// Folder Trash` count their ids; `Deleting items: 5,6.` and `deleting Message (id=5)` likewise;
/// `Emptying 9 items from /Trash` counts 9; `expunged N messages` counts N.
pub fn deletes_in(message: &str) -> u64 {
    let lower = message.to_ascii_lowercase();
    let ids = |m: &str| -> u64 {
        let list = m
            .split_once("(id=")
            .or_else(|| m.split_once("items: "))
            .map(|(_, rest)| rest.split([')', ' ']).next().unwrap_or(""))
            .unwrap_or("");
        let n = list.split(',').filter(|s| !s.trim().is_empty()).count() as u64;
        n.max(1)
    };
    let number_after = |m: &str, word: &str| -> u64 {
        m.split_once(word)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|w| w.parse().ok())
            .unwrap_or(0)
    };
    let trashed = lower.starts_with("moving") && lower.contains("to folder trash");
    if trashed || lower.starts_with("deleting") {
        ids(&lower)
    } else if lower.starts_with("emptying") && lower.contains("/trash") {
        number_after(&lower, "emptying")
    } else if lower.contains("expunged") {
        number_after(&lower, "expunged")
    } else {
        0
    }
}

fn raid(ev: &Event, out: &mut Vec<Signal>) {
    let Some(array) = s(ev, "array") else { return };
    let state = s(ev, "state").unwrap_or("");
    let level = s(ev, "level").unwrap_or("");
    let total = n(ev, "disks_total").unwrap_or(0.0) as i64;
    let working = n(ev, "disks_working").unwrap_or(0.0) as i64;
    let spare = n(ev, "disks_spare").unwrap_or(0.0) as i64;
    let left = n(ev, "redundancy_left").unwrap_or(0.0) as i64;
    let host = ev.host.as_str();
    let l = labels([("host", host), ("array", array)]);
    let gone = ev.fields.get("gone").and_then(Value::as_bool) == Some(true);
    // Storage events from syslog (ESXi, ONTAP) mostly do not know the spares.
    let spares_known = ev.fields.get("spares_known").and_then(Value::as_bool) != Some(false);
    let spares = if !spares_known {
        "spares unknown".to_owned()
    } else if spare == 0 {
        "no spare".to_owned()
    } else {
        format!("{spare} spare")
    };
    let failed = (state == "failed" || (state == "inactive" && level != "container")) && !gone;
    out.push(Signal::when(
        failed.then(|| {
            (
                Critical,
                format!(
                    "{array} on {host} {state}: {level} [{total}/{working}], it serves no data"
                ),
            )
        }),
        "RaidArrayFailed",
        l.clone(),
    ));
    let missing = total > working && !failed && !gone;
    out.push(Signal::when(
        missing.then(|| {
            let sev = if left <= 0 { Critical } else { Warning };
            (
                sev,
                format!(
                    "{array} on {host} degraded: {level} [{total}/{working}], {spares}, {left} redundancy left"
                ),
            )
        }),
        "RaidArrayDegraded",
        l.clone(),
    ));
    let rebuilding = matches!(s(ev, "sync_action"), Some("recovery" | "reshape")) && !gone;
    let mut sig = Signal::when(
        rebuilding.then(|| {
            let pct = n(ev, "sync_percent").unwrap_or(0.0);
            (
                Info,
                format!("{array} on {host} rebuilding: {pct:.1}% done"),
            )
        }),
        "RaidRebuilding",
        l.clone(),
    );
    if let (Some(f), Some(p)) = (sig.firing.as_mut(), n(ev, "sync_percent")) {
        f.annotations.insert("progress".into(), format!("{p:.1}%"));
    }
    out.push(sig);
    let redundant = matches!(
        level,
        "raid1" | "raid4" | "raid5" | "raid6" | "raid10" | "raid_dp" | "raid_tec"
    );
    let no_spare = redundant && spare == 0 && spares_known && !failed && !gone;
    out.push(Signal::when(
        no_spare.then(|| {
            (
                Info,
                format!("{array} on {host} ({level}) has no spare disk"),
            )
        }),
        "RaidNoSpare",
        l,
    ));
}

/// `BmcUnreadable`: a BMC polled over Redfish that could not be read (its volumes' last records
/// stand, so what it would say now is unknown).
fn bmc(ev: &Event, out: &mut Vec<Signal>) {
    let unknown = s(ev, "state") == Some("unknown");
    let reason = s(ev, "reason").unwrap_or("no reason given");
    out.push(Signal::when(
        unknown.then(|| (Warning, format!("BMC {} cannot be read: {reason}", ev.host))),
        "BmcUnreadable",
        labels([("host", &ev.host)]),
    ));
}

fn hwraid(ev: &Event, out: &mut Vec<Signal>) {
    let controller = s(ev, "controller").unwrap_or("");
    let Some(vd) = s(ev, "virtual_drive") else {
        return;
    };
    let state = s(ev, "state").unwrap_or("");
    let sev = match state {
        "offline" | "degraded" => Some(Critical),
        "partially_degraded" | "rebuilding" => Some(Warning),
        _ => None,
    };
    out.push(Signal::when(
        sev.map(|s| {
            (
                s,
                format!(
                    "controller {controller} virtual drive {vd} on {} is {state}",
                    ev.host
                ),
            )
        }),
        "HwRaidDegraded",
        labels([
            ("host", &ev.host),
            ("controller", controller),
            ("virtual_drive", vd),
        ]),
    ));
}

fn smart(ev: &Event, out: &mut Vec<Signal>) {
    let Some(device) = s(ev, "device") else {
        return;
    };
    let verdict = s(ev, "verdict").unwrap_or("ok");
    let reasons = ev
        .fields
        .get("reasons")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let l = labels([("host", &ev.host), ("device", device)]);
    let text = |what: &str| format!("{device} on {} {what}: {reasons}", ev.host);
    out.push(Signal::when(
        (verdict == "failing").then(|| (Critical, text("is failing"))),
        "SmartDiskFailing",
        l.clone(),
    ));
    out.push(Signal::when(
        (verdict == "warning").then(|| (Warning, text("shows wear or errors"))),
        "SmartDiskWarning",
        l,
    ));
}

fn backup(ev: &Event, out: &mut Vec<Signal>) {
    let (Some(b), Some(d)) = (s(ev, "backup_dir"), s(ev, "data_dir")) else {
        return;
    };
    let l = labels([("host", &ev.host), ("backup_dir", b), ("data_dir", d)]);
    let placement = s(ev, "placement").unwrap_or("ok");
    let sev = match placement {
        "same_array" | "same_disk" | "same_filesystem" | "unmounted_target" | "same_filer" => {
            Some(Critical)
        }
        "unknown" => Some(Warning),
        _ => None,
    };
    let reason = s(ev, "placement_reason").unwrap_or("");
    out.push(Signal::when(
        sev.map(|s| {
            (
                s,
                format!(
                    "backups in {b} on {} would die with {d}: {placement} ({reason})",
                    ev.host
                ),
            )
        }),
        "BackupMisplaced",
        l.clone(),
    ));
    let sev = match s(ev, "freshness") {
        Some("stale") => Some(Warning),
        Some("missing") => Some(Critical),
        _ => None,
    };
    let age_h = n(ev, "newest_backup_age_s").map(|a| a / 3600.0);
    out.push(Signal::when(
        sev.map(|s| {
            let age = age_h.map_or("no backup found".to_owned(), |h| {
                format!("newest backup {h:.0} h old")
            });
            (s, format!("backups in {b} on {} are stale: {age}", ev.host))
        }),
        "BackupStale",
        l,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;
    use logwarden_core::wire::AlertSeverity;
    use serde_json::json;

    fn health(fields: serde_json::Value) -> Event {
        let mut e = Event::log(
            EventId::new("a", 1),
            Utc::now(),
            "mbox3",
            "phx",
            "health",
            "m".into(),
        );
        e.kind = Kind::Health;
        e.received = Some(Utc::now());
        e.fields = fields.as_object().unwrap().clone().into();
        e
    }

    fn verdicts(b: &mut Builtins, ev: &Event) -> BTreeMap<String, Option<AlertSeverity>> {
        let mut out = Vec::new();
        b.on_event(ev, &mut out);
        out.into_iter()
            .map(|s| (s.name, s.firing.map(|f| f.severity)))
            .collect()
    }

    fn raid_rec(total: u64, working: u64, left: i64, spare: u64, state: &str) -> Event {
        health(
            json!({"check": "raid", "array": "md2", "level": "raid6", "state": state,
            "disks_total": total, "disks_working": working, "disks_spare": spare,
            "redundancy_left": left, "sync_action": "idle"}),
        )
    }

    #[test]
    fn a_raid6_losing_disks_escalates_from_warning_to_critical_and_clears_when_rebuilt() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let v = verdicts(&mut b, &raid_rec(8, 7, 1, 1, "degraded"));
        assert_eq!(v["RaidArrayDegraded"], Some(Warning));
        assert_eq!(v["RaidArrayFailed"], None);
        let v = verdicts(&mut b, &raid_rec(8, 6, 0, 0, "degraded"));
        assert_eq!(v["RaidArrayDegraded"], Some(Critical));
        assert_eq!(v["RaidNoSpare"], Some(Info));
        let v = verdicts(&mut b, &raid_rec(8, 5, -1, 0, "failed"));
        assert_eq!(v["RaidArrayFailed"], Some(Critical));
        assert_eq!(v["RaidArrayDegraded"], None, "failed, not degraded");
        let v = verdicts(&mut b, &raid_rec(8, 8, 2, 1, "clean"));
        assert!(v.values().all(Option::is_none), "{v:?}");
    }

    #[test]
    fn a_filer_raid_group_without_known_spares_never_raises_no_spare_its_spares_record_does() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let rg = health(
            json!({"check": "raid", "array": "/aggr1/plex0/rg0", "level": "raid_dp",
            "state": "degraded", "disks_total": 2, "disks_working": 1, "disks_spare": 0,
            "spares_known": false, "redundancy_left": 0, "sync_action": "idle"}),
        );
        let v = verdicts(&mut b, &rg);
        assert_eq!(v["RaidArrayDegraded"], Some(Critical));
        assert_eq!(v["RaidNoSpare"], None);
        let spares = health(
            json!({"check": "raid", "array": "spares", "level": "raid_dp", "state": "clean",
            "disks_total": 1, "disks_working": 1, "disks_spare": 0, "spares_known": true,
            "redundancy_left": 1, "sync_action": "idle"}),
        );
        assert_eq!(verdicts(&mut b, &spares)["RaidNoSpare"], Some(Info));
    }

    #[test]
    fn an_unreadable_bmc_warns_until_it_is_read_again() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let rec = |state: &str| {
            health(json!({"check": "redfish", "bmc": "bmc1", "state": state,
                "reason": "GET /redfish/v1: no answer within 5 s"}))
        };
        assert_eq!(
            verdicts(&mut b, &rec("unknown"))["BmcUnreadable"],
            Some(Warning)
        );
        assert_eq!(verdicts(&mut b, &rec("ok"))["BmcUnreadable"], None);
    }

    #[test]
    fn backup_placement_and_freshness_have_their_severities() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let rec = |placement: &str, freshness: &str| {
            health(
                json!({"check": "backup", "backup_dir": "/backup", "data_dir": "/opt/zimbra/store",
                "placement": placement, "freshness": freshness, "newest_backup_age_s": 200000}),
            )
        };
        let v = verdicts(&mut b, &rec("same_array", "ok"));
        assert_eq!(v["BackupMisplaced"], Some(Critical));
        let v = verdicts(&mut b, &rec("same_filer", "ok"));
        assert_eq!(v["BackupMisplaced"], Some(Critical));
        let v = verdicts(&mut b, &rec("unknown", "stale"));
        assert_eq!(v["BackupMisplaced"], Some(Warning));
        assert_eq!(v["BackupStale"], Some(Warning));
        let v = verdicts(&mut b, &rec("ok", "ok"));
        assert_eq!((v["BackupMisplaced"], v["BackupStale"]), (None, None));
    }

    #[test]
    fn filesystem_and_smart_thresholds() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let fs = |used: f64| {
            health(json!({"check": "filesystem", "mount": "/opt", "used_percent": used}))
        };
        assert_eq!(verdicts(&mut b, &fs(84.0))["FilesystemFull"], None);
        assert_eq!(verdicts(&mut b, &fs(85.0))["FilesystemFull"], Some(Warning));
        assert_eq!(
            verdicts(&mut b, &fs(96.0))["FilesystemFull"],
            Some(Critical)
        );
        let smart = |v: &str| health(json!({"check": "smart", "device": "/dev/sda", "verdict": v}));
        let v = verdicts(&mut b, &smart("failing"));
        assert_eq!(
            (v["SmartDiskFailing"], v["SmartDiskWarning"]),
            (Some(Critical), None)
        );
        let v = verdicts(&mut b, &smart("warning"));
        assert_eq!(
            (v["SmartDiskFailing"], v["SmartDiskWarning"]),
            (None, Some(Warning))
        );
    }

    fn log(app: &str, message: &str, fields: serde_json::Value) -> Event {
        let mut e = health(fields);
        e.kind = Kind::Log;
        e.app = app.into();
        e.message = message.into();
        e
    }

    #[test]
    fn zimbra_services_fire_when_stopped_and_clear_when_running() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let st = |status: &str| {
            log(
                "zimbramon",
                "STATUS",
                json!({"service": "mailbox", "status": status}),
            )
        };
        assert_eq!(
            verdicts(&mut b, &st("stopped"))["ZimbraServiceDown"],
            Some(Critical)
        );
        assert_eq!(verdicts(&mut b, &st("running"))["ZimbraServiceDown"], None);
    }

    #[test]
    fn a_queue_down_alert_clears_after_a_quiet_period() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let down = log(
            "postfix/postqueue",
            "fatal: Queue report unavailable - mail system is down",
            json!({"service": "mta", "status": "down"}),
        );
        assert_eq!(verdicts(&mut b, &down)["MailQueueDown"], Some(Critical));
        let mut out = Vec::new();
        b.on_tick(Utc::now() + Duration::seconds(60), &mut out);
        assert!(out.is_empty());
        b.on_tick(Utc::now() + Duration::seconds(601), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].name.as_str(), out[0].firing.is_none()),
            ("MailQueueDown", true)
        );
    }

    #[test]
    fn mail_deferred_fires_past_the_threshold_and_clears_on_delivery_or_quiet() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let line = |status: &str, delay: f64, to: &str| {
            log(
                "postfix/smtp",
                "6C1A2B3C07: to=<...>",
                json!({"queue_id": "6C1A2B3C07", "to": to, "status": status, "delay": delay,
                       "dsn": "4.4.1", "status_text": "connect to mx.remote.example.net[198.51.100.7]:25: Connection timed out"}),
            )
        };
        // Deferred, but not for long yet.
        assert!(
            !verdicts(&mut b, &line("deferred", 30.0, "grace@remote.example.net"))
                .contains_key("MailDeferred")
        );
        let mut out = Vec::new();
        b.on_event(
            &line("deferred", 3700.0, "grace@Remote.example.net"),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].labels,
            labels([("host", "mbox3"), ("domain", "remote.example.net")])
        );
        let f = out[0].firing.as_ref().unwrap();
        assert_eq!(f.severity, Warning);
        let summary = &f.annotations["summary"];
        assert!(
            summary.contains("deferred on mbox3 for 62 min"),
            "{summary}"
        );
        assert_eq!(f.annotations["queue_id"], "6C1A2B3C07");
        // Mail to another domain changes nothing; delivery to this one clears it.
        assert!(
            !verdicts(&mut b, &line("sent", 1.0, "x@other.example")).contains_key("MailDeferred")
        );
        assert_eq!(
            verdicts(&mut b, &line("sent", 4000.0, "grace@remote.example.net"))["MailDeferred"],
            None
        );
        // Fired again, it clears after the quiet period when no line says anything more.
        let mut out = Vec::new();
        b.on_event(&line("deferred", 7200.0, "h@remote.example.net"), &mut out);
        let mut out = Vec::new();
        b.on_tick(Utc::now() + Duration::seconds(4100), &mut out);
        assert!(out.is_empty(), "still within postfix's retry interval");
        b.on_tick(Utc::now() + Duration::seconds(8100), &mut out);
        assert_eq!(
            (out[0].name.as_str(), out[0].firing.is_none()),
            ("MailDeferred", true)
        );
    }

    #[test]
    fn brute_force_counts_failures_per_ip_and_mass_delete_counts_per_account() {
        let mut b = Builtins::new(BuiltinSettings::default(), Utc::now());
        let fail = log(
            "postfix/smtpd",
            "SASL LOGIN authentication failed",
            json!({"auth": "failed", "ip": "203.0.113.9"}),
        );
        let mut out = Vec::new();
        for _ in 0..19 {
            b.on_event(&fail, &mut out);
        }
        assert!(out.is_empty());
        b.on_event(&fail, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels, labels([("ip", "203.0.113.9")]));

        let mv = log(
            "mailbox",
            "moving Message (id=339) to Folder Trash (id=3)",
            json!({"account": "bob@example.com"}),
        );
        let mut out = Vec::new();
        for _ in 0..999 {
            b.on_event(&mv, &mut out);
        }
        assert!(out.is_empty());
        b.on_event(&mv, &mut out);
        assert_eq!(out[0].name, "MassMailboxDelete");
        let mut out = Vec::new();
        b.on_tick(Utc::now() + Duration::seconds(61), &mut out);
        assert!(
            out.iter()
                .any(|s| s.name == "MassMailboxDelete" && s.firing.is_none())
        );
    }

    #[test]
    fn deletes_are_counted_from_mailbox_log_messages() {
        for (m, want) in [
            ("moving Message (id=339) to Folder Trash (id=3)", 1),
            ("moving 3 Messages (id=1,2,3) to Folder Trash (id=3)", 3),
            ("Emptying 9 items from /Trash, removeSubfolders=true.", 9),
            ("Deleting items: 5,6,7.", 3),
            ("moving Message (id=339) to Folder Inbox (id=2)", 0),
            ("expunged 40 messages", 40),
        ] {
            assert_eq!(deletes_in(m), want, "{m}");
        }
    }

    #[test]
    fn an_agent_is_silent_after_three_missed_heartbeats_and_back_with_the_next() {
        let start = Utc::now();
        let mut b = Builtins::new(BuiltinSettings::default(), start);
        let mut hb = health(json!({}));
        hb.kind = Kind::Heartbeat;
        hb.received = Some(start);
        let mut out = Vec::new();
        b.on_event(&hb, &mut out);
        b.on_tick(start + Duration::seconds(89), &mut out);
        assert!(out.is_empty());
        b.on_tick(start + Duration::seconds(91), &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].firing.is_some());
        hb.received = Some(start + Duration::seconds(95));
        b.on_event(&hb, &mut out);
        assert!(out[1].firing.is_none());
    }
}
