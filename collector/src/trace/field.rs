//! Reading the fields the parsers put on an event (docs/parsers.md, "Mail delivery"). A leaf:
//! [`super::follow`], [`super::timeline`] and the trace itself read fields through it, so that
//! neither of the first two needs the module above it.

use logwarden_core::Event;

/// A string field of an event.
pub(crate) fn str_field<'e>(e: &'e Event, k: &str) -> Option<&'e str> {
    e.fields.get(k).and_then(|v| v.as_str())
}
