//! End to end: an ESXi host and a NetApp filer send their storage events to the collector's
//! syslog listener (the lines of tests/data/fixtures/storage-events/, sources in tests/data/fixtures/SOURCES.md); the
//! built-in RAID alerts fire for the hypervisor's device and datastore and for the filer's RAID
//! group, and resolve on the recovery lines.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, wait_until};

/// The test data's lines by their event, without the expectation after ` #=> `.
fn line(file: &str, containing: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/fixtures/storage-events")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find(|l| l.contains(containing))
        .unwrap_or_else(|| panic!("no line with {containing} in {}", path.display()))
        .split(" #=> ")
        .next()
        .unwrap()
        .to_owned()
}

fn send(collector: &Collector, line: &str) {
    let mut s = TcpStream::connect(collector.syslog_tcp.as_deref().unwrap()).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// How many notifications of `name` with `status` for (host, array) the sink received.
fn count(sink: &HttpSink, name: &str, status: &str, host: &str, array: &str) -> usize {
    sink.posts()
        .iter()
        .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| {
            a["labels"]["alertname"] == name
                && a["status"] == status
                && a["labels"]["host"] == host
                && a["labels"]["array"] == array
        })
        .count()
}

fn expect(sink: &HttpSink, name: &str, status: &str, host: &str, array: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || count(
            sink, name, status, host, array
        ) >= 1),
        "no {status} {name} for {host} {array}; got {:?}",
        sink.posts()
    );
}

#[test]
fn esxi_and_ontap_storage_events_raise_and_resolve_the_raid_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "[alerts]\nresolve_hold_s = 1\ngroup_interval_s = 0.5\n",
    )
    .unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap(), "--webhook", &sink.url],
    );
    let (esx, dev, lun) = (
        "esx1.lab",
        "8a5a1336-3d574c6d",
        "naa.6006016015301d00167ce6e2ddb3de11",
    );

    // ESXi: all paths down, then back; a path lost, then restored.
    send(&collector, &line("esxi.log", "[vob.storage.apd.start]"));
    send(
        &collector,
        &line("esxi.log", "[esx.problem.storage.redundancy.lost]"),
    );
    expect(&sink, "RaidArrayFailed", "firing", esx, dev);
    expect(&sink, "RaidArrayDegraded", "firing", esx, lun);
    send(
        &collector,
        &line("esxi.log", "[esx.problem.storage.apd.recovered]"),
    );
    send(
        &collector,
        &line("esxi.log", "[esx.clear.storage.redundancy.restored]"),
    );
    expect(&sink, "RaidArrayFailed", "resolved", esx, dev);
    expect(&sink, "RaidArrayDegraded", "resolved", esx, lun);

    // ONTAP: a disk fails, the spare is reconstructed onto, spares run low; done; status normal.
    let (filer, rg) = ("filer1", "/aggr1/plex0/rg0");
    send(
        &collector,
        &line("ontap.log", "raid.config.filesystem.disk.failed"),
    );
    expect(&sink, "RaidArrayDegraded", "firing", filer, rg);
    send(&collector, &line("ontap.log", "raid.rg.recons.start"));
    send(&collector, &line("ontap.log", "not enough spare disks"));
    expect(&sink, "RaidRebuilding", "firing", filer, rg);
    expect(&sink, "RaidNoSpare", "firing", filer, "spares");
    send(&collector, &line("ontap.log", "raid.rg.recons.done"));
    send(&collector, &line("ontap.log", "globalStatus.ok"));
    expect(&sink, "RaidArrayDegraded", "resolved", filer, rg);
    expect(&sink, "RaidRebuilding", "resolved", filer, rg);
    expect(&sink, "RaidNoSpare", "resolved", filer, "spares");
    std::thread::sleep(Duration::from_secs(2));
    for (name, host, array) in [
        ("RaidArrayFailed", esx, dev),
        ("RaidArrayDegraded", esx, lun),
        ("RaidArrayDegraded", filer, rg),
        ("RaidRebuilding", filer, rg),
        ("RaidNoSpare", filer, "spares"),
    ] {
        assert_eq!(
            count(&sink, name, "firing", host, array),
            1,
            "{name} {array}"
        );
        assert_eq!(
            count(&sink, name, "resolved", host, array),
            1,
            "{name} {array}"
        );
    }
    // No RAID group of the filer was ever said to lack a spare: only its `spares` record knows.
    assert_eq!(count(&sink, "RaidNoSpare", "firing", filer, rg), 0);

    // The hypervisor and the filer are hosts of their own in the fleet, and the lines are
    // still searchable as they came.
    let fleet = String::from_utf8_lossy(&collector.cli(&["fleet"]).stdout).into_owned();
    for (host, role) in [("esx1.lab", "hypervisor"), ("filer1", "filer")] {
        let part = fleet
            .split_once(&format!("{host} (site"))
            .unwrap_or_else(|| panic!("no {host} in the fleet: {fleet}"))
            .1;
        assert_eq!(
            part.lines().nth(1),
            Some(&format!("  {role}")[..]),
            "{fleet}"
        );
    }
    assert!(
        !collector
            .search("app:vobd AND \"All Paths Down\"")
            .is_empty()
    );
}
