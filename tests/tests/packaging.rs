//! The Debian packages, built by `scripts/package` from the test build's binaries and
//! installed with the real dpkg into a root made by the test (`dpkg --root DIR
//! --force-script-chrootless`: the maintainer scripts run against DIR through `$DPKG_ROOT`,
//! never against this machine). Checks files, conffiles, the user, the data folders and the
//! enabled units; an upgrade that keeps data and edited config; removal that keeps data;
//! purge that removes it; the CLI alone; and `systemd-analyze verify` on the units. A third
//! test runs the maintainer scripts the way a real machine does (no `$DPKG_ROOT`), in a chroot
//! over an overlay of this machine's root inside a private mount namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use logwarden_tests::bin;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    for tool in ["dpkg", "dpkg-deb", "useradd", "groupadd", "systemctl"] {
        if !have(tool) {
            return Some(format!("{tool} is not installed"));
        }
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(
            "dpkg needs root to install files owned by root and the logwarden user".into(),
        );
    }
    None
}

#[track_caller]
fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `scripts/package` on the debug binaries; returns the folder of the three .deb files.
fn package(out: &Path, version: &str) -> PathBuf {
    let bin_dir = bin("logwarden-agent").parent().unwrap().to_owned();
    ok(
        Command::new(repo().join("scripts/package"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--out")
            .arg(out)
            .args(["--version", version, "--fast"])
            .output()
            .expect("running scripts/package"),
        "scripts/package",
    );
    out.to_owned()
}

fn deb(dir: &Path, pkg: &str, version: &str) -> PathBuf {
    let arch = String::from_utf8(
        Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    dir.join(format!("{pkg}_{version}_{}.deb", arch.trim()))
}

/// An empty system for dpkg: its database (with this machine's libc6 and passwd, the
/// packages' dependencies, recorded as installed) and the account files.
fn make_root(root: &Path) {
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let mut status = String::new();
    for p in ["libc6", "passwd"] {
        let out = ok(
            Command::new("dpkg-query")
                .args(["-W", "-f", "Package: ${Package}\nStatus: install ok installed\nVersion: ${Version}\nArchitecture: ${Architecture}\nMulti-Arch: ${Multi-Arch}\nMaintainer: x\nDescription: x\n\n", p])
                .output()
                .unwrap(),
            "dpkg-query",
        );
        status.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    // Only the base system's accounts: the test must see the logwarden user being created.
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nadm:x:4:\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::write(root.join("etc/gshadow"), "root:*::\nadm:*::\n").unwrap();
}

fn dpkg(root: &Path, args: &[&str], debs: &[&Path]) -> Output {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--log=/dev/null"])
        .args(args);
    for d in debs {
        cmd.arg(d);
    }
    ok(
        cmd.output().expect("running dpkg"),
        &format!("dpkg {args:?}"),
    )
}

fn query(root: &Path, format: &str, pkg: &str) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", format, pkg])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode_and_owner(p: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// Where the unit's `multi-user.target.wants` link points (inside the root: the link is
/// absolute, as on the machine).
fn enabled(root: &Path, part: &str) -> Option<PathBuf> {
    std::fs::read_link(root.join(format!(
        "etc/systemd/system/multi-user.target.wants/logwarden-{part}.service"
    )))
    .ok()
}

/// The uid and gid of `name` in the root's account files.
fn account(root: &Path, file: &str, name: &str) -> Option<Vec<String>> {
    std::fs::read_to_string(root.join("etc").join(file))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .map(|l| l.split(':').map(str::to_owned).collect())
}

#[test]
fn packages_install_upgrade_remove_and_purge_in_a_root_made_by_the_test() {
    if let Some(why) = cannot_run() {
        println!("SKIPPED packages_install_upgrade_remove_and_purge: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let v1 = "0.0.1~test1";
    let v2 = "0.0.1~test2";
    let d1 = package(&tmp.path().join("v1"), v1);
    let root = tmp.path().join("root");
    make_root(&root);
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();

    let (cli, agent, collector) = (
        deb(&d1, "logwarden", v1),
        deb(&d1, "logwarden-agent", v1),
        deb(&d1, "logwarden-collector", v1),
    );
    let out = dpkg(&root, &["-i"], &[&cli, &agent, &collector]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("logwarden-agent init"), "{said}");

    // Files.
    for (p, mode) in [
        ("usr/bin/logwarden-agent", 0o755),
        ("usr/bin/logwarden-collector", 0o755),
        ("usr/bin/logwarden", 0o755),
        ("lib/systemd/system/logwarden-agent.service", 0o644),
        ("lib/systemd/system/logwarden-collector.service", 0o644),
        ("usr/share/doc/logwarden-agent/deploy.md", 0o644),
        ("usr/share/doc/logwarden-collector/copyright", 0o644),
    ] {
        assert_eq!(mode_and_owner(&root.join(p)).0, mode, "{p}");
    }
    // The user and group, and nothing done to this machine's.
    let user = account(&root, "passwd", "logwarden").expect("logwarden user created");
    let group = account(&root, "group", "logwarden").expect("logwarden group created");
    assert_eq!(user[6], "/usr/sbin/nologin");
    assert_eq!(user[5], "/var/lib/logwarden");
    assert_eq!(user[3], group[2], "primary group");
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), group[2].parse().unwrap());
    assert!(uid < 1000, "a system uid: {uid}");
    assert_eq!(std::fs::read_to_string("/etc/passwd").unwrap(), host_passwd);
    // Data folders owned by it; conffiles readable by its group only.
    for part in ["agent", "collector"] {
        assert_eq!(
            mode_and_owner(&root.join("var/lib/logwarden").join(part)),
            (0o750, uid, gid),
            "{part} data dir"
        );
        let conf = root.join(format!("etc/logwarden/{part}.toml"));
        assert_eq!(mode_and_owner(&conf), (0o640, 0, gid), "{part}.toml");
        assert!(
            query(&root, "${Conffiles}", &format!("logwarden-{part}"))
                .contains(&format!("/etc/logwarden/{part}.toml")),
            "{part}.toml is a conffile"
        );
        assert_eq!(
            enabled(&root, part),
            Some(PathBuf::from(format!(
                "/lib/systemd/system/logwarden-{part}.service"
            ))),
            "{part} unit enabled"
        );
    }
    // The shipped configs pass the installed binaries' own check.
    ok(
        Command::new(root.join("usr/bin/logwarden-agent"))
            .args(["config", "check"])
            .arg(root.join("etc/logwarden/agent.toml"))
            .output()
            .unwrap(),
        "agent config check",
    );
    ok(
        Command::new(root.join("usr/bin/logwarden-collector"))
            .args(["config", "check"])
            .arg(root.join("etc/logwarden/collector.toml"))
            .output()
            .unwrap(),
        "collector config check",
    );
    assert!(
        query(&root, "${Depends}", "logwarden-collector").contains(&format!("logwarden (= {v1})"))
    );

    // Upgrade: the edited config and the data stay.
    let conf = root.join("etc/logwarden/agent.toml");
    let edited = format!(
        "{}\nsite = \"edited\"\n",
        std::fs::read_to_string(&conf).unwrap()
    );
    std::fs::write(&conf, &edited).unwrap();
    std::fs::write(root.join("var/lib/logwarden/agent/checkpoints"), "keep me").unwrap();
    std::fs::write(root.join("var/lib/logwarden/collector/wal-0"), "keep me").unwrap();
    let d2 = package(&tmp.path().join("v2"), v2);
    dpkg(
        &root,
        &["-i"],
        &[
            &deb(&d2, "logwarden", v2),
            &deb(&d2, "logwarden-agent", v2),
            &deb(&d2, "logwarden-collector", v2),
        ],
    );
    assert_eq!(query(&root, "${Version}", "logwarden-agent"), v2);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited);
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/logwarden/agent/checkpoints")).unwrap(),
        "keep me"
    );
    assert_eq!(account(&root, "passwd", "logwarden").unwrap()[2], user[2]);

    // Remove: the program and the unit go, config and data stay.
    dpkg(&root, &["-r", "logwarden-agent"], &[]);
    assert!(!root.join("usr/bin/logwarden-agent").exists());
    assert!(
        !root
            .join("lib/systemd/system/logwarden-agent.service")
            .exists()
    );
    assert_eq!(enabled(&root, "agent"), None);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited);
    assert!(root.join("var/lib/logwarden/agent/checkpoints").exists());

    // Purge: the agent's config and data go; the collector's stay.
    dpkg(&root, &["-P", "logwarden-agent"], &[]);
    assert!(!conf.exists());
    assert!(!root.join("var/lib/logwarden/agent").exists());
    assert!(root.join("var/lib/logwarden/collector/wal-0").exists());
    assert!(root.join("etc/logwarden/collector.toml").exists());

    // The CLI alone, on a laptop: no user, no config, no data.
    let laptop = tmp.path().join("laptop");
    make_root(&laptop);
    dpkg(&laptop, &["-i"], &[&deb(&d2, "logwarden", v2)]);
    assert!(laptop.join("usr/bin/logwarden").exists());
    assert!(account(&laptop, "passwd", "logwarden").is_none());
    assert!(!laptop.join("etc/logwarden").exists());
    assert!(!laptop.join("var/lib/logwarden").exists());
    let help = ok(
        Command::new(laptop.join("usr/bin/logwarden"))
            .arg("--help")
            .output()
            .unwrap(),
        "logwarden --help",
    );
    assert!(String::from_utf8_lossy(&help.stdout).contains("search"));
}

#[test]
fn the_units_pass_systemd_analyze_verify_without_a_warning() {
    if !have("systemd-analyze") {
        println!("SKIPPED the_units_pass_systemd_analyze_verify: systemd-analyze is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // verify wants ExecStart's program to exist: point it at the test build.
    let bin_dir = bin("logwarden-agent").parent().unwrap().to_owned();
    let mut units = Vec::new();
    for part in ["agent", "collector"] {
        let name = format!("logwarden-{part}.service");
        let text = std::fs::read_to_string(repo().join("packaging/systemd").join(&name)).unwrap();
        assert!(text.contains("NoNewPrivileges=yes") && text.contains("ProtectSystem=strict"));
        assert!(text.contains(&format!("ReadWritePaths=/var/lib/logwarden/{part}")));
        assert!(text.contains("Restart=on-failure"));
        let text = text.replace("/usr/bin/", &format!("{}/", bin_dir.display()));
        let path = tmp.path().join(&name);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let agent = std::fs::read_to_string(&units[0]).unwrap();
    assert!(agent.contains("AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_RAWIO"));
    assert!(agent.contains("CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_RAWIO"));

    let verify = |paths: &[PathBuf]| {
        Command::new("systemd-analyze")
            .arg("verify")
            .args(paths)
            .current_dir(tmp.path())
            .output()
            .expect("running systemd-analyze")
    };
    let out = verify(&units);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // The same check does see a broken unit (it warns, and exits 0, hence the output check).
    let bad = tmp.path().join("logwarden-bad.service");
    std::fs::write(
        &bad,
        "[Service]\nExecStart=/bin/true\nProtectSystem=strickt\n",
    )
    .unwrap();
    let out = verify(&[bad]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("strickt"),
        "verify did not see the broken unit: {said}"
    );
}

/// The maintainer scripts as they run on a real machine (no `$DPKG_ROOT`: plain `useradd`,
/// `systemctl enable` offline): in a chroot over an overlay of this machine's own root, in a
/// private mount namespace, so that every write lands in the test's folder.
const CHROOT_SCRIPT: &str = r#"
set -eu
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/m"
mount --bind /dev "$T/m/dev"
mount -t proc proc "$T/m/proc"
mkdir -p "$T/m/debs"
for p in logwarden logwarden-agent logwarden-collector; do cp "$DEBS/$p"_*.deb "$T/m/debs/$p.deb"; done
inside() { chroot "$T/m" "$@"; }
inside dpkg --log=/dev/null -i /debs/logwarden.deb /debs/logwarden-agent.deb /debs/logwarden-collector.deb >/dev/null
echo "user: $(inside id -un logwarden) $(inside id -gn logwarden) $(inside getent passwd logwarden | cut -d: -f7)"
echo "agent data: $(inside stat -c '%a %U:%G' /var/lib/logwarden/agent)"
echo "collector conf: $(inside stat -c '%a %U:%G' /etc/logwarden/collector.toml)"
echo "enabled: $(inside readlink /etc/systemd/system/multi-user.target.wants/logwarden-agent.service)"
inside dpkg --log=/dev/null -i /debs/logwarden-agent.deb >/dev/null
echo "reinstalled user: $(inside grep -c '^logwarden:' /etc/passwd)"
inside dpkg --log=/dev/null -P logwarden-agent >/dev/null
echo "after purge: agent data $(inside test -e /var/lib/logwarden/agent && echo kept || echo gone), collector data $(inside test -e /var/lib/logwarden/collector && echo kept || echo gone), enabled $(inside readlink /etc/systemd/system/multi-user.target.wants/logwarden-agent.service || echo none)"
"#;

#[test]
fn maintainer_scripts_run_for_real_in_a_chroot_over_this_machine() {
    if let Some(why) = cannot_run() {
        println!("SKIPPED maintainer_scripts_run_for_real_in_a_chroot: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for d in ["upper", "work", "m"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount -t overlay overlay -o lowerdir=/,upperdir={0}/upper,workdir={0}/work {0}/m",
            tmp.path().display()
        ))
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!(
            "SKIPPED maintainer_scripts_run_for_real_in_a_chroot: no mount namespace with overlayfs here"
        );
        return;
    }
    let debs = package(&tmp.path().join("debs"), "0.0.1~chroot");
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let out = ok(
        Command::new("unshare")
            .args(["-m", "sh", "-c", CHROOT_SCRIPT])
            .env("T", tmp.path())
            .env("DEBS", &debs)
            .output()
            .unwrap(),
        "install in the chroot",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    println!("{said}");
    for want in [
        "user: logwarden logwarden /usr/sbin/nologin",
        "agent data: 750 logwarden:logwarden",
        "collector conf: 640 root:logwarden",
        "enabled: /lib/systemd/system/logwarden-agent.service",
        "reinstalled user: 1",
        "after purge: agent data gone, collector data kept, enabled none",
    ] {
        assert!(said.contains(want), "{want:?} not in:\n{said}");
    }
    assert_eq!(
        std::fs::read_to_string("/etc/passwd").unwrap(),
        host_passwd,
        "this machine's accounts are untouched"
    );
}

/// The agent's unit gives it no group, only the capabilities of `AmbientCapabilities=`: with
/// exactly those (as an unprivileged user, no new privileges) it reads a log only root may
/// read; without them it cannot, so the capability is what does it.
#[test]
fn the_agent_units_capabilities_alone_let_it_read_a_root_only_log() {
    if let Some(why) =
        cannot_run().or_else(|| (!have("setpriv")).then(|| "setpriv is not installed".into()))
    {
        println!("SKIPPED the_agent_units_capabilities_alone: {why}");
        return;
    }
    let unit =
        std::fs::read_to_string(repo().join("packaging/systemd/logwarden-agent.service")).unwrap();
    let caps: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("AmbientCapabilities="))
        .expect("AmbientCapabilities= in the agent's unit")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let caps = caps.join(",");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("secure");
    std::fs::write(
        &log,
        "Nov 29 10:00:00 h sshd[1]: Accepted publickey for root\n",
    )
    .unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let parse_as_nobody = |with_caps: bool| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--no-new-privs",
        ]);
        if with_caps {
            cmd.arg(format!("--inh-caps={caps}"))
                .arg(format!("--ambient-caps={caps}"))
                .arg(format!("--bounding-set=-all,{caps}"));
        }
        cmd.arg(bin("logwarden-agent"))
            .arg("parse")
            .arg(&log)
            .output()
            .expect("running setpriv")
    };
    let denied = parse_as_nobody(false);
    assert!(
        !denied.status.success(),
        "nobody without capabilities read a 0600 file"
    );
    let read = ok(parse_as_nobody(true), "parse with the unit's capabilities");
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("Accepted publickey"),
        "{}",
        String::from_utf8_lossy(&read.stdout)
    );
}
