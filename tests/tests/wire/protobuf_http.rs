//! REST with protobuf bodies, over a real socket: the same operation, checks and answers as
//! JSON, with the messages of the emitted `.proto` files.

use prost::Message as _;
use serde_json::{Value, json};

use crate::pb;
use crate::{Served, admin_token, settings};

const PROTOBUF: &str = "application/x-protobuf";

fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", admin_token()).parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

async fn project(served: &Served, client: &reqwest::Client, name: &str) -> String {
    let created: Value = client
        .post(served.url("/v1/projects"))
        .json(&json!({ "name": name, "owner_id": crate::ADMIN }))
        .send()
        .await
        .expect("create a project")
        .json()
        .await
        .expect("JSON");
    created["id"].as_str().expect("an id").to_owned()
}

fn task_input(project_id: &str, title: &str) -> pb::TaskInput {
    pb::TaskInput {
        project_id: project_id.to_owned(),
        title: title.to_owned(),
        notes: Some("in protobuf".to_owned()),
        priority: Some(pb::TaskPriority::High as i32),
        due_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        estimate_hours: Some(2.5),
        story_points: Some(8),
        tags: vec!["wire".to_owned(), "proto".to_owned()],
        checklist: vec![pb::ChecklistItem {
            text: "encode".to_owned(),
            checked: true,
        }],
        ..Default::default()
    }
}

async fn send(
    client: &reqwest::Client,
    url: String,
    content_type: &str,
    body: Vec<u8>,
    accept: &str,
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(body)
        .send()
        .await
        .expect("the request is answered")
}

#[tokio::test]
async fn a_protobuf_body_creates_what_json_would_and_replies_in_the_type_asked_for() {
    let served = Served::example(settings()).await;
    let client = client();
    let project_id = project(&served, &client, "Wire one").await;
    let input = task_input(&project_id, "Sent as protobuf");
    let response = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        input.encode_to_vec(),
        PROTOBUF,
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let location = response.headers()["location"]
        .to_str()
        .expect("text")
        .to_owned();
    let created = pb::Task::decode(response.bytes().await.expect("body")).expect("a Task");
    assert_eq!(created.title, "Sent as protobuf");
    assert_eq!(created.priority, pb::TaskPriority::High as i32);
    assert_eq!(created.tags, ["wire", "proto"]);
    assert_eq!(created.checklist.len(), 1);
    assert_eq!(created.estimate_hours, Some(2.5));
    assert_eq!(
        created.due_at.as_ref().map(|t| t.seconds),
        Some(1_900_000_000)
    );
    assert_eq!(location, format!("/v1/tasks/{}", created.id));

    // The JSON reading of the same resource agrees field by field.
    let json: Value = client
        .get(served.url(&location))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(json["priority"], "high");
    assert_eq!(json["due_at"], "2030-03-17T17:46:40Z");
    assert_eq!(json["checklist"][0]["checked"], true);

    // `application/protobuf` is answered as itself; a reply varies by Accept.
    let get = client
        .get(served.url(&location))
        .header("accept", "application/protobuf")
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "application/protobuf");
    assert!(get.headers().get_all("vary").iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("accept"))
    }));
    let fetched = pb::Task::decode(get.bytes().await.expect("body")).expect("a Task");
    assert_eq!(fetched, created);

    // A list is its page message, with the same filters as JSON.
    let page = client
        .get(served.url("/v1/tasks?priority=high&count=true"))
        .header("accept", PROTOBUF)
        .send()
        .await
        .expect("list");
    assert_eq!(page.status(), 200);
    let page = pb::TaskPage::decode(page.bytes().await.expect("body")).expect("a TaskPage");
    assert_eq!(page.items, vec![created.clone()]);
    assert_eq!(page.total, Some(1));
    assert_eq!(page.limit, 25);

    // A patch in protobuf; delete answers 204 with no body either way.
    let patch = pb::TaskPatch {
        done: Some(true),
        ..Default::default()
    };
    let patched = client
        .patch(served.url(&location))
        .header("content-type", PROTOBUF)
        .header("accept", PROTOBUF)
        .body(patch.encode_to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let patched = pb::Task::decode(patched.bytes().await.expect("body")).expect("a Task");
    assert!(patched.done);
    assert_eq!(patched.title, created.title);
}

