//! Getting events to the collector: [`Batcher`] numbers them and groups them into NDJSON
//! batches, [`Shipper`] delivers each batch until the collector acknowledges it.

mod batch;
mod client;

pub use batch::{Batch, Batcher};
pub use client::{Shipper, split_ndjson};
