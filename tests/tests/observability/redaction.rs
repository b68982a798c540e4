//! Secrets never reach a log line, a span or a problem body, even with every log and span of
//! every crate switched on.
//!
//! The example service is served with secrets in its settings (the HS256 key, an OAuth client
//! secret, the collector's `Authorization` header, the cursor key, a component's token, and
//! the database's and Redis's passwords when those run), and sent secrets in every place a
//! request carries them: `Authorization` (bearer tokens, valid and forged, an API key, an HTTP
//! Basic credential), `X-API-Key`, `Cookie`, the cookie the server sets itself (`Set-Cookie`
//! of an OAuth sign-in), passwords (registration, sign-in, a wrong guess, a password change),
//! refresh tokens, the one-time codes and states of a whole OAuth sign-in (against a fake
//! GitHub served here, which the runtime sends its client secret and the provider's code to),
//! a query string and the body of a request that fails validation.
//!
//! What is captured: every JSON log line at TRACE (a subscriber set for this thread, on a
//! current-thread runtime, so the server's tasks log to it), every span exported to an
//! OTLP/HTTP collector served here (with the export filter opened to `trace`, so that events
//! become span events too), and every answer's headers and body. An answer may carry only the
//! secrets it issues (the tokens of a sign-in, the flow cookie and state of an OAuth start),
//! and no log line or span may carry any.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use base64::Engine as _;
use cmmv::Settings;
use cmmv::telemetry::Tracing;
use cmmv::types::Uuid;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::runtime_support::{CapturedLogs, Served};
use crate::serve_on_own_thread;
use crate::store_support::{DATABASE_URL_VAR, TestDatabase, drop_schema, skip, with_search_path};
use crate::telemetry::{Collector, Mode};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "todo";
const FRONTEND: &str = "http://localhost:3000/signed-in";
const ADA: &str = "ada@example.com";

/// A distinctive value no other text could hold by chance.
fn fresh(tag: &str) -> String {
    format!("{tag}-{}", Uuid::new_v4().simple())
}

/// The secrets of one run: a name for the report, the value, and the answer that issued it
/// (which alone may carry it).
#[derive(Debug, Default)]
struct Secrets(Vec<(String, String, Option<usize>)>);

impl Secrets {
    /// A secret the test makes up and sends.
    fn sent(&mut self, name: &str, value: impl Into<String>) -> String {
        let value = value.into();
        self.0.push((name.to_owned(), value.clone(), None));
        value
    }

    /// A secret answer `answer` handed out: it may be in that answer, nowhere else.
    fn issued(&mut self, name: &str, value: &str, answer: usize) {
        self.0
            .push((name.to_owned(), value.to_owned(), Some(answer)));
    }

    /// A JWT: whole, and its signature alone (a truncated token would still give it away).
    fn jwt(&mut self, name: &str, token: &str, answer: Option<usize>) {
        let signature = token.rsplit('.').next().unwrap_or(token).to_owned();
        self.0.push((name.to_owned(), token.to_owned(), answer));
        self.0
            .push((format!("{name} (signature)"), signature, answer));
    }
}

/// One answer as the client saw it.
#[derive(Debug)]
struct Answer {
    label: String,
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client that keeps every answer, coming from a client address of its own (the server
/// trusts 127.0.0.1 as a proxy), so that the rate limits shared through Redis are this run's.
struct Caller {
    http: reqwest::Client,
    base: String,
    answers: Vec<Answer>,
}

impl Caller {
    fn new(served: &Served) -> Self {
        let id = Uuid::new_v4();
        let b = id.as_bytes();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            format!("10.{}.{}.{}", b[0], b[1], b[2])
                .parse()
                .expect("a header value"),
        );
        headers.insert(
            "user-agent",
            "redaction-test/1.0".parse().expect("a header value"),
        );
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .expect("a client"),
            base: served.url(""),
            answers: Vec::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path).json(body)
    }

