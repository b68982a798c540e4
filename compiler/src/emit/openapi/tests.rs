//! Tests of the OpenAPI emitter, on small contracts that together use every feature.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::schema::Component;
use super::{OpenApiOptions, emit};
use crate::Input;
use crate::frontend::yaml::tree::{self, Node, NodeKind, Scalar as Yaml};
use crate::ir::Project;

const PROJECT: &str = r#"
api:
  title: Todo API
  version: 2.3.0
  description: Tasks and the people who own them.
rate_limits:
  standard: { limit: 100, per: 1m, burst: 20, key: user }
"#;

const USER: &str = r#"
contract: User
description: Someone who owns tasks.
versions: [1, 2]
auth: { roles: [admin] }
fields:
  id: { type: uuid, primary: true }
  email: { type: string, format: email, unique: true, filterable: true }
  password: { type: secret, min_length: 12 }
  avatar: { type: bytes, optional: true, min_length: 1, max_length: 65536 }
  born_on: { type: date, optional: true }
crud: [get, create]
"#;

const TASK: &str = r#"
contract: Task
description: A unit of work on a to-do list.
versions: [1, 2]
auth: authenticated
rate_limit: standard
pagination: { default_limit: 25, max_limit: 50 }
storage: { timestamps: true }
enums:
  Priority:
    description: How urgent a task is.
    values: [low, { name: normal, description: the default }, high]
fields:
  id: { type: uuid, primary: true }
  title: { type: string, min_length: 1, max_length: 200, pattern: '^\S', sortable: true, example: Buy milk, description: "What to do: one line." }
  done: { type: bool, default: false, filterable: true }
  due_at: { type: datetime, optional: true, nullable: true, sortable: true }
  priority: { type: Priority, default: normal, filterable: true }
  status: { type: enum, values: [open, closed], optional: true, nullable: true }
  estimate: { type: decimal, optional: true, minimum: 0, default: 1 }
  score: { type: double, optional: true, exclusive_minimum: 0, maximum: 10, multiple_of: 0.5 }
  ratio: { type: float, optional: true, exclusive_maximum: 1.5 }
  points: { type: int64, optional: true, minimum: 0 }
  rank: { type: int32, optional: true }
  website: { type: string, format: url, optional: true }
  note: { type: string, optional: true, nullable: true, deprecated: true }
  tags: { type: list<string>, max_items: 10, unique_items: true, items: { max_length: 20 }, default: [] }
  labels: { type: map<string>, optional: true, max_items: 5, items: { min_length: 1 } }
  meta: { type: json, optional: true, description: Free-form data. }
  owner_id: { type: uuid, ref: User, nullable: true, on_delete: set_null }
crud:
  list:
  get:
  create:
  update: { versions: [1] }
  patch:
  delete: { auth: { roles: [admin, owner], require: all }, rate_limit: none }
messages:
  CompleteTask:
    description: Why a task was completed.
    fields:
      note: { type: string, optional: true, max_length: 500 }
      priority: { type: Priority, optional: true }
operations:
  complete:
    method: POST
    path: /{id}/complete
    request: CompleteTask
    response: Task
    summary: Complete a task
    auth: { roles: [user, admin] }
    rate_limit: { limit: 10, per: 1m, key: "header:X-Tenant" }
  search:
    method: GET
    path: /search
    query:
      q: { type: string, min_length: 2 }
      page_size: { type: int32, default: 10, minimum: 1, maximum: 100 }
    response: list<Task>
    auth: public
    versions: [2]
  archive_all:
    method: POST
    response: none
    versions: [2]
"#;

const NOTE: &str = r#"
contract: Note
description: "Tricky text: \"quotes\", #hash, 'single', tab\t, \\backslash, é 日本 🎉,\nline break, \u2028 separator, yes, - dash"
versions: [2]
auth: public
fields:
  id: { type: int64, primary: true }
  body: { type: string }
crud: [get]
"#;

const AUDIT: &str = r#"
contract: Audit
fields:
  id: { type: uuid, primary: true }
crud: []
"#;

fn analyze(project_file: Option<&str>, contracts: &[(&str, &str)]) -> Project {
    let mut input = Input::default();
    if let Some(text) = project_file {
        input.set_project("contracts/cmmv.yaml", text);
    }
    for (name, text) in contracts {
        input.add_contract(format!("contracts/{name}"), *text);
    }
    let analysis = crate::analyze(&input);
    let (project, diags) = (analysis.project, analysis.diagnostics);
    let rendered: Vec<String> = diags
        .into_sorted()
        .iter()
        .map(|d| d.render(&input.sources))
        .collect();
    assert!(rendered.is_empty(), "{}", rendered.join("\n"));
    project
}

fn todo_project() -> Project {
    analyze(
        Some(PROJECT),
        &[
            ("audit.yaml", AUDIT),
            ("note.yaml", NOTE),
            ("task.yaml", TASK),
            ("user.yaml", USER),
        ],
    )
}

fn options() -> OpenApiOptions {
    OpenApiOptions {
        origin: "contracts/".to_owned(),
        protobuf: false,
    }
}

/// Generated files by path.
fn files(project: &Project) -> BTreeMap<String, String> {
    emit(&crate::api::Api::resolve(project), &options())
        .into_iter()
        .map(|f| (f.path.display().to_string(), f.contents))
        .collect()
}

/// The JSON document of one version.
fn document(version: u32) -> Value {
    let files = files(&todo_project());
    let text = &files[&format!("openapi/v{version}.json")];
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON: {e}\n{text}"))
}

fn schema<'d>(doc: &'d Value, name: &str) -> &'d Value {
    &doc["components"]["schemas"][name]
}

fn property<'d>(doc: &'d Value, schema_name: &str, field: &str) -> &'d Value {
    &schema(doc, schema_name)["properties"][field]
}

fn operation<'d>(doc: &'d Value, path: &str, method: &str) -> &'d Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "no {method} {path}");
    op
}

fn parameter_names(op: &Value) -> Vec<&str> {
    op["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default()
}

fn parameter<'o>(op: &'o Value, name: &str) -> &'o Value {
    op["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name}"))
}

fn status_codes(op: &Value) -> Vec<&str> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn no_operations_no_documents() {
    let project = analyze(None, &[("audit.yaml", AUDIT)]);
    assert!(emit(&crate::api::Api::resolve(&project), &options()).is_empty());
}

#[test]
fn one_json_and_one_yaml_document_per_version() {
    let files = files(&todo_project());
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "openapi/v1.json",
            "openapi/v1.yaml",
            "openapi/v2.json",
            "openapi/v2.yaml"
        ]
    );
}

