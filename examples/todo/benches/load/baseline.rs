//! The hand-written baselines of the load benchmark: what a careful developer writes without
//! CMMV. Both verify the bearer token with `jsonwebtoken` directly (the same claims and role
//! rule as the contract), decode bodies with serde, check the title by hand, and have no
//! middleware.

use std::path::Path as FilePath;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmmv::resource::Resource;
use cmmv::store::Store;
use cmmv::types::{DateTime, Uuid};
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use todo::api::Task;

use super::common::{AUDIENCE, ISSUER, SECRET};
use super::task_input;

/// The bearer-token check both baselines make.
#[derive(Clone)]
struct Auth {
    key: Arc<jsonwebtoken::DecodingKey>,
    validation: Arc<jsonwebtoken::Validation>,
}

#[derive(serde::Deserialize)]
struct Claims {
    #[allow(dead_code, reason = "required, as the generated service requires it")]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl Auth {
    fn new() -> Self {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        Auth {
            key: Arc::new(jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes())),
            validation: Arc::new(validation),
        }
    }

    /// A user or an admin, as the contract asks of both operations.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).is_ok_and(|data| {
            data.claims
                .roles
                .iter()
                .any(|role| role == "user" || role == "admin")
        })
    }
}

#[derive(serde::Deserialize)]
struct NewTask {
    project_id: Uuid,
    title: String,
    notes: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl NewTask {
    fn is_valid(&self) -> bool {
        !self.title.is_empty() && self.title.chars().count() <= 200 && self.tags.len() <= 10
    }
}

/// Plain axum over the same in-memory store as the generated service.
pub(crate) fn in_memory(store: Store<Task>) -> axum::Router {
    #[derive(Clone)]
    struct Shared {
        store: Store<Task>,
        auth: Auth,
    }

    async fn get_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Path(id): Path<Uuid>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        match shared.store.get(&id, &cmmv::Scope::All).await {
            Ok(task) => Json(task).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn create_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Json(new): Json<NewTask>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if !new.is_valid() {
            return StatusCode::UNPROCESSABLE_ENTITY.into_response();
        }
        let mut input = task_input(&new.title);
        input.project_id = new.project_id;
        input.notes = new.notes;
        input.tags = new.tags;
        let now = DateTime::now();
        match shared
            .store
            .insert(Box::new(move |sequence| {
                Task::create(Task::new_key(&input, sequence), input, now)
            }))
            .await
        {
            Ok(task) => (StatusCode::CREATED, Json(task)).into_response(),
            Err(_) => StatusCode::CONFLICT.into_response(),
        }
    }

    axum::Router::new()
        .route("/tasks", post(create_task))
        .route("/tasks/{id}", get(get_task))
        .with_state(Shared {
            store,
            auth: Auth::new(),
        })
}

/// A task as the SQL baseline reads and writes it: the row's columns, JSON columns parsed, as
/// the generated service answers it.
#[derive(serde::Serialize)]
struct TaskRow {
    id: String,
    project_id: String,
    title: String,
    notes: Option<String>,
    done: bool,
    priority: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimate_hours: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    story_points: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    tags: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    checklist: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
    attachment_count: i64,
    created_at: String,
    updated_at: String,
}

const SELECT_TASK: &str = r#"SELECT "id", "project_id", "title", "notes", "done", "priority", "due_at", "estimate_hours", "story_points", "confidence", "tags", "checklist", "metadata", "attachment_count", "created_at", "updated_at" FROM "tasks" WHERE "id" = ? AND "deleted_at" IS NULL"#;

const INSERT_TASK: &str = r#"INSERT INTO "tasks" ("id", "project_id", "title", "notes", "done", "priority", "tags", "attachment_count", "created_at", "updated_at") VALUES (?, ?, ?, ?, 0, 'normal', ?, 0, ?, ?)"#;

fn json_column(text: Option<String>) -> Result<Option<serde_json::Value>, sqlx::Error> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(e.into())))
        .transpose()
}