    /// Sends `request`, expecting `status`; returns the answer's index.
    async fn send(
        &mut self,
        label: &str,
        request: reqwest::RequestBuilder,
        status: StatusCode,
    ) -> usize {
        let response = request.send().await.expect("a response");
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let answered = response.status();
        let body = response.text().await.expect("a body");
        assert_eq!(answered, status, "{label}: {body}");
        self.answers.push(Answer {
            label: label.to_owned(),
            status: answered,
            headers,
            body,
        });
        self.answers.len() - 1
    }

    fn answer(&self, index: usize) -> &Answer {
        &self.answers[index]
    }
}

// ---- a fake GitHub ------------------------------------------------------------------------------

/// The form of every token request the fake received.
type TokenRequests = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// GitHub's three endpoints the sign-in uses, on a thread and runtime of their own (so that
/// nothing it does is logged to the test's subscriber). It keeps the form of every token
/// request, to show that the secrets did travel.
struct GitHub {
    base: String,
    token_requests: TokenRequests,
}

#[derive(Clone)]
struct GitHubState {
    access_token: String,
    token_requests: TokenRequests,
}

impl GitHub {
    fn start(access_token: &str) -> Self {
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let state = GitHubState {
            access_token: access_token.to_owned(),
            token_requests: token_requests.clone(),
        };
        let addr = serve_on_own_thread(
            axum::Router::new()
                .route("/login/oauth/access_token", post(github_token))
                .route("/user", get(github_user))
                .route("/user/emails", get(github_emails))
                .with_state(state),
        );
        Self {
            base: format!("http://{addr}"),
            token_requests,
        }
    }
}

async fn github_token(State(state): State<GitHubState>, body: Bytes) -> axum::Json<Value> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    state.token_requests.lock().expect("lock").push(form);
    axum::Json(json!({
        "access_token": state.access_token,
        "token_type": "bearer",
        "scope": "read:user,user:email",
    }))
}

fn github_authorized(state: &GitHubState, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", state.access_token))
}

async fn github_user(
    State(state): State<GitHubState>,
    headers: HeaderMap,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    if !github_authorized(&state, &headers) {
        return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})));
    }
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({"id": 4242, "name": "Octo Cat", "avatar_url": null})),
    )
}

async fn github_emails(
    State(state): State<GitHubState>,
    headers: HeaderMap,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    if !github_authorized(&state, &headers) {
        return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})));
    }
    (
        axum::http::StatusCode::OK,
        axum::Json(json!([{"email": "octo@example.com", "primary": true, "verified": true}])),
    )
}

// ---- the sweep ----------------------------------------------------------------------------------

/// `url` with `password` in its user information, when it names a user without one
/// (`postgres://postgres@host/db`), or, for Redis, names no user (`redis://host:6379`): the
/// test servers trust every password.
fn with_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') && !user.is_empty() => {
            Some(format!("{scheme}://{user}:{password}@{host}"))
        }
        None if scheme.starts_with("redis") => {
            Some(format!("{scheme}://default:{password}@{rest}"))
        }
        _ => None,
    }
}

/// Where `secret` is in `text`, with some text around it, or `None`. A long secret is also
/// looked for by its last 16 characters, which a truncated or re-framed copy would still hold
/// (its first ones may legitimately be shown: an API key's prefix names it).
fn found(text: &str, secret: &str) -> Option<String> {
    let tail = secret
        .len()
        .checked_sub(16)
        .filter(|_| secret.len() >= 32)
        .and_then(|at| secret.get(at..));
    let (at, len) = match text.find(secret) {
        Some(at) => (at, secret.len()),
        None => {
            let tail = tail?;
            (text.find(tail)?, tail.len())
        }
    };
    let bytes = text.as_bytes();
    let from = at.saturating_sub(300);
    let to = (at + len + 200).min(bytes.len());
    Some(String::from_utf8_lossy(&bytes[from..to]).into_owned())
}

