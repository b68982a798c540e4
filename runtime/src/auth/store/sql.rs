//! The auth store in the app's SQL database, SQLite or PostgreSQL.
//!
//! The tables belong to the runtime, not to a contract: they are created by [`AUTH_MIGRATIONS`],
//! recorded in `_cmmv_auth_migrations` so their versions never collide with the contracts'.
//! Every statement is the same text on both databases (`$n` placeholders, which SQLite reads
//! too; times as integer Unix seconds; hashes and ids as text).
//!
//! Every write goes through [`Database::write`]: on SQLite, the single writer's group commit
//! (one savepoint per write), on PostgreSQL a transaction per write; reads use the read pool.
//!
//! Rotation is one conditional `UPDATE ... WHERE used_at IS NULL ... RETURNING` inside a
//! write transaction: PostgreSQL's row lock makes a concurrent rotation of the same token wait
//! and then find it used; SQLite's single writer runs writes one after the other outright.
//! Either way, exactly one of two concurrent refreshes with one token rotates it, and the
//! other is treated as reuse.

use sqlx::Row as _;

use super::{
    ApiKey, AuthStore, BoxFuture, Identity, NewApiKey, NewConfirmation, NewGrant, NewRefreshToken,
    NewUser, Rotation, Session, SessionClient, StoredApiKey, Unlink, User, UserCredentials,
};
use crate::sql::{Changes, Conn, Database, DatabaseError, Migration};
use crate::store::StoreError;

/// The login module's tables: one text that SQLite and PostgreSQL both accept.
pub const AUTH_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "auth users, refresh tokens and api keys",
        sqlite: SCHEMA_V1,
        postgres: SCHEMA_V1,
    },
    Migration {
        version: 2,
        name: "auth account confirmation",
        sqlite: SCHEMA_V2,
        postgres: SCHEMA_V2,
    },
    Migration {
        version: 3,
        name: "auth sessions",
        sqlite: SCHEMA_V3,
        postgres: SCHEMA_V3,
    },
    Migration {
        version: 4,
        name: "auth provider identities and one-time grants",
        sqlite: SCHEMA_V4,
        postgres: SCHEMA_V4,
    },
];

/// Identities at OAuth / OpenID Connect providers, and the one-time grants of their flows.
/// No account before this one proved its email (a confirmed one did, but nothing recorded it
/// apart from `confirmed_at`, which accounts that signed up at once have too), so none counts
/// as verified. An account without a password keeps `password_hash` empty: the column is
/// `NOT NULL` since version 1, which SQLite cannot change in place, and no PHC string is empty.
const SCHEMA_V4: &str = r#"
ALTER TABLE "cmmv_auth_users" ADD COLUMN "email_verified_at" BIGINT;
CREATE TABLE "cmmv_auth_identities" (
    "provider" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "user_id" TEXT NOT NULL REFERENCES "cmmv_auth_users" ("id") ON DELETE CASCADE,
    "email" TEXT,
    "email_verified" BOOLEAN NOT NULL,
    "name" TEXT,
    "avatar_url" TEXT,
    "linked_at" BIGINT NOT NULL,
    "last_login_at" BIGINT NOT NULL,
    PRIMARY KEY ("provider", "subject")
);
CREATE INDEX "cmmv_auth_identities_user_id" ON "cmmv_auth_identities" ("user_id");
CREATE TABLE "cmmv_auth_grants" (
    "hash" TEXT PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "expires_at" BIGINT NOT NULL
);
CREATE INDEX "cmmv_auth_grants_expires_at" ON "cmmv_auth_grants" ("expires_at");
"#;

/// What a session's owner sees of it: when it was last used and where it was started from.
/// The sessions before this one were last used, as far as anyone knows, when they started.
const SCHEMA_V3: &str = r#"
ALTER TABLE "cmmv_auth_refresh_families" ADD COLUMN "last_used_at" BIGINT;
ALTER TABLE "cmmv_auth_refresh_families" ADD COLUMN "client_ip" TEXT;
ALTER TABLE "cmmv_auth_refresh_families" ADD COLUMN "user_agent" TEXT;
UPDATE "cmmv_auth_refresh_families" SET "last_used_at" = "created_at";
"#;

