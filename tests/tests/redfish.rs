//! End to end: BMCs over Redfish. A mock BMC on loopback serves DMTF's `public-localstorage`
//! mockup (tests/data/fixtures/redfish/) and variants derived from it in the test: drives that
//! fail one by one, a rebuild onto the hot spare, answers that are slow, refused, 401 or not
//! JSON. `logwarden-agent check --redfish` reads it once; a running agent polls it and the
//! collector's alerts fire for the BMC's volume as for an md array.

use std::process::Command;
use std::time::{Duration, Instant};

use logwarden_tests::redfish_mock::RedfishMock;
use logwarden_tests::{Agent, Collector, HttpSink, TestCerts, assert_same, bin, wait_until};
use serde_json::{Value, json};

/// `check --json` with these arguments: exit code, records, stderr.
fn check(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = Command::new(bin("logwarden-agent"))
        .arg("check")
        .arg("--json")
        .args(args)
        .output()
        .expect("running logwarden-agent check");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON record"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        records,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn of_check<'a>(records: &'a [Value], check: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["fields"]["check"] == check)
        .collect()
}

#[test]
fn check_reads_the_mockup_volumes_and_drives_over_http() {
    let bmc = RedfishMock::start();
    let (code, records, stderr) = check(&["--redfish", &bmc.url]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let host = "127.0.0.1";
    assert!(records.iter().all(|r| r["host"] == host), "{records:?}");
    assert!(records.iter().all(|r| r["kind"] == "health"));
    let bmcs = of_check(&records, "redfish");
    assert_eq!(bmcs.len(), 1);
    assert_eq!(bmcs[0]["fields"]["state"], "ok");
    let volumes = of_check(&records, "raid");
    let summary: Vec<(String, String, String, i64)> = volumes
        .iter()
        .map(|v| {
            let f = &v["fields"];
            (
                f["array"].as_str().unwrap().to_owned(),
                f["level"].as_str().unwrap().to_owned(),
                f["state"].as_str().unwrap().to_owned(),
                f["redundancy_left"].as_i64().unwrap(),
            )
        })
        .collect();
    let v = |n: u32, level: &str, left: i64| {
        (
            format!("Systems/437XR1138R2/Storage/1/Volumes/{n}"),
            level.to_owned(),
            "clean".to_owned(),
            left,
        )
    };
    assert_same(
        "volumes",
        vec![v(1, "raid1", 1), v(2, "raid0", 0), v(3, "raid0", 0)],
        summary,
    );
    assert_eq!(volumes[0]["fields"]["provider"], "redfish");
    assert_eq!(volumes[0]["fields"]["disks_spare"], 1);
    let drives = of_check(&records, "smart");
    assert_eq!(drives.len(), 4, "each drive once: {drives:?}");
    assert!(drives.iter().all(|d| d["fields"]["verdict"] == "ok"));
}

#[test]
fn unreadable_bmcs_are_unknown_with_the_reason_and_do_not_delay_the_others() {
    let good = RedfishMock::start();
    let slow1 = RedfishMock::start();
    slow1.set_delay(Duration::from_secs(10));
    let slow2 = RedfishMock::start();
    slow2.set_delay(Duration::from_secs(10));
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let unauthorized = RedfishMock::start();
    unauthorized.set_status(401);
    let malformed = RedfishMock::start();
    malformed.set_malformed();

    let started = Instant::now();
    let (code, records, stderr) = check(&[
        "--redfish-timeout",
        "4",
        "--redfish",
        &good.url,
        "--redfish",
        &slow1.url,
        "--redfish",
        &slow2.url,
        "--redfish",
        &refused,
        "--redfish",
        &unauthorized.url,
        "--redfish",
        &malformed.url,
    ]);
    let took = started.elapsed();
    println!("check of 6 BMCs, 2 of them answering in 10 s: {took:?}");
    assert_eq!(code, 1, "stderr: {stderr}");
    // In parallel: the two slow BMCs cost one timeout, not two.
    assert!(took < Duration::from_secs(7), "took {took:?}");

    let bmcs = of_check(&records, "redfish");
    assert_eq!(bmcs.len(), 6, "{bmcs:?}");
    let reason_of = |url: &str| -> String {
        let r = bmcs
            .iter()
            .find(|b| b["fields"]["bmc_url"] == format!("{url}/redfish/v1"))
            .unwrap_or_else(|| panic!("no record for {url}: {bmcs:?}"));
        if r["fields"]["state"] == "ok" {
            return "ok".into();
        }
        assert_eq!(r["fields"]["state"], "unknown", "{r}");
        assert_eq!(r["severity"], "warning", "{r}");
        r["fields"]["reason"].as_str().unwrap().to_owned()
    };
    assert_eq!(reason_of(&good.url), "ok");
    for (url, expect) in [
        (&slow1.url, "no answer within 4 s"),
        (&slow2.url, "no answer within 4 s"),
        (&refused, "cannot connect"),
        (
            &unauthorized.url,
            "401 Unauthorized (check user and password_file)",
        ),
        (&malformed.url, "malformed JSON"),
    ] {
        let reason = reason_of(url);
        assert!(reason.contains(expect), "{url}: {reason}");
        assert!(
            stderr.contains(&format!("--redfish {url}/redfish/v1")),
            "{stderr}"
        );
    }
    // A 401 or a dead BMC is asked once per poll, not once per document.
    assert_eq!(unauthorized.requests(), 1);
    // Only the readable BMC has volumes: the others say nothing rather than `clean`.
    let volumes = of_check(&records, "raid");
    assert_eq!(volumes.len(), 3);
    assert!(
        volumes
            .iter()
            .all(|v| v["fields"]["bmc_url"] == format!("{}/redfish/v1", good.url))
    );
}

#[test]
fn credentials_come_from_a_file_only_the_agent_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bmc = RedfishMock::start();
    bmc.require_auth("monitor", "s3cret");
    let pw = dir.path().join("bmc.pass");
    std::fs::write(&pw, "s3cret\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pw_s = pw.to_str().unwrap();
    let args = |user: &'static str| {
        vec![
            "--redfish".to_owned(),
            bmc.url.clone(),
            "--redfish-user".into(),
            user.into(),
            "--redfish-password-file".into(),
            pw_s.into(),
        ]
    };
    let run = |a: Vec<String>| check(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let (code, records, stderr) = run(args("monitor"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(of_check(&records, "raid").len(), 3);

    let (code, records, _) = run(args("intruder"));
    assert_eq!(code, 1);
    let r = &of_check(&records, "redfish")[0]["fields"];
    assert!(r["reason"].as_str().unwrap().contains("401"), "{r}");

    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let requests = bmc.requests();
    let (code, records, stderr) = run(args("monitor"));
    assert_eq!(code, 1);
    let r = &of_check(&records, "redfish")[0]["fields"];
    assert!(r["reason"].as_str().unwrap().contains("chmod 600"), "{r}");
    assert!(stderr.contains("mode 0644"), "{stderr}");
    assert_eq!(
        bmc.requests(),
        requests,
        "no request with a password others can read"
    );
}

#[test]
fn tls_trusts_the_ca_file_or_an_explicit_insecure_flag_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::make(dir.path());
    let bmc = RedfishMock::start_tls(&certs.cert, &certs.key);
    let ca = certs.ca.to_str().unwrap();

    let (code, records, stderr) = check(&["--redfish", &bmc.url, "--redfish-ca-file", ca]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(of_check(&records, "raid").len(), 3);

    // The BMC's certificate is not signed by a CA the system trusts: refused, with the reason.
    let (code, records, stderr) = check(&["--redfish", &bmc.url]);
    assert_eq!(code, 1);
    let r = &of_check(&records, "redfish")[0]["fields"];
    assert_eq!(r["state"], "unknown");
    println!("an unknown certificate: {}", r["reason"]);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("certificate"),
        "{r} {stderr}"
    );
    assert!(of_check(&records, "raid").is_empty());

    // Said explicitly: any certificate.
    let (code, _, stderr) = check(&["--redfish", &bmc.url, "--redfish-insecure"]);
    assert_eq!(code, 0, "{stderr}");
    // Both at once is refused as a usage error.
    let (code, _, stderr) = check(&[
        "--redfish",
        &bmc.url,
        "--redfish-insecure",
        "--redfish-ca-file",
        ca,
    ]);
    assert_eq!(code, 2, "{stderr}");
}

const STORY: &str = "Systems/437XR1138R2/Storage/1/Volumes/1";
const VOL: &str = "/redfish/v1/Systems/437XR1138R2/Storage/1/Volumes/1";
const SPARE: &str = "/redfish/v1/Chassis/1U/Drives/32ADF365C6C1B7BD";

fn drive(id: &str) -> String {
    format!("/redfish/v1/Chassis/1U/Drives/{id}")
}

/// The story's array, derived from the mockup: volume 1 becomes a RAID5 of four drives (its two
/// plus two more of the same model, added to the chassis and the storage), with the mockup's
/// global hot spare standing by.
fn story_array(docs: &mut std::collections::BTreeMap<String, Value>) -> Vec<String> {
    let template = docs[&drive("35D38F11ACEF7BD3")].clone();
    let mut members = vec![drive("3F5A8C54207B7233"), drive("35D38F11ACEF7BD3")];
    for (id, serial) in [
        ("5A00000000000001", "7770001"),
        ("5A00000000000002", "7770002"),
    ] {
        let mut d = template.clone();
        d["Id"] = json!(id);
        d["SerialNumber"] = json!(serial);
        d["@odata.id"] = json!(drive(id));
        docs.insert(drive(id), d);
        for coll in [
            "/redfish/v1/Chassis/1U/Drives",
            "/redfish/v1/Systems/437XR1138R2/Storage/1",
        ] {
            let c = docs.get_mut(coll).unwrap();
            let key = if c.get("Members").is_some() {
                "Members"
            } else {
                "Drives"
            };
            c[key]
                .as_array_mut()
                .unwrap()
                .push(json!({"@odata.id": drive(id)}));
        }
        members.push(drive(id));
    }
    let v = docs.get_mut(VOL).unwrap();
    v["RAIDType"] = json!("RAID5");
    v["Links"]["Drives"] = json!(
        members
            .iter()
            .map(|m| json!({"@odata.id": m}))
            .collect::<Vec<_>>()
    );
    members
}

fn fail_drive(docs: &mut std::collections::BTreeMap<String, Value>, path: &str) {
    docs.get_mut(path).unwrap()["Status"] = json!({"State": "Disabled", "Health": "Critical"});
}

fn wait_firing(sink: &HttpSink, name: &str, since: Instant, within: Duration) -> Duration {
    let ok = wait_until(within + Duration::from_secs(20), || {
        sink.alerts(name).iter().any(|(s, _, _)| s == "firing")
    });
    assert!(ok, "no {name}: {:?}", sink.posts());
    let at = sink
        .alerts(name)
        .iter()
        .find(|(s, _, _)| s == "firing")
        .unwrap()
        .2;
    let took = at - since;
    println!("{name}: {} ms after the change", took.as_millis());
    took
}

/// The story: one drive fails, the spare is rebuilt into its place, and three more fail during
/// the rebuild. Degraded, Rebuilding and Failed each page once, within one poll interval (2 s)
/// plus 2 s of the change; a second BMC that answers in 10 s does not hold them up.
#[test]
fn a_bmc_volume_losing_drives_during_a_rebuild_pages_degraded_rebuilding_failed_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let bmc = RedfishMock::start();
    let members = {
        let mut m = Vec::new();
        bmc.update(|d| m = story_array(d));
        m
    };
    let slow = RedfishMock::start();
    slow.set_delay(Duration::from_secs(10));

    let ccfg = dir.path().join("collector.toml");
    std::fs::write(
        &ccfg,
        "[alerts]\nresolve_hold_s = 1.5\ngroup_interval_s = 0.5\n",
    )
    .unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", ccfg.to_str().unwrap(), "--webhook", &sink.url],
    );
    let acfg = dir.path().join("agent.toml");
    let none = dir.path().join("none");
    std::fs::write(
        &acfg,
        format!(
            "[health]\nmdstat = {none:?}\nsmart = false\nfilesystems = false\nzimbra_root = {none:?}\n\
             [[health.redfish]]\nurl = {:?}\nname = \"bmcstory\"\ninterval_s = 2\nserves = [\"esx1\"]\n\
             [[health.redfish]]\nurl = {:?}\nname = \"bmcslow\"\ninterval_s = 2\ntimeout_s = 5\n",
            bmc.url, slow.url
        ),
    )
    .unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[],
        &["--config", acfg.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(30), || !collector
            .search("host:bmcstory AND fields.check:raid")
            .is_empty()),
        "the healthy volume was never reported"
    );
    let limit = Duration::from_secs(2 + 2);

    // One drive fails: degraded, no redundancy left (critical), the spare still standing by.
    let t = Instant::now();
    bmc.update(|d| {
        fail_drive(d, &members[0]);
        d.get_mut(VOL).unwrap()["Status"] = json!({"State": "Enabled", "Health": "Critical"});
    });
    let took = wait_firing(&sink, "RaidArrayDegraded", t, limit);
    assert!(took < limit, "RaidArrayDegraded after {took:?}");

    // The spare joins the volume and is rebuilt.
    let t = Instant::now();
    bmc.update(|d| {
        let op = json!([{"OperationName": "Rebuild", "PercentageComplete": 12}]);
        let s = d.get_mut(SPARE).unwrap();
        s["HotspareType"] = json!("None");
        s["Operations"] = op.clone();
        let v = d.get_mut(VOL).unwrap();
        v["Links"]["Drives"]
            .as_array_mut()
            .unwrap()
            .push(json!({"@odata.id": SPARE}));
        v["Operations"] = op;
    });
    let took = wait_firing(&sink, "RaidRebuilding", t, limit);
    assert!(took < limit, "RaidRebuilding after {took:?}");
    wait_firing(&sink, "RaidNoSpare", t, limit);

    // Three more during the rebuild, one every poll interval; the first one fails the volume.
    let t = Instant::now();
    for m in &members[1..] {
        bmc.update(|d| {
            fail_drive(d, m);
            d.get_mut(VOL).unwrap()["Operations"] = json!([]);
        });
        std::thread::sleep(Duration::from_millis(2500));
    }
    let took = wait_firing(&sink, "RaidArrayFailed", t, limit);
    assert!(took < limit, "RaidArrayFailed after {took:?}");
    std::thread::sleep(Duration::from_secs(3));

    for name in [
        "RaidArrayDegraded",
        "RaidRebuilding",
        "RaidArrayFailed",
        "RaidNoSpare",
    ] {
        let firing = sink
            .alerts(name)
            .iter()
            .filter(|(s, _, _)| s == "firing")
            .count();
        assert_eq!(
            firing,
            1,
            "{name} fired {firing} times: {:?}",
            sink.alerts(name)
        );
    }
    // Every page is about the BMC's volume.
    let post = sink
        .posts()
        .into_iter()
        .find(|p| p.body["groupLabels"]["alertname"] == "RaidArrayFailed")
        .unwrap()
        .body;
    assert_eq!(post["alerts"][0]["labels"]["host"], "bmcstory");
    assert_eq!(post["alerts"][0]["labels"]["array"], STORY);

    // `logwarden fleet` lists the BMC as a host of its own, with its failed volume.
    let fleet = String::from_utf8_lossy(&collector.cli(&["fleet"]).stdout).into_owned();
    let bmc_part = fleet
        .split_once("bmcstory (site lab)")
        .unwrap_or_else(|| panic!("no bmcstory in the fleet: {fleet}"))
        .1;
    assert!(
        bmc_part.contains(&format!("raid       {STORY}")) && bmc_part.contains("failed"),
        "{fleet}"
    );
    assert!(bmc_part.contains("  BMC, serves esx1\n"), "{fleet}");

    // The slow BMC is a host of its own, unknown with its reason, never ok.
    assert!(
        wait_until(Duration::from_secs(20), || !collector
            .search("host:bmcslow AND fields.check:redfish AND fields.state:unknown")
            .is_empty()),
        "no unknown record for the slow BMC"
    );
    assert!(
        collector
            .search("host:bmcslow AND fields.state:ok")
            .is_empty()
    );
    // ... and pages as BmcUnreadable; the readable BMC never did.
    let unreadable = |host: &str| {
        sink.posts()
            .iter()
            .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| {
                a["labels"]["alertname"] == "BmcUnreadable"
                    && a["status"] == "firing"
                    && a["labels"]["host"] == host
            })
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(20), || unreadable("bmcslow") == 1),
        "no BmcUnreadable for the slow BMC: {:?}",
        sink.alerts("BmcUnreadable")
    );
    assert_eq!(unreadable("bmcstory"), 0);
}
