//! `logwarden-agent parse` end to end, over every line of the real Zimbra lines in
//! `tests/data/fixtures/zimbra/` (see `tests/data/fixtures/SOURCES.md`): the built binary is run on each file and
//! its NDJSON checked event by event, with the expected fields written out.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/fixtures/zimbra")
        .join(name)
}

/// Runs `logwarden-agent parse --tz utc [args] FILE` and returns its events.
fn parse(file: &str, args: &[&str]) -> Vec<Value> {
    let path = fixture(file);
    let out = Command::new(env!("CARGO_BIN_EXE_logwarden-agent"))
        .arg("parse")
        .args(["--tz", "utc"])
        .args(args)
        .arg(&path)
        .output()
        .expect("running logwarden-agent");
    assert!(
        out.status.success(),
        "parse {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON {l:?}: {e}")))
        .collect();
    for e in &events {
        assert_eq!(e["source"], path.display().to_string(), "{e}");
        assert_eq!(e["kind"], "log");
    }
    events
}

/// Checks that `event` has every key of `expected` with the same value (`fields` compared
/// whole when given), printing both side by side when not.
#[track_caller]
///
/// `host` is the host name the line carries: a line cannot set its event's host (that is the
/// agent's), it is kept in `fields.hostname` (issue 26 §7), which `fields` then leaves out.
fn check(event: &Value, expected: Value) {
    let mut event = event.clone();
    let line_host = event["fields"]
        .as_object_mut()
        .and_then(|f| f.remove("hostname"))
        .unwrap_or(Value::Null);
    for (k, want) in expected.as_object().expect("an object") {
        let got = match k.as_str() {
            "host" => &line_host,
            k => &event[k],
        };
        assert_eq!(
            got, want,
            "\n  key:      {k}\n  expected: {want}\n  actual:   {got}\n  event:    {event}"
        );
    }
}

/// The month-day-time part of a ts: BSD lines get their year from the file's mtime, which
/// depends on where the fixtures were copied.
fn ts_tail(e: &Value) -> &str {
    let ts = e["ts"].as_str().expect("ts");
    &ts[5..]
}

#[test]
fn audit_log_lines_give_account_ip_and_audit_fields() {
    let ev = parse("audit.log", &[]);
    assert_eq!(ev.len(), 6);
    check(
        &ev[0],
        json!({"ts": "2010-09-08T00:12:05.253Z", "app": "audit", "severity": "info",
               "message": "cmd=Auth; account=dizihelp@dizi.dc; protocol=soap;",
               "fields": {"thread": "btpool0-8921", "account": "dizihelp@dizi.dc", "oip": "192.168.1.3",
                          "ua": "zclient/6.0.0_BETA2_1547.RHEL5_64", "category": "security",
                          "cmd": "Auth", "protocol": "soap"}}),
    );
    check(
        &ev[1],
        json!({"ts": "2010-09-08T00:12:27.202Z",
               "fields": {"thread": "Pop3SSLServer-12505", "ip": "68.98.153.60", "category": "security",
                          "cmd": "Auth", "account": "terriw@dizi.dc", "protocol": "pop3"}}),
    );
    check(
        &ev[2],
        json!({"ts": "2010-09-08T00:12:42.867Z",
               "fields": {"thread": "Pop3SSLServer-12506", "ip": "68.98.153.60", "category": "security",
                          "cmd": "Auth", "account": "terriw@dizi.dc", "protocol": "pop3"}}),
    );
    check(
        &ev[3],
        json!({"ts": "2015-03-26T21:51:36.505Z",
               "fields": {"thread": "Pop3Server-13", "ip": "172.16.0.3", "oip": "200.111.128.196",
                          "category": "security", "cmd": "Auth", "account": "jbarrera@example.com",
                          "protocol": "pop3"}}),
    );
    check(
        &ev[4],
        json!({"ts": "2015-12-05T18:47:36.435Z",
               "fields": {"thread": "qtp1545357780-7135140:http://127.0.0.1:80/service/soap/AuthRequest",
                          "account": "pepe@domain.com", "oip": "10.1.2.123", "ua": "zclient/2.0.5_GA_1839",
                          "category": "security", "cmd": "Auth", "protocol": "soap"}}),
    );
    check(
        &ev[5],
        json!({"ts": "2025-09-19T19:40:17.304Z",
               "fields": {"thread": "qtp1279309678-18:https://zimbra.example.net/service/soap/",
                          "account": "login@example.net", "oip": "1.2.3.4, 5.6.7.8", "port": "47834",
                          "ua": "BlueMail 1.140.103 (20466)(...le2bw6) devip=1.2.3.4 ZPZB/74",
                          "soapId": "56847ec2", "category": "security", "cmd": "Auth",
                          "protocol": "zsync"}}),
    );
}

