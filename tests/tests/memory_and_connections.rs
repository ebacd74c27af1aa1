//! Memory and connection slots stay bounded against hostile clients (issue 26 §6), with real
//! sockets on loopback: parallel compression bombs within one memory budget, tail readers
//! that never read dropped instead of buffered, tails apart from the agents' slots, and one
//! client's idle connections (HTTP and syslog TCP) never locking other clients out. The hostile
//! clients connect from 127.0.0.2, the well-behaved ones from 127.0.0.1 (both loopback).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use logwarden_tests::{Collector, assert_same, event_line, wait_until};

/// A TCP connection to `to` from the loopback address `from`.
fn connect_from(from: &str, to: &str) -> std::io::Result<TcpStream> {
    let to: SocketAddr = to.parse().expect("a socket address");
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(s.into())
}

/// The collector's peak resident memory so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

fn config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// 60 parallel zstd bombs of a few KB each (each one alone refused at 413 once past
/// `max_decoded_bytes`) reached 7.4 GB before: now they share `[limits] max_memory_bytes`
/// (256 MiB), each answered 413 or 503, and the collector stays well under 1 GiB.
#[test]
fn parallel_compression_bombs_stay_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c"), &[]);
    // 80 MiB of one repeated line (over `max_decoded_bytes`, 64 MiB): a few KB compressed.
    let line = event_line("bomb", 1, "x");
    let mut plain = Vec::with_capacity(80 << 20);
    while plain.len() < 80 << 20 {
        plain.extend_from_slice(line.as_bytes());
        plain.push(b'\n');
    }
    let bomb = zstd::encode_all(&plain[..], 3).unwrap();
    drop(plain);
    assert!(bomb.len() < 64 << 10, "a bomb of {} bytes", bomb.len());
    let before = peak_rss(collector.pid());
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..60)
            .map(|_| {
                let (url, bomb) = (collector.url.clone(), bomb.clone());
                s.spawn(move || {
                    reqwest::blocking::Client::new()
                        .post(format!("{url}/api/v1/ingest"))
                        .header("content-encoding", "zstd")
                        .body(bomb)
                        .timeout(Duration::from_secs(120))
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let peak = peak_rss(collector.pid());
    assert!(
        statuses.iter().all(|&s| s == 413 || s == 503),
        "every bomb refused (413 over its own limit, 503 over the budget): {statuses:?}"
    );
    assert!(
        peak < 1 << 30,
        "peak RSS {} MiB (before the bombs: {} MiB)",
        peak >> 20,
        before >> 20
    );
    // The budget was given back: a real batch goes through.
    collector.ingest_ok(&[event_line("a", 1, "after the bombs")]);
    let refused = collector.metric("logwarden_memory_budget_refused_total");
    eprintln!(
        "60 bombs of {} bytes: peak RSS {} MiB (before {} MiB); 503 over the budget: {refused:?}",
        bomb.len(),
        peak >> 20,
        before >> 20
    );
}

/// 20 live tails that never read grew the collector from 17 MB to 10.9 GB: now a reader that
/// takes nothing is cut after `[limits] write_timeout_s`, and one that falls more than 4 MiB
/// behind is dropped, so memory stays bounded and every such tail is closed.
#[test]
fn tail_readers_that_never_read_are_dropped_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[limits]\nwrite_timeout_s = 2\n");
    let collector = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    let tails: Vec<TcpStream> = (0..20)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            // A small receive window, so that the collector's writes wait soon.
            s.set_recv_buffer_size(4096).unwrap();
            let to: SocketAddr = collector.addr.parse().unwrap();
            s.connect(&to.into()).unwrap();
            let mut s: TcpStream = s.into();
            write!(s, "GET /api/v1/tail?q=filler HTTP/1.1\r\nHost: c\r\n\r\n").unwrap();
            s
        })
        .collect();
    let before = peak_rss(collector.pid());
    let ports: Vec<u16> = tails
        .iter()
        .map(|t| t.local_addr().unwrap().port())
        .collect();
    let server_port: u16 = collector.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        server_sockets_established(server_port, &ports),
        20,
        "the collector's side of the 20 tails, as /proc/net/tcp shows them"
    );
    let words = [(1u64, "filler")];
    // 12 batches: about 7 MB for each tail, past its 4 MiB buffer and the sockets' buffers, so
    // that every tail's writes must wait. (More only makes each of the 20 tails' searches of
    // what arrived slower in a debug build on a loaded machine: a tail still searching has
    // written nothing yet, so nothing of it can time out.)
    for b in 0..12 {
        let lines = logwarden_tests::filler_batch("bulk", b, &words);
        collector.ingest_ok(&lines);
    }
    // Past the write timeout with nobody reading (reading now would let the writes through):
    // wait, without reading, until the collector has closed its side of every tail (its socket
    // is no longer ESTABLISHED in /proc/net/tcp). A fixed sleep was not enough on a loaded
    // machine: a tail still searching what arrived had written nothing yet, and the reads below
    // then kept it alive.
    let closed_by = Instant::now() + Duration::from_secs(180);
    loop {
        let open = server_sockets_established(server_port, &ports);
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < closed_by,
            "{open} of 20 tails still open on the collector's side 180 s after their readers stopped reading"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    for (i, mut t) in tails.into_iter().enumerate() {
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let closed = loop {
            match t.read(&mut buf) {
                Ok(0) => break true,
                // What the collector wrote before it gave up: drained.
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if Instant::now() > deadline {
                        break false;
                    }
                }
                Err(_) => break true,
            }
        };
        assert!(
            closed,
            "tail {i} closed by the collector but not ending for its reader"
        );
    }
    let peak = peak_rss(collector.pid());
    eprintln!(
        "20 tails that never read, 12 batches: peak RSS {} MiB (before the batches: {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < before + (400 << 20),
        "peak RSS {} MiB, {} MiB before",
        peak >> 20,
        before >> 20
    );
    collector.ingest_ok(&[event_line("a", 1, "still serving")]);
}

