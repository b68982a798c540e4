//! The app: contract routes plus everything a production service needs around them.
//!
//! ```no_run
//! use cmmv::{App, Settings};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let settings = match Settings::from_env() {
//!         Ok(settings) => settings,
//!         Err(error) => {
//!             eprintln!("{error}");
//!             return std::process::ExitCode::FAILURE;
//!         }
//!     };
//!     let app = App::builder(settings)
//!         .routes(axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" })))
//!         .readiness_check("storage", || async { Ok(()) })
//!         .build();
//!     match app {
//!         Ok(app) => app.run().await,
//!         Err(error) => {
//!             eprintln!("{error}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::auth::{ApiKeyVerifier, Authenticator, JwtVerifier};
use crate::health::{self, HealthIndicator, Indicators, Readiness};
use crate::layers;
use crate::metrics::{self, Metrics};
use crate::openapi::{self, Document};
use crate::ratelimit::{KeyFn, Limiter, RateLimiting, RouteLimits};
use crate::settings::{Settings, SettingsError};
use crate::shutdown::{self, ShutdownOutcome, Timing};

/// Paths the runtime serves itself.
///
/// This one is liveness: 200 `{"status": "ok"}` whenever the process answers, whatever its
/// dependencies.
pub const LIVENESS_PATH: &str = "/health/live";
/// Readiness: 200 while every critical health indicator passes (`degraded` when a non-critical
/// one fails), 503 naming the failures, and 503 from the start of a shutdown on (see
/// [`crate::health`]).
pub const READINESS_PATH: &str = "/health/ready";
/// Startup: 503 until every critical health indicator has passed once, then 200 for good (a
/// startup probe, holding the liveness probe off while dependencies come up).
pub const STARTUP_PATH: &str = "/health/started";
/// The app's Prometheus metrics, in the text exposition format.
pub const METRICS_PATH: &str = "/metrics";

/// A built app. Each owns its metrics registry and readiness state: two apps in one process
/// share nothing.
#[derive(Debug, Clone)]
pub struct App {
    settings: Settings,
    try_path: Option<String>,
    stack: crate::protobuf::grpc::Switch<layers::Stack>,
    /// Every route, as mounted, before the middleware wraps them into one service.
    routes: Router,
    readiness: Readiness,
    metrics: Metrics,
}

/// Collects the parts of an [`App`]; see [`App::builder`].
#[derive(Debug)]
pub struct AppBuilder {
    settings: Settings,
    try_path: Option<String>,
    routes: Router,
    documents: BTreeMap<u32, Document>,
    indicators: Indicators,
    metrics_sources: Vec<Arc<dyn crate::metrics::MetricsSource>>,
    rate_limits: RateLimitParts,
    auth: AuthParts,
    modules: ModuleParts,
    /// The app's own layers ([`AppBuilder::layer`]), in the order given.
    layers: Vec<RouterLayer>,
    /// "Now", for deprecations' sunsets ([`AppBuilder::clock`]).
    clock: crate::deprecation::Clock,
    /// How requests name their API version, and the routes each version serves.
    versioning: crate::versioning::Versioning,
    versioned_routes: Vec<(&'static str, &'static str)>,
    /// The generated module's protobuf forms, for protobuf REST bodies and gRPC.
    protobuf: Option<crate::protobuf::Protobuf>,
}

/// A layer of the app's, applied to the router once every route is in.
struct RouterLayer(Box<dyn FnOnce(Router) -> Router + Send>);

impl fmt::Debug for RouterLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouterLayer")
    }
}

/// The runtime's modules the documents describe, and those mounted: they must be the same.
#[derive(Debug, Default)]
struct ModuleParts {
    /// `None` until a generated [`crate::Api`] is given: an app without its documents has
    /// nothing to disagree with.
    documented: Option<BTreeSet<&'static str>>,
    mounted: BTreeSet<&'static str>,
    /// The contract the documents bind to the accounts (`account:`).
    account_contract: Option<&'static str>,
    /// Whether the mounted login module keeps the accounts' records.
    keeps_records: bool,
}

