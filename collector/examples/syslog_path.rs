//! CPU per message of the syslog TCP intake's stages, on one thread: framing and parsing (the
//! connection's task), the finished event (the intake task), its JSON line (ditto), and
//! dropping it (the WAL committer, once the event leaves its window of recent events). The
//! messages are those of `bench/syslog_bench.py`.
//!
//! Usage: cargo run --release --example syslog_path [MESSAGES]   (OCTET=1: octet-counted framing)
//!
//! A guide to where the time goes, not the benchmark itself: in the collector these stages run
//! on different threads, and a free on another thread than the allocation costs more.
use std::time::{Duration, Instant};

use logwarden_collector::syslog::framing::Framer;
use logwarden_collector::syslog::intake::Parser;
use logwarden_core::EventId;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let octet = std::env::var_os("OCTET").is_some();
    let hosts = ["mbox1", "mbox2", "mta1", "ldap1"];
    let apps = [
        "postfix/smtpd[2231]",
        "sshd[811]",
        "zmmailboxd[90]",
        "slapd[77]",
    ];
    let mut data = Vec::new();
    for i in 0..n {
        let mut line = format!(
            "<22>Nov 29 10:{:02}:{:02} {} {}: benchline {i} ",
            (i / 60) % 60,
            i % 60,
            hosts[i % 4],
            apps[i % 4]
        )
        .into_bytes();
        line.resize(line.len().max(127), b'x');
        if octet {
            data.extend_from_slice(format!("{} ", line.len()).as_bytes());
            data.extend_from_slice(&line);
        } else {
            data.extend_from_slice(&line);
            data.push(b'\n');
        }
    }
    let peer = "127.0.0.1:5555".parse().expect("an address");
    for round in 1..=3 {
        let mut framer = Framer::new(64 * 1024);
        let mut parser = Parser::new("tcp");
        let [mut parse, mut event, mut json, mut drop] = [Duration::ZERO; 4];
        let mut seq = 0;
        // About the committer's window of recent events (16 MiB of JSON).
        let mut window = std::collections::VecDeque::new();
        for read in data.chunks(64 * 1024) {
            let t = Instant::now();
            let mut batch = Vec::new();
            framer
                .push(read, |f| batch.push(parser.parse(f, peer)))
                .expect("well framed");
            parse += t.elapsed();

            let t = Instant::now();
            let now = chrono::Utc::now();
            let events: Vec<_> = batch
                .into_iter()
                .map(|draft| {
                    seq += 1;
                    let id = EventId::new("syslog@local", seq);
                    draft.into_event(id, "", "local", now)
                })
                .collect();
            event += t.elapsed();

            let t = Instant::now();
            let mut body = Vec::with_capacity(events.len() * 384);
            for e in &events {
                e.write_json(&mut body);
                body.push(b'\n');
            }
            json += t.elapsed();

            window.push_back(events);
            if window.len() > 40 {
                let t = Instant::now();
                std::mem::drop(window.pop_front());
                drop += t.elapsed();
            }
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "round {round}: frame+parse {:.3}, event {:.3}, json {:.3}, drop {:.3} us/msg",
            us(parse),
            us(event),
            us(json),
            us(drop)
        );
    }
}