#[test]
fn generated_markers_come_first() {
    let files = files(&todo_project());
    let json = &files["openapi/v1.json"];
    assert!(json.starts_with(
        "{\n  \"openapi\": \"3.1.0\",\n  \"x-generated\": \"@generated by cmmv from contracts/. DO NOT EDIT.\",\n"
    ));
    assert!(json.ends_with("}\n"));
    let yaml = &files["openapi/v1.yaml"];
    assert!(yaml.starts_with(&crate::emit::header("#", "contracts/")));
    assert!(yaml.contains("\nopenapi: \"3.1.0\"\n"));
}

#[test]
fn info_names_the_api_and_the_version() {
    let doc = document(2);
    assert_eq!(
        doc["info"],
        json!({
            "title": "Todo API",
            "version": "2.3.0",
            "description": "Tasks and the people who own them.",
            "x-api-version": 2,
        })
    );
    assert!(doc.get("security").is_none(), "no global security");
}

#[test]
fn each_version_documents_only_its_operations_and_types() {
    let v1 = document(1);
    let v2 = document(2);
    let paths = |doc: &Value| -> Vec<String> {
        doc["paths"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        paths(&v1),
        [
            "/v1/tasks",
            "/v1/tasks/{id}",
            "/v1/tasks/{id}/complete",
            "/v1/users",
            "/v1/users/{id}"
        ]
    );
    assert_eq!(
        paths(&v2),
        [
            "/v2/notes/{id}",
            "/v2/tasks",
            "/v2/tasks/archive-all",
            "/v2/tasks/search",
            "/v2/tasks/{id}",
            "/v2/tasks/{id}/complete",
            "/v2/users",
            "/v2/users/{id}"
        ]
    );
    assert!(v1["paths"]["/v1/tasks/{id}"]["put"].is_object());
    assert!(v2["paths"]["/v2/tasks/{id}"].get("put").is_none());

    let tags = |doc: &Value| -> Vec<Value> { doc["tags"].as_array().cloned().unwrap_or_default() };
    assert_eq!(
        tags(&v1),
        [
            json!({"name": "Task", "description": "A unit of work on a to-do list."}),
            json!({"name": "User", "description": "Someone who owns tasks."}),
        ]
    );
    assert_eq!(tags(&v2)[0]["name"], "Note");

    assert!(schema(&v1, "Note").is_null());
    assert!(
        schema(&v1, "Audit").is_null(),
        "a contract without operations"
    );
    assert!(schema(&v2, "Note").is_object());
    // User has no patch or list operation, so its derived bodies are not used.
    assert!(schema(&v1, "UserInput").is_object());
    assert!(schema(&v1, "UserPatch").is_null());
    assert!(schema(&v1, "UserPage").is_null());
    for name in [
        "Task",
        "TaskInput",
        "TaskPatch",
        "TaskPage",
        "CompleteTask",
        "Priority",
        "TaskStatus",
        "Problem",
        "FieldError",
    ] {
        assert!(schema(&v1, name).is_object(), "v1 lacks {name}");
    }
}

#[test]
fn every_operation_is_tagged_and_named() {
    let doc = document(2);
    let op = operation(&doc, "/v2/tasks/{id}/complete", "post");
    assert_eq!(op["tags"], json!(["Task"]));
    assert_eq!(op["operationId"], "task_complete");
    assert_eq!(op["summary"], "Complete a task");
    assert_eq!(operation(&doc, "/v2/tasks", "get")["summary"], "List tasks");
    assert_eq!(
        operation(&doc, "/v2/tasks", "get")["operationId"],
        "task_list"
    );
    assert_eq!(
        operation(&doc, "/v2/tasks/archive-all", "post")["summary"],
        "Archive all"
    );
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids are unique");
}

#[test]
fn nullable_values() {
    let doc = document(1);
    let due_at = property(&doc, "Task", "due_at");
    assert_eq!(due_at["type"], json!(["string", "null"]));
    assert_eq!(due_at["format"], "date-time");
    let owner = property(&doc, "Task", "owner_id");
    assert_eq!(owner["type"], json!(["string", "null"]));
    assert_eq!(owner["format"], "uuid");
    assert_eq!(
        property(&doc, "Task", "status")["anyOf"],
        json!([{"$ref": "#/components/schemas/TaskStatus"}, {"type": "null"}])
    );
    // `json` is any value but null, which a field that is not nullable refuses (issue 17:
    // the schema allowed what the server refused).
    assert_eq!(
        property(&doc, "Task", "meta"),
        &json!({"description": "Free-form data.", "not": {"type": "null"}})
    );
    assert_eq!(property(&doc, "Task", "title")["type"], "string");
    assert_eq!(
        property(&doc, "Task", "priority"),
        &json!({"$ref": "#/components/schemas/Priority", "default": "normal"})
    );
}

#[test]
fn scalar_types_and_constraints() {
    let doc = document(1);
    let task = |field: &str| property(&doc, "Task", field).clone();
    assert_eq!(
        task("title"),
        json!({
            "type": "string",
            "description": "What to do: one line.",
            "minLength": 1,
            "maxLength": 200,
            "pattern": "^\\S",
            "examples": ["Buy milk"],
        })
    );
    assert_eq!(
        task("estimate"),
        json!({
            "type": "string",
            "format": "decimal",
            // A bound at zero is a sign, which the pattern says (issue 17).
            "pattern": "^(?:[0-9]+(?:\\.[0-9]+)?|-0+(?:\\.0+)?)$",
            "default": "1",
            "x-minimum": 0,
        })
    );
    assert_eq!(
        task("score"),
        json!({
            "type": "number",
            "format": "double",
            "exclusiveMinimum": 0,
            "maximum": 10,
            "multipleOf": 0.5,
        })
    );
    // A 32-bit float's bounds are where rounding stops landing inside them (issue 17):
    // halfway to the first float outside.
    assert_eq!(
        task("ratio"),
        json!({
            "type": "number",
            "format": "float",
            "exclusiveMinimum": -3.4028235677973366e38,
            "exclusiveMaximum": 1.4999999403953552,
        })
    );
    assert_eq!(
        task("points"),
        json!({"type": "integer", "format": "int64", "minimum": 0})
    );
    assert_eq!(
        task("rank"),
        json!({"type": "integer", "format": "int32", "minimum": -2147483648, "maximum": 2147483647})
    );
    assert_eq!(task("done"), json!({"type": "boolean", "default": false}));
    assert_eq!(task("website"), json!({"type": "string", "format": "uri"}));
    assert_eq!(
        task("note"),
        json!({"type": ["string", "null"], "deprecated": true})
    );
    assert_eq!(
        task("tags"),
        json!({
            "type": "array",
            "items": {"type": "string", "maxLength": 20},
            "maxItems": 10,
            "uniqueItems": true,
            "default": [],
        })
    );
    assert_eq!(
        task("labels"),
        json!({
            "type": "object",
            "additionalProperties": {"type": "string", "minLength": 1},
            "maxProperties": 5,
        })
    );
    assert_eq!(
        property(&doc, "User", "avatar"),
        &json!({
            "type": "string",
            "contentEncoding": "base64",
            // The decoded length's bounds, in groups of four characters (issue 17).
            "pattern": "^(?:(?:[A-Za-z0-9+/]{4}){1,21845}|(?:[A-Za-z0-9+/]{4}){0,21845}[A-Za-z0-9+/][AQgw]==|(?:[A-Za-z0-9+/]{4}){0,21844}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)$",
            "x-max-bytes": 65536,
            "x-min-bytes": 1,
        })
    );
    assert_eq!(property(&doc, "User", "email")["format"], "email");
    assert_eq!(
        property(&doc, "User", "born_on"),
        &json!({"type": "string", "format": "date"})
    );
}

#[test]
fn references_are_annotated() {
    let doc = document(1);
    let owner = property(&doc, "Task", "owner_id");
    assert_eq!(owner["x-cmmv-references"], "User");
    assert_eq!(owner["description"], "The primary key of a `User`.");
}

#[test]
fn enums_list_their_values() {
    let doc = document(1);
    assert_eq!(
        schema(&doc, "Priority"),
        &json!({
            "type": "string",
            "description": "How urgent a task is.\n\n- `normal`: the default",
            "enum": ["low", "normal", "high"],
        })
    );
    assert_eq!(
        schema(&doc, "TaskStatus")["enum"],
        json!(["open", "closed"])
    );
}

#[test]
fn resource_input_and_patch_schemas() {
    let doc = document(1);
    let task = schema(&doc, "Task");
    assert_eq!(
        task["required"],
        json!([
            "id",
            "title",
            "done",
            "priority",
            "tags",
            "owner_id",
            "created_at",
            "updated_at"
        ])
    );
    assert!(task.get("additionalProperties").is_none());
    assert_eq!(property(&doc, "Task", "id")["readOnly"], true);
    assert_eq!(property(&doc, "Task", "created_at")["readOnly"], true);

    let user = schema(&doc, "User");
    assert_eq!(user["required"], json!(["id", "email"]));
    assert_eq!(property(&doc, "User", "password")["writeOnly"], true);

    let input = schema(&doc, "TaskInput");
    assert_eq!(input["additionalProperties"], false);
    assert_eq!(input["required"], json!(["title", "owner_id"]));
    let input_fields: Vec<&String> = input["properties"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    assert!(
        !input_fields
            .iter()
            .any(|f| *f == "id" || *f == "created_at")
    );
    assert_eq!(input_fields[0], "title", "declaration order is kept");
    assert!(
        property(&doc, "TaskInput", "title")
            .get("readOnly")
            .is_none()
    );
    assert_eq!(property(&doc, "TaskInput", "done")["default"], false);
    assert_eq!(
        schema(&doc, "UserInput")["required"],
        json!(["email", "password"])
    );
    assert_eq!(property(&doc, "UserInput", "password")["writeOnly"], true);
    // A secret is a string on the wire, marked as a password for tools that mask it.
    assert_eq!(property(&doc, "UserInput", "password")["type"], "string");
    assert_eq!(
        property(&doc, "UserInput", "password")["format"],
        "password"
    );
    assert_eq!(property(&doc, "UserInput", "password")["minLength"], 12);

    let patch = schema(&doc, "TaskPatch");
    assert_eq!(patch["additionalProperties"], false);
    assert!(patch.get("required").is_none());
    assert!(
        property(&doc, "TaskPatch", "done").get("default").is_none(),
        "an absent patch field keeps its value"
    );
    assert_eq!(
        property(&doc, "TaskPatch", "due_at")["type"],
        json!(["string", "null"])
    );

    let message = schema(&doc, "CompleteTask");
    assert_eq!(message["additionalProperties"], false);
    assert_eq!(message["description"], "Why a task was completed.");
}

#[test]
fn page_schema() {
    let doc = document(1);
    let page = schema(&doc, "TaskPage");
    assert_eq!(page["required"], json!(["items", "limit", "offset"]));
    // A whole task, or with `fields` a sparse one, whose schema requires nothing (issue 17: a
    // sparse item failed the schema of a whole one).
    assert_eq!(
        page["properties"]["items"]["items"],
        json!({"anyOf": [
            {"$ref": "#/components/schemas/Task"},
            {"$ref": "#/components/schemas/TaskFields"}
        ]})
    );
    let sparse = schema(&doc, "TaskFields");
    assert!(sparse.get("required").is_none(), "{sparse}");
    assert_eq!(sparse["properties"], schema(&doc, "Task")["properties"]);
    let total = &page["properties"]["total"];
    assert_eq!(total["type"], "integer");
    assert!(
        total["description"]
            .as_str()
            .is_some_and(|d| d.contains("count=true"))
    );
    // What `cmmv::Page` adds for cursor paging.
    assert_eq!(page["properties"]["next"]["type"], "string");
    assert_eq!(page["properties"]["next_link"]["format"], "uri-reference");
}

#[test]
fn list_operation_parameters() {
    let doc = document(1);
    let list = operation(&doc, "/v1/tasks", "get");
    assert_eq!(
        parameter_names(list),
        [
            "limit",
            "offset",
            "cursor",
            "sort",
            "count",
            "include_total",
            "fields",
            "done",
            "done[eq]",
            "done[ne]",
            "done[in]",
            "done[nin]",
            "priority",
            "priority[eq]",
            "priority[ne]",
            "priority[in]",
            "priority[nin]",
        ]
    );
    assert_eq!(
        parameter(list, "limit")["schema"],
        json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 50, "default": 25})
    );
    assert_eq!(
        parameter(list, "offset")["schema"],
        json!({"type": "integer", "format": "int64", "minimum": 0, "default": 0})
    );
    let sort = parameter(list, "sort");
    assert_eq!(sort["style"], "form");
    assert_eq!(sort["explode"], false);
    assert_eq!(
        sort["schema"]["items"]["enum"],
        json!([
            "title",
            "-title",
            "due_at",
            "-due_at",
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at"
        ])
    );
    assert_eq!(
        parameter(list, "count")["schema"],
        json!({"type": "boolean", "default": false})
    );
    assert_eq!(parameter(list, "include_total")["deprecated"], true);
    let fields = parameter(list, "fields");
    assert_eq!(
        (&fields["style"], &fields["explode"]),
        (&json!("form"), &json!(false))
    );
    assert_eq!(fields["schema"]["items"]["enum"][0], "id");
    // `in` takes a comma-separated list of the field's values, at most 100 of them.
    let any_of = parameter(list, "priority[in]");
    assert_eq!(
        (&any_of["style"], &any_of["explode"]),
        (&json!("form"), &json!(false))
    );
    assert_eq!(
        any_of["schema"],
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Priority"}, "minItems": 1, "maxItems": 100})
    );
    assert_eq!(
        parameter(list, "done[ne]")["description"],
        "Only items whose `done` differs from this value (items where it is null are left out)."
    );
    assert_eq!(
        list["responses"]["200"]["headers"]["Link"]["schema"],
        json!({"type": "string"})
    );
    let done = parameter(list, "done");
    assert_eq!(done["in"], "query");
    assert!(done.get("required").is_none());
    assert_eq!(
        done["description"],
        "Only items whose `done` equals this value."
    );
    assert_eq!(done["schema"], json!({"type": "boolean"}));
    assert_eq!(
        parameter(list, "priority")["schema"],
        json!({"$ref": "#/components/schemas/Priority"})
    );
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/TaskPage"})
    );

    // Without sortable fields there is no `sort` parameter.
    let users = analyze(
        None,
        &[(
            "user.yaml",
            "contract: User\nfields:\n  id: { type: uuid, primary: true }\ncrud: [list]\n",
        )],
    );
    let files = files(&users);
    let doc: Value = serde_json::from_str(&files["openapi/v1.json"]).unwrap_or_default();
    assert_eq!(
        parameter_names(operation(&doc, "/v1/users", "get")),
        [
            "limit",
            "offset",
            "cursor",
            "count",
            "include_total",
            "fields"
        ]
    );
}

