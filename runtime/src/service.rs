//! A service from its settings, in one call: what every service otherwise wires by hand
//! before its routes.
//!
//! [`Service::start`] connects the database `CMMV_DATABASE_URL` names and applies the API's
//! migrations (or keeps everything in memory for `memory:`), connects the shared rate limiter
//! when `CMMV_REDIS_URL` is set, mounts the login module when the API's documents describe it
//! (its accounts in the same database, its record of ended sessions in Redis when there is one),
//! registers the built-in health indicators (the database, Redis, free disk space, memory; see
//! [`crate::health::HealthSettings`]), and hands back an [`AppBuilder`] with the documents
//! and all of that given. Every part stays overridable: add routes, layers, checks or another
//! limiter to [`Service::builder`] before [`Service::serve`]; the login module's mail system
//! comes through [`Service::start_with`]. A service whose parts differ more builds its app
//! with [`App::builder`] itself, as this does.
//!
//! ```no_run
//! # mod api {
//! #     pub const API: cmmv::Api = cmmv::Api { openapi: &[], routes: &[], rate_limits: &[], migrations: &[], modules: &[], account: None, versioning: cmmv::versioning::Versioning::URI, protobuf: None };
//! #     pub fn routes(_: std::sync::Arc<()>) -> axum::Router { axum::Router::new() }
//! # }
//! # async fn run() -> std::process::ExitCode {
//! let settings = cmmv::Settings::from_env().expect("valid settings");
//! let service = cmmv::service::Service::start(settings, &api::API).await.expect("it starts");
//! // let stores = std::sync::Arc::new(api::Stores::open(service.database()));
//! match service.routes(api::routes(std::sync::Arc::new(()))).serve().await {
//!     Ok(code) => code,
//!     Err(_) => std::process::ExitCode::FAILURE,
//! }
//! # }
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::app::{App, AppBuilder, BuildError};
use crate::auth::{AccountMailer, AuthStore, LOGIN_MODULE, Login, MemoryAuthStore, SqlAuthStore};
use crate::settings::{Settings, SettingsError};
use crate::sql::Database;

/// How often the login module deletes expired refresh tokens.
const PURGE_PERIOD: Duration = Duration::from_secs(3600);

/// A service whose parts the settings decide, ready for its routes.
#[derive(Debug)]
pub struct Service {
    builder: AppBuilder,
    database: Option<Database>,
    login: Option<Login>,
}

impl Service {
    /// Connects and migrates the database, the Redis limiter and the login module as the
    /// settings and `api` ask; see the module's documentation.
    pub async fn start(settings: Settings, api: &crate::Api) -> Result<Service, BuildError> {
        Self::start_with(settings, api, None).await
    }

