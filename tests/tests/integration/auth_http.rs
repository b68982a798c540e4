//! Who may call the example service's operations, over real HTTP: every refused token is the
//! same 401 problem, every operation admits exactly the principals its contract names, and no
//! byte string sent as a token does anything but a 401.

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth_support::{ALL_ROLES, KID, bearer, claims, now, sign, token, with_auth};
use crate::runtime_support::{Served, settings};

/// The example app accepting the tests' HS256 tokens and the RSA, EC and Ed25519 public keys of
/// the runtime's test data (`<kid>.<alg>.pem`); rate limits off, so that only access decides.
async fn serve() -> Served {
    let mut settings = with_auth(settings());
    settings.jwt.keys = Some(testdata("keys"));
    settings.rate_limit.enabled = false;
    let app = todo::app(settings, &Arc::new(todo::Todo::in_memory())).expect("the app builds");
    Served::start(app).await
}

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/src/auth/testdata")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(testdata(path)).expect("test key")
}

/// URL-safe base64 without padding (RFC 7515 §2), for tokens built by hand.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with any header and claims and a signature of the caller's choosing.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// Signs `claims` with one of the test data's private keys under `kid`.
fn sign_with(alg: jsonwebtoken::Algorithm, private: &str, kid: &str, claims: &Value) -> String {
    use jsonwebtoken::EncodingKey;
    let pem = read(&format!("private/{private}.pem"));
    let key = match alg {
        jsonwebtoken::Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .expect("a private key");
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("a token")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    if let Some(map) = claims.as_object_mut() {
        map.remove(key);
    }
    claims
}

/// A client reusing its connection: these tests send many requests to one server.
fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `GET /v1/projects` (any authenticated caller) with `authorization` as sent.
async fn projects(served: &Served, authorization: Option<&str>) -> reqwest::Response {
    let mut request = client().get(served.url("/v1/projects"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("a response")
}

/// Asserts the one 401 problem every refused token gets, whatever check refused it.
async fn assert_refused(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        challenge, "Bearer error=\"invalid_token\"",
        "{case}: the challenge"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{case}");
    let body: Value = response.json().await.expect("a problem body");
    assert_eq!(body["status"], 401, "{case}: {body}");
    assert_eq!(body["detail"], "invalid or expired token", "{case}: {body}");
}

#[tokio::test]
async fn every_bad_token_is_the_same_401_problem() {
    let served = serve().await;
    let good = claims("u-1", &["user"]);
    let hs256 = json!({"alg": "HS256", "typ": "JWT", "kid": KID});
    let valid = sign(&good);
    let (head, rest) = valid.split_once('.').expect("a JWS");
    let (payload, signature) = rest.split_once('.').expect("a JWS");
    let tampered_payload = b64(with(good.clone(), "roles", json!(["admin"]))
        .to_string()
        .as_bytes());
    // An HS256 token "signed" with the RSA public key as the HMAC secret: a verifier that let
    // the token choose the algorithm would accept it.
    let confused = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("rsa-1".to_owned());
        jsonwebtoken::encode(
            &header,
            &good,
            &jsonwebtoken::EncodingKey::from_secret(&read("keys/rsa-1.RS256.pem")),
        )
        .expect("a token")
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            raw_token(&json!({"alg": "none", "typ": "JWT"}), &good, b""),
        ),
        (
            "alg none with the HS256 kid",
            raw_token(&json!({"alg": "none", "kid": KID}), &good, b""),
        ),
        (
            "key confusion: HS256 signed with the RSA public key",
            confused,
        ),
        (
            "expired",
            sign(&with(good.clone(), "exp", json!(now() - 3600))),
        ),
        (
            "nbf in the future",
            sign(&with(good.clone(), "nbf", json!(now() + 3600))),
        ),
        (
            "wrong iss",
            sign(&with(good.clone(), "iss", json!("https://evil.test"))),
        ),
        (
            "wrong aud",
            sign(&with(good.clone(), "aud", json!("another-service"))),
        ),
        ("missing sub", sign(&without(good.clone(), "sub"))),
        ("empty sub", sign(&with(good.clone(), "sub", json!("")))),
        ("missing exp", sign(&without(good.clone(), "exp"))),
        (
            "tampered payload",
            format!("{head}.{tampered_payload}.{signature}"),
        ),
        ("truncated", valid[..valid.len() - 10].to_owned()),
        ("signature removed", format!("{head}.{payload}.")),
        ("two parts", format!("{head}.{payload}")),
        ("garbage", "not-a-token".to_owned()),
        ("garbage with dots", "a.b.c".to_owned()),
        (
            "unknown kid",
            raw_token(&with(hs256.clone(), "kid", json!("nobody")), &good, b"sig"),
        ),
        (
            "a trusted kid, signed by a key nobody trusts",
            sign_with(jsonwebtoken::Algorithm::RS256, "rsa-other", "rsa-1", &good),
        ),
        (
            "RS256 kid with an ES256 signature",
            sign_with(jsonwebtoken::Algorithm::ES256, "ec-1", "rsa-1", &good),
        ),
        (
            "roles of the wrong type",
            sign(&with(good.clone(), "roles", json!({"admin": true}))),
        ),
        ("oversized", "a".repeat(9000)),
    ];
    for (case, token) in &cases {
        let response = projects(&served, Some(&format!("Bearer {token}"))).await;
        assert_refused(response, case).await;
    }
    // And the control: the same claims, signed properly, with each kind of key.
    for (case, token) in [
        ("HS256", valid.clone()),
        (
            "RS256",
            sign_with(jsonwebtoken::Algorithm::RS256, "rsa-1", "rsa-1", &good),
        ),
        (
            "ES256",
            sign_with(jsonwebtoken::Algorithm::ES256, "ec-1", "ec-1", &good),
        ),
        (
            "EdDSA",
            sign_with(jsonwebtoken::Algorithm::EdDSA, "ed-1", "ed-1", &good),
        ),
    ] {
        let response = projects(&served, Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
    }
}

#[tokio::test]
async fn missing_and_unusable_credentials_are_401_with_a_challenge() {
    let served = serve().await;
    let response = projects(&served, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let body: Value = response.json().await.expect("a problem");
    assert_eq!(body["detail"], "authentication required", "{body}");

    for authorization in ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"] {
        let response = projects(&served, Some(authorization)).await;
        assert_refused(response, authorization).await;
    }
    // An API key where the app has no key store.
    let response = client()
        .get(served.url("/v1/projects"))
        .header("x-api-key", "cmmv_abc_123")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"ApiKey"[..])
    );
}

