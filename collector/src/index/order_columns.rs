//! The three columns of the total order (`ts`, `lsn`, `pos`: `search::order`) of each segment of
//! a partition, opened once per segment and kept while the segment lives.
//!
//! Why: opening a column finds it in the segment's column directory and reads its header, about
//! 15 µs each. A search reads three per segment, so over a partition of 18 segments the opening
//! alone came to 0.8 ms of a term query's 1 ms, while ordering its 100 hits took 40 µs
//! (docs/BENCHMARKS.md). Segments never change once written, so what was opened stays right
//! until tantivy merges the segment away; entries of segments the current searcher no longer
//! holds are dropped at the next lookup, so that a merged-away segment's files are not kept
//! mapped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::SegmentReader;
use tantivy::columnar::Column;
use tantivy::index::SegmentId;

/// One segment's columns of the order.
pub struct OrderColumns {
    pub ts: Column<tantivy::DateTime>,
    pub lsn: Column<u64>,
    pub pos: Column<u64>,
}

/// The columns of each live segment, by segment id.
#[derive(Default)]
pub struct OrderColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<OrderColumns>>>,
}

impl OrderColumnCache {
    /// The columns of each segment of `searcher`, in its segment order.
    pub fn of(&self, searcher: &tantivy::Searcher) -> tantivy::Result<Vec<Arc<OrderColumns>>> {
        let readers = searcher.segment_readers();
        // A poisoned lock only means another search panicked mid-update: the map is still a
        // map of opened columns.
        let mut segments = self
            .segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if segments.len() > readers.len() {
            let live: std::collections::HashSet<SegmentId> =
                readers.iter().map(SegmentReader::segment_id).collect();
            segments.retain(|id, _| live.contains(id));
        }
        readers
            .iter()
            .map(|reader| match segments.get(&reader.segment_id()) {
                Some(columns) => Ok(columns.clone()),
                None => {
                    let columns = Arc::new(open(reader)?);
                    segments.insert(reader.segment_id(), columns.clone());
                    Ok(columns)
                }
            })
            .collect()
    }
}

fn open(reader: &SegmentReader) -> tantivy::Result<OrderColumns> {
    let fast = reader.fast_fields();
    Ok(OrderColumns {
        ts: fast.date("ts")?,
        lsn: fast.u64("lsn")?,
        pos: fast.u64("pos")?,
    })
}
