//! Sign-in with identity providers (OAuth 2.0 and OpenID Connect) over real HTTP.
//!
//! The identity provider is a fake written here, an axum server on 127.0.0.1 speaking the real
//! protocols: OpenID Connect discovery, a key set, an authorization endpoint that remembers the
//! PKCE challenge and nonce of each code it issues, a token endpoint that checks the client's
//! credentials, the redirect URI and the PKCE verifier and answers signed ID tokens (ES256, or
//! RS256 for Microsoft), UserInfo, GitHub's `/user` and `/user/emails` (and its refusals as
//! `200` with an `error`), and Facebook's Graph `/me`. A "browser" (a client that follows no
//! redirect) walks each flow: the app's `start`, the provider's authorization endpoint, the
//! app's callback with the flow's cookie, then the front end's exchange of the one-time code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cmmv::auth::oauth::{OAuthSettings, ProviderKind, ProviderSettings};
use cmmv::auth::{
    AccountMailer, AuthStore, BoxFuture, Login, MemoryAuthStore, Registration, SqlAuthStore,
};
use cmmv::settings::Secret;
use cmmv::{App, Settings};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::auth_support::{now, with_auth};
use crate::runtime_support::{Served, settings};
use crate::store_support::{TestDatabase, sqlite_database};

/// Where a finished sign-in sends the browser.
const FRONTEND: &str = "http://localhost:3000/signed-in";
/// Where a failed one does, on the apps that set `error_url`.
const ERROR_URL: &str = "http://localhost:3000/sign-in-failed";
const PASSWORD: &str = "correct horse battery staple";
/// Characters a client secret must be form-encoded for in HTTP Basic (RFC 6749 §2.3.1).
const CLIENT_SECRET: &str = "s3cret+with/odd=chars";
/// A Microsoft Entra tenant id: what `{tenantid}` becomes in a multi-tenant ID token.
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

// ---- the fake identity provider ------------------------------------------------------------------

/// What protocol the fake speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    /// OpenID Connect with the issuer at the server's root (Google, any issuer).
    Oidc,
    /// Microsoft Entra ID's `common` tenant: discovery at `/common/v2.0`, a `{tenantid}` issuer.
    Microsoft,
    GitHub,
    Facebook,
}

/// Who signs in at the provider.
#[derive(Clone, Debug)]
struct Person {
    sub: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    picture: Option<String>,
}

impl Person {
    fn new(sub: &str, email: &str) -> Self {
        Person {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: true,
            name: Some(format!("Person {sub}")),
            picture: Some(format!("https://avatars.test/{sub}.png")),
        }
    }

    fn unverified(self) -> Self {
        Person {
            email_verified: false,
            ..self
        }
    }

    fn without_email(self) -> Self {
        Person {
            email: None,
            email_verified: false,
            ..self
        }
    }
}

/// A key the provider signs ID tokens with, and its public JWK.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key.
    fn es256(kid: &str) -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key");
        let der = pair.to_pkcs8v1().expect("its PKCS#8 form");
        let key = EncodingKey::from_ec_der(der.as_ref());
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).expect("a JWK"),
        )
        .expect("JSON");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            key,
            jwk,
        }
    }

    /// The runtime's RS256 test key (`runtime/src/auth/testdata`), under `kid`.
    fn rs256(kid: &str) -> Self {
        let key = EncodingKey::from_rsa_pem(include_bytes!(
            "../../../runtime/src/auth/testdata/private/rsa-1.pem"
        ))
        .expect("the RSA test key");
        let set: Value =
            serde_json::from_str(include_str!("../../../runtime/src/auth/testdata/jwks.json"))
                .expect("the test key set");
        let mut jwk = set["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == "rsa-1"))
            .cloned()
            .expect("rsa-1 in the test key set");
        jwk["kid"] = json!(kid);
        SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            key,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("a signed ID token")
    }
}

/// How the next ID tokens are signed.
#[derive(Clone, Debug)]
enum Signer {
    /// With the published key.
    Published,
    /// With a fresh key the key set never holds, under `kid` (a published kid or a new one).
    Unpublished { kid: String },
    /// HS256 keyed with the client secret, under the published kid.
    ClientSecret,
    /// Unsigned: `alg: none`.
    Unsigned,
}

type Tweak = Box<dyn Fn(&mut Value) + Send + Sync>;

/// A code the authorization endpoint issued, and what it was issued for.
struct Pending {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
    person: Person,
}

/// What the token endpoint saw of a code it accepted.
#[derive(Clone, Debug)]
struct TokenRequest {
    /// `basic` or `post`: where the client's credentials were.
    client_auth: &'static str,
    verifier: String,
    challenge: String,
}

struct IdpState {
    flavor: Flavor,
    base: String,
    client_id: String,
    client_secret: String,
    /// Who consents at the next authorization request.
    person: Person,
    /// GitHub's `/user/emails`; derived from the person when `None`.
    github_emails: Option<Value>,
    /// Redirect back with this `error` instead of a code.
    deny: Option<String>,
    /// The RFC 9207 `iss` of the redirect back.
    callback_iss: Option<String>,
    codes: HashMap<String, Pending>,
    /// Access token → who it was issued to.
    tokens: HashMap<String, Person>,
    key: SigningKey,
    /// The key set's keys.
    published: Vec<Value>,
    signer: Signer,
    /// Changes the claims of the next ID tokens.
    tweak: Option<Tweak>,
    /// ID tokens carry no email (UserInfo has it).
    id_token_without_email: bool,
    /// UserInfo answers about this subject instead.
    userinfo_sub: Option<String>,
    /// The token endpoint answers this instead, once the client authenticated.
    token_error: Option<(StatusCode, Value)>,
    token_delay: Duration,
    discovery_delay: Duration,
    /// Discovery lists `client_secret_post` only.
    secret_post_only: bool,
    /// GitHub's `/user` answers 2 MiB.
    huge_profile: bool,
    /// The discovery document names this issuer instead of its own.
    discovery_issuer: Option<String>,
    /// The `iss` of Microsoft ID tokens.
    ms_issuer: String,
    authorize_requests: Vec<HashMap<String, String>>,
    token_requests: Vec<TokenRequest>,
    jwks_reads: usize,
    discovery_reads: usize,
}

type Shared = Arc<Mutex<IdpState>>;

fn lock(state: &Mutex<IdpState>) -> MutexGuard<'_, IdpState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 192 random bits, base64url.
fn random() -> String {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(data: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data.as_bytes())
        .as_ref()
        .to_vec()
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier))
}

/// The `at_hash` of `access_token` for ES256 and RS256 (OpenID Connect Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&sha256(access_token)[..16])
}

fn form_decode(value: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={value}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// The client's credentials from HTTP Basic, each form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .map(str::to_owned)
}

impl IdpState {
    fn new(flavor: Flavor, base: String) -> Self {
        let key = match flavor {
            Flavor::Microsoft => SigningKey::rs256("ms-1"),
            _ => SigningKey::es256("k1"),
        };
        IdpState {
            flavor,
            client_id: format!("{flavor:?}-client").to_lowercase(),
            client_secret: CLIENT_SECRET.to_owned(),
            person: Person::new("1001", "ada@example.com"),
            github_emails: None,
            deny: None,
            // Google sends the issuer back (RFC 9207).
            callback_iss: (flavor == Flavor::Oidc).then(|| base.clone()),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            published: vec![key.jwk.clone()],
            key,
            signer: Signer::Published,
            tweak: None,
            id_token_without_email: false,
            userinfo_sub: None,
            token_error: None,
            token_delay: Duration::ZERO,
            discovery_delay: Duration::ZERO,
            secret_post_only: false,
            huge_profile: false,
            discovery_issuer: None,
            ms_issuer: format!("{base}/{TENANT}/v2.0"),
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
            jwks_reads: 0,
            discovery_reads: 0,
            base,
        }
    }

