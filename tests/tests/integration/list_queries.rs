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

mod documents;
mod pages;

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
async fn get(
    backend: &Backend,
    path: &str,
    query: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
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
    assert_eq!(
        status,
        StatusCode::OK,
        "{}: {path} {query:?}: {body}",
        backend.name
    );
    body
}

/// A problem that must be a 400 (or `status`) naming `parameter`.
async fn refused(
    backend: &Backend,
    path: &str,
    query: &[(&str, &str)],
    status: StatusCode,
    parameter: &str,
) {
    let (got, headers, body) = get(backend, path, query).await;
    assert_eq!(
        got, status,
        "{}: {query:?} must be refused: {body}",
        backend.name
    );
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
    (
        "Alpha",
        false,
        "low",
        Some("2030-01-01T00:00:00Z"),
        Some(1.5),
        Some(1),
    ),
    (
        "alpha beta",
        true,
        "normal",
        Some("2030-01-02T12:00:00Z"),
        Some(2.0),
        Some(3),
    ),
    ("Beta 100%", false, "high", None, None, None),
    (
        "beta_1",
        true,
        "high",
        Some("2030-01-03T00:00:00.000001Z"),
        Some(0.25),
        Some(8),
    ),
    (
        "Gamma*?[x]",
        false,
        "normal",
        Some("2029-12-31T23:59:59Z"),
        Some(10.0),
        Some(0),
    ),
    ("Émile", false, "low", None, Some(3.75), Some(5)),
    (
        "a'; DROP TABLE tasks; --",
        true,
        "low",
        Some("2030-02-01T00:00:00Z"),
        None,
        Some(13),
    ),
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

/// A title that is an injection attempt, stored and matched as the text it is.
const DROP: &str = "a'; DROP TABLE tasks; --";

/// Filters (`name=value`, joined by `&`) and the titles they admit (joined by `|`; `<drop>`
/// stands for [`DROP`]), in title order: byte order, as every store sorts text (PostgreSQL
/// with a C collation, as the tests run it).
const TASK_CASES: &[(&str, &str)] = &[
    ("done=true", "<drop>|alpha beta|beta_1"),
    ("done[eq]=false", "Alpha|Beta 100%|Gamma*?[x]|Émile"),
    ("done[ne]=true", "Alpha|Beta 100%|Gamma*?[x]|Émile"),
    (
        "done[in]=true,false",
        "Alpha|Beta 100%|Gamma*?[x]|<drop>|alpha beta|beta_1|Émile",
    ),
    ("done[nin]=false", "<drop>|alpha beta|beta_1"),
    ("priority=low", "Alpha|<drop>|Émile"),
    (
        "priority[in]=high,normal",
        "Beta 100%|Gamma*?[x]|alpha beta|beta_1",
    ),
    (
        "priority[nin]=low",
        "Beta 100%|Gamma*?[x]|alpha beta|beta_1",
    ),
    ("priority[ne]=low", "Beta 100%|Gamma*?[x]|alpha beta|beta_1"),
    // Text: order, membership, literal and ASCII-folded matching.
    ("title=Alpha", "Alpha"),
    (
        "title[ne]=Alpha",
        "Beta 100%|Gamma*?[x]|<drop>|alpha beta|beta_1|Émile",
    ),
    ("title[gt]=alpha", "alpha beta|beta_1|Émile"),
    ("title[gte]=alpha beta", "alpha beta|beta_1|Émile"),
    ("title[lt]=Beta 100%", "Alpha"),
    ("title[lte]=Beta 100%", "Alpha|Beta 100%"),
    ("title[in]=Alpha,beta_1,nothing", "Alpha|beta_1"),
    (
        "title[nin]=Alpha,beta_1",
        "Beta 100%|Gamma*?[x]|<drop>|alpha beta|Émile",
    ),
    ("title[contains]=eta", "Beta 100%|alpha beta|beta_1"),
    ("title[contains]=Beta", "Beta 100%"),
    ("title[icontains]=BETA", "Beta 100%|alpha beta|beta_1"),
    ("title[prefix]=a", "<drop>|alpha beta"),
    ("title[iprefix]=A", "Alpha|<drop>|alpha beta"),
    ("title[contains]=%", "Beta 100%"),
    ("title[contains]=_", "beta_1"),
    ("title[contains]=*?[", "Gamma*?[x]"),
    ("title[icontains]=[X]", "Gamma*?[x]"),
    ("title[prefix]=%", ""),
    ("title[contains]='; DROP", "<drop>"),
    // Case folding is ASCII's only, in every store (SQLite's `LIKE` folds no other letter).
    ("title[icontains]=É", "Émile"),
    ("title[icontains]=é", ""),
    // Instants: offsets honoured, nulls meeting only `is_null`.
    (
        "due_at[gte]=2030-01-01T00:00:00Z",
        "Alpha|<drop>|alpha beta|beta_1",
    ),
    ("due_at[lt]=2030-01-01T00:00:00Z", "Gamma*?[x]"),
    ("due_at[gt]=2030-01-03T00:00:00Z", "<drop>|beta_1"),
    ("due_at=2030-01-03T01:00:00.000001+01:00", "beta_1"),
    (
        "due_at[lte]=2030-01-02T13:00:00+01:00",
        "Alpha|Gamma*?[x]|alpha beta",
    ),
    (
        "due_at[ne]=2030-01-01T00:00:00Z",
        "Gamma*?[x]|<drop>|alpha beta|beta_1",
    ),
    (
        "due_at[in]=2030-01-01T00:00:00Z,2030-02-01T00:00:00Z",
        "Alpha|<drop>",
    ),
    ("due_at[is_null]=true", "Beta 100%|Émile"),
    (
        "due_at[is_null]=false",
        "Alpha|Gamma*?[x]|<drop>|alpha beta|beta_1",
    ),
    // Integers and floats.
    ("story_points[gt]=3", "<drop>|beta_1|Émile"),
    ("story_points[lte]=1", "Alpha|Gamma*?[x]"),
    ("story_points=0", "Gamma*?[x]"),
    ("story_points[in]=0,3,99", "Gamma*?[x]|alpha beta"),
    ("story_points[nin]=0,3", "Alpha|<drop>|beta_1|Émile"),
    ("story_points[is_null]=true", "Beta 100%"),
    ("estimate_hours[gte]=2", "Gamma*?[x]|alpha beta|Émile"),
    ("estimate_hours[lt]=1.5", "beta_1"),
    ("estimate_hours=1.5", "Alpha"),
    (
        "estimate_hours[ne]=1.5",
        "Gamma*?[x]|alpha beta|beta_1|Émile",
    ),
    // Several filters: all must hold.
    (
        "done=false&priority[in]=low,high&story_points[gte]=1",
        "Alpha|Émile",
    ),
    ("done=false&title[iprefix]=b", "Beta 100%"),
    (
        "title[gte]=B&title[lt]=b",
        "Beta 100%|Gamma*?[x]|<drop>|alpha beta",
    ),
];

async fn every_operator_means_the_same_in_every_store(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("ops{}", backend.name)).await;
    let project = project.to_string();
    for (filters, expected) in TASK_CASES {
        let mut query = vec![("project_id", project.as_str()), ("sort", "title")];
        query.extend(
            filters
                .split('&')
                .filter_map(|filter| filter.split_once('=')),
        );
        let page = page(&backend, "/v1/tasks", &query).await;
        let expected: Vec<&str> = expected
            .split('|')
            .filter(|title| !title.is_empty())
            .map(|title| if title == "<drop>" { DROP } else { title })
            .collect();
        assert_eq!(
            strings(&page, "title"),
            expected,
            "{}: {filters}",
            backend.name
        );
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
        create(&backend.stores.projects, body)
            .await
            .expect("a project");
    }
    // One filter each, and the projects it admits by name.
    let project_cases = [
        ("budget[lt]", "20", "Budget ten|Budget two"),
        ("budget[gt]", "5", "Budget hundred|Budget ten"),
        ("budget[in]", "2,10.5", "Budget ten|Budget two"),
        ("budget[is_null]", "true", "Budget none"),
        ("starts_on[gte]", "2030-01-01", "Budget none|Budget ten"),
        ("starts_on[lt]", "2030-01-01", "Budget hundred"),
        ("starts_on[is_null]", "true", "Budget two"),
    ];
    for (filter, value, expected) in project_cases {
        let query = [
            ("owner_id", owner.as_str()),
            ("sort", "name"),
            (filter, value),
        ];
        let page = page(&backend, "/v1/projects", &query).await;
        let suffix = format!(" {}", backend.name);
        let names: Vec<String> = strings(&page, "name")
            .into_iter()
            .filter(|name| name.starts_with("Budget"))
            .map(|name| name.trim_end_matches(&suffix).to_owned())
            .collect();
        assert_eq!(
            names.join("|"),
            expected,
            "{}: {filter}={value}",
            backend.name
        );
    }
    let by_budget = page(
        &backend,
        "/v1/projects",
        &[
            ("owner_id", &owner),
            ("budget[is_null]", "false"),
            ("sort", "-budget"),
        ],
    )
    .await;
    let names = strings(&by_budget, "name");
    assert_eq!(names.len(), 3);
    assert!(
        names[0].starts_with("Budget hundred") && names[2].starts_with("Budget two"),
        "{names:?}"
    );

    // A nullable reference: `is_null` and the comparisons that leave nulls out.
    let task_id = strings(
        &page(
            &backend,
            "/v1/tasks",
            &[("project_id", &project), ("title", "Alpha")],
        )
        .await,
        "id",
    )[0]
    .clone();
    for author in [Some(owner.as_str()), None, Some(owner.as_str())] {
        create(
            &backend.stores.comments,
            json!({"task_id": task_id, "author_id": author, "body": "a remark"}),
        )
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
        let comments = page(
            &backend,
            "/v1/comments",
            &[("task_id", &task_id), (filter, value)],
        )
        .await;
        assert_eq!(
            comments["items"].as_array().map(Vec::len),
            Some(count),
            "{}: {filter}={value}",
            backend.name
        );
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
// Refusals and hostile input
// ---------------------------------------------------------------------------------------------

async fn hostile_input(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("hostile{}", backend.name))
        .await
        .to_string();
    let in_project = |extra: &[(&'static str, &'static str)]| {
        let mut query = vec![
            ("project_id", project.clone()),
            ("sort", "title".to_owned()),
        ];
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
        (
            "title[nin]",
            "') OR 1=1; DROP TABLE tasks; --",
            vec![
                "Alpha",
                "Beta 100%",
                "Gamma*?[x]",
                DROP,
                "alpha beta",
                "beta_1",
                "Émile",
            ],
        ),
        ("title[prefix]", "_", vec![]),
        ("title[icontains]", "%%", vec![]),
        ("title", DROP, vec![DROP]),
        ("title[gt]", "zzz' --", vec!["Émile"]),
    ] {
        let query = in_project(&[]);
        let mut query = query;
        query.push((filter, value.to_owned()));
        assert_eq!(
            titles(query).await,
            expected,
            "{}: {filter}={value}",
            backend.name
        );
    }
    // Sort keys, field names and parameter names are checked against the contract.
    for (name, value) in [
        ("sort", "title;DROP TABLE tasks"),
        ("sort", "title desc"),
        ("sort", "\"title\""),
        ("sort", "-(SELECT 1)"),
        ("fields", "title,\"id\""),
    ] {
        refused(
            &backend,
            "/v1/tasks",
            &[(name, value)],
            StatusCode::BAD_REQUEST,
            name,
        )
        .await;
    }
    // An empty `in`/`nin` value is one empty value (OpenAPI's `form` style): the empty title,
    // which no task has, so `nin` keeps them all; for a UUID it is no value at all, a 400.
    let all = page(&backend, "/v1/tasks", &[]).await;
    let not_empty = page(&backend, "/v1/tasks", &[("title[nin]", "")]).await;
    assert_eq!(strings(&not_empty, "title"), strings(&all, "title"));
    let (status, _, _) = get(&backend, "/v1/tasks", &[("project_id[in]", "")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A field sorted by again cannot change the order its first mention decided: it is
    // skipped, not refused (the documents' array of sort keys allows it).
    let once = page(&backend, "/v1/tasks", &[("sort", "title")]).await;
    let again = page(&backend, "/v1/tasks", &[("sort", "title,-title")]).await;
    assert_eq!(strings(&again, "title"), strings(&once, "title"));
    for name in [
        "title]",
        "title[gt]]",
        "title' --[eq]",
        "title[eq][ne]",
        "tit%le",
        "title[]",
    ] {
        let (status, _, body) = get(&backend, "/v1/tasks", &[(name, "x")]).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}: `{name}`: {body}",
            backend.name
        );
    }
    // Cursors: edited, forged, foreign, or pointing elsewhere.
    let first = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("sort", "title"), ("limit", "2")],
    )
    .await;
    let cursor = first["next"].as_str().expect("a cursor").to_owned();
    let (payload, tag) = cursor.split_once('.').expect("payload.tag");
    let mut edited = payload.to_owned().into_bytes();
    edited[2] = if edited[2] == b'A' { b'B' } else { b'A' };
    let edited = format!("{}.{tag}", String::from_utf8(edited).expect("ASCII"));
    let forged = {
        use base64::Engine as _;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"["' OR 1=1 --","x"]"#);
        format!("{payload}.{tag}")
    };
    let other_sort = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("sort", "-title"), ("limit", "2")],
    )
    .await;
    let owner = project_owner(&backend, &project).await;
    create(
        &backend.stores.projects,
        json!({"name": "Second project", "owner_id": owner}),
    )
    .await
    .expect("a project");
    let projects = page(&backend, "/v1/projects", &[("limit", "1")]).await;
    let foreign_app = {
        let other = serve(&backend.stores, "another app's cursor secret, 32+ bytes").await;
        let query = format!("/v1/tasks?project_id={project}&sort=title&limit=2");
        let response = client()
            .get(other.url(&query))
            .send()
            .await
            .expect("a response");
        let body: Value = response.json().await.expect("JSON");
        body["next"].as_str().expect("a cursor").to_owned()
    };
    let cursors = [
        edited,
        forged,
        other_sort["next"].as_str().expect("a cursor").to_owned(),
        foreign_app,
        projects["next"]
            .as_str()
            .expect("a cursor of another list")
            .to_owned(),
        "' OR 1=1 --".to_owned(),
        String::new(),
        format!("{cursor}."),
    ];
    for bad in &cursors {
        refused(
            &backend,
            "/v1/tasks",
            &[("project_id", &project), ("sort", "title"), ("cursor", bad)],
            StatusCode::BAD_REQUEST,
            "cursor",
        )
        .await;
    }
    // The genuine one still works, and not with an offset.
    let second = page(
        &backend,
        "/v1/tasks",
        &[
            ("project_id", &project),
            ("sort", "title"),
            ("cursor", &cursor),
        ],
    )
    .await;
    assert_eq!(strings(&second, "title")[0], "Gamma*?[x]");
    // An offset with a cursor skips that many more after its position.
    let skipped = page(
        &backend,
        "/v1/tasks",
        &[
            ("project_id", &project),
            ("sort", "title"),
            ("cursor", &cursor),
            ("offset", "1"),
        ],
    )
    .await;
    assert_eq!(strings(&skipped, "title")[0], strings(&second, "title")[1]);

    // Nothing was dropped or changed on the way.
    let all = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("count", "true")],
    )
    .await;
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
        (
            "project_id[lt]",
            "00000000-0000-7000-8000-000000000000",
            bad,
        ),
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
        // Each item of a comma-separated list names something, as the documents' enum says.
        ("sort", "", bad),
        ("sort", "title,,-due_at", bad),
        ("sort", "title,", bad),
        ("fields", "id,,title", bad),
        ("limit", "0", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        refused(&backend, "/v1/tasks", &[(name, value)], status, name).await;
    }
    let many = (0..101)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    refused(
        &backend,
        "/v1/tasks",
        &[("story_points[in]", &many)],
        StatusCode::UNPROCESSABLE_ENTITY,
        "story_points[in]",
    )
    .await;
    refused(
        &backend,
        "/v1/tasks",
        &[("done", "true"), ("done", "false")],
        bad,
        "done",
    )
    .await;
    // `include_total` still counts; with `count`, either asks for the total (the documents
    // list both), and a bad value of either is refused.
    let body = page(&backend, "/v1/tasks", &[("include_total", "true")]).await;
    assert_eq!(body["total"], 0);
    let body = page(
        &backend,
        "/v1/tasks",
        &[("count", "false"), ("include_total", "true")],
    )
    .await;
    assert_eq!(body["total"], 0);
    refused(
        &backend,
        "/v1/tasks",
        &[("count", "true"), ("include_total", "maybe")],
        bad,
        "include_total",
    )
    .await;
    // The message says what the field takes.
    let (_, _, body) = get(&backend, "/v1/tasks", &[("done[gt]", "true")]).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("it takes: eq, ne, in, nin")),
        "{body}"
    );
}
