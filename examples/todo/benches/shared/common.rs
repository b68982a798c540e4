//! What the example's benchmarks share: their settings and token, and a migrated database
//! with an owner and a project for the tasks they seed.

use std::net::SocketAddr;

use cmmv::Settings;
use cmmv::sql::{Database, DatabaseSettings};
use cmmv::types::Uuid;
use todo::api::{Project, User};

pub(crate) const ISSUER: &str = "https://issuer.bench";
pub(crate) const AUDIENCE: &str = "todo";
pub(crate) const SECRET: &str = "the load benchmark's HS256 secret, 32+ bytes";

/// The example's settings for a benchmark: logs at warnings, the bench's token key.
pub(crate) fn settings(addr: SocketAddr) -> Settings {
    let mut settings = Settings {
        addr,
        log: "warn".to_owned(),
        ..Settings::default()
    };
    settings.jwt.issuer = Some(ISSUER.to_owned());
    settings.jwt.audience = vec![AUDIENCE.to_owned()];
    settings.jwt.hs256_secret = Some(cmmv::settings::Secret::new(SECRET));
    // The routes carry the contracts' limits; a load run would exhaust them. The `limited`
    // comparison turns them on with a limiter that admits every request.
    settings.rate_limit.enabled = false;
    settings
}

/// The token every request of a benchmark carries: a user, valid for the whole run.
pub(crate) fn bearer_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69",
        "iat": now, "exp": now + 3600, "roles": ["user"],
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("hs256".to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a token")
}

/// The database at `url`, migrated, with a user and a project of theirs named `name`;
/// returns the database and the project's id.
pub(crate) async fn database_with_project(
    url: &str,
    name: &str,
) -> Result<(Database, Uuid), String> {
    fn decode<T: cmmv::validate::FromJson>(mut body: serde_json::Value) -> Result<T, String> {
        let mut errors = cmmv::validate::Errors::new();
        let value = T::from_json(&mut body, &cmmv::validate::At::Root, &mut errors);
        value
            .filter(|_| errors.is_empty())
            .ok_or_else(|| format!("a fixture does not decode: {body}"))
    }
    let db = Database::connect(&DatabaseSettings::new(url))
        .await
        .map_err(|e| e.to_string())?;
    db.migrate(todo::api::MIGRATIONS)
        .await
        .map_err(|e| e.to_string())?;
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    // A user as the login module makes one: an account's record.
    let key = Uuid::now_v7();
    let user = db
        .store::<User>()
        .insert(Box::new(move |_| {
            <User as cmmv::resource::AccountRecord>::for_account(
                key,
                &email,
                cmmv::types::DateTime::now(),
            )
        }))
        .await
        .map_err(|e| e.to_string())?;
    let project = cmmv::crud::create(
        &db.store::<Project>(),
        decode(serde_json::json!({"name": name, "owner_id": user.id}))?,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((db, project.id))
}