    fn discovery(&self) -> Value {
        let base = &self.base;
        let issuer = match (&self.discovery_issuer, self.flavor) {
            (Some(issuer), _) => issuer.clone(),
            (None, Flavor::Microsoft) => format!("{base}/{{tenantid}}/v2.0"),
            (None, _) => base.clone(),
        };
        let methods = if self.secret_post_only {
            json!(["client_secret_post"])
        } else {
            json!(["client_secret_basic", "client_secret_post"])
        };
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["public"],
            // What a careless provider lists: the client must still accept only key-signed
            // tokens.
            "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256", "none"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "name", "picture", "sub"],
        })
    }

    fn authorize(&mut self, query: &HashMap<String, String>) -> Response {
        self.authorize_requests.push(query.clone());
        let refuse = |why: &str| (StatusCode::BAD_REQUEST, why.to_owned()).into_response();
        let get = |name: &str| query.get(name).map(String::as_str);
        if get("client_id") != Some(self.client_id.as_str()) {
            return refuse("unknown client_id");
        }
        if get("response_type") != Some("code") {
            return refuse("response_type must be code");
        }
        let (Some(challenge), Some("S256")) = (get("code_challenge"), get("code_challenge_method"))
        else {
            return refuse("PKCE S256 is required");
        };
        let oidc = matches!(self.flavor, Flavor::Oidc | Flavor::Microsoft);
        if oidc && get("nonce").is_none_or(str::is_empty) {
            return refuse("a nonce is required");
        }
        let Some(state) = get("state") else {
            return refuse("a state is required");
        };
        let Some(redirect_uri) = get("redirect_uri") else {
            return refuse("a redirect_uri is required");
        };
        // Only the tests' loopback apps are registered.
        let Some(mut back) = Url::parse(redirect_uri)
            .ok()
            .filter(|u| u.as_str().starts_with("http://127.0.0.1:"))
        else {
            return refuse("redirect_uri is not registered");
        };
        match &self.deny {
            Some(error) => {
                back.query_pairs_mut()
                    .append_pair("error", error)
                    .append_pair("error_description", "The user refused.")
                    .append_pair("state", state);
            }
            None => {
                let code = random();
                self.codes.insert(
                    code.clone(),
                    Pending {
                        challenge: challenge.to_owned(),
                        nonce: get("nonce").map(str::to_owned),
                        redirect_uri: redirect_uri.to_owned(),
                        person: self.person.clone(),
                    },
                );
                back.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", state);
                if let Some(iss) = &self.callback_iss {
                    back.query_pairs_mut().append_pair("iss", iss);
                }
            }
        }
        (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
    }

    fn token(
        &mut self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<Value, (StatusCode, Value)> {
        let github = self.flavor == Flavor::GitHub;
        // GitHub answers every refusal with 200 and an `error` member.
        let refuse = |status: StatusCode, error: &str| -> Result<Value, (StatusCode, Value)> {
            Err((
                if github { StatusCode::OK } else { status },
                json!({"error": error, "error_description": "refused by the test provider"}),
            ))
        };
        let in_body = form.get("client_secret").map(|secret| {
            (
                form.get("client_id").cloned().unwrap_or_default(),
                secret.clone(),
            )
        });
        let (method, credentials) = match (basic_credentials(headers), in_body) {
            (Some(basic), None) => ("basic", basic),
            (None, Some(body)) => ("post", body),
            _ => return refuse(StatusCode::UNAUTHORIZED, "invalid_client"),
        };
        let expected = match self.flavor {
            Flavor::Oidc | Flavor::Microsoft if !self.secret_post_only => "basic",
            _ => "post",
        };
        if method != expected || credentials != (self.client_id.clone(), self.client_secret.clone())
        {
            return refuse(
                StatusCode::UNAUTHORIZED,
                if github {
                    "incorrect_client_credentials"
                } else {
                    "invalid_client"
                },
            );
        }
        if let Some(answer) = self.token_error.clone() {
            return Err(answer);
        }
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
        }
        let bad_code = if github {
            "bad_verification_code"
        } else {
            "invalid_grant"
        };
        let Some(pending) = form.get("code").and_then(|code| self.codes.remove(code)) else {
            return refuse(StatusCode::BAD_REQUEST, bad_code);
        };
        if form.get("redirect_uri") != Some(&pending.redirect_uri) {
            return refuse(StatusCode::BAD_REQUEST, bad_code);
        }
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if !(43..=128).contains(&verifier.len()) || s256(&verifier) != pending.challenge {
            return refuse(StatusCode::BAD_REQUEST, bad_code);
        }
        self.token_requests.push(TokenRequest {
            client_auth: method,
            verifier,
            challenge: pending.challenge.clone(),
        });
        let access_token = random();
        self.tokens
            .insert(access_token.clone(), pending.person.clone());
        Ok(match self.flavor {
            Flavor::Oidc | Flavor::Microsoft => json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email profile",
                "id_token": self.id_token(&pending, &access_token),
            }),
            Flavor::GitHub => json!({
                "access_token": access_token,
                "token_type": "bearer",
                "scope": "read:user,user:email",
            }),
            Flavor::Facebook => json!({
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": 5_183_944,
            }),
        })
    }

    fn id_token(&self, pending: &Pending, access_token: &str) -> String {
        let now = now();
        let person = &pending.person;
        let issuer = match self.flavor {
            Flavor::Microsoft => self.ms_issuer.clone(),
            _ => self.base.clone(),
        };
        let mut claims = json!({
            "iss": issuer,
            "sub": person.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "at_hash": at_hash(access_token),
        });
        if let Some(nonce) = &pending.nonce {
            claims["nonce"] = json!(nonce);
        }
        if let (Some(email), false) = (&person.email, self.id_token_without_email) {
            claims["email"] = json!(email);
            claims["email_verified"] = json!(person.email_verified);
        }
        if let Some(name) = &person.name {
            claims["name"] = json!(name);
        }
        if let Some(picture) = &person.picture {
            claims["picture"] = json!(picture);
        }
        if let Some(tweak) = &self.tweak {
            tweak(&mut claims);
        }
        match &self.signer {
            Signer::Published => self.key.sign(&claims),
            Signer::Unpublished { kid } => SigningKey::es256(kid).sign(&claims),
            Signer::ClientSecret => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(self.key.kid.clone());
                jsonwebtoken::encode(
                    &header,
                    &claims,
                    &EncodingKey::from_secret(self.client_secret.as_bytes()),
                )
                .expect("an HS256 token")
            }
            Signer::Unsigned => {
                let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
                let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
                format!("{header}.{payload}.")
            }
        }
    }

    fn holder(&self, headers: &HeaderMap) -> Option<Person> {
        bearer_token(headers).and_then(|token| self.tokens.get(&token).cloned())
    }
}

async fn discovery(State(idp): State<Shared>) -> Response {
    let (document, delay) = {
        let mut state = lock(&idp);
        state.discovery_reads += 1;
        (state.discovery(), state.discovery_delay)
    };
    tokio::time::sleep(delay).await;
    Json(document).into_response()
}

async fn jwks(State(idp): State<Shared>) -> Response {
    let mut state = lock(&idp);
    state.jwks_reads += 1;
    Json(json!({"keys": state.published})).into_response()
}

async fn authorize(
    State(idp): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    lock(&idp).authorize(&query)
}

async fn token(State(idp): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let (answer, delay) = {
        let mut state = lock(&idp);
        (state.token(&headers, &form), state.token_delay)
    };
    tokio::time::sleep(delay).await;
    match answer {
        Ok(body) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
        )
            .into_response(),
        Err((status, body)) => (status, Json(body)).into_response(),
    }
}

fn invalid_token() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
    )
        .into_response()
}

async fn userinfo(State(idp): State<Shared>, headers: HeaderMap) -> Response {
    let state = lock(&idp);
    let Some(person) = state.holder(&headers) else {
        return invalid_token();
    };
    let mut body = json!({"sub": state.userinfo_sub.clone().unwrap_or(person.sub)});
    if let Some(email) = person.email {
        body["email"] = json!(email);
        body["email_verified"] = json!(person.email_verified);
    }
    if let Some(name) = person.name {
        body["name"] = json!(name);
    }
    Json(body).into_response()
}

async fn github_user(State(idp): State<Shared>, headers: HeaderMap) -> Response {
    let (holder, huge) = {
        let state = lock(&idp);
        (state.holder(&headers), state.huge_profile)
    };
    let Some(person) = holder else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    let id: u64 = person.sub.parse().expect("GitHub's ids are numbers");
    let bio = if huge {
        "x".repeat(2 << 20)
    } else {
        String::new()
    };
    Json(json!({
        "bio": bio,
        "login": format!("user{id}"),
        "id": id,
        "node_id": "MDQ6VXNlcjE=",
        "type": "User",
        "name": person.name,
        "avatar_url": person.picture,
        "email": null,
    }))
    .into_response()
}

async fn github_emails(State(idp): State<Shared>, headers: HeaderMap) -> Response {
    let state = lock(&idp);
    let Some(person) = state.holder(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    let emails = state.github_emails.clone().unwrap_or_else(|| {
        json!([{
            "email": person.email,
            "primary": true,
            "verified": person.email_verified,
            "visibility": "private",
        }])
    });
    Json(emails).into_response()
}

async fn facebook_me(
    State(idp): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if query.get("fields").map(String::as_str) != Some("id,name,email,picture") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "unexpected fields", "type": "OAuthException"}})),
        )
            .into_response();
    }
    let Some(person) = lock(&idp).holder(&headers) else {
        return invalid_token();
    };
    let mut body = json!({"id": person.sub, "name": person.name});
    if let Some(email) = person.email {
        body["email"] = json!(email);
    }
    if let Some(url) = person.picture {
        body["picture"] =
            json!({"data": {"height": 50, "is_silhouette": false, "url": url, "width": 50}});
    }
    Json(body).into_response()
}

/// A fake provider serving until dropped.
struct Idp {
    base: String,
    flavor: Flavor,
    state: Shared,
    _stop: oneshot::Sender<()>,
}

impl Idp {
    async fn start(flavor: Flavor) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the provider's port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let state: Shared = Arc::new(Mutex::new(IdpState::new(flavor, base.clone())));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/common/v2.0/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/login/oauth/authorize", get(authorize))
            .route("/dialog/oauth", get(authorize))
            .route("/token", post(token))
            .route("/login/oauth/access_token", post(token))
            .route("/graph/oauth/access_token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/api/user", get(github_user))
            .route("/api/user/emails", get(github_emails))
            .route("/graph/me", get(facebook_me))
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Idp {
            base,
            flavor,
            state,
            _stop: stop,
        }
    }

    fn set(&self, change: impl FnOnce(&mut IdpState)) {
        change(&mut lock(&self.state));
    }

    fn read<T>(&self, look: impl FnOnce(&IdpState) -> T) -> T {
        look(&lock(&self.state))
    }

    fn sign_in_as(&self, person: Person) {
        self.set(|s| s.person = person);
    }

    /// The next ID tokens' claims pass through `tweak`.
    fn tweak(&self, tweak: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.set(|s| s.tweak = Some(Box::new(tweak)));
    }

    /// Signs with a new key from now on; the key set holds only that one.
    fn rotate(&self, kid: &str) {
        let key = SigningKey::es256(kid);
        self.set(|s| {
            s.published = vec![key.jwk.clone()];
            s.key = key;
        });
    }

    fn jwks_reads(&self) -> usize {
        self.read(|s| s.jwks_reads)
    }

    fn client_id(&self) -> String {
        self.read(|s| s.client_id.clone())
    }

    /// The settings of provider `name` on the app at `app`, pointed at this fake.
    fn provider(&self, name: &str, app: &str) -> ProviderSettings {
        let base = self.base.clone();
        let kind = match self.flavor {
            Flavor::Oidc => ProviderKind::Oidc { issuer: base },
            Flavor::Microsoft => ProviderKind::Microsoft {
                authority: base,
                tenant: "common".to_owned(),
            },
            Flavor::GitHub => ProviderKind::GitHub {
                api_url: format!("{base}/api"),
                web_url: base,
            },
            Flavor::Facebook => ProviderKind::Facebook {
                graph_url: format!("{base}/graph"),
                web_url: base,
                fields: "id,name,email,picture".to_owned(),
            },
        };
        ProviderSettings {
            name: name.to_owned(),
            scopes: kind.default_scopes(),
            kind,
            client_id: self.client_id(),
            client_secret: Secret::new(CLIENT_SECRET),
            redirect_base: app.to_owned(),
        }
    }
}