/// Accounts that wait for their email's confirmation. Every account before this one could
/// sign in, so each counts as confirmed when it was created.
const SCHEMA_V2: &str = r#"
ALTER TABLE "cmmv_auth_users" ADD COLUMN "confirmed_at" BIGINT;
UPDATE "cmmv_auth_users" SET "confirmed_at" = "created_at";
CREATE TABLE "cmmv_auth_confirmations" (
    "hash" TEXT PRIMARY KEY,
    "user_id" TEXT NOT NULL REFERENCES "cmmv_auth_users" ("id") ON DELETE CASCADE,
    "expires_at" BIGINT NOT NULL
);
CREATE INDEX "cmmv_auth_confirmations_user_id" ON "cmmv_auth_confirmations" ("user_id");
"#;

const SCHEMA_V1: &str = r#"
CREATE TABLE "cmmv_auth_users" (
    "id" TEXT PRIMARY KEY,
    "email" TEXT NOT NULL UNIQUE,
    "password_hash" TEXT NOT NULL,
    "roles" TEXT NOT NULL,
    "created_at" BIGINT NOT NULL
);
CREATE TABLE "cmmv_auth_refresh_families" (
    "id" TEXT PRIMARY KEY,
    "user_id" TEXT NOT NULL REFERENCES "cmmv_auth_users" ("id") ON DELETE CASCADE,
    "created_at" BIGINT NOT NULL,
    "revoked_at" BIGINT
);
CREATE INDEX "cmmv_auth_refresh_families_user_id" ON "cmmv_auth_refresh_families" ("user_id");
CREATE TABLE "cmmv_auth_refresh_tokens" (
    "hash" TEXT PRIMARY KEY,
    "family_id" TEXT NOT NULL REFERENCES "cmmv_auth_refresh_families" ("id") ON DELETE CASCADE,
    "user_id" TEXT NOT NULL,
    "expires_at" BIGINT NOT NULL,
    "used_at" BIGINT
);
CREATE INDEX "cmmv_auth_refresh_tokens_family_id" ON "cmmv_auth_refresh_tokens" ("family_id");
CREATE TABLE "cmmv_api_keys" (
    "id" TEXT PRIMARY KEY,
    "prefix" TEXT NOT NULL UNIQUE,
    "hash" TEXT NOT NULL,
    "user_id" TEXT NOT NULL REFERENCES "cmmv_auth_users" ("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL,
    "roles" TEXT NOT NULL,
    "last4" TEXT NOT NULL,
    "created_at" BIGINT NOT NULL,
    "expires_at" BIGINT,
    "revoked_at" BIGINT
);
CREATE INDEX "cmmv_api_keys_user_id" ON "cmmv_api_keys" ("user_id");
"#;

/// Runs `$body` with `$pool` bound to the database's pool for reading (SQLite's read-only
/// pool, or PostgreSQL's), whichever kind it is. The body is the same text for both; the
/// compiler checks it once per driver.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match ($db.sqlite_pool(), $db.postgres_pool()) {
            (Some($pool), _) => $body,
            (None, Some($pool)) => $body,
            (None, None) => Err(StoreError::Internal("the database has no pool".into())),
        }
    };
}

/// One atomic write: `$body` runs with `$tx` bound to the write's connection (SQLite's writer,
/// in a savepoint of its next group commit; a PostgreSQL transaction), and its `Ok` is
/// durable once this returns. An `Err` undoes the body's statements and nothing else. The body
/// owns what it uses (it may run on the writer's task) and is the same text for both drivers.
macro_rules! on_write {
    ($db:expr, |$tx:ident| $body:expr) => {
        $db.write(Changes::Several, move |conn| {
            Box::pin(async move {
                match conn {
                    Conn::Sqlite($tx) => $body,
                    Conn::Postgres($tx) => $body,
                }
            })
        })
    };
}

/// Users, token families and API keys in tables of the app's database.
#[derive(Debug, Clone)]
pub struct SqlAuthStore {
    db: Database,
}