#[tokio::test]
async fn invalid_messages_get_the_same_problem_as_the_same_json() {
    let served = Served::example(settings()).await;
    let client = client();
    let project_id = project(&served, &client, "Wire two").await;
    let mut input = task_input(&project_id, "");
    input.tags = vec!["Not A Slug".to_owned()];
    input.story_points = Some(101);
    let protobuf = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        input.encode_to_vec(),
        PROTOBUF,
    )
    .await;
    assert_eq!(protobuf.status(), 422);
    assert_eq!(
        protobuf.headers()["content-type"],
        "application/problem+json"
    );
    let from_protobuf: Value = protobuf.json().await.expect("a problem");
    let same_json = json!({
        "project_id": project_id,
        "title": "",
        "notes": "in protobuf",
        "priority": "high",
        "due_at": "2030-03-17T17:46:40Z",
        "estimate_hours": 2.5,
        "story_points": 101,
        "tags": ["Not A Slug"],
        "checklist": [{ "text": "encode", "checked": true }],
    });
    let from_json: Value = client
        .post(served.url("/v1/tasks"))
        .json(&same_json)
        .send()
        .await
        .expect("JSON create")
        .json()
        .await
        .expect("a problem");
    assert_eq!(from_protobuf["status"], 422);
    assert_eq!(from_protobuf["errors"], from_json["errors"]);
    let pointers: Vec<&str> = from_protobuf["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(pointers.contains(&"/title"), "{pointers:?}");
    assert!(pointers.contains(&"/story_points"), "{pointers:?}");
    assert!(pointers.contains(&"/tags/0"), "{pointers:?}");
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_and_unknown_fields_are_dropped() {
    let served = Served::example(settings()).await;
    let client = client();
    let project_id = project(&served, &client, "Wire three").await;
    let bytes = task_input(&project_id, "Cut short").encode_to_vec();

    // Truncated in the middle of a field.
    let truncated = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        bytes[..bytes.len() - 3].to_vec(),
        PROTOBUF,
    )
    .await;
    assert_eq!(truncated.status(), 400);
    let problem: Value = truncated.json().await.expect("a problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("todo.v1.TaskInput")),
        "{problem}"
    );

    // `title` (field 3, a string) sent as a varint: the wrong wire type.
    let mut wrong = Vec::new();
    prost::encoding::int32::encode(3, &7, &mut wrong);
    let wrong_type = send(&client, served.url("/v1/tasks"), PROTOBUF, wrong, PROTOBUF).await;
    assert_eq!(wrong_type.status(), 400);

    // A field this server does not know (number 999) is dropped, as protobuf expects of an
    // older reader; the rest is created.
    let mut with_unknown = task_input(&project_id, "With an unknown field").encode_to_vec();
    prost::encoding::string::encode(999, &"from the future".to_owned(), &mut with_unknown);
    let created = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        with_unknown,
        "application/json",
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("JSON, as asked");
    assert_eq!(created["title"], "With an unknown field");
}

#[tokio::test]
async fn a_message_of_empty_elements_cannot_unfold_past_its_size() {
    let served = Served::example(settings()).await;
    let client = client();
    let project_id = project(&served, &client, "Wire four").await;
    // Five thousand empty checklist items: two bytes each on the wire, an object each once
    // decoded. Refused for its size before validation would count them.
    let mut input = task_input(&project_id, "Unfolding");
    input.checklist = vec![pb::ChecklistItem::default(); 5000];
    let response = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        input.encode_to_vec(),
        PROTOBUF,
    )
    .await;
    assert_eq!(response.status(), 413);
    // Fifty, the contract's maximum, are judged by the contract as usual.
    input.checklist = vec![pb::ChecklistItem::default(); 50];
    let response = send(
        &client,
        served.url("/v1/tasks"),
        PROTOBUF,
        input.encode_to_vec(),
        PROTOBUF,
    )
    .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["errors"][0]["pointer"], "/checklist/0/text");
}

#[tokio::test]
async fn other_media_types_get_415_and_406() {
    let served = Served::example(settings()).await;
    let client = client();
    let unsupported = send(
        &client,
        served.url("/v1/tasks"),
        "text/plain",
        b"a task".to_vec(),
        "*/*",
    )
    .await;
    assert_eq!(unsupported.status(), 415);
    let problem: Value = unsupported.json().await.expect("a problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(PROTOBUF)),
        "{problem}"
    );
    let unacceptable = client
        .get(served.url("/v1/tasks"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("answered");
    assert_eq!(unacceptable.status(), 406);
    assert_eq!(
        unacceptable.headers()["content-type"],
        "application/problem+json"
    );
    // JSON preferred over protobuf is JSON.
    let json = client
        .get(served.url("/v1/tasks"))
        .header("accept", "application/json, application/x-protobuf;q=0.5")
        .send()
        .await
        .expect("answered");
    assert_eq!(json.status(), 200);
    assert!(
        json.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/json"))
    );
}

#[tokio::test]
async fn the_served_document_lists_both_media_types() {
    let served = Served::example(settings()).await;
    let document: Value = reqwest::get(served.url("/v1/openapi.json"))
        .await
        .expect("the document")
        .json()
        .await
        .expect("JSON");
    let create = &document["paths"]["/v1/tasks"]["post"];
    for media_type in ["application/json", PROTOBUF, "application/protobuf"] {
        assert_eq!(
            create["requestBody"]["content"][media_type]["schema"]["$ref"],
            "#/components/schemas/TaskInput",
            "{media_type}"
        );
        assert_eq!(
            create["responses"]["201"]["content"][media_type]["schema"]["$ref"],
            "#/components/schemas/Task",
            "{media_type}"
        );
    }
}