// ---- the app and the browser ---------------------------------------------------------------------

/// The OAuth settings of the tests' apps: `providers`, the front end at [`FRONTEND`].
fn oauth(providers: Vec<ProviderSettings>) -> OAuthSettings {
    OAuthSettings {
        providers,
        frontend_url: Some(FRONTEND.to_owned()),
        error_url: None,
        sync_profile: true,
        http_timeout: Duration::from_secs(5),
        flow_ttl: Duration::from_secs(600),
    }
}

/// An app with the login module serving until dropped. Its address is known before it is
/// built, because the providers redirect back to it.
struct Site {
    base: String,
    _stop: oneshot::Sender<()>,
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn start_url(&self, provider: &str) -> String {
        self.url(&format!("/auth/oauth/{provider}/start"))
    }
}

/// Serves the login module on `store` with the OAuth settings `configure` makes from the app's
/// own origin; with `mailer`, registrations wait for their mailed confirmation.
async fn serve_site(
    store: Arc<dyn AuthStore>,
    mailer: Option<Arc<dyn AccountMailer>>,
    configure: impl FnOnce(&str) -> OAuthSettings,
) -> Site {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind the app's port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let mut settings: Settings = with_auth(settings());
    settings.rate_limit.enabled = false;
    settings.oauth = configure(&base);
    if mailer.is_some() {
        settings.auth.registration = Registration::Confirm;
    }
    let mut login = Login::from_settings(store, &settings).expect("the login module starts");
    if let Some(mailer) = mailer {
        login = login.with_mailer(mailer);
    }
    let app = App::builder(settings)
        .login(&login)
        .build()
        .expect("the app builds");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.serve_with_shutdown(listener, async move {
        let _ = stopped.await;
    }));
    Site { base, _stop: stop }
}

async fn serve(configure: impl FnOnce(&str) -> OAuthSettings) -> Site {
    serve_site(Arc::new(MemoryAuthStore::new()), None, configure).await
}

/// A browser that follows no redirect (each hop is the test's), with every wait bounded.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// `response` must be a redirect: where to, and the `Set-Cookie` it carries.
async fn redirect_of(response: reqwest::Response) -> (Url, String) {
    let status = response.status();
    let location = header(&response, "location");
    let set_cookie = header(&response, "set-cookie");
    if status != StatusCode::FOUND {
        let body = response.text().await.unwrap_or_default();
        panic!("expected a redirect, got {status}: {body}");
    }
    (
        Url::parse(&location).expect("an absolute Location"),
        set_cookie,
    )
}

/// A flow started in a browser: the flow's cookie and the provider's authorization URL.
struct Flow {
    cookie: String,
    authorize: Url,
}

impl Flow {
    /// `GET start_url`, which must redirect to the provider with the flow's cookie.
    async fn start(start_url: &str) -> Flow {
        let response = browser()
            .get(start_url)
            .send()
            .await
            .expect("start answers");
        assert_eq!(header(&response, "cache-control"), "no-store");
        let (authorize, set_cookie) = redirect_of(response).await;
        let cookie = set_cookie
            .strip_prefix("cmmv_oauth=")
            .and_then(|rest| rest.split(';').next())
            .expect("the flow's cookie")
            .to_owned();
        assert!(!cookie.is_empty());
        JAR.with(|jar| *jar.borrow_mut() = Some(cookie.clone()));
        Flow { cookie, authorize }
    }

    /// The person signs in and consents at the provider: the callback URL it redirects to.
    async fn consent(&self) -> Url {
        let response = browser()
            .get(self.authorize.clone())
            .send()
            .await
            .expect("the provider answers");
        redirect_of(response).await.0
    }
}

/// The browser arrives back at `url` with the flow cookie `cookie`.
async fn callback(url: &Url, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(url.clone());
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, format!("cmmv_oauth={cookie}"));
    }
    request.send().await.expect("the callback answers")
}

/// A whole flow from `start_url`: the callback's answer.
async fn run(start_url: &str) -> reqwest::Response {
    let flow = Flow::start(start_url).await;
    let back = flow.consent().await;
    callback(&back, Some(&flow.cookie)).await
}

/// The callback must have redirected to the front end with one query member `name`: its value.
/// The flow's cookie is removed.
async fn landed(response: reqwest::Response, name: &str) -> String {
    let (location, set_cookie) = redirect_of(response).await;
    assert!(
        location
            .as_str()
            .starts_with(&format!("{FRONTEND}?{name}=")),
        "{location}"
    );
    // The flow's cookie stays: the code is redeemed in this browser only.
    assert_eq!(set_cookie, "", "{location}");
    let query = query_of(&location);
    assert_eq!(query.len(), 1, "{location}");
    query[name].clone()
}

