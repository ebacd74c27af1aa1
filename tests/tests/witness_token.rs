//! End to end: only collectors vote at the witness (issue 26). The witness took no token, so
//! anyone who could reach it could renew a lease or claim an epoch. Now a vote needs a token of
//! the `replication` role (`--token-file`, `LOGWARDEN_WITNESS_TOKEN`, or the tokens file):
//! none or an unknown one is 401, a token of another role 403, and nothing a refused vote asks
//! for is granted; a pair with tokens set (each collector sends `[replication] witness_token`)
//! still fails over on its own when the primary is killed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use logwarden_tests::{Collector, Witness, assert_same, bin, free_addr, wait_until};

/// `logwarden-collector token add NAME --role ROLE --data-dir DIR`: the new token.
fn token_add(data_dir: &Path, name: &str, role: &str) -> String {
    let out = Command::new(bin("logwarden-collector"))
        .args(["token", "add", name, "--role", role, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("running token add");
    assert!(out.status.success(), "token add: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// POSTs a renewal or a claim; the status and the answer's text.
fn vote(
    witness: &Witness,
    what: &str,
    site: &str,
    epoch: u64,
    token: Option<&str>,
) -> (u16, String) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/witness/{what}", witness.url))
        .json(&serde_json::json!({"site": site, "epoch": epoch, "lease_ms": 100}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("the witness answers");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

fn held(data_dir: &Path) -> serde_json::Value {
    std::fs::read(data_dir.join("witness.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn the_witness_counts_only_votes_with_a_token_that_may_vote() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = dir.path().join("witness");
    let ingest = token_add(&wdir, "an-agent", "ingest");
    let reader = token_add(&wdir, "oncall", "read");
    let site_c = token_add(&wdir, "site-c", "replication");
    let token_file = dir.path().join("witness.token");
    std::fs::write(&token_file, "# the pair's vote\nlw_vote_from_file\n").unwrap();
    let witness = Witness::start_with(
        &wdir,
        &["--token-file", token_file.to_str().unwrap()],
        &[("LOGWARDEN_WITNESS_TOKEN", "lw_vote_from_env")],
    );

    for what in ["renew", "claim"] {
        assert_same(
            "no token (from loopback)",
            401,
            vote(&witness, what, "x", 1, None).0,
        );
        assert_same(
            "an unknown token",
            401,
            vote(&witness, what, "x", 1, Some("lw_nope")).0,
        );
        let (status, text) = vote(&witness, what, "x", 1, Some(&ingest));
        assert_same("an ingest token", 403, status);
        assert!(text.contains("replication role"), "{text}");
        assert_same(
            "a read token",
            403,
            vote(&witness, what, "x", 1, Some(&reader)).0,
        );
    }
    assert_same(
        "nothing granted to a refused vote",
        serde_json::Value::Null,
        held(&wdir),
    );

    let (status, text) = vote(&witness, "renew", "a", 1, Some("lw_vote_from_file"));
    assert_same("a token of --token-file", 200, status);
    assert!(text.contains("\"granted\":true"), "{text}");
    assert_same("epoch held", 1, held(&wdir)["epoch"].as_u64().unwrap());
    let (status, text) = vote(&witness, "renew", "a", 1, Some("lw_vote_from_env"));
    assert_same("the token of LOGWARDEN_WITNESS_TOKEN", 200, status);
    assert!(text.contains("\"granted\":true"), "{text}");
    // A refused claim of the next epoch changes nothing; the same claim with a token is decided
    // on its merits (the lease of 100 ms has run out: granted).
    std::thread::sleep(Duration::from_millis(150));
    assert_same("no token", 401, vote(&witness, "claim", "b", 2, None).0);
    assert_same("epoch held", 1, held(&wdir)["epoch"].as_u64().unwrap());
    let (status, text) = vote(&witness, "claim", "b", 2, Some(&site_c));
    assert_same("a replication entry of the tokens file", 200, status);
    assert!(text.contains("\"granted\":true"), "{text}");
    assert_same("epoch held", 2, held(&wdir)["epoch"].as_u64().unwrap());
}

fn role_epoch(c: &Collector) -> Option<(String, u64)> {
    let s = c.status()?;
    Some((s["role"].as_str()?.to_owned(), s["epoch"].as_u64()?))
}

#[test]
fn a_pair_with_tokens_and_a_guarded_witness_still_fails_over() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("witness.token");
    std::fs::write(&token_file, "lw_vote\n").unwrap();
    let witness = Witness::start_with(
        &dir.path().join("witness"),
        &["--token-file", token_file.to_str().unwrap()],
        &[],
    );
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "[replication]\nfailover_timeout_s = 3\ntoken = \"lw_pair\"\nwitness_token = \"lw_vote\"\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let (url_a, url_b) = (format!("http://{addr_a}"), format!("http://{addr_b}"));
    let start = |name: &str, role: &str, addr: &str, peer: &str| {
        Collector::start_at(
            &dir.path().join(name),
            addr,
            &[
                "--site",
                name,
                "--role",
                role,
                "--peer",
                peer,
                "--config",
                cfg,
                "--witness",
                &witness.url,
            ],
        )
    };
    let mut a = start("a", "primary", &addr_a, &url_b);
    let b = start("b", "standby", &addr_b, &url_a);
    let lines: Vec<String> = (0..50)
        .map(|i| logwarden_tests::event_line("voter", i, &format!("guardedvote {i}")))
        .collect();
    a.ingest_ok(&lines);
    assert!(
        wait_until(Duration::from_secs(30), || b.count("guardedvote") == 50),
        "the standby did not copy the primary's events"
    );
    // The primary holds the lease: its token was taken.
    assert!(
        wait_until(Duration::from_secs(10), || held(
            &dir.path().join("witness")
        )["holder"]
            == "a"),
        "the primary's renewals were not granted: {}",
        held(&dir.path().join("witness"))
    );

    a.kill9();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || role_epoch(&b)
            == Some(("primary".into(), 2))),
        "the standby did not take over: {:?}",
        b.status()
    );
    println!(
        "standby primary {:.1} s after the kill (failover timeout 3 s)",
        killed.elapsed().as_secs_f64()
    );
    assert_same(
        "holder",
        "b",
        held(&dir.path().join("witness"))["holder"]
            .as_str()
            .unwrap(),
    );
    assert_same("events on the new primary", 50, b.count("guardedvote"));
}