fn read_task(row: &sqlx::sqlite::SqliteRow) -> Result<TaskRow, sqlx::Error> {
    Ok(TaskRow {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        title: row.try_get("title")?,
        notes: row.try_get("notes")?,
        done: row.try_get("done")?,
        priority: row.try_get("priority")?,
        due_at: row.try_get("due_at")?,
        estimate_hours: row.try_get("estimate_hours")?,
        story_points: row.try_get("story_points")?,
        confidence: row.try_get("confidence")?,
        tags: json_column(row.try_get("tags")?)?.unwrap_or_default(),
        checklist: json_column(row.try_get("checklist")?)?,
        metadata: json_column(row.try_get("metadata")?)?,
        attachment_count: row.try_get("attachment_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// axum + sqlx on the SQLite file the generated service would use, with the same file
/// settings (WAL, `synchronous=FULL`, foreign keys, a 5 s busy timeout) and a pool of the
/// runtime's default size. Each POST is one `INSERT` committed on its own.
pub(crate) async fn on_sqlite(file: &FilePath) -> Result<axum::Router, String> {
    #[derive(Clone)]
    struct Shared {
        pool: SqlitePool,
        auth: Auth,
    }

    async fn get_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Path(id): Path<Uuid>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let row = sqlx::query(SELECT_TASK)
            .bind(id.to_string())
            .fetch_optional(&shared.pool)
            .await;
        match row.map(|row| row.as_ref().map(read_task).transpose()) {
            Ok(Ok(Some(task))) => Json(task).into_response(),
            Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }

    async fn create_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Json(new): Json<NewTask>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if !new.is_valid() {
            return StatusCode::UNPROCESSABLE_ENTITY.into_response();
        }
        let now = DateTime::now().to_string();
        let task = TaskRow {
            id: Uuid::now_v7().to_string(),
            project_id: new.project_id.to_string(),
            title: new.title,
            notes: new.notes,
            done: false,
            priority: "normal".to_owned(),
            due_at: None,
            estimate_hours: None,
            story_points: None,
            confidence: None,
            tags: serde_json::Value::from(new.tags),
            checklist: None,
            metadata: None,
            attachment_count: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        let inserted = sqlx::query(INSERT_TASK)
            .bind(&task.id)
            .bind(&task.project_id)
            .bind(&task.title)
            .bind(&task.notes)
            .bind(task.tags.to_string())
            .bind(&task.created_at)
            .bind(&task.updated_at)
            .execute(&shared.pool)
            .await;
        match inserted {
            Ok(_) => (StatusCode::CREATED, Json(task)).into_response(),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                StatusCode::UNPROCESSABLE_ENTITY.into_response()
            }
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }

    let options = SqliteConnectOptions::new()
        .filename(file)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await
        .map_err(|e| e.to_string())?;
    Ok(axum::Router::new()
        .route("/tasks", post(create_task))
        .route("/tasks/{id}", get(get_task))
        .with_state(Shared {
            pool,
            auth: Auth::new(),
        }))
}

/// A task as the PostgreSQL baseline reads and writes it: the columns' own types (UUID,
/// TIMESTAMPTZ, JSONB), serialized as the generated service answers them.
#[derive(serde::Serialize)]
struct PgTaskRow {
    id: Uuid,
    project_id: Uuid,
    title: String,
    notes: Option<String>,
    done: bool,
    priority: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimate_hours: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    story_points: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    tags: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    checklist: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
    attachment_count: i64,
    created_at: DateTime,
    updated_at: DateTime,
}

const PG_SELECT_TASK: &str = r#"SELECT "id", "project_id", "title", "notes", "done", "priority", "due_at", "estimate_hours", "story_points", "confidence", "tags", "checklist", "metadata", "attachment_count", "created_at", "updated_at" FROM "tasks" WHERE "id" = $1 AND "deleted_at" IS NULL"#;

const PG_INSERT_TASK: &str = r#"INSERT INTO "tasks" ("id", "project_id", "title", "notes", "done", "priority", "tags", "attachment_count", "created_at", "updated_at") VALUES ($1, $2, $3, $4, FALSE, 'normal', $5, 0, $6, $6)"#;

fn read_pg_task(row: &sqlx::postgres::PgRow) -> Result<PgTaskRow, sqlx::Error> {
    use sqlx::types::time::OffsetDateTime;
    Ok(PgTaskRow {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        title: row.try_get("title")?,
        notes: row.try_get("notes")?,
        done: row.try_get("done")?,
        priority: row.try_get("priority")?,
        due_at: row
            .try_get::<Option<OffsetDateTime>, _>("due_at")?
            .map(DateTime),
        estimate_hours: row.try_get("estimate_hours")?,
        story_points: row.try_get("story_points")?,
        confidence: row.try_get("confidence")?,
        tags: row.try_get("tags")?,
        checklist: row.try_get("checklist")?,
        metadata: row.try_get("metadata")?,
        attachment_count: row.try_get("attachment_count")?,
        created_at: DateTime(row.try_get("created_at")?),
        updated_at: DateTime(row.try_get("updated_at")?),
    })
}

/// axum + sqlx on PostgreSQL, as a careful developer writes it: a pool of the runtime's
/// default size (ten), prepared statements (sqlx caches them per connection), one `SELECT` by
/// key per GET, one `INSERT` committed on its own per POST.
pub(crate) async fn on_postgres(url: &str) -> Result<axum::Router, String> {
    #[derive(Clone)]
    struct Shared {
        pool: sqlx::PgPool,
        auth: Auth,
    }

    async fn get_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Path(id): Path<Uuid>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let row = sqlx::query(PG_SELECT_TASK)
            .bind(id)
            .fetch_optional(&shared.pool)
            .await;
        match row.map(|row| row.as_ref().map(read_pg_task).transpose()) {
            Ok(Ok(Some(task))) => Json(task).into_response(),
            Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }

    async fn create_task(
        State(shared): State<Shared>,
        headers: HeaderMap,
        Json(new): Json<NewTask>,
    ) -> Response {
        if !shared.auth.authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if !new.is_valid() {
            return StatusCode::UNPROCESSABLE_ENTITY.into_response();
        }
        let now = DateTime::now();
        let task = PgTaskRow {
            id: Uuid::now_v7(),
            project_id: new.project_id,
            title: new.title,
            notes: new.notes,
            done: false,
            priority: "normal".to_owned(),
            due_at: None,
            estimate_hours: None,
            story_points: None,
            confidence: None,
            tags: serde_json::Value::from(new.tags),
            checklist: None,
            metadata: None,
            attachment_count: 0,
            created_at: now,
            updated_at: now,
        };
        let inserted = sqlx::query(PG_INSERT_TASK)
            .bind(task.id)
            .bind(task.project_id)
            .bind(&task.title)
            .bind(&task.notes)
            .bind(sqlx::types::Json(&task.tags))
            .bind(now.0)
            .execute(&shared.pool)
            .await;
        match inserted {
            Ok(_) => (StatusCode::CREATED, Json(task)).into_response(),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                StatusCode::UNPROCESSABLE_ENTITY.into_response()
            }
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(axum::Router::new()
        .route("/tasks", post(create_task))
        .route("/tasks/{id}", get(get_task))
        .with_state(Shared {
            pool,
            auth: Auth::new(),
        }))
}
