//! logwarden's shared vocabulary: the event every part of the system passes around, and the
//! messages the agent, the collector and the CLI exchange over HTTP.
//!
//! Both sides of every wire depend on this crate, so a field renamed here is renamed everywhere;
//! the names follow the contract in PRODUCT.md ("Event" and "HTTP API").

pub mod config_duration;
pub mod config_text;
pub mod data_lock;
pub mod draft;
pub mod durable;
pub mod duration;
pub mod epoch;
pub mod event;
pub mod fields;
pub mod health;
pub mod json_line;
pub mod seq;
#[cfg(feature = "signal")]
pub mod signal;
pub mod timestamp;
pub mod tls;
pub mod token_file;
pub mod trace;
pub mod wire;

pub use draft::Draft;
pub use event::{CompactString, Event, EventError, EventId, Kind, Severity};
pub use fields::Fields;
