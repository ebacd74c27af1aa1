//! An event's `fields`: its named values beyond the fixed ones (`pid`, `facility`, `sender`,
//! `check`, `array`, ...).
//!
//! Held as one vector of `(name, value)` pairs sorted by name, with names of up to 24 bytes
//! inline ([`CompactString`]). The JSON form, the order of iteration and the meaning of every
//! method are those of the `serde_json::Map` this replaces (a B-tree): names sorted byte-wise,
//! one value per name, the last one read kept when a JSON object repeats a name.
//!
//! Why not the B-tree: an event has a handful of fields, and the syslog intake makes and frees
//! hundreds of thousands of events a second. For four fields the B-tree allocated a 600-byte node
//! and four names, and compared names through pointers into scattered memory; making the map,
//! looking in it (the alert rules read every event) and freeing it was a fifth of the
//! collector's CPU in a syslog burst (docs/BENCHMARKS.md, session 10). Here it is one
//! allocation, and a lookup goes over contiguous pairs.

use std::fmt;

use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An event's fields, sorted by name. See the module doc.
#[derive(Clone, Default, PartialEq)]
pub struct Fields {
    /// Sorted by name, each name once.
    entries: Vec<(CompactString, Value)>,
}

static NULL: Value = Value::Null;

/// Up to this many fields, a lookup scans them all rather than searching in halves.
const SCAN_UP_TO: usize = 8;

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Where `key` is. The alert rules look up several names in every event, mostly names it
    /// does not have: among a few fields, comparing lengths first rules nearly all of them out
    /// without reading a byte of either name.
    fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= SCAN_UP_TO {
            self.entries
                .iter()
                .position(|(k, _)| k.len() == key.len() && k == key)
        } else {
            self.find(key).ok()
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`; returns the value it replaces, if any. A name out of order moves
    /// the entries after it: for many names from outside, [`Extend`] sorts once instead.
    pub fn insert(&mut self, key: CompactString, value: Value) -> Option<Value> {
        // Names mostly come in order (parsers insert them so, JSON holds them so): append.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// The fields in name order.
    pub fn iter(&self) -> <&Fields as IntoIterator>::IntoIter {
        self.into_iter()
    }

    /// Sorts entries appended out of order, and of a name given more than once keeps the value
    /// given last (the sort is stable).
    fn sort_keeping_last(&mut self) {
        if self.entries.is_sorted_by(|a, b| a.0 < b.0) {
            return;
        }
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
    }
}

/// `fields["name"]`: the value, or `null` when there is none (as a `serde_json::Value` indexes).
impl std::ops::Index<&str> for Fields {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// Many fields at once, as if inserted one by one in order (the last value of a name wins), in
/// one sort: names from outside (a JSON object, the pairs of a log line) may come in any order
/// and any number, and inserting each out of order would move the tail of the vector every time.
impl<K: Into<CompactString>> Extend<(K, Value)> for Fields {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        self.entries
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v)));
        self.sort_keeping_last();
    }
}

impl<K: Into<CompactString>> FromIterator<(K, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Fields {
        let mut f = Fields::new();
        f.extend(iter);
        f
    }
}

impl IntoIterator for Fields {
    type Item = (CompactString, Value);
    type IntoIter = std::vec::IntoIter<(CompactString, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (CompactString, Value)>,
        fn(&'a (CompactString, Value)) -> (&'a str, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl From<serde_json::Map<String, Value>> for Fields {
    fn from(m: serde_json::Map<String, Value>) -> Fields {
        // The map is already sorted: nothing to sort.
        m.into_iter().collect()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut f = Fields {
                    entries: Vec::with_capacity(map.size_hint().unwrap_or(0).min(64)),
                };
                while let Some(entry) = map.next_entry()? {
                    f.entries.push(entry);
                }
                f.sort_keeping_last();
                Ok(f)
            }
        }

        d.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn names_are_kept_sorted_and_once_as_the_b_tree_kept_them() {
        let mut f = Fields::new();
        assert_eq!(f.insert("transport".into(), json!("tcp")), None);
        assert_eq!(f.insert("pid".into(), json!(7)), None);
        assert_eq!(f.insert("sender".into(), json!("10.0.0.5:514")), None);
        assert_eq!(f.insert("pid".into(), json!(8)), Some(json!(7)));
        assert_eq!(
            f.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["pid", "sender", "transport"]
        );
        assert_eq!(f["pid"], 8);
        assert_eq!(f["nothing"], Value::Null);
        assert!(f.contains_key("sender") && !f.contains_key("send"));
        assert_eq!(f.remove("sender"), Some(json!("10.0.0.5:514")));
        assert_eq!(f.remove("sender"), None);
        assert_eq!(f.len(), 2);
        f.insert("pid".into(), json!(9));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"pid":9,"transport":"tcp"}"#
        );
    }

    #[test]
    fn a_repeated_name_in_json_keeps_the_last_value_as_serde_json_does_in_any_order() {
        let f: Fields = serde_json::from_str(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        let m: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        assert_eq!(f, Fields::from(m));
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"a":2,"b":3}"#);
        // Many names, backwards and each twice: the last value of each, in order.
        let mut json = String::from("{");
        for i in (0..5000).rev() {
            json += &format!(r#""k{i:05}":{i},"k{i:05}":{},"#, i + 1);
        }
        json.pop();
        json.push('}');
        let f: Fields = serde_json::from_str(&json).unwrap();
        let m: serde_json::Map<String, Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(f.len(), 5000);
        assert_eq!(f["k00007"], 8);
        assert_eq!(f, Fields::from(m));
        // Extending is inserting each in turn: the new value of a name already there wins.
        let mut f: Fields = [("b", json!(1)), ("a", json!(2))].into_iter().collect();
        f.extend([("c", json!(3)), ("a", json!(4)), ("a", json!(5))]);
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"a":5,"b":1,"c":3}"#);
        let bad = serde_json::from_str::<Fields>("[1]").unwrap_err();
        assert!(bad.to_string().contains("an object of fields"), "{bad}");
    }

    proptest! {
        /// Any insertions and removals leave the same map, in the same JSON, as serde_json's.
        #[test]
        fn behaves_as_serde_json_map(
            ops in prop::collection::vec(("[a-e]{0,3}|[a-z_.]{20,30}", any::<Option<i64>>()), 0..40)
        ) {
            let mut f = Fields::new();
            let mut m = serde_json::Map::new();
            for (k, v) in ops {
                match v {
                    Some(v) => {
                        prop_assert_eq!(f.insert(k.as_str().into(), json!(v)), m.insert(k, json!(v)));
                    }
                    None => prop_assert_eq!(f.remove(&k), m.remove(&k)),
                }
            }
            for k in ["a", "ab", "e", "zz", "abc"] {
                prop_assert_eq!(f.get(k), m.get(k));
            }
            let json = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&m).unwrap());
            prop_assert_eq!(serde_json::to_value(&f).unwrap(), Value::Object(m.clone()));
            prop_assert_eq!(serde_json::from_str::<Fields>(&json).unwrap(), Fields::from(m));
        }
    }
}