#[test]
fn mailbox_log_lines_give_thread_context_category_and_severity() {
    let ev = parse("mailbox.log", &[]);
    assert_eq!(ev.len(), 5);
    check(
        &ev[0],
        json!({"ts": "2017-02-17T19:00:49.086Z", "app": "mailbox", "severity": "info",
               "message": "moving Message (id=54479) to Folder Trash (id=3)",
               "fields": {"thread": "qtp509886383-1551772:https://X.X.X.X:443/service/soap/MsgActionRequest",
                          "account": "prenom.nom@app9.com", "mid": "28", "ip": "80.15.59.104",
                          "ua": "ZimbraConnectorForOutlook/8.5.0.1258", "category": "mailop"}}),
    );
    check(
        &ev[1],
        json!({"ts": "2013-07-18T15:22:01.495Z",
               "message": "moving Message (id=339) to Folder Trash (id=3)",
               "fields": {"thread": "btpool0-4361://localhost/service/soap/MsgActionRequest",
                          "account": "user@domain.com", "mid": "2538", "oip": "258.236.789.647",
                          "ua": "zclient/7.2.4_GA_2900", "category": "mailop"}}),
    );
    check(
        &ev[2],
        json!({"ts": "2013-07-18T15:25:08.962Z",
               "message": "Emptying 9 items from /Trash, removeSubfolders=true.",
               "fields": {"thread": "btpool0-4364://localhost/service/soap/FolderActionRequest",
                          "account": "user@domain.com", "mid": "2538", "oip": "258.236.789.647",
                          "ua": "zclient/7.2.4_GA_2900", "category": "mailbox"}}),
    );
    check(
        &ev[3],
        json!({"ts": "2021-06-25T01:56:18.725Z", "message": "Servlet SoapServlet starting up",
               "fields": {"thread": "main", "category": "soap"}}),
    );
    check(
        &ev[4],
        json!({"ts": "2021-06-17T20:11:34.194Z", "severity": "crit",
               "message": "handler exception java.lang.OutOfMemoryError: PermGen space",
               "fields": {"thread": "btpool0-3335", "account": "samd@example.com",
                          "aname": "abcadmin@example.com", "mid": "142", "ip": "10.3.4.5",
                          "ua": "zimbraConnectorForBES/5.0.207", "category": "system"}}),
    );
}

#[test]
fn mixed_file_gives_saslauthd_jetty_and_a_joined_sync_record() {
    let ev = parse("misc_saslauthd_mailboxdout_sync.log", &[]);
    // comment, saslauthd, comment, jetty (+ the comment under it: once a line showed Jetty's
    // stamp, lines without a known stamp continue the record), and the sync record with its
    // continuation line.
    assert_eq!(ev.len(), 5, "{ev:#?}");
    check(
        &ev[0],
        json!({"app": "", "message": "# /var/log/zimbra.log (saslauthd, MTA auth against Zimbra)"}),
    );
    check(
        &ev[1],
        json!({"host": "mta-in-01", "app": "saslauthd", "severity": "warning",
               "fields": {"pid": 29157, "account": "contabilidad@example.com", "auth": "failed"}}),
    );
    assert_eq!(ts_tail(&ev[1]), "03-26T21:38:26Z");
    check(
        &ev[3],
        json!({"ts": "2021-01-15T15:57:32.537Z", "app": "mailboxd", "severity": "warning",
               "message": "DOS ALERT:ip=127.0.1.1,session=null,user=null\n# /opt/zimbra/log/sync.log (ActiveSync proxy error; one logical record wrapped over 2 lines in the doc, joined here) -- markup removed",
               "fields": {"category": "oejs.DoSFilter", "ip": "127.0.1.1", "alert": "dos"}}),
    );
    let sync = &ev[4];
    check(
        sync,
        json!({"ts": "2021-01-15T15:52:20.426Z", "severity": "warning", "app": "zimbra"}),
    );
    check(
        &sync["fields"],
        json!({"account": "zsupport2@domain.com", "mid": "64", "ip": "10.1.2.3", "Cmd": "FolderSync",
               "DeviceID": "Appl5K0113UN3NR", "Version": "12.1", "category": "sync",
               "thread": "qtp1635701107-91:https://x.x.x.x/Microsoft-Server-ActiveSync?User=zsupport2&DeviceId=Appl5ddddd3NR&DeviceType=iPhone&Cmd=FolderSync"}),
    );
    let msg = sync["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Service exception com.zimbra.common.service.ServiceException"),
        "{msg}"
    );
    assert!(msg.contains("\nExceptionId:qtp1635701107-91"), "{msg}");
}

