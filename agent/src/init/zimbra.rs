//! Finding Zimbra and the services this server runs, and the logs each one writes.
//!
//! A Zimbra server has `/opt/zimbra/conf/localconfig.xml` (every node, written at install).
//! Which services it runs is read, strongest evidence first, from:
//! - the OS packages (`zimbra-store`, `zimbra-mta`, `zimbra-ldap`, `zimbra-proxy`,
//!   `zimbra-logger`) in dpkg's status file, installed as packages since ZCS 8.7;
//! - the installer's `/opt/zimbra/.install_history` (`<time>: INSTALLED zimbra-store-8.8.15...`),
//!   which older installs and RPM systems have too;
//! - what each service leaves on disk: the message store and Jetty for a mailbox server,
//!   postfix's data for an MTA, the LDAP database, nginx's config for a proxy, the logger's
//!   folder.
//!
//! The authoritative list (`zimbraServiceEnabled`) lives in LDAP; reading it needs the LDAP
//! password and a running directory, which a setup tool should not depend on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::machine::Machine;
use crate::parse::Format;

pub const ROOT: &str = "/opt/zimbra";
pub const LOCALCONFIG: &str = "/opt/zimbra/conf/localconfig.xml";
/// Zimbra's syslog file (postfix, amavis, slapd, zmconfigd, zimbramon), set up on every node by
/// `zmsyslogsetup`.
pub const SYSLOG_FILE: &str = "/var/log/zimbra.log";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Mailbox,
    Mta,
    Ldap,
    Proxy,
    Logger,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Mailbox,
        Role::Mta,
        Role::Ldap,
        Role::Proxy,
        Role::Logger,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Mailbox => "mailbox",
            Role::Mta => "mta",
            Role::Ldap => "ldap",
            Role::Proxy => "proxy",
            Role::Logger => "logger",
        }
    }

    /// The package that installs the service.
    fn package(self) -> &'static str {
        match self {
            Role::Mailbox => "zimbra-store",
            Role::Mta => "zimbra-mta",
            Role::Ldap => "zimbra-ldap",
            Role::Proxy => "zimbra-proxy",
            Role::Logger => "zimbra-logger",
        }
    }

    /// What the service leaves on disk, for installs whose packages cannot be read.
    fn markers(self) -> &'static [&'static str] {
        match self {
            Role::Mailbox => &[
                "/opt/zimbra/store",
                "/opt/zimbra/jetty_base",
                "/opt/zimbra/log/mailbox.log",
            ],
            Role::Mta => &[
                "/opt/zimbra/data/postfix",
                "/opt/zimbra/common/conf/main.cf",
                "/opt/zimbra/postfix",
            ],
            Role::Ldap => &["/opt/zimbra/data/ldap/mdb", "/opt/zimbra/data/ldap/config"],
            Role::Proxy => &["/opt/zimbra/conf/nginx.conf", "/opt/zimbra/log/nginx.log"],
            Role::Logger => &["/opt/zimbra/logger"],
        }
    }

    /// The logs this service writes, with their formats. The service's syslog lines go to
    /// [`SYSLOG_FILE`], added for every Zimbra server.
    pub fn logs(self) -> &'static [(&'static str, Format)] {
        match self {
            Role::Mailbox => &[
                ("/opt/zimbra/log/mailbox.log", Format::Zimbra),
                ("/opt/zimbra/log/audit.log", Format::Zimbra),
                ("/opt/zimbra/log/sync.log", Format::Zimbra),
                ("/opt/zimbra/log/zmmailboxd.out", Format::Zimbra),
            ],
            Role::Proxy => &[
                ("/opt/zimbra/log/nginx.access.log", Format::Nginx),
                ("/opt/zimbra/log/nginx.log", Format::Plain),
            ],
            Role::Mta | Role::Ldap | Role::Logger => &[],
        }
    }
}

/// What was found of Zimbra.
#[derive(Debug, Clone, Default)]
pub struct Zimbra {
    /// Each service run here, with what showed it.
    pub roles: BTreeMap<Role, String>,
    /// `zimbra_server_hostname` from localconfig.xml.
    pub server_name: Option<String>,
    /// Logs in `/opt/zimbra/log` that no service above accounts for.
    pub other_logs: Vec<PathBuf>,
}

impl Zimbra {
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }
}