thread_local! {
    /// The browser's cookie jar, as far as the flows go: the cookie of the flow this test's
    /// browser started last (each test runs on a thread of its own).
    static JAR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn jar() -> Option<String> {
    JAR.with(|jar| jar.borrow().clone())
}

/// `POST path` with `body`, from the browser (its flow cookie), as the holder of `token`.
async fn from_browser(
    site: &Site,
    path: &str,
    body: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = browser().post(site.url(path)).json(&body);
    if let Some(cookie) = jar() {
        request = request.header(reqwest::header::COOKIE, format!("cmmv_oauth={cookie}"));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("an answer")
}

async fn exchange(site: &Site, code: &str) -> reqwest::Response {
    from_browser(site, "/auth/oauth/exchange", json!({"code": code}), None).await
}

/// Runs the link flow of `url` and confirms the code it brings back as the holder of `token`.
async fn confirm_link(site: &Site, url: &str, token: &str) -> reqwest::Response {
    let code = landed(run(url).await, "link").await;
    from_browser(
        site,
        "/auth/oauth/link/confirm",
        json!({"code": code}),
        Some(token),
    )
    .await
}

/// A link flow that must succeed.
async fn link_through(site: &Site, url: &str, token: &str) {
    let response = confirm_link(site, url, token).await;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

/// Signs in with `provider` through the browser and the front end's exchange: the tokens.
async fn sign_in(site: &Site, provider: &str) -> Value {
    let code = landed(run(&site.start_url(provider)).await, "code").await;
    let response = exchange(site, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("the tokens")
}

/// An access token of a sign-in with `provider`.
async fn access_token(site: &Site, provider: &str) -> String {
    text(&sign_in(site, provider).await, "access_token")
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .to_owned()
}

/// One API call: status and JSON body (`Null` when empty).
async fn call(
    site: &Site,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = browser().request(method, site.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(site: &Site, token: &str) -> Value {
    let (status, body) = call(site, Method::GET, "/auth/me", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `DELETE path` (an identity) as the holder of `token`: the status.
async fn unlink(site: &Site, path: &str, token: &str) -> StatusCode {
    call(site, Method::DELETE, path, Some(token), None).await.0
}

async fn identities(site: &Site, token: &str) -> Value {
    let (status, body) = call(site, Method::GET, "/auth/identities", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn register(site: &Site, email: &str) {
    let (status, body) = call(
        site,
        Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn password_sign_in(site: &Site, email: &str) -> String {
    let (status, body) = call(
        site,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    text(&body, "access_token")
}

/// `response` must be the OAuth problem `code` with `status`: its body.
async fn refused(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let body = response.text().await.expect("a body");
    assert_eq!(actual, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON problem");
    assert_eq!(body["type"], format!("urn:cmmv:oauth:{code}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    body
}

/// POSTs the link request of `provider` as the holder of `token`: the URL to send the browser to.
async fn link_url(site: &Site, provider: &str, token: &str) -> String {
    let (status, body) = call(
        site,
        Method::POST,
        &format!("/auth/oauth/{provider}/link"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    text(&body, "authorization_url")
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind a port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{addr}")
}

// ---- OpenID Connect ------------------------------------------------------------------------------

#[tokio::test]
async fn an_oidc_sign_in_makes_an_account_and_each_secret_works_once() {
    let idp = Idp::start(Flavor::Oidc).await;
    idp.sign_in_as(Person::new("g-ada", "Ada@Example.com"));
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;

    let (status, providers) = call(&site, Method::GET, "/auth/oauth/providers", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        providers,
        json!({"items": [{"name": "google", "start_url": site.start_url("google")}]})
    );

    // The start: a redirect to the provider, and the cookie binding the flow to this browser.
    let response = browser()
        .get(site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    assert_eq!(response.status(), StatusCode::FOUND);
    let set_cookie = header(&response, "set-cookie");
    let cookie = set_cookie
        .strip_prefix("cmmv_oauth=")
        .and_then(|rest| rest.split_once(';'))
        .map(|(value, _)| value.to_owned())
        .expect("the flow cookie");
    assert_eq!(
        set_cookie,
        format!(
            "cmmv_oauth={cookie}; Path=/auth/oauth; Max-Age=600; HttpOnly; Secure; SameSite=Lax"
        )
    );
    let authorize = Url::parse(&header(&response, "location")).expect("a Location");
    assert_eq!(
        authorize.as_str().split('?').next(),
        Some(format!("{}/authorize", idp.base).as_str())
    );
    let query = query_of(&authorize);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], idp.client_id());
    assert_eq!(
        query["redirect_uri"],
        site.url("/auth/oauth/google/callback")
    );
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "{authorize}");
    }
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["nonce"].len() >= 16, "{authorize}");
    assert!(query["state"].len() >= 32, "{authorize}");
    assert_ne!(
        query["state"], cookie,
        "the state is not the browser's secret"
    );

    // The provider sends the browser back; the callback signs in.
    let flow = Flow {
        cookie: cookie.clone(),
        authorize,
    };
    let back = flow.consent().await;
    let response = callback(&back, Some(&cookie)).await;
    assert_eq!(header(&response, "cache-control"), "no-store");
    let code = landed(response, "code").await;

    // The token endpoint got the verifier of the challenge sent at the start, and the client's
    // credentials as HTTP Basic.
    let requests = idp.read(|s| s.token_requests.clone());
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].client_auth, "basic");
    assert_eq!(requests[0].challenge, query["code_challenge"]);
    assert_eq!(s256(&requests[0].verifier), query["code_challenge"]);

    // Replaying the provider's redirect finds no flow.
    refused(callback(&back, Some(&cookie)).await, 400, "invalid_state").await;

    // The code is redeemed in this browser only: one without the flow's cookie (a victim's,
    // where an attacker planted their code) is refused, and the code is spent.
    let elsewhere = browser()
        .post(site.url("/auth/oauth/exchange"))
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    let code = landed(run(&site.start_url("google")).await, "code").await;
    let response = exchange(&site, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let tokens: Value = response.json().await.expect("tokens");
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // The code works once.
    let again = exchange(&site, &code).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let access = text(&tokens, "access_token");
    let who = me(&site, &access).await;
    assert_eq!(who["email"], "ada@example.com", "{who}");
    assert_eq!(who["scheme"], "bearer", "{who}");
    let listed = identities(&site, &access).await;
    assert_eq!(listed["has_password"], false, "{listed}");
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["provider"], "google");
    assert_eq!(items[0]["subject"], "g-ada");
    assert_eq!(items[0]["email"], "ada@example.com");
    assert_eq!(items[0]["email_verified"], true);
    assert_eq!(items[0]["name"], "Person g-ada");
    assert_eq!(items[0]["avatar_url"], "https://avatars.test/g-ada.png");
    for instant in ["linked_at", "last_login_at"] {
        let value = items[0][instant].as_str().expect("an instant");
        assert!(
            value.contains('T') && value.ends_with('Z'),
            "{instant}: {value}"
        );
    }

    // The refresh token of the session works as a password sign-in's does.
    let (status, _) = call(
        &site,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": tokens["refresh_token"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Signing in again lands in the same account, with the profile the provider gives now.
    idp.sign_in_as(Person {
        name: Some("Ada King".to_owned()),
        ..Person::new("g-ada", "ada@example.com")
    });
    let again = access_token(&site, "google").await;
    assert_eq!(me(&site, &again).await["subject"], who["subject"]);
    let listed = identities(&site, &again).await;
    assert_eq!(listed["items"][0]["name"], "Ada King", "{listed}");
}

/// The configured scopes (`openid email profile` by default) are asked for once each.
#[tokio::test]
async fn the_authorization_request_names_each_scope_once() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;
    let flow = Flow::start(&site.start_url("google")).await;
    let scope = query_of(&flow.authorize)["scope"].clone();
    assert_eq!(scope, "openid email profile");
}

#[tokio::test]
async fn the_callback_is_bound_to_its_state_its_browser_and_its_provider() {
    let google = Idp::start(Flavor::Oidc).await;
    let okta = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| {
        oauth(vec![
            google.provider("google", app),
            okta.provider("okta", app),
        ])
    })
    .await;
    let callback_url = |query: &str| {
        Url::parse(&site.url(&format!("/auth/oauth/google/callback{query}"))).expect("a URL")
    };

    // No state at all.
    let flow = Flow::start(&site.start_url("google")).await;
    let back = flow.consent().await;
    let code = query_of(&back)["code"].clone();
    refused(
        callback(&callback_url(&format!("?code={code}")), Some(&flow.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    // A state nobody issued.
    refused(
        callback(
            &callback_url(&format!("?code={code}&state={}", random())),
            Some(&flow.cookie),
        )
        .await,
        400,
        "invalid_state",
    )
    .await;

    // Another browser's cookie: refused, and the state is spent by the attempt.
    let mine = Flow::start(&site.start_url("google")).await;
    let theirs = Flow::start(&site.start_url("google")).await;
    let back = mine.consent().await;
    refused(
        callback(&back, Some(&theirs.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    refused(
        callback(&back, Some(&mine.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    // Without the cookie.
    let flow = Flow::start(&site.start_url("google")).await;
    let back = flow.consent().await;
    refused(callback(&back, None).await, 400, "invalid_state").await;

    // The other browser's own flow is untouched by all this.
    let back = theirs.consent().await;
    landed(callback(&back, Some(&theirs.cookie)).await, "code").await;

    // A state started for okta, brought back to google's callback.
    let flow = Flow::start(&site.start_url("okta")).await;
    let back = flow.consent().await;
    let mut elsewhere = callback_url("");
    elsewhere.set_query(back.query());
    refused(
        callback(&elsewhere, Some(&flow.cookie)).await,
        400,
        "invalid_state",
    )
    .await;

    // Unknown providers are not found.
    let response = browser()
        .get(site.start_url("myspace"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = callback(
        &Url::parse(&site.url("/auth/oauth/myspace/callback?code=a&state=b")).expect("a URL"),
        Some(&flow.cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_providers_the_routes_are_not_found() {
    let site = serve(|_| OAuthSettings::default()).await;
    for path in [
        "/auth/oauth/google/start",
        "/auth/oauth/google/callback?code=a&state=b",
    ] {
        let response = browser().get(site.url(path)).send().await.expect("answer");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, body) = call(&site, Method::GET, "/auth/oauth/providers", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"items": []}));
}

#[tokio::test]
async fn an_id_token_failing_any_check_is_refused() {
    let idp = Idp::start(Flavor::Oidc).await;
    let store = Arc::new(MemoryAuthStore::new());
    let site = serve_site(store.clone(), None, |app| {
        oauth(vec![idp.provider("google", app)])
    })
    .await;
    let client_id = idp.client_id();
    let issuer = idp.base.clone();
    type Case = (&'static str, Option<Tweak>, Signer);
    let cases: Vec<Case> = vec![
        (
            "another audience",
            Some(Box::new(|c: &mut Value| c["aud"] = json!("another-client"))),
            Signer::Published,
        ),
        (
            "an untrusted second audience",
            Some(Box::new(move |c: &mut Value| {
                c["aud"] = json!([client_id, "another-client"]);
                c["azp"] = c["aud"][0].clone();
            })),
            Signer::Published,
        ),
        (
            "another issuer",
            Some(Box::new(|c: &mut Value| {
                c["iss"] = json!("https://issuer.example");
            })),
            Signer::Published,
        ),
        (
            "the issuer with a trailing slash",
            Some(Box::new(move |c: &mut Value| {
                c["iss"] = json!(format!("{issuer}/"));
            })),
            Signer::Published,
        ),
        (
            "a key outside the key set under a published kid",
            None,
            Signer::Unpublished {
                kid: "k1".to_owned(),
            },
        ),
        (
            "HS256 keyed with the client secret",
            None,
            Signer::ClientSecret,
        ),
        ("unsigned (alg none)", None, Signer::Unsigned),
        (
            "another nonce",
            Some(Box::new(|c: &mut Value| {
                c["nonce"] = json!("not-the-nonce");
            })),
            Signer::Published,
        ),
        (
            "no nonce",
            Some(Box::new(|c: &mut Value| {
                c.as_object_mut().map(|o| o.remove("nonce"));
            })),
            Signer::Published,
        ),
        (
            "expired",
            Some(Box::new(|c: &mut Value| {
                c["iat"] = json!(now() - 7200);
                c["exp"] = json!(now() - 3600);
            })),
            Signer::Published,
        ),
        (
            "an azp naming another client",
            Some(Box::new(|c: &mut Value| c["azp"] = json!("another-client"))),
            Signer::Published,
        ),
        (
            "an at_hash of another access token",
            Some(Box::new(|c: &mut Value| {
                c["at_hash"] = json!(at_hash("another access token"));
            })),
            Signer::Published,
        ),
    ];
    for (case, tweak, signer) in cases {
        idp.set(|s| {
            s.tweak = tweak;
            s.signer = signer;
        });
        let response = run(&site.start_url("google")).await;
        let status = response.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        refused(response, 401, "invalid_id_token").await;
    }
    assert!(
        store
            .user_by_email("ada@example.com")
            .await
            .expect("the store answers")
            .is_none(),
        "no refused token made an account"
    );

    // The same provider, its tokens untouched: signed in.
    idp.set(|s| {
        s.tweak = None;
        s.signer = Signer::Published;
    });
    let access = access_token(&site, "google").await;
    assert_eq!(me(&site, &access).await["email"], "ada@example.com");
}

#[tokio::test]
async fn a_rotated_signing_key_is_read_again_from_the_key_set() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;
    let first = access_token(&site, "google").await;
    assert_eq!(idp.jwks_reads(), 1);

    // The provider rotates after the app read its keys: the new kid makes the app read again.
    idp.rotate("k2");
    let second = access_token(&site, "google").await;
    assert_eq!(idp.jwks_reads(), 2);
    assert_eq!(
        me(&site, &first).await["subject"],
        me(&site, &second).await["subject"]
    );
    // Known now: no read.
    access_token(&site, "google").await;
    assert_eq!(idp.jwks_reads(), 2);

    // A kid the set lacks even when read again.
    idp.set(|s| {
        s.signer = Signer::Unpublished {
            kid: "k-unknown".to_owned(),
        };
    });
    refused(
        run(&site.start_url("google")).await,
        401,
        "invalid_id_token",
    )
    .await;
    assert_eq!(idp.jwks_reads(), 3);
}

#[tokio::test]
async fn the_email_missing_from_the_id_token_is_read_from_userinfo() {
    let idp = Idp::start(Flavor::Oidc).await;
    idp.set(|s| {
        s.id_token_without_email = true;
        s.secret_post_only = true;
        s.person = Person::new("u-1", "una@example.com");
    });
    let site = serve(|app| oauth(vec![idp.provider("okta", app)])).await;
    let access = access_token(&site, "okta").await;
    assert_eq!(me(&site, &access).await["email"], "una@example.com");
    let listed = identities(&site, &access).await;
    assert_eq!(listed["items"][0]["email_verified"], true, "{listed}");
    // Discovery listed only client_secret_post: the credentials came in the body.
    assert!(idp.read(|s| s.token_requests.iter().all(|r| r.client_auth == "post")));

    // `email_verified` as the string some providers send.
    idp.set(|s| {
        s.id_token_without_email = false;
        s.person = Person::new("u-4", "vic@example.com");
    });
    idp.tweak(|c| c["email_verified"] = json!("true"));
    let access = access_token(&site, "okta").await;
    let listed = identities(&site, &access).await;
    assert_eq!(listed["items"][0]["email_verified"], true, "{listed}");
    idp.set(|s| {
        s.tweak = None;
        s.id_token_without_email = true;
    });

    // UserInfo about someone else.
    idp.set(|s| {
        s.person = Person::new("u-2", "udo@example.com");
        s.userinfo_sub = Some("u-1".to_owned());
    });
    refused(run(&site.start_url("okta")).await, 401, "invalid_id_token").await;

    // No email anywhere: a new account cannot be made.
    idp.set(|s| {
        s.person = Person::new("u-3", "x@example.com").without_email();
        s.userinfo_sub = None;
    });
    refused(run(&site.start_url("okta")).await, 403, "email_missing").await;
}

#[tokio::test]
async fn one_state_signs_in_once_even_when_replayed_at_the_same_time() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;
    let flow = Flow::start(&site.start_url("google")).await;
    let back = flow.consent().await;
    let (first, second) = tokio::join!(
        callback(&back, Some(&flow.cookie)),
        callback(&back, Some(&flow.cookie))
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [302, 400]);
}

#[tokio::test]
async fn a_flow_expires() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| OAuthSettings {
        flow_ttl: Duration::from_secs(1),
        ..oauth(vec![idp.provider("google", app)])
    })
    .await;
    let response = browser()
        .get(site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    assert!(
        header(&response, "set-cookie").contains("; Max-Age=1;"),
        "{:?}",
        response.headers()
    );
    let flow = Flow::start(&site.start_url("google")).await;
    let back = flow.consent().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(
        callback(&back, Some(&flow.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
}

#[tokio::test]
async fn without_profile_sync_the_identity_keeps_its_first_profile() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| OAuthSettings {
        sync_profile: false,
        ..oauth(vec![idp.provider("google", app)])
    })
    .await;
    idp.sign_in_as(Person::new("g-kim", "kim@example.com"));
    let first = access_token(&site, "google").await;
    let before = identities(&site, &first).await["items"][0].clone();
    idp.sign_in_as(Person {
        name: Some("Kim Renamed".to_owned()),
        picture: None,
        ..Person::new("g-kim", "kim.new@example.com")
    });
    let second = access_token(&site, "google").await;
    assert_eq!(
        me(&site, &second).await["subject"],
        me(&site, &first).await["subject"]
    );
    let after = identities(&site, &second).await["items"][0].clone();
    for kept in ["email", "email_verified", "name", "avatar_url", "linked_at"] {
        assert_eq!(after[kept], before[kept], "{kept}");
    }
}

/// RFC 6265 §5.1.4: whether a cookie set with `cookie_path` goes with a request for
/// `request_path`.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

/// `CMMV_OAUTH_REDIRECT_BASE` may carry a path prefix (a service behind a proxy at
/// `https://example.com/api`): the browser then comes back to `/api/auth/oauth/.../callback`,
/// and must send the flow's cookie there.
#[tokio::test]
async fn the_flow_cookie_reaches_a_callback_under_a_path_prefix() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", &format!("{app}/api"))])).await;
    let response = browser()
        .get(site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    let set_cookie = header(&response, "set-cookie");
    let cookie_path = set_cookie
        .split("; ")
        .find_map(|attribute| attribute.strip_prefix("Path="))
        .expect("a Path")
        .to_owned();
    let (authorize, _) = redirect_of(response).await;
    let redirect_uri = Url::parse(&query_of(&authorize)["redirect_uri"]).expect("a URL");
    assert_eq!(redirect_uri.path(), "/api/auth/oauth/google/callback");
    assert!(
        path_matches(&cookie_path, redirect_uri.path()),
        "a browser keeps `{set_cookie}` from the callback {redirect_uri}"
    );
}

// ---- failures ------------------------------------------------------------------------------------

#[tokio::test]
async fn consent_refusals_and_authorization_errors() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;

    idp.set(|s| s.deny = Some("access_denied".to_owned()));
    refused(run(&site.start_url("google")).await, 403, "access_denied").await;
    idp.set(|s| s.deny = Some("temporarily_unavailable".to_owned()));
    refused(run(&site.start_url("google")).await, 502, "provider_error").await;
    idp.set(|s| s.deny = None);

    // RFC 9207: the redirect names another issuer.
    idp.set(|s| s.callback_iss = Some("https://issuer.example".to_owned()));
    refused(run(&site.start_url("google")).await, 400, "invalid_request").await;
    idp.set(|s| s.callback_iss = None);

    // A redirect with the state but no code.
    let flow = Flow::start(&site.start_url("google")).await;
    let mut back = flow.consent().await;
    let state = query_of(&back)["state"].clone();
    back.set_query(Some(&format!("state={state}")));
    refused(
        callback(&back, Some(&flow.cookie)).await,
        400,
        "invalid_request",
    )
    .await;

    // With an error page: a redirect there carrying the code of the failure and nothing else.
    let with_error_page = serve(|app| OAuthSettings {
        error_url: Some(ERROR_URL.to_owned()),
        ..oauth(vec![idp.provider("google", app)])
    })
    .await;
    idp.set(|s| s.deny = Some("access_denied".to_owned()));
    let response = run(&with_error_page.start_url("google")).await;
    let (location, set_cookie) = redirect_of(response).await;
    assert_error_page(&location, "access_denied");
    assert!(set_cookie.starts_with("cmmv_oauth=; Path=/auth/oauth; Max-Age=0"));
    idp.set(|s| s.deny = None);
    idp.tweak(|c| c["aud"] = json!("someone-else"));
    let (location, _) = redirect_of(run(&with_error_page.start_url("google")).await).await;
    assert_error_page(&location, "invalid_id_token");
    let flow = Flow::start(&with_error_page.start_url("google")).await;
    let back = flow.consent().await;
    let (location, _) = redirect_of(callback(&back, None).await).await;
    assert_error_page(&location, "invalid_state");
}

/// `location` is [`ERROR_URL`] with `error=<code>` as its whole query.
fn assert_error_page(location: &Url, code: &str) {
    let mut page = location.clone();
    page.set_query(None);
    assert_eq!(page.as_str(), ERROR_URL, "{location}");
    let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert_eq!(query, [("error".to_owned(), code.to_owned())], "{location}");
}

#[tokio::test]
async fn provider_failures_are_502_or_504_never_500() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| OAuthSettings {
        http_timeout: Duration::from_secs(1),
        ..oauth(vec![idp.provider("google", app)])
    })
    .await;

    // A code the token endpoint does not know: `400 invalid_grant` there.
    let flow = Flow::start(&site.start_url("google")).await;
    let mut back = flow.consent().await;
    let state = query_of(&back)["state"].clone();
    back.set_query(Some(&format!("code=forged&state={state}")));
    refused(
        callback(&back, Some(&flow.cookie)).await,
        502,
        "provider_error",
    )
    .await;

    idp.set(|s| {
        s.token_error = Some((
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"}),
        ));
    });
    refused(run(&site.start_url("google")).await, 502, "provider_error").await;
    idp.set(|s| s.token_error = None);

    // A token endpoint slower than the time limit.
    idp.set(|s| s.token_delay = Duration::from_secs(5));
    let flow = Flow::start(&site.start_url("google")).await;
    let back = flow.consent().await;
    let began = Instant::now();
    let response =
        tokio::time::timeout(Duration::from_secs(10), callback(&back, Some(&flow.cookie)))
            .await
            .expect("the callback answers within its time limit");
    refused(response, 504, "provider_timeout").await;
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    idp.set(|s| s.token_delay = Duration::ZERO);

    // The wrong client secret: the provider refuses the client.
    let wrong_secret = serve(|app| {
        let mut google = idp.provider("google", app);
        google.client_secret = Secret::new("not the secret");
        oauth(vec![google])
    })
    .await;
    refused(
        run(&wrong_secret.start_url("google")).await,
        502,
        "provider_error",
    )
    .await;

    // A provider whose discovery is slower than the time limit, at the start.
    let slow = Idp::start(Flavor::Oidc).await;
    slow.set(|s| s.discovery_delay = Duration::from_secs(5));
    let slow_site = serve(|app| OAuthSettings {
        http_timeout: Duration::from_secs(1),
        ..oauth(vec![slow.provider("google", app)])
    })
    .await;
    let response = browser()
        .get(slow_site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    refused(response, 504, "provider_timeout").await;

    // A discovery document naming another issuer (OpenID Connect Discovery §4.3).
    let impostor = Idp::start(Flavor::Oidc).await;
    impostor.set(|s| s.discovery_issuer = Some("https://accounts.example".to_owned()));
    let impostor_site = serve(|app| oauth(vec![impostor.provider("google", app)])).await;
    let response = browser()
        .get(impostor_site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    refused(response, 502, "provider_error").await;

    // A provider that is down at the start.
    let down = closed_port().await;
    let down_site = serve(|app| {
        let mut google = idp.provider("google", app);
        google.kind = ProviderKind::Oidc { issuer: down };
        oauth(vec![google])
    })
    .await;
    let began = Instant::now();
    let response = browser()
        .get(down_site.start_url("google"))
        .send()
        .await
        .expect("start answers");
    refused(response, 502, "provider_error").await;
    assert!(began.elapsed() < Duration::from_secs(4));

    // Nothing above broke the provider for the next sign-in.
    access_token(&site, "google").await;
}

// ---- GitHub, Facebook, Microsoft -----------------------------------------------------------------

#[tokio::test]
async fn github_signs_in_with_the_primary_verified_email_only() {
    let idp = Idp::start(Flavor::GitHub).await;
    idp.set(|s| {
        s.person = Person::new("583231", "octo@example.com");
        s.github_emails = Some(json!([
            {"email": "old@example.com", "primary": false, "verified": true, "visibility": null},
            {"email": "octo@example.com", "primary": true, "verified": true, "visibility": "private"},
            {"email": "claimed@example.com", "primary": false, "verified": false, "visibility": null},
        ]));
    });
    let site = serve(|app| oauth(vec![idp.provider("github", app)])).await;

    let flow = Flow::start(&site.start_url("github")).await;
    assert_eq!(
        flow.authorize.as_str().split('?').next(),
        Some(format!("{}/login/oauth/authorize", idp.base).as_str())
    );
    let query = query_of(&flow.authorize);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "read:user user:email");
    assert!(!query.contains_key("nonce"));
    let back = flow.consent().await;
    let code = landed(callback(&back, Some(&flow.cookie)).await, "code").await;
    let response = exchange(&site, &code).await;
    let tokens: Value = response.json().await.expect("tokens");
    let access = text(&tokens, "access_token");
    assert_eq!(me(&site, &access).await["email"], "octo@example.com");
    let listed = identities(&site, &access).await;
    assert_eq!(listed["items"][0]["subject"], "583231", "{listed}");
    assert_eq!(listed["items"][0]["email_verified"], true, "{listed}");
    assert_eq!(listed["items"][0]["name"], "Person 583231", "{listed}");
    assert_eq!(
        listed["items"][0]["avatar_url"],
        "https://avatars.test/583231.png"
    );
    // GitHub takes the client's credentials in the body.
    assert_eq!(idp.read(|s| s.token_requests[0].client_auth), "post");

    // The primary address unverified, another verified: no email a new account may use.
    idp.set(|s| {
        s.person = Person::new("1002", "new@example.com").unverified();
        s.github_emails = Some(json!([
            {"email": "new@example.com", "primary": true, "verified": false, "visibility": null},
            {"email": "other@example.com", "primary": false, "verified": true, "visibility": null},
        ]));
    });
    refused(run(&site.start_url("github")).await, 403, "email_missing").await;

    // A profile larger than anyone's is not read.
    idp.set(|s| {
        s.person = Person::new("1003", "big@example.com");
        s.github_emails = None;
        s.huge_profile = true;
    });
    refused(run(&site.start_url("github")).await, 502, "provider_error").await;
    idp.set(|s| s.huge_profile = false);

    // GitHub refuses a code with 200 and an `error`.
    let flow = Flow::start(&site.start_url("github")).await;
    let mut back = flow.consent().await;
    let state = query_of(&back)["state"].clone();
    back.set_query(Some(&format!("code=forged&state={state}")));
    refused(
        callback(&back, Some(&flow.cookie)).await,
        502,
        "provider_error",
    )
    .await;
}

#[tokio::test]
async fn facebook_makes_an_account_but_never_links_one_by_email() {
    let idp = Idp::start(Flavor::Facebook).await;
    idp.sign_in_as(Person::new("10158", "fb@example.com"));
    let site = serve(|app| oauth(vec![idp.provider("facebook", app)])).await;

    let flow = Flow::start(&site.start_url("facebook")).await;
    assert_eq!(
        flow.authorize.as_str().split('?').next(),
        Some(format!("{}/dialog/oauth", idp.base).as_str())
    );
    let back = flow.consent().await;
    let code = landed(callback(&back, Some(&flow.cookie)).await, "code").await;
    let tokens: Value = exchange(&site, &code).await.json().await.expect("tokens");
    let access = text(&tokens, "access_token");
    assert_eq!(me(&site, &access).await["email"], "fb@example.com");
    let listed = identities(&site, &access).await;
    assert_eq!(listed["items"][0]["subject"], "10158", "{listed}");
    // The Graph API does not say whether the address was verified.
    assert_eq!(listed["items"][0]["email_verified"], false, "{listed}");
    assert_eq!(
        listed["items"][0]["avatar_url"],
        "https://avatars.test/10158.png"
    );
    assert_eq!(idp.read(|s| s.token_requests[0].client_auth), "post");

    register(&site, "taken@example.com").await;
    idp.sign_in_as(Person::new("10159", "taken@example.com"));
    refused(
        run(&site.start_url("facebook")).await,
        409,
        "account_exists",
    )
    .await;
}

#[tokio::test]
async fn microsoft_common_accepts_an_issuer_naming_a_tenant_id_only() {
    let idp = Idp::start(Flavor::Microsoft).await;
    idp.sign_in_as(Person::new(
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "mo@example.com",
    ));
    let site = serve(|app| oauth(vec![idp.provider("microsoft", app)])).await;

    // RS256, the document's issuer `{tenantid}` filled with a tenant id.
    let access = access_token(&site, "microsoft").await;
    assert_eq!(me(&site, &access).await["email"], "mo@example.com");
    assert!(idp.read(|s| s.discovery_reads) >= 1);

    let base = idp.base.clone();
    for issuer in [
        format!("{base}/not-a-tenant/v2.0"),
        format!("{base}/{{tenantid}}/v2.0"),
        format!("{base}/{TENANT}/v2.0/extra"),
        format!("https://login.example/{TENANT}/v2.0"),
    ] {
        idp.set(|s| s.ms_issuer = issuer.clone());
        let response = run(&site.start_url("microsoft")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{issuer}");
        refused(response, 401, "invalid_id_token").await;
    }
}

// ---- accounts: linking, unlinking, email rules ---------------------------------------------------

#[tokio::test]
async fn identities_are_linked_explicitly_and_unlinked_unless_last() {
    let idp = Idp::start(Flavor::Oidc).await;
    let okta = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| {
        oauth(vec![
            idp.provider("google", app),
            okta.provider("okta", app),
        ])
    })
    .await;
    register(&site, "ada@example.com").await;

    // The password account's email was never proven: a verified Google email does not open it.
    idp.sign_in_as(Person::new("g-ada", "ada@example.com"));
    refused(run(&site.start_url("google")).await, 409, "account_exists").await;

    // Signed in with the password, Ada links Google.
    let ada = password_sign_in(&site, "ada@example.com").await;
    let ada_id = me(&site, &ada).await["subject"].clone();
    let url = link_url(&site, "google", &ada).await;
    assert!(
        url.starts_with(&format!("{}?link=", site.start_url("google"))),
        "{url}"
    );
    link_through(&site, &url, &ada).await;
    let listed = identities(&site, &ada).await;
    assert_eq!(listed["has_password"], true, "{listed}");
    assert_eq!(listed["items"][0]["provider"], "google", "{listed}");
    assert_eq!(listed["items"][0]["subject"], "g-ada", "{listed}");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // A link ticket works once.
    let response = browser().get(&url).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Google now signs in to Ada's account.
    let via_google = access_token(&site, "google").await;
    assert_eq!(me(&site, &via_google).await["subject"], ada_id);

    // Bob's account is made from another Google identity; Ada cannot link it.
    idp.sign_in_as(Person::new("g-bob", "bob@example.com"));
    let bob = access_token(&site, "google").await;
    assert_ne!(me(&site, &bob).await["subject"], ada_id);
    let url = link_url(&site, "google", &ada).await;
    refused(
        confirm_link(&site, &url, &ada).await,
        409,
        "identity_in_use",
    )
    .await;

    // Linking an identity already linked to the same account is a no-op success.
    idp.sign_in_as(Person::new("g-ada", "ada@example.com"));
    let url = link_url(&site, "google", &ada).await;
    link_through(&site, &url, &ada).await;

    // A ticket is for its provider only, and spent by the attempt.
    let url = link_url(&site, "google", &ada).await;
    let ticket = url.split("link=").nth(1).expect("a ticket").to_owned();
    let response = browser()
        .get(format!("{}?link={ticket}", site.start_url("okta")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = browser().get(&url).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Linking needs no email: the account is the caller's.
    idp.sign_in_as(Person::new("g-ada-2", "unused@example.com").without_email());
    let url = link_url(&site, "google", &ada).await;
    link_through(&site, &url, &ada).await;
    let listed = identities(&site, &ada).await;
    assert_eq!(listed["items"][1]["subject"], "g-ada-2", "{listed}");
    assert_eq!(listed["items"][1]["email"], Value::Null, "{listed}");
    let status = unlink(&site, "/auth/identities/google/g-ada-2", &ada).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // API keys do not manage identities.
    let (status, created) = call(
        &site,
        Method::POST,
        "/auth/api-keys",
        Some(&ada),
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = text(&created, "key");
    for (method, path) in [
        (Method::GET, "/auth/identities"),
        (Method::POST, "/auth/oauth/google/link"),
        (Method::DELETE, "/auth/identities/google/g-ada"),
    ] {
        let response = browser()
            .request(method.clone(), site.url(path))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Nor does nobody.
    let (status, _) = call(&site, Method::GET, "/auth/identities", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nor a valid token whose subject has no account here: there is nothing to link to.
    let foreign = crate::auth_support::token("not-an-account", &["user"]);
    let (status, body) = call(
        &site,
        Method::POST,
        "/auth/oauth/google/link",
        Some(&foreign),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no account of this service")),
        "{body}"
    );

    // Unlinking: not Bob's identity from Ada's account; Ada's own, once.
    let status = unlink(&site, "/auth/identities/google/g-bob", &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let status = unlink(&site, "/auth/identities/google/g-ada", &ada).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(identities(&site, &ada).await["items"], json!([]));
    let status = unlink(&site, "/auth/identities/google/g-ada", &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bob's Google identity is his account's only way in.
    let (status, body) = call(
        &site,
        Method::DELETE,
        "/auth/identities/google/g-bob",
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(identities(&site, &bob).await["has_password"], false);
}

#[tokio::test]
async fn a_verified_email_links_across_providers_only_to_a_proven_account() {
    let google = Idp::start(Flavor::Oidc).await;
    let github = Idp::start(Flavor::GitHub).await;
    let facebook = Idp::start(Flavor::Facebook).await;
    let site = serve(|app| {
        oauth(vec![
            google.provider("google", app),
            github.provider("github", app),
            facebook.provider("facebook", app),
        ])
    })
    .await;

    // Made from Google's verified address: the account's email is proven.
    google.sign_in_as(Person::new("g-1", "sam@example.com"));
    let via_google = access_token(&site, "google").await;
    let sam = me(&site, &via_google).await["subject"].clone();
    // GitHub's primary verified address is the same: the same account.
    github.sign_in_as(Person::new("4242", "sam@example.com"));
    let via_github = access_token(&site, "github").await;
    assert_eq!(me(&site, &via_github).await["subject"], sam);
    let listed = identities(&site, &via_github).await;
    let mut providers: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["provider"].as_str())
        .collect();
    providers.sort_unstable();
    assert_eq!(providers, ["github", "google"], "{listed}");
    assert_eq!(listed["has_password"], false);
    // With two identities, one may go.
    let status = unlink(&site, "/auth/identities/github/4242", &via_google).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Facebook's address is not known to be verified: no link by email.
    facebook.sign_in_as(Person::new("777", "sam@example.com"));
    refused(
        run(&site.start_url("facebook")).await,
        409,
        "account_exists",
    )
    .await;
    // Nor is an address Google says is unverified.
    google.sign_in_as(Person::new("g-2", "sam@example.com").unverified());
    refused(run(&site.start_url("google")).await, 409, "account_exists").await;

    // An account made from Facebook has an unproven email: Google's verified one does not link.
    facebook.sign_in_as(Person::new("778", "fay@example.com"));
    access_token(&site, "facebook").await;
    google.sign_in_as(Person::new("g-3", "fay@example.com"));
    refused(run(&site.start_url("google")).await, 409, "account_exists").await;
}

/// The app's mailer here: the confirmation tokens it was asked to send.
#[derive(Debug, Default)]
struct Outbox {
    tokens: Mutex<Vec<(String, String)>>,
}

impl Outbox {
    async fn token_for(&self, email: &str) -> String {
        for _ in 0..500 {
            let found = self
                .tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .find(|(to, _)| to == email)
                .map(|(_, token)| token.clone());
            if let Some(token) = found {
                return token;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no confirmation mailed to {email}");
    }
}

impl AccountMailer for Outbox {
    fn send_confirmation<'a>(&'a self, email: &'a str, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((email.to_owned(), token.to_owned()));
        })
    }

    fn send_already_registered<'a>(&'a self, _email: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

#[tokio::test]
async fn an_account_confirmed_by_mail_is_linked_by_a_verified_email() {
    let idp = Idp::start(Flavor::Oidc).await;
    let outbox = Arc::new(Outbox::default());
    let site = serve_site(
        Arc::new(MemoryAuthStore::new()),
        Some(Arc::clone(&outbox) as Arc<dyn AccountMailer>),
        |app| oauth(vec![idp.provider("google", app)]),
    )
    .await;
    let (status, body) = call(
        &site,
        Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": "cy@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Pending: its email is not proven yet.
    idp.sign_in_as(Person::new("g-cy", "cy@example.com"));
    refused(run(&site.start_url("google")).await, 409, "account_exists").await;

    let token = outbox.token_for("cy@example.com").await;
    let (status, tokens) = call(
        &site,
        Method::POST,
        "/auth/confirm",
        None,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let cy = me(&site, &text(&tokens, "access_token")).await["subject"].clone();

    let via_google = access_token(&site, "google").await;
    assert_eq!(me(&site, &via_google).await["subject"], cy);
    assert_eq!(identities(&site, &via_google).await["has_password"], true);
}

// ---- a real database -----------------------------------------------------------------------------

/// Sign-in, link and unlink on `store`.
async fn sign_in_link_and_unlink(store: Arc<dyn AuthStore>) {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve_site(store, None, |app| oauth(vec![idp.provider("google", app)])).await;

    idp.sign_in_as(Person::new("g-dee", "dee@example.com"));
    let dee = access_token(&site, "google").await;
    let dee_id = me(&site, &dee).await["subject"].clone();
    let again = access_token(&site, "google").await;
    assert_eq!(me(&site, &again).await["subject"], dee_id);

    register(&site, "eve@example.com").await;
    let eve = password_sign_in(&site, "eve@example.com").await;
    let eve_id = me(&site, &eve).await["subject"].clone();
    idp.sign_in_as(Person::new("auth0|eve", "eve.work@example.com"));
    let url = link_url(&site, "google", &eve).await;
    link_through(&site, &url, &eve).await;
    let listed = identities(&site, &eve).await;
    assert_eq!(listed["has_password"], true, "{listed}");
    assert_eq!(listed["items"][0]["subject"], "auth0|eve", "{listed}");
    assert_eq!(listed["items"][0]["email"], "eve.work@example.com");
    let via_google = access_token(&site, "google").await;
    assert_eq!(me(&site, &via_google).await["subject"], eve_id);
    // Dee's identity is Dee's.
    idp.sign_in_as(Person::new("g-dee", "dee@example.com"));
    let url = link_url(&site, "google", &eve).await;
    refused(
        confirm_link(&site, &url, &eve).await,
        409,
        "identity_in_use",
    )
    .await;

    let status = unlink(&site, "/auth/identities/google/auth0%7Ceve", &eve).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(identities(&site, &eve).await["items"], json!([]));
    let status = unlink(&site, "/auth/identities/google/g-dee", &dee).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The unlinked identity is new again: its email is not an account's, so it makes one.
    idp.sign_in_as(Person::new("auth0|eve", "eve.work@example.com"));
    let fresh = access_token(&site, "google").await;
    assert_ne!(me(&site, &fresh).await["subject"], eve_id);
}

#[tokio::test]
async fn sign_in_link_and_unlink_on_sqlite() {
    let (_dir, db) = sqlite_database().await;
    let store = SqlAuthStore::open(db).await.expect("auth migrations");
    sign_in_link_and_unlink(Arc::new(store)).await;
}

#[tokio::test]
async fn sign_in_link_and_unlink_on_postgres() {
    let Some(test_db) = TestDatabase::postgres("oauth").await else {
        return;
    };
    let store = SqlAuthStore::open(test_db.db.clone())
        .await
        .expect("auth migrations");
    sign_in_link_and_unlink(Arc::new(store)).await;
    test_db.drop().await;
}

/// Two instances behind one load balancer share a PostgreSQL database: a flow started on one
/// finishes on the other (flows and codes are grants in the shared store, not in memory), and
/// each one-time secret stays one-time across both.
#[tokio::test]
async fn a_flow_started_on_one_instance_finishes_on_another_sharing_postgres() {
    let Some(test_db) = TestDatabase::postgres("oauth_fleet").await else {
        return;
    };
    // Each instance has its own pool, as two processes would.
    let second = cmmv::sql::Database::connect(&crate::store_support::settings(test_db.url.clone()))
        .await
        .expect("a second pool");
    let idp = Idp::start(Flavor::Oidc).await;
    idp.sign_in_as(Person::new("g-fleet", "fleet@example.com"));
    // The balancer's address: both instances register the same callback.
    let balancer = "http://127.0.0.1:9";
    let store_a = SqlAuthStore::open(test_db.db.clone())
        .await
        .expect("auth migrations");
    let store_b = SqlAuthStore::open(second).await.expect("auth migrations");
    let a = serve_site(Arc::new(store_a), None, |_| {
        oauth(vec![idp.provider("google", balancer)])
    })
    .await;
    let b = serve_site(Arc::new(store_b), None, |_| {
        oauth(vec![idp.provider("google", balancer)])
    })
    .await;

    let flow = Flow::start(&a.start_url("google")).await;
    let back = flow.consent().await;
    assert!(back.as_str().starts_with(balancer), "{back}");
    // The balancer sends the browser's return to the other instance.
    let on = |site: &Site| {
        Url::parse(&site.url(&format!(
            "{}?{}",
            back.path(),
            back.query().expect("a query")
        )))
        .expect("a URL")
    };
    let code = landed(callback(&on(&b), Some(&flow.cookie)).await, "code").await;
    // Spent on both: the state came back once.
    refused(
        callback(&on(&a), Some(&flow.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    // The code is exchanged on the first instance, once.
    let answer = exchange(&a, &code).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let tokens: Value = answer.json().await.expect("tokens");
    assert_eq!(exchange(&b, &code).await.status(), StatusCode::BAD_REQUEST);
    let who = me(&b, &text(&tokens, "access_token")).await;
    assert_eq!(who["email"], "fleet@example.com");
    drop((a, b));
    test_db.drop().await;
}

// ---- settings and documents ----------------------------------------------------------------------

/// The key of the settings error of `pairs`.
fn refused_key(pairs: &[(&str, &str)]) -> String {
    let error = Settings::from_pairs(pairs.iter().copied()).expect_err("refused settings");
    error
        .key
        .clone()
        .unwrap_or_else(|| panic!("no key in {error}"))
}

#[test]
fn oauth_settings_are_read_and_checked() {
    let google = [
        ("CMMV_OAUTH_GOOGLE_CLIENT_ID", "google-id"),
        (
            "CMMV_OAUTH_GOOGLE_CLIENT_SECRET",
            "google-secret-never-shown",
        ),
        ("CMMV_OAUTH_REDIRECT_BASE", "http://localhost:8080/"),
        ("CMMV_OAUTH_FRONTEND_URL", "https://app.example/signed-in"),
    ];
    let mut pairs = google.to_vec();
    pairs.extend([
        ("CMMV_OAUTH_PROVIDERS", "okta"),
        ("CMMV_OAUTH_OKTA_CLIENT_ID", "okta-id"),
        ("CMMV_OAUTH_OKTA_CLIENT_SECRET", "okta-secret-never-shown"),
        (
            "CMMV_OAUTH_OKTA_ISSUER",
            "https://dev.okta.example/oauth2/default",
        ),
        ("CMMV_OAUTH_GITHUB_CLIENT_ID", "github-id"),
        (
            "CMMV_OAUTH_GITHUB_CLIENT_SECRET",
            "github-secret-never-shown",
        ),
        ("CMMV_OAUTH_MICROSOFT_CLIENT_ID", "ms-id"),
        (
            "CMMV_OAUTH_MICROSOFT_CLIENT_SECRET",
            "ms-secret-never-shown",
        ),
        ("CMMV_OAUTH_HTTP_TIMEOUT", "2s"),
        ("CMMV_OAUTH_ERROR_URL", "http://127.0.0.1:3000/failed"),
    ]);
    let settings = Settings::from_pairs(pairs.iter().copied()).expect("valid settings");
    let oauth = &settings.oauth;
    let names: Vec<&str> = oauth.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["github", "google", "microsoft", "okta"]);
    let by_name = |name: &str| {
        oauth
            .providers
            .iter()
            .find(|p| p.name == name)
            .expect("the provider")
    };
    let google_settings = by_name("google");
    assert_eq!(
        google_settings.kind,
        ProviderKind::Oidc {
            issuer: "https://accounts.google.com".to_owned()
        }
    );
    assert_eq!(google_settings.client_id, "google-id");
    assert_eq!(
        google_settings.client_secret.expose(),
        "google-secret-never-shown"
    );
    assert_eq!(google_settings.scopes, ["openid", "email", "profile"]);
    assert_eq!(google_settings.redirect_base, "http://localhost:8080");
    assert_eq!(
        by_name("okta").kind,
        ProviderKind::Oidc {
            issuer: "https://dev.okta.example/oauth2/default".to_owned()
        }
    );
    assert_eq!(
        by_name("microsoft").kind,
        ProviderKind::Microsoft {
            authority: "https://login.microsoftonline.com".to_owned(),
            tenant: "common".to_owned()
        }
    );
    assert_eq!(
        by_name("github").kind,
        ProviderKind::GitHub {
            web_url: "https://github.com".to_owned(),
            api_url: "https://api.github.com".to_owned()
        }
    );
    assert_eq!(oauth.http_timeout, Duration::from_secs(2));
    assert_eq!(
        oauth.frontend_url.as_deref(),
        Some("https://app.example/signed-in")
    );
    assert_eq!(
        oauth.error_url.as_deref(),
        Some("http://127.0.0.1:3000/failed")
    );
    let shown = format!("{settings:?}");
    assert!(!shown.contains("secret-never-shown"), "{shown}");
    assert!(shown.contains("google-id"));

    // No provider, no requirement.
    let none = Settings::from_pairs(std::iter::empty::<(&str, &str)>()).expect("defaults");
    assert!(none.oauth.providers.is_empty());

    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = google.to_vec();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend(extra.iter().copied().filter(|(_, v)| !v.is_empty()));
        pairs
    };
    // A client id without its secret.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_GOOGLE_CLIENT_SECRET", "")])),
        "CMMV_OAUTH_GOOGLE_CLIENT_SECRET"
    );
    let error = Settings::from_pairs(with(&[("CMMV_OAUTH_GOOGLE_CLIENT_ID", "")]))
        .expect_err("a secret without its id");
    assert_eq!(error.key.as_deref(), Some("CMMV_OAUTH_GOOGLE_CLIENT_ID"));
    assert!(!error.to_string().contains("never-shown"), "{error}");
    // Plain http off the loopback.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_FRONTEND_URL", "http://app.example/")])),
        "CMMV_OAUTH_FRONTEND_URL"
    );
    assert_eq!(
        refused_key(&with(&[(
            "CMMV_OAUTH_GOOGLE_ISSUER",
            "http://accounts.example"
        )])),
        "CMMV_OAUTH_GOOGLE_ISSUER"
    );
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_REDIRECT_BASE", "http://api.example")])),
        "CMMV_OAUTH_REDIRECT_BASE"
    );
    // A provider nobody declared, and a misspelt key.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_FOO_CLIENT_ID", "x")])),
        "CMMV_OAUTH_FOO_CLIENT_ID"
    );
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_GOOGLE_CLIENTID", "x")])),
        "CMMV_OAUTH_GOOGLE_CLIENTID"
    );
    // Declared, but without its issuer.
    assert_eq!(
        refused_key(&with(&[
            ("CMMV_OAUTH_PROVIDERS", "foo"),
            ("CMMV_OAUTH_FOO_CLIENT_ID", "x"),
            ("CMMV_OAUTH_FOO_CLIENT_SECRET", "y"),
        ])),
        "CMMV_OAUTH_FOO_ISSUER"
    );
    // A built-in name declared as generic.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_PROVIDERS", "google")])),
        "CMMV_OAUTH_PROVIDERS"
    );
    // A provider needs the front end, and this service's origin.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_FRONTEND_URL", "")])),
        "CMMV_OAUTH_FRONTEND_URL"
    );
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_REDIRECT_BASE", "")])),
        "CMMV_OAUTH_REDIRECT_BASE"
    );
    // OpenID Connect without `openid`.
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_GOOGLE_SCOPES", "email profile")])),
        "CMMV_OAUTH_GOOGLE_SCOPES"
    );
    assert_eq!(
        refused_key(&with(&[("CMMV_OAUTH_HTTP_TIMEOUT", "0s")])),
        "CMMV_OAUTH_HTTP_TIMEOUT"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_callback() {
    let app = todo::app(with_auth(settings()), &Arc::new(todo::Todo::in_memory()))
        .expect("the example app builds");
    let served = Served::start(app).await;
    let document: Value = reqwest::get(served.url("/openapi.json"))
        .await
        .expect("the document")
        .json()
        .await
        .expect("JSON");
    let callback = &document["paths"]["/auth/oauth/{provider}/callback"]["get"];
    let found = &callback["responses"]["302"];
    assert_eq!(found["headers"]["Location"]["required"], true, "{found}");
    assert!(found["headers"]["Set-Cookie"].is_object(), "{found}");
    let parameters = callback["parameters"].as_array().expect("parameters");
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "cmmv_oauth" && p["in"] == "cookie"),
        "{callback}"
    );
    for name in ["code", "state", "error", "iss"] {
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == name && p["in"] == "query"),
            "{name}"
        );
    }
    for status in ["400", "401", "403", "404", "409", "502", "504"] {
        assert!(callback["responses"][status].is_object(), "{status}");
    }
    let start = &document["paths"]["/auth/oauth/{provider}/start"]["get"]["responses"]["302"];
    assert_eq!(start["headers"]["Location"]["required"], true, "{start}");
    assert!(start["headers"]["Set-Cookie"].is_object(), "{start}");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/auth/oauth/exchange",
        "/auth/oauth/{provider}/link",
        "/auth/oauth/providers",
        "/auth/identities",
        "/auth/identities/{provider}/{subject}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(
        document["paths"]["/auth/identities/{provider}/{subject}"]["delete"]["responses"]["409"]
            .is_object()
    );
}

/// A link ticket sent to someone else (link CSRF): their browser runs the flow with *their*
/// identity, but the link code it brings back can be confirmed neither by them (not the account
/// that asked) nor by the account that asked (not the browser that ran the flow).
#[tokio::test]
async fn a_link_ticket_opened_in_another_browser_links_nothing() {
    let idp = Idp::start(Flavor::Oidc).await;
    let site = serve(|app| oauth(vec![idp.provider("google", app)])).await;
    register(&site, "mallory@example.com").await;
    let mallory = password_sign_in(&site, "mallory@example.com").await;
    let url = link_url(&site, "google", &mallory).await;

    // The victim's browser opens the ticket and signs in at Google as the victim.
    idp.sign_in_as(Person::new("g-victim", "victim@example.com"));
    let code = landed(run(&url).await, "link").await;
    let victim_cookie = jar();
    // The victim's front end has no token of Mallory's account: a guest cannot confirm.
    let as_guest = from_browser(
        &site,
        "/auth/oauth/link/confirm",
        json!({"code": code}),
        None,
    )
    .await;
    assert_eq!(as_guest.status(), StatusCode::UNAUTHORIZED);
    // Mallory, from her own browser, lacks the victim's flow cookie: refused, and spent.
    JAR.with(|jar| *jar.borrow_mut() = None);
    let from_mallory = from_browser(
        &site,
        "/auth/oauth/link/confirm",
        json!({"code": code}),
        Some(&mallory),
    )
    .await;
    assert_eq!(from_mallory.status(), StatusCode::BAD_REQUEST);
    // Even with the victim's cookie, a spent code links nothing.
    JAR.with(|jar| *jar.borrow_mut() = victim_cookie);
    let replayed = from_browser(
        &site,
        "/auth/oauth/link/confirm",
        json!({"code": code}),
        Some(&mallory),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(identities(&site, &mallory).await["items"], json!([]));
    // The victim's Google identity still makes the victim's own account.
    let via_google = access_token(&site, "google").await;
    assert_eq!(me(&site, &via_google).await["email"], "victim@example.com");
}
