//! The tantivy schema of the event index, and turning an event into a document.
//!
//! | field | tantivy type | why |
//! |---|---|---|
//! | `id` | raw string, indexed | look-ups by identity |
//! | `ts` | date, indexed + fast (microseconds) | time ranges; newest-first sorting |
//! | `host` `site` `app` `severity` `kind` `source` | raw string, indexed + fast | exact filters (`app:sshd`), and counts by field later |
//! | `message` | text with positions | words and phrases (`"RAID degraded"`) |
//! | `fields` | JSON, text with positions | `fields.account:alice@example.com` |
//! | `lsn` | u64, indexed + fast | the WAL record that holds the event: live tail asks "what came after N" |
//! | `_source` | stored only | the event as JSON, returned by search |
//!
//! [`SCHEMA_VERSION`] goes into every commit's payload; an index of another version is rebuilt
//! from the WAL at start (the WAL is the source of truth, the index only a view of it).

use logwarden_core::Event;
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions,
    STORED, STRING, Schema, TEXT, TextFieldIndexing,
};
use tantivy::{DateTime, TantivyDocument};

/// Bump when the schema or the way documents are built changes.
pub const SCHEMA_VERSION: u32 = 2;

/// The fields of the schema, looked up once.
#[derive(Debug, Clone)]
pub struct Fields {
    pub id: Field,
    pub ts: Field,
    pub host: Field,
    pub site: Field,
    pub app: Field,
    pub severity: Field,
    pub kind: Field,
    pub source: Field,
    pub message: Field,
    pub fields: Field,
    pub lsn: Field,
    pub raw: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING);
    let ts = b.add_date_field(
        "ts",
        DateOptions::default()
            .set_indexed()
            .set_fast()
            .set_precision(DateTimePrecision::Microseconds),
    );
    let mut keyword = |name: &str| b.add_text_field(name, STRING | FAST);
    let host = keyword("host");
    let site = keyword("site");
    let app = keyword("app");
    let severity = keyword("severity");
    let kind = keyword("kind");
    let source = keyword("source");
    let message = b.add_text_field("message", TEXT);
    let json = JsonObjectOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = b.add_json_field("fields", json);
    let lsn = b.add_u64_field("lsn", INDEXED | FAST);
    let raw = b.add_text_field("_source", STORED);
    let schema = b.build();
    let f = Fields {
        id,
        ts,
        host,
        site,
        app,
        severity,
        kind,
        source,
        message,
        fields,
        lsn,
        raw,
    };
    (schema, f)
}

/// The document for an event from WAL record `lsn`; `json` is the event's own JSON (stored as
/// `_source`).
pub fn document(f: &Fields, event: &Event, json: &str, lsn: u64) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_u64(f.lsn, lsn);
    doc.add_text(f.id, event.id.to_string());
    let micros = event.ts.timestamp_micros();
    doc.add_date(f.ts, DateTime::from_timestamp_micros(micros));
    doc.add_text(f.host, &event.host);
    doc.add_text(f.site, &event.site);
    doc.add_text(f.app, &event.app);
    doc.add_text(f.severity, event.severity.as_str());
    doc.add_text(f.kind, event.kind.as_str());
    doc.add_text(f.source, &event.source);
    doc.add_text(f.message, &event.message);
    if !event.fields.is_empty() {
        doc.add_field_value(
            f.fields,
            &tantivy::schema::OwnedValue::from(event.fields.clone()),
        );
    }
    doc.add_text(f.raw, json);
    doc
}