#[tokio::test]
async fn a_public_operation_ignores_credentials_it_cannot_verify() {
    let served = serve().await;
    for authorization in [None, Some("Bearer garbage"), Some("Basic abc")] {
        let mut request = client().get(served.url("/v1/labels"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("a response");
        assert_eq!(response.status(), StatusCode::OK, "{authorization:?}");
    }
}

#[tokio::test]
async fn forbidden_names_nothing_secret() {
    let served = serve().await;
    let response = client()
        .delete(served.url("/v1/projects/00000000-0000-4000-8000-000000000000"))
        .headers(bearer(&token("u-1", &["user", "editor"])))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let text = response.text().await.expect("a body");
    for secret in ["admin", "role", "u-1", "editor"] {
        assert!(!text.contains(secret), "403 body names `{secret}`: {text}");
    }
}

/// The principals of the role matrix: a name for the table and the roles of their token
/// (`None`: no credentials at all).
const PRINCIPALS: &[(&str, Option<&[&str]>)] = &[
    ("anonymous", None),
    ("no roles", Some(&[])),
    ("user", Some(&["user"])),
    ("auditor", Some(&["auditor"])),
    ("editor", Some(&["editor"])),
    ("admin", Some(&["admin"])),
    ("admin+editor", Some(&["admin", "editor"])),
];

/// Who each operation admits, written from the contracts by hand (not derived from the
/// compiler's IR, which is what is under test).
fn rule(method: &str, path: &str) -> &'static str {
    let path = path.trim_start_matches("/v1").trim_start_matches("/v2");
    match (method, path) {
        ("GET", "/labels" | "/labels/{id}") => "public",
        (_, p) if p.starts_with("/labels") => "all:admin,editor",
        ("DELETE", "/projects/{id}") => "any:admin",
        (_, p) if p.starts_with("/projects") => "authenticated",
        ("GET", "/tasks") => "any:user,admin,auditor",
        ("DELETE", "/tasks/{id}") => "any:admin",
        ("GET", "/tasks/stats") => "any:admin,auditor",
        (_, p) if p.starts_with("/tasks") => "any:user,admin",
        (_, p) if p.starts_with("/comments") => "authenticated",
        (_, p) if p.starts_with("/notes") => "authenticated",
        (_, p) if p.starts_with("/users") => "authenticated",
        _ => panic!("no rule written for {method} {path}"),
    }
}

/// What `rule` lets a principal with `roles` do: 401, 403, or through to the operation.
fn expected(rule: &str, roles: Option<&[&str]>) -> &'static str {
    let Some(roles) = roles else {
        return if rule == "public" { "pass" } else { "401" };
    };
    let holds = |list: &str, all: bool| {
        let mut wanted = list.split(',');
        if all {
            wanted.all(|r| roles.contains(&r))
        } else {
            wanted.any(|r| roles.contains(&r))
        }
    };
    let admitted = match rule.split_once(':') {
        None => true,
        Some(("any", list)) => holds(list, false),
        Some(("all", list)) => holds(list, true),
        Some(_) => panic!("bad rule {rule}"),
    };
    if admitted { "pass" } else { "403" }
}