#[test]
fn path_and_query_parameters() {
    let doc = document(2);
    let get = operation(&doc, "/v2/tasks/{id}", "get");
    assert_eq!(
        get["parameters"],
        json!([{
            "name": "id",
            "in": "path",
            "description": "The resource's identifier.",
            "required": true,
            "schema": {"type": "string", "format": "uuid"},
        }])
    );
    let search = operation(&doc, "/v2/tasks/search", "get");
    let q = parameter(search, "q");
    assert_eq!(q["required"], true);
    assert_eq!(q["schema"], json!({"type": "string", "minLength": 2}));
    let page_size = parameter(search, "page_size");
    assert!(
        page_size.get("required").is_none(),
        "a default makes it optional"
    );
    assert_eq!(page_size["schema"]["default"], 10);
    assert_eq!(page_size["schema"]["maximum"], 100);
}

#[test]
fn bodies() {
    let doc = document(1);
    let create = operation(&doc, "/v1/tasks", "post");
    assert_eq!(
        create["requestBody"],
        json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskInput"}}},
        })
    );
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Task"})
    );
    let patch = operation(&doc, "/v1/tasks/{id}", "patch");
    assert_eq!(
        patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/TaskPatch"
    );
    let complete = operation(&doc, "/v1/tasks/{id}/complete", "post");
    assert_eq!(
        complete["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CompleteTask"
    );
    let delete = operation(&doc, "/v1/tasks/{id}", "delete");
    assert!(delete["responses"]["204"].get("content").is_none());

    let v2 = document(2);
    let search = operation(&v2, "/v2/tasks/search", "get");
    assert_eq!(
        search["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Task"}})
    );
    let archive = operation(&v2, "/v2/tasks/archive-all", "post");
    assert!(archive.get("requestBody").is_none());
    assert!(archive["responses"]["204"].get("content").is_none());
}

