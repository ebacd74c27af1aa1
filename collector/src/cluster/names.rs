//! The names every collector of a cluster must agree on: the stream, the lease bucket, the
//! subjects of the partitions and which partition an agent's events go to.

/// The JetStream stream of events.
pub const STREAM: &str = "LOGWARDEN_EVENTS";
/// The key-value bucket of partition leases and collector membership.
pub const LEASES: &str = "logwarden_leases";

/// The JetStream stream of the alert leader's state (`alert_state.rs`).
pub const ALERT_STATE: &str = "LOGWARDEN_ALERTS";
/// Its one subject.
pub const ALERT_STATE_SUBJECT: &str = "logwarden.alerts.state";
/// The key, in the lease bucket, of the lease of the alert leader (`leader.rs`).
pub const ALERT_LEADER: &str = "alerts.leader";
/// The subject on which the alert leader answers the other collectors' alert API calls
/// (`alert_api.rs`).
pub const ALERT_API: &str = "logwarden.alerts.api";

/// The subject of partition `p`.
pub fn subject(p: u32) -> String {
    format!("logwarden.events.{p}")
}

/// The partition of an agent: CRC-32 of its id modulo `partitions` (stable across versions and
/// machines, so every collector agrees).
pub fn partition_of(agent_id: &str, partitions: u32) -> u32 {
    crc32fast::hash(agent_id.as_bytes()) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        // Fixed values (CRC-32 as Python's zlib.crc32 computes it): a change would move agents
        // between partitions on upgrade, and docs/scale.md and the tests name the function.
        assert_eq!(partition_of("agent-1", 16), 9);
        assert_eq!(partition_of("agent-0", 16), 15);
        assert_eq!(partition_of("mail-vm-042", 16), 14);
        assert_eq!(partition_of("mail-vm-042", 7), 2);
        for i in 0..1000 {
            let id = format!("agent-{i}");
            assert!(partition_of(&id, 7) < 7);
            assert_eq!(partition_of(&id, 7), partition_of(&id, 7));
        }
        assert_eq!(partition_of("x", 1), 0);
    }
}
