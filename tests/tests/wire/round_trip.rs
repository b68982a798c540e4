//! Property tests of the conversions: random valid resources survive JSON -> protobuf -> JSON,
//! and protobuf -> the generated Rust type -> protobuf, read by the prost types a gRPC client
//! generates from the same `.proto` files.

use proptest::prelude::*;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::pb;

fn messages() -> cmmv::protobuf::Messages {
    todo::api::PROTOBUF
        .expect("the example is generated with the proto target")
        .messages()
        .expect("the descriptors load")
}

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| {
        // A version 4 UUID: the version and variant bits set.
        let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let hex = format!("{n:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// An RFC 3339 instant in whole seconds, as the server writes them.
fn instant() -> impl Strategy<Value = String> {
    (0i64..4_000_000_000).prop_map(|seconds| {
        time::OffsetDateTime::from_unix_timestamp(seconds)
            .expect("in range")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("formats")
    })
}

fn metadata() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[a-z ]{0,12}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        (-1000i32..1000).prop_map(|n| Value::from(f64::from(n) + 0.5)),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    /// A task as the server returns it.
    fn task()(
        id in uuid(),
        project_id in uuid(),
        title in "[A-Za-z0-9 ]{1,40}",
        notes in proptest::option::of("[a-z ]{0,40}"),
        done in any::<bool>(),
        priority in prop_oneof![Just("low"), Just("normal"), Just("high")],
        due_at in proptest::option::of(instant()),
        quarters in proptest::option::of(1u32..4000),
        story_points in proptest::option::of(0i32..=100),
        confidence in proptest::option::of(0u32..1000),
        tags in prop::collection::btree_set("[a-z0-9-]{1,12}", 0..5),
        checklist in prop::collection::vec(("[a-z ]{1,20}", any::<bool>()), 0..3),
        // `metadata` is not nullable: `null` is refused there, though not inside it.
        metadata in proptest::option::of(metadata().prop_filter("not null", |v| !v.is_null())),
        attachment_count in 0i64..i64::MAX,
        created_at in instant(),
        updated_at in instant(),
    ) -> Value {
        let mut task = json!({
            "id": id, "project_id": project_id, "title": title, "done": done,
            "priority": priority, "tags": tags, "attachment_count": attachment_count,
            "created_at": created_at, "updated_at": updated_at,
            "checklist": checklist
                .into_iter()
                .map(|(text, checked)| json!({ "text": text, "checked": checked }))
                .collect::<Vec<_>>(),
        });
        let object = task.as_object_mut().expect("an object");
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                object.insert(key.to_owned(), value);
            }
        };
        set("notes", notes.map(Value::from));
        set("due_at", due_at.map(Value::from));
        set("estimate_hours", quarters.map(|q| json!(f64::from(q) * 0.25)));
        set("story_points", story_points.map(Value::from));
        set("confidence", confidence.map(|c| json!(f64::from(c) / 1000.0)));
        set("metadata", metadata);
        task
    }
}

/// What proto3 cannot tell apart is left out of both sides: empty lists and maps (absent), and
/// `null` members (unset).
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(_, v)| {
                    !v.is_null()
                        && !matches!(v, Value::Array(a) if a.is_empty())
                        && !matches!(v, Value::Object(o) if o.is_empty())
                })
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn json_survives_protobuf_and_back(task in task()) {
        let messages = messages();
        let bytes = messages.from_json("todo.v1.Task", &task).expect("encodes");
        // A client's prost types read the same bytes, and write them back unchanged.
        let decoded = pb::Task::decode(bytes.as_slice()).expect("prost decodes it");
        prop_assert_eq!(&decoded.id, task["id"].as_str().expect("id"));
        let again = decoded.encode_to_vec();
        let back = messages.to_json("todo.v1.Task", &again).expect("decodes");
        // `metadata` is free JSON: its nulls are values, not unset members.
        let mut expected = normalized(&task);
        let mut actual = normalized(&back);
        if let (Some(e), Some(a)) = (expected.as_object_mut(), actual.as_object_mut()) {
            e.remove("metadata");
            a.remove("metadata");
        }
        prop_assert_eq!(expected, actual);
        prop_assert_eq!(back.get("metadata"), task.get("metadata"));
    }

    #[test]
    fn protobuf_survives_the_rust_type_and_back(task in task()) {
        let messages = messages();
        let bytes = messages.from_json("todo.v1.Task", &task).expect("encodes");
        let rust: todo::api::Task = messages.decode("todo.v1.Task", &bytes).expect("a valid Task");
        let again = messages.encode("todo.v1.Task", &rust).expect("encodes");
        prop_assert_eq!(
            pb::Task::decode(again.as_slice()).expect("decodes"),
            pb::Task::decode(bytes.as_slice()).expect("decodes")
        );
    }
}

#[test]
fn decoding_checks_the_message_as_a_json_body_is_checked() {
    let messages = messages();
    let input = pb::TaskInput {
        project_id: "00000000-0000-4000-8000-000000000001".to_owned(),
        title: String::new(),
        story_points: Some(101),
        ..Default::default()
    };
    let problem = messages
        .decode::<todo::api::TaskInput>("todo.v1.TaskInput", &input.encode_to_vec())
        .expect_err("invalid");
    assert_eq!(problem.status, 422);
    let pointers: Vec<_> = problem
        .errors
        .iter()
        .filter_map(|e| e.pointer.as_deref())
        .collect();
    assert_eq!(pointers, ["/title", "/story_points"]);
}