impl SqlAuthStore {
    /// The store over `db`, after applying [`AUTH_MIGRATIONS`] (a no-op when current).
    pub async fn open(db: Database) -> Result<Self, DatabaseError> {
        db.migrate_component("auth", AUTH_MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The user whose `column` (a unique one: `id` or `email`) equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let sql = format!(r#"SELECT {USER_COLUMNS} FROM "cmmv_auth_users" WHERE "{column}" = $1"#);
        on_pool!(self.db, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .fetch_optional(pool)
                .await
                .map_err(failed)?;
            row.map(|row| read_user(&row)).transpose().map_err(failed)
        })
    }
}

impl SqlAuthStore {
    /// Sets one text column of user `id`; `NotFound` without the user.
    async fn set_user_column(
        &self,
        id: &str,
        column: &'static str,
        value: String,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        let sql = format!(r#"UPDATE "cmmv_auth_users" SET "{column}" = $1 WHERE "id" = $2"#);
        on_write!(self.db, |tx| {
            let changed = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&value)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(failed)?
                .rows_affected();
            if changed == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }
}

const USER_COLUMNS: &str =
    r#""id", "email", "roles", "created_at", "confirmed_at", "email_verified_at", "password_hash""#;

fn read_user(row: &impl RowLike) -> Result<UserCredentials, sqlx::Error> {
    Ok(UserCredentials {
        user: User {
            id: row.text("id")?,
            email: row.text("email")?,
            roles: roles_from_text(&row.text("roles")?)?,
            created_at: row.int("created_at")?,
            confirmed: row.optional_int("confirmed_at")?.is_some(),
            email_verified: row.optional_int("email_verified_at")?.is_some(),
        },
        password_hash: Some(row.text("password_hash")?).filter(|hash| !hash.is_empty()),
    })
}

const IDENTITY_COLUMNS: &str = r#""provider", "subject", "user_id", "email", "email_verified", "name", "avatar_url", "linked_at", "last_login_at""#;

fn read_identity(row: &impl RowLike) -> Result<Identity, sqlx::Error> {
    Ok(Identity {
        provider: row.text("provider")?,
        subject: row.text("subject")?,
        user_id: row.text("user_id")?,
        email: row.optional_text("email")?,
        email_verified: row.flag("email_verified")?,
        name: row.optional_text("name")?,
        avatar_url: row.optional_text("avatar_url")?,
        linked_at: row.int("linked_at")?,
        last_login_at: row.int("last_login_at")?,
    })
}

/// Stores `$identity` on the write's connection `$tx` (a macro for the same reason as
/// `insert_confirmation!`); a taken (provider, subject) is a conflict on `subject`.
macro_rules! insert_identity {
    ($tx:expr, $identity:expr) => {
        sqlx::query(
            r#"INSERT INTO "cmmv_auth_identities" ("provider", "subject", "user_id", "email", "email_verified", "name", "avatar_url", "linked_at", "last_login_at") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        )
        .bind(&$identity.provider)
        .bind(&$identity.subject)
        .bind(&$identity.user_id)
        .bind($identity.email.as_deref())
        .bind($identity.email_verified)
        .bind($identity.name.as_deref())
        .bind($identity.avatar_url.as_deref())
        .bind($identity.linked_at)
        .bind($identity.last_login_at)
        .execute(&mut *$tx)
        .await
        .map_err(|e| classify(e, "subject"))?
    };
}

const API_KEY_COLUMNS: &str = r#"k."id", k."prefix", k."user_id", k."name", k."roles", k."last4", k."created_at", k."expires_at", k."hash", k."revoked_at", u."roles" AS "owner_roles""#;

fn read_api_key(row: &impl RowLike) -> Result<StoredApiKey, sqlx::Error> {
    Ok(StoredApiKey {
        key: ApiKey {
            id: row.text("id")?,
            prefix: row.text("prefix")?,
            user_id: row.text("user_id")?,
            name: row.text("name")?,
            roles: roles_from_text(&row.text("roles")?)?,
            last4: row.text("last4")?,
            created_at: row.int("created_at")?,
            expires_at: row.optional_int("expires_at")?,
        },
        hash: row.text("hash")?,
        revoked: row.optional_int("revoked_at")?.is_some(),
        owner_roles: roles_from_text(&row.text("owner_roles")?)?,
    })
}

/// Column access shared by both drivers' rows.
trait RowLike {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn optional_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
}

macro_rules! row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn optional_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn optional_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

row_like!(sqlx::sqlite::SqliteRow);
row_like!(sqlx::postgres::PgRow);

/// Roles are stored as a JSON array of strings: any role name survives the round trip.
fn roles_to_text(roles: &[String]) -> String {
    serde_json::Value::from(roles.to_vec()).to_string()
}

fn roles_from_text(text: &str) -> Result<Vec<String>, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// A driver error as the store reports it: a broken unique constraint is a conflict on
/// `field`, an unreachable or overloaded database is unavailability (503), anything else
/// internal. Driver messages are logged by [`StoreError::into_problem`], never shown.
fn classify(error: sqlx::Error, field: &str) -> StoreError {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            field: field.to_owned(),
        },
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::MissingReference {
                field: Some("user_id".to_owned()),
            }
        }
        other => crate::sql::unavailable_or_internal(other),
    }
}

/// Stores a pending account's confirmation token on the write's connection `$tx` (a macro, not
/// a function: the two drivers' connections are different types).
macro_rules! insert_confirmation {
    ($tx:expr, $user_id:expr, $confirmation:expr) => {
        sqlx::query(
            r#"INSERT INTO "cmmv_auth_confirmations" ("hash", "user_id", "expires_at") VALUES ($1, $2, $3)"#,
        )
        .bind(&$confirmation.hash)
        .bind($user_id)
        .bind($confirmation.expires_at)
        .execute(&mut *$tx)
        .await
        .map_err(|e| classify(e, "hash"))?
    };
}

/// Errors of statements where no constraint can break.
fn failed(error: sqlx::Error) -> StoreError {
    classify(error, "id")
}

impl AuthStore for SqlAuthStore {
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User, StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            let roles = roles_to_text(&user.roles);
            let confirmed_at = user.confirmation.is_none().then_some(user.created_at);
            let email_verified_at = user.email_verified.then_some(user.created_at);
            sqlx::query(
                r#"INSERT INTO "cmmv_auth_users" ("id", "email", "password_hash", "roles", "created_at", "confirmed_at", "email_verified_at") VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(user.password_hash.as_deref().unwrap_or_default())
            .bind(&roles)
            .bind(user.created_at)
            .bind(confirmed_at)
            .bind(email_verified_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "email"))?;
            if let Some(confirmation) = &user.confirmation {
                insert_confirmation!(tx, &user.id, confirmation);
            }
            if let Some(identity) = &user.identity {
                insert_identity!(tx, identity);
            }
            Ok(User {
                id: user.id,
                email: user.email,
                roles: user.roles,
                created_at: user.created_at,
                confirmed: confirmed_at.is_some(),
                email_verified: user.email_verified,
            })
        }))
    }

    fn restart_confirmation<'a>(
        &'a self,
        email: &'a str,
        password_hash: String,
        confirmation: NewConfirmation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let email = email.to_owned();
        Box::pin(on_write!(self.db, |tx| {
            let pending = sqlx::query(
                r#"UPDATE "cmmv_auth_users" SET "password_hash" = $1
                   WHERE "email" = $2 AND "confirmed_at" IS NULL RETURNING "id""#,
            )
            .bind(&password_hash)
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
            let Some(row) = pending else {
                return Ok(false);
            };
            let id = row.text("id").map_err(failed)?;
            sqlx::query(r#"DELETE FROM "cmmv_auth_confirmations" WHERE "user_id" = $1"#)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            insert_confirmation!(tx, &id, confirmation);
            Ok(true)
        }))
    }

    fn confirm<'a>(
        &'a self,
        presented: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        let presented = presented.to_owned();
        Box::pin(async move {
            let confirmed = on_write!(self.db, |tx| {
                // Spent whether live or not: a token is looked at once.
                let spent = sqlx::query(
                    r#"DELETE FROM "cmmv_auth_confirmations" WHERE "hash" = $1
                       RETURNING "user_id", "expires_at""#,
                )
                .bind(&presented)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed)?;
                let live = match spent {
                    Some(row) if row.int("expires_at").map_err(failed)? > now => {
                        Some(row.text("user_id").map_err(failed)?)
                    }
                    _ => None,
                };
                if let Some(id) = &live {
                    sqlx::query(
                        r#"UPDATE "cmmv_auth_users" SET "confirmed_at" = $1, "email_verified_at" = $1 WHERE "id" = $2 AND "confirmed_at" IS NULL"#,
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                }
                Ok::<_, StoreError>(live)
            })
            .await?;
            // Committed before this read: the read pool sees it.
            match confirmed {
                Some(id) => self.user(&id).await,
                None => Ok(None),
            }
        })
    }

    fn user_by_email<'a>(
        &'a self,
        email: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCredentials>, StoreError>> {
        Box::pin(self.user_where("email", email))
    }

    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(async move {
            let found = self.user_where("id", id).await?;
            Ok(found.map(|credentials| credentials.user))
        })
    }

    fn set_roles<'a>(
        &'a self,
        id: &'a str,
        roles: Vec<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.set_user_column(id, "roles", roles_to_text(&roles)))
    }

    fn start_family<'a>(
        &'a self,
        family_id: &'a str,
        user_id: &'a str,
        first: NewRefreshToken,
        client: SessionClient,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (family_id, user_id) = (family_id.to_owned(), user_id.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            sqlx::query(
                r#"INSERT INTO "cmmv_auth_refresh_families" ("id", "user_id", "created_at", "last_used_at", "client_ip", "user_agent") VALUES ($1, $2, $3, $3, $4, $5)"#,
            )
            .bind(&family_id)
            .bind(&user_id)
            .bind(now)
            .bind(client.ip.as_deref())
            .bind(client.user_agent.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "id"))?;
            sqlx::query(
                r#"INSERT INTO "cmmv_auth_refresh_tokens" ("hash", "family_id", "user_id", "expires_at") VALUES ($1, $2, $3, $4)"#,
            )
            .bind(&first.hash)
            .bind(&family_id)
            .bind(&user_id)
            .bind(first.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "hash"))?;
            Ok(())
        }))
    }

    fn rotate<'a>(
        &'a self,
        presented: &'a str,
        next: NewRefreshToken,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        let presented = presented.to_owned();
        Box::pin(on_write!(self.db, |tx| {
            let current = sqlx::query(
                r#"UPDATE "cmmv_auth_refresh_tokens" SET "used_at" = $1
                   WHERE "hash" = $2 AND "used_at" IS NULL AND "expires_at" > $1
                     AND "family_id" IN (SELECT "id" FROM "cmmv_auth_refresh_families" WHERE "revoked_at" IS NULL AND "created_at" > $3)
                   RETURNING "family_id", "user_id""#,
            )
            .bind(now)
            .bind(&presented)
            .bind(started_after)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
            if let Some(row) = current {
                let family_id = row.text("family_id").map_err(failed)?;
                let user_id = row.text("user_id").map_err(failed)?;
                sqlx::query(
                    r#"INSERT INTO "cmmv_auth_refresh_tokens" ("hash", "family_id", "user_id", "expires_at") VALUES ($1, $2, $3, $4)"#,
                )
                .bind(&next.hash)
                .bind(&family_id)
                .bind(&user_id)
                .bind(next.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| classify(e, "hash"))?;
                sqlx::query(
                    r#"UPDATE "cmmv_auth_refresh_families" SET "last_used_at" = $1 WHERE "id" = $2"#,
                )
                .bind(now)
                .bind(&family_id)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
                return Ok(Rotation::Rotated { user_id, family_id });
            }
            // Not current: find out whether it was used before (reuse: revoke the family, in
            // the same transaction) or is unknown, expired or revoked.
            let used = sqlx::query(
                r#"SELECT "family_id", "user_id" FROM "cmmv_auth_refresh_tokens" WHERE "hash" = $1 AND "used_at" IS NOT NULL"#,
            )
            .bind(&presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
            match used {
                Some(row) => {
                    let family_id = row.text("family_id").map_err(failed)?;
                    let user_id = row.text("user_id").map_err(failed)?;
                    sqlx::query(
                        r#"UPDATE "cmmv_auth_refresh_families" SET "revoked_at" = $1 WHERE "id" = $2 AND "revoked_at" IS NULL"#,
                    )
                    .bind(now)
                    .bind(&family_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                    Ok(Rotation::Reused { user_id, family_id })
                }
                None => Ok(Rotation::Invalid),
            }
        }))
    }

    fn revoke_family<'a>(
        &'a self,
        presented: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let presented = presented.to_owned();
        Box::pin(on_write!(self.db, |tx| {
            let family = sqlx::query(
                r#"SELECT "family_id" FROM "cmmv_auth_refresh_tokens" WHERE "hash" = $1"#,
            )
            .bind(&presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
            let Some(family) = family
                .map(|row| row.text("family_id"))
                .transpose()
                .map_err(failed)?
            else {
                return Ok(None);
            };
            sqlx::query(
                r#"UPDATE "cmmv_auth_refresh_families" SET "revoked_at" = $1 WHERE "id" = $2 AND "revoked_at" IS NULL"#,
            )
            .bind(now)
            .bind(&family)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
            Ok(Some(family))
        }))
    }

    fn sessions<'a>(
        &'a self,
        user_id: &'a str,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>> {
        Box::pin(async move {
            on_pool!(self.db, |pool| {
                let rows = sqlx::query(
                    r#"SELECT f."id", f."created_at", f."last_used_at", f."client_ip", f."user_agent" FROM "cmmv_auth_refresh_families" f
                       WHERE f."user_id" = $1 AND f."revoked_at" IS NULL AND f."created_at" > $2
                         AND EXISTS (SELECT 1 FROM "cmmv_auth_refresh_tokens" t
                                     WHERE t."family_id" = f."id" AND t."used_at" IS NULL AND t."expires_at" > $3)
                       ORDER BY f."created_at", f."id""#,
                )
                .bind(user_id)
                .bind(started_after)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(failed)?;
                rows.iter()
                    .map(|row| {
                        let created_at = row.int("created_at")?;
                        Ok(Session {
                            id: row.text("id")?,
                            created_at,
                            last_used_at: row.optional_int("last_used_at")?.unwrap_or(created_at),
                            client: SessionClient {
                                ip: row.optional_text("client_ip")?,
                                user_agent: row.optional_text("user_agent")?,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(failed)
            })
        })
    }

    fn revoke_session<'a>(
        &'a self,
        user_id: &'a str,
        family_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (user_id, family_id) = (user_id.to_owned(), family_id.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            let changed = sqlx::query(
                r#"UPDATE "cmmv_auth_refresh_families" SET "revoked_at" = COALESCE("revoked_at", $1) WHERE "id" = $2 AND "user_id" = $3"#,
            )
            .bind(now)
            .bind(&family_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            Ok(changed > 0)
        }))
    }

    fn revoke_sessions<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        let user_id = user_id.to_owned();
        Box::pin(on_write!(self.db, |tx| {
            let rows = sqlx::query(
                r#"UPDATE "cmmv_auth_refresh_families" SET "revoked_at" = COALESCE("revoked_at", $1) WHERE "user_id" = $2 RETURNING "id""#,
            )
            .bind(now)
            .bind(&user_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed)?;
            let mut ids = rows
                .iter()
                .map(|row| row.text("id"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            ids.sort();
            Ok(ids)
        }))
    }

    fn revoke_api_keys<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let user_id = user_id.to_owned();
        Box::pin(on_write!(self.db, |tx| {
            let revoked = sqlx::query(
                r#"UPDATE "cmmv_api_keys" SET "revoked_at" = $1 WHERE "user_id" = $2 AND "revoked_at" IS NULL"#,
            )
            .bind(now)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            Ok(revoked)
        }))
    }

    fn set_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: String,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.set_user_column(user_id, "password_hash", password_hash))
    }

    fn renew_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        old: &'a str,
        new: String,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (user_id, old) = (user_id.to_owned(), old.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            let changed = sqlx::query(
                r#"UPDATE "cmmv_auth_users" SET "password_hash" = $1 WHERE "id" = $2 AND "password_hash" = $3"#,
            )
            .bind(&new)
            .bind(&user_id)
            .bind(&old)
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            Ok(changed > 0)
        }))
    }

    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            let purged =
                sqlx::query(r#"DELETE FROM "cmmv_auth_refresh_tokens" WHERE "expires_at" <= $1"#)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?
                    .rows_affected();
            sqlx::query(
                r#"DELETE FROM "cmmv_auth_refresh_families" WHERE "id" NOT IN (SELECT "family_id" FROM "cmmv_auth_refresh_tokens")"#,
            )
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
            sqlx::query(r#"DELETE FROM "cmmv_auth_confirmations" WHERE "expires_at" <= $1"#)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            sqlx::query(r#"DELETE FROM "cmmv_auth_grants" WHERE "expires_at" <= $1"#)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            Ok(purged)
        }))
    }

    fn create_api_key(&self, new: NewApiKey) -> BoxFuture<'_, Result<ApiKey, StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            let key = &new.key;
            sqlx::query(
                r#"INSERT INTO "cmmv_api_keys" ("id", "prefix", "hash", "user_id", "name", "roles", "last4", "created_at", "expires_at") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
            )
            .bind(&key.id)
            .bind(&key.prefix)
            .bind(&new.hash)
            .bind(&key.user_id)
            .bind(&key.name)
            .bind(roles_to_text(&key.roles))
            .bind(&key.last4)
            .bind(key.created_at)
            .bind(key.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "prefix"))?;
            Ok(new.key)
        }))
    }

    fn api_keys<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                r#"SELECT {API_KEY_COLUMNS} FROM "cmmv_api_keys" k JOIN "cmmv_auth_users" u ON u."id" = k."user_id"
                   WHERE k."user_id" = $1 AND k."revoked_at" IS NULL ORDER BY k."created_at", k."id""#
            );
            on_pool!(self.db, |pool| {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id)
                    .fetch_all(pool)
                    .await
                    .map_err(failed)?;
                rows.iter()
                    .map(|row| read_api_key(row).map(|stored| stored.key))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(failed)
            })
        })
    }

    fn revoke_api_key<'a>(
        &'a self,
        user_id: &'a str,
        id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            let changed = sqlx::query(
                r#"UPDATE "cmmv_api_keys" SET "revoked_at" = $1 WHERE "id" = $2 AND "user_id" = $3 AND "revoked_at" IS NULL"#,
            )
            .bind(now)
            .bind(&id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            Ok(changed > 0)
        }))
    }

    fn api_key_by_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredApiKey>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                r#"SELECT {API_KEY_COLUMNS} FROM "cmmv_api_keys" k JOIN "cmmv_auth_users" u ON u."id" = k."user_id" WHERE k."prefix" = $1"#
            );
            on_pool!(self.db, |pool| {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(prefix)
                    .fetch_optional(pool)
                    .await
                    .map_err(failed)?;
                row.map(|row| read_api_key(&row))
                    .transpose()
                    .map_err(failed)
            })
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.db.check().await })
    }

    fn identity<'a>(
        &'a self,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<Identity>, StoreError>> {
        let sql = format!(
            r#"SELECT {IDENTITY_COLUMNS} FROM "cmmv_auth_identities" WHERE "provider" = $1 AND "subject" = $2"#
        );
        Box::pin(async move {
            on_pool!(self.db, |pool| {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(provider)
                    .bind(subject)
                    .fetch_optional(pool)
                    .await
                    .map_err(failed)?;
                row.map(|row| read_identity(&row))
                    .transpose()
                    .map_err(failed)
            })
        })
    }

    fn link_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            insert_identity!(tx, identity);
            Ok(())
        }))
    }

    fn touch_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            let changed = sqlx::query(
                r#"UPDATE "cmmv_auth_identities" SET "email" = $1, "email_verified" = $2, "name" = $3, "avatar_url" = $4, "last_login_at" = $5
                   WHERE "provider" = $6 AND "subject" = $7 AND "user_id" = $8"#,
            )
            .bind(identity.email.as_deref())
            .bind(identity.email_verified)
            .bind(identity.name.as_deref())
            .bind(identity.avatar_url.as_deref())
            .bind(identity.last_login_at)
            .bind(&identity.provider)
            .bind(&identity.subject)
            .bind(&identity.user_id)
            .execute(&mut *tx)
            .await
            .map_err(failed)?
            .rows_affected();
            if changed == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        }))
    }

    fn identities<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>> {
        let sql = format!(
            r#"SELECT {IDENTITY_COLUMNS} FROM "cmmv_auth_identities" WHERE "user_id" = $1 ORDER BY "linked_at", "provider", "subject""#
        );
        Box::pin(async move {
            on_pool!(self.db, |pool| {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id)
                    .fetch_all(pool)
                    .await
                    .map_err(failed)?;
                rows.iter()
                    .map(read_identity)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(failed)
            })
        })
    }

    fn unlink_identity<'a>(
        &'a self,
        user_id: &'a str,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Unlink, StoreError>> {
        let (user_id, provider, subject) =
            (user_id.to_owned(), provider.to_owned(), subject.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            // A no-op write that takes the account's row lock on PostgreSQL: two unlinks of
            // one account run one after the other, the second counting what the first left.
            // (SQLite's single writer serializes them already.)
            sqlx::query(r#"UPDATE "cmmv_auth_users" SET "id" = "id" WHERE "id" = $1"#)
                .bind(&user_id)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            let row = sqlx::query(
                r#"SELECT
                     (SELECT COUNT(*) FROM "cmmv_auth_identities" WHERE "user_id" = $1 AND "provider" = $2 AND "subject" = $3) AS "held",
                     (SELECT COUNT(*) FROM "cmmv_auth_identities" WHERE "user_id" = $1) AS "identities",
                     (SELECT COUNT(*) FROM "cmmv_auth_users" WHERE "id" = $1 AND "password_hash" <> '') AS "passwords""#,
            )
            .bind(&user_id)
            .bind(&provider)
            .bind(&subject)
            .fetch_one(&mut *tx)
            .await
            .map_err(failed)?;
            if row.int("held").map_err(failed)? == 0 {
                return Ok(Unlink::NotFound);
            }
            let identities = row.int("identities").map_err(failed)?;
            let passwords = row.int("passwords").map_err(failed)?;
            if identities + passwords < 2 {
                return Ok(Unlink::LastWay);
            }
            sqlx::query(
                r#"DELETE FROM "cmmv_auth_identities" WHERE "user_id" = $1 AND "provider" = $2 AND "subject" = $3"#,
            )
            .bind(&user_id)
            .bind(&provider)
            .bind(&subject)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
            Ok(Unlink::Unlinked)
        }))
    }

    fn put_grant(&self, grant: NewGrant) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(on_write!(self.db, |tx| {
            sqlx::query(
                r#"INSERT INTO "cmmv_auth_grants" ("hash", "kind", "payload", "expires_at") VALUES ($1, $2, $3, $4)"#,
            )
            .bind(&grant.hash)
            .bind(&grant.kind)
            .bind(&grant.payload)
            .bind(grant.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, "hash"))?;
            Ok(())
        }))
    }

    fn take_grant<'a>(
        &'a self,
        kind: &'a str,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let (kind, hash) = (kind.to_owned(), hash.to_owned());
        Box::pin(on_write!(self.db, |tx| {
            // Spent whether live or not: a grant is looked at once.
            let row = sqlx::query(
                r#"DELETE FROM "cmmv_auth_grants" WHERE "hash" = $1 AND "kind" = $2 RETURNING "payload", "expires_at""#,
            )
            .bind(&hash)
            .bind(&kind)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
            match row {
                Some(row) if row.int("expires_at").map_err(failed)? > now => {
                    Ok(Some(row.text("payload").map_err(failed)?))
                }
                _ => Ok(None),
            }
        }))
    }
}
