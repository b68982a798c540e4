//! Cursor pages (agreeing with one big page; a 10,000-row walk with writes in between), sparse
//! fieldsets, and the plans of cursor pages.

use super::*;

// ---------------------------------------------------------------------------------------------
// Cursor pages
// ---------------------------------------------------------------------------------------------

/// The next page's path and query, from the `Link` header, which must agree with the body.
fn next_link(headers: &HeaderMap, body: &Value) -> Option<String> {
    let header = headers.get("link").and_then(|v| v.to_str().ok());
    let link = header.map(|value| {
        let value = value.strip_suffix(">; rel=\"next\"").expect("rel=next");
        value
            .strip_prefix('<')
            .expect("a bracketed reference")
            .to_owned()
    });
    assert_eq!(
        link.as_deref(),
        body["next_link"].as_str(),
        "header and body agree"
    );
    assert_eq!(
        link.is_some(),
        body["next"].is_string(),
        "a cursor goes with the link"
    );
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
        for filters in [
            vec![],
            vec![("done", "false")],
            vec![("story_points[gte]", "2")],
        ] {
            let mut query = vec![("project_id", project.as_str())];
            if !sort.is_empty() {
                query.push(("sort", sort));
            }
            query.extend(filters.iter().copied());
            let mut one = query.clone();
            one.push(("limit", "100"));
            let all = strings(&page(&backend, "/v1/tasks", &one).await, "id");
            query.push(("limit", "4"));
            let path = format!(
                "/v1/tasks?{}",
                serde_urlencoded::to_string(&query).expect("a query")
            );
            let paged = follow(&backend, &path).await;
            assert_eq!(
                paged, all,
                "{}: sort `{sort}`, filters {filters:?}",
                backend.name
            );
        }
    }
    // Offset pages carry a cursor too, and the last page none.
    let body = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("limit", "40"), ("offset", "1")],
    )
    .await;
    assert!(
        body["next"].is_null() && body.get("next_link").is_none(),
        "{body}"
    );
    let body = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("limit", "40")],
    )
    .await;
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
            assert!(
                seen_ids.insert(id.clone()),
                "{}: {id} listed twice",
                backend.name
            );
            if let Some(last) = seen.last() {
                assert!(
                    rank(last) < rank(item),
                    "{}: pages keep the order",
                    backend.name
                );
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
            backend
                .stores
                .tasks
                .delete(&key, &cmmv::Scope::All)
                .await
                .expect("deleted");
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
        assert_eq!(
            seen_ids.contains(id),
            ahead,
            "{}: inserted {id}, ahead of the walk: {ahead}",
            backend.name
        );
    }
    assert!(
        deleted.len() > 100 && inserted.len() > 400,
        "writes happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_walk_through_ten_thousand_rows_with_inserts() {
    on_every_store("listwalk", ten_thousand_rows_with_writes_in_between).await;
}

// ---------------------------------------------------------------------------------------------
// Sparse fieldsets
// ---------------------------------------------------------------------------------------------

async fn sparse_fieldsets(backend: Arc<Backend>) {
    let project = seed_tasks(&backend, &format!("fields{}", backend.name))
        .await
        .to_string();
    let query = [
        ("project_id", project.as_str()),
        ("fields", "title,id"),
        ("limit", "3"),
        ("sort", "title"),
    ];
    let (status, headers, body) = get(&backend, "/v1/tasks", &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for item in body["items"].as_array().expect("items") {
        let keys: Vec<&String> = item.as_object().expect("an object").keys().collect();
        assert_eq!(
            keys,
            ["id", "title"],
            "{}: only the fields asked for",
            backend.name
        );
    }
    // The next page keeps the fieldset (and the rest of the query).
    let next = next_link(&headers, &body).expect("a next page");
    assert!(next.contains("fields=title%2Cid"), "{next}");
    let (_, _, second) = get_raw(&backend, &next).await;
    assert_eq!(second["items"][0].as_object().map(|o| o.len()), Some(2));
    assert_eq!(strings(&second, "title")[0], DROP);
    // An optional field left unset stays out; the page's own fields stay whole.
    let body = page(
        &backend,
        "/v1/tasks",
        &[
            ("project_id", &project),
            ("fields", "due_at"),
            ("title", "Émile"),
            ("count", "true"),
        ],
    )
    .await;
    assert_eq!(body["items"], json!([{}]));
    assert_eq!((&body["total"], &body["limit"]), (&json!(1), &json!(25)));
    refused(
        &backend,
        "/v1/tasks",
        &[("fields", "id,secret")],
        StatusCode::BAD_REQUEST,
        "fields",
    )
    .await;
    refused(
        &backend,
        "/v1/tasks",
        &[("fields", "")],
        StatusCode::BAD_REQUEST,
        "fields",
    )
    .await;
    // Write-only fields are no field of the response.
    refused(
        &backend,
        "/v1/projects",
        &[("fields", "name,access_code")],
        StatusCode::BAD_REQUEST,
        "fields",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_fieldsets_on_every_store() {
    on_every_store("listfields", sparse_fieldsets).await;
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
                let body =
                    json!({"project_id": project, "notes": null, "title": format!("plan {i:05}")});
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
    let plan = db
        .explain_list::<todo::api::Task>(&after)
        .await
        .expect("a plan");
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
