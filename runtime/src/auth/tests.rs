//! The negative matrix, the positive cases per algorithm, key loading and settings.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::settings::Settings;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "todo-api";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
const LEEWAY: u64 = 30;

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/auth/testdata")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(testdata(path)).unwrap()
}

fn config() -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.to_owned(),
        audience: vec![AUDIENCE.to_owned(), "other-api".to_owned()],
        leeway: Duration::from_secs(LEEWAY),
        roles_claim: "roles".to_owned(),
    }
}

fn public(kid: &str, alg: JwtAlgorithm) -> JwtKey {
    JwtKey::from_pem(kid, alg, &read(&format!("keys/{kid}.{alg}.pem"))).unwrap()
}

/// The shared-secret verifier without leeway: a token expired a moment ago is refused.
fn strict_verifier() -> JwtVerifier {
    JwtVerifier::new(
        &JwtConfig {
            leeway: Duration::ZERO,
            ..config()
        },
        vec![hs256()],
    )
    .unwrap()
}

fn hs256() -> JwtKey {
    JwtKey::hs256("hs-1", SECRET).unwrap()
}

/// Every kind of key, as a service trusting several issuers' keys would have.
fn verifier() -> JwtVerifier {
    JwtVerifier::new(
        &config(),
        vec![
            hs256(),
            public("rsa-1", JwtAlgorithm::RS256),
            public("ec-1", JwtAlgorithm::ES256),
            public("ed-1", JwtAlgorithm::EdDSA),
        ],
    )
    .unwrap()
}

fn now() -> u64 {
    get_current_timestamp()
}

