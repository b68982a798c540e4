//! Protobuf on the wire: REST bodies in protobuf, gRPC on the same port, and the conversions
//! between the generated types and their messages. A test binary of its own: it links the
//! tonic client generated (by `build.rs`) from the `.proto` files the example emits.

mod grpc;
mod protobuf_http;
mod round_trip;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cmmv::Settings;
use cmmv::settings::Secret;
use serde_json::json;

/// The prost messages and tonic clients of the example's `.proto` files.
#[allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_debug_implementations
)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/todo.v1.rs"));
}

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "todo";
const SECRET: &str = "a test secret of at least thirty-two bytes";

/// An admin of the example (every role its contracts name).
pub(crate) const ADMIN: &str = "00000000-0000-4000-8000-000000000001";

/// Settings on an ephemeral port accepting HS256 tokens minted by [`token`].
pub(crate) fn settings() -> Settings {
    let mut settings = Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_delay: Duration::ZERO,
        ..Settings::default()
    };
    settings.jwt.issuer = Some(ISSUER.to_owned());
    settings.jwt.audience = vec![AUDIENCE.to_owned()];
    settings.jwt.hs256_secret = Some(Secret::new(SECRET));
    settings
}

/// A valid token of `subject` holding `roles`.
pub(crate) fn token(subject: &str, roles: &[&str]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject,
        "iat": now, "nbf": now, "exp": now + 600, "roles": roles,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a token")
}

/// A token with every role the example's contracts name.
pub(crate) fn admin_token() -> String {
    token(ADMIN, &["admin", "auditor", "editor", "user"])
}

/// The example app (in memory) serving on 127.0.0.1 until the test ends.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Served {
    pub(crate) async fn example(settings: Settings) -> Self {
        let todo = Arc::new(todo::Todo::in_memory());
        let app = todo::app(settings, &todo).expect("the example app builds");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve_with_shutdown(listener, async move {
            let _ = stopped.await;
        }));
        Self { addr, _stop: stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
