//! SQLite's single writer (`runtime/src/sql/writer.rs`) over HTTP, on real files: writes that
//! queue together commit in one transaction and fail one by one, a full queue answers 503
//! problems at once, writes that outwait the database timeout answer 503 rather than hang, a
//! panicking write fails alone, and a read after an acknowledged write sees it, though reads
//! and writes use different connections.
//!
//! To make writes queue up, a connection of the test's own holds SQLite's write lock: the
//! writer's next transaction waits for it (its busy timeout) and every write sent meanwhile
//! waits in the queue. The writer's counters (`Database::writer_stats`) say when they are
//! there and how they were committed.

use std::time::Duration;

use cmmv::sql::{Database, DatabaseSettings, WriterStats};
use cmmv::types::Uuid;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::runtime_support::Served;
use crate::store_conformance::{Stores, user};
use crate::store_support::{
    Answer, Raw, assert_no_database_text, call, call_url, serve, sqlite_configured,
};

fn stats(db: &Database) -> WriterStats {
    db.writer_stats().expect("a SQLite database has a writer")
}

/// Waits (half a minute at most) until the writer's counters satisfy `ready`.
async fn wait_for(db: &Database, what: &str, ready: impl Fn(&WriterStats) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = stats(db);
        if ready(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends a request from a task of its own, so that several are in flight at once.
/// A 503 problem that asks to retry in a second and names none of `internals`.
fn assert_retry_later(answer: &Answer, internals: &[&str]) {
    answer.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("1"), "{}", answer.text);
    assert_no_database_text(&answer.text, internals);
}

fn send(served: &Served, method: Method, path: &str, body: Option<Value>) -> JoinHandle<Answer> {
    tokio::spawn(call_url(served.url(path), method, body))
}

/// Holds SQLite's write lock from another connection; the writer's first write then waits in
/// `BEGIN IMMEDIATE`. Returns the holder (release it with `ROLLBACK`) and that first write.
async fn hold_the_writer(
    db: &Database,
    file: &std::path::Path,
    served: &Served,
    first: (&str, Value),
) -> (Raw, JoinHandle<Answer>) {
    let mut holder = Raw::sqlite(file).await;
    holder.execute("BEGIN IMMEDIATE").await;
    let taken = stats(db).received;
    let first = send(served, Method::POST, first.0, Some(first.1));
    wait_for(db, "the writer to take the first write", |s| {
        s.received > taken && s.queued == 0
    })
    .await;
    (holder, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_batch_commits_its_writes_and_fails_only_the_broken_ones() {
    // A generous timeout: the writer waits for the test's lock, not the other way round.
    let (_dir, file, db) = sqlite_configured(|url| DatabaseSettings {
        acquire_timeout: Duration::from_secs(30),
        ..DatabaseSettings::new(url)
    })
    .await;
    let stores = Stores::database(&db);
    let owner = user(&stores, "owner@example.com").await.expect("the owner");
    let served = serve(&db).await;
    let project = |name: &str, owner: Uuid| json!({"name": name, "owner_id": owner});

    let (mut holder, first) = hold_the_writer(
        &db,
        &file,
        &served,
        ("/v1/projects", project("Held first", owner.id)),
    )
    .await;
    let before = stats(&db);
    // Six writes queue behind the held one: three good, a second `Bravo` (the name is unique),
    // a project whose owner does not exist, and a good one after them.
    let bodies = [
        project("Alpha", owner.id),
        project("Bravo", owner.id),
        project("Charlie", owner.id),
        project("Bravo", owner.id),
        project("Orphan", Uuid::now_v7()),
        project("Echo", owner.id),
    ];
    let sent: Vec<_> = bodies
        .iter()
        .map(|body| send(&served, Method::POST, "/v1/projects", Some(body.clone())))
        .collect();
    wait_for(&db, "six queued writes", |s| s.queued == 6).await;
    holder.execute("ROLLBACK").await;

    let held = first.await.expect("the first write's task");
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text);
    let mut answers = Vec::new();
    for request in sent {
        answers.push(request.await.expect("a write's task"));
    }
    let after = stats(&db);

    // The two `Bravo`s: one is created, the other is a 409 problem naming the field.
    let bravos: Vec<&Answer> = [&answers[1], &answers[3]].into_iter().collect();
    let created = bravos
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "one Bravo is created");
    let conflict = bravos
        .iter()
        .find(|a| a.status == StatusCode::CONFLICT)
        .expect("the other Bravo conflicts");
    let body = conflict.problem(StatusCode::CONFLICT);
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("name"),
        "{}",
        conflict.text
    );
    // The missing owner: a 422 problem with a reference failure (SQLite does not say which
    // column, so neither can the problem).
    let orphan = &answers[4];
    orphan.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let rules: Vec<String> = orphan
        .failures()
        .into_iter()
        .map(|(_, rule)| rule)
        .collect();
    assert_eq!(rules, ["reference"], "{}", orphan.text);
    for failed in [conflict, &answers[4]] {
        assert_no_database_text(&failed.text, &[]);
    }
    // Everything else is created, and readable.
    for (i, answer) in answers.iter().enumerate() {
        if [1, 3, 4].contains(&i) {
            continue;
        }
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }
    for answer in answers
        .iter()
        .chain([&held])
        .filter(|a| a.status == StatusCode::CREATED)
    {
        let id = answer.body["id"].as_str().expect("an id");
        let read = call(&served, Method::GET, &format!("/v1/projects/{id}"), None).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.body["name"], answer.body["name"]);
    }

    // One commit for the held write, ONE for the six queued behind it: four kept, two failed.
    assert_eq!(after.commits - before.commits, 2, "{before:?} -> {after:?}");
    assert_eq!(
        after.committed - before.committed,
        5,
        "{before:?} -> {after:?}"
    );
    assert_eq!(after.failed - before.failed, 2, "{before:?} -> {after:?}");
    assert!(after.largest_batch >= 4, "{after:?}");

    let mut raw = Raw::sqlite(&file).await;
    assert_eq!(
        raw.integer("SELECT COUNT(*) FROM \"projects\" WHERE \"name\" = 'Bravo'")
            .await,
        1
    );
    assert_eq!(raw.integer("SELECT COUNT(*) FROM \"projects\"").await, 5);
    raw.close().await;
    holder.close().await;
    served.shutdown().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_full_write_queue_is_a_503_problem_at_once() {
    // Two writes may wait; one commit at a time.
    let (_dir, file, db) = sqlite_configured(|url| DatabaseSettings {
        acquire_timeout: Duration::from_secs(30),
        write_queue: 2,
        write_batch: 1,
        ..DatabaseSettings::new(url)
    })
    .await;
    let served = serve(&db).await;
    let label = |slug: &str| json!({"slug": slug});

    let (mut holder, first) =
        hold_the_writer(&db, &file, &served, ("/v1/labels", label("held"))).await;
    let queued: Vec<_> = ["queued-1", "queued-2"]
        .iter()
        .map(|slug| send(&served, Method::POST, "/v1/labels", Some(label(slug))))
        .collect();
    wait_for(&db, "a full queue", |s| s.queued == 2).await;

    // The queue is full and the writer still held: refused now, not after a wait.
    for slug in ["over-1", "over-2", "over-3"] {
        let refused = tokio::time::timeout(
            Duration::from_secs(5),
            call(&served, Method::POST, "/v1/labels", Some(label(slug))),
        )
        .await
        .expect("a full queue answers at once");
        assert_retry_later(&refused, &["queue"]);
    }
    assert!(stats(&db).refused >= 3, "{:?}", stats(&db));

    holder.execute("ROLLBACK").await;
    let held = first.await.expect("the first write's task");
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.text);
    for request in queued {
        let answer = request.await.expect("a queued write's task");
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }
    // What was refused was not written; the queue takes writes again.
    let gone = call(&served, Method::GET, "/v1/labels/over-1", None).await;
    gone.problem(StatusCode::NOT_FOUND);
    let again = call(&served, Method::POST, "/v1/labels", Some(label("over-1"))).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);

    holder.close().await;
    served.shutdown().await;
    db.close().await;
}

