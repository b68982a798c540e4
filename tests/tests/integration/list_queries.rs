//! List queries over real HTTP, on every store: in memory, SQLite (a real file) and PostgreSQL
//! (when `CMMV_TEST_DATABASE_URL` is set; a schema of its own per test, dropped afterwards).
//!
//! Every filter operator on every type the example's filterable fields have, with the same
//! answers from every store; keyset pages through 10,000 rows with inserts and deletes in
//! between, none seen twice or skipped; cursor pages agreeing with one big page for sorts on
//! nullable and mixed-direction keys; sparse fieldsets; hostile filter values, sort keys,
//! parameter names and cursors; and the served documents listing exactly what the server
//! accepts.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use cmmv::settings::Secret;
use cmmv::sql::Database;
use cmmv::store::{Direction, ListQuery};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use todo::Todo;

use crate::auth_support::with_auth;
use crate::runtime_support::Served;
use crate::store_conformance::{Stores, create, project, task};
use crate::store_support::{Raw, TestDatabase, client, sqlite_database};

const CURSOR_SECRET: &str = "the list-queries tests' cursor secret (32+ bytes)";

/// One store under test, with the example served on it.
struct Backend {
    name: &'static str,
    stores: Stores,
    served: Served,
}

/// What keeps a backend's database alive, and drops it afterwards.
enum Guard {
    Memory,
    Sqlite(tempfile::TempDir, Database),
    Postgres(TestDatabase),
}

fn app_settings(secret: &str) -> cmmv::Settings {
    let mut settings = with_auth(crate::runtime_support::settings());
    // Paging thousands of rows is what is under test here, not the limits.
    settings.rate_limit.enabled = false;
    settings.cursor_secret = Some(Secret::new(secret));
    settings
}

async fn serve(stores: &Stores, secret: &str) -> Served {
    let todo = Todo::with_stores(
        stores.users.clone(),
        stores.projects.clone(),
        stores.tasks.clone(),
        stores.comments.clone(),
        stores.labels.clone(),
    );
    let app = todo::app(app_settings(secret), &Arc::new(todo)).expect("the example app builds");
    Served::start(app).await
}

/// Runs `body` against the example served on each store in turn, each in a task of its own
/// so that a failing store still has its database dropped.
async fn on_every_store<F, Fut>(tag: &str, body: F)
where
    F: Fn(Arc<Backend>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for name in ["memory", "sqlite", "postgres"] {
        let (stores, guard) = match name {
            "memory" => (Stores::memory(), Guard::Memory),
            "sqlite" => {
                let (dir, db) = sqlite_database().await;
                (Stores::database(&db), Guard::Sqlite(dir, db))
            }
            _ => match TestDatabase::postgres(tag).await {
                Some(test_db) => (Stores::database(&test_db.db), Guard::Postgres(test_db)),
                None => continue,
            },
        };
        let served = serve(&stores, CURSOR_SECRET).await;
        let backend = Arc::new(Backend {
            name,
            stores,
            served,
        });
        let outcome = tokio::spawn(body(backend)).await;
        match guard {
            Guard::Memory => {}
            Guard::Sqlite(_dir, db) => db.close().await,
            Guard::Postgres(test_db) => test_db.drop().await,
        }
        if let Err(error) = outcome {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("{name}: the test body did not finish: {error}"),
            }
        }
    }
}

/// `GET path?query`, the query written from name/value pairs (so that `%`, `&` and brackets
/// in values travel as values).
async fn get(backend: &Backend, path: &str, query: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    let query = serde_urlencoded::to_string(query).expect("a query string");
    get_raw(backend, &format!("{path}?{query}")).await
}