/// What [`AppBuilder`] collects for authentication.
#[derive(Debug, Default)]
struct AuthParts {
    /// Replaces the verifier the settings describe.
    jwt: Option<JwtVerifier>,
    api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    /// The login module's record of ended tokens.
    revocations: Option<Arc<dyn crate::auth::Revocations>>,
    /// What is wrong with the parts given (reported by `build`).
    errors: Vec<SettingsError>,
}

/// What [`AppBuilder`] collects for rate limiting.
#[derive(Default)]
struct RateLimitParts {
    tables: Vec<RouteLimits>,
    limiter: Option<Arc<dyn Limiter>>,
    custom_keys: HashMap<String, KeyFn>,
}

impl std::fmt::Debug for RateLimitParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitParts")
            .field(
                "routes",
                &self.tables.iter().map(|t| t.len()).sum::<usize>(),
            )
            .field("limiter", &self.limiter)
            .field("custom_keys", &self.custom_keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl App {
    /// Starts an app configured by `settings`.
    pub fn builder(settings: Settings) -> AppBuilder {
        AppBuilder {
            settings,
            try_path: None,
            routes: Router::new(),
            documents: BTreeMap::new(),
            indicators: Indicators::default(),
            metrics_sources: Vec::new(),
            rate_limits: RateLimitParts::default(),
            auth: AuthParts::default(),
            modules: ModuleParts::default(),
            layers: Vec::new(),
            clock: crate::deprecation::Clock::system(),
            versioning: crate::versioning::Versioning::URI,
            versioned_routes: Vec::new(),
            protobuf: None,
        }
    }

    /// The complete router, middleware included: for tests with `tower::ServiceExt::oneshot`,
    /// or for serving it some other way.
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.stack.clone())
    }

    /// Every route the app mounted (the contracts', the login module's, the runtime's own),
    /// without the middleware: what to inspect to see what the app really serves (axum's
    /// `Debug` of a router lists its paths). Serving it would bypass every layer.
    #[doc(hidden)]
    pub fn mounted_routes(&self) -> Router {
        self.routes.clone()
    }

    /// The settings the app was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This app's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This app's readiness state.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Serves on `listener` until the process is killed.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<ShutdownOutcome> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves on `listener` until `signal` completes, then shuts down gracefully: readiness
    /// 503, the shutdown delay, no new connections, in-flight requests drained under the
    /// deadline.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send,
    ) -> std::io::Result<ShutdownOutcome> {
        let timing = Timing {
            delay: self.settings.shutdown_delay,
            deadline: self.settings.shutdown_deadline,
        };
        shutdown::serve(
            listener,
            self.stack,
            self.readiness,
            self.metrics,
            timing,
            signal,
        )
        .await
    }

    /// Installs the log subscriber (unless one is installed), binds `CMMV_ADDR`, serves until
    /// SIGTERM or SIGINT and shuts down gracefully. The exit code is 0 when every request
    /// drained, 1 when the listener could not be bound or the drain deadline passed.
    pub async fn run(self) -> ExitCode {
        let tracing = match crate::logging::init(&self.settings) {
            Ok(tracing) => tracing,
            Err(error) => {
                // No subscriber is installed when the exporter cannot start: say it plainly.
                eprint_error(&error);
                return ExitCode::FAILURE;
            }
        };
        let code = self.listen_and_serve().await;
        // What is still queued goes out before the process ends.
        if let Some(tracing) = tracing {
            tokio::task::spawn_blocking(move || tracing.shutdown())
                .await
                .ok();
        }
        code
    }

    async fn listen_and_serve(self) -> ExitCode {
        let addr = self.settings.addr;
        let listener = match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%addr, %error, "cannot listen");
                return ExitCode::FAILURE;
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!(addr = %local, "listening");
        print_listening(local, self.try_path.as_deref());
        match self.serve_with_shutdown(listener, shutdown::signal()).await {
            Ok(outcome) => outcome.exit_code(),
            Err(error) => {
                tracing::error!(%error, "the server failed");
                ExitCode::FAILURE
            }
        }
    }
}

