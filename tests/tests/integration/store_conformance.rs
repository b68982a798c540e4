//! One repository conformance suite, run against the in-memory store, SQLite (a real file) and
//! PostgreSQL (when `CMMV_TEST_DATABASE_URL` is set; each run in a schema of its own, dropped
//! afterwards). The resources are the example's, and the SQL tables come from the migrations
//! generated from `contracts/`.
//!
//! What only SQL stores promise (foreign keys, durability, query plans) is tested in
//! `store_sql.rs`.

use std::sync::Arc;

use cmmv::resource::{AccountRecord, FieldValue, Resource};
use cmmv::sql::Database;
use cmmv::store::{Direction, Filter, ListQuery, StoreError};
use cmmv::types::{DateTime, Uuid};
use cmmv::validate::{At, Errors, FromJson};
use cmmv::{MemoryStore, Store};
use serde_json::{Value, json};
use todo::api::{Comment, Label, Project, Task, TaskPriority, User};

use crate::store_support::{TestDatabase, sqlite_database};

/// A store per contract of the example, all in one backend.
pub(crate) struct Stores {
    pub(crate) users: Store<User>,
    pub(crate) projects: Store<Project>,
    pub(crate) tasks: Store<Task>,
    pub(crate) comments: Store<Comment>,
    pub(crate) labels: Store<Label>,
}

impl Stores {
    pub(crate) fn memory() -> Self {
        Stores {
            users: MemoryStore::shared(),
            projects: MemoryStore::shared(),
            tasks: MemoryStore::shared(),
            comments: MemoryStore::shared(),
            labels: MemoryStore::shared(),
        }
    }

    pub(crate) fn database(db: &Database) -> Self {
        Stores {
            users: db.store(),
            projects: db.store(),
            tasks: db.store(),
            comments: db.store(),
            labels: db.store(),
        }
    }
}

/// Decodes a create body as the HTTP layer would.
pub(crate) fn input<T: FromJson>(mut body: Value) -> T {
    let mut errors = Errors::new();
    let decoded = T::from_json(&mut body, &At::Root, &mut errors);
    assert!(
        errors.is_empty(),
        "fixture does not decode: {:?}",
        errors.into_vec()
    );
    decoded.expect("no errors, so a value")
}

/// Creates a resource the way the generated create handler does.
pub(crate) async fn create<R: Resource>(store: &Store<R>, body: Value) -> Result<R, StoreError>
where
    R::Input: FromJson,
{
    let input: R::Input = input(body);
    let now = DateTime::now();
    store
        .insert(Box::new(move |sequence| {
            let key = R::new_key(&input, sequence);
            R::create(key, input, now)
        }))
        .await
}

/// A user as the login module makes one when an account registers: the account's record, its
/// key the account id, every field but the email its default.
pub(crate) async fn user(stores: &Stores, email: &str) -> Result<User, StoreError> {
    let (key, email) = (Uuid::now_v7(), email.to_owned());
    stores
        .users
        .insert(Box::new(move |_| {
            User::for_account(key, &email, DateTime::now())
        }))
        .await
}

/// A first page of up to 100 items, equality filters and sort keys by field name.
pub(crate) fn page(filters: Vec<(&str, FieldValue)>, sort: Vec<(&str, Direction)>) -> ListQuery {
    ListQuery {
        sort: sort.into_iter().map(|(f, d)| (f.to_owned(), d)).collect(),
        filters: filters.into_iter().map(|(f, v)| Filter::eq(f, v)).collect(),
        ..ListQuery::new(100)
    }
}

fn uuid_value(id: &Uuid) -> FieldValue {
    FieldValue::Text(id.to_string())
}

/// A user and a project to hang tasks on; `tag` keeps names unique across cases.
pub(crate) async fn project(stores: &Stores, tag: &str) -> Project {
    let user = user(stores, &format!("{tag}@example.com"))
        .await
        .expect("user");
    create(
        &stores.projects,
        json!({"name": format!("Project {tag}"), "owner_id": user.id}),
    )
    .await
    .expect("project")
}

pub(crate) async fn task(stores: &Stores, project: &Project, body: Value) -> Task {
    let mut body = body;
    body["project_id"] = json!(project.id);
    // `notes` is nullable but required: tasks that do not care send null.
    if body.get("notes").is_none() {
        body["notes"] = Value::Null;
    }
    create(&stores.tasks, body).await.expect("task")
}

