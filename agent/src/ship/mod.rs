//! Getting events to the collector: [`Shipper`] reads batches from the disk spool and delivers
//! each until the collector acknowledges it; the acknowledgements move the checkpoints.

mod client;
mod epoch;
pub mod settings;

pub use client::{Shipper, split_ndjson};