    /// [`Service::start`], the login module sending its mail through `mailer`: what
    /// `CMMV_AUTH_REGISTRATION=confirm` needs.
    pub async fn start_with(
        settings: Settings,
        api: &crate::Api,
        mailer: Option<Arc<dyn AccountMailer>>,
    ) -> Result<Service, BuildError> {
        let database = if settings.database_url == "memory:" {
            None
        } else {
            let db = Database::connect(&settings.database())
                .await
                .map_err(|e| setting("CMMV_DATABASE_URL", &e))?;
            db.migrate(api.migrations)
                .await
                .map_err(|e| setting("CMMV_DATABASE_URL", &e))?;
            Some(db)
        };
        let mut builder = App::builder(settings.clone()).api(api);
        if let Some(db) = &database {
            builder = builder.metrics_source(Arc::new(db.clone()));
        }
        // The database's, Redis's, the disk's and the memory's health, as `CMMV_HEALTH_*` say.
        let health = crate::health::HealthSettings::from_settings(&settings)?;
        for indicator in health.indicators(&settings, database.as_ref())? {
            builder = builder.health_indicator(indicator);
        }
        if let Some(url) = &settings.redis_url {
            // Budgets are keyed by policy (`Task.create`): services sharing one Redis give
            // theirs a prefix of their own through `builder` and `AppBuilder::rate_limiter`.
            let mut limiter = crate::ratelimit::RedisLimiterSettings::new(url.clone(), "cmmv:");
            limiter.timeout = settings.rate_limit.timeout;
            let limiter = crate::ratelimit::RedisLimiter::connect(limiter)
                .await
                .map_err(|e| setting("CMMV_REDIS_URL", &e))?;
            builder = builder.rate_limiter(Arc::new(limiter));
        }
        let login = if api.modules.contains(&LOGIN_MODULE) {
            // Accounts live next to the contracts' tables.
            let accounts: Arc<dyn AuthStore> = match &database {
                Some(db) => Arc::new(
                    SqlAuthStore::open(db.clone())
                        .await
                        .map_err(|e| setting("CMMV_DATABASE_URL", &e))?,
                ),
                None => Arc::new(MemoryAuthStore::new()),
            };
            let mut login = Login::from_settings(accounts, &settings)?;
            if let Some(mailer) = mailer {
                login = login.with_mailer(mailer);
            }
            // A fleet shares Redis: a sign-out on one instance ends the token on every other.
            if let Some(url) = &settings.redis_url {
                let revocations = crate::auth::RedisRevocations::connect(url, "cmmv:")
                    .map_err(|e| setting("CMMV_REDIS_URL", &e))?;
                login = login.with_revocations(Arc::new(revocations));
            }
            // Mounted when the app is built, so that `Service::accounts` can still bind it.
            Some(login)
        } else {
            None
        };
        Ok(Service {
            builder,
            database,
            login,
        })
    }

    /// The database, unless the settings keep everything in memory: for the stores
    /// (`Stores::open(service.database())`).
    pub fn database(&self) -> Option<&Database> {
        self.database.as_ref()
    }

    /// The login module, when the API has it.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// Keeps the accounts' records in `records` (the generated `Stores::accounts()`): what
    /// an API that binds a contract to the accounts (`account:`) needs. See
    /// [`Login::with_records`].
    #[must_use]
    pub fn accounts(mut self, records: Arc<dyn crate::auth::AccountRecords>) -> Self {
        self.login = self.login.map(|login| login.with_records(records));
        self
    }

    /// Adds routes: the contracts' (`api::routes(handlers)`), or any of yours.
    #[must_use]
    pub fn routes(mut self, routes: Router) -> Self {
        self.builder = self.builder.routes(routes);
        self
    }

    /// The app builder, to change anything before serving (layers, checks, a limiter...).
    #[must_use]
    pub fn builder(mut self, change: impl FnOnce(AppBuilder) -> AppBuilder) -> Self {
        self.builder = change(self.builder);
        self
    }

    /// Builds the app, for tests that drive it without serving.
    pub fn build(self) -> Result<(App, Option<Database>), BuildError> {
        Ok((
            mounted(self.builder, self.login.as_ref()).build()?,
            self.database,
        ))
    }

    /// Builds and serves the app until it is shut down (see [`App::run`]), deleting expired
    /// refresh tokens hourly meanwhile, then closes the database so that every connection is
    /// returned and SQLite's log checkpointed.
    pub async fn serve(self) -> Result<ExitCode, BuildError> {
        let app = mounted(self.builder, self.login.as_ref()).build()?;
        let purge = self
            .login
            .as_ref()
            .map(|login| login.purge_expired_every(PURGE_PERIOD));
        let code = app.run().await;
        if let Some(purge) = purge {
            purge.abort();
        }
        if let Some(db) = self.database {
            db.close().await;
        }
        Ok(code)
    }
}

/// `builder` with the login module mounted, when there is one.
fn mounted(builder: AppBuilder, login: Option<&Login>) -> AppBuilder {
    match login {
        Some(login) => builder.login(login),
        None => builder,
    }
}

/// A setting that names something unreachable or unusable.
fn setting(key: &'static str, error: &dyn std::fmt::Display) -> SettingsError {
    SettingsError::env(key, error.to_string())
}
