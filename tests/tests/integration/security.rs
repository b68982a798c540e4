//! The security review's regressions (issue 15), each over real HTTP against the example
//! service as `cargo run -p todo` assembles it (`todo::assemble`: a SQLite file, every
//! contract, the login module), or against the login module alone where a part of it is
//! swapped (the mailer of the enumeration-safe registration):
//!
//! - behind a proxy that appends to `X-Forwarded-For` (a real one, in front of the app), a
//!   `Forwarded` header the client writes changes nothing;
//! - login attempts from many addresses of one IPv6 /64 draw from one budget;
//! - the NFC and NFD spellings of one email are one account, and a password typed in either
//!   form signs in;
//! - `/auth/register` can answer alike for new and taken addresses.
//!
//! Keys that must not manage keys are in `auth_login.rs`, the credential limits with Redis
//! down in `ratelimit_redis.rs`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use cmmv::auth::{
    AccountMailer, AuthStore, BoxFuture, Login, MemoryAuthStore, Registration, SqlAuthStore,
};
use cmmv::ratelimit::Cidr;
use cmmv::{App, Settings};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::auth_support::with_auth;
use crate::runtime_support::{Served, client, json as body_of, post, problem, settings};
use crate::store_support::{TestDatabase, sqlite_database};

const PASSWORD: &str = "correct horse battery staple";

/// The example service on a SQLite file in `dir`, signing tokens with the tests' key.
async fn example(dir: &tempfile::TempDir, tune: impl FnOnce(&mut Settings)) -> Served {
    let mut settings = with_auth(settings());
    settings.database_url = format!("sqlite://{}", dir.path().join("todo.db").display());
    tune(&mut settings);
    let service = todo::assemble(settings)
        .await
        .expect("the example assembles");
    Served::start(service.app).await
}

