//! The routing tree: which receivers an alert reaches, and with which grouping and timers
//! (Alertmanager's `route`).
//!
//! Each [`Route`] has matchers (`name=value`, `name!=value`, `name=~regex`, `name!~regex` over
//! the alert's labels plus `alertname` and `severity`; a regex is anchored at both ends and a
//! missing label is the empty string, as in Alertmanager), a receiver, `continue`, `group_by`
//! and the three timers; a child inherits what it does not set. An alert enters at the root;
//! at each node the children are tried in order and it goes down into each that matches,
//! stopping after the first match unless that child has `continue = true`; a node none of whose
//! children matched is itself where the alert goes (if it has a receiver).
//!
//! The flat form of earlier configs (each receiver with its own `severities` and `matchers`)
//! becomes one child of a receiver-less root per receiver, each with `continue = true`: every
//! receiver whose filters match is told, as before, with the same group keys.
//!
//! Every node with a receiver is an [`Endpoint`]: what the engine schedules and flushes.

use std::collections::BTreeMap;
use std::time::Duration;

use logwarden_core::wire::AlertSeverity;

use super::receiver::Receiver;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

/// One matcher of a route.
#[derive(Debug, Clone)]
pub struct RouteMatcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    re: Option<regex::Regex>,
}

impl PartialEq for RouteMatcher {
    fn eq(&self, o: &RouteMatcher) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl std::str::FromStr for RouteMatcher {
    type Err = String;

    /// `name=value`, `name!=value`, `name=~regex` or `name!~regex` (the silences' syntax,
    /// `wire::Matcher`); the value may be quoted.
    fn from_str(s: &str) -> Result<RouteMatcher, String> {
        let m: logwarden_core::wire::Matcher = s.parse()?;
        let value = m
            .value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&m.value)
            .to_owned();
        let op = match (m.negative, m.regex) {
            (false, false) => Op::Eq,
            (true, false) => Op::Ne,
            (false, true) => Op::Re,
            (true, true) => Op::NotRe,
        };
        let re = match op {
            Op::Re | Op::NotRe => {
                Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    // regex's syntax errors draw a caret over several lines: keep the last
                    // one, which says what is wrong.
                    let e = e.to_string();
                    let why = e
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ");
                    format!("matcher {s:?}: the regex does not compile: {why}")
                })?)
            }
            _ => None,
        };
        Ok(RouteMatcher {
            name: m.name,
            op,
            value,
            re,
        })
    }
}

impl std::fmt::Display for RouteMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

impl From<&logwarden_core::wire::Matcher> for RouteMatcher {
    fn from(m: &logwarden_core::wire::Matcher) -> RouteMatcher {
        RouteMatcher {
            name: m.name.clone(),
            op: if m.negative { Op::Ne } else { Op::Eq },
            value: m.value.clone(),
            re: None,
        }
    }
}

impl RouteMatcher {
    /// Whether the label (absent: the empty string) satisfies this matcher.
    pub fn matches(&self, label: Option<&str>) -> bool {
        let v = label.unwrap_or("");
        match (self.op, &self.re) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::NotRe, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }
}

/// Grouping and timers of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

/// A route as configured, before it is checked and flattened into a [`RouteTree`]. `None`
/// fields are inherited from the parent.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub receiver: Option<String>,
    pub matchers: Vec<RouteMatcher>,
    /// Only alerts of these severities (the flat form's `severities`); empty: all.
    pub severities: Vec<AlertSeverity>,
    pub continue_: bool,
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<Duration>,
    pub group_interval: Option<Duration>,
    pub repeat_interval: Option<Duration>,
    pub routes: Vec<Route>,
}

/// A receiver as reached through one route: what the engine flushes groups for.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Index into the receivers the tree was built with.
    pub receiver: usize,
    /// Prefix of this endpoint's group keys: `{}` at the top and for the flat form, then
    /// Alertmanager's `/{matchers}` per level below.
    pub key_prefix: String,
    pub timing: Timing,
}

