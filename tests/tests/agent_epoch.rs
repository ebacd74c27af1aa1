//! End to end: an agent never believes an epoch far beyond the one it knows (issue 26). A
//! standby-like collector on loopback answers every batch with `421` naming `u64::MAX` as the
//! epoch and a real collector (epoch 1) as the primary. Before the bound, the agent kept
//! `u64::MAX` and then refused every ack of the real collector (`ack from epoch 1 after epoch
//! 18446744073709551615 was seen`) for good: nothing was delivered. Now the epoch is not kept,
//! is logged once naming the collector, and every line is delivered, also across the real
//! collector's restart while the agent keeps hearing the forged epoch.

use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use logwarden_tests::{Agent, Collector, read_request_body, wait_until};

/// An HTTP server on loopback that answers every request `421` with the given epoch and
/// primary headers, as a standby does; counts the requests.
struct FakeStandby {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl FakeStandby {
    fn start(epoch: u64, primary: &str) -> FakeStandby {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let answer = format!(
            "HTTP/1.1 421 Misdirected Request\r\nx-logwarden-epoch: {epoch}\r\n\
             x-logwarden-primary: {primary}\r\ncontent-type: application/json\r\n\
             content-length: 20\r\n\r\n{{\"error\":\"standby\"}}"
        );
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (h, answer) = (h.clone(), answer.clone());
                std::thread::spawn(move || answer_all(stream, &h, answer.as_bytes()));
            }
        });
        FakeStandby { url, hits }
    }
}

/// Reads requests (headers and a `content-length` body) off one connection and answers each.
fn answer_all(mut stream: std::net::TcpStream, hits: &AtomicUsize, answer: &[u8]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while read_request_body(&mut reader).is_some() {
        hits.fetch_add(1, Ordering::SeqCst);
        if stream.write_all(answer).is_err() {
            return;
        }
    }
}

fn append(path: &Path, from: u64, to: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in from..to {
        writeln!(f, "epochline number {i}").unwrap();
    }
}

fn kept_epoch(agent_dir: &Path) -> Option<String> {
    std::fs::read_to_string(agent_dir.join("collector-epoch"))
        .ok()
        .map(|s| s.trim().to_owned())
}

#[test]
fn a_forged_huge_epoch_is_not_kept_and_shipping_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut real = Collector::start(&dir.path().join("c"), &[]);
    let fake = FakeStandby::start(u64::MAX, &real.url);
    let log = dir.path().join("app.log");
    append(&log, 0, 300);
    let agent_dir = dir.path().join("agent");
    let agent_log = dir.path().join("agent.log");
    let _agent = Agent::start_logged(
        &agent_dir,
        &fake.url,
        &[log.to_str().unwrap()],
        &[],
        Some(&agent_log),
    );

    let delivered =
        |c: &Collector, n: u64| wait_until(Duration::from_secs(90), || c.count("epochline") == n);
    // (Also true of the old agent: the collector stores the batch whose ack the agent refuses.)
    assert!(
        delivered(&real, 300),
        "{} of 300 delivered",
        real.count("epochline")
    );
    assert!(fake.hits.load(Ordering::SeqCst) >= 1);

    // The real collector goes away: the agent goes round its list (the fake answering 421 with
    // the forged epoch each time) until it is back.
    real.kill9();
    append(&log, 300, 500);
    let before = fake.hits.load(Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(60), || fake.hits.load(Ordering::SeqCst)
            >= before + 3),
        "the agent did not go back to the fake while the real collector was down"
    );
    real.restart();
    assert!(
        delivered(&real, 500),
        "after the restart {} of 500 delivered (the agent refuses the real collector's acks?), \
         epoch kept {:?}",
        real.count("epochline"),
        kept_epoch(&agent_dir)
    );
    assert!(
        matches!(kept_epoch(&agent_dir).as_deref(), None | Some("1")),
        "kept epoch {:?}",
        kept_epoch(&agent_dir)
    );

    let text = std::fs::read_to_string(&agent_log).unwrap();
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("not believed"))
        .collect();
    assert_eq!(
        warned.len(),
        1,
        "the out-of-reach epoch is logged once per collector ({} 421s seen):\n{}",
        fake.hits.load(Ordering::SeqCst),
        warned.join("\n")
    );
    assert!(
        warned[0].contains(fake.url.trim_start_matches("http://")),
        "the warning names the collector: {}",
        warned[0]
    );
    assert!(!text.contains("not trusted"), "an ack was refused:\n{text}");
}