/// Zimbra on this machine, if any; `Err` with what was seen when `/opt/zimbra` exists but is
/// not a Zimbra install.
pub fn detect(m: &Machine) -> Result<Option<Zimbra>, String> {
    let Some(localconfig) = m.read(LOCALCONFIG) else {
        return if m.is_dir(ROOT) {
            Err(format!(
                "{ROOT} exists but has no conf/localconfig.xml: not read as a Zimbra server"
            ))
        } else {
            Ok(None)
        };
    };
    let packages = dpkg_installed(m);
    let history = install_history(m);
    let mut z = Zimbra {
        server_name: localconfig_value(&localconfig, "zimbra_server_hostname"),
        ..Zimbra::default()
    };
    for role in Role::ALL {
        let pkg = role.package();
        let evidence = if packages.iter().any(|p| p == pkg) {
            Some(format!("package {pkg} is installed"))
        } else if history.iter().any(|p| p == pkg) {
            Some(format!("{pkg} in {ROOT}/.install_history"))
        } else {
            role.markers()
                .iter()
                .find(|p| m.exists(p))
                .map(|p| format!("{p} exists"))
        };
        if let Some(e) = evidence {
            z.roles.insert(role, e);
        }
    }
    let known: Vec<&str> = Role::ALL
        .iter()
        .flat_map(|r| r.logs().iter().map(|(p, _)| *p))
        .collect();
    z.other_logs = m
        .list("/opt/zimbra/log")
        .into_iter()
        .filter(|n| n.ends_with(".log") || n.ends_with(".out"))
        .map(|n| PathBuf::from("/opt/zimbra/log").join(n))
        .filter(|p| !known.iter().any(|k| p.as_os_str() == *k))
        .collect();
    Ok(Some(z))
}

/// `<key name="NAME"><value>V</value></key>` of localconfig.xml. A string search: the file is
/// flat and written by Zimbra's own tool, and an XML parser for one value is not worth a crate.
fn localconfig_value(xml: &str, name: &str) -> Option<String> {
    let at = xml.find(&format!("name=\"{name}\""))?;
    let rest = &xml[at..];
    let start = rest.find("<value>")? + "<value>".len();
    let end = rest[start..].find("</value>")?;
    let v = rest[start..start + end].trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Zimbra packages dpkg lists as installed.
fn dpkg_installed(m: &Machine) -> Vec<String> {
    let Some(status) = m.read("/var/lib/dpkg/status") else {
        return Vec::new();
    };
    status
        .split("\n\n")
        .filter_map(|para| {
            let field = |name: &str| {
                para.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let pkg = field("Package:")?;
            let installed = field("Status:")?.ends_with(" installed");
            (pkg.starts_with("zimbra-") && installed).then_some(pkg)
        })
        .collect()
}

/// Packages the installer's history says are installed: the last word about each wins
/// (`INSTALLED` or `REMOVED`/`UPGRADED`... followed by an `INSTALLED` again).
fn install_history(m: &Machine) -> Vec<String> {
    let Some(text) = m.read("/opt/zimbra/.install_history") else {
        return Vec::new();
    };
    let mut state: BTreeMap<String, bool> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace().skip(1);
        let (Some(action), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        // `zimbra-store-8.8.15_GA...` or `zimbra-store_8.8.15...`: the name ends before the
        // version, which starts with a digit.
        let name = what
            .split(['-', '_'])
            .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("-");
        if !name.starts_with("zimbra-") {
            continue;
        }
        match action {
            "INSTALLED" => {
                state.insert(name, true);
            }
            "REMOVED" => {
                state.insert(name, false);
            }
            _ => {}
        }
    }
    state
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_read_from_localconfig() {
        let xml = "<localconfig>\n  <key name=\"ldap_url\">\n    <value>ldap://a:389</value>\n  </key>\n  <key name=\"zimbra_server_hostname\">\n    <value>mbox3.example.com</value>\n  </key>\n</localconfig>\n";
        assert_eq!(
            localconfig_value(xml, "zimbra_server_hostname").as_deref(),
            Some("mbox3.example.com")
        );
        assert_eq!(localconfig_value(xml, "nope"), None);
    }

    #[test]
    fn install_history_keeps_the_last_word_about_each_package() {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine::new(dir.path());
        std::fs::create_dir_all(m.at("/opt/zimbra")).unwrap();
        std::fs::write(
            m.at("/opt/zimbra/.install_history"),
            "1449091423: INSTALL SESSION START\n\
             1449091423: INSTALLED zimbra-core-8.6.0_GA_1153.RHEL6_64_20141215151155\n\
             1449091423: INSTALLED zimbra-store_8.8.15.GA.3869.UBUNTU18.64\n\
             1449091423: INSTALLED zimbra-proxy-8.6.0_GA_1153.RHEL6_64_20141215151155\n\
             1449091499: REMOVED zimbra-proxy-8.6.0_GA_1153.RHEL6_64_20141215151155\n\
             1449091500: CONFIGURED END\n",
        )
        .unwrap();
        assert_eq!(install_history(&m), vec!["zimbra-core", "zimbra-store"]);
    }
}
