//! The baseline of `bench/index_bench.py`: a minimal indexer that puts the same documents (the
//! collector's own schema, `schema::Indexed::parse` and `schema::document`) from an NDJSON file
//! of events into one tantivy index with one writer thread of the collector's heap, handing
//! tantivy 1,000 documents at a time (`IndexWriter::run`), and commits once. No WAL, no HTTP, no
//! partitions: what tantivy alone costs.
//!
//! `cargo run --release -p logwarden-collector --example raw_tantivy -- EVENTS.ndjson OUT_DIR [HEAP_MIB]`

use std::time::Instant;

use anyhow::Context;
use logwarden_collector::index::schema;
use tantivy::indexer::UserOperation;
use tantivy::{IndexWriter, TantivyDocument};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: raw_tantivy EVENTS.ndjson OUT_DIR [HEAP_MIB]");
    };
    let heap_mib: usize = args.get(3).map_or(Ok(64), |h| h.parse())?;
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {input}"))?;
    std::fs::create_dir_all(out)?;
    let (schema, fields) = schema::build();
    let index = tantivy::Index::create_in_dir(out, schema)?;
    let mut writer: IndexWriter<TantivyDocument> =
        index.writer_with_num_threads(1, heap_mib << 20)?;
    let started = Instant::now();
    let mut docs = 0u64;
    let mut batch = Vec::with_capacity(1000);
    for (i, line) in text.lines().enumerate() {
        let event = schema::Indexed::parse(line).with_context(|| format!("line {}", i + 1))?;
        batch.push(UserOperation::Add(schema::document(
            &fields,
            event,
            line,
            schema::WalPlace {
                lsn: i as u64 + 1,
                pos: 0,
            },
        )));
        if batch.len() == 1000 {
            writer.run(std::mem::take(&mut batch))?;
        }
        docs += 1;
    }
    writer.run(batch)?;
    writer.commit()?;
    writer.wait_merging_threads()?;
    println!(
        "{{\"docs\":{docs},\"seconds\":{:.3}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