/// `GET` of a path and query written whole.
async fn get_raw(backend: &Backend, path_and_query: &str) -> (StatusCode, HeaderMap, Value) {
    let response = client()
        .get(backend.served.url(path_and_query))
        .send()
        .await
        .expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// A page that must be served.
async fn page(backend: &Backend, path: &str, query: &[(&str, &str)]) -> Value {
    let (status, _, body) = get(backend, path, query).await;
    assert_eq!(status, StatusCode::OK, "{}: {path} {query:?}: {body}", backend.name);
    body
}

/// A problem that must be a 400 (or `status`) naming `parameter`.
async fn refused(backend: &Backend, path: &str, query: &[(&str, &str)], status: StatusCode, parameter: &str) {
    let (got, headers, body) = get(backend, path, query).await;
    assert_eq!(got, status, "{}: {query:?} must be refused: {body}", backend.name);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(
        body["errors"][0]["parameter"], parameter,
        "{}: {query:?} names `{parameter}`: {body}",
        backend.name
    );
}

fn strings(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item[field].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

/// Tasks of one project: (title, done, priority, due_at, estimate_hours, story_points).
#[allow(clippy::type_complexity, reason = "a table")]
const TASKS: &[(&str, bool, &str, Option<&str>, Option<f64>, Option<i32>)] = &[
    ("Alpha", false, "low", Some("2030-01-01T00:00:00Z"), Some(1.5), Some(1)),
    ("alpha beta", true, "normal", Some("2030-01-02T12:00:00Z"), Some(2.0), Some(3)),
    ("Beta 100%", false, "high", None, None, None),
    ("beta_1", true, "high", Some("2030-01-03T00:00:00.000001Z"), Some(0.25), Some(8)),
    ("Gamma*?[x]", false, "normal", Some("2029-12-31T23:59:59Z"), Some(10.0), Some(0)),
    ("Émile", false, "low", None, Some(3.75), Some(5)),
    ("a'; DROP TABLE tasks; --", true, "low", Some("2030-02-01T00:00:00Z"), None, Some(13)),
];

async fn seed_tasks(backend: &Backend, tag: &str) -> cmmv::types::Uuid {
    let project = project(&backend.stores, tag).await;
    for (title, done, priority, due_at, estimate, points) in TASKS {
        let mut body = json!({"title": title, "done": done, "priority": priority});
        if let Some(due_at) = due_at {
            body["due_at"] = json!(due_at);
        }
        if let Some(estimate) = estimate {
            body["estimate_hours"] = json!(estimate);
        }
        if let Some(points) = points {
            body["story_points"] = json!(points);
        }
        task(&backend.stores, &project, body).await;
    }
    project.id
}

const PRIORITIES: [&str; 3] = ["low", "normal", "high"];

/// Titles in byte order, as every store sorts text (PostgreSQL with a C collation).
const DROP: &str = "a'; DROP TABLE tasks; --";

#[allow(clippy::type_complexity, reason = "a table")]
const TASK_CASES: &[(&[(&str, &str)], &[&str])] = &[
    (&[("done", "true")], &[DROP, "alpha beta", "beta_1"]),
    (&[("done[eq]", "false")], &["Alpha", "Beta 100%", "Gamma*?[x]", "Émile"]),
    (&[("done[ne]", "true")], &["Alpha", "Beta 100%", "Gamma*?[x]", "Émile"]),
    (&[("done[in]", "true,false")], &["Alpha", "Beta 100%", "Gamma*?[x]", DROP, "alpha beta", "beta_1", "Émile"]),
    (&[("done[nin]", "false")], &[DROP, "alpha beta", "beta_1"]),
    (&[("priority", "low")], &["Alpha", DROP, "Émile"]),
    (&[("priority[in]", "high,normal")], &["Beta 100%", "Gamma*?[x]", "alpha beta", "beta_1"]),
    (&[("priority[nin]", "low")], &["Beta 100%", "Gamma*?[x]", "alpha beta", "beta_1"]),
    (&[("priority[ne]", "low")], &["Beta 100%", "Gamma*?[x]", "alpha beta", "beta_1"]),
    // Text: order, membership, literal and ASCII-folded matching.
    (&[("title", "Alpha")], &["Alpha"]),
    (&[("title[ne]", "Alpha")], &["Beta 100%", "Gamma*?[x]", DROP, "alpha beta", "beta_1", "Émile"]),
    (&[("title[gt]", "alpha")], &["alpha beta", "beta_1", "Émile"]),
    (&[("title[gte]", "alpha beta")], &["alpha beta", "beta_1", "Émile"]),
    (&[("title[lt]", "Beta 100%")], &["Alpha"]),
    (&[("title[lte]", "Beta 100%")], &["Alpha", "Beta 100%"]),
    (&[("title[in]", "Alpha,beta_1,nothing")], &["Alpha", "beta_1"]),
    (&[("title[nin]", "Alpha,beta_1")], &["Beta 100%", "Gamma*?[x]", DROP, "alpha beta", "Émile"]),
    (&[("title[contains]", "eta")], &["Beta 100%", "alpha beta", "beta_1"]),
    (&[("title[contains]", "Beta")], &["Beta 100%"]),
    (&[("title[icontains]", "BETA")], &["Beta 100%", "alpha beta", "beta_1"]),
    (&[("title[prefix]", "a")], &[DROP, "alpha beta"]),
    (&[("title[iprefix]", "A")], &["Alpha", DROP, "alpha beta"]),
    (&[("title[contains]", "%")], &["Beta 100%"]),
    (&[("title[contains]", "_")], &["beta_1"]),
    (&[("title[contains]", "*?[")], &["Gamma*?[x]"]),
    (&[("title[icontains]", "[X]")], &["Gamma*?[x]"]),
    (&[("title[prefix]", "%")], &[]),
    (&[("title[contains]", "'; DROP")], &[DROP]),
    // Case folding is ASCII's only, in every store (SQLite's `LIKE` folds no other letter).
    (&[("title[icontains]", "É")], &["Émile"]),
    (&[("title[icontains]", "é")], &[]),
    // Instants: offsets honoured, nulls meeting only `is_null`.
    (&[("due_at[gte]", "2030-01-01T00:00:00Z")], &["Alpha", DROP, "alpha beta", "beta_1"]),
    (&[("due_at[lt]", "2030-01-01T00:00:00Z")], &["Gamma*?[x]"]),
    (&[("due_at[gt]", "2030-01-03T00:00:00Z")], &[DROP, "beta_1"]),
    (&[("due_at", "2030-01-03T01:00:00.000001+01:00")], &["beta_1"]),
    (&[("due_at[lte]", "2030-01-02T13:00:00+01:00")], &["Alpha", "Gamma*?[x]", "alpha beta"]),
    (&[("due_at[ne]", "2030-01-01T00:00:00Z")], &["Gamma*?[x]", DROP, "alpha beta", "beta_1"]),
    (&[("due_at[in]", "2030-01-01T00:00:00Z,2030-02-01T00:00:00Z")], &["Alpha", DROP]),
    (&[("due_at[is_null]", "true")], &["Beta 100%", "Émile"]),
    (&[("due_at[is_null]", "false")], &["Alpha", "Gamma*?[x]", DROP, "alpha beta", "beta_1"]),
    // Integers and floats.
    (&[("story_points[gt]", "3")], &[DROP, "beta_1", "Émile"]),
    (&[("story_points[lte]", "1")], &["Alpha", "Gamma*?[x]"]),
    (&[("story_points", "0")], &["Gamma*?[x]"]),
    (&[("story_points[in]", "0,3,99")], &["Gamma*?[x]", "alpha beta"]),
    (&[("story_points[nin]", "0,3")], &["Alpha", DROP, "beta_1", "Émile"]),
    (&[("story_points[is_null]", "true")], &["Beta 100%"]),
    (&[("estimate_hours[gte]", "2")], &["Gamma*?[x]", "alpha beta", "Émile"]),
    (&[("estimate_hours[lt]", "1.5")], &["beta_1"]),
    (&[("estimate_hours", "1.5")], &["Alpha"]),
    (&[("estimate_hours[ne]", "1.5")], &["Gamma*?[x]", "alpha beta", "beta_1", "Émile"]),
    // Several filters: all must hold.
    (&[("done", "false"), ("priority[in]", "low,high"), ("story_points[gte]", "1")], &["Alpha", "Émile"]),
    (&[("done", "false"), ("title[iprefix]", "b")], &["Beta 100%"]),
    (&[("title[gte]", "B"), ("title[lt]", "b")], &["Beta 100%", "Gamma*?[x]", DROP, "alpha beta"]),
];

async fn every_operator_means_the_same_in_every_store(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("ops{}", backend.name)).await;
    let project = project.to_string();
    for (filters, expected) in TASK_CASES {
        let mut query = vec![("project_id", project.as_str()), ("sort", "title")];
        query.extend_from_slice(filters);
        let page = page(&backend, "/v1/tasks", &query).await;
        assert_eq!(strings(&page, "title"), *expected, "{}: {filters:?}", backend.name);
    }

    // Decimals compare as numbers (SQLite keeps them as text, where "100.25" < "20"), and
    // dates as dates; sorting by a nullable decimal puts nulls first descending.
    let owner = project_owner(&backend, &project).await;
    let budgets = [
        ("Budget ten", Some("10.50"), Some("2030-01-01")),
        ("Budget two", Some("2"), None),
        ("Budget hundred", Some("100.25"), Some("2029-06-30")),
        ("Budget none", None, Some("2030-05-05")),
    ];
    for (name, budget, starts_on) in budgets {
        let mut body = json!({"name": format!("{name} {}", backend.name), "owner_id": owner});
        if let Some(budget) = budget {
            body["budget"] = json!(budget);
        }
        if let Some(starts_on) = starts_on {
            body["starts_on"] = json!(starts_on);
        }
        create(&backend.stores.projects, body).await.expect("a project");
    }
    let owned = |filters: &[(&'static str, &'static str)]| {
        let mut query: Vec<(&str, String)> = vec![("owner_id", owner.clone()), ("sort", "name".to_owned())];
        query.extend(filters.iter().map(|(k, v)| (*k, (*v).to_owned())));
        query
    };
    let project_cases: &[(&[(&str, &str)], &[&str])] = &[
        (&[("budget[lt]", "20")], &["Budget ten", "Budget two"]),
        (&[("budget[gt]", "5")], &["Budget hundred", "Budget ten"]),
        (&[("budget[in]", "2,10.5")], &["Budget ten", "Budget two"]),
        (&[("budget[is_null]", "true")], &["Budget none"]),
        (&[("starts_on[gte]", "2030-01-01")], &["Budget none", "Budget ten"]),
        (&[("starts_on[lt]", "2030-01-01")], &["Budget hundred"]),
        (&[("starts_on[is_null]", "true")], &["Budget two"]),
    ];
    for (filters, expected) in project_cases {
        let query = owned(filters);
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = page(&backend, "/v1/projects", &query).await;
        let names: Vec<String> = strings(&page, "name")
            .into_iter()
            .filter(|name| name.starts_with("Budget"))
            .map(|name| name.trim_end_matches(&format!(" {}", backend.name)).to_owned())
            .collect();
        assert_eq!(names, *expected, "{}: {filters:?}", backend.name);
    }
    let by_budget = page(&backend, "/v1/projects", &[("owner_id", &owner), ("budget[is_null]", "false"), ("sort", "-budget")]).await;
    let names = strings(&by_budget, "name");
    assert_eq!(names.len(), 3);
    assert!(names[0].starts_with("Budget hundred") && names[2].starts_with("Budget two"), "{names:?}");

    // A nullable reference: `is_null` and the comparisons that leave nulls out.
    let task_id = strings(&page(&backend, "/v1/tasks", &[("project_id", &project), ("title", "Alpha")]).await, "id")[0].clone();
    for author in [Some(owner.as_str()), None, Some(owner.as_str())] {
        create(&backend.stores.comments, json!({"task_id": task_id, "author_id": author, "body": "a remark"}))
            .await
            .expect("a comment");
    }
    for (filter, value, count) in [
        ("author_id[is_null]", "true", 1),
        ("author_id[is_null]", "false", 2),
        ("author_id", owner.as_str(), 2),
        ("author_id[ne]", owner.as_str(), 0),
        ("author_id[nin]", "00000000-0000-7000-8000-000000000000", 2),
    ] {
        let comments = page(&backend, "/v1/comments", &[("task_id", &task_id), (filter, value)]).await;
        assert_eq!(comments["items"].as_array().map(Vec::len), Some(count), "{}: {filter}={value}", backend.name);
    }
}

/// The owner of the project `project`.
async fn project_owner(backend: &Backend, project: &str) -> String {
    let (_, _, body) = get(backend, &format!("/v1/projects/{project}"), &[]).await;
    body["owner_id"].as_str().expect("an owner").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_on_every_store() {
    on_every_store("listops", every_operator_means_the_same_in_every_store).await;
}

// ---------------------------------------------------------------------------------------------
// Cursor pages
// ---------------------------------------------------------------------------------------------

/// The next page's path and query, from the `Link` header, which must agree with the body.
fn next_link(headers: &HeaderMap, body: &Value) -> Option<String> {
    let header = headers.get("link").and_then(|v| v.to_str().ok());
    let link = header.map(|value| {
        let value = value.strip_suffix(">; rel=\"next\"").expect("rel=next");
        value.strip_prefix('<').expect("a bracketed reference").to_owned()
    });
    assert_eq!(link.as_deref(), body["next_link"].as_str(), "header and body agree");
    assert_eq!(link.is_some(), body["next"].is_string(), "a cursor goes with the link");
    link
}

/// Every page of a list from `first`, following `Link` headers; the items' ids.
async fn follow(backend: &Backend, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let (status, headers, body) = get_raw(backend, &path).await;
        assert_eq!(status, StatusCode::OK, "{}: {path}: {body}", backend.name);
        ids.extend(strings(&body, "id"));
        next = next_link(&headers, &body);
        assert!(ids.len() < 10_000, "the pages end");
    }
    ids
}

/// Cursor pages agree with one big page, for every kind of sort: nullable keys both ways,
/// mixed directions, ties broken by the key, and the default order; with filters kept along.
async fn cursor_pages_agree_with_one_page(backend: Arc<Backend>) {
    let project = project(&backend.stores, &format!("pages{}", backend.name)).await;
    for i in 0..41 {
        let mut body = json!({
            "title": format!("t{}", i % 7),
            "priority": PRIORITIES[i % 3],
            "done": i % 5 == 0,
        });
        if i % 3 != 1 {
            body["due_at"] = json!(format!("2030-01-{:02}T00:00:00Z", 1 + i % 4));
        }
        if i % 4 != 0 {
            body["story_points"] = json!(i % 6);
        }
        task(&backend.stores, &project, body).await;
    }
    let project = project.id.to_string();
    for sort in [
        "",
        "title",
        "-title",
        "due_at",
        "-due_at",
        "-priority,title",
        "priority,-due_at,title",
        "-story_points,due_at",
        "story_points,-title",
        "-created_at",
    ] {
        for filters in [vec![], vec![("done", "false")], vec![("story_points[gte]", "2")]] {
            let mut query = vec![("project_id", project.as_str()), ("sort", sort)];
            query.extend(filters.iter().copied());
            let mut one = query.clone();
            one.push(("limit", "100"));
            let all = strings(&page(&backend, "/v1/tasks", &one).await, "id");
            query.push(("limit", "4"));
            let path = format!("/v1/tasks?{}", serde_urlencoded::to_string(&query).expect("a query"));
            let paged = follow(&backend, &path).await;
            assert_eq!(paged, all, "{}: sort `{sort}`, filters {filters:?}", backend.name);
        }
    }
    // Offset pages carry a cursor too, and the last page none.
    let body = page(&backend, "/v1/tasks", &[("project_id", &project), ("limit", "40"), ("offset", "1")]).await;
    assert!(body["next"].is_null() && body.get("next_link").is_none(), "{body}");
    let body = page(&backend, "/v1/tasks", &[("project_id", &project), ("limit", "40")]).await;
    assert!(body["next"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pages_agree_with_one_page_for_every_sort() {
    on_every_store("listpages", cursor_pages_agree_with_one_page).await;
}

/// One task of the 10,000-row walk, as the order `-priority,title` (then the key) ranks it.
type Rank = (Reverse<String>, String, String);

fn rank(item: &Value) -> Rank {
    let text = |field: &str| item[field].as_str().expect(field).to_owned();
    (Reverse(text("priority")), text("title"), text("id"))
}

/// 10,000 tasks listed 200 at a time by cursor while other clients insert and delete: no task
/// is listed twice, none that existed throughout is missed, the pages keep the order, and a
/// task inserted after the position reached is listed.
async fn ten_thousand_rows_with_writes_in_between(backend: Arc<Backend>) {
    const ROWS: usize = 10_000;
    let project = project(&backend.stores, &format!("walk{}", backend.name)).await;
    let new_task = |i: usize| {
        json!({
            "project_id": project.id,
            "notes": null,
            // Ten tasks share each title, and a third of them each priority: ties everywhere.
            "title": format!("task {:04}", (i * 7919) % 1000),
            "priority": PRIORITIES[i % 3],
        })
    };
    let mut workers = Vec::new();
    for worker in 0..8 {
        let tasks = backend.stores.tasks.clone();
        let bodies: Vec<Value> = (worker..ROWS).step_by(8).map(new_task).collect();
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for body in bodies {
                ids.push(create(&tasks, body).await.expect("a task").id.to_string());
            }
            ids
        }));
    }
    let mut originals = BTreeSet::new();
    for worker in workers {
        originals.extend(worker.await.expect("seeded"));
    }
    assert_eq!(originals.len(), ROWS);

    let mut seen: Vec<Value> = Vec::new();
    let mut seen_ids = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    // Tasks inserted meanwhile, with the rank the walk had reached when each was inserted.
    let mut inserted: Vec<(Value, Option<Rank>)> = Vec::new();
    let mut next = Some(format!(
        "/v1/tasks?project_id={}&sort=-priority,title&limit=200",
        project.id
    ));
    let mut pages = 0;
    while let Some(path) = next {
        let (status, headers, body) = get_raw(&backend, &path).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", backend.name);
        next = next_link(&headers, &body);
        pages += 1;
        for item in body["items"].as_array().expect("items") {
            let id = item["id"].as_str().expect("an id").to_owned();
            assert!(seen_ids.insert(id.clone()), "{}: {id} listed twice", backend.name);
            if let Some(last) = seen.last() {
                assert!(rank(last) < rank(item), "{}: pages keep the order", backend.name);
            }
            seen.push(item.clone());
        }
        let reached = seen.last().map(rank);
        // Writes between pages: new tasks on both sides of the position, and deletions of
        // tasks not listed yet.
        for j in 0..10 {
            let created = create(&backend.stores.tasks, new_task(ROWS + pages * 10 + j))
                .await
                .expect("a task");
            let created = serde_json::to_value(&created).expect("JSON");
            inserted.push((created, reached.clone()));
        }
        let unseen: Vec<String> = originals
            .iter()
            .filter(|id| !seen_ids.contains(*id) && !deleted.contains(*id))
            .step_by(97)
            .take(3)
            .cloned()
            .collect();
        for id in unseen {
            let key: cmmv::types::Uuid = id.parse().expect("a UUID");
            backend.stores.tasks.delete(&key).await.expect("deleted");
            deleted.insert(id);
        }
        assert!(pages < 200, "the walk ends");
    }
    for id in &originals {
        assert_eq!(
            seen_ids.contains(id),
            !deleted.contains(id),
            "{}: {id} (deleted: {})",
            backend.name,
            deleted.contains(id)
        );
    }
    for (task, reached) in &inserted {
        let id = task["id"].as_str().expect("an id");
        let ahead = reached.as_ref().is_none_or(|reached| rank(task) > *reached);
        assert_eq!(seen_ids.contains(id), ahead, "{}: inserted {id}, ahead of the walk: {ahead}", backend.name);
    }
    assert!(deleted.len() > 100 && inserted.len() > 400, "writes happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_walk_through_ten_thousand_rows_with_inserts() {
    on_every_store("listwalk", ten_thousand_rows_with_writes_in_between).await;
}

// ---------------------------------------------------------------------------------------------
// Sparse fieldsets
// ---------------------------------------------------------------------------------------------

async fn sparse_fieldsets(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("fields{}", backend.name)).await.to_string();
    let query = [("project_id", project.as_str()), ("fields", "title,id"), ("limit", "3"), ("sort", "title")];
    let (status, headers, body) = get(&backend, "/v1/tasks", &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for item in body["items"].as_array().expect("items") {
        let keys: Vec<&String> = item.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["id", "title"], "{}: only the fields asked for", backend.name);
    }
    // The next page keeps the fieldset (and the rest of the query).
    let next = next_link(&headers, &body).expect("a next page");
    assert!(next.contains("fields=title%2Cid"), "{next}");
    let (_, _, second) = get_raw(&backend, &next).await;
    assert_eq!(second["items"][0].as_object().map(|o| o.len()), Some(2));
    assert_eq!(strings(&second, "title")[0], DROP);
    // An optional field left unset stays out; the page's own fields stay whole.
    let body = page(&backend, "/v1/tasks", &[("project_id", &project), ("fields", "due_at"), ("title", "Émile"), ("count", "true")]).await;
    assert_eq!(body["items"], json!([{}]));
    assert_eq!((&body["total"], &body["limit"]), (&json!(1), &json!(25)));
    refused(&backend, "/v1/tasks", &[("fields", "id,secret")], StatusCode::BAD_REQUEST, "fields").await;
    refused(&backend, "/v1/tasks", &[("fields", "")], StatusCode::BAD_REQUEST, "fields").await;
    // Write-only fields are no field of the response.
    refused(&backend, "/v1/users", &[("fields", "email,password")], StatusCode::BAD_REQUEST, "fields").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_fieldsets_on_every_store() {
    on_every_store("listfields", sparse_fieldsets).await;
}

// ---------------------------------------------------------------------------------------------
// Refusals and hostile input
// ---------------------------------------------------------------------------------------------

async fn hostile_input(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("hostile{}", backend.name)).await.to_string();
    let in_project = |extra: &[(&'static str, &'static str)]| {
        let mut query = vec![("project_id", project.clone()), ("sort", "title".to_owned())];
        query.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        query
    };
    let titles = |query: Vec<(&'static str, String)>| {
        let backend = backend.clone();
        async move {
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            strings(&page(&backend, "/v1/tasks", &query).await, "title")
        }
    };
    // Filter values are values, whatever they look like.
    for (filter, value, expected) in [
        ("title", "x' OR '1'='1", vec![]),
        ("title[contains]", "' OR 1=1 --", vec![]),
        ("title[in]", "Alpha') OR ('1'='1,beta_1", vec!["beta_1"]),
        ("title[nin]", "') OR 1=1; DROP TABLE tasks; --", vec!["Alpha", "Beta 100%", "Gamma*?[x]", DROP, "alpha beta", "beta_1", "Émile"]),
        ("title[prefix]", "_", vec![]),
        ("title[icontains]", "%%", vec![]),
        ("title", DROP, vec![DROP]),
        ("title[gt]", "zzz' --", vec!["Émile"]),
    ] {
        let query = in_project(&[]);
        let mut query = query;
        query.push((filter, value.to_owned()));
        assert_eq!(titles(query).await, expected, "{}: {filter}={value}", backend.name);
    }
    // Sort keys, field names and parameter names are checked against the contract.
    for (name, value) in [
        ("sort", "title;DROP TABLE tasks"),
        ("sort", "title desc"),
        ("sort", "\"title\""),
        ("sort", "-(SELECT 1)"),
        ("sort", "title,-title"),
        ("fields", "title,\"id\""),
    ] {
        refused(&backend, "/v1/tasks", &[(name, value)], StatusCode::BAD_REQUEST, name).await;
    }
    for name in ["title]", "title[gt]]", "title' --[eq]", "title[eq][ne]", "tit%le", "title[]"] {
        let (status, _, body) = get(&backend, "/v1/tasks", &[(name, "x")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: `{name}`: {body}", backend.name);
    }
    // Cursors: edited, forged, foreign, or pointing elsewhere.
    let first = page(&backend, "/v1/tasks", &[("project_id", &project), ("sort", "title"), ("limit", "2")]).await;
    let cursor = first["next"].as_str().expect("a cursor").to_owned();
    let (payload, tag) = cursor.split_once('.').expect("payload.tag");
    let mut edited = payload.to_owned().into_bytes();
    edited[2] = if edited[2] == b'A' { b'B' } else { b'A' };
    let edited = format!("{}.{tag}", String::from_utf8(edited).expect("ASCII"));
    let forged = {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"["' OR 1=1 --","x"]"#);
        format!("{payload}.{tag}")
    };
    let other_sort = page(&backend, "/v1/tasks", &[("project_id", &project), ("sort", "-title"), ("limit", "2")]).await;
    let owner = project_owner(&backend, &project).await;
    create(&backend.stores.projects, json!({"name": "Second project", "owner_id": owner}))
        .await
        .expect("a project");
    let projects = page(&backend, "/v1/projects", &[("limit", "1")]).await;
    let foreign_app = {
        let other = serve(&backend.stores, "another app's cursor secret, 32+ bytes").await;
        let query = format!("/v1/tasks?project_id={project}&sort=title&limit=2");
        let response = client().get(other.url(&query)).send().await.expect("a response");
        let body: Value = response.json().await.expect("JSON");
        body["next"].as_str().expect("a cursor").to_owned()
    };
    let cursors = [
        edited,
        forged,
        other_sort["next"].as_str().expect("a cursor").to_owned(),
        foreign_app,
        projects["next"].as_str().expect("a cursor of another list").to_owned(),
        "' OR 1=1 --".to_owned(),
        String::new(),
        format!("{cursor}."),
    ];
    for bad in &cursors {
        refused(&backend, "/v1/tasks", &[("project_id", &project), ("sort", "title"), ("cursor", bad)], StatusCode::BAD_REQUEST, "cursor").await;
    }
    // The genuine one still works, and not with an offset.
    let second = page(&backend, "/v1/tasks", &[("project_id", &project), ("sort", "title"), ("cursor", &cursor)]).await;
    assert_eq!(strings(&second, "title")[0], "Gamma*?[x]");
    refused(&backend, "/v1/tasks", &[("sort", "title"), ("cursor", &cursor), ("offset", "0")], StatusCode::BAD_REQUEST, "offset").await;

    // Nothing was dropped or changed on the way.
    let all = page(&backend, "/v1/tasks", &[("project_id", &project), ("count", "true")]).await;
    assert_eq!(all["total"], json!(TASKS.len()), "{}", backend.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_sort_keys_and_cursors_are_harmless_or_refused() {
    on_every_store("listhostile", hostile_input).await;
}

/// Every malformed request is a 400 (a 422 for limits) naming the parameter at fault; the
/// parsing is the same whatever the store, so the memory store serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_name_the_parameter() {
    let stores = Stores::memory();
    let backend = Backend {
        name: "memory",
        served: serve(&stores, CURSOR_SECRET).await,
        stores,
    };
    let bad = StatusCode::BAD_REQUEST;
    for (name, value, status) in [
        ("title[like]", "a%", bad),
        ("done[gt]", "true", bad),
        ("priority[contains]", "ig", bad),
        ("project_id[lt]", "00000000-0000-7000-8000-000000000000", bad),
        ("title[is_null]", "true", bad),
        ("due_at[is_null]", "yes", bad),
        ("story_points[gt]", "three", bad),
        ("story_points[gt]", "1.5", bad),
        ("due_at[lt]", "yesterday", bad),
        ("estimate_hours[gte]", "NaN", bad),
        ("priority[in]", "low,urgent", bad),
        ("priority[in]", "", bad),
        ("project_id", "not-a-uuid", bad),
        ("colour", "red", bad),
        ("count", "yes", bad),
        ("limit", "0", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        refused(&backend, "/v1/tasks", &[(name, value)], status, name).await;
    }
    let many = (0..101).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    refused(&backend, "/v1/tasks", &[("story_points[in]", &many)], StatusCode::UNPROCESSABLE_ENTITY, "story_points[in]").await;
    refused(&backend, "/v1/tasks", &[("done", "true"), ("done", "false")], bad, "done").await;
    refused(&backend, "/v1/tasks", &[("count", "true"), ("include_total", "true")], bad, "include_total").await;
    // `include_total` still counts.
    let body = page(&backend, "/v1/tasks", &[("include_total", "true")]).await;
    assert_eq!(body["total"], 0);
    // The message says what the field takes.
    let (_, _, body) = get(&backend, "/v1/tasks", &[("done[gt]", "true")]).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("it takes: eq, ne, in, nin")),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// The documents describe what the server accepts
// ---------------------------------------------------------------------------------------------

/// A value a parameter's schema admits, `$ref`s resolved in `document`.
fn sample(schema: &Value, document: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return sample(&document["components"]["schemas"][name], document);
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.as_str().map_or_else(|| first.to_string(), str::to_owned);
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("array"), _) => sample(&schema["items"], document),
        (Some("boolean"), _) => "true".to_owned(),
        (Some("integer"), _) => schema["minimum"].as_i64().unwrap_or(1).max(1).to_string(),
        (Some("number"), _) | (_, Some("decimal")) => "1.5".to_owned(),
        (_, Some("uuid")) => "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69".to_owned(),
        (_, Some("date-time")) => "2030-01-31T17:00:00Z".to_owned(),
        (_, Some("date")) => "2030-01-31".to_owned(),
        _ => "probe".to_owned(),
    }
}

/// Every parameter the served documents list for a list operation is accepted with a value of
/// its schema, alone; a filter on a field or with an operator they do not list is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_list_parameters_are_exactly_the_accepted_ones() {
    let stores = Stores::memory();
    let backend = Backend {
        name: "memory",
        served: serve(&stores, CURSOR_SECRET).await,
        stores,
    };
    let project = seed_tasks(&backend, "documented").await.to_string();
    let mut checked = 0;
    for version in [1, 2] {
        let (status, _, document) = get_raw(&backend, &format!("/v{version}/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        for (path, item) in document["paths"].as_object().expect("paths") {
            let Some(list) = item.get("get").filter(|op| op["operationId"].as_str().is_some_and(|id| id.ends_with("_list"))) else {
                continue;
            };
            let first = page(&backend, path, &[("limit", "1")]).await;
            let documented: BTreeSet<String> = list["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| p["name"].as_str().expect("a name").to_owned())
                .collect();
            for parameter in list["parameters"].as_array().expect("parameters") {
                let name = parameter["name"].as_str().expect("a name");
                let value = match name {
                    "cursor" => match first["next"].as_str() {
                        Some(cursor) => cursor.to_owned(),
                        None => continue,
                    },
                    _ => sample(&parameter["schema"], &document),
                };
                let (status, _, body) = get(&backend, path, &[(name, &value)]).await;
                assert_eq!(status, StatusCode::OK, "{path}: documented `{name}={value}` is refused: {body}");
                checked += 1;
            }
            // Every field of the resource with every operator: documented or refused.
            let resource = &list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
            let page_name = resource.as_str().expect("a page").trim_start_matches("#/components/schemas/");
            let item = &document["components"]["schemas"][page_name]["properties"]["items"]["items"];
            let item = &document["components"]["schemas"][item["$ref"].as_str().expect("a ref").trim_start_matches("#/components/schemas/")];
            for field in item["properties"].as_object().expect("properties").keys() {
                for op in cmmv::list::Operator::ALL {
                    let name = format!("{field}[{}]", op.name());
                    if documented.contains(&name) {
                        continue;
                    }
                    let (status, _, body) = get(&backend, path, &[(&name, "1")]).await;
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: undocumented `{name}` is accepted: {body}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} parameters checked");
    // Filtered for real: a documented filter is applied, not merely tolerated.
    let body = page(&backend, "/v1/tasks", &[("project_id", &project), ("story_points[gte]", "8")]).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Plans: cursor pages seek in the sort field's index
// ---------------------------------------------------------------------------------------------

async fn cursor_pages_seek_the_index(db: &Database, raw: &mut Raw) {
    let stores = Stores::database(db);
    let owner = project(&stores, "planseek").await;
    let tasks = db.store::<todo::api::Task>();
    let mut workers = Vec::new();
    for worker in 0..4 {
        let tasks = tasks.clone();
        let project = owner.id;
        workers.push(tokio::spawn(async move {
            for i in (worker..4000).step_by(4) {
                let body = json!({"project_id": project, "notes": null, "title": format!("plan {i:05}")});
                create(&tasks, body).await.expect("a task");
            }
        }));
    }
    for worker in workers {
        worker.await.expect("seeded");
    }
    // Statistics, as a database in service has them.
    raw.execute("ANALYZE").await;
    let first = ListQuery {
        sort: vec![("title".to_owned(), Direction::Descending)],
        ..ListQuery::new(50)
    };
    let page = tasks.list(&first).await.expect("a page");
    let after = ListQuery {
        after: Some(first.position(page.items.last().expect("an item"))),
        ..first
    };
    let plan = db.explain_list::<todo::api::Task>(&after).await.expect("a plan");
    assert!(
        plan.contains("tasks_title_idx"),
        "{:?}: a cursor page by title reads the title index:\n{plan}",
        db.dialect()
    );
    assert!(
        !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
        "{:?}: in its order, without sorting:\n{plan}",
        db.dialect()
    );
    let next = tasks.list(&after).await.expect("a page");
    assert_eq!(next.items[0].title, "plan 03949");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cursor_pages_seek_the_index() {
    let (dir, db) = sqlite_database().await;
    let mut raw = Raw::sqlite(&dir.path().join("test.db")).await;
    cursor_pages_seek_the_index(&db, &mut raw).await;
    raw.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cursor_pages_seek_the_index() {
    let Some(test_db) = TestDatabase::postgres("listplan").await else {
        return;
    };
    let (db, url) = (test_db.db.clone(), test_db.url.clone());
    let outcome = tokio::spawn(async move {
        let mut raw = Raw::postgres(&url).await;
        cursor_pages_seek_the_index(&db, &mut raw).await;
        raw.close().await;
    })
    .await;
    test_db.drop().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
