//! `logwarden-agent init` on fake machine trees (`--root`): a Zimbra mailbox VM whose backups
//! sit on the data's file system, an MTA VM, a bare VM, and a physical mailbox server with md
//! arrays, smartctl, storcli and backups on their own array. Each generated config is read
//! back and must pass `config check`.

use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logwarden-agent"))
        .args(args)
        .output()
        .expect("running logwarden-agent")
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn mkdir(root: &Path, rel: &str) {
    std::fs::create_dir_all(root.join(rel.trim_start_matches('/'))).unwrap();
}

/// A block device in a fake `/sys/block`: `<name>/dev`, and its partitions.
fn block(root: &Path, name: &str, devno: &str, parts: &[(&str, &str)]) {
    write(
        root,
        &format!("/sys/block/{name}/dev"),
        &format!("{devno}\n"),
    );
    for (p, d) in parts {
        write(
            root,
            &format!("/sys/block/{name}/{p}/dev"),
            &format!("{d}\n"),
        );
        write(root, &format!("/sys/block/{name}/{p}/partition"), "1\n");
    }
}

const LOCALCONFIG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<localconfig>\n  <key name=\"zimbra_server_hostname\">\n    <value>mbox3.example.com</value>\n  </key>\n</localconfig>\n";

/// Runs `init --dry-run` on `root`; returns (config text, report).
fn dry_run(root: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "init",
        "--dry-run",
        "--root",
        root.to_str().unwrap(),
        "--collector",
        "http://logs-a.example.net:7070",
        "--collector",
        "http://logs-b.example.net:7070",
        "--site",
        "phx",
    ];
    args.extend_from_slice(extra);
    let out = agent(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "init failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// The `[[files]]` of a config as (path, format) pairs.
fn files(cfg: &toml::Value) -> Vec<(String, String)> {
    cfg.get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap().to_owned(),
                        f["format"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(files: &[(String, String)], path: &str, format: &str) -> bool {
    files.iter().any(|(p, f)| p == path && f == format)
}

/// Saves the config and runs the real `config check` on it.
fn config_check(dir: &Path, text: &str) {
    let path = dir.join("checked.toml");
    std::fs::write(&path, text).unwrap();
    let out = agent(&["config", "check", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "config check refused the generated config: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mailbox_vm(root: &Path) {
    write(root, "/opt/zimbra/conf/localconfig.xml", LOCALCONFIG);
    write(
        root,
        "/var/lib/dpkg/status",
        "Package: zimbra-core\nStatus: install ok installed\nVersion: 8.8.15\n\n\
         Package: zimbra-store\nStatus: install ok installed\nVersion: 8.8.15\n\n\
         Package: zimbra-proxy\nStatus: deinstall ok config-files\nVersion: 8.8.15\n",
    );
    for log in [
        "mailbox.log",
        "audit.log",
        "sync.log",
        "zmmailboxd.out",
        "gc.log",
    ] {
        write(root, &format!("/opt/zimbra/log/{log}"), "");
    }
    for d in ["store", "db/data", "index", "redolog", "backup/sessions"] {
        mkdir(root, &format!("/opt/zimbra/{d}"));
    }
    write(root, "/var/log/syslog", "");
    write(root, "/var/log/auth.log", "");
    write(root, "/var/log/zimbra.log", "");
    write(root, "/sys/class/dmi/id/sys_vendor", "QEMU\n");
    write(
        root,
        "/sys/class/dmi/id/product_name",
        "Standard PC (Q35 + ICH9, 2009)\n",
    );
    write(
        root,
        "/proc/mdstat",
        "Personalities : \nunused devices: <none>\n",
    );
    // / on vda1, /opt/zimbra (data and backups alike) on vdb.
    write(
        root,
        "/proc/self/mountinfo",
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
         27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n\
         36 27 254:16 / /opt/zimbra rw,noatime - xfs /dev/vdb rw\n",
    );
    block(root, "vda", "254:0", &[("vda1", "254:1")]);
    block(root, "vdb", "254:16", &[]);
}

#[test]
fn a_zimbra_mailbox_vm_gets_its_logs_formats_and_a_backup_check_that_flags_the_shared_file_system()
{
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    mailbox_vm(&root);
    let (text, report) = dry_run(&root, &[]);
    let cfg: toml::Value = toml::from_str(&text).expect("the config is TOML");
    let f = files(&cfg);
    for (path, format) in [
        ("/opt/zimbra/log/mailbox.log", "zimbra"),
        ("/opt/zimbra/log/audit.log", "zimbra"),
        ("/opt/zimbra/log/sync.log", "zimbra"),
        ("/opt/zimbra/log/zmmailboxd.out", "zimbra"),
        ("/var/log/zimbra.log", "syslog"),
        ("/var/log/syslog", "syslog"),
        ("/var/log/auth.log", "syslog"),
    ] {
        assert!(
            has(&f, path, format),
            "{path} as {format} missing in:\n{text}"
        );
    }
    // The proxy package was removed (config files left): no nginx logs.
    assert!(!f.iter().any(|(p, _)| p.contains("nginx")), "{text}");
    assert_eq!(cfg["site"].as_str(), Some("phx"));
    assert_eq!(cfg["collectors"].as_array().unwrap().len(), 2);
    assert_eq!(cfg["data_dir"].as_str(), Some("/var/lib/logwarden/agent"));
    assert_eq!(cfg["health"]["smart"].as_bool(), Some(false), "{text}");
    let backups = cfg["health"]["backups"]
        .as_array()
        .expect("[[health.backups]]");
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["dir"].as_str(), Some("/opt/zimbra/backup"));
    let data: Vec<&str> = backups[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        data,
        [
            "/opt/zimbra/store",
            "/opt/zimbra/db/data",
            "/opt/zimbra/index",
            "/opt/zimbra/redolog"
        ]
    );
    for want in [
        "service mailbox: package zimbra-store is installed",
        "mbox3.example.com",
        "this is a VM: SMART and the hypervisor's RAID are not visible here; monitor the host too",
        "BACKUP MISPLACED: /opt/zimbra/backup and /opt/zimbra/store are on the same file system (/opt/zimbra on /dev/vdb)",
        "not tailed (add a [[files]] entry if wanted): /opt/zimbra/log/gc.log",
        "md RAID: none",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    assert!(!report.contains("service proxy"), "{report}");
    config_check(dir.path(), &text);
}

#[test]
fn an_mta_vm_tails_zimbras_syslog_and_has_no_backup_check() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "/opt/zimbra/conf/localconfig.xml", LOCALCONFIG);
    write(
        &root,
        "/opt/zimbra/.install_history",
        "1449091423: INSTALLED zimbra-core-8.6.0_GA_1153.RHEL7_64_20141215151155\n\
         1449091423: INSTALLED zimbra-mta-8.6.0_GA_1153.RHEL7_64_20141215151155\n\
         1449091500: CONFIGURED END\n",
    );
    mkdir(&root, "/opt/zimbra/data/postfix");
    write(&root, "/opt/zimbra/log/zmconfigd.log", "");
    // A RHEL family machine: messages and secure.
    write(&root, "/var/log/messages", "");
    write(&root, "/var/log/secure", "");
    write(
        &root,
        "/proc/cpuinfo",
        "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n",
    );
    let (text, report) = dry_run(&root, &["--token-file", "/etc/logwarden/token"]);
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    let f = files(&cfg);
    assert!(has(&f, "/var/log/zimbra.log", "syslog"), "{text}");
    assert!(has(&f, "/var/log/messages", "syslog"), "{text}");
    assert!(has(&f, "/var/log/secure", "syslog"), "{text}");
    assert!(!f.iter().any(|(p, _)| p.contains("mailbox.log")), "{text}");
    assert!(cfg["health"].get("backups").is_none(), "{text}");
    assert_eq!(cfg["token_file"].as_str(), Some("/etc/logwarden/token"));
    for want in [
        "service mta: zimbra-mta in /opt/zimbra/.install_history",
        "this is a VM",
        "token file /etc/logwarden/token does not exist",
        "backups: none found",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    // The token file is named, not read, by init; config check needs it to exist.
    write(&root, "/etc/logwarden/token", "agent-secret\n");
    let text = text.replace(
        "/etc/logwarden/token",
        root.join("etc/logwarden/token").to_str().unwrap(),
    );
    config_check(dir.path(), &text);
}

#[test]
fn a_bare_vm_gets_its_syslog_files_and_says_what_it_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "/var/log/syslog", "");
    write(&root, "/var/log/auth.log", "");
    write(&root, "/sys/class/dmi/id/sys_vendor", "VMware, Inc.\n");
    let (text, report) = dry_run(&root, &[]);
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    let f = files(&cfg);
    assert_eq!(
        f,
        vec![
            ("/var/log/syslog".to_owned(), "syslog".to_owned()),
            ("/var/log/auth.log".to_owned(), "syslog".to_owned())
        ]
    );
    assert_eq!(cfg["health"]["smart"].as_bool(), Some(false));
    assert!(cfg["health"].get("backups").is_none());
    for want in [
        "virtual machine (VMware)",
        "no Zimbra",
        "md RAID: /proc/mdstat does not exist",
        "backups: none found",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    config_check(dir.path(), &text);
}

#[test]
fn a_physical_mailbox_server_gets_smart_storcli_and_its_arrays_and_a_separate_backup_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "/opt/zimbra/conf/localconfig.xml", LOCALCONFIG);
    for d in [
        "store",
        "db/data",
        "index",
        "redolog",
        "backup",
        "jetty_base",
    ] {
        mkdir(&root, &format!("/opt/zimbra/{d}"));
    }
    mkdir(&root, "/opt/zimbra/data/ldap/mdb");
    write(&root, "/var/log/syslog", "");
    write(&root, "/usr/sbin/smartctl", "");
    write(&root, "/opt/MegaRAID/storcli/storcli64", "");
    write(&root, "/sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
    write(
        &root,
        "/proc/cpuinfo",
        "flags\t\t: fpu vme de pse lahf_lm\n",
    );
    let mdstat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/fixtures/mdstat/raid6_unindented.txt"
    ))
    .unwrap();
    write(&root, "/proc/mdstat", &mdstat);
    write(
        &root,
        "/proc/self/mountinfo",
        "27 1 9:1 / / rw - ext4 /dev/md1 rw\n\
         36 27 9:2 / /opt/zimbra rw - xfs /dev/md2 rw\n\
         37 36 9:3 / /opt/zimbra/backup rw - xfs /dev/md3 rw\n",
    );
    block(&root, "md1", "9:1", &[]);
    block(&root, "md2", "9:2", &[]);
    block(&root, "md3", "9:3", &[]);
    let (text, report) = dry_run(&root, &[]);
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(cfg["health"]["smart"].as_bool(), Some(true), "{text}");
    assert_eq!(
        cfg["health"]["smartctl"].as_str(),
        Some("/usr/sbin/smartctl")
    );
    assert_eq!(
        cfg["health"]["storcli"].as_str(),
        Some("/opt/MegaRAID/storcli/storcli64")
    );
    let backups = cfg["health"]["backups"].as_array().unwrap();
    let data = backups[0]["data"].as_array().unwrap();
    // Mailbox (found from Jetty's folder) and LDAP data both protected.
    assert_eq!(data.len(), 5, "{text}");
    assert!(
        data.iter()
            .any(|d| d.as_str() == Some("/opt/zimbra/data/ldap"))
    );
    for want in [
        "platform: physical machine",
        "service mailbox: /opt/zimbra/store exists",
        "service ldap: /opt/zimbra/data/ldap/mdb exists",
        "md RAID: md3 raid6 [8/8], md2 raid6 [8/8], md1 raid1 [8/8], md0 raid1 [8/8]",
        "/opt/zimbra/backup on another file system than /opt/zimbra/store (/opt/zimbra on /dev/md2 vs /opt/zimbra/backup on /dev/md3)",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    assert!(!report.contains("MISPLACED"), "{report}");
    assert!(!report.contains("this is a VM"), "{report}");
    config_check(dir.path(), &text);
}

#[test]
fn init_writes_the_config_and_never_replaces_one_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    mailbox_vm(&root);
    let out_path = dir.path().join("etc/agent.toml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "init",
            "--root",
            root.to_str().unwrap(),
            "--config",
            out_path.to_str().unwrap(),
            "--site",
            "phx",
        ];
        args.extend_from_slice(extra);
        agent(&args)
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("Found:") && stdout.contains("wrote "),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(written.contains("/opt/zimbra/log/mailbox.log"));
    let check = agent(&["config", "check", out_path.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    std::fs::write(&out_path, "site = \"edited by hand\"\n").unwrap();
    // As the package leaves it: readable by the service's group only.
    std::fs::set_permissions(
        &out_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let second = run(&[]);
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "site = \"edited by hand\"\n"
    );
    let forced = run(&["--force"]);
    assert!(forced.status.success());
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), written);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&out_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o640, "the replaced file keeps its mode");
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(out_path.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn backup_and_data_flags_configure_the_check_on_any_machine() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "/var/log/syslog", "");
    mkdir(&root, "/srv/backup");
    mkdir(&root, "/srv/mail");
    let (text, report) = dry_run(
        &root,
        &[
            "--backup",
            "/srv/backup",
            "--data",
            "/srv/mail",
            "--data",
            "/var/lib/db",
        ],
    );
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    let b = &cfg["health"]["backups"].as_array().unwrap()[0];
    assert_eq!(b["dir"].as_str(), Some("/srv/backup"));
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    assert!(
        report.contains("backups: /srv/backup (--backup)"),
        "{report}"
    );
    config_check(dir.path(), &text);

    let out = agent(&[
        "init",
        "--dry-run",
        "--root",
        root.to_str().unwrap(),
        "--backup",
        "/srv/backup",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--backup /srv/backup") && err.contains("--data"),
        "{err}"
    );
}

#[test]
fn a_machine_whose_system_log_is_only_the_journal_gets_a_journald_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    mkdir(&root, "/var/log/journal");
    write(&root, "/sys/class/dmi/id/sys_vendor", "QEMU\n");
    let (text, report) = dry_run(&root, &[]);
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    assert!(files(&cfg).is_empty(), "{text}");
    assert_eq!(
        cfg["journald"].as_array().map(|a| a.len()),
        Some(1),
        "{text}"
    );
    assert!(
        report.contains("the journal (/var/log/journal) is read instead"),
        "{report}"
    );
    config_check(dir.path(), &text);
    // With a syslog file, the journal is left alone.
    write(&root, "/var/log/syslog", "");
    let (text, _) = dry_run(&root, &[]);
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    assert!(cfg.get("journald").is_none(), "{text}");
}
