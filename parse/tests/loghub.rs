//! The syslog parser against Loghub's ground truth (`tests/data/corpus/loghub/`): for every line of
//! each 2,000-line set, host, program, PID, message and stamp must agree with the
//! `_structured.csv` for at least 99.5% of lines. The figure and every miss are printed
//! (`cargo test --test parse_loghub -- --nocapture`).
//!
//! Loghub's column names are its own: in `Linux_2k` the host is in `Level` and the program in
//! `Component`; in `OpenSSH_2k` the host is in `Component` and the program is always `sshd`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use logwarden_parse::{Format, LineParser, ParseOptions, Zone};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/corpus/loghub")
        .join(name)
}

/// Splits one CSV record (RFC 4180 quoting; Loghub has no newlines inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

struct Truth {
    month: String,
    day: String,
    time: String,
    host: String,
    app: String,
    pid: String,
    content: String,
}

/// Parses every line of `log` and compares with `truth`; returns (agreeing, total, misses).
fn compare(log: &str, truth: Vec<Truth>) -> (usize, usize, Vec<String>) {
    let path = corpus(log);
    let text = std::fs::read(&path).expect("reading the corpus");
    let reference: DateTime<Utc> = "2006-01-01T00:00:00Z".parse().unwrap();
    let mut parser = LineParser::with_options(
        Path::new(log),
        Format::Syslog,
        &ParseOptions {
            zone: Zone::Utc,
            reference: Some(reference),
            // The host name each line carries is what is compared (as a syslog receiver reads
            // it; an agent keeps it in `fields.hostname`).
            host_from_line: true,
        },
    );
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        truth.len(),
        "{log}: lines and ground truth rows differ in number"
    );
    let mut misses = Vec::new();
    for (i, (line, want)) in lines.iter().zip(&truth).enumerate() {
        let d = parser.parse(line);
        let pid = d.fields.get("pid").map(|p| match p {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let stamp = d.ts.map(|t| t.format("%b %-d %H:%M:%S").to_string());
        let want_stamp = format!("{} {} {}", want.month, want.day, want.time);
        let got = (
            d.host.as_deref().unwrap_or(""),
            d.app.as_str(),
            pid.as_deref().unwrap_or(""),
            d.message.trim(),
            stamp.as_deref().unwrap_or(""),
        );
        let expected = (
            want.host.as_str(),
            want.app.as_str(),
            want.pid.as_str(),
            want.content.trim(),
            want_stamp.as_str(),
        );
        if got != expected {
            misses.push(format!(
                "{log}:{}: {}\n    expected {expected:?}\n    actual   {got:?}",
                i + 1,
                String::from_utf8_lossy(line)
            ));
        }
    }
    (truth.len() - misses.len(), truth.len(), misses)
}

fn report(log: &str, (ok, total, misses): (usize, usize, Vec<String>)) {
    let pct = 100.0 * ok as f64 / total as f64;
    println!("{log}: {ok}/{total} lines agree with the ground truth ({pct:.2}%)");
    for m in &misses {
        println!("  miss {m}");
    }
    assert!(pct >= 99.5, "{log}: only {pct:.2}% agree (99.5% needed)");
}

fn read_csv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(corpus(name))
        .expect("reading the ground truth")
        .lines()
        .skip(1)
        .map(csv_fields)
        .collect()
}

#[test]
fn linux_2k_host_program_pid_message_and_stamp_agree_with_loghub() {
    // LineId,Month,Date,Time,Level(host),Component(program),PID,Content,EventId,EventTemplate
    let truth = read_csv("Linux_2k.log_structured.csv")
        .into_iter()
        .map(|f| Truth {
            month: f[1].clone(),
            day: f[2].clone(),
            time: f[3].clone(),
            host: f[4].clone(),
            app: f[5].clone(),
            pid: f[6].clone(),
            content: f[7].clone(),
        })
        .collect();
    report("Linux_2k.log", compare("Linux_2k.log", truth));
}

#[test]
fn openssh_2k_host_program_pid_message_and_stamp_agree_with_loghub() {
    // LineId,Date(month),Day,Time,Component(host),Pid,Content,EventId,EventTemplate
    let truth = read_csv("OpenSSH_2k.log_structured.csv")
        .into_iter()
        .map(|f| Truth {
            month: f[1].clone(),
            day: f[2].clone(),
            time: f[3].clone(),
            host: f[4].clone(),
            app: "sshd".into(),
            pid: f[5].clone(),
            content: f[6].clone(),
        })
        .collect();
    report("OpenSSH_2k.log", compare("OpenSSH_2k.log", truth));
}

#[test]
fn csv_fields_follow_quoting() {
    assert_eq!(
        csv_fields(r#"1,"a, b","say ""hi""",,x"#),
        ["1", "a, b", r#"say "hi""#, "", "x"]
    );
}
