//! The documents handed to tantivy that its indexing thread has not taken yet.
//!
//! tantivy queues what it is handed. Its own bound counts hand-overs (10,000 of them), and the
//! indexer hands over a whole WAL record at a time, so that bound does not bound memory. Until
//! this count existed, the only way to wait for the queue was a commit, so a backlog was indexed
//! in commits of 50,000 events. Each commit makes a segment, and merging those segments again
//! was the largest part of the indexing CPU beyond tantivy's own work.
//!
//! Now the last document of each hand-over carries a token for the whole hand-over. tantivy's
//! indexing thread takes documents in order, and takes each one through
//! [`Document::into_tantivy_document`], which drops the token. The indexer then waits for this
//! count to fall instead of committing, and commits on time alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tantivy::TantivyDocument;
use tantivy::schema::document::Document;

/// Documents handed over and not yet taken by tantivy's indexing threads.
#[derive(Debug, Clone, Default)]
pub struct Queued(Arc<AtomicUsize>);

impl Queued {
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts `docs` as one hand-over: the last one holds the token for all of them.
    pub fn hand_over(&self, docs: Vec<TantivyDocument>) -> Vec<QueuedDoc> {
        let n = docs.len();
        self.0.fetch_add(n, Ordering::AcqRel);
        docs.into_iter()
            .enumerate()
            .map(|(i, doc)| QueuedDoc {
                doc,
                _token: (i + 1 == n).then(|| Token {
                    count: self.0.clone(),
                    docs: n,
                }),
            })
            .collect()
    }

    /// Waits until at most `most` documents are queued, or `timeout` passes. Returns whether
    /// the count fell that low.
    pub fn wait_until_at_most(&self, most: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Polled: a wake-up from the indexing thread would cost it something for every
        // hand-over, and a millisecond is nothing next to indexing the 10,000 it waits for.
        while self.len() > most {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// A document on its way to tantivy.
pub struct QueuedDoc {
    doc: TantivyDocument,
    /// Only dropped, never read.
    _token: Option<Token>,
}

/// Uncounts a whole hand-over when it is dropped: when its last document is taken for
/// indexing, or dropped unindexed with the writer.
struct Token {
    count: Arc<AtomicUsize>,
    docs: usize,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.count.fetch_sub(self.docs, Ordering::AcqRel);
    }
}

impl Document for QueuedDoc {
    type Value<'a> = <TantivyDocument as Document>::Value<'a>;
    type FieldsValuesIter<'a> = <TantivyDocument as Document>::FieldsValuesIter<'a>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        self.doc.iter_fields_and_values()
    }

    fn into_tantivy_document(self) -> TantivyDocument {
        // The token, if this document has it, is dropped here: taken for indexing.
        self.doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{Index, IndexWriter};

    #[test]
    fn a_hand_over_is_counted_until_tantivy_takes_its_last_document() {
        let q = Queued::default();
        let docs = q.hand_over(vec![TantivyDocument::default(); 3]);
        assert_eq!(q.len(), 3);
        let mut docs = docs.into_iter();
        drop(docs.next().unwrap().into_tantivy_document());
        drop(docs.next().unwrap().into_tantivy_document());
        assert_eq!(q.len(), 3, "the last document holds the count");
        drop(docs.next().unwrap().into_tantivy_document());
        assert_eq!(q.len(), 0);
        assert!(q.wait_until_at_most(0, Duration::ZERO));
        let _held = q.hand_over(vec![TantivyDocument::default()]);
        assert!(!q.wait_until_at_most(0, Duration::from_millis(5)));
    }

    #[test]
    fn a_real_writer_indexes_queued_documents_and_the_count_drains() {
        let mut b = Schema::builder();
        let text = b.add_text_field("text", TEXT | STORED);
        let index = Index::create_in_ram(b.build());
        let mut writer: IndexWriter<QueuedDoc> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        let q = Queued::default();
        for batch in 0..20 {
            let docs = (0..500)
                .map(|i| {
                    let mut d = TantivyDocument::default();
                    d.add_text(text, format!("word{} batch{batch}", i % 7));
                    d
                })
                .collect();
            let ops = q
                .hand_over(docs)
                .into_iter()
                .map(tantivy::indexer::UserOperation::Add);
            writer.run(ops).unwrap();
        }
        assert!(
            q.wait_until_at_most(0, Duration::from_secs(30)),
            "{} still queued",
            q.len()
        );
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.num_docs(), 10_000);
        let query = tantivy::query::QueryParser::for_index(&index, vec![text])
            .parse_query("word3 AND batch19")
            .unwrap();
        let hits = searcher.search(&query, &tantivy::collector::Count).unwrap();
        assert_eq!(hits, (0..500).filter(|i| i % 7 == 3).count());
    }
}