async fn login_attempt(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client
        .post(format!("{url}/auth/login"))
        .json(&json!({"email": "victim@example.com", "password": "guess guess guess"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("a response")
}

// ---- a proxy in front of the app ---------------------------------------------------------------

/// A reverse proxy doing what nginx does with
/// `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for` (and AWS ALB by default):
/// every request goes on to the app with the peer's address appended to `X-Forwarded-For`;
/// every other header, `Forwarded` included, passes through untouched.
struct ForwardingProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the proxy binds");
        let addr = listener.local_addr().expect("an address");
        let router = axum::Router::new()
            .fallback(forward)
            .with_state((upstream, client()));
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        Self { addr, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ForwardingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State((upstream, client)): State<(SocketAddr, reqwest::Client)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a small body");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let appended = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    headers.insert(
        "x-forwarded-for",
        appended.parse().expect("an address is a header value"),
    );
    let answer = client
        .request(parts.method, format!("http://{upstream}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("the app answers the proxy");
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.expect("a body");
    (status, headers, body).into_response()
}

/// A client whose connections come from `ip` (any address of 127.0.0.0/8 is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("an address"))
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client")
}

#[tokio::test]
async fn behind_an_x_forwarded_for_proxy_a_forwarded_header_from_the_client_changes_nothing() {
    let dir = tempfile::tempdir().expect("a directory");
    // The app trusts its proxy (it connects from 127.0.0.1) and reads the header the proxy
    // writes: X-Forwarded-For, the default.
    let app = example(&dir, |settings| {
        settings.rate_limit.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().expect("cidr")];
    })
    .await;
    let proxy = ForwardingProxy::start(app.addr).await;
    let attacker = client_from("127.0.0.2");
    // The attacker names a new client in every `Forwarded` (one of them its victim's address)
    // and prepends hops of its own to X-Forwarded-For: were either read, each attempt would
    // get a fresh budget of login attempts, or spend the victim's.
    let mut statuses = Vec::new();
    for n in 0..8 {
        let claimed = if n == 3 {
            "for=127.0.0.3".to_owned()
        } else {
            format!("for=198.51.100.{n}")
        };
        let response = login_attempt(
            &attacker,
            &proxy.url(),
            &[
                ("forwarded", claimed.as_str()),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    // the login contract's limit: 5 at once per client, then refused: the attacker is one client.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // The victim, whose address the attacker claimed, still has its whole budget.
    let victim = login_attempt(&client_from("127.0.0.3"), &proxy.url(), &[]).await;
    problem(victim, 401, "/auth/login").await;
    // And a forwarding header sent straight to the app by an untrusted peer is ignored too.
    let direct = login_attempt(
        &client_from("127.0.0.4"),
        &app.url(""),
        &[("x-forwarded-for", "127.0.0.2")],
    )
    .await;
    problem(direct, 401, "/auth/login").await;
}

#[tokio::test]
async fn login_attempts_from_one_ipv6_64_hit_the_limit_like_those_from_one_address() {
    let dir = tempfile::tempdir().expect("a directory");
    // The test client stands for the trusted proxy: it writes X-Forwarded-For itself.
    let app = example(&dir, |settings| {
        settings.rate_limit.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().expect("cidr")];
    })
    .await;
    let local = client();
    let mut spread = Vec::new();
    for n in 1..=12 {
        // Twelve addresses of 2001:db8:5:6::/64, as a client with a /64 picks them.
        let address = format!("2001:db8:5:6:{n:x}:{:x}::{n:x}", (n * 7919) % 0x1_0000);
        let response = login_attempt(&local, &app.url(""), &[("x-forwarded-for", &address)]).await;
        spread.push(response.status().as_u16());
    }
    let mut single = Vec::new();
    for _ in 1..=12 {
        let response = login_attempt(
            &local,
            &app.url(""),
            &[("x-forwarded-for", "2001:db8:7:8::1")],
        )
        .await;
        single.push(response.status().as_u16());
    }
    assert_eq!(spread, single);
    assert_eq!(
        spread.iter().filter(|s| **s == 401).count(),
        5,
        "{spread:?}"
    );
    assert!(spread[5..].iter().all(|s| *s == 429), "{spread:?}");
    // The neighbouring /64 is another client.
    let neighbour = login_attempt(
        &local,
        &app.url(""),
        &[("x-forwarded-for", "2001:db8:5:7::1")],
    )
    .await;
    problem(neighbour, 401, "/auth/login").await;
}

// ---- Unicode -----------------------------------------------------------------------------------

#[tokio::test]
async fn nfc_and_nfd_spellings_of_one_email_are_one_account() {
    let dir = tempfile::tempdir().expect("a directory");
    let app = example(&dir, |settings| settings.rate_limit.enabled = false).await;
    // "jörg" with a precomposed ö (NFC), and with o + U+0308 (NFD); the domain in Unicode,
    // with capitals, and in its IDNA form.
    let nfc = "j\u{f6}rg@b\u{fc}cher.example";
    let nfd = "JO\u{308}RG@BU\u{308}CHER.example";
    let ascii_domain = "jo\u{308}rg@xn--bcher-kva.example";
    let password_nfc = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
    let password_nfd = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";

    let created = client()
        .post(app.url("/auth/register"))
        .json(&json!({"email": nfc, "password": password_nfc}))
        .send()
        .await
        .expect("a response");
    assert_eq!(created.status(), 201);
    let user = body_of(created).await;
    assert_eq!(user["email"], "j\u{f6}rg@xn--bcher-kva.example", "{user}");

    for spelling in [nfd, ascii_domain] {
        let again = client()
            .post(app.url("/auth/register"))
            .json(&json!({"email": spelling, "password": "another long password"}))
            .send()
            .await
            .expect("a response");
        problem(again, 409, "/auth/register").await;
    }
    for (email, password) in [(nfd, password_nfd), (ascii_domain, password_nfc)] {
        let signed_in = client()
            .post(app.url("/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("a response");
        assert_eq!(signed_in.status(), 200, "{email:?} / {password:?}");
        let tokens = body_of(signed_in).await;
        let me = client()
            .get(app.url("/auth/me"))
            .bearer_auth(tokens["access_token"].as_str().expect("a token"))
            .send()
            .await
            .expect("a response");
        assert_eq!(body_of(me).await["subject"], user["id"]);
    }
    // A domain IDNA refuses is no address.
    let refused = client()
        .post(app.url("/auth/register"))
        .json(&json!({"email": "a@exa mple..com", "password": PASSWORD}))
        .send()
        .await
        .expect("a response");
    let body = problem(refused, 422, "/auth/register").await;
    assert_eq!(body["errors"][0]["pointer"], "/email", "{body}");
}

// ---- enumeration-safe registration -------------------------------------------------------------

/// What the app's mail system was asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mail {
    Confirmation { to: String, token: String },
    AlreadyRegistered { to: String },
}

/// The app's mailer in these tests: it keeps what it was asked to send.
#[derive(Debug, Default)]
struct Outbox {
    mails: Mutex<Vec<Mail>>,
}

impl Outbox {
    /// The next mail to `to`, waiting for it (the module sends from a task of its own).
    async fn next_to(&self, to: &str) -> Mail {
        for _ in 0..200 {
            {
                let mut mails = self.mails.lock().expect("the outbox");
                let addressed = |mail: &Mail| match mail {
                    Mail::Confirmation { to: t, .. } | Mail::AlreadyRegistered { to: t } => t == to,
                };
                if let Some(at) = mails.iter().position(addressed) {
                    return mails.remove(at);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no mail to {to}");
    }
}

impl AccountMailer for Outbox {
    fn send_confirmation<'a>(&'a self, email: &'a str, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.mails
                .lock()
                .expect("the outbox")
                .push(Mail::Confirmation {
                    to: email.to_owned(),
                    token: token.to_owned(),
                });
        })
    }

    fn send_already_registered<'a>(&'a self, email: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.mails
                .lock()
                .expect("the outbox")
                .push(Mail::AlreadyRegistered {
                    to: email.to_owned(),
                });
        })
    }
}

fn confirm_settings() -> Settings {
    let mut settings = with_auth(settings());
    settings.auth.registration = Registration::Confirm;
    settings.rate_limit.enabled = false;
    settings
}

async fn serve_confirming(store: Arc<dyn AuthStore>, outbox: &Arc<Outbox>) -> Served {
    let settings = confirm_settings();
    let login = Login::from_settings(store, &settings)
        .expect("the login module starts")
        .with_mailer(Arc::clone(outbox) as Arc<dyn AccountMailer>);
    let app = App::builder(settings)
        .login(&login)
        .build()
        .expect("the app builds");
    Served::start(app).await
}

/// Registers and returns the status and body, which must be the same for every address.
async fn register(served: &Served, email: &str, password: &str) -> (u16, Value) {
    let response = post(
        served,
        "/auth/register",
        &json!({"email": email, "password": password}),
    )
    .await;
    (response.status().as_u16(), body_of(response).await)
}

async fn confirming_registration(store: Arc<dyn AuthStore>, tag: &str) {
    let outbox = Arc::new(Outbox::default());
    let served = serve_confirming(store, &outbox).await;
    let new = format!("new.{tag}@example.com");

    // A new address: accepted, pending; it cannot sign in before the mailbox answers.
    let (status, body) = register(&served, &new, PASSWORD).await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"email": new, "status": "pending_confirmation"})
    );
    let Mail::Confirmation { token, .. } = outbox.next_to(&new).await else {
        panic!("a confirmation");
    };
    let pending = post(
        &served,
        "/auth/login",
        &json!({"email": new, "password": PASSWORD}),
    )
    .await;
    let wrong = post(
        &served,
        "/auth/login",
        &json!({"email": new, "password": "not the password at all"}),
    )
    .await;
    let pending = problem(pending, 401, "/auth/login").await;
    let wrong = problem(wrong, 401, "/auth/login").await;
    assert_eq!(pending["detail"], wrong["detail"]);

    // The token signs the owner in, once.
    let bogus = post(&served, "/auth/confirm", &json!({"token": "0".repeat(64)})).await;
    problem(bogus, 400, "/auth/confirm").await;
    let confirmed = post(&served, "/auth/confirm", &json!({ "token": token })).await;
    assert_eq!(confirmed.status(), 200);
    assert!(body_of(confirmed).await["access_token"].is_string());
    let again = post(&served, "/auth/confirm", &json!({ "token": token })).await;
    problem(again, 400, "/auth/confirm").await;
    let signed_in = post(
        &served,
        "/auth/login",
        &json!({"email": new, "password": PASSWORD}),
    )
    .await;
    assert_eq!(signed_in.status(), 200);

    // A taken address gets the very same answer; its owner is told, its password unchanged.
    let (status, taken) = register(&served, &new.to_uppercase(), "an attacker's password").await;
    assert_eq!((status, &taken), (202, &body));
    assert_eq!(
        outbox.next_to(&new).await,
        Mail::AlreadyRegistered { to: new.clone() }
    );
    let still = post(
        &served,
        "/auth/login",
        &json!({"email": new, "password": PASSWORD}),
    )
    .await;
    assert_eq!(still.status(), 200);

    // Someone registers another's address first: the address's owner registering later
    // starts over, and only the latest token (in the owner's mailbox) confirms, with the
    // owner's password.
    let squatted = format!("squatted.{tag}@example.com");
    register(&served, &squatted, "the squatter's password").await;
    let Mail::Confirmation { token: first, .. } = outbox.next_to(&squatted).await else {
        panic!("a confirmation");
    };
    let (status, _) = register(&served, &squatted, PASSWORD).await;
    assert_eq!(status, 202);
    let Mail::Confirmation { token: second, .. } = outbox.next_to(&squatted).await else {
        panic!("a new confirmation");
    };
    problem(
        post(&served, "/auth/confirm", &json!({ "token": first })).await,
        400,
        "/auth/confirm",
    )
    .await;
    let confirmed = post(&served, "/auth/confirm", &json!({ "token": second })).await;
    assert_eq!(confirmed.status(), 200);
    let squatter = post(
        &served,
        "/auth/login",
        &json!({"email": squatted, "password": "the squatter's password"}),
    )
    .await;
    problem(squatter, 401, "/auth/login").await;
    let owner = post(
        &served,
        "/auth/login",
        &json!({"email": squatted, "password": PASSWORD}),
    )
    .await;
    assert_eq!(owner.status(), 200);
    served.shutdown().await;
}

