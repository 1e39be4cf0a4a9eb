//! Property test: the YAML the engine prints parses back to exactly the
//! objects it built, whatever strings, numbers and nesting they hold.

use driftless_kustomize::ResourceList;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "yes", "no", "on", "0755", "1.0", "~", "", "- a", "a: b", "x\ny", "x\n", " lead",
            "trail ", "#c", "1e3", "12:30", "\t", "'q'", "\"d\"", "---", "null"
        ])
        .prop_map(|s| Value::String(s.to_string())),
        "[ -~\n\t]{0,20}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z0-9./_ :#-]{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn parse_stream(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("printed YAML parses"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn printed_yaml_reads_back_identically(objects in prop::collection::vec(prop::collection::btree_map("[a-z]{1,6}", value(), 1..5), 1..4)) {
        let objects: Vec<Value> = objects.into_iter().map(|m| Value::Object(m.into_iter().collect())).collect();
        let list = ResourceList { objects: objects.clone() };
        let text = list.to_yaml();
        prop_assert_eq!(parse_stream(&text), objects, "{}", text);
    }
}
