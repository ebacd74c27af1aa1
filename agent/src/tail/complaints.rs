//! Saying what is wrong with a file once, not at every scan: a file the agent cannot read (no
//! permission, a FIFO, a directory, a symlink loop) or a glob that matches nothing is logged
//! the first time it is seen, then again at most every [`REPEAT`] while it lasts (with how many
//! times it was seen meanwhile), and once more when it is over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a problem that lasts is logged again.
pub const REPEAT: Duration = Duration::from_secs(600);

struct Seen {
    last_logged: Instant,
    since: u64,
    /// Seen in the current pass (problems not seen again are over).
    current: bool,
}

/// Problems by subject (a path or a glob) and kind.
#[derive(Default)]
pub struct Complaints {
    seen: HashMap<(String, &'static str), Seen>,
}

impl Complaints {
    /// Reports `subject` having problem `kind` (`detail` says what exactly); returns whether it
    /// was logged now.
    pub fn warn(&mut self, subject: &str, kind: &'static str, detail: &str) -> bool {
        let now = Instant::now();
        match self.seen.get_mut(&(subject.to_owned(), kind)) {
            Some(s) => {
                s.current = true;
                s.since += 1;
                if now.duration_since(s.last_logged) < REPEAT {
                    return false;
                }
                tracing::warn!(
                    subject,
                    problem = kind,
                    times = s.since,
                    "{detail} (still so)"
                );
                s.last_logged = now;
                s.since = 0;
            }
            None => {
                tracing::warn!(subject, problem = kind, "{detail}");
                self.seen.insert(
                    (subject.to_owned(), kind),
                    Seen {
                        last_logged: now,
                        since: 0,
                        current: true,
                    },
                );
            }
        }
        true
    }

    /// Ends a pass (from one scan to the next): logs and forgets the problems that were not
    /// reported again in it, and starts the next.
    pub fn pass_done(&mut self) {
        self.seen.retain(|(subject, kind), s| {
            if !s.current {
                tracing::info!(subject = %subject, problem = *kind, "no longer so");
            }
            s.current
        });
        for s in self.seen.values_mut() {
            s.current = false;
        }
    }

    /// Whether `subject` has problem `kind` now.
    pub fn has(&self, subject: &str, kind: &'static str) -> bool {
        self.seen.contains_key(&(subject.to_owned(), kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_problem_is_logged_once_and_forgotten_when_over() {
        let mut c = Complaints::default();
        assert!(c.warn("/var/log/a", "unreadable", "permission denied"));
        c.pass_done();
        for _ in 0..100 {
            assert!(!c.warn("/var/log/a", "unreadable", "permission denied"));
            c.pass_done();
        }
        assert!(c.has("/var/log/a", "unreadable"));
        c.pass_done();
        assert!(!c.has("/var/log/a", "unreadable"));
        assert!(c.warn("/var/log/a", "unreadable", "permission denied"));
    }
}
