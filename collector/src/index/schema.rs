//! The tantivy schema of the event index, and turning an event into a document.
//!
//! | field | tantivy type | why |
//! |---|---|---|
//! | `ts` | date, fast (microseconds), indexed (whole seconds) | time ranges (tantivy runs a range on a fast field from the column); newest-first sorting; the inverted index finds the events of a few seconds without reading the column (context, exact positions: `search::nearest`) |
//! | `host` `site` `app` `severity` `kind` `source` | raw string, indexed + fast | exact filters (`app:sshd`), and counts by field |
//! | `message` | text with positions | words and phrases (`"RAID degraded"`) |
//! | `fields` | JSON, text with positions, fast (values as they are) | `fields.account:alice@example.com`; counts by any field (`count --by fields.ip`) and field discovery from the columns |
//! | `lsn` | u64, fast | the WAL record that holds the event: live tail asks "what came after N" (a range, so from the column) |
//! | `pos` | u64, fast | the event's line in that WAL record (0, 1, ...): with `ts` and `lsn`, a total order of events (`search::order`) |
//! | `id_block` | raw string, indexed only (no column, not stored, no norms) | finding one event by its id (`agent:seq`, `logwarden context ID`): the block of [`ID_BLOCK`] seqs of one agent the id falls in ([`id_block`]) |
//! | `_source` | stored only | the event as JSON, returned by search |
//! | `agent` | raw string, indexed | the agent of the event id: `agent:mail-vm-042`, and in cluster mode the partition filter (an agent's partition is `crc32(agent) % partitions`; `cluster/scope.rs`) |
//!
//! What is left out, and why: the event id, `lsn` and `ts` to the microsecond are not in the
//! inverted index. Each is (nearly) unique per event, so indexing them added a term per event to
//! sort and write at every segment flush and merge, about a quarter of tantivy's cost for no query
//! anybody types (the id comes back in `_source`). `ts` at whole seconds is there since version
//! 6: a busy host has many events per second, so it adds few terms, and a range on the column
//! alone is a scan from the start of each segment (119 ms for the context of one hit at 10M).
//! So is, since version 6, the block of 64 seqs an event id falls in (`id_block`,
//! `agent:seq/64`): looking one event up by its id (`logwarden context ID`) takes that term's
//! documents (at most 64: the WAL holds an id once) and keeps the one whose `_source` has the id.
//! A term per 64 events rather than per event costs about a fifth of what indexing the id did
//! (docs/BENCHMARKS.md, "Index schema 6: a term to find an event by its id").
//!
//! [`SCHEMA_VERSION`] goes into every commit's payload; an index of another version is rebuilt
//! from the WAL at start (the WAL is the source of truth, the index only a view of it), or, once
//! WAL retention has trimmed the WAL, from its own `_source` documents (`reindex.rs`,
//! [`super::Unusable`]). So `_source` must stay the event's JSON in every version, and `lsn` and
//! `pos` are copied from the old documents: the order `(ts, lsn, pos)` is the same on a standby
//! (which holds the same WAL records) and after any rebuild.
//!
//! Versions: 3 kept field norms; 4 dropped them; 5 added `pos` (the tie-break of the total order:
//! paging by cursor through any number of events that share a timestamp) and made `fields` fast
//! (a column per field name: counts by any field); 6 indexed `ts` at whole seconds and added
//! `id_block` (context by event id); 7 added `agent` (a term per agent, not per event: cheap;
//! cluster mode answers only for the partitions a collector owns).

use std::borrow::Cow;

use chrono::Utc;
use logwarden_core::Event;
use logwarden_core::event::{Kind, Severity};
use serde::Deserialize;
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, IndexRecordOption, JsonObjectOptions,
    NumericOptions, STORED, STRING, Schema, TEXT, TextFieldIndexing, TextOptions,
};
use tantivy::{DateTime, TantivyDocument};

/// Bump when the schema or the way documents are built changes.
pub const SCHEMA_VERSION: u32 = 7;

/// The fields of the schema, looked up once.
#[derive(Debug, Clone)]
pub struct Fields {
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
    pub pos: Field,
    pub raw: Field,
    pub agent: Field,
    pub id_block: Field,
}

/// How many seqs of one agent share an `id_block` term.
pub const ID_BLOCK: u64 = 64;

/// The `id_block` term of the event id `agent:seq`: `agent:<seq / 64>`. `None` for text that is
/// not an id (no `:`, or no number after the last one).
pub fn id_block(id: &str) -> Option<String> {
    let (agent, seq) = id.rsplit_once(':')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{agent}:{}", seq / ID_BLOCK))
}