fn claims() -> Value {
    json!({
        "sub": "user-42",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 600,
        "iat": now(),
        "roles": ["admin", "editor"],
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn signing_key(name: &str) -> (jsonwebtoken::Algorithm, EncodingKey) {
    use jsonwebtoken::Algorithm as A;
    match name {
        "hs-1" => (A::HS256, EncodingKey::from_secret(SECRET)),
        "rsa-1" | "rsa-other" => (
            A::RS256,
            EncodingKey::from_rsa_pem(&read(&format!("private/{name}.pem"))).unwrap(),
        ),
        "ec-1" | "ec-2" => (
            A::ES256,
            EncodingKey::from_ec_pem(&read(&format!("private/{name}.pem"))).unwrap(),
        ),
        "ed-1" => (
            A::EdDSA,
            EncodingKey::from_ed_pem(&read("private/ed-1.pem")).unwrap(),
        ),
        _ => panic!("no test key {name}"),
    }
}

/// A token signed by the private key `signer`, with `kid` in its header.
fn token(signer: &str, kid: Option<&str>, claims: &Value) -> String {
    let (alg, key) = signing_key(signer);
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

/// URL-safe base64 without padding (RFC 7515 §2), for tokens built by hand.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled by hand: any header, any payload, any signature.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

fn refused(verifier: &JwtVerifier, token: &str) -> AuthError {
    match verifier.verify(token) {
        Ok(principal) => panic!("token accepted as {principal:?}"),
        Err(e) => e,
    }
}

#[test]
fn b64_matches_jsonwebtoken() {
    // Our hand-rolled encoder and the library's agree on a real token's header.
    let token = token("hs-1", Some("hs-1"), &claims());
    let header = token.split('.').next().unwrap();
    let decoded = jsonwebtoken::decode_header(&token).unwrap();
    let mut again = Header::new(decoded.alg);
    again.kid = decoded.kid;
    assert_eq!(
        b64(serde_json::to_string(&again).unwrap().as_bytes()),
        header
    );
}

// ---- positive cases ----

#[test]
fn each_algorithm_verifies_with_its_own_key() {
    let verifier = verifier();
    for kid in ["hs-1", "rsa-1", "ec-1", "ed-1"] {
        let principal = verifier
            .verify(&token(kid, Some(kid), &claims()))
            .unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(principal.subject, "user-42");
        assert_eq!(principal.roles, ["admin", "editor"]);
        assert_eq!(principal.scheme, Scheme::Bearer);
        assert!(principal.has_role("admin"));
        assert!(!principal.has_role("root"));
    }
}

#[test]
fn one_key_accepts_tokens_without_kid() {
    let verifier = JwtVerifier::new(&config(), vec![public("ec-1", JwtAlgorithm::ES256)]).unwrap();
    assert!(verifier.verify(&token("ec-1", None, &claims())).is_ok());
    // With several keys, a token must say which.
    assert_eq!(
        refused(&self::verifier(), &token("ec-1", None, &claims())),
        AuthError::UnknownKey
    );
}

#[test]
fn kid_rotation_each_token_verified_by_its_own_key() {
    let verifier = JwtVerifier::new(
        &config(),
        vec![
            public("ec-1", JwtAlgorithm::ES256),
            public("ec-2", JwtAlgorithm::ES256),
        ],
    )
    .unwrap();
    assert!(
        verifier
            .verify(&token("ec-1", Some("ec-1"), &claims()))
            .is_ok()
    );
    assert!(
        verifier
            .verify(&token("ec-2", Some("ec-2"), &claims()))
            .is_ok()
    );
    // The right algorithm and a configured kid, but the other key's signature.
    assert_eq!(
        refused(&verifier, &token("ec-2", Some("ec-1"), &claims())),
        AuthError::Signature
    );
}

#[test]
fn leeway_at_the_boundary() {
    let verifier = verifier();
    let t = |claims: &Value| token("hs-1", Some("hs-1"), claims);
    // A few seconds of margin on each side keep the test immune to the clock ticking.
    let exp_inside = with(claims(), "exp", json!(now() - LEEWAY + 5));
    let exp_outside = with(claims(), "exp", json!(now() - LEEWAY - 5));
    let nbf_inside = with(claims(), "nbf", json!(now() + LEEWAY - 5));
    let nbf_outside = with(claims(), "nbf", json!(now() + LEEWAY + 5));
    assert!(verifier.verify(&t(&exp_inside)).is_ok());
    assert_eq!(refused(&verifier, &t(&exp_outside)), AuthError::Expired);
    assert!(verifier.verify(&t(&nbf_inside)).is_ok());
    assert_eq!(refused(&verifier, &t(&nbf_outside)), AuthError::NotYetValid);
    // No leeway at all: a token expired a few seconds ago is refused.
    let strict = strict_verifier();
    let just_expired = with(claims(), "exp", json!(now() - 3));
    assert_eq!(refused(&strict, &t(&just_expired)), AuthError::Expired);
}

#[test]
fn audience_may_be_an_array_and_roles_a_scope_string() {
    let verifier = verifier();
    let claims = with(claims(), "aud", json!(["someone-else", AUDIENCE]));
    assert!(
        verifier
            .verify(&token("hs-1", Some("hs-1"), &claims))
            .is_ok()
    );

    let scoped = JwtVerifier::new(
        &JwtConfig {
            roles_claim: "scope".to_owned(),
            ..config()
        },
        vec![hs256()],
    )
    .unwrap();
    let claims = with(self::claims(), "scope", json!("read:tasks write:tasks"));
    let principal = scoped.verify(&token("hs-1", None, &claims)).unwrap();
    assert_eq!(principal.roles, ["read:tasks", "write:tasks"]);
    // No roles claim: an authenticated principal without roles.
    let claims = without(self::claims(), "roles");
    assert!(
        verifier
            .verify(&token("hs-1", Some("hs-1"), &claims))
            .unwrap()
            .roles
            .is_empty()
    );
}

// ---- the negative matrix ----

#[test]
fn alg_none_is_refused() {
    let verifier = verifier();
    for alg in ["none", "None", "NONE"] {
        for kid in [None, Some("hs-1"), Some("rsa-1")] {
            let mut header = json!({"alg": alg, "typ": "JWT"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            assert!(
                verifier
                    .verify(&raw_token(&header, &claims(), b""))
                    .is_err()
            );
            let unsigned = raw_token(&header, &claims(), b"");
            assert!(verifier.verify(unsigned.trim_end_matches('.')).is_err());
        }
    }
    // Even with a single key, which would otherwise take tokens without kid.
    let single = JwtVerifier::new(&config(), vec![hs256()]).unwrap();
    assert!(
        single
            .verify(&raw_token(&json!({"alg": "none"}), &claims(), b""))
            .is_err()
    );
}

#[test]
fn key_confusion_hs256_signed_with_the_rsa_public_key_is_refused() {
    let pem = read("keys/rsa-1.RS256.pem");
    let forged = |kid: Option<&str>| {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        encode(&header, &claims(), &EncodingKey::from_secret(&pem)).unwrap()
    };
    assert_eq!(
        refused(&verifier(), &forged(Some("rsa-1"))),
        AuthError::Algorithm
    );
    let only_rsa = JwtVerifier::new(&config(), vec![public("rsa-1", JwtAlgorithm::RS256)]).unwrap();
    assert_eq!(refused(&only_rsa, &forged(None)), AuthError::Algorithm);
    assert_eq!(
        refused(&only_rsa, &forged(Some("rsa-1"))),
        AuthError::Algorithm
    );
}

#[test]
fn an_algorithm_other_than_the_keys_is_refused() {
    // An RS256 token presented under the EC key's kid: pinned algorithms differ.
    assert_eq!(
        refused(&verifier(), &token("rsa-1", Some("ec-1"), &claims())),
        AuthError::Algorithm
    );
}

#[test]
fn time_issuer_audience_and_subject_are_checked() {
    let verifier = verifier();
    let t = |claims: Value| token("rsa-1", Some("rsa-1"), &claims);
    let cases = [
        (
            with(claims(), "exp", json!(now() - 3600)),
            AuthError::Expired,
        ),
        (
            with(claims(), "nbf", json!(now() + 3600)),
            AuthError::NotYetValid,
        ),
        (
            with(claims(), "iss", json!("https://evil.example")),
            AuthError::Issuer,
        ),
        (
            with(claims(), "aud", json!("another-api")),
            AuthError::Audience,
        ),
        (with(claims(), "aud", json!([])), AuthError::Audience),
        (without(claims(), "sub"), AuthError::MissingClaim("sub")),
        (without(claims(), "exp"), AuthError::MissingClaim("exp")),
        (without(claims(), "iss"), AuthError::MissingClaim("iss")),
        (without(claims(), "aud"), AuthError::MissingClaim("aud")),
        (
            with(claims(), "sub", json!("")),
            AuthError::InvalidClaim("sub"),
        ),
        // A claim of the wrong type counts as absent (`jsonwebtoken` checks presence first).
        (
            with(claims(), "exp", json!("tomorrow")),
            AuthError::MissingClaim("exp"),
        ),
        (
            with(claims(), "roles", json!(["admin", 1])),
            AuthError::InvalidClaim("roles"),
        ),
        (
            with(claims(), "roles", json!({"admin": true})),
            AuthError::InvalidClaim("roles"),
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(refused(&verifier, &t(claims.clone())), expected, "{claims}");
    }
    // `sub` of the wrong type is refused too (the library reports it as missing).
    assert!(
        verifier
            .verify(&t(with(claims(), "sub", json!(42))))
            .is_err()
    );
}

#[test]
fn tampered_truncated_and_garbage_tokens_are_refused() {
    let verifier = verifier();
    for kid in ["hs-1", "rsa-1", "ec-1", "ed-1"] {
        let good = token(kid, Some(kid), &claims());
        let parts: Vec<&str> = good.split('.').collect();
        // The payload of an admin, under the signature of the original.
        let tampered_claims = with(claims(), "sub", json!("admin"));
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(tampered_claims.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(refused(&verifier, &tampered), AuthError::Signature, "{kid}");
        // A flipped character in the signature.
        let mut signature = parts[2].to_owned();
        let last = if signature.ends_with('A') { "B" } else { "A" };
        signature.replace_range(signature.len() - 1.., last);
        let flipped = format!("{}.{}.{signature}", parts[0], parts[1]);
        assert!(verifier.verify(&flipped).is_err(), "{kid}");
        // Truncated anywhere.
        for cut in [1, 10, good.len() / 2, good.len() - 1] {
            assert!(verifier.verify(&good[..cut]).is_err(), "{kid} cut at {cut}");
        }
        assert!(
            verifier
                .verify(&format!("{}.{}", parts[0], parts[1]))
                .is_err()
        );
        assert!(verifier.verify(&format!("{good}.{}", parts[2])).is_err());
    }
    for garbage in [
        "",
        ".",
        "..",
        "...",
        "garbage",
        "a.b.c",
        "Bearer x",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\u{0}\u{1}",
    ] {
        assert!(verifier.verify(garbage).is_err(), "{garbage:?}");
    }
    let huge = format!("{}.{}.x", "a".repeat(MAX_TOKEN_BYTES), "b");
    assert_eq!(refused(&verifier, &huge), AuthError::Malformed);
}

#[test]
fn unknown_kid_and_a_foreign_key_with_the_right_kid_are_refused() {
    let verifier = verifier();
    assert_eq!(
        refused(&verifier, &token("rsa-1", Some("rsa-2"), &claims())),
        AuthError::UnknownKey
    );
    assert_eq!(
        refused(&verifier, &token("rsa-other", Some("rsa-1"), &claims())),
        AuthError::Signature
    );
    // An HS256 token with the right kid but another secret.
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("hs-1".to_owned());
    let other = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(b"another secret of thirty-two bytes!!"),
    )
    .unwrap();
    assert_eq!(refused(&verifier, &other), AuthError::Signature);
}

#[test]
fn crit_headers_are_refused() {
    let verifier = JwtVerifier::new(&config(), vec![hs256()]).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.crit = Some(vec!["exp".to_owned()]);
    let token = encode(&header, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(refused(&verifier, &token), AuthError::Malformed);
}

#[test]
fn every_refusal_is_one_generic_401() {
    let errors = [
        AuthError::Malformed,
        AuthError::UnknownKey,
        AuthError::Algorithm,
        AuthError::Signature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::Issuer,
        AuthError::Audience,
        AuthError::MissingClaim("sub"),
        AuthError::InvalidClaim("roles"),
    ];
    for error in errors {
        let reason = error.reason();
        let problem = error.into_problem();
        assert_eq!(problem.status, 401);
        assert_eq!(problem.detail.as_deref(), Some("invalid or expired token"));
        assert_eq!(
            problem.headers,
            vec![(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer error=\"invalid_token\"")
            )],
            "{reason}"
        );
    }
    let missing = AuthError::MissingCredentials.into_problem();
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers[0].1, "Bearer");
    assert_eq!(AuthError::Expired.to_string(), "token refused: expired");
}

// ---- keys and settings ----

#[test]
fn keys_load_from_a_pem_directory_and_from_jwks() {
    let mut kids: Vec<String> = keys::load(&testdata("keys"))
        .unwrap()
        .iter()
        .map(|k| format!("{}:{}", k.kid(), k.algorithm()))
        .collect();
    kids.sort();
    assert_eq!(
        kids,
        ["ec-1:ES256", "ec-2:ES256", "ed-1:EdDSA", "rsa-1:RS256"]
    );

    let jwks = keys::load(&testdata("jwks.json")).unwrap();
    let verifier = JwtVerifier::new(&config(), jwks).unwrap();
    for kid in ["rsa-1", "ec-1", "ed-1"] {
        assert!(
            verifier.verify(&token(kid, Some(kid), &claims())).is_ok(),
            "{kid}"
        );
    }
}

#[test]
fn bad_keys_are_refused_with_a_reason() {
    let error = |result: Result<JwtKey, KeyError>| result.unwrap_err().to_string();
    assert!(error(JwtKey::hs256("k", b"short")).contains("too short"));
    let private = read("private/rsa-1.pem");
    assert!(error(JwtKey::from_pem("k", JwtAlgorithm::RS256, &private)).contains("private key"));
    let ec = read("keys/ec-1.ES256.pem");
    assert!(error(JwtKey::from_pem("k", JwtAlgorithm::RS256, &ec)).contains("RS256"));
    assert!(error(JwtKey::from_pem("k", JwtAlgorithm::HS256, &ec)).contains("shared secrets"));
    assert!(error(JwtKey::from_pem("", JwtAlgorithm::ES256, &ec)).contains("kid"));
    assert!(error(JwtKey::from_pem("k", JwtAlgorithm::ES256, b"nope")).contains("PEM"));
    assert!("none".parse::<JwtAlgorithm>().is_err());
    assert!("HS512".parse::<JwtAlgorithm>().is_err());

    let duplicate = JwtVerifier::new(
        &config(),
        vec![hs256(), JwtKey::hs256("hs-1", SECRET).unwrap()],
    );
    assert!(duplicate.unwrap_err().to_string().contains("two keys"));
    assert!(JwtVerifier::new(&config(), Vec::new()).is_err());

    let jwks_error = |text: &str| keys::parse_jwks(text).unwrap_err().to_string();
    assert!(jwks_error("{").contains("not a JWKS"));
    assert!(jwks_error(r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}"#).contains("no kid"));
    assert!(
        jwks_error(r#"{"keys":[{"kty":"oct","kid":"a","k":"c2hvcnQ"}]}"#).contains("too short")
    );
    assert!(
        jwks_error(r#"{"keys":[{"kty":"oct","kid":"a","alg":"RS256","k":"c2hvcnQ"}]}"#)
            .contains("does not fit")
    );
    assert!(
        jwks_error(r#"{"keys":[{"kty":"RSA","kid":"a","alg":"RS256","n":"AQAB","e":"AQAB"}]}"#)
            .contains("2048")
    );
    // Encryption keys are not signature keys: skipped, not trusted.
    let enc =
        r#"{"keys":[{"kty":"RSA","kid":"a","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}]}"#;
    assert!(keys::parse_jwks(enc).unwrap().is_empty());
}

fn jwt_settings(pairs: &[(&str, &str)]) -> Result<Option<JwtVerifier>, String> {
    let settings = Settings::from_pairs(pairs.iter().copied()).map_err(|e| e.to_string())?;
    JwtVerifier::from_settings(&settings).map_err(|e| e.to_string())
}

#[test]
fn from_settings() {
    assert!(jwt_settings(&[]).unwrap().is_none());

    let secret = std::str::from_utf8(SECRET).unwrap();
    let keys = testdata("keys");
    let keys = keys.to_str().unwrap();
    let verifier = jwt_settings(&[
        ("CMMV_JWT_ISSUER", ISSUER),
        ("CMMV_JWT_AUDIENCE", "todo-api, other-api"),
        ("CMMV_JWT_HS256_SECRET", secret),
        ("CMMV_JWT_HS256_KID", "hs-1"),
        ("CMMV_JWT_KEYS", keys),
        ("CMMV_JWT_LEEWAY", "10s"),
        ("CMMV_JWT_ROLES_CLAIM", "groups"),
    ])
    .unwrap()
    .unwrap();
    let mut kids: Vec<&str> = verifier.kids().collect();
    kids.sort_unstable();
    assert_eq!(kids, ["ec-1", "ec-2", "ed-1", "hs-1", "rsa-1"]);
    let claims = with(claims(), "groups", json!(["ops"]));
    let principal = verifier
        .verify(&token("hs-1", Some("hs-1"), &claims))
        .unwrap();
    assert_eq!(principal.roles, ["ops"]);
    let principal = verifier
        .verify(&token("ed-1", Some("ed-1"), &claims))
        .unwrap();
    assert_eq!(principal.subject, "user-42");
    // The 10 s leeway from the settings applies.
    let late = with(claims.clone(), "exp", json!(now() - 20));
    assert_eq!(
        refused(&verifier, &token("ec-1", Some("ec-1"), &late)),
        AuthError::Expired
    );

    // A secret alone: tokens without kid are its.
    let verifier = jwt_settings(&[
        ("CMMV_JWT_ISSUER", ISSUER),
        ("CMMV_JWT_AUDIENCE", AUDIENCE),
        ("CMMV_JWT_HS256_SECRET", secret),
    ])
    .unwrap()
    .unwrap();
    assert!(verifier.verify(&token("hs-1", None, &claims)).is_ok());
    assert!(
        verifier
            .verify(&token("hs-1", Some("hs256"), &claims))
            .is_ok()
    );
}

#[test]
fn settings_errors_name_the_key() {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let base = [("CMMV_JWT_ISSUER", ISSUER), ("CMMV_JWT_AUDIENCE", AUDIENCE)];
    let error = |extra: &[(&str, &str)], with_base: bool| {
        let mut pairs: Vec<(&str, &str)> = if with_base { base.to_vec() } else { Vec::new() };
        pairs.extend_from_slice(extra);
        match jwt_settings(&pairs) {
            Ok(_) => panic!("{pairs:?} accepted"),
            Err(e) => e,
        }
    };
    let short = error(&[("CMMV_JWT_HS256_SECRET", "too-short-secret")], true);
    assert!(
        short.starts_with("CMMV_JWT_HS256_SECRET: too short: 16 bytes"),
        "{short}"
    );
    assert!(
        !short.contains("too-short-secret"),
        "the secret leaked: {short}"
    );
    assert!(error(&[("CMMV_JWT_HS256_SECRET", secret)], false).starts_with("CMMV_JWT_ISSUER: "));
    assert!(
        error(
            &[
                ("CMMV_JWT_HS256_SECRET", secret),
                ("CMMV_JWT_ISSUER", ISSUER)
            ],
            false
        )
        .starts_with("CMMV_JWT_AUDIENCE: ")
    );
    assert!(error(&[], true).starts_with("CMMV_JWT_KEYS: "));
    assert!(error(&[("CMMV_JWT_LEEWAY", "1h")], true).starts_with("CMMV_JWT_LEEWAY: "));
    assert!(error(&[("CMMV_JWT_LEEWAY", "1500ms")], true).starts_with("CMMV_JWT_LEEWAY: "));
    assert!(error(&[("CMMV_JWT_LEEWAY", "soon")], true).starts_with("CMMV_JWT_LEEWAY: "));
    let missing = error(&[("CMMV_JWT_KEYS", "/nonexistent/jwks.json")], true);
    assert!(
        missing.starts_with("CMMV_JWT_KEYS: /nonexistent/jwks.json: cannot read"),
        "{missing}"
    );
    let private = testdata("private");
    let private = error(&[("CMMV_JWT_KEYS", private.to_str().unwrap())], true);
    assert!(private.starts_with("CMMV_JWT_KEYS: "), "{private}");
    // The HS256 secret's kid colliding with a file's.
    let keys = testdata("keys");
    let clash = error(
        &[
            ("CMMV_JWT_HS256_SECRET", secret),
            ("CMMV_JWT_HS256_KID", "rsa-1"),
            ("CMMV_JWT_KEYS", keys.to_str().unwrap()),
        ],
        true,
    );
    assert!(
        clash.starts_with("CMMV_JWT_KEYS: two keys have the kid \"rsa-1\""),
        "{clash}"
    );

    // The secret never shows in `Debug` output of the settings.
    let settings = Settings::from_pairs(
        base.iter()
            .copied()
            .chain([("CMMV_JWT_HS256_SECRET", secret)]),
    )
    .unwrap();
    assert!(!format!("{settings:?}").contains(secret));
}

/// One verifier for all proptest cases: building it parses four keys.
fn shared() -> &'static JwtVerifier {
    static VERIFIER: std::sync::OnceLock<JwtVerifier> = std::sync::OnceLock::new();
    VERIFIER.get_or_init(verifier)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_are_refused_without_panicking(token in ".{0,400}") {
        prop_assert!(shared().verify(&token).is_err());
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let token = String::from_utf8_lossy(&bytes);
        prop_assert!(shared().verify(&token).is_err());
    }

    #[test]
    fn token_shaped_strings_are_refused_without_panicking(
        header in "[A-Za-z0-9_-]{0,60}",
        payload in "[A-Za-z0-9_-]{0,120}",
        signature in "[A-Za-z0-9_=+/-]{0,100}",
    ) {
        let token = format!("{header}.{payload}.{signature}");
        prop_assert!(shared().verify(&token).is_err());
    }

    #[test]
    fn arbitrary_claims_under_a_forged_signature_are_refused(
        sub in ".{0,20}",
        extra in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let claims = with(claims(), "sub", json!(sub));
        let header = json!({"alg": "HS256", "kid": "hs-1"});
        prop_assert!(shared().verify(&raw_token(&header, &claims, &extra)).is_err());
    }
}

#[test]
fn a_remembered_token_is_still_refused_once_it_expires() {
    let strict = strict_verifier();
    let short = token(
        "hs-1",
        Some("hs-1"),
        &with(claims(), "exp", json!(now() + 1)),
    );
    let first = strict.verify_shared(&short).unwrap();
    // The second answer comes from the verifier's memory: the same principal.
    let second = strict.verify_shared(&short).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(refused(&strict, &short), AuthError::Expired);
    // A token differing in one byte of its signature is never taken for a remembered one.
    // (The signature's first character: its last one carries bits base64 decoders ignore.)
    let at = short.rfind('.').unwrap() + 1;
    let mut forged = short.clone();
    let first_char = if &short[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, first_char);
    assert!(strict.verify(&forged).is_err());
}