#[tokio::test]
async fn confirming_registration_answers_alike_on_memory() {
    confirming_registration(Arc::new(MemoryAuthStore::new()), "memory").await;
}

#[tokio::test]
async fn confirming_registration_answers_alike_on_sqlite() {
    let (_dir, db) = sqlite_database().await;
    let store = SqlAuthStore::open(db).await.expect("auth migrations");
    confirming_registration(Arc::new(store), "sqlite").await;
}

#[tokio::test]
async fn confirming_registration_answers_alike_on_postgres() {
    let Some(test_db) = TestDatabase::postgres("confirm").await else {
        return;
    };
    let store = SqlAuthStore::open(test_db.db.clone())
        .await
        .expect("auth migrations");
    confirming_registration(Arc::new(store), "postgres").await;
    test_db.drop().await;
}

#[tokio::test]
async fn confirmation_tokens_expire() {
    let store: Arc<dyn AuthStore> = Arc::new(MemoryAuthStore::new());
    let outbox = Arc::new(Outbox::default());
    let mut settings = confirm_settings();
    settings.auth.confirmation_ttl = Duration::from_secs(1);
    let login = Login::from_settings(store, &settings)
        .expect("the login module starts")
        .with_mailer(Arc::clone(&outbox) as Arc<dyn AccountMailer>);
    let served = Served::start(
        App::builder(settings)
            .login(&login)
            .build()
            .expect("the app builds"),
    )
    .await;
    register(&served, "late@example.com", PASSWORD).await;
    let Mail::Confirmation { token, .. } = outbox.next_to("late@example.com").await else {
        panic!("a confirmation");
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = post(&served, "/auth/confirm", &json!({ "token": token })).await;
    problem(late, 400, "/auth/confirm").await;
}

#[tokio::test]
async fn confirming_registration_without_a_mailer_does_not_start() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut settings = confirm_settings();
    settings.database_url = format!("sqlite://{}", dir.path().join("todo.db").display());
    let error = todo::assemble(settings)
        .await
        .expect_err("no mail system to send confirmations with");
    assert!(error.contains("CMMV_AUTH_REGISTRATION"), "{error}");
    assert!(error.contains("AccountMailer"), "{error}");
}