#[allow(
    clippy::print_stderr,
    reason = "the error that prevents logging from starting has nowhere else to go"
)]
fn eprint_error(error: &dyn std::fmt::Display) {
    eprintln!("error: {error}");
}

/// The one line a developer looks for in a terminal, whatever the log format or filter.
#[allow(
    clippy::print_stdout,
    reason = "the address is printed for people, independent of the log filter"
)]
fn print_listening(addr: std::net::SocketAddr, try_path: Option<&str>) {
    println!("listening on http://{addr}");
    if let Some(path) = try_path {
        println!("try it:  curl -s http://{addr}{path}");
    }
}

impl AppBuilder {
    /// A path that `run()` prints as a ready-to-paste `curl` line next to the address.
    #[must_use]
    pub fn try_it(mut self, path: impl Into<String>) -> Self {
        self.try_path = Some(path.into());
        self
    }

    /// Wraps every route of the app (the contracts', the login module's, the runtime's own and
    /// the 404 fallback) in `layer`, a tower layer of your own: tracing of your own, a
    /// tenant header, a concurrency limit, compression.
    ///
    /// Its place in the stack, from the socket inwards:
    ///
    /// 1. the runtime's middleware: request id, access log and metrics, security headers,
    ///    CORS, the body limit and the request timeout — so your layer's responses get them
    ///    too;
    /// 2. routing: your layer runs for a request that matched a route (or the fallback), with
    ///    the route known (`axum::extract::MatchedPath`);
    /// 3. **your layers**, the first given outermost;
    /// 4. each operation's rate limits, then its guard (auth and roles), then the handler.
    ///
    /// So a layer sees every request before it is limited or authenticated, and may answer
    /// it itself.
    ///
    /// ```
    /// # fn app(settings: cmmv::Settings) -> Result<cmmv::App, cmmv::BuildError> {
    /// use axum::extract::Request;
    /// use axum::http::HeaderValue;
    /// use axum::middleware::{self, Next};
    ///
    /// cmmv::App::builder(settings)
    ///     .layer(middleware::from_fn(|request: Request, next: Next| async move {
    ///         let mut response = next.run(request).await;
    ///         response
    ///             .headers_mut()
    ///             .insert("x-served-by", HeaderValue::from_static("todo"));
    ///         response
    ///     }))
    ///     .build()
    /// # }
    /// ```
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.layers
            .push(RouterLayer(Box::new(move |router: Router| {
                router.layer(layer)
            })));
        self
    }

    /// Adds routes (a contract's router, with its state applied). May be called once per
    /// contract; the routers are merged, and overlapping paths panic as in `Router::merge`.
    #[must_use]
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Serves the OpenAPI document of API `version` at `/v{version}/openapi.json` and
    /// `/v{version}/openapi.yaml`; the highest version is also served at `/openapi.json` and
    /// `/openapi.yaml`.
    #[must_use]
    pub fn openapi(
        mut self,
        version: u32,
        json: impl Into<Cow<'static, str>>,
        yaml: impl Into<Cow<'static, str>>,
    ) -> Self {
        let document = Document {
            json: cow_bytes(json.into()),
            yaml: cow_bytes(yaml.into()),
        };
        self.documents.insert(version, document);
        self
    }

    /// Adds a readiness check: a critical [`HealthIndicator`] named `name`, so that
    /// `/health/ready` is 503 while it fails or takes longer than `CMMV_READINESS_TIMEOUT`. A
    /// second check or indicator of the same name replaces the first.
    #[must_use]
    pub fn readiness_check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), crate::health::CheckError>> + Send + 'static,
    {
        self.indicators.add_fn(name.into(), check);
        self
    }

    /// Adds a health indicator, run by `/health/ready` and, when critical, `/health/started`
    /// (see [`crate::health`]; an `Arc<dyn HealthIndicator>` is one too). A second indicator
    /// or check of the same name replaces the first.
    #[must_use]
    pub fn health_indicator(mut self, indicator: impl HealthIndicator) -> Self {
        self.indicators.add(Arc::new(indicator));
        self
    }

    /// Adds a component whose metrics are rendered on every scrape of `/metrics` (a
    /// [`crate::sql::Database`]'s pool, which [`crate::service::Service`] adds itself).
    #[must_use]
    pub fn metrics_source(mut self, source: Arc<dyn crate::metrics::MetricsSource>) -> Self {
        self.metrics_sources.push(source);
        self
    }

    /// Takes what a generated module exports whole ([`crate::Api`]): serves its OpenAPI
    /// documents (see [`AppBuilder::openapi`]) and checks at start that every custom key its
    /// rate limits name is registered. Its routes are mounted with [`AppBuilder::routes`]
    /// (each contract's `*_routes(handlers)`), and carry their own limits and guards.
    #[must_use]
    pub fn api(mut self, api: &crate::Api) -> Self {
        for &(version, json, yaml) in api.openapi {
            self = self.openapi(version, json, yaml);
        }
        self.rate_limits.tables.push(api.rate_limits);
        self.modules
            .documented
            .get_or_insert_with(BTreeSet::new)
            .extend(api.modules.iter().copied());
        if api.account.is_some() {
            self.modules.account_contract = api.account;
        }
        self.versioning = api.versioning;
        self.versioned_routes.extend_from_slice(api.routes);
        if api.protobuf.is_some() {
            self.protobuf = api.protobuf;
        }
        self
    }

    /// The clock deciding whether a deprecated operation is past its sunset (the system's by
    /// default): tests set one to cross a sunset without waiting.
    #[must_use]
    pub fn clock(mut self, clock: crate::deprecation::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Where rate-limit state lives: by default in process (`MemoryLimiter`); give a
    /// `RedisLimiter` to share limits across a fleet.
    #[must_use]
    pub fn rate_limiter(mut self, limiter: Arc<dyn Limiter>) -> Self {
        self.rate_limits.limiter = Some(limiter);
        self
    }

    /// Registers the key function that policies with `key: custom:<name>` count by.
    #[must_use]
    pub fn rate_limit_key<F>(mut self, name: impl Into<String>, key: F) -> Self
    where
        F: Fn(&axum::extract::Request) -> Option<String> + Send + Sync + 'static,
    {
        self.rate_limits
            .custom_keys
            .insert(name.into(), Arc::new(key));
        self
    }

    /// Verifies bearer tokens with `verifier` rather than with the keys the settings name
    /// (`CMMV_JWT_*`).
    #[must_use]
    pub fn jwt_verifier(mut self, verifier: JwtVerifier) -> Self {
        self.auth.jwt = Some(verifier);
        self
    }

    /// Accepts API keys (`Authorization: ApiKey ...` or `X-API-Key`), resolved by `keys`.
    #[must_use]
    pub fn api_keys(mut self, keys: Arc<dyn ApiKeyVerifier>) -> Self {
        self.auth.api_keys = Some(keys);
        self
    }

    /// Mounts the login module: its routes (with the rate limits its contract declares), its
    /// API keys as a credential the guards accept, and a readiness check of its store.
    #[must_use]
    pub fn login(mut self, login: &crate::auth::Login) -> Self {
        let store = Arc::clone(login.store());
        if let Some(error) = login.misconfiguration() {
            self.auth.errors.push(error);
        }
        self.modules.mounted.insert(crate::auth::LOGIN_MODULE);
        self.modules.keeps_records = login.keeps_records();
        self.auth.revocations = Some(login.revocations());
        self.routes(login.routes())
            .api_keys(login.api_key_verifier())
            .readiness_check("auth_store", move || {
                let store = Arc::clone(&store);
                async move {
                    store.check().await.map_err(|e| {
                        // The check's message is public; the store's own error is logged.
                        let public = match e {
                            crate::store::StoreError::Unavailable(_) => {
                                "the credential store is unreachable"
                            }
                            _ => "the credential store answers with errors",
                        };
                        tracing::warn!(error = %e, "the credential store's check failed");
                        public.into()
                    })
                }
            })
    }

    /// Validates the settings and assembles the app.
    pub fn build(self) -> Result<App, BuildError> {
        self.settings.validate()?;
        if let Some(error) = self.auth.errors.into_iter().next() {
            return Err(error.into());
        }
        if let Some(documented) = &self.modules.documented {
            let mounted = &self.modules.mounted;
            if let Some(&module) = documented.difference(mounted).next() {
                return Err(BuildError::ModuleNotMounted { module });
            }
            if let Some(&module) = mounted.difference(documented).next() {
                return Err(BuildError::UndocumentedModule { module });
            }
        }
        if let Some(contract) = self.modules.account_contract {
            if !self.modules.keeps_records {
                return Err(BuildError::AccountRecordsUnkept { contract });
            }
        }
        let jwt = match self.auth.jwt {
            Some(verifier) => Some(verifier),
            None => JwtVerifier::from_settings(&self.settings)?,
        };
        let mut authenticator = Authenticator::new(jwt, self.auth.api_keys);
        if let Some(revocations) = self.auth.revocations {
            authenticator = authenticator.with_revocations(revocations);
        }
        let authenticator = Arc::new(authenticator);
        let metrics = Metrics::with_sources(self.metrics_sources);
        let readiness = Readiness::new(self.indicators, self.settings.readiness_timeout);
        let own_routes = Router::new()
            .route(LIVENESS_PATH, get(health::live))
            .route(
                READINESS_PATH,
                get(health::ready).with_state(readiness.clone()),
            )
            .route(
                STARTUP_PATH,
                get(health::started).with_state(readiness.clone()),
            )
            .route(
                METRICS_PATH,
                get(metrics::serve_metrics).with_state(metrics.clone()),
            )
            .merge(openapi::routes(&self.documents));
        // The interactive page, when there are documents to show.
        #[cfg(feature = "docs")]
        let own_routes = if self.documents.is_empty() {
            own_routes
        } else {
            own_routes.merge(crate::docs::routes(&self.documents))
        };
        let limits = &self.settings.rate_limit;
        // Every route carries its own policies; the app gives them the limiter they share.
        let rate_limiting = if limits.enabled {
            let limiter = self
                .rate_limits
                .limiter
                .unwrap_or_else(|| crate::ratelimit::default_limiter(limits));
            let limiting = RateLimiting::new(
                &self.rate_limits.tables,
                limiter,
                self.rate_limits.custom_keys,
                limits,
            )?;
            Some(Arc::new(limiting))
        } else {
            None
        };
        let routes = self
            .routes
            .merge(own_routes)
            // Set last, so that it replaces any fallback a contract router brought along.
            .fallback(layers::not_found);
        let mounted = routes.clone();
        // Applied in reverse: the first layer given ends up outermost.
        let routes = self
            .layers
            .into_iter()
            .rev()
            .fold(routes, |routes, layer| (layer.0)(routes));
        let negotiation = if self.versioning.negotiates() {
            let negotiation =
                crate::versioning::Negotiation::new(self.versioning, &self.versioned_routes)
                    .map_err(BuildError::Versioning)?;
            Some(Arc::new(negotiation))
        } else {
            None
        };
        let wire = self
            .protobuf
            .map(crate::protobuf::Wire::new)
            .transpose()
            .map_err(BuildError::Protobuf)?
            .map(Arc::new);
        let (body_limit, timeout) = (self.settings.body_limit, self.settings.request_timeout);
        let stack = layers::apply(
            routes,
            &self.settings,
            layers::Parts {
                metrics: metrics.clone(),
                authenticator,
                rate_limiting,
                cursor_key: self
                    .settings
                    .cursor_secret
                    .as_ref()
                    .map_or_else(crate::list::CursorKey::random, |secret| {
                        crate::list::CursorKey::from_secret(secret.expose().as_bytes())
                    }),
                clock: self.clock,
                negotiation,
                protobuf: wire.clone(),
            },
        );
        let stack = crate::protobuf::grpc::Switch::new(stack, wire, body_limit, timeout)
            .map_err(BuildError::Protobuf)?;
        Ok(App {
            settings: self.settings,
            try_path: self.try_path,
            stack,
            routes: mounted,
            readiness,
            metrics,
        })
    }
}