async fn run_suite(stores: Stores) {
    let stores = Arc::new(stores);
    round_trip_keeps_every_field(&stores).await;
    missing_keys_are_not_found(&stores).await;
    updates_change_and_deletes_remove(&stores).await;
    lists_filter_sort_and_page(&stores).await;
    filter_values_carrying_sql_match_literally(&stores).await;
    unique_fields_and_keys_conflict(&stores).await;
    integer_keys_count_up(&stores).await;
    concurrent_updates_lose_nothing(&stores).await;
}

async fn round_trip_keeps_every_field(stores: &Stores) {
    let project = project(stores, "roundtrip").await;
    let created = task(
        stores,
        &project,
        json!({
            "title": "Every field",
            "notes": "line one\nline \"two\" with 'quotes' and ünïcödé",
            "done": true,
            "priority": "high",
            "due_at": "2030-01-31T17:00:00.123456+02:00",
            "estimate_hours": 2.25,
            "story_points": 8,
            "confidence": 0.875,
            "tags": ["a", "b-c"],
            "checklist": [{"text": "first", "checked": true}, {"text": "second"}],
            "metadata": {"nested": {"list": [1, 2.5, null, "x"]}, "flag": false}
        }),
    )
    .await;
    let read = stores
        .tasks
        .get(&created.id, &cmmv::Scope::All)
        .await
        .expect("stored");
    assert_eq!(read, created);
    assert_eq!(read.priority, TaskPriority::High);

    // Bytes and maps round-trip: a user's avatar and settings, set as a PATCH would.
    let user = user(stores, "bytes@example.com").await.expect("user");
    let patch = input::<<User as Resource>::Patch>(json!({
        "display_name": "Bytes",
        "avatar": "AAEC/w==",
        "settings": {"theme": "dark"}
    }));
    let user = stores
        .users
        .update(
            &user.id,
            &cmmv::Scope::All,
            Box::new(move |u: &mut User| u.patch(patch, DateTime::now())),
        )
        .await
        .expect("patched");
    let read = stores
        .users
        .get(&user.id, &cmmv::Scope::All)
        .await
        .expect("stored");
    assert_eq!(read, user);
    assert_eq!(read.avatar.as_ref().map(|b| b.0.len()), Some(4));

    // A secret is stored as its argon2id hash, never in clear (issue 15), and round-trips as
    // that hash.
    let body = input::<<Project as Resource>::Input>(json!({
        "name": "Secret keeper",
        "owner_id": user.id,
        "access_code": "correct horse battery"
    }));
    let guarded = cmmv::crud::create(&stores.projects, body)
        .await
        .expect("a project with an access code");
    let read = stores
        .projects
        .get(&guarded.id, &cmmv::Scope::All)
        .await
        .expect("stored");
    let code = read.access_code.as_ref().expect("an access code");
    assert!(
        code.as_phc().starts_with("$argon2id$v=19$"),
        "{:?}",
        code.as_phc()
    );
    assert!(!code.as_phc().contains("correct horse"));
    assert!(code.verify("correct horse battery"));
    assert!(!code.verify("correct horse battery!"));
    assert_eq!(read, guarded);

    // Zero bytes are a value (empty base64), not an absent one: stored and read back as such.
    let empty = self::user(stores, "empty-bytes@example.com")
        .await
        .expect("user");
    let patch = input::<<User as Resource>::Patch>(json!({"avatar": ""}));
    let empty = stores
        .users
        .update(
            &empty.id,
            &cmmv::Scope::All,
            Box::new(move |u: &mut User| u.patch(patch, DateTime::now())),
        )
        .await
        .expect("a user with an empty avatar");
    assert_eq!(empty.avatar.as_ref().map(|b| b.0.len()), Some(0));
    let read = stores
        .users
        .get(&empty.id, &cmmv::Scope::All)
        .await
        .expect("stored");
    assert_eq!(read, empty);
}

async fn missing_keys_are_not_found(stores: &Stores) {
    let nobody = Uuid::now_v7();
    assert_eq!(
        stores.tasks.get(&nobody, &cmmv::Scope::All).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        stores.tasks.delete(&nobody, &cmmv::Scope::All).await,
        Err(StoreError::NotFound)
    );
    let update = stores
        .tasks
        .update(
            &nobody,
            &cmmv::Scope::All,
            Box::new(|task: &mut Task| task.done = true),
        )
        .await;
    assert_eq!(update, Err(StoreError::NotFound));
}

