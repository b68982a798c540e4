//! {{name}}: a service generated from the contracts in `contracts/` by CMMV.

use std::sync::Arc;

use cmmv::{App, Settings, Store};

/// The generated API: one module per contract, plus `API` (documents, routes, limits,
/// migrations).
#[allow(missing_docs)]
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs"));
}

use api::*;

/// The service's state: one store per contract.
#[derive(Debug)]
pub struct Service {
    items: Store<Item>,
}

impl Service {
    /// Every contract in memory (for tests).
    pub fn in_memory() -> Self {
        Self {
            items: cmmv::MemoryStore::shared(),
        }
    }

    /// Every contract in the database's tables (migrated with [`api::MIGRATIONS`]).
    pub fn with_database(db: &cmmv::sql::Database) -> Self {
        Self { items: db.store() }
    }
}

// The CRUD operations default to the store; a custom operation of a contract is a method here.
impl ItemHandlers for Service {
    fn item_store(&self) -> &Store<Item> {
        &self.items
    }
}

/// The app: every contract's routes, the OpenAPI documents at `/v{N}/openapi.json` and the
/// interactive ones at `/docs`, health at `/health/live` and `/health/ready`, metrics.
pub fn app(settings: Settings, service: &Arc<Service>) -> Result<App, cmmv::BuildError> {
    App::builder(settings)
        .api(&API)
        .routes(item_routes(service.clone()))
        .try_it("/docs")
        .build()
}

/// Opens and migrates the database the settings name (`CMMV_DATABASE_URL`), connects the
/// shared rate limiter when `CMMV_REDIS_URL` is set, and serves until shut down.
pub async fn serve(settings: Settings) -> Result<std::process::ExitCode, String> {
    let db = cmmv::sql::Database::connect(&settings.database())
        .await
        .map_err(|e| format!("CMMV_DATABASE_URL: {e}"))?;
    db.migrate(MIGRATIONS)
        .await
        .map_err(|e| format!("CMMV_DATABASE_URL: {e}"))?;
    let service = Arc::new(Service::with_database(&db));
    let mut builder = App::builder(settings.clone())
        .api(&API)
        .routes(item_routes(service))
        .try_it("/docs");
    if let Some(url) = &settings.redis_url {
        let mut limiter = cmmv::ratelimit::RedisLimiterSettings::new(url.clone(), "{{crate}}:");
        limiter.timeout = settings.rate_limit.timeout;
        let limiter = cmmv::ratelimit::RedisLimiter::connect(limiter)
            .await
            .map_err(|e| format!("CMMV_REDIS_URL: {e}"))?;
        builder = builder.rate_limiter(Arc::new(limiter));
    }
    let app = builder.build().map_err(|e| e.to_string())?;
    let code = app.run().await;
    db.close().await;
    Ok(code)
}
