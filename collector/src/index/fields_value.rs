//! An event's `fields` as tantivy reads a document value, borrowed: the `fields` JSON field of a
//! document is built straight from the event's [`logwarden_core::Fields`], with no JSON object
//! made for it first (that copied every name and value of every event the indexer took from the
//! committer's cache of recent events).
//!
//! Everything below the top level is a `serde_json::Value`, read exactly as tantivy reads one
//! (the leaves are handed to tantivy's own reading of `serde_json::Value`), so a document is the
//! same as one built from the JSON object.

use logwarden_core::Fields;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};

/// The top-level fields, or a value within them.
#[derive(Debug, Clone, Copy)]
pub enum FieldsValue<'a> {
    Top(&'a Fields),
    Json(&'a serde_json::Value),
}

impl<'a> Value<'a> for FieldsValue<'a> {
    type ArrayIter = std::iter::Map<
        std::slice::Iter<'a, serde_json::Value>,
        fn(&'a serde_json::Value) -> FieldsValue<'a>,
    >;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            FieldsValue::Top(fields) => ReferenceValue::Object(ObjectIter::Top(fields.iter())),
            FieldsValue::Json(serde_json::Value::Array(items)) => {
                ReferenceValue::Array(items.iter().map(FieldsValue::Json as fn(_) -> _))
            }
            FieldsValue::Json(serde_json::Value::Object(map)) => {
                ReferenceValue::Object(ObjectIter::Json(map.iter()))
            }
            FieldsValue::Json(leaf) => match leaf.as_value() {
                ReferenceValue::Leaf(l) => ReferenceValue::Leaf(l),
                // Arrays and objects are taken above.
                ReferenceValue::Array(_) | ReferenceValue::Object(_) => {
                    ReferenceValue::Leaf(ReferenceValueLeaf::Null)
                }
            },
        }
    }
}

/// The entries of an object: the top-level fields or a JSON object within them.
pub enum ObjectIter<'a> {
    Top(FieldsIter<'a>),
    Json(serde_json::map::Iter<'a>),
}

type FieldsIter<'a> = <&'a Fields as IntoIterator>::IntoIter;

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (&'a str, FieldsValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = match self {
            ObjectIter::Top(it) => it.next()?,
            ObjectIter::Json(it) => it.next().map(|(k, v)| (k.as_str(), v))?,
        };
        Some((k, FieldsValue::Json(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::TantivyDocument;
    use tantivy::schema::document::Document;

    #[test]
    fn the_document_is_the_one_the_json_object_makes() {
        let json = serde_json::json!({
            "account": "alice@example.com", "pid": 2231, "big": u64::MAX, "ratio": 0.5,
            "gone": true, "none": null, "at": "2026-11-29T10:00:00Z", "reasons": ["a", 1, ["b"]],
            "sd": {"origin@1": {"ip": "10.0.0.5", "n": [1, {"deep": "x"}]}},
        });
        let fields = logwarden_core::Fields::from(json.as_object().unwrap().clone());
        let (schema, f) = super::super::schema::build();
        let mut by_json = TantivyDocument::default();
        by_json.add_field_value(f.fields, &json);
        let mut in_place = TantivyDocument::default();
        in_place.add_field_value(f.fields, FieldsValue::Top(&fields));
        let (a, b) = (by_json.to_json(&schema), in_place.to_json(&schema));
        assert_eq!(a, b);
        // Nothing was left out, down to the deepest value.
        assert!(b.contains("alice@example.com") && b.contains("deep"), "{b}");
    }
}
