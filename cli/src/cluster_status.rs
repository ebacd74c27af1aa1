//! The whole cluster in `logwarden status` (text): who leads alerting, the event stream, each
//! collector with the partitions it owns and its consumers' lag, partitions nobody owns.

use std::collections::BTreeMap;
use std::io::Write;

use logwarden_core::wire::{ClusterStatus, ClusterView};

/// The lines after the collector's own `cluster` line.
pub fn print(out: &mut impl Write, c: &ClusterStatus) -> anyhow::Result<()> {
    let Some(v) = &c.view else {
        if let Some(e) = &c.view_error {
            writeln!(out, "cluster     the whole cluster could not be read: {e}")?;
        }
        return Ok(());
    };
    let leader = v
        .alert_leader
        .as_deref()
        .unwrap_or("nobody (an election is under way)");
    writeln!(out, "cluster     alerting led by {leader}")?;
    let s = &v.stream;
    let copies: Vec<String> = s
        .peers
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p.name,
                if p.current { "current" } else { "behind" }
            )
        })
        .collect();
    writeln!(
        out,
        "cluster     stream {}: {} events, {} bytes, seq {} to {}, {} replicas (leader {}{}{})",
        s.name,
        s.messages,
        s.bytes,
        s.first_seq,
        s.last_seq,
        s.replicas,
        s.leader.as_deref().unwrap_or("none"),
        if copies.is_empty() { "" } else { "; " },
        copies.join(", ")
    )?;
    for (id, parts) in by_owner(v) {
        let running = if v.members.iter().any(|m| m == id) {
            ""
        } else {
            " (not running: its leases expire)"
        };
        let lag: u64 = parts.iter().filter_map(|(_, l)| *l).sum();
        let each: Vec<String> = parts
            .iter()
            .map(|(p, l)| match l {
                Some(l) => format!("{p}:{l}"),
                None => format!("{p}:?"),
            })
            .collect();
        writeln!(
            out,
            "cluster     {id}{running}: {} partitions, lag {lag} (partition:lag {})",
            parts.len(),
            each.join(" ")
        )?;
    }
    let free: Vec<String> = v
        .partitions
        .iter()
        .filter(|p| p.owner.is_none())
        .map(|p| p.partition.to_string())
        .collect();
    if !free.is_empty() {
        writeln!(out, "cluster     no owner: partitions {}", free.join(", "))?;
    }
    Ok(())
}

/// Every running collector (owning partitions or not) and every owner, with its partitions
/// and their lag.
fn by_owner(v: &ClusterView) -> BTreeMap<&str, Vec<(u32, Option<u64>)>> {
    let mut out: BTreeMap<&str, Vec<(u32, Option<u64>)>> =
        v.members.iter().map(|m| (m.as_str(), Vec::new())).collect();
    for p in &v.partitions {
        if let Some(owner) = &p.owner {
            out.entry(owner.as_str())
                .or_default()
                .push((p.partition, p.lag));
        }
    }
    out
}