/// A write lock held elsewhere for longer than the database timeout: the write waiting on it
/// and those queued behind it are answered 503 (retry later) once the timeout has passed,
/// not held until the lock goes, and none of them is stored; afterwards writes commit again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_that_outwait_the_timeout_are_503_problems() {
    let timeout = Duration::from_millis(400);
    let (_dir, file, db) = sqlite_configured(|url| DatabaseSettings {
        acquire_timeout: timeout,
        write_batch: 1,
        ..DatabaseSettings::new(url)
    })
    .await;
    let served = serve(&db).await;
    let label = |slug: &str| json!({"slug": slug});

    let (mut holder, first) =
        hold_the_writer(&db, &file, &served, ("/v1/labels", label("held"))).await;
    let queued: Vec<_> = ["late-1", "late-2"]
        .iter()
        .map(|slug| send(&served, Method::POST, "/v1/labels", Some(label(slug))))
        .collect();
    // Every one is answered while the lock is still held: the timeout bounds the wait.
    for request in std::iter::once(first).chain(queued) {
        let answer = tokio::time::timeout(Duration::from_secs(20), request)
            .await
            .expect("answered while the lock is still held")
            .expect("the write's task");
        assert_retry_later(&answer, &["locked", "busy"]);
    }

    holder.execute("ROLLBACK").await;
    for slug in ["held", "late-1", "late-2"] {
        let gone = call(&served, Method::GET, &format!("/v1/labels/{slug}"), None).await;
        gone.problem(StatusCode::NOT_FOUND);
    }
    let again = call(&served, Method::POST, "/v1/labels", Some(label("late-1"))).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);

    holder.close().await;
    served.shutdown().await;
    db.close().await;
}