/// 1,024 open tails left every ingest answered 429: tails now hold slots of their own
/// (`max_tail_streams`, 64) and give their connection's slot back; the 65th is refused.
#[test]
fn tail_streams_never_take_the_agents_slots() {
    let dir = tempfile::tempdir().unwrap();
    // Four connection slots; tails have their own 64 (`max_tail_streams`, the default).
    let cfg = config(dir.path(), "[limits]\nmax_connections = 4\n");
    let collector = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    let open_tail = || {
        let mut s = TcpStream::connect(&collector.addr).unwrap();
        write!(s, "GET /api/v1/tail?q=x HTTP/1.1\r\nHost: c\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).into_owned(), s)
    };
    let tails: Vec<_> = (0..64).map(|_| open_tail()).collect();
    for (i, (head, _)) in tails.iter().enumerate() {
        assert_same(
            &format!("tail {i}'s status line"),
            "HTTP/1.1 200",
            head.as_str(),
        );
    }
    let (head, _) = open_tail();
    assert_same("a 65th tail", "HTTP/1.1 429", head.as_str());
    // 64 tails open, four connection slots: agents still get every one of them.
    for seq in 1..=8 {
        let (status, _) = collector.ingest(event_line("a", seq, "beside tails").into_bytes(), &[]);
        assert_same("ingest beside 64 open tails", 200, status);
    }
}

/// One client's idle connections took every HTTP slot. Now a client holds at most
/// `max_connections_per_client` (here 256 of 300): another client is served at once.
#[test]
fn one_clients_idle_http_connections_do_not_lock_out_another() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[limits]\nmax_connections = 300\nheader_timeout_s = 60\n",
    );
    let collector = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| connect_from("127.0.0.2", &collector.addr).ok())
        .collect();
    // Let the collector accept them all.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (status, body) = collector.ingest(event_line("a", 1, "another client").into_bytes(), &[]);
    assert_same("ingest from another client", 200, status);
    assert!(started.elapsed() < Duration::from_secs(5), "{body}");
    let refused = collector.metric("logwarden_client_connections_refused_total");
    assert!(
        refused.is_some_and(|n| n >= 44.0),
        "over the share: {refused:?}"
    );
    drop(idle);
}

