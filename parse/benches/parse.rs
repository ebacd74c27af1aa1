//! Parser throughput per format, one core: `cargo bench -p logwarden-agent --bench parse`.
//!
//! Each format's lines are real ones (Loghub's syslog sets, the Zimbra fixtures) or, for nginx,
//! built from the documented format, cycled to `LINES` lines; the figure is
//! `LineParser::parse` alone (no JSON, no I/O), the best of `ROUNDS` rounds. The end-to-end
//! figure of `logwarden-agent parse` (with NDJSON output) is in docs/BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use logwarden_parse::{Format, LineParser, ParseOptions, Zone};

const LINES: usize = 1_000_000;
const ROUNDS: usize = 3;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

fn lines_of(rel: &str, keep: impl Fn(&str) -> bool) -> Vec<Vec<u8>> {
    std::fs::read_to_string(shared(rel))
        .unwrap_or_default()
        .lines()
        .filter(|l| keep(l))
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn bench(name: &str, path: &str, format: Format, lines: &[Vec<u8>]) {
    if lines.is_empty() {
        println!("{name:<34} skipped (no input lines found)");
        return;
    }
    let options = ParseOptions {
        zone: Zone::Local,
        reference: None,
        ..ParseOptions::default()
    };
    let mut best = f64::MAX;
    let mut bytes = 0usize;
    for _ in 0..ROUNDS {
        let mut p = LineParser::with_options(Path::new(path), format, &options);
        bytes = 0;
        let start = Instant::now();
        for line in lines.iter().cycle().take(LINES) {
            bytes += line.len();
            black_box(p.parse(black_box(line)));
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{name:<34} {:>10.0} lines/s  {:>7.1} MB/s  ({:.0} ns/line)",
        LINES as f64 / best,
        bytes as f64 / best / 1e6,
        best * 1e9 / LINES as f64
    );
}

fn main() {
    let linux = lines_of("corpus/loghub/Linux_2k.log", |_| true);
    let openssh = lines_of("corpus/loghub/OpenSSH_2k.log", |_| true);
    let zimbra_syslog: Vec<Vec<u8>> = [
        "zimbra/varlog_zimbra_2007_status_postfix.log",
        "zimbra/varlog_zimbra_2015_queue_mta_down.log",
        "zimbra/varlog_zimbra_startup_ldapdown.log",
        "zimbra/stats.log",
    ]
    .iter()
    .flat_map(|f| lines_of(&format!("fixtures/{f}"), |_| true))
    .collect();
    let log4j: Vec<Vec<u8>> = ["zimbra/audit.log", "zimbra/mailbox.log"]
        .iter()
        .flat_map(|f| lines_of(&format!("fixtures/{f}"), |_| true))
        .collect();
    // The mail corpus: postfix's delivery path and amavis verdicts (issue 29's fields), and
    // Zimbra's LMTP/mailop lines.
    let mail_syslog: Vec<Vec<u8>> = ["mail/mta1/zimbra.log", "mail/mta2/zimbra.log"]
        .iter()
        .flat_map(|f| lines_of(f, |_| true))
        .collect();
    let mail_log4j = lines_of("mail/mbox1/mailbox.log", |_| true);
    let jetty = lines_of("fixtures/zimbra/misc_saslauthd_mailboxdout_sync.log", |l| {
        l.contains(":WARN:")
    });
    let nginx: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            format!(
                "203.0.113.{i}:5{i:04} - - [15/Jan/2021:15:57:{:02} +0100]  \"POST /service/soap/AuthRequest HTTP/1.1\" {} {} \"https://mail.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:{i}.0) Gecko/20100101 Firefox/{i}.0\" \"10.0.0.5:8443\"",
                i % 60,
                if i % 16 == 0 { 502 } else { 200 },
                1000 + i * 7
            )
            .into_bytes()
        })
        .collect();
    let rfc5424: Vec<Vec<u8>> = (0..64)
        .map(|i| format!("<165>1 2003-10-11T22:14:{:02}.003Z mymachine.example.com evntslog {i} ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"10{i}\"] An application event log entry {i}", i % 60).into_bytes())
        .collect();

    println!("LineParser::parse, one core, {LINES} lines per run, best of {ROUNDS}");
    bench(
        "syslog BSD (Loghub Linux_2k)",
        "/var/log/messages",
        Format::Syslog,
        &linux,
    );
    bench(
        "syslog BSD (Loghub OpenSSH_2k)",
        "/var/log/auth.log",
        Format::Syslog,
        &openssh,
    );
    bench(
        "syslog zimbra.log (+ Zimbra msgs)",
        "/var/log/zimbra.log",
        Format::Syslog,
        &zimbra_syslog,
    );
    bench(
        "syslog postfix+amavis delivery lines",
        "/var/log/zimbra.log",
        Format::Syslog,
        &mail_syslog,
    );
    bench(
        "zimbra log4j LMTP/mailop lines",
        "/opt/zimbra/log/mailbox.log",
        Format::Zimbra,
        &mail_log4j,
    );
    bench(
        "syslog RFC 5424 (syslog_loose)",
        "/var/log/x",
        Format::Syslog,
        &rfc5424,
    );
    bench(
        "zimbra log4j (audit+mailbox)",
        "/opt/zimbra/log/mailbox.log",
        Format::Zimbra,
        &log4j,
    );
    bench(
        "zimbra jetty (zmmailboxd.out)",
        "/opt/zimbra/log/zmmailboxd.out",
        Format::Zimbra,
        &jetty,
    );
    bench(
        "nginx (Zimbra proxy format)",
        "/opt/zimbra/log/nginx.access.log",
        Format::Nginx,
        &nginx,
    );
    bench(
        "auto on zimbra.log lines",
        "/tmp/unknown",
        Format::Auto,
        &zimbra_syslog,
    );
    bench("plain", "/tmp/x", Format::Plain, &linux);
    syslog_loose_alone(&linux);
}

/// The same BSD lines through syslog_loose alone (what the hand-written path replaces): its
/// parse without even building a draft.
fn syslog_loose_alone(lines: &[Vec<u8>]) {
    use chrono::Offset as _;
    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|l| std::str::from_utf8(l).ok())
        .collect();
    let utc = chrono::Utc.fix();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for t in texts.iter().cycle().take(LINES) {
            black_box(syslog_loose::parse_message_with_year_exact_tz(
                black_box(t),
                |_| 2005,
                Some(utc),
                syslog_loose::Variant::Either,
            ))
            .ok();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{:<34} {:>10.0} lines/s  (parse only, no draft)",
        "syslog BSD via syslog_loose alone",
        LINES as f64 / best
    );
    // Where the two read a line differently (app or pid).
    let mut p = LineParser::with_options(
        Path::new("/var/log/messages"),
        Format::Syslog,
        &ParseOptions::default(),
    );
    let differ: Vec<&str> = texts
        .iter()
        .filter(|t| {
            let m = syslog_loose::parse_message_with_year_exact_tz(
                t,
                |_| 2005,
                Some(utc),
                syslog_loose::Variant::Either,
            );
            let d = p.parse(t.as_bytes());
            let pid = d.fields.get("pid").map(|v| v.to_string());
            match m {
                Ok(m) => m.appname.unwrap_or("") != d.app || m.procid.map(|p| p.to_string()) != pid,
                Err(_) => true,
            }
        })
        .copied()
        .collect();
    println!(
        "  syslog_loose reads app or pid differently on {} of {} lines",
        differ.len(),
        texts.len()
    );
    for t in differ.iter().take(5) {
        println!("    {t}");
    }
}