/// Serves the example on `database_url` (with `secrets` holding its password, if any), sends
/// secrets everywhere, and finds none where none may be.
async fn sweep(database_url: String, mut secrets: Secrets) {
    let collector = Collector::start(Mode::Accept);
    let jwt_secret = secrets.sent(
        "CMMV_JWT_HS256_SECRET",
        fresh("jwt-secret-of-at-least-32-bytes"),
    );
    let client_secret = secrets.sent("CMMV_OAUTH_GITHUB_CLIENT_SECRET", fresh("gh-client-secret"));
    let otel_token = secrets.sent("OTEL_EXPORTER_OTLP_HEADERS", fresh("otel-collector-token"));
    let cursor_secret = secrets.sent(
        "CMMV_CURSOR_SECRET",
        fresh("cursor-secret-of-32-bytes-or-more"),
    );
    let component_token = secrets.sent("CMMV_PAYMENTS_API_TOKEN", fresh("component-token"));
    let provider_token = secrets.sent("GitHub's access token", fresh("gho"));
    let github = GitHub::start(&provider_token);
    let mut pairs = vec![
        ("CMMV_ADDR", "127.0.0.1:0".to_owned()),
        ("CMMV_SHUTDOWN_DELAY", "0s".to_owned()),
        ("CMMV_DATABASE_URL", database_url),
        ("CMMV_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ("CMMV_JWT_ISSUER", ISSUER.to_owned()),
        ("CMMV_JWT_AUDIENCE", AUDIENCE.to_owned()),
        ("CMMV_JWT_HS256_SECRET", jwt_secret.clone()),
        ("CMMV_CURSOR_SECRET", cursor_secret.clone()),
        ("CMMV_PAYMENTS_API_TOKEN", component_token.clone()),
        (
            "CMMV_OAUTH_GITHUB_CLIENT_ID",
            "redaction-test-client".to_owned(),
        ),
        ("CMMV_OAUTH_GITHUB_CLIENT_SECRET", client_secret.clone()),
        ("CMMV_OAUTH_GITHUB_URL", github.base.clone()),
        ("CMMV_OAUTH_GITHUB_API_URL", github.base.clone()),
        (
            "CMMV_OAUTH_REDIRECT_BASE",
            "http://127.0.0.1:8080".to_owned(),
        ),
        ("CMMV_OAUTH_FRONTEND_URL", FRONTEND.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", collector.addr),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer%20{otel_token},x-tenant=tests"),
        ),
        ("OTEL_SERVICE_NAME", "todo-redaction".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100000".to_owned()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512".to_owned()),
        // Every span and event of every crate is exported, not only the runtime's.
        ("CMMV_OTEL_FILTER", "trace".to_owned()),
    ];
    if let Ok(redis) = std::env::var("CMMV_TEST_REDIS_URL") {
        let password = fresh("redis-password");
        match with_password(&redis, &password) {
            Some(url) => {
                secrets.sent("CMMV_REDIS_URL's password", password);
                pairs.push(("CMMV_REDIS_URL", url));
            }
            None => pairs.push(("CMMV_REDIS_URL", redis)),
        }
    }
    let settings = Settings::from_pairs(pairs).expect("valid settings");
    // The secrets are in the settings, where the components take them from.
    assert_eq!(
        settings
            .telemetry
            .headers
            .first()
            .map(|(n, v)| (n.as_str(), v.expose())),
        Some(("authorization", format!("Bearer {otel_token}").as_str()))
    );
    assert_eq!(
        settings.extra("CMMV_PAYMENTS_API_TOKEN"),
        Some(component_token.as_str())
    );

    // (1) Debug output of the settings and of what is built from them.
    let mut shown = vec![
        ("Settings", format!("{settings:?}")),
        ("Settings (pretty)", format!("{settings:#?}")),
        ("TelemetrySettings", format!("{:?}", settings.telemetry)),
    ];
    // A PostgreSQL and a Redis URL with passwords, as operators write them.
    let db_password = secrets.sent("a PostgreSQL URL's password", fresh("pg-password"));
    let redis_password = secrets.sent("a Redis URL's password", fresh("redis-password"));
    let elsewhere = Settings::from_pairs([
        (
            "CMMV_DATABASE_URL",
            format!("postgres://app:{db_password}@db.internal:5432/app"),
        ),
        (
            "CMMV_REDIS_URL",
            format!("redis://default:{redis_password}@cache.internal:6379/0"),
        ),
    ])
    .expect("valid settings");
    shown.push(("Settings with URLs", format!("{elsewhere:?}")));

    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let tracing = Tracing::start(&settings.telemetry)
        .expect("the exporter starts")
        .expect("an endpoint is configured");
    shown.push(("Tracing", format!("{tracing:?}")));
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_target(true)
        .with_writer(move || writer.clone());
    let subscriber = tracing_subscriber::registry()
        .with(logs)
        .with(tracing.layer());
    let guard = tracing::subscriber::set_default(subscriber);
    let service = todo::assemble(settings).await.expect("the example starts");
    shown.push(("the assembled service", format!("{service:?}")));
    let served = Served::start(service.app).await;
    let mut caller = Caller::new(&served);

    // (2) Passwords: registration, a wrong guess, a sign-in.
    let password = secrets.sent("password", fresh("correct-horse"));
    let wrong = secrets.sent("wrong password", fresh("wrong-guess"));
    let request = caller.post(
        "/auth/register",
        &json!({"email": ADA, "password": password}),
    );
    caller.send("register", request, StatusCode::CREATED).await;
    let request = caller.post("/auth/login", &json!({"email": ADA, "password": wrong}));
    caller
        .send(
            "login with a wrong password",
            request,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    let request = caller.post("/auth/login", &json!({"email": ADA, "password": password}));
    let at = caller.send("login", request, StatusCode::OK).await;
    let tokens = caller.answer(at).json();
    let first_access = tokens["access_token"].as_str().expect("a token").to_owned();
    let first_refresh = tokens["refresh_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    secrets.jwt("access token", &first_access, Some(at));
    secrets.issued("refresh token", &first_refresh, at);

    // (3) Refresh tokens: a good one, a made-up one.
    let request = caller.post("/auth/refresh", &json!({"refresh_token": first_refresh}));
    let at = caller.send("refresh", request, StatusCode::OK).await;
    let tokens = caller.answer(at).json();
    let access = tokens["access_token"].as_str().expect("a token").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    secrets.jwt("refreshed access token", &access, Some(at));
    secrets.issued("rotated refresh token", &refresh, at);
    let made_up = secrets.sent("made-up refresh token", fresh("refresh"));
    let request = caller.post("/auth/refresh", &json!({"refresh_token": made_up}));
    caller
        .send(
            "refresh with a made-up token",
            request,
            StatusCode::UNAUTHORIZED,
        )
        .await;

    // (4) Authorization: a bearer token, a forged one, an HTTP Basic credential.
    let request = caller.get("/auth/me").bearer_auth(&access);
    caller
        .send("me with a bearer token", request, StatusCode::OK)
        .await;
    let forged_key = fresh("forged-signing-key-of-32-bytes-at-least");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("hs256".to_owned()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": fresh("forged-subject"),
            "exp": crate::auth_support::now() + 600, "roles": ["admin"],
        }),
        &jsonwebtoken::EncodingKey::from_secret(forged_key.as_bytes()),
    )
    .expect("a token");
    secrets.jwt("forged bearer token", &forged, None);
    let request = caller.get("/auth/me").bearer_auth(&forged);
    caller
        .send("me with a forged token", request, StatusCode::UNAUTHORIZED)
        .await;
    let garbage = secrets.sent("garbage bearer token", fresh("not-a-jwt"));
    let request = caller.get("/auth/me").bearer_auth(&garbage);
    caller
        .send("me with a garbage token", request, StatusCode::UNAUTHORIZED)
        .await;
    let basic_password = secrets.sent("HTTP Basic password", fresh("basic-password"));
    let basic = secrets.sent(
        "HTTP Basic credential",
        base64::engine::general_purpose::STANDARD.encode(format!("{ADA}:{basic_password}")),
    );
    let request = caller
        .get("/auth/me")
        .header("authorization", format!("Basic {basic}"));
    caller
        .send("me with HTTP Basic", request, StatusCode::UNAUTHORIZED)
        .await;

    // (5) API keys: one minted here, in both headers; a made-up one.
    let request = caller
        .post("/auth/api-keys", &json!({"name": "ci"}))
        .bearer_auth(&access);
    let at = caller
        .send("create an API key", request, StatusCode::CREATED)
        .await;
    let key = caller.answer(at).json()["key"]
        .as_str()
        .expect("the key")
        .to_owned();
    secrets.issued("API key", &key, at);
    let request = caller.get("/auth/me").header("x-api-key", &key);
    caller
        .send("me with X-API-Key", request, StatusCode::OK)
        .await;
    let request = caller
        .get("/auth/me")
        .header("authorization", format!("ApiKey {key}"));
    caller
        .send("me with Authorization: ApiKey", request, StatusCode::OK)
        .await;
    let request = caller.get("/auth/api-keys").bearer_auth(&access);
    caller.send("list API keys", request, StatusCode::OK).await;
    let made_up_key = secrets.sent("made-up API key", fresh("cmmv_made_up"));
    let request = caller.get("/auth/me").header("x-api-key", &made_up_key);
    caller
        .send(
            "me with a made-up API key",
            request,
            StatusCode::UNAUTHORIZED,
        )
        .await;

    // (6) Cookies, a query string and a body that fails validation, on a resource.
    let cookie = secrets.sent("Cookie", fresh("session-cookie"));
    let cookie_header = format!("session={cookie}; theme=dark");
    let request = caller
        .post("/v1/notes", &json!({"title": "groceries"}))
        .bearer_auth(&access)
        .header("cookie", &cookie_header);
    caller
        .send("create a note with cookies", request, StatusCode::CREATED)
        .await;
    let request = caller
        .get("/v1/notes")
        .bearer_auth(&access)
        .header("cookie", &cookie_header);
    caller
        .send("list notes with cookies", request, StatusCode::OK)
        .await;
    let in_query = secrets.sent("query string", fresh("query-api-key"));
    let request = caller
        .get(&format!("/v1/notes?api_key={in_query}"))
        .bearer_auth(&access);
    caller
        .send(
            "list notes with ?api_key=",
            request,
            StatusCode::BAD_REQUEST,
        )
        .await;
    let in_body = secrets.sent("wrong-typed body field", fresh("body-secret"));
    let request = caller
        .post("/v1/notes", &json!({"title": "t", "pinned": in_body}))
        .bearer_auth(&access);
    let at = caller
        .send(
            "a note failing validation",
            request,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let problem = caller.answer(at).json();
    assert_eq!(problem["errors"][0]["pointer"], "/pinned", "{problem}");
    // A string that is not a UUID, an enum value or a number is named back in its problem
    // ("`...` is not a UUID"): to its own sender, who sent it. It may be in that answer,
    // and must be nowhere else.
    let as_uuid = fresh("uuid-field-secret");
    let as_enum = fresh("enum-field-secret");
    let request = caller
        .post(
            "/v1/tasks",
            &json!({"title": "t", "notes": null, "project_id": as_uuid, "priority": as_enum}),
        )
        .bearer_auth(&access);
    let at = caller
        .send(
            "a task failing validation",
            request,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    secrets.issued("non-UUID body field (named back)", &as_uuid, at);
    secrets.issued("non-enum body field (named back)", &as_enum, at);
    let as_number = fresh("query-number-secret");
    let request = caller
        .get(&format!("/v2/tasks/search?q=ab&max_results={as_number}"))
        .bearer_auth(&access);
    let at = caller
        .send(
            "a search failing validation",
            request,
            StatusCode::BAD_REQUEST,
        )
        .await;
    secrets.issued("non-number query parameter (named back)", &as_number, at);

    // (7) An OAuth sign-in: the flow cookie the server sets, its state, the provider's code
    // and token, the one-time code; and a forged callback.
    let request = caller.get("/auth/oauth/providers");
    caller.send("list providers", request, StatusCode::OK).await;
    let request = caller.get("/auth/oauth/github/start");
    let at = caller.send("OAuth start", request, StatusCode::FOUND).await;
    let started = caller.answer(at);
    let set_cookie = started.header("set-cookie").expect("the flow's cookie");
    let browser = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("cmmv_oauth="))
        .expect("cmmv_oauth=...")
        .to_owned();
    let location = Url::parse(started.header("location").expect("a redirect")).expect("a URL");
    assert!(location.as_str().starts_with(&github.base), "{location}");
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    secrets.issued("Set-Cookie (OAuth flow cookie)", &browser, at);
    secrets.issued("OAuth state", &state, at);
    let flow_cookie = format!("cmmv_oauth={browser}");
    let forged_state = secrets.sent("forged OAuth state", fresh("state"));
    let forged_code = secrets.sent("forged OAuth code", fresh("code"));
    let request = caller
        .get(&format!(
            "/auth/oauth/github/callback?code={forged_code}&state={forged_state}"
        ))
        .header("cookie", &flow_cookie);
    caller
        .send(
            "OAuth callback with a forged state",
            request,
            StatusCode::BAD_REQUEST,
        )
        .await;
    let provider_code = secrets.sent("provider's authorization code", fresh("gh-code"));
    let request = caller
        .get(&format!(
            "/auth/oauth/github/callback?code={provider_code}&state={state}"
        ))
        .header("cookie", &flow_cookie);
    let at = caller
        .send("OAuth callback", request, StatusCode::FOUND)
        .await;
    let back =
        Url::parse(caller.answer(at).header("location").expect("a redirect")).expect("a URL");
    assert!(back.as_str().starts_with(FRONTEND), "{back}");
    let one_time = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a one-time code");
    secrets.issued("OAuth one-time code", &one_time, at);
    let request = caller
        .post("/auth/oauth/exchange", &json!({"code": one_time}))
        .header("cookie", &flow_cookie);
    let at = caller.send("OAuth exchange", request, StatusCode::OK).await;
    let tokens = caller.answer(at).json();
    secrets.jwt(
        "OAuth access token",
        tokens["access_token"].as_str().expect("a token"),
        Some(at),
    );
    secrets.issued(
        "OAuth refresh token",
        tokens["refresh_token"].as_str().expect("a token"),
        at,
    );
    {
        // The client secret and the code did travel, to the provider only.
        let requests = github.token_requests.lock().expect("lock");
        let form = requests.first().expect("a token request");
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("client_secret"), Some(client_secret.as_str()));
        assert_eq!(field("code"), Some(provider_code.as_str()));
    }

    // (8) A password change and a sign-out.
    let new_password = secrets.sent("new password", fresh("new-passphrase"));
    let request = caller
        .post(
            "/auth/password",
            &json!({"current_password": password, "new_password": new_password}),
        )
        .bearer_auth(&access);
    let at = caller
        .send("change the password", request, StatusCode::OK)
        .await;
    let tokens = caller.answer(at).json();
    let last_refresh = tokens["refresh_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    secrets.jwt(
        "access token after the password change",
        tokens["access_token"].as_str().expect("a token"),
        Some(at),
    );
    secrets.issued("refresh token after the password change", &last_refresh, at);
    let request = caller.post("/auth/logout", &json!({"refresh_token": last_refresh}));
    caller.send("logout", request, StatusCode::NO_CONTENT).await;

    // (9) What operators and probes read.
    for path in [
        "/health/live",
        "/health/ready",
        "/health/started",
        "/metrics",
    ] {
        let request = caller.get(path);
        caller.send(path, request, StatusCode::OK).await;
    }

    served.shutdown().await;
    drop(guard);
    tokio::task::spawn_blocking(move || tracing.shutdown())
        .await
        .expect("the exporter shuts down");

    let logs = captured.text();
    let spans = collector.spans();
    let exported = format!("{spans:?}");
    // What was captured is what a debug-level look would see: the runtime's `tracing` spans
    // are at `debug`, and name the lines logged inside them (the provider's answers, in the
    // client span of each call). (Whether other crates' TRACE lines show depends on which test
    // registered their callsites first, so none is required.)
    assert!(
        logs.lines()
            .any(|line| line.contains("the identity provider answered")
                && line.contains("\"name\":\"http_client\"")),
        "debug spans are captured"
    );
    assert!(
        logs.contains("request answered"),
        "the request log lines are captured"
    );
    assert!(
        logs.contains("cmmv::audit"),
        "the audit records are captured"
    );
    for name in [
        "POST /auth/login",
        "GET /auth/oauth/{provider}/callback",
        "authenticate",
        "rate_limit",
    ] {
        assert!(
            spans.iter().any(|(_, span)| span.name == name),
            "a {name} span was exported"
        );
    }
    // The calls to the identity provider: the code exchange and the two API reads.
    let client_calls = spans
        .iter()
        .filter(|(_, span)| span.kind == SpanKind::Client as i32)
        .filter(|(_, span)| span.name == "POST" || span.name == "GET")
        .count();
    assert_eq!(client_calls, 3, "the provider's calls were exported");

    let mut leaks = Vec::new();
    for (name, value, issuer) in &secrets.0 {
        for (place, text) in &shown {
            if let Some(context) = found(text, value) {
                leaks.push(format!(
                    "{name} in the Debug output of {place}: …{context}…"
                ));
            }
        }
        if let Some(context) = found(&logs, value) {
            leaks.push(format!("{name} in the logs: …{context}…"));
        }
        if let Some(context) = found(&exported, value) {
            leaks.push(format!("{name} in the exported spans: …{context}…"));
        }
        for (index, answer) in caller.answers.iter().enumerate() {
            if Some(index) == *issuer {
                continue;
            }
            if let Some(context) = found(&answer.body, value) {
                leaks.push(format!(
                    "{name} in the body of `{}` ({}): …{context}…",
                    answer.label, answer.status
                ));
            }
            for (header, text) in &answer.headers {
                if found(text, value).is_some() {
                    leaks.push(format!(
                        "{name} in header {header} of `{}`: {text}",
                        answer.label
                    ));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n\n"));
}

/// The example on a SQLite file, with Redis (its URL holding a password) when
/// `CMMV_TEST_REDIS_URL` is set.
#[tokio::test(flavor = "current_thread")]
async fn secrets_reach_no_log_span_or_problem_on_sqlite() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}", dir.path().join("todo.db").display());
    sweep(url, Secrets::default()).await;
}

/// The example on PostgreSQL through a URL holding a password (the test server trusts any),
/// where the statements run on this thread and log to its subscriber.
#[tokio::test(flavor = "current_thread")]
async fn secrets_reach_no_log_span_or_problem_on_postgres() {
    let Ok(server) = std::env::var(DATABASE_URL_VAR) else {
        skip("secrets_reach_no_log_span_or_problem_on_postgres");
        return;
    };
    let schema = TestDatabase::create_schema(&server, "redaction").await;
    let mut secrets = Secrets::default();
    let password = fresh("pg-password");
    let url = match with_password(&server, &password) {
        Some(url) => {
            secrets.sent("CMMV_DATABASE_URL's password", password);
            url
        }
        None => server.clone(),
    };
    sweep(with_search_path(&url, &schema), secrets).await;
    drop_schema(&server, &schema).await;
}
