//! What delivery keeps per group and what a delivery task reports back (`delivery.rs` acts on
//! them). A leaf, so that the engine's value can hold them without naming `delivery.rs`.

use tokio::time::Instant;

/// A delivery task's report.
pub(super) struct Delivered {
    /// The route endpoint (index into the tree's endpoints of `generation`).
    pub(super) endpoint: usize,
    /// The routing tree it was sent under (a reload makes a new one).
    pub(super) generation: u64,
    pub(super) receiver_name: String,
    pub(super) group: String,
    pub(super) firing: std::collections::BTreeSet<String>,
    pub(super) resolved: std::collections::BTreeSet<String>,
    pub(super) result: Result<(), String>,
}

/// The flush timer of one (receiver, group).
#[derive(Default)]
pub(super) struct GroupTimer {
    pub(super) next: Option<Instant>,
    pub(super) last_flush: Option<Instant>,
    pub(super) in_flight: bool,
}