#[test]
fn security_per_operation() {
    let v2 = document(2);
    let search = operation(&v2, "/v2/tasks/search", "get");
    assert_eq!(search["security"], json!([]));
    assert!(!status_codes(search).contains(&"401"));

    let list = operation(&v2, "/v2/tasks", "get");
    assert_eq!(
        list["security"],
        json!([{"bearerAuth": []}, {"apiKeyAuth": []}])
    );
    assert!(list.get("x-cmmv-roles").is_none());
    assert!(status_codes(list).contains(&"401"));
    assert!(!status_codes(list).contains(&"403"));

    // Roles are not put in the requirements' arrays, which OpenAPI reads as all required
    // (wrong for `require: any`) and linters as OAuth scopes: `x-cmmv-roles` and the
    // description state the rule.
    let delete = operation(&v2, "/v2/tasks/{id}", "delete");
    assert_eq!(
        delete["security"],
        json!([{"bearerAuth": []}, {"apiKeyAuth": []}])
    );
    assert_eq!(
        delete["x-cmmv-roles"],
        json!({"roles": ["admin", "owner"], "require": "all"})
    );
    assert!(
        delete["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("holding every one of the roles `admin` and `owner`.")),
        "{}",
        delete["description"]
    );
    assert!(status_codes(delete).contains(&"403"));

    let complete = operation(&v2, "/v2/tasks/{id}/complete", "post");
    assert_eq!(
        complete["x-cmmv-roles"],
        json!({"roles": ["admin", "user"], "require": "any"})
    );
    assert!(
        complete["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("holding at least one of the roles `admin` or `user`.")),
        "{}",
        complete["description"]
    );

    assert_eq!(
        v2["components"]["securitySchemes"],
        json!({
            "apiKeyAuth": {
                "type": "apiKey",
                "description": "An API key issued to the client.",
                "in": "header",
                "name": "X-API-Key",
            },
            "bearerAuth": {
                "type": "http",
                "description": "A JWT access token: `Authorization: Bearer <token>`.",
                "scheme": "bearer",
                "bearerFormat": "JWT",
            },
        })
    );
}

#[test]
fn rate_limits_per_operation() {
    let doc = document(1);
    let list = operation(&doc, "/v1/tasks", "get");
    assert_eq!(
        list["x-cmmv-rate-limit"],
        json!([{"name": "standard", "limit": 100, "period": "60s", "burst": 20, "key": "user"}])
    );
    assert_eq!(
        list["responses"]["429"],
        json!({"$ref": "#/components/responses/TooManyRequests"})
    );
    let mut success_headers = list["responses"]["200"]["headers"].clone();
    assert!(success_headers["Link"].is_object(), "the next page's link");
    success_headers
        .as_object_mut()
        .map(|headers| headers.remove("Link"));
    assert_eq!(
        success_headers,
        json!({
            "RateLimit": {"$ref": "#/components/headers/RateLimit"},
            "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
            "x-request-id": {"$ref": "#/components/headers/RequestId"},
        })
    );

    let complete = operation(&doc, "/v1/tasks/{id}/complete", "post");
    assert_eq!(
        complete["x-cmmv-rate-limit"],
        json!([{"limit": 10, "period": "60s", "burst": 10, "key": "header:x-tenant"}])
    );

    let delete = operation(&doc, "/v1/tasks/{id}", "delete");
    assert_eq!(delete["x-cmmv-rate-limit"], "none");
    assert!(!status_codes(delete).contains(&"429"));
    assert_eq!(
        delete["responses"]["204"]["headers"],
        json!({"x-request-id": {"$ref": "#/components/headers/RequestId"}})
    );

    let user = operation(&doc, "/v1/users/{id}", "get");
    assert!(user.get("x-cmmv-rate-limit").is_none(), "no limit declared");
}

#[test]
fn error_responses_per_operation() {
    let v1 = document(1);
    let v2 = document(2);
    assert_eq!(
        status_codes(operation(&v1, "/v1/tasks/{id}", "get")),
        ["200", "400", "401", "404", "429", "500", "503"]
    );
    assert_eq!(
        status_codes(operation(&v1, "/v1/tasks", "get")),
        ["200", "400", "401", "422", "429", "500", "503"]
    );
    assert_eq!(
        status_codes(operation(&v1, "/v1/tasks", "post")),
        [
            "201", "400", "401", "409", "413", "415", "422", "429", "500", "503"
        ]
    );
    assert_eq!(
        status_codes(operation(&v1, "/v1/tasks/{id}", "delete")),
        ["204", "400", "401", "403", "404", "500", "503"]
    );
    assert_eq!(
        status_codes(operation(&v1, "/v1/tasks/{id}/complete", "post")),
        [
            "200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"
        ]
    );
    assert_eq!(
        status_codes(operation(&v2, "/v2/tasks/search", "get")),
        ["200", "400", "422", "429", "500", "503"]
    );
    assert_eq!(
        status_codes(operation(&v2, "/v2/notes/{id}", "get")),
        ["200", "400", "404", "500", "503"]
    );
    assert_eq!(
        operation(&v1, "/v1/tasks/{id}", "get")["responses"]["404"],
        json!({"$ref": "#/components/responses/NotFound"})
    );
}

#[test]
fn shared_error_responses_and_headers() {
    let doc = document(1);
    let responses = doc["components"]["responses"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(responses.len(), 11);
    for (name, response) in &responses {
        let media = &response["content"]["application/problem+json"];
        assert_eq!(
            media["schema"],
            json!({"$ref": "#/components/schemas/Problem"}),
            "{name}"
        );
        assert_eq!(
            response["headers"]["x-request-id"],
            json!({"$ref": "#/components/headers/RequestId"}),
            "{name}"
        );
        let example = &media["example"];
        assert_eq!(example["type"], "about:blank", "{name}");
        assert!(example["status"].is_u64(), "{name}");
        assert!(example["request_id"].is_string(), "{name}");
    }
    let headers = |name: &str| -> Vec<String> {
        responses[name]["headers"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        headers("TooManyRequests"),
        [
            "RateLimit",
            "RateLimit-Policy",
            "Retry-After",
            "x-request-id"
        ]
    );
    assert_eq!(
        headers("Unauthorized"),
        ["WWW-Authenticate", "x-request-id"]
    );
    assert_eq!(
        headers("ServiceUnavailable"),
        ["Retry-After", "x-request-id"]
    );
    let validation =
        &responses["ValidationFailed"]["content"]["application/problem+json"]["example"];
    assert_eq!(validation["status"], 422);
    assert!(
        validation["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    let header_names: Vec<&String> = doc["components"]["headers"]
        .as_object()
        .map(|h| h.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        header_names,
        [
            "RateLimit",
            "RateLimit-Policy",
            "RequestId",
            "Retry-After",
            "WWW-Authenticate"
        ]
    );

    let problem = schema(&doc, "Problem");
    assert_eq!(
        problem["required"],
        json!(["type", "title", "status", "request_id"])
    );
    assert_eq!(problem["properties"]["type"]["default"], "about:blank");
    assert_eq!(
        problem["properties"]["errors"]["items"],
        json!({"$ref": "#/components/schemas/FieldError"})
    );
    assert_eq!(
        schema(&doc, "FieldError")["required"],
        json!(["rule", "message"])
    );
}

/// Every `$ref` in a document names a component that exists.
#[test]
fn every_reference_resolves() {
    fn walk<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for version in [1, 2] {
        let doc = document(version);
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(
                doc.pointer(pointer).is_some(),
                "v{version}: dangling {reference}"
            );
        }
    }
}

#[test]
fn output_is_deterministic() {
    let project = todo_project();
    let api = crate::api::Api::resolve(&project);
    assert_eq!(emit(&api, &options()), emit(&api, &options()));
    // Contract order in the input does not matter either.
    let reordered = analyze(
        Some(PROJECT),
        &[
            ("user.yaml", USER),
            ("task.yaml", TASK),
            ("note.yaml", NOTE),
            ("audit.yaml", AUDIT),
        ],
    );
    assert_eq!(files(&project), files(&reordered));
}

/// A YAML tree as the JSON value it denotes, resolving plain scalars by the YAML 1.2 core
/// schema.
fn yaml_to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(yaml_to_json).collect(),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.scalar_text().unwrap_or_default().to_owned(),
                        yaml_to_json(v),
                    )
                })
                .collect(),
        ),
        NodeKind::Scalar { .. } => match node.scalar() {
            Some(Yaml::Null) | None => Value::Null,
            Some(Yaml::Bool(b)) => Value::Bool(b),
            Some(Yaml::Int(i)) => Value::from(i),
            Some(Yaml::Float(x)) => {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
            Some(Yaml::Str(s)) => Value::String(s.to_owned()),
        },
    }
}

