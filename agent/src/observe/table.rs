//! `logwarden-agent status` as a person reads it: one line per file tailed, then the spool and
//! the shipper.

use std::fmt::Write;

use super::AgentStatus;

/// `1.5 MiB`, `812 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn render(s: &AgentStatus) -> String {
    let mut out = String::new();
    if s.live {
        let _ = writeln!(
            out,
            "agent {} on {} (site {}), version {}",
            s.agent_id, s.host, s.site, s.version
        );
    } else {
        let _ = writeln!(
            out,
            "agent {} (from its data dir: acknowledged offsets and spool size only; configure [metrics] listen for the live view)",
            s.agent_id
        );
    }
    let width = s
        .files
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>12}  {:>12}  {:>12}  {:>10}  {:>10}  {:>10}",
        "FILE", "SIZE", "READ", "ACKED", "LAG", "LINES", "SHIPPED"
    );
    for f in &s.files {
        let path = if f.rotated {
            format!("{} (rotated)", f.path)
        } else {
            f.path.clone()
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>12}  {:>10}  {:>10}  {:>10}",
            path,
            f.size,
            f.read_offset,
            f.acked_offset,
            bytes(f.unacked_bytes),
            f.lines_read,
            f.lines_shipped
        );
    }
    if s.files.is_empty() {
        let _ = writeln!(out, "(no file tailed)");
    }
    let sp = &s.spool;
    if s.live {
        let full = if sp.max_bytes > 0 {
            format!(
                " ({:.1}% of {})",
                sp.bytes as f64 * 100.0 / sp.max_bytes as f64,
                bytes(sp.max_bytes)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "spool: {} events waiting, {} in {} segments{full}; damaged {}, dropped {}",
            sp.events,
            bytes(sp.bytes),
            sp.segments,
            sp.damaged + sp.torn,
            sp.dropped
        );
        let e = &s.errors;
        let _ = writeln!(
            out,
            "shipped: {} of {} events spooled since start, in {} batches; errors: unreachable {}, refused {}, too large {}, spool write {}, read {}, probe {}",
            s.events_shipped,
            s.events_spooled,
            s.batches_shipped,
            e.ship_unreachable,
            e.ship_refused,
            e.ship_too_large,
            e.spool_write,
            e.read,
            e.probe
        );
    } else {
        let _ = writeln!(
            out,
            "spool: {} in {} segments",
            bytes(sp.bytes),
            sp.segments
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