/// Writes go through the writer's connection, reads through the read-only pool: a read sent
/// after a write was acknowledged sees it, whichever connection serves it. Several clients at
/// once, each creating, reading, replacing, reading, deleting and reading its own labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_see_every_acknowledged_write() {
    const CLIENTS: usize = 4;
    const LABELS: usize = 15;
    let (_dir, _file, db) = sqlite_configured(DatabaseSettings::new).await;
    let served = serve(&db).await;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let url = |path: String| served.url(&path);
        let (collection, item) = (url("/v1/labels".to_owned()), url("/v1/labels/".to_owned()));
        clients.push(tokio::spawn(async move {
            for i in 0..LABELS {
                let slug = format!("ryw-{c}-{i}");
                let one = format!("{item}{slug}");
                let created = call_url(
                    collection.clone(),
                    Method::POST,
                    Some(json!({"slug": slug, "color": "#112233"})),
                )
                .await;
                assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
                let read = call_url(one.clone(), Method::GET, None).await;
                assert_eq!(
                    read.status,
                    StatusCode::OK,
                    "created, then read: {}",
                    read.text
                );
                assert_eq!(read.body, created.body);

                let replaced = call_url(
                    one.clone(),
                    Method::PUT,
                    Some(json!({"slug": slug, "color": "#445566"})),
                )
                .await;
                assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
                let read = call_url(one.clone(), Method::GET, None).await;
                assert_eq!(read.body["color"], "#445566", "replaced, then read");

                let deleted = call_url(one.clone(), Method::DELETE, None).await;
                assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
                let read = call_url(one, Method::GET, None).await;
                assert_eq!(read.status, StatusCode::NOT_FOUND, "deleted, then read");
            }
        }));
    }
    for client in clients {
        client
            .await
            .expect("a client finishes without a failed check");
    }
    served.shutdown().await;
    db.close().await;
}

/// A write that panics (a bug in a hand-written change) fails that write alone, with an
/// internal error and nothing of it stored; the writer goes on taking writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_panicking_write_fails_alone_and_the_writer_goes_on() {
    let (_dir, _file, db) = sqlite_configured(DatabaseSettings::new).await;
    let stores = Stores::database(&db);
    let project = crate::store_conformance::project(&stores, "panic").await;
    let task = crate::store_conformance::task(&stores, &project, json!({"title": "Before"})).await;

    let panicked = stores
        .tasks
        .update(
            &task.id,
            &cmmv::Scope::All,
            Box::new(|t: &mut todo::api::Task| {
                t.title = "Half-way".to_owned();
                panic!("a bug in a change");
            }),
        )
        .await;
    assert!(
        matches!(&panicked, Err(cmmv::store::StoreError::Internal(cause)) if cause.message() == "a write panicked"),
        "{panicked:?}"
    );
    let read = stores
        .tasks
        .get(&task.id, &cmmv::Scope::All)
        .await
        .expect("the task is still there");
    assert_eq!(
        read.title, "Before",
        "nothing of the panicking write is stored"
    );

    // The writer is alive: the next writes commit.
    let after = stores
        .tasks
        .update(
            &task.id,
            &cmmv::Scope::All,
            Box::new(|t: &mut todo::api::Task| t.title = "After".to_owned()),
        )
        .await
        .expect("the writer takes writes after a panic");
    assert_eq!(after.title, "After");
    assert!(db.check().await.is_ok(), "readiness still passes");
}