/// 1,024 idle syslog TCP connections locked real senders out for `idle_timeout_s`. Now one
/// sender address holds at most `[syslog] max_connections_per_client` (64): a real sender
/// from another address is read at once.
#[test]
fn one_senders_idle_syslog_connections_do_not_lock_out_another() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[syslog]\nmax_connections = 100\n");
    let collector = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    let tcp = collector.syslog_tcp.clone().expect("a syslog TCP port");
    let idle: Vec<TcpStream> = (0..100)
        .filter_map(|_| connect_from("127.0.0.2", &tcp).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut sender = connect_from("127.0.0.1", &tcp).unwrap();
    sender
        .write_all(b"<13>Dec  5 10:00:00 mta1 postfix/smtpd[1]: realsender arrived\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || collector.count("realsender")
            == 1),
        "the real sender's message is not searchable"
    );
    drop(idle);
}

/// Idle syslog TCP connections from many addresses (each within its per-address share) filled
/// `[syslog] max_connections`, and a new sender then waited for `idle_timeout` (10 min). Now
/// a full table closes the connection idle the longest for the newcomer: a real `logger`
/// line from a new address is stored within a second or two, and so is a second sender's.
#[test]
fn idle_syslog_connections_from_many_addresses_make_room_for_a_new_sender() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[syslog]\nmax_connections = 40\nmax_connections_per_client = 10\n",
    );
    let collector = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    let tcp = collector.syslog_tcp.clone().expect("a syslog TCP port");
    let mut idle: Vec<TcpStream> = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        for _ in 0..10 {
            idle.push(connect_from(from, &tcp).unwrap());
            // One at a time, so that the first is the one idle the longest.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let (host, port) = tcp.rsplit_once(':').unwrap();
    let out = std::process::Command::new("logger")
        .args(["-T", "-n", host, "-P", port, "-t", "mta1"])
        .arg("newsender from logger")
        .output()
        .expect("running logger");
    assert!(out.status.success(), "logger: {out:?}");
    assert!(
        wait_until(Duration::from_secs(30), || collector.count("newsender")
            == 1),
        "a new sender's line is not stored while {} idle connections fill the table",
        idle.len()
    );
    let mut second = connect_from("127.0.0.9", &tcp).unwrap();
    second
        .write_all(b"<13>Dec  5 10:00:00 mta2 postfix/smtpd[1]: othersender arrived\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || collector.count("othersender")
            == 1),
        "a second new sender's line is not stored"
    );
    assert!(
        collector
            .metric("logwarden_syslog_connections_evicted_total")
            .unwrap_or(0.0)
            >= 1.0,
        "the eviction is counted (the second sender may have taken logger's slot)"
    );
    // The first connection opened was idle the longest: it was closed.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_same(
        "bytes read from the evicted connection (0: closed)",
        0,
        idle[0].read(&mut [0u8; 16]).unwrap_or(1),
    );
}

/// How many of the collector's sockets on `server_port` talking to one of `peers` (local ports
/// of this process's connections) are still ESTABLISHED, from /proc/net/tcp: a socket the
/// collector has closed is in FIN_WAIT or gone, even while its unsent bytes wait for a reader.
fn server_sockets_established(server_port: u16, peers: &[u16]) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() > 3
                && port_of(cols[1]) == Some(server_port)
                && port_of(cols[2]).is_some_and(|p| peers.contains(&p))
                && cols[3] == "01"
        })
        .count()
}
