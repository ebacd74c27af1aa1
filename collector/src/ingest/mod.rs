//! Ingest: turning the body of `POST /api/v1/ingest` into checked events, ready for the WAL's
//! committer (`wal/commit`), which makes them durable; and the checks on room (`SpaceLimits`)
//! and memory (`budget.rs`) that a request passes first.
//!
//! A request is judged line by line: a bad line is rejected with its index and reason and never
//! sinks the others. Only limits on the whole request (its size, compressed or not, and its
//! number of lines) refuse the request as a whole, with 413 and the limit named.
//!
//! Files: `decode.rs` (the body decompressed within the limits), `lines.rs` (each line parsed
//! and validated), `space.rs` (room in the WAL, on disk and in the index backlog: 429),
//! `budget.rs` (the memory of all requests together: 503).

pub mod budget;
mod decode;
mod lines;
mod space;

pub use decode::{ZSTD_WINDOW_LOG_MAX, decode_body, decode_body_within};
pub use lines::{Checked, check_lines};
pub use space::SpaceLimits;

/// Limits on what one ingest request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Body once decompressed: guards against compression bombs.
    pub max_decoded_bytes: usize,
    /// One NDJSON line.
    pub max_line_bytes: usize,
    /// Lines in one request.
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_line_bytes: 2 << 20,
            max_lines: 100_000,
        }
    }
}

/// Why a whole request is refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Over one of the [`Limits`] on the whole request (answered 413).
    #[error("{what} is over the limit of {limit}")]
    TooLarge { what: &'static str, limit: usize },
    /// A `Content-Encoding` other than zstd, gzip or identity (415).
    #[error("content-encoding {0:?} is not supported; use zstd, gzip or none")]
    UnsupportedEncoding(String),
    /// The body does not decompress (400).
    #[error("body is not valid {encoding}: {reason}")]
    BadCompression {
        encoding: &'static str,
        reason: String,
    },
    /// The memory budget of all requests is spent (503, retry).
    #[error(transparent)]
    Busy(#[from] budget::Spent),
}
