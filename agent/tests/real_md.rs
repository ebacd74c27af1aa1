//! A real md array, where the machine allows it: two loop devices, `mdadm --create` a raid1,
//! `mdadm --fail` one member, and the degraded record must come out of
//! [`spawn_probes`](logwarden_agent::health::spawn_probes) within one second.
//!
//! It needs root, a kernel with md (`/proc/mdstat`), loop devices and mdadm (`apt-get install
//! mdadm`). Where any is missing the test prints why it was skipped and passes: the fixtures
//! carry the parsing, this test carries the kernel's timing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use logwarden_agent::health::{HealthConfig, spawn_probes};
use tokio_util::sync::CancellationToken;

fn skip_reason() -> Option<String> {
    if !Path::new("/proc/mdstat").exists() {
        return Some("this kernel has no md driver (/proc/mdstat does not exist)".into());
    }
    if rustix::process::geteuid().as_raw() != 0 {
        return Some("not root".into());
    }
    let has = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
    };
    if !has("mdadm") {
        return Some("mdadm is not installed (apt-get install mdadm)".into());
    }
    if !has("losetup") {
        return Some("losetup is not installed".into());
    }
    None
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Loop devices and the array, torn down whatever happens.
struct Rig {
    loops: Vec<String>,
    md: Option<PathBuf>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(md) = &self.md {
            let _ = run("mdadm", &["--stop", &md.display().to_string()]);
        }
        for l in &self.loops {
            let _ = run("losetup", &["-d", l]);
        }
    }
}

#[test]
fn failing_a_member_of_a_real_md_array_is_reported_within_a_second() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig {
        loops: Vec::new(),
        md: None,
    };
    for i in 0..2 {
        let img = dir.path().join(format!("disk{i}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        match run("losetup", &["-f", "--show", img.to_str().unwrap()]) {
            Ok(dev) => rig.loops.push(dev),
            Err(e) => {
                eprintln!("skipped: no loop device: {e}");
                return;
            }
        }
    }
    let md = PathBuf::from("/dev/md/lwtest");
    let create = run(
        "mdadm",
        &[
            "--create",
            md.to_str().unwrap(),
            "--run",
            "--level=1",
            "--raid-devices=2",
            "--metadata=1.2",
            "--assume-clean",
            &rig.loops[0],
            &rig.loops[1],
        ],
    );
    if let Err(e) = create {
        eprintln!("skipped: mdadm --create failed: {e}");
        return;
    }
    rig.md = Some(md.clone());
    // The kernel name (md127, ...) behind /dev/md/lwtest.
    let kernel_name = std::fs::canonicalize(&md)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .expect("resolving /dev/md/lwtest");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = HealthConfig {
            smart: false,
            filesystems: false,
            zimbra_root: dir.path().join("none"),
            // Long enough that only poll()'s POLLPRI wake-up can explain a fast record.
            mdstat_reread_ms: 5_000,
            ..HealthConfig::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let cancel = CancellationToken::new();
        let probes = spawn_probes(&cfg, tx, cancel.clone()).unwrap();
        let state_of = |item: &logwarden_agent::source::Item| {
            (item.draft.fields.get("array").and_then(|v| v.as_str()) == Some(kernel_name.as_str()))
                .then(|| item.draft.fields["state"].as_str().unwrap_or("").to_owned())
        };
        // The first report names the array.
        loop {
            let item = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("no first report")
                .unwrap();
            if let Some(s) = state_of(&item) {
                assert_ne!(s, "degraded");
                break;
            }
        }
        let start = Instant::now();
        run("mdadm", &[md.to_str().unwrap(), "--fail", &rig.loops[1]]).unwrap();
        let took = loop {
            let item = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .expect("no degraded record within 3 s")
                .unwrap();
            if state_of(&item).as_deref() == Some("degraded") {
                break start.elapsed();
            }
        };
        eprintln!("degraded record {took:?} after mdadm --fail");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        cancel.cancel();
        tokio::task::spawn_blocking(move || probes.join())
            .await
            .unwrap();
    });
}