#[tokio::test]
async fn immediate_registration_without_the_setting_is_unchanged() {
    // The default still answers 201 and 409: the enumeration-safe flow is an option.
    let dir = tempfile::tempdir().expect("a directory");
    let app = example(&dir, |settings| settings.rate_limit.enabled = false).await;
    let first = post(
        &app,
        "/auth/register",
        &json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(first.status(), 201);
    let taken = post(
        &app,
        "/auth/register",
        &json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    problem(taken, 409, "/auth/register").await;
    // Confirmation is served in every mode (the documents list it), but without the
    // enumeration-safe flow no token was ever issued: every one is refused.
    let refused = post(&app, "/auth/confirm", &json!({"token": "x"})).await;
    problem(refused, 400, "/auth/confirm").await;
}

// ---- secrets at rest ---------------------------------------------------------------------------

/// A password no other test uses, so that finding its bytes anywhere means it was stored.
const AT_REST_PASSWORD: &str = "a distinctive passphrase 7f3a9c";
const FIRST_PASSWORD: &str = "first password 4c1e9d";
const SECOND_PASSWORD: &str = "second password 8b2f07";

/// Registers a user through the example's login module with [`AT_REST_PASSWORD`]; returns
/// the account's id (its `User`'s).
async fn register_at_rest(app: &Served) -> String {
    let created = post(
        app,
        "/auth/register",
        &json!({"email": "at-rest@example.com", "password": AT_REST_PASSWORD}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let account = body_of(created).await;
    let body = account.to_string();
    assert!(
        !body.contains(AT_REST_PASSWORD) && !body.contains("argon2"),
        "{body}"
    );
    account["id"].as_str().expect("an id").to_owned()
}

/// Creates a `Project` of the example owned by `owner` (its `access_code` is `type: secret`)
/// and replaces its access code; checks that no answer shows either. Returns the project's id.
async fn project_with_a_changed_access_code(app: &Served, owner: &str) -> String {
    let admin = crate::auth_support::admin_client();
    let created = admin
        .post(app.url("/v1/projects"))
        .json(&json!({"name": "Secret project", "owner_id": owner, "access_code": FIRST_PASSWORD}))
        .send()
        .await
        .expect("a response");
    assert_eq!(created.status(), 201);
    let project = body_of(created).await;
    let shown = project.to_string();
    assert!(
        !shown.contains("access_code") && !shown.contains("argon2"),
        "{shown}"
    );
    let id = project["id"].as_str().expect("an id").to_owned();
    let replaced = admin
        .put(app.url(&format!("/v1/projects/{id}")))
        .json(&json!({"name": "Secret project", "owner_id": owner, "access_code": SECOND_PASSWORD}))
        .send()
        .await
        .expect("a response");
    assert_eq!(replaced.status(), 200);
    let shown = body_of(replaced).await.to_string();
    assert!(
        !shown.contains(SECOND_PASSWORD) && !shown.contains("argon2"),
        "{shown}"
    );
    let read = admin
        .get(app.url(&format!("/v1/projects/{id}")))
        .send()
        .await
        .expect("a response");
    let shown = body_of(read).await.to_string();
    assert!(
        !shown.contains("access_code") && !shown.contains("argon2"),
        "{shown}"
    );
    // Too short a code is refused by its rules, without being quoted.
    let short = admin
        .post(app.url("/v1/projects"))
        .json(&json!({"name": "Short code", "owner_id": owner, "access_code": "tiny secret"}))
        .send()
        .await
        .expect("a response");
    let problem = problem(short, 422, "/v1/projects").await;
    assert_eq!(problem["errors"][0]["pointer"], "/access_code", "{problem}");
    assert!(!problem.to_string().contains("tiny secret"), "{problem}");
    id
}

/// The stored hash verifies the second password only.
fn assert_stored_hash(stored: &str) {
    assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
    let hash = cmmv::secret::SecretHash::from_phc(stored);
    assert!(hash.verify(SECOND_PASSWORD));
    assert!(!hash.verify(FIRST_PASSWORD));
}

/// The example on `database_url` with its limits off, and its database to close once served.
async fn example_on(database_url: String) -> (Served, cmmv::sql::Database) {
    let mut settings = with_auth(settings());
    settings.database_url = database_url;
    settings.rate_limit.enabled = false;
    let service = todo::assemble(settings)
        .await
        .expect("the example assembles");
    let database = service.database.clone().expect("a database");
    (Served::start(service.app).await, database)
}

/// Asserts that no file in `dir` holds the bytes of any of `secrets`.
fn assert_not_in_files(dir: &std::path::Path, secrets: &[&str]) {
    for entry in std::fs::read_dir(dir).expect("the directory") {
        let path = entry.expect("an entry").path();
        // SQLite removes its log and shared memory when the last connection closes.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a clear secret is in {}",
                path.display()
            );
        }
    }
}

/// Every secret these tests send: one registered with the login module, two given to the
/// contract's `Project.access_code`.
const CLEAR_TEXTS: [&str; 3] = [AT_REST_PASSWORD, FIRST_PASSWORD, SECOND_PASSWORD];

#[tokio::test]
async fn passwords_are_nowhere_in_the_sqlite_files_only_their_hashes() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}", dir.path().join("todo.db").display());
    let (app, database) = example_on(url.clone()).await;
    let owner = register_at_rest(&app).await;
    let id = project_with_a_changed_access_code(&app, &owner).await;
    app.shutdown().await;
    // Every byte SQLite wrote: the database and its write-ahead log while open, then the
    // database once the log is checkpointed into it.
    assert_not_in_files(dir.path(), &CLEAR_TEXTS);
    database.close().await;
    assert_not_in_files(dir.path(), &CLEAR_TEXTS);
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("the file opens");
    let (hash,): (String,) = sqlx::query_as(
        r#"SELECT "password_hash" FROM "cmmv_auth_users" WHERE "email" = 'at-rest@example.com'"#,
    )
    .fetch_one(&mut db)
    .await
    .expect("the login module's row");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    let (stored,): (String,) =
        sqlx::query_as(r#"SELECT "access_code" FROM "projects" WHERE "id" = $1"#)
            .bind(&id)
            .fetch_one(&mut db)
            .await
            .expect("the contract's row");
    assert_stored_hash(&stored);
}

#[tokio::test]
async fn passwords_are_stored_only_as_hashes_in_postgres() {
    let Ok(server) = std::env::var(crate::store_support::DATABASE_URL_VAR) else {
        crate::store_support::skip("passwords_are_stored_only_as_hashes_in_postgres");
        return;
    };
    let schema = TestDatabase::create_schema(&server, "at_rest").await;
    let url = crate::store_support::with_search_path(&server, &schema);
    let (app, database) = example_on(url.clone()).await;
    let owner = register_at_rest(&app).await;
    let id = project_with_a_changed_access_code(&app, &owner).await;
    app.shutdown().await;
    database.close().await;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("PostgreSQL connects");
    // Every column of both rows, as text.
    let (account,): (String,) = sqlx::query_as(
        r#"SELECT row_to_json(u)::text FROM "cmmv_auth_users" u WHERE "email" = 'at-rest@example.com'"#,
    )
    .fetch_one(&mut db)
    .await
    .expect("the login module's row");
    let (user, stored): (String, String) = sqlx::query_as(
        r#"SELECT row_to_json(p)::text, "access_code" FROM "projects" p WHERE "id" = $1::uuid"#,
    )
    .bind(&id)
    .fetch_one(&mut db)
    .await
    .expect("the contract's row");
    for row in [&account, &user] {
        assert!(
            !CLEAR_TEXTS.iter().any(|clear| row.contains(clear)),
            "{row}"
        );
    }
    assert!(account.contains("$argon2id$v=19$"), "{account}");
    assert_stored_hash(&stored);
    drop(db);
    crate::store_support::drop_schema(&server, &schema).await;
}