#[tokio::test]
async fn role_matrix_of_every_operation() {
    let served = serve().await;
    // Every token names this user, so that `me` finds someone.
    let subject = create_user(&served, "matrix@example.com").await;
    let id = "00000000-0000-4000-8000-00000000abcd";
    let mut table = String::from("operation");
    for (name, _) in PRINCIPALS {
        table.push_str(&format!(" | {name}"));
    }
    table.push('\n');
    for &(method, template) in todo::api::ROUTES {
        let path = template.replace(
            "{id}",
            if template.contains("comments") {
                "1"
            } else {
                id
            },
        );
        let rule = rule(method, template);
        table.push_str(&format!("{method} {template} ({rule})"));
        for &(name, roles) in PRINCIPALS {
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let mut request = client().request(method.clone(), served.url(&path));
            if let Some(roles) = roles {
                request = request.headers(bearer(&token(&subject, roles)));
            }
            if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                request = request.json(&json!({}));
            }
            let response = request.send().await.expect("a response");
            let status = response.status().as_u16();
            let outcome = match status {
                401 | 403 => status.to_string(),
                _ => "pass".to_owned(),
            };
            assert!(status < 500, "{method} {path} as {name}: {status}");
            assert_eq!(
                outcome,
                expected(rule, roles),
                "{method} {template} as {name} (rule {rule}): {status}"
            );
            table.push_str(&format!(" | {status}"));
        }
        table.push('\n');
    }
    // The statuses themselves, for a reader: 401 and 403 from the guard, anything else is the
    // operation answering (404 for the unknown id, 422 for the empty body, 200 for lists).
    insta::assert_snapshot!("role_matrix", table);
}

#[tokio::test]
async fn principal_reaches_the_handler() {
    let served = serve().await;
    let admin = bearer(&token("00000000-0000-4000-8000-000000000001", ALL_ROLES));
    let id = create_user(&served, "ada@example.com").await;
    // `me` is the user the token's subject names.
    let me = client()
        .get(served.url("/v1/users/me"))
        .headers(bearer(&token(&id, &[])))
        .send()
        .await
        .expect("a response");
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("a user");
    assert_eq!(me["email"], "ada@example.com", "{me}");
    // A principal that is not one of the service's users.
    let response = client()
        .get(served.url("/v1/users/me"))
        .headers(admin)
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Registers an account at the login module; returns its id, which is its `User`'s.
async fn create_user(served: &Served, email: &str) -> String {
    let created: Value = client()
        .post(served.url("/auth/register"))
        .json(&json!({"email": email, "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("a response")
        .json()
        .await
        .expect("the account");
    created["id"].as_str().expect("an id").to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes a header can carry, sent as a bearer token: a 401 problem, never a panic, a
    /// 500 or a pass.
    #[test]
    fn arbitrary_bytes_as_a_bearer_token_are_401(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(&bytes);
        let Ok(value) = reqwest::header::HeaderValue::from_bytes(&value) else {
            // Not sendable over HTTP/1 (a control character): nothing a client could send.
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let status = runtime.block_on(async {
            let served = shared_server().await;
            client()
                .get(format!("http://{}/v1/projects", served))
                .header("authorization", value)
                .send()
                .await
                .expect("a response")
                .status()
        });
        prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// One server for every case of the property test, on its own runtime thread.
async fn shared_server() -> std::net::SocketAddr {
    static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    if let Some(addr) = ADDR.get() {
        return *addr;
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let served = serve().await;
            let _ = sender.send(served.addr);
            std::future::pending::<()>().await;
        });
    });
    let addr = receiver.recv().expect("the server starts");
    *ADDR.get_or_init(|| addr)
}
