//! An agent's ids bound to its token: an ingest token with an agent (tokens file `agent=P`,
//! set by `logwarden-collector token add NAME`, P = NAME unless `--agent` says otherwise) may
//! only send events whose id's agent part is `P` or starts with `P-` (an agent's generated id
//! is `<host>-<8 hex digits>`, agent/src/identity.rs). Without it, one agent's token could send
//! ids of another host ahead of that host's own and make its next lines "duplicates", dropped
//! without a word (issue 26 §5). A batch with one id outside the binding is refused whole
//! (403), so nothing of it is stored, and counted (`logwarden_ingest_id_refused_total`).

use logwarden_core::event::Event;

/// Whether `agent_id` belongs to the agent `bound`.
pub fn belongs(agent_id: &str, bound: &str) -> bool {
    agent_id
        .strip_prefix(bound)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Checks every event of a batch sent with a token bound to `bound`; the refusal names the
/// first event outside it (`lines[i]` is `events[i]`'s line in the request).
pub fn check(token: &str, bound: &str, events: &[Event], lines: &[usize]) -> Result<(), String> {
    match events.iter().position(|e| !belongs(&e.id.agent_id, bound)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "token {token:?} may only send ids of agent {bound:?} ({bound}:SEQ or {bound}-*:SEQ); line {} has id {}:{}; nothing of this batch was stored",
            lines.get(i).copied().unwrap_or(i),
            events[i].id.agent_id,
            events[i].id.seq
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_agent_and_its_generated_ids_belong() {
        assert!(belongs("mbox1.phx", "mbox1.phx"));
        assert!(belongs("mbox1.phx-0a1b2c3d", "mbox1.phx"));
        assert!(!belongs("mbox1.phx2-0a1b2c3d", "mbox1.phx"));
        assert!(!belongs("mbox1.phx.evil-0a1b2c3d", "mbox1.phx"));
        assert!(!belongs("mbox1", "mbox1.phx"));
        assert!(!belongs("victim-0a1b2c3d", "mbox1.phx"));
    }
}