#[test]
fn yaml_says_what_json_says() {
    let files = files(&todo_project());
    for version in [1, 2] {
        let json: Value =
            serde_json::from_str(&files[&format!("openapi/v{version}.json")]).unwrap_or_default();
        let yaml = &files[&format!("openapi/v{version}.yaml")];
        let (root, diags) = tree::parse(crate::diag::FileId(0), yaml);
        assert!(diags.is_empty(), "{diags:?}");
        let root = root.unwrap_or_else(|| panic!("empty YAML"));
        assert_eq!(yaml_to_json(&root), json, "v{version}");
    }
}

#[test]
fn yaml_quotes_what_would_read_otherwise() {
    let files = files(&todo_project());
    let yaml = &files["openapi/v1.yaml"];
    assert!(yaml.contains("\n  \"/v1/tasks/{id}\":\n"));
    assert!(yaml.contains("\n        \"200\":\n"));
    assert!(yaml.contains("\"$ref\": \"#/components/schemas/Task\""));
    assert!(yaml.contains("\nx-generated: \"@generated by cmmv from contracts/. DO NOT EDIT.\"\n"));
}

/// Which schemas a document shows is found from the references of each component, read off
/// the IR; they must be exactly the `$ref`s its schema holds, or a document would leave out a
/// schema it refers to (or show one nothing uses). Checked on these tests' contracts and on the
/// example contracts, which between them use every kind of field type.
#[test]
fn component_references_match_their_schemas() {
    let examples =
        crate::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts"))
            .unwrap_or_else(|e| panic!("the example contracts load:\n{e}"));
    for project in [todo_project(), crate::analyze(&examples).project] {
        let api = crate::api::Api::resolve(&project);
        let components = api
            .contracts
            .iter()
            .flat_map(Component::of_contract)
            .chain([Component::Problem, Component::FieldError]);
        let mut checked = 0;
        for component in components {
            let schema = component.schema();
            let mut from_schema = Vec::new();
            schema.collect_refs(&mut from_schema);
            from_schema.sort_unstable();
            from_schema.dedup();
            let refs = component.refs();
            let mut from_ir: Vec<&str> = refs.iter().map(|name| name.as_ref()).collect();
            from_ir.sort_unstable();
            from_ir.dedup();
            assert_eq!(from_ir, from_schema, "references of `{}`", component.name());
            checked += usize::from(!from_ir.is_empty());
        }
        assert!(checked > 3, "the contracts refer to other types");
    }
}

