//! How the CLI shows answers, through the real CLI and collector: `-o csv --fields` read back by
//! Python's csv module (commas, quotes and line breaks in messages), `--tz` with a zone's
//! daylight saving, and colour on a real terminal (util-linux `script` gives the CLI a pty)
//! unless `NO_COLOR` is set or `--color never` is given.

use std::process::Command;

use logwarden_tests::{Collector, assert_same, bin, ok_stdout, wait_until};

fn event(seq: u64, ts: &str, severity: &str, message: &str, ip: Option<&str>) -> String {
    let mut e = serde_json::json!({
        "id": format!("d:{seq}"), "ts": ts, "host": "mbox1", "site": "lab",
        "source": "/var/log/mail.log", "app": "postfix/smtpd", "severity": severity,
        "kind": "log", "message": message,
    });
    if let Some(ip) = ip {
        e["fields"] = serde_json::json!({ "ip": ip });
    }
    e.to_string()
}

#[test]
fn csv_columns_zones_and_colour() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), &[]);
    let awkward = "reject: \"RCPT\" from a,b\nsecond line";
    c.ingest_ok(&[
        event(1, "2026-01-15T12:00:00Z", "err", awkward, Some("10.0.0.1")),
        event(2, "2026-07-15T12:00:00.250Z", "info", "plain", None),
    ]);
    assert!(wait_until(std::time::Duration::from_secs(30), || c
        .count("*")
        == 2));

    // CSV, oldest first, in Berlin's time: read back by an independent CSV reader.
    let out = ok_stdout(&c.cli(&[
        "search",
        "*",
        "--oldest-first",
        "-o",
        "csv",
        "--fields",
        "ts,host,severity,fields.ip,message",
        "--tz",
        "Europe/Berlin",
    ]));
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys; print(json.dumps(list(csv.reader(sys.stdin, strict=True))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(out.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3's csv module");
    let rows: Vec<Vec<String>> = serde_json::from_slice(&parsed.stdout)
        .unwrap_or_else(|e| panic!("csv.reader gave no rows ({e}) for:\n{out}"));
    assert_same(
        "csv rows",
        vec![
            vec!["ts", "host", "severity", "fields.ip", "message"],
            vec![
                "2026-01-15T13:00:00+01:00",
                "mbox1",
                "err",
                "10.0.0.1",
                awkward,
            ],
            vec![
                "2026-07-15T14:00:00.250+02:00",
                "mbox1",
                "info",
                "",
                "plain",
            ],
        ]
        .into_iter()
        .map(|r| r.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect::<Vec<_>>(),
        rows,
    );

    // Text in a named zone and from the environment; UTC by default.
    let text = ok_stdout(&c.cli(&["search", "plain"]));
    assert!(text.starts_with("2026-07-15T12:00:00.250Z mbox1"), "{text}");
    let text = ok_stdout(&c.cli(&["search", "plain", "--tz", "America/New_York"]));
    assert!(
        text.starts_with("2026-07-15T08:00:00.250-04:00 mbox1"),
        "{text}"
    );

    // Bad input named: an unknown zone, an unknown column, --fields without csv, csv where no
    // events are printed.
    for (args, why) in [
        (
            vec!["search", "*", "--tz", "Mars/Olympus"],
            "\"Mars/Olympus\"",
        ),
        (
            vec!["search", "*", "-o", "csv", "--fields", "ts,hostname"],
            "\"hostname\" is not a column",
        ),
        (
            vec!["search", "*", "--fields", "ts"],
            "--fields chooses the columns of -o csv",
        ),
        (vec!["count", "*", "-o", "csv"], "csv prints events"),
    ] {
        let out = c.cli(&args);
        assert_same("exit code", Some(2), out.status.code());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    // Colour: on a terminal by default, the error's severity in red; never into a pipe, nor
    // with NO_COLOR or --color never.
    let on_a_pty = |env_no_color: bool, extra: &str| {
        let cmd = format!(
            "{} --server {} search severity:err {extra}",
            bin("logwarden").display(),
            c.url
        );
        let mut script = Command::new("script");
        script.args(["-qec", &cmd, "/dev/null"]);
        script.env_remove("NO_COLOR");
        if env_no_color {
            script.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&script.output().expect("util-linux script").stdout).into_owned()
    };
    let coloured = on_a_pty(false, "");
    assert!(coloured.contains("\x1b[31merr\x1b[0m"), "{coloured:?}");
    for (no_color, extra) in [(true, ""), (false, "--color never")] {
        let plain = on_a_pty(no_color, extra);
        assert!(
            plain.contains("mbox1") && !plain.contains('\x1b'),
            "{plain:?}"
        );
    }
    let piped = ok_stdout(&c.cli(&["search", "severity:err"]));
    assert!(!piped.contains('\x1b'), "{piped:?}");
    let forced = ok_stdout(&c.cli(&["search", "severity:err", "--color", "always"]));
    assert!(forced.contains("\x1b[31merr\x1b[0m"), "{forced:?}");
}
