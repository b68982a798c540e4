//! Helpers of the tests that call protected operations: settings with a known HS256 key, and
//! tokens minted with it for any subject and roles.

use std::time::{SystemTime, UNIX_EPOCH};

use cmmv::Settings;
use cmmv::settings::Secret;
use serde_json::{Value, json};

pub(crate) const ISSUER: &str = "https://issuer.test";
pub(crate) const AUDIENCE: &str = "todo";
pub(crate) const SECRET: &str = "a test secret of at least thirty-two bytes";
pub(crate) const KID: &str = "hs256";

/// Every role the example contracts name.
pub(crate) const ALL_ROLES: &[&str] = &["admin", "auditor", "editor", "user"];

/// `settings` accepting HS256 tokens signed with [`SECRET`].
pub(crate) fn with_auth(mut settings: Settings) -> Settings {
    settings.jwt.issuer = Some(ISSUER.to_owned());
    settings.jwt.audience = vec![AUDIENCE.to_owned()];
    settings.jwt.hs256_secret = Some(Secret::new(SECRET));
    settings
}

/// Claims that pass every check: edit them to make a token that fails one.
pub(crate) fn claims(subject: &str, roles: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": roles,
    })
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `claims` signed with [`SECRET`] under [`KID`].
pub(crate) fn sign(claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a token")
}

/// A valid token of `subject` holding `roles`.
pub(crate) fn token(subject: &str, roles: &[&str]) -> String {
    sign(&claims(subject, roles))
}

/// The environment that makes a service started with `Settings::from_env` accept the tests'
/// tokens.
pub(crate) const ENV: [(&str, &str); 3] = [
    ("CMMV_JWT_ISSUER", ISSUER),
    ("CMMV_JWT_AUDIENCE", AUDIENCE),
    ("CMMV_JWT_HS256_SECRET", SECRET),
];

/// `Authorization: Bearer <token>`.
pub(crate) fn bearer(token: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header value"),
    );
    headers
}

/// The headers of a caller holding every role the contracts name.
pub(crate) fn admin_headers() -> reqwest::header::HeaderMap {
    bearer(&token("00000000-0000-4000-8000-000000000001", ALL_ROLES))
}

/// A client signed in with every role the contracts name (no connection reuse, like
/// `runtime_support::client`).
pub(crate) fn admin_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .default_headers(admin_headers())
        .build()
        .expect("a client")
}