/// Issue 17: the document metadata `cmmv.yaml` declares, and what the documents say without it.
#[test]
fn document_metadata_comes_from_the_project_file() {
    let project = analyze(
        Some(
            "api:
  title: Notes
  servers:
    - { url: 'https://api.example.com/', description: Production }
    - { url: /staging }
  contact: { name: Team, url: 'https://example.com/team', email: team@example.com }
  license: { name: Apache 2.0, identifier: Apache-2.0 }
  terms_of_service: 'https://example.com/terms'
  external_docs: { url: 'https://example.com/docs', description: Guides. }
",
        ),
        &[("note.yaml", NOTE)],
    );
    let emitted = files(&project);
    let doc: Value = serde_json::from_str(&emitted["openapi/v2.json"]).expect("JSON");
    assert_eq!(
        doc["servers"],
        json!([{"url": "https://api.example.com/", "description": "Production"}, {"url": "/staging"}])
    );
    assert_eq!(
        doc["info"]["contact"],
        json!({"name": "Team", "url": "https://example.com/team", "email": "team@example.com"})
    );
    assert_eq!(
        doc["info"]["license"],
        json!({"name": "Apache 2.0", "identifier": "Apache-2.0"})
    );
    assert_eq!(doc["info"]["termsOfService"], "https://example.com/terms");
    assert_eq!(
        doc["externalDocs"],
        json!({"url": "https://example.com/docs", "description": "Guides."})
    );
    // Every tag is described, with the contract's description or a sentence of its own.
    assert!(
        doc["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .all(|t| t["description"].is_string())
    );

    let bare = analyze(None, &[("note.yaml", NOTE)]);
    let doc: Value = serde_json::from_str(&files(&bare)["openapi/v2.json"]).expect("JSON");
    assert_eq!(
        doc["servers"],
        json!([{"url": "/", "description": "The host serving this document."}])
    );
    assert!(doc["info"].get("license").is_none());
}

/// Every mistake in the metadata is reported, all in one run, where it was written.
#[test]
fn bad_document_metadata_is_reported_all_at_once() {
    let mut input = crate::Input::default();
    input.set_project(
        "contracts/cmmv.yaml",
        "api:
  servers:
    - { url: 'ftp://files' }
    - { description: no url }
  contact: { email: not-an-address }
  license: { name: MIT, identifier: MIT, url: 'https://mit-license.org' }
  terms_of_service: example.com/terms
  external_docs: { description: nowhere }
",
    );
    input.add_contract("contracts/note.yaml", NOTE);
    let (_, diags) = crate::lower_and_validate(&input);
    let messages: Vec<String> = diags
        .into_sorted()
        .into_iter()
        .map(|d| {
            format!(
                "{} @ {}",
                d.message,
                input.sources.location(d.labels[0].span)
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            "`ftp://files` is not a server URL @ contracts/cmmv.yaml:3:14",
            "a server needs `url` @ contracts/cmmv.yaml:4:7",
            "`not-an-address` is not an email address @ contracts/cmmv.yaml:5:21",
            "a license has an SPDX `identifier` or a `url`, not both @ contracts/cmmv.yaml:6:42",
            "`example.com/terms` is not an absolute URL @ contracts/cmmv.yaml:7:21",
            "`external_docs` needs `url` @ contracts/cmmv.yaml:8:18",
        ]
    );
}

/// Issue 17: the pattern a `bytes` field's schema gives accepts exactly the texts the server
/// decodes to a length within the bounds: checked against the runtime's own decoder on every
/// text of up to eight characters over an alphabet that reaches each case (padding, non-zero
/// trailing bits, bad characters).
#[test]
fn base64_patterns_accept_exactly_what_the_server_decodes() {
    let alphabet = ['A', 'B', 'Q', 'g', '=', '-'];
    let mut texts = vec![String::new()];
    let mut frontier = vec![String::new()];
    for _ in 0..8 {
        frontier = frontier
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .collect();
        texts.extend(frontier.iter().cloned());
    }
    for (min, max) in [
        (None, None),
        (Some(1), Some(4)),
        (Some(2), None),
        (None, Some(1)),
    ] {
        let pattern = super::schema::base64_pattern(min, max);
        let regex = regex::Regex::new(&pattern).expect("the pattern compiles");
        for text in &texts {
            let decoded = cmmv_rules::parse_base64(text).map(|b| b.len() as u64);
            let server = decoded
                .is_some_and(|n| min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max));
            assert_eq!(
                regex.is_match(text),
                server,
                "`{text}` with bytes {min:?}..={max:?} under {pattern}"
            );
        }
    }
}

/// A decimal bounded at zero gets a pattern that says the sign, accepting exactly what the
/// server's comparison accepts; other bounds stay extensions.
#[test]
fn decimal_bounds_at_zero_become_patterns() {
    let texts = [
        "0", "-0", "00", "-0.00", "0.0", "1", "-1", "0.5", "-0.5", "10.25", "-10.25", "007", "1.",
        ".5", "+1", "1e3", "",
    ];
    type Holds = fn(f64) -> bool;
    let cases: [(&str, Holds); 4] = [
        ("minimum", |x| x >= 0.0),
        ("exclusive_minimum", |x| x > 0.0),
        ("maximum", |x| x <= 0.0),
        ("exclusive_maximum", |x| x < 0.0),
    ];
    for (bound, holds) in cases {
        let project = analyze(
            None,
            &[(
                "price.yaml",
                &format!(
                    "contract: Price\nfields:\n  id: {{ type: uuid, primary: true }}\n  amount: {{ type: decimal, {bound}: 0 }}\ncrud: [get]\n"
                ),
            )],
        );
        let emitted = files(&project);
        let doc: Value = serde_json::from_str(&emitted["openapi/v1.json"]).expect("JSON");
        let pattern = schema(&doc, "Price")["properties"]["amount"]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{bound}: a pattern"))
            .to_owned();
        let regex = regex::Regex::new(&pattern).expect("the pattern compiles");
        for text in texts {
            let server = cmmv_rules::is_decimal(text) && text.parse::<f64>().is_ok_and(holds);
            assert_eq!(
                regex.is_match(text),
                server,
                "{bound} 0: `{text}` under {pattern}"
            );
        }
    }
}

/// Issue 17: a `float` field's documented bounds are exactly the wire numbers the server
/// accepts once it has rounded them to 32 bits: checked on numbers around every edge against
/// the runtime's rule (round to nearest, refuse infinities, hold the rounded value to the
/// declared bounds).
#[test]
fn float_bounds_are_the_rounding_edges() {
    use crate::ir::Constraints;
    let cases = [
        Constraints::default(),
        Constraints {
            exclusive_minimum: Some(0.0),
            exclusive_maximum: Some(1.0),
            ..Constraints::default()
        },
        Constraints {
            minimum: Some(-2.5),
            maximum: Some(10.0),
            ..Constraints::default()
        },
        Constraints {
            minimum: Some(0.1),
            maximum: Some(0.3),
            ..Constraints::default()
        },
    ];
    for c in cases {
        let ((lower, lower_inclusive), (upper, upper_inclusive)) =
            super::schema::float32_bounds(&c);
        let documented = |x: f64| {
            (if lower_inclusive {
                x >= lower
            } else {
                x > lower
            }) && (if upper_inclusive {
                x <= upper
            } else {
                x < upper
            })
        };
        let server = |x: f64| {
            let v = x as f32;
            let v64 = f64::from(v);
            v.is_finite()
                && c.minimum.is_none_or(|m| v64 >= m)
                && c.maximum.is_none_or(|m| v64 <= m)
                && c.exclusive_minimum.is_none_or(|m| v64 > m)
                && c.exclusive_maximum.is_none_or(|m| v64 < m)
        };
        // Neighbouring doubles, by their bits (`f64::next_up` is newer than our MSRV).
        let step = |x: f64, up: bool| {
            let bits = x.to_bits() as i64;
            let toward_larger = (x >= 0.0) == up;
            f64::from_bits((if toward_larger { bits + 1 } else { bits - 1 }) as u64)
        };
        let mut probes = Vec::new();
        for edge in [lower, upper] {
            let mut x = edge;
            for _ in 0..4 {
                x = step(x, false);
            }
            for _ in 0..9 {
                probes.push(x);
                x = step(x, true);
            }
        }
        probes.extend([
            0.0,
            0.5,
            0.9999999999999999,
            1.0,
            10.0000001,
            3e38,
            3.5e38,
            -3.5e38,
        ]);
        for x in probes {
            assert_eq!(documented(x), server(x), "{c:?}: {x:e}");
        }
    }
}

const SIGN_IN: &str = r#"
contract: SignIn
path: /sign-in
auth: public
fields:
  id: { type: uuid, primary: true }
crud: []
operations:
  begin:
    method: GET
    path: /begin
    response: redirect
    cookies:
      flow: { set: true, description: binds the flow }
  back:
    method: GET
    path: /back
    response: redirect
    status: 303
    cookies:
      flow: { sent: true, set: true }
"#;

#[test]
fn redirects_document_their_location_and_cookies() {
    let files = files(&analyze(None, &[("sign_in.yaml", SIGN_IN)]));
    let doc: Value = serde_json::from_str(&files["openapi/v1.json"]).expect("JSON");
    let begin = operation(&doc, "/v1/sign-in/begin", "get");
    let found = &begin["responses"]["302"];
    assert_eq!(found["headers"]["Location"]["required"], true);
    assert_eq!(
        found["headers"]["Location"]["schema"]["format"],
        "uri-reference"
    );
    assert!(
        found["headers"]["Set-Cookie"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("`flow`: binds the flow") && d.contains("HttpOnly"))
    );
    assert!(found.get("content").is_none(), "a redirect has no body");
    assert!(begin["parameters"].as_array().is_none_or(|p| p.is_empty()));
    let back = operation(&doc, "/v1/sign-in/back", "get");
    assert!(back["responses"].get("303").is_some());
    let cookie = parameter(back, "flow");
    assert_eq!(cookie["in"], "cookie");
    assert_eq!(cookie["schema"]["type"], "string");
    assert!(cookie.get("required").is_none());
}

#[test]
fn redirect_and_cookie_mistakes_are_diagnosed() {
    let text = r#"
contract: Bad
fields:
  id: { type: uuid, primary: true }
crud: []
operations:
  wrong_status:
    method: GET
    response: redirect
    status: 200
  json_sets_cookie:
    method: GET
    response: Bad
    cookies:
      flow: { set: true }
  neither:
    method: GET
    response: redirect
    cookies:
      flow: { description: what for }
  bad_name:
    method: GET
    response: redirect
    cookies:
      "fl;ow": { sent: true }
  redirect_alternatives:
    method: GET
    response: redirect
    responses:
      200: { response: Bad }
"#;
    let mut input = Input::default();
    input.add_contract("contracts/bad.yaml", text);
    let analysis = crate::analyze(&input);
    let messages: Vec<String> = analysis
        .diagnostics
        .into_sorted()
        .iter()
        .map(|d| d.message.clone())
        .collect();
    for expected in [
        "a redirect's `status` is 302, 303, 307 or 308",
        "cookie `flow` is set by an answer that is not a redirect",
        "cookie `flow` is neither sent nor set",
        "`fl;ow` is not a cookie name",
        "a redirect has no other successes",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "missing {expected:?} in {messages:#?}"
        );
    }
}

