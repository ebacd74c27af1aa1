//! `config check FILE` of both programs, as an operator runs it before a restart: a good file
//! says ok, a bad one is named with its line and key and exits 2, and nothing is started
//! (no data folder appears).

use std::process::Command;

use logwarden_tests::bin;

fn check(program: &str, text: &str) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin(program))
        .args(["config", "check"])
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said, dir)
}

#[test]
fn collector_config_check_accepts_a_good_file_without_starting() {
    let (code, said, dir) = check(
        "logwarden-collector",
        "listen = \"0.0.0.0:7070\"\ndata_dir = \"data\"\n[syslog]\nudp = \"off\"\n",
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("x.toml: ok"), "{said}");
    assert!(
        !dir.path().join("data").exists(),
        "check must not create the data folder"
    );
}

#[test]
fn collector_config_check_names_the_file_line_and_key_of_a_mistake() {
    let (code, said, _dir) = check(
        "logwarden-collector",
        "listen = \"127.0.0.1:7070\"\n\n[wal]\nsegment_byte = 5\n",
    );
    assert_eq!(code, Some(2), "{said}");
    for want in ["x.toml", "line 4", "segment_byte"] {
        assert!(said.contains(want), "{want:?} not in: {said}");
    }
    let (code, said, _dir) = check("logwarden-collector", "listen = \"not an address\"\n");
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("not an address"), "{said}");
}

#[test]
fn agent_config_check_names_a_bad_value() {
    let (code, said, _dir) = check(
        "logwarden-agent",
        "[[files]]\npath = \"/var/log/syslog\"\nformat = \"json\"\n",
    );
    assert_eq!(code, Some(2), "{said}");
    for want in ["x.toml", "line 3", "json"] {
        assert!(said.contains(want), "{want:?} not in: {said}");
    }
}

#[test]
fn old_duration_keys_pass_with_one_deprecation_line_each_and_both_spellings_are_refused() {
    let (code, said, _dir) = check(
        "logwarden-collector",
        "[alerts]\ngroup_wait_s = 30\n[replication]\nsync_timeout_s = 0.5\n",
    );
    assert_eq!(code, Some(0), "{said}");
    for want in [
        "line 2: [alerts] group_wait_s = 30 is deprecated: write group_wait = \"30s\"",
        "line 4: [replication] sync_timeout_s = 0.5 is deprecated: write sync_timeout = \"500ms\"",
        "x.toml: ok",
    ] {
        assert!(said.contains(want), "{want:?} not in: {said}");
    }
    let (code, said, _dir) = check("logwarden-collector", "[syslog]\nidle_timeout = \"10m\"\n");
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("deprecated"), "{said}");
    let (code, said, _dir) = check(
        "logwarden-collector",
        "[alerts]\ngroup_wait = \"30s\"\ngroup_wait_s = 30\n",
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("line 3") && said.contains("group_wait_s and group_wait are both given"),
        "{said}"
    );

    let (code, said, _dir) = check("logwarden-agent", "heartbeat_secs = 30\n");
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("line 1: heartbeat_secs = 30 is deprecated: write heartbeat = \"30s\""),
        "{said}"
    );
    let (code, said, _dir) = check("logwarden-agent", "heartbeat = 30\n");
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("line 1") && said.contains("\"30s\""),
        "{said}"
    );

    // The health timers, and keys inside arrays of tables: each line names its own table.
    let (code, said, _dir) = check(
        "logwarden-agent",
        "[health]\nsmart_interval_s = 3600\n\
         [[health.redfish]]\nurl = \"https://bmc1\"\ntimeout_s = 9\n\
         [[health.redfish]]\nurl = \"https://bmc2\"\ntimeout_s = 10\n",
    );
    assert_eq!(code, Some(0), "{said}");
    for want in [
        "line 2: [health] smart_interval_s = 3600 is deprecated: write smart_interval = \"1h\"",
        "line 5: [[health.redfish]] timeout_s = 9 is deprecated: write timeout = \"9s\"",
        "line 8: [[health.redfish]] timeout_s = 10 is deprecated: write timeout = \"10s\"",
    ] {
        assert!(said.contains(want), "{want:?} not in: {said}");
    }
    let (code, said, _dir) = check(
        "logwarden-agent",
        "[[health.redfish]]\nurl = \"https://bmc1\"\ninterval = \"1m\"\ninterval_s = 60\n",
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("line 4")
            && said.contains("[[health.redfish]] interval_s and interval are both given"),
        "{said}"
    );
}

#[test]
fn collector_config_check_names_the_line_of_an_annotation_template_that_does_not_read() {
    let rule = "[alerts]\n\n[[alerts.rules]]\nname = \"Boom\"\nquery = 'boom'\n";
    // In an annotations table: line 8 holds the bad one.
    let (code, said, _dir) = check(
        "logwarden-collector",
        &format!(
            "{rule}runbook_url = \"https://wiki/{{{{ labels.host }}}}\"\n[alerts.rules.annotations]\n\
             summary = \"{{{{ labels.host }}}} went boom\"\ndescription = \"\"\"{{{{ labels.host\n\"\"\"\n"
        ),
    );
    assert_eq!(code, Some(2), "{said}");
    for want in [
        "x.toml, line 9",
        "rule \"Boom\"",
        "annotation \"description\"",
        "without a closing",
    ] {
        assert!(said.contains(want), "{want:?} not in: {said}");
    }
    // Inline, and the runbook link: line 6 and line 7.
    let (code, said, _dir) = check(
        "logwarden-collector",
        &format!("{rule}annotations = {{ summary = \"{{{{ host }}}}\" }}\n"),
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("x.toml, line 6") && said.contains("`{{ host }}` is not labels.NAME"),
        "{said}"
    );
    let (code, said, _dir) = check(
        "logwarden-collector",
        &format!("{rule}severity = \"critical\"\nrunbook_url = \"https://wiki/{{{{ value\"\n"),
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("x.toml, line 7") && said.contains("annotation \"runbook_url\""),
        "{said}"
    );
}

#[test]
fn collector_config_check_names_the_line_of_an_e_mail_password_that_would_go_in_clear() {
    let receiver = "[alerts]\n\n[[alerts.receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n\
                    [[alerts.receivers]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"127.0.0.1:25\"\n\
                    from = \"lw@example.net\"\nto = [\"ops@example.net\"]\nusername = \"lw\"\npassword = \"secret\"\n";
    // `tls = "none"` given: its line (16).
    let (code, said, _dir) = check(
        "logwarden-collector",
        &format!("{receiver}tls = \"none\"\n"),
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("x.toml, line 16")
            && said.contains("receiver \"mail\" (email)")
            && said.contains("in clear"),
        "{said}"
    );
    // No `tls` at all: starttls by default, fine; an unknown one is named at its line.
    let (code, said, _dir) = check("logwarden-collector", receiver);
    assert_eq!(code, Some(0), "{said}");
    let (code, said, _dir) = check("logwarden-collector", &format!("{receiver}tls = \"ssl\"\n"));
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("x.toml, line 16") && said.contains("\"ssl\""),
        "{said}"
    );
}