/// The schema. Text fields keep no field norms (each document's token count per field, the input
/// of BM25 scores): no search of the collector ranks by score (results come in time order and
/// counts go by fast fields), and kept they cost 2-3 % of ingest CPU (docs/BENCHMARKS.md,
/// sessions 8 and 9). Version 3 kept them.
pub fn build() -> (Schema, Fields) {
    let no_norms = |o: TextOptions| match o.get_indexing_options().cloned() {
        Some(i) => o.set_indexing_options(i.set_fieldnorms(false)),
        None => o,
    };
    let mut b = Schema::builder();
    let ts = b.add_date_field(
        "ts",
        DateOptions::default()
            .set_fast()
            .set_indexed()
            .set_precision(DateTimePrecision::Microseconds),
    );
    let mut keyword = |name: &str| b.add_text_field(name, no_norms(STRING | FAST));
    let host = keyword("host");
    let site = keyword("site");
    let app = keyword("app");
    let severity = keyword("severity");
    let kind = keyword("kind");
    let source = keyword("source");
    let message = b.add_text_field("message", no_norms(TEXT));
    let json = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        )
        // A column per field name, values as they are ("raw"): terms aggregations on `fields.x`.
        .set_fast("raw");
    let fields = b.add_json_field("fields", json);
    let lsn = b.add_u64_field("lsn", NumericOptions::default().set_fast());
    let raw = b.add_text_field("_source", STORED);
    // Last, so that every other field keeps the number it had in versions 3 and 4.
    let pos = b.add_u64_field("pos", NumericOptions::default().set_fast());
    // After pos, for the same reason. Indexed only: a term per block of ids.
    let id_block = b.add_text_field("id_block", no_norms(STRING));
    let agent = b.add_text_field("agent", no_norms(STRING));
    let schema = b.build();
    let f = Fields {
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
        pos,
        raw,
        agent,
        id_block,
    };
    (schema, f)
}

/// Whether a partition whose commits say schema version `version` and whose index has `schema`
/// is used as it is: only the current version (versions 3 and 4 lack `pos`, the tie-break of the
/// total order, 5 lacks `ts` in the inverted index and `id_block`, 6 lacks `agent`; they are
/// rebuilt).
pub fn usable(version: u32, schema: &Schema) -> bool {
    version == SCHEMA_VERSION && *schema == build().0
}

/// The schema as version 3 wrote it into each partition's `meta.json` (`testdata/schema_v3.json`,
/// saved before norms were turned off).
#[cfg(test)]
pub(super) fn version_3() -> Schema {
    serde_json::from_str(include_str!("testdata/schema_v3.json")).expect("the saved schema reads")
}

/// What the index takes from an event's JSON (a WAL line), borrowed from it where it can be:
/// parsing into [`logwarden_core::Event`] would allocate every string and the field map only for
/// the document to copy them again. Keys it does not name (`received`) are skipped.
#[derive(Debug, Deserialize)]
pub struct Indexed<'a> {
    /// The event id as written (`agent:seq`); empty in a line without one (none is written so).
    #[serde(borrow, default)]
    pub id: Cow<'a, str>,
    #[serde(deserialize_with = "logwarden_core::timestamp::deserialize")]
    pub ts: chrono::DateTime<Utc>,
    #[serde(borrow)]
    pub host: Cow<'a, str>,
    #[serde(borrow, default)]
    pub site: Cow<'a, str>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    #[serde(borrow, default)]
    pub app: Cow<'a, str>,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub kind: Kind,
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    #[serde(default)]
    pub fields: Cow<'a, logwarden_core::Fields>,
}

impl<'a> From<&'a Event> for Indexed<'a> {
    fn from(e: &'a Event) -> Indexed<'a> {
        Indexed {
            id: e.id.to_string().into(),
            ts: e.ts,
            host: e.host.as_str().into(),
            site: e.site.as_str().into(),
            source: e.source.as_str().into(),
            app: e.app.as_str().into(),
            severity: e.severity,
            kind: e.kind,
            message: e.message.as_str().into(),
            fields: Cow::Borrowed(&e.fields),
        }
    }
}