async fn updates_change_and_deletes_remove(stores: &Stores) {
    let project = project(stores, "update").await;
    let created = task(stores, &project, json!({"title": "Before"})).await;
    let updated = stores
        .tasks
        .update(
            &created.id,
            &cmmv::Scope::All,
            Box::new(|task: &mut Task| {
                task.title = "After".to_owned();
                task.notes = None;
                task.tags.push("new".to_owned());
            }),
        )
        .await
        .expect("updated");
    assert_eq!(updated.title, "After");
    assert_eq!(
        stores.tasks.get(&created.id, &cmmv::Scope::All).await,
        Ok(updated)
    );

    stores
        .tasks
        .delete(&created.id, &cmmv::Scope::All)
        .await
        .expect("deleted");
    assert_eq!(
        stores.tasks.get(&created.id, &cmmv::Scope::All).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        stores.tasks.delete(&created.id, &cmmv::Scope::All).await,
        Err(StoreError::NotFound)
    );
    let listed = stores
        .tasks
        .list(&page(vec![("project_id", uuid_value(&project.id))], vec![]))
        .await
        .expect("list");
    assert!(listed.items.is_empty(), "a deleted task is not listed");
}

async fn lists_filter_sort_and_page(stores: &Stores) {
    let project = project(stores, "lists").await;
    let specs = [
        ("b", false, "low", Some("2030-01-02T00:00:00Z")),
        ("a", true, "high", None),
        ("c", false, "high", Some("2030-01-01T00:00:00Z")),
        ("a", false, "normal", Some("2030-01-03T00:00:00Z")),
        ("d", true, "low", None),
    ];
    let mut created = Vec::new();
    for (title, done, priority, due_at) in specs {
        let mut body = json!({"title": title, "done": done, "priority": priority});
        if let Some(due_at) = due_at {
            body["due_at"] = json!(due_at);
        }
        created.push(task(stores, &project, body).await);
    }
    let in_project = ("project_id", uuid_value(&project.id));
    let titles = |items: &[Task]| items.iter().map(|t| t.title.clone()).collect::<Vec<_>>();

    // Equality filters, all of which must hold.
    let done = stores
        .tasks
        .list(&page(
            vec![in_project.clone(), ("done", FieldValue::Bool(true))],
            vec![("title", Direction::Ascending)],
        ))
        .await
        .expect("list");
    assert_eq!(titles(&done.items), ["a", "d"]);
    let high = stores
        .tasks
        .list(&page(
            vec![
                in_project.clone(),
                ("priority", FieldValue::Text("high".into())),
            ],
            vec![("title", Direction::Descending)],
        ))
        .await
        .expect("list");
    assert_eq!(titles(&high.items), ["c", "a"]);

    // Sorting: ties broken by the key (UUID v7, so creation order); nulls after values
    // ascending, before them descending.
    let by_title = stores
        .tasks
        .list(&page(
            vec![in_project.clone()],
            vec![("title", Direction::Ascending)],
        ))
        .await
        .expect("list");
    let mut tied: Vec<&Task> = created.iter().filter(|t| t.title == "a").collect();
    tied.sort_by_key(|t| t.id);
    assert_eq!(titles(&by_title.items), ["a", "a", "b", "c", "d"]);
    assert_eq!(by_title.items[0].id, tied[0].id);
    let by_due = stores
        .tasks
        .list(&page(
            vec![in_project.clone()],
            vec![
                ("due_at", Direction::Ascending),
                ("title", Direction::Ascending),
            ],
        ))
        .await
        .expect("list");
    assert_eq!(titles(&by_due.items), ["c", "b", "a", "a", "d"]);
    let by_due_desc = stores
        .tasks
        .list(&page(
            vec![in_project.clone()],
            vec![
                ("due_at", Direction::Descending),
                ("title", Direction::Ascending),
            ],
        ))
        .await
        .expect("list");
    assert_eq!(titles(&by_due_desc.items), ["a", "d", "a", "b", "c"]);

    // Pages are stable and the total counts every match.
    let mut query = page(
        vec![in_project.clone()],
        vec![("priority", Direction::Ascending)],
    );
    query.limit = 2;
    query.count = true;
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        query.offset = offset;
        let page = stores.tasks.list(&query).await.expect("page");
        assert_eq!(page.total, Some(5));
        assert_eq!((page.limit, page.offset), (2, offset));
        seen.extend(page.items.into_iter().map(|t| t.id));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages neither repeat nor skip a task");
    query.offset = 5;
    assert!(
        stores
            .tasks
            .list(&query)
            .await
            .expect("page")
            .items
            .is_empty()
    );
}