#[derive(Debug, Clone)]
struct Node {
    matchers: Vec<RouteMatcher>,
    severities: Vec<AlertSeverity>,
    continue_: bool,
    endpoint: Option<usize>,
    children: Vec<Node>,
}

/// The checked tree.
#[derive(Debug, Clone)]
pub struct RouteTree {
    root: Node,
    endpoints: Vec<Endpoint>,
}

/// A route names a receiver that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("route receiver {name:?} is not the name of a receiver (known: {known})")]
pub struct UnknownReceiver {
    pub name: String,
    pub known: String,
}

impl RouteTree {
    /// Builds the tree over `receivers` (by name) with `root`'s unset values taken from
    /// `defaults`.
    pub fn build(
        root: &Route,
        receivers: &[Receiver],
        defaults: &Timing,
    ) -> Result<RouteTree, UnknownReceiver> {
        let mut endpoints = Vec::new();
        let root = node(root, receivers, defaults, None, "{}", &mut endpoints)?;
        Ok(RouteTree { root, endpoints })
    }

    /// The flat form: one `continue` child per receiver, filtered by its own severities and
    /// matchers.
    pub fn flat(receivers: &[Receiver], defaults: &Timing) -> RouteTree {
        let routes = receivers
            .iter()
            .map(|r| Route {
                receiver: Some(r.name.clone()),
                matchers: r.matchers.iter().map(RouteMatcher::from).collect(),
                severities: r.severities.clone(),
                continue_: true,
                ..Route::default()
            })
            .collect();
        let root = Route {
            routes,
            ..Route::default()
        };
        let mut t = RouteTree::build(&root, receivers, defaults)
            .expect("the flat form names only its own receivers");
        // Same group keys as before the tree: `{}` whatever the filters.
        for e in &mut t.endpoints {
            e.key_prefix = "{}".into();
        }
        t
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoints an alert with these labels reaches, in tree order, each once.
    /// `label` answers for `alertname` and `severity` too.
    pub fn matching<'a>(&self, label: &dyn Fn(&str) -> Option<&'a str>) -> Vec<usize> {
        let mut out = Vec::new();
        if node_matches(&self.root, label) {
            walk(&self.root, label, &mut out);
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|e| seen.insert(*e));
        out
    }

    /// One line for `config routes test`: the receiver, then the route and its grouping.
    pub fn describe(&self, i: usize, receivers: &[Receiver]) -> String {
        let e = &self.endpoints[i];
        let t = &e.timing;
        format!(
            "{}\troute {}  group_by {}  group_wait {}s  group_interval {}s  repeat_interval {}s",
            receivers.get(e.receiver).map_or("?", |r| r.name.as_str()),
            e.key_prefix,
            t.group_by.join(","),
            t.group_wait.as_secs_f64(),
            t.group_interval.as_secs_f64(),
            t.repeat_interval.as_secs_f64()
        )
    }

    /// Whether endpoint `i` is reached by these labels.
    pub fn reaches<'a>(&self, i: usize, label: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        self.matching(label).contains(&i)
    }
}

/// `name=value` arguments (each may hold several, comma-separated) as a label map.
pub fn parse_labels(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in args.iter().flat_map(|a| a.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("label {part:?} is not name=value"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("label {part:?} has no name"));
        }
        out.insert(k.to_owned(), v.trim().trim_matches('"').to_owned());
    }
    Ok(out)
}

fn node_matches<'a>(n: &Node, label: &dyn Fn(&str) -> Option<&'a str>) -> bool {
    n.matchers.iter().all(|m| m.matches(label(&m.name)))
        && (n.severities.is_empty()
            || label("severity")
                .and_then(AlertSeverity::parse)
                .is_some_and(|s| n.severities.contains(&s)))
}

