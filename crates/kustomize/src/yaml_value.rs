//! Building a `serde_json::Value` from serde_norway under a size budget.
//!
//! serde_norway replays an anchor's events for every alias, and its own guard
//! only counts alias jumps (100 per event of the document), so a large string
//! aliased many times passes it. This visitor builds the same values as
//! `serde_json::Value`'s own, but weighs every node and scalar before it is
//! allocated and stops at the budget and at the depth limit. It is the second
//! line: [`crate::yaml_meter`] has measured aliases exactly before parsing when
//! the text holds any.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::limits::YAML_NODE_BYTES;

/// How much a document may still build, shared by every node of it.
#[derive(Debug)]
pub(crate) struct Budget {
    left: Cell<u64>,
    max_depth: usize,
    /// Set when the budget (not the depth) ran out.
    pub exhausted: Cell<bool>,
    /// Set when the depth limit was reached.
    pub too_deep: Cell<bool>,
}

impl Budget {
    /// A budget of `bytes` (nodes weigh [`YAML_NODE_BYTES`] each) and `max_depth` levels.
    pub fn new(bytes: u64, max_depth: usize) -> Budget {
        Budget {
            left: Cell::new(bytes),
            max_depth,
            exhausted: Cell::new(false),
            too_deep: Cell::new(false),
        }
    }

    fn spend<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = YAML_NODE_BYTES.saturating_add(bytes as u64);
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exhausted.set(true);
                Err(E::custom("document expands past its size budget"))
            }
        }
    }
}

/// Seed of one value at some depth.
pub(crate) struct Bounded<'b> {
    /// The document's budget.
    pub budget: &'b Budget,
    /// Containers above this value.
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Bounded<'_> {
    fn child(&self) -> Bounded<'_> {
        Bounded {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn open<E: de::Error>(&self) -> Result<(), E> {
        if self.depth >= self.budget.max_depth {
            self.budget.too_deep.set(true);
            return Err(E::custom("nesting too deep"));
        }
        self.budget.spend(0)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        // serde_json's wording, so messages stay what they were.
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.budget.spend(0)?;
        serde::Deserialize::deserialize(de::value::I128Deserializer::<E>::new(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.budget.spend(0)?;
        serde::Deserialize::deserialize(de::value::U128Deserializer::<E>::new(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.spend(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.spend(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key {
            budget: self.budget,
        })? {
            if out.contains_key(&key) {
                // kubectl (go-yaml v3) refuses a key given twice in one mapping.
                return Err(serde::de::Error::custom(format!(
                    "mapping key \"{key}\" already defined"
                )));
            }
            let value = map.next_value_seed(self.child())?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Seed of a mapping key: a string, as serde_json reads keys.
struct Key<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.budget.spend(v.len())?;
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.budget.spend(v.len())?;
        Ok(v)
    }
}