impl<'a> Indexed<'a> {
    /// Reads one event's JSON (as the WAL holds it).
    pub fn parse(json: &'a str) -> Result<Indexed<'a>, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// Where an event is in the WAL: its record's LSN and its line in that record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPlace {
    pub lsn: u64,
    pub pos: u64,
}

/// The document for an event at `place` in the WAL; `json` is the event's own JSON (stored as
/// `_source`), `event` what [`Indexed::parse`] read from it.
pub fn document(f: &Fields, event: Indexed<'_>, json: &str, place: WalPlace) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_u64(f.lsn, place.lsn);
    doc.add_u64(f.pos, place.pos);
    let micros = event.ts.timestamp_micros();
    doc.add_date(f.ts, DateTime::from_timestamp_micros(micros));
    doc.add_text(f.host, &event.host);
    doc.add_text(f.site, &event.site);
    doc.add_text(f.app, &event.app);
    doc.add_text(f.severity, event.severity.as_str());
    doc.add_text(f.kind, event.kind.as_str());
    doc.add_text(f.source, &event.source);
    doc.add_text(f.message, &event.message);
    if let Some(block) = id_block(&event.id) {
        doc.add_text(f.id_block, block);
    }
    if !event.fields.is_empty() {
        // Read in place: converting to tantivy's `OwnedValue` (or to a JSON object) first copied
        // every name and value.
        doc.add_field_value(
            f.fields,
            super::fields_value::FieldsValue::Top(&event.fields),
        );
    }
    doc.add_text(f.agent, agent_of_id(&event.id));
    doc.add_text(f.raw, json);
    doc
}

/// The agent of an event id (`agent:seq`): all before the last `:`.
fn agent_of_id(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(agent, _)| agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;

    #[test]
    fn only_the_current_version_is_usable_and_keeps_no_norms() {
        let v3 = version_3();
        assert!(v3 != build().0);
        assert!(!usable(3, &v3) && !usable(SCHEMA_VERSION, &v3), "no pos");
        assert!(!usable(4, &build().0), "a version 4 partition lacks pos");
        assert!(
            !usable(5, &build().0),
            "a version 5 partition lacks id_block"
        );
        assert!(usable(SCHEMA_VERSION, &build().0));
        assert!(!usable(SCHEMA_VERSION + 1, &build().0));
        // Every field of version 3 keeps its number; pos and id_block come after them.
        for (field, entry) in v3.fields() {
            assert_eq!(build().0.get_field(entry.name()).unwrap(), field);
        }
        let mut other = Schema::builder();
        other.add_text_field("message", TEXT);
        assert!(!usable(SCHEMA_VERSION, &other.build()));
        // No text field of the current schema keeps norms.
        for (_, entry) in build().0.fields() {
            let norms = match entry.field_type() {
                tantivy::schema::FieldType::Str(o) => {
                    o.get_indexing_options().map(|i| i.fieldnorms())
                }
                tantivy::schema::FieldType::JsonObject(o) => {
                    o.get_text_indexing_options().map(|i| i.fieldnorms())
                }
                _ => None,
            };
            assert_ne!(norms, Some(true), "{}", entry.name());
        }
    }

    #[test]
    fn an_event_reads_back_as_it_was_written_and_escaped_strings_survive() {
        let ts = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::log(
            EventId::new("a:b", 7),
            ts,
            "mbox1",
            "",
            "/var/log/x",
            "say \"hi\"\n\ttab".into(),
        );
        e.severity = Severity::Err;
        e.kind = Kind::Health;
        e.fields.insert("check".into(), "raid".into());
        e.received = Some(ts);
        let json = serde_json::to_string(&e).unwrap();
        let got = Indexed::parse(&json).unwrap();
        assert_eq!(got.id, "a:b:7");
        assert_eq!(got.ts, ts);
        assert_eq!(got.host, "mbox1");
        assert_eq!(got.site, "");
        assert_eq!(got.app, "");
        assert_eq!(got.message, e.message);
        assert!(matches!(got.message, Cow::Owned(_)), "escapes are decoded");
        assert!(
            matches!(got.host, Cow::Borrowed(_)),
            "plain strings are borrowed"
        );
        assert_eq!((got.severity, got.kind), (Severity::Err, Kind::Health));
        assert_eq!(*got.fields, e.fields);
        let from_event = Indexed::from(&e);
        assert_eq!(
            (from_event.ts, &*from_event.message),
            (got.ts, &*got.message)
        );
        // Keys a newer WAL line may leave out take the event's defaults.
        let min =
            r#"{"id":"a:1","ts":"2026-11-29T10:00:00Z","host":"h","source":"s","message":"m"}"#;
        let got = Indexed::parse(min).unwrap();
        assert_eq!((got.severity, got.kind), (Severity::Info, Kind::Log));
        assert!(Indexed::parse(r#"{"host":"h"}"#).is_err());
    }

    #[test]
    fn an_id_falls_in_the_block_of_64_seqs_of_its_agent() {
        assert_eq!(id_block("mbox1-ag:0").as_deref(), Some("mbox1-ag:0"));
        assert_eq!(id_block("mbox1-ag:63").as_deref(), Some("mbox1-ag:0"));
        assert_eq!(id_block("mbox1-ag:64").as_deref(), Some("mbox1-ag:1"));
        assert_eq!(
            id_block("a:b:6400").as_deref(),
            Some("a:b:100"),
            "at the last colon"
        );
        assert_eq!(id_block("nocolon"), None);
        assert_eq!(id_block("a:x"), None);
        assert_eq!(id_block(""), None);
    }
}