/// A version deprecated in `cmmv.yaml` deprecates its own routes only: version 2 and an
/// unversioned contract (served at one path for every version) are untouched, and an
/// operation's own dates win over the version's.
#[test]
fn a_deprecated_version_marks_its_routes_only() {
    let project_file = r#"
versions:
  1: { deprecated: { since: 2026-01-01, sunset: 2027-01-01, link: 'https://example.com/v1' } }
"#;
    let task = r#"
contract: Task
versions: [1, 2]
fields:
  id: { type: uuid, primary: true }
  title: string
crud:
  get: {}
  delete: { deprecated: { since: 2026-03-01 } }
"#;
    let ping = r#"
contract: Ping
versioned: false
path: /ping
auth: public
fields:
  id: { type: uuid, primary: true }
crud: [get]
"#;
    let project = analyze(
        Some(project_file),
        &[("task.yaml", task), ("ping.yaml", ping)],
    );
    let files = files(&project);
    let doc = |v: u32| -> Value {
        serde_json::from_str(&files[&format!("openapi/v{v}.json")]).expect("JSON")
    };
    let (v1, v2) = (doc(1), doc(2));
    let get1 = operation(&v1, "/v1/tasks/{id}", "get");
    assert_eq!(get1["deprecated"], true);
    let headers = &get1["responses"]["200"]["headers"];
    assert_eq!(headers["Deprecation"]["example"], "@1767225600");
    assert_eq!(
        headers["Sunset"]["example"],
        "Fri, 01 Jan 2027 00:00:00 GMT"
    );
    assert!(
        headers["Link"]["example"]
            .as_str()
            .is_some_and(|l| l.contains("<https://example.com/v1>; rel=\"deprecation\""))
    );
    assert_eq!(
        get1["responses"]["410"]["$ref"],
        "#/components/responses/Gone"
    );
    assert!(v1["components"]["responses"].get("Gone").is_some());

    let get2 = operation(&v2, "/v2/tasks/{id}", "get");
    assert!(get2.get("deprecated").is_none(), "{get2}");
    assert!(get2["responses"]["200"]["headers"].get("Sunset").is_none());
    assert!(v2["components"]["responses"].get("Gone").is_none());

    // The operation's own deprecation, in every version, without a sunset: no 410.
    for (doc, v) in [(&v1, 1), (&v2, 2)] {
        let delete = operation(doc, &format!("/v{v}/tasks/{{id}}"), "delete");
        assert_eq!(delete["deprecated"], true);
        assert_eq!(
            delete["responses"]["204"]["headers"]["Deprecation"]["example"],
            "@1772323200"
        );
        assert!(delete["responses"].get("410").is_none());
    }
    let ping1 = operation(&v1, "/ping/{id}", "get");
    assert!(ping1.get("deprecated").is_none(), "{ping1}");

    // The generated routes agree: version 1's get and both deletes are announced.
    let rust = crate::emit::rust::emit(
        &crate::api::Api::resolve(&project),
        &[],
        &crate::diag::SourceMap::new(),
        "contracts/",
        false,
    );
    let task_rs = rust
        .iter()
        .find(|f| f.path.ends_with("task.rs"))
        .map(|f| f.tokens.to_string().replace(char::is_whitespace, ""))
        .expect("task.rs");
    assert_eq!(task_rs.matches("::cmmv::deprecation::announce(").count(), 3);
    assert!(task_rs.contains("sunset:::core::option::Option::Some(1798761600i64)"));
    let ping_rs = rust
        .iter()
        .find(|f| f.path.ends_with("ping.rs"))
        .map(|f| f.tokens.to_string())
        .expect("ping.rs");
    assert!(!ping_rs.contains("deprecation"));
}