#[test]
fn stats_log_gives_zimbramon_service_status() {
    let ev = parse("stats.log", &[]);
    assert_eq!(ev.len(), 4);
    for (e, service) in ev.iter().zip(["memcached", "mta", "opendkim"]) {
        check(
            e,
            json!({"host": "mail", "app": "zimbramon", "severity": "info",
                   "fields": {"pid": 27690, "service": service, "status": "running",
                              "server": "mail.example.com"}}),
        );
        assert_eq!(ts_tail(e), "09-05T08:34:06Z");
    }
    check(
        &ev[3],
        json!({"host": "zm-zimbra8", "app": "zimbramon", "fields": {"pid": 17392}}),
    );
}

#[test]
fn zimbra_log_2007_gives_postfix_severities_and_every_service_status() {
    let ev = parse("varlog_zimbra_2007_status_postfix.log", &[]);
    assert_eq!(ev.len(), 21);
    for e in &ev {
        assert_eq!(e["fields"]["hostname"], "www", "{e}");
        assert!(ts_tail(e).starts_with("03-16T19:"), "{e}");
    }
    check(
        &ev[0],
        json!({"app": "master", "severity": "crit", "fields": {"pid": 26657}}),
    );
    check(
        &ev[1],
        json!({"app": "postfix/master", "severity": "warning", "fields": {"pid": 10002}}),
    );
    check(
        &ev[3],
        json!({"app": "postfix/postfix-script", "message": "refreshing the Postfix mail system"}),
    );
    assert!(ev[3]["fields"].get("pid").is_none());
    check(
        &ev[5],
        json!({"app": "/USR/SBIN/CRON", "fields": {"pid": 26845}}),
    );
    let services: Vec<&str> = ev[8..16]
        .iter()
        .map(|e| {
            assert_eq!(e["fields"]["status"], "running", "{e}");
            assert_eq!(e["fields"]["server"], "www", "{e}");
            e["fields"]["service"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        services,
        [
            "antispam",
            "antivirus",
            "ldap",
            "logger",
            "mailbox",
            "mta",
            "snmp",
            "spell"
        ]
    );
    check(
        &ev[16],
        json!({"app": "postfix/smtpd", "message": "connect from unknown[192.168.2.99]"}),
    );
}

#[test]
fn zimbra_log_2015_gives_mta_down_and_queue_numbers() {
    let ev = parse("varlog_zimbra_2015_queue_mta_down.log", &[]);
    assert_eq!(ev.len(), 12);
    for pair in ev.chunks(2) {
        check(
            &pair[0],
            json!({"host": "SRV03-BF65", "app": "postfix/postqueue", "severity": "crit",
                   "fields": {"pid": pair[0]["fields"]["pid"], "service": "mta", "status": "down"}}),
        );
        check(
            &pair[1],
            json!({"host": "SRV03-BF65", "app": "zimbramon", "severity": "info",
                   "fields": {"pid": pair[1]["fields"]["pid"], "service": "mta",
                              "queue_kbytes": 0, "queue_requests": 0}}),
        );
    }
    assert_eq!(ev[0]["fields"]["pid"], 12926);
    assert_eq!(ev[11]["fields"]["pid"], 19124);
}

#[test]
fn zimbra_log_mailboxd_manager_lines_keep_app_and_pid() {
    let ev = parse("varlog_zimbra_mailboxd_stalepid.log", &[]);
    assert_eq!(ev.len(), 10);
    for (i, e) in ev.iter().enumerate() {
        let pid = if i < 5 { 2925 } else { 2955 };
        check(
            e,
            json!({"host": "mail", "app": "zmmailboxdmgr", "severity": "info", "fields": {"pid": pid}}),
        );
    }
    check(
        &ev[0],
        json!({"message": "stale pid 15273 found in /opt/zimbra/log/zmmailboxd_manager.pid: No such process"}),
    );
}

#[test]
fn zimbra_log_ldap_down_gives_ldap_unreachable_with_the_server() {
    let ev = parse("varlog_zimbra_startup_ldapdown.log", &[]);
    assert_eq!(ev.len(), 54);
    let ldap: Vec<&Value> = ev
        .iter()
        .filter(|e| e["fields"]["status"] == "unreachable")
        .collect();
    assert_eq!(ldap.len(), 9);
    for e in ldap {
        check(
            e,
            json!({"app": "zimbramon", "severity": "err",
                   "fields": {"pid": 31338, "service": "ldap", "status": "unreachable",
                              "ldap_server": "gauss.domain.com:389", "component": "zmmtaconfig"}}),
        );
    }
    check(
        &ev[0],
        json!({"app": "zimbramon", "severity": "info",
                         "message": "31338:info: zmmtaconfig: Skipping Global system configuration update."}),
    );
    let slapd: Vec<&Value> = ev.iter().filter(|e| e["app"] == "slapd").collect();
    assert_eq!(slapd.len(), 2);
    assert!(slapd[0]["fields"].get("status").is_none(), "{}", slapd[0]);
    check(
        slapd[1],
        json!({"fields": {"pid": 7131, "service": "ldap", "status": "starting"}}),
    );
    let amavis = ev.iter().filter(|e| e["app"] == "amavis").count();
    assert_eq!(amavis, 8);
}

#[test]
fn zmcontrol_status_output_is_kept_line_by_line_as_plain() {
    let ev = parse("zmcontrol_status_mailbox_stopped.txt", &[]);
    assert_eq!(ev.len(), 21);
    check(
        &ev[0],
        json!({"app": "", "message": "Host mail.domain.co.id", "severity": "info"}),
    );
    check(
        &ev[6],
        json!({"message": "        mailbox                 Stopped"}),
    );
}

#[test]
fn plain_format_keeps_every_line_whole() {
    let ev = parse("audit.log", &["--format", "plain"]);
    assert_eq!(ev.len(), 6);
    assert!(
        ev[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("2010-09-08 00:12:05,253 INFO  [btpool0-8921]")
    );
    assert!(ev[0].get("fields").is_none());
}

#[test]
fn stdin_is_read_when_no_file_is_given_and_a_bad_zone_is_refused() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_logwarden-agent"))
        .args(["parse", "--format", "syslog", "--tz", "+02:00"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running logwarden-agent");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 1234 ID47 - hello\r\nnot syslog\n",
        )
        .expect("writing stdin");
    let out = child.wait_with_output().expect("waiting");
    assert!(out.status.success());
    let ev: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 2);
    check(
        &ev[0],
        json!({"id": "parse:1", "source": "-", "ts": "2003-10-11T22:14:15.003Z", "host": "mymachine",
               "app": "evntslog", "severity": "notice", "message": "hello",
               "fields": {"pid": 1234, "msgid": "ID47", "facility": "local4"}}),
    );
    check(
        &ev[1],
        json!({"id": "parse:2", "app": "", "message": "not syslog"}),
    );

    let out = Command::new(env!("CARGO_BIN_EXE_logwarden-agent"))
        .args(["parse", "--tz", "Mars/Olympus"])
        .stdin(Stdio::null())
        .output()
        .expect("running logwarden-agent");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Mars/Olympus"), "{err}");
}