/// Alertmanager's `Route.Match`: `n` already matched.
fn walk<'a>(n: &Node, label: &dyn Fn(&str) -> Option<&'a str>, out: &mut Vec<usize>) {
    let mut any_child = false;
    for c in &n.children {
        if !node_matches(c, label) {
            continue;
        }
        any_child = true;
        walk(c, label, out);
        if !c.continue_ {
            break;
        }
    }
    if !any_child {
        out.extend(n.endpoint);
    }
}

fn node(
    r: &Route,
    receivers: &[Receiver],
    parent: &Timing,
    parent_receiver: Option<&str>,
    parent_prefix: &str,
    endpoints: &mut Vec<Endpoint>,
) -> Result<Node, UnknownReceiver> {
    let timing = Timing {
        group_by: r
            .group_by
            .clone()
            .unwrap_or_else(|| parent.group_by.clone()),
        group_wait: r.group_wait.unwrap_or(parent.group_wait),
        group_interval: r.group_interval.unwrap_or(parent.group_interval),
        repeat_interval: r.repeat_interval.unwrap_or(parent.repeat_interval),
    };
    let prefix = if r.matchers.is_empty() && r.severities.is_empty() {
        parent_prefix.to_owned()
    } else {
        let mut m: Vec<String> = r.matchers.iter().map(|m| m.to_string()).collect();
        if !r.severities.is_empty() {
            let s: Vec<&str> = r.severities.iter().map(|s| s.as_str()).collect();
            m.push(format!("severity in {}", s.join("|")));
        }
        format!("{parent_prefix}/{{{}}}", m.join(","))
    };
    let receiver = r.receiver.as_deref().or(parent_receiver);
    let endpoint = match receiver {
        None => None,
        Some(name) => {
            let i = receivers
                .iter()
                .position(|x| x.name == name)
                .ok_or_else(|| UnknownReceiver {
                    name: name.to_owned(),
                    known: receivers
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            endpoints.push(Endpoint {
                receiver: i,
                key_prefix: prefix.clone(),
                timing: timing.clone(),
            });
            Some(endpoints.len() - 1)
        }
    };
    let children = r
        .routes
        .iter()
        .map(|c| node(c, receivers, &timing, receiver, &prefix, endpoints))
        .collect::<Result<_, _>>()?;
    Ok(Node {
        matchers: r.matchers.clone(),
        severities: r.severities.clone(),
        continue_: r.continue_,
        endpoint,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Overrides, Settings};

    /// A tree as an operator would write it: critical pages (and goes on), storage alerts to
    /// the storage team with a rebuild exception and test hosts dropped, backups to the backup
    /// team (and on), mail hosts but not LDAP to the mail admins, brute force to chat.
    const TREE: &str = r#"
[alerts]
group_by = ["alertname", "host"]
repeat_interval_s = 14400

[[alerts.receivers]]
name = "team-mail"
type = "webhook"
url = "http://127.0.0.1:9/a"
[[alerts.receivers]]
name = "pager"
type = "webhook"
url = "http://127.0.0.1:9/b"
[[alerts.receivers]]
name = "storage-mail"
type = "webhook"
url = "http://127.0.0.1:9/c"
[[alerts.receivers]]
name = "slack-ops"
type = "webhook"
url = "http://127.0.0.1:9/d"
[[alerts.receivers]]
name = "null"
type = "webhook"
url = "http://127.0.0.1:9/e"
[[alerts.receivers]]
name = "backup-team"
type = "webhook"
url = "http://127.0.0.1:9/f"
[[alerts.receivers]]
name = "mail-admins"
type = "webhook"
url = "http://127.0.0.1:9/g"

[alerts.route]
receiver = "team-mail"

[[alerts.route.routes]]
matchers = ["severity=critical"]
receiver = "pager"
continue = true
repeat_interval_s = 3600

[[alerts.route.routes]]
matchers = ['alertname=~"Raid.*|HwRaidDegraded|Smart.*"']
receiver = "storage-mail"
group_by = ["host"]

[[alerts.route.routes.routes]]
matchers = ["alertname=RaidRebuilding"]
receiver = "slack-ops"

[[alerts.route.routes.routes]]
matchers = ['host=~"test-.*"']
receiver = "null"

[[alerts.route.routes]]
matchers = ['alertname=~"Backup.*"']
receiver = "backup-team"
continue = true

[[alerts.route.routes]]
matchers = ['host=~"mbox[0-9]+"', 'alertname!~"Ldap.*"']
receiver = "mail-admins"

[[alerts.route.routes]]
matchers = ["alertname=AuthBruteForce", 'ip!="10.0.0.1"']
receiver = "slack-ops"
"#;

    fn settings(text: &str) -> anyhow::Result<Settings> {
        let file = config::parse(std::path::Path::new("t.toml"), text)?;
        Settings::build(file, Overrides::default())
    }

    fn reached(s: &Settings, labels: &str) -> Vec<String> {
        let labels = parse_labels(&[labels.to_owned()]).unwrap();
        let tree = s.alerts.route_tree();
        tree.matching(&|l| labels.get(l).map(String::as_str))
            .into_iter()
            .map(|i| {
                s.alerts.receivers[tree.endpoints()[i].receiver]
                    .name
                    .clone()
            })
            .collect()
    }

    #[test]
    fn the_route_table_sends_each_label_set_where_it_must_go() {
        let s = settings(TREE).unwrap();
        let table: &[(&str, &[&str])] = &[
            (
                "alertname=RaidArrayDegraded,severity=critical,host=mbox3",
                &["pager", "storage-mail"],
            ),
            (
                "alertname=RaidArrayDegraded,severity=warning,host=mbox3",
                &["storage-mail"],
            ),
            (
                "alertname=RaidRebuilding,severity=info,host=mbox3",
                &["slack-ops"],
            ),
            (
                "alertname=RaidRebuilding,severity=critical,host=mbox3",
                &["pager", "slack-ops"],
            ),
            (
                "alertname=SmartDiskWarning,severity=warning,host=test-vm1",
                &["null"],
            ),
            (
                "alertname=SmartDiskFailing,severity=critical,host=test-vm1",
                &["pager", "null"],
            ),
            (
                "alertname=HwRaidDegraded,severity=warning,host=esx1",
                &["storage-mail"],
            ),
            (
                "alertname=BackupStale,severity=warning,host=mbox1",
                &["backup-team", "mail-admins"],
            ),
            (
                "alertname=BackupMisplaced,severity=critical,host=mbox1",
                &["pager", "backup-team", "mail-admins"],
            ),
            (
                "alertname=BackupStale,severity=warning,host=ldap1",
                &["backup-team"],
            ),
            (
                "alertname=LdapUnreachable,severity=critical,host=mbox2",
                &["pager"],
            ),
            (
                "alertname=LdapUnreachable,severity=warning,host=mbox2",
                &["team-mail"],
            ),
            (
                "alertname=ZimbraServiceDown,severity=warning,host=mbox12",
                &["mail-admins"],
            ),
            // Regexes are anchored at both ends.
            (
                "alertname=ZimbraServiceDown,severity=warning,host=mboxA",
                &["team-mail"],
            ),
            (
                "alertname=ZimbraServiceDown,severity=warning,host=xmbox1",
                &["team-mail"],
            ),
            (
                "alertname=AuthBruteForce,severity=warning,ip=203.0.113.9",
                &["slack-ops"],
            ),
            (
                "alertname=AuthBruteForce,severity=warning,ip=10.0.0.1",
                &["team-mail"],
            ),
            // A missing label is "": != matches it.
            ("alertname=AuthBruteForce,severity=warning", &["slack-ops"]),
            (
                "alertname=AgentSilent,severity=critical,host=mbox3",
                &["pager", "mail-admins"],
            ),
            (
                "alertname=FilesystemFull,severity=warning,host=web1",
                &["team-mail"],
            ),
            (
                "alertname=FilesystemFull,severity=critical,host=web1",
                &["pager"],
            ),
            (
                "alertname=MassMailboxDelete,severity=warning,account=a@example.com",
                &["team-mail"],
            ),
            ("alertname=Raid,severity=warning,host=h", &["storage-mail"]),
            // Matching is case-sensitive, as Alertmanager's.
            (
                "alertname=raidArrayDegraded,severity=warning,host=h",
                &["team-mail"],
            ),
            (
                "alertname=MailQueueDown,severity=info,host=mbox1",
                &["mail-admins"],
            ),
            ("severity=info", &["team-mail"]),
        ];
        assert!(table.len() >= 20);
        for (labels, want) in table {
            assert_eq!(&reached(&s, labels), want, "{labels}");
        }
    }

    #[test]
    fn children_inherit_grouping_and_timers_they_do_not_set() {
        let s = settings(TREE).unwrap();
        let tree = s.alerts.route_tree();
        let by = |name: &str| {
            tree.endpoints()
                .iter()
                .filter(|e| s.alerts.receivers[e.receiver].name == name)
                .map(|e| e.timing.clone())
                .collect::<Vec<_>>()
        };
        let pager = &by("pager")[0];
        assert_eq!(pager.repeat_interval, Duration::from_secs(3600));
        assert_eq!(pager.group_by, ["alertname", "host"]);
        let storage = &by("storage-mail")[0];
        assert_eq!(storage.group_by, ["host"]);
        assert_eq!(storage.repeat_interval, Duration::from_secs(14400));
        // The rebuild exception under storage inherits its group_by.
        let slack = by("slack-ops");
        assert_eq!(slack[0].group_by, ["host"]);
        assert_eq!(slack[1].group_by, ["alertname", "host"]);
    }

    #[test]
    fn flat_receivers_become_routes_with_the_same_group_keys() {
        let s = settings(
            r#"
[[alerts.receivers]]
name = "all"
type = "webhook"
url = "http://127.0.0.1:9/a"
[[alerts.receivers]]
name = "crit"
type = "webhook"
url = "http://127.0.0.1:9/b"
severities = ["critical"]
[[alerts.receivers]]
name = "not-mbox3"
type = "webhook"
url = "http://127.0.0.1:9/c"
matchers = ["host!=mbox3"]
"#,
        )
        .unwrap();
        assert_eq!(
            reached(&s, "alertname=A,severity=critical,host=mbox3"),
            ["all", "crit"]
        );
        assert_eq!(
            reached(&s, "alertname=A,severity=warning,host=mbox1"),
            ["all", "not-mbox3"]
        );
        let tree = s.alerts.route_tree();
        assert!(tree.endpoints().iter().all(|e| e.key_prefix == "{}"));
    }

    #[test]
    fn an_unknown_receiver_or_a_bad_regex_is_named_with_file_and_line() {
        let base = "[[alerts.receivers]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n[alerts.route]\nreceiver = \"a\"\n\n[[alerts.route.routes]]\n";
        let e = settings(&format!("{base}receiver = \"b\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml, line 10") && e.contains("\"b\" is not the name"),
            "{e}"
        );
        let e = settings(&format!("{base}matchers = ['host=~\"mbox[0-9\"']\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml, line 10") && e.contains("regex does not compile"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
        let e = settings(&format!("{base}matchers = ['host~mbox']\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 10") && e.contains("is not NAME=VALUE"),
            "{e}"
        );
    }

    #[test]
    fn a_receiver_filter_beside_a_route_tree_is_refused() {
        let e = settings(
            "[[alerts.receivers]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"http://x/\"\nseverities = [\"critical\"]\n[alerts.route]\nreceiver = \"a\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("filter in the routes"), "{e}");
    }
}