#[test]
fn deprecations_that_cannot_be_kept_are_errors() {
    let mut input = Input::default();
    input.set_project(
        "contracts/cmmv.yaml",
        "versions:\n  3: { deprecated: true }\n  x: { deprecated: true }\n",
    );
    input.add_contract(
        "contracts/task.yaml",
        r#"
contract: Task
fields:
  id: { type: uuid, primary: true }
crud:
  get: { deprecated: { since: 2027-01-01, sunset: 2026-01-01 } }
  delete: { deprecated: { since: soon, link: 'ftp://example.com' } }
"#,
    );
    let analysis = crate::analyze(&input);
    let messages: Vec<String> = analysis
        .diagnostics
        .into_sorted()
        .iter()
        .map(|d| d.message.clone())
        .collect();
    for expected in [
        "version 3 is deprecated but no contract serves it",
        "`x` is not an API version",
        "the sunset comes before the deprecation",
        "`soon` is not a date",
        "`ftp://example.com` is not an absolute http(s) URL",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "missing `{expected}` in {messages:#?}"
        );
    }
}

/// With the header and media type only, the documents show bare paths; the header is required
/// except in the default version, and each version's media type sits beside JSON.
#[test]
fn versions_named_by_header_and_media_type_are_documented_on_bare_paths() {
    let project_file = r#"
proto: { package: shop.v1 }
versioning: { strategies: [header, media_type], header: Api-Version, default: 1 }
"#;
    let item = r#"
contract: Item
versions: [1, 2]
fields:
  id: { type: uuid, primary: true }
  name: string
crud: [get, create]
"#;
    let project = analyze(Some(project_file), &[("item.yaml", item)]);
    let files = files(&project);
    for (version, required) in [(1, false), (2, true)] {
        let doc: Value =
            serde_json::from_str(&files[&format!("openapi/v{version}.json")]).expect("JSON");
        assert!(
            doc["paths"]
                .get(format!("/v{version}/items/{{id}}"))
                .is_none()
        );
        let get = operation(&doc, "/items/{id}", "get");
        let header = parameter(get, "Api-Version");
        assert_eq!(header["in"], "header");
        assert_eq!(header.get("required").is_some(), required, "{header}");
        assert_eq!(header["schema"]["enum"], json!([version.to_string()]));
        let content = &get["responses"]["200"]["content"];
        assert!(content.get("application/json").is_some());
        assert_eq!(
            content[format!("application/vnd.shop.v{version}+json")]["schema"]["$ref"],
            "#/components/schemas/Item"
        );
        assert_eq!(
            get["responses"]["406"]["$ref"],
            "#/components/responses/NotAcceptable"
        );
        let create = operation(&doc, "/items", "post");
        assert_eq!(
            create["responses"]["404"]["$ref"],
            "#/components/responses/NotFound"
        );
    }
}

#[test]
fn versioning_settings_that_cannot_work_are_errors() {
    let mut input = Input::default();
    input.set_project(
        "contracts/cmmv.yaml",
        "versioning: { strategies: [uri, cookie], header: 'Content-Type', media_type: Todo, default: 4 }\n",
    );
    input.add_contract(
        "contracts/item.yaml",
        "contract: Item\nfields:\n  id: { type: uuid, primary: true }\ncrud: [get]\n",
    );
    let messages: Vec<String> = crate::analyze(&input)
        .diagnostics
        .into_sorted()
        .iter()
        .map(|d| d.message.clone())
        .collect();
    for expected in [
        "unknown versioning strategy `cookie`",
        "`Content-Type` cannot name the version",
        "`Todo` cannot name the API in a media type",
        "version 4 is the default but no contract serves it",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "missing `{expected}` in {messages:#?}"
        );
    }
}