/// Why an app could not be built: a setting that cannot be used (named, with where it came
/// from), or a mistake in how the app's code assembles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A `CMMV_*` setting (or its key in the settings file) cannot be used.
    Settings(SettingsError),
    /// A route's rate limit counts by a custom key the app does not register
    /// (`AppBuilder::rate_limit_key`): a limit that would silently count something else.
    UnregisteredRateLimitKey {
        /// The policy's id (`Task.create`, or a named policy's name).
        policy: &'static str,
        /// The route, `POST /v1/tasks`.
        route: String,
        /// The custom key's name.
        key: &'static str,
    },
    /// The documents describe a runtime module (`modules:` in `cmmv.yaml`) the app does not
    /// mount: they would list routes that answer 404.
    ModuleNotMounted {
        /// The module's name, `login`.
        module: &'static str,
    },
    /// The app mounts a runtime module its documents do not describe: its routes would be
    /// served undocumented.
    UndocumentedModule {
        /// The module's name, `login`.
        module: &'static str,
    },
    /// The generated module's protobuf descriptors cannot be served: they do not match its
    /// tables (the generated code is from two different builds), or reflection refuses them.
    Protobuf(String),
    /// The documents bind a contract to the login module's accounts (`account:`), but the
    /// mounted module does not keep their records: its `me` would never find one.
    AccountRecordsUnkept {
        /// The account contract, `User`.
        contract: &'static str,
    },
    /// The documents' versioning (`versioning:` in `cmmv.yaml`) cannot be served: a default
    /// version no route serves, a header name HTTP does not allow.
    Versioning(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Settings(error) => error.fmt(f),
            BuildError::UnregisteredRateLimitKey { policy, route, key } => write!(
                f,
                "rate limit `{policy}` on {route} counts by the custom key `{key}`, which the app does not register (AppBuilder::rate_limit_key)"
            ),
            BuildError::ModuleNotMounted { module } => write!(
                f,
                "the API documents describe the `{module}` module (`modules:` in cmmv.yaml), but the app does not mount it (AppBuilder::{module})"
            ),
            BuildError::UndocumentedModule { module } => write!(
                f,
                "the app mounts the `{module}` module, which its API documents do not describe: add `modules: [{module}]` to cmmv.yaml"
            ),
            BuildError::Versioning(problem) => write!(f, "API versioning: {problem}"),
            BuildError::Protobuf(problem) => write!(f, "protobuf and gRPC: {problem}"),
            BuildError::AccountRecordsUnkept { contract } => write!(
                f,
                "`{contract}` is bound to the accounts (`account:`), but the login module does not keep its records: give it the store (Login::with_records(stores.accounts()), or Service::accounts)"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Settings(error) => Some(error),
            BuildError::UnregisteredRateLimitKey { .. }
            | BuildError::ModuleNotMounted { .. }
            | BuildError::UndocumentedModule { .. }
            | BuildError::AccountRecordsUnkept { .. }
            | BuildError::Versioning(_)
            | BuildError::Protobuf(_) => None,
        }
    }
}

impl From<SettingsError> for BuildError {
    fn from(error: SettingsError) -> Self {
        BuildError::Settings(error)
    }
}

fn cow_bytes(text: Cow<'static, str>) -> Bytes {
    match text {
        Cow::Borrowed(text) => Bytes::from_static(text.as_bytes()),
        Cow::Owned(text) => Bytes::from(text),
    }
}
