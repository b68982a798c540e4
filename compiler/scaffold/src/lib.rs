//! {{name}}: a service generated from the contracts in `contracts/` by CMMV.

use std::sync::Arc;

use cmmv::{App, Settings};

/// The generated API: per contract its types, handler trait and routes; `Stores` (one store
/// per contract), `routes` (every contract's) and `API` (documents, limits, migrations).
#[allow(missing_docs)]
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs"));
}

use api::{API, Stores, routes};

// A contract without custom operations is served by `Stores` itself. Once one has some, serve
// every contract with a type of your own holding the `Stores`: implement each `*Handlers`
// trait (its `*_store` method, and the custom operations), and pass it to `routes`.

/// The app over `stores`: every contract's routes, the OpenAPI documents at
/// `/v{N}/openapi.json` and the interactive ones at `/docs`, health at `/health/live` and
/// `/health/ready`, metrics at `/metrics`.
pub fn app(settings: Settings, stores: &Arc<Stores>) -> Result<App, cmmv::BuildError> {
    App::builder(settings)
        .api(&API)
        .routes(routes(stores.clone()))
        .try_it("/docs")
        .build()
}

/// Serves until shut down: the database `CMMV_DATABASE_URL` names (connected and migrated), the
/// shared rate limiter when `CMMV_REDIS_URL` is set, every contract's routes.
pub async fn serve(settings: Settings) -> Result<std::process::ExitCode, String> {
    let service = cmmv::service::Service::start(settings, &API)
        .await
        .map_err(|e| e.to_string())?;
    let stores = Arc::new(Stores::open(service.database()));
    service
        .routes(routes(stores))
        .builder(|builder| builder.try_it("/docs"))
        .serve()
        .await
        .map_err(|e| e.to_string())
}