async fn filter_values_carrying_sql_match_literally(stores: &Stores) {
    let project = project(stores, "injection").await;
    let hostile = [
        "it's",
        "'; DROP TABLE tasks; --",
        "100%",
        "a_b",
        "\" OR 1=1 --",
    ];
    for title in hostile {
        task(stores, &project, json!({"title": title})).await;
    }
    // Lookalikes that LIKE-style or injected matching would also return.
    for title in ["100", "100x", "aXb", "its"] {
        task(stores, &project, json!({"title": title})).await;
    }
    for title in hostile {
        let found = stores
            .tasks
            .list(&page(
                vec![
                    ("project_id", uuid_value(&project.id)),
                    ("title", FieldValue::Text(title.to_owned())),
                ],
                vec![],
            ))
            .await
            .expect("list");
        assert_eq!(found.items.len(), 1, "exactly `{title}`");
        assert_eq!(found.items[0].title, title);
    }
    for title in ["%", "_", "' OR '1'='1"] {
        let found = stores
            .tasks
            .list(&page(
                vec![("title", FieldValue::Text(title.to_owned()))],
                vec![],
            ))
            .await
            .expect("list");
        assert!(found.items.is_empty(), "`{title}` matches nothing");
    }
    // The table is still there.
    let all = stores
        .tasks
        .list(&page(vec![("project_id", uuid_value(&project.id))], vec![]))
        .await
        .expect("list");
    assert_eq!(all.items.len(), 9);
}

async fn unique_fields_and_keys_conflict(stores: &Stores) {
    let first = project(stores, "unique-a").await;
    let second = project(stores, "unique-b").await;
    let clash = create(
        &stores.projects,
        json!({"name": first.name, "owner_id": first.owner_id}),
    )
    .await;
    assert_eq!(
        clash.map(|p| p.id),
        Err(StoreError::Conflict {
            field: "name".to_owned()
        })
    );
    let name = first.name.clone();
    let renamed = stores
        .projects
        .update(
            &second.id,
            &cmmv::Scope::All,
            Box::new(move |p: &mut Project| p.name = name),
        )
        .await;
    assert_eq!(
        renamed.map(|p| p.id),
        Err(StoreError::Conflict {
            field: "name".to_owned()
        })
    );
    assert_eq!(
        stores
            .projects
            .get(&second.id, &cmmv::Scope::All)
            .await
            .map(|p| p.name),
        Ok(second.name.clone()),
        "a refused update changes nothing"
    );

    // Client-chosen keys.
    create(&stores.labels, json!({"slug": "urgent"}))
        .await
        .expect("label");
    let again = create(
        &stores.labels,
        json!({"slug": "urgent", "color": "#ff0000"}),
    )
    .await;
    assert_eq!(
        again.map(|l| l.slug),
        Err(StoreError::Conflict {
            field: "slug".to_owned()
        })
    );
}

async fn integer_keys_count_up(stores: &Stores) {
    let project = project(stores, "comments").await;
    let task = task(stores, &project, json!({"title": "Commented"})).await;
    let mut ids = Vec::new();
    for body in ["one", "two", "three"] {
        let comment = create(
            &stores.comments,
            json!({"task_id": task.id, "body": body, "author_id": null}),
        )
        .await
        .expect("comment");
        ids.push(comment.id);
    }
    assert!(
        ids.windows(2).all(|w| w[1] > w[0]),
        "keys increase: {ids:?}"
    );
    let read = stores
        .comments
        .get(&ids[1], &cmmv::Scope::All)
        .await
        .expect("stored");
    assert_eq!(read.body, "two");
}

async fn concurrent_updates_lose_nothing(stores: &Arc<Stores>) {
    let project = project(stores, "concurrent").await;
    let task = task(stores, &project, json!({"title": "Counter"})).await;
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let stores = stores.clone();
            let id = task.id;
            tokio::spawn(async move {
                stores
                    .tasks
                    .update(
                        &id,
                        &cmmv::Scope::All,
                        Box::new(|t: &mut Task| t.attachment_count += 1),
                    )
                    .await
                    .expect("update")
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
    let read = stores
        .tasks
        .get(&task.id, &cmmv::Scope::All)
        .await
        .expect("stored");
    assert_eq!(read.attachment_count, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    run_suite(Stores::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let (_dir, db) = sqlite_database().await;
    run_suite(Stores::database(&db)).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some(test_db) = TestDatabase::postgres("conformance").await else {
        return;
    };
    run_suite(Stores::database(&test_db.db)).await;
    test_db.drop().await;
}
