//! Rate limiting end to end over HTTP on the example service, in process: the headers of
//! limited routes, the 429 problem, and whose requests count together (trusted proxies,
//! spoofed forwarding headers).
//!
//! The example's sign-up (`POST /auth/register`, the login module's) allows 10 per hour per
//! client IP, in one burst of 3; the label routes have no limit.

use std::sync::Arc;

use cmmv::Settings;
use cmmv::ratelimit::Cidr;
use serde_json::json;
use todo::{Todo, app};

use crate::runtime_support::{Served, client, header, problem, settings};

async fn serve(settings: Settings) -> Served {
    // With a signing key: the example mounts the login module, which issues tokens.
    let settings = crate::auth_support::with_auth(settings);
    Served::start(app(settings, &Arc::new(Todo::in_memory())).expect("the app builds")).await
}

/// The sign-up's burst: requests answered at once before the limit refuses.
const BURST: usize = 3;

/// Signs up a new user, forwarded for `forwarded_for` when given; returns the response.
async fn sign_up(served: &Served, n: usize, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client().post(served.url("/auth/register")).json(&json!({
        "email": format!("user{n}@example.com"),
        "password": "correct horse battery"
    }));
    if let Some(client_ip) = forwarded_for {
        request = request.header("x-forwarded-for", client_ip);
    }
    request.send().await.expect("a response")
}

#[tokio::test]
async fn limited_routes_report_their_budget_and_refuse_with_a_problem() {
    let served = serve(Settings {
        rate_limit: cmmv::settings::RateLimitSettings {
            legacy_headers: true,
            ..Default::default()
        },
        ..settings()
    })
    .await;
    for n in 0..BURST {
        let response = sign_up(&served, n, None).await;
        assert_eq!(response.status(), 201, "request {n} is within the burst");
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"Account.register\";q=10;w=3600")
        );
        let remaining = BURST - 1 - n;
        let limit = header(&response, "ratelimit").expect("RateLimit");
        assert!(
            limit.starts_with(&format!("\"Account.register\";r={remaining};t=")),
            "{limit}"
        );
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("10"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }

    let refused = sign_up(&served, BURST, None).await;
    let retry_after: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    // One request per 360 s comes back: the wait is under that, and never 0.
    assert!((1..=360).contains(&retry_after), "{retry_after}");
    assert!(
        header(&refused, "ratelimit")
            .expect("RateLimit")
            .contains(";r=0;")
    );
    let body = problem(refused, 429, "/auth/register").await;
    assert_eq!(body["title"], "Too Many Requests");
    let metrics = client()
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("a response")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "cmmv_rate_limit_decisions_total{policy=\"Account.register\",outcome=\"refused\"} 1"
        ),
        "{metrics}"
    );

    // Unlimited routes carry no rate-limit fields.
    let labels = client()
        .get(served.url("/v1/labels"))
        .send()
        .await
        .expect("a response");
    assert_eq!(labels.status(), 200);
    assert_eq!(header(&labels, "ratelimit"), None);
    assert_eq!(header(&labels, "ratelimit-policy"), None);
    served.shutdown().await;
}

#[tokio::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_changes_nothing() {
    // No trusted proxies: the socket peer (127.0.0.1) is the client, whatever it claims.
    let served = serve(settings()).await;
    for n in 0..BURST {
        let claimed = format!("198.51.100.{n}");
        assert_eq!(sign_up(&served, n, Some(&claimed)).await.status(), 201);
    }
    let response = sign_up(&served, BURST, Some("198.51.100.99")).await;
    assert_eq!(response.status(), 429, "every claim counted as 127.0.0.1");
    served.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let trusted: Cidr = "127.0.0.1/32".parse().expect("cidr");
    let served = serve(Settings {
        rate_limit: cmmv::settings::RateLimitSettings {
            trusted_proxies: vec![trusted],
            ..Default::default()
        },
        ..settings()
    })
    .await;
    // One client through the proxy spends its budget...
    for n in 0..BURST {
        assert_eq!(sign_up(&served, n, Some("203.0.113.7")).await.status(), 201);
    }
    assert_eq!(sign_up(&served, 5, Some("203.0.113.7")).await.status(), 429);
    // ...another one still has all of its own.
    assert_eq!(sign_up(&served, 6, Some("203.0.113.8")).await.status(), 201);
    // A client that prepends a fake hop is still known by the hop the proxy added.
    assert_eq!(
        sign_up(&served, 7, Some("10.9.9.9, 203.0.113.7"))
            .await
            .status(),
        429
    );
    served.shutdown().await;
}

#[tokio::test]
async fn limits_can_be_switched_off() {
    let served = serve(Settings {
        rate_limit: cmmv::settings::RateLimitSettings {
            enabled: false,
            ..Default::default()
        },
        ..settings()
    })
    .await;
    for n in 0..7 {
        let response = sign_up(&served, n, None).await;
        assert_eq!(response.status(), 201);
        assert_eq!(header(&response, "ratelimit"), None);
    }
    served.shutdown().await;
}

/// Signs up through `served` at `prefix` (the routes nested there).
async fn sign_up_at(served: &Served, prefix: &str, n: usize) -> reqwest::Response {
    client()
        .post(served.url(&format!("{prefix}/auth/register")))
        .json(&json!({
            "email": format!("nested{n}@example.com"),
            "password": "correct horse battery"
        }))
        .send()
        .await
        .expect("a response")
}

/// The login module's routes alone: generated from its contract, each carrying its limits.
fn login_routes() -> axum::Router {
    todo::login_in_memory(&crate::auth_support::with_auth(settings()))
        .expect("the login module")
        .routes()
}

#[tokio::test]
async fn limits_travel_with_routes_nested_under_a_prefix() {
    // Issue 16: limits were matched by (method, path template) at the app, so a router nested
    // under a prefix lost every one of them.
    let nested = axum::Router::new().nest("/api", login_routes());
    let served = Served::start(
        cmmv::App::builder(settings())
            .routes(nested)
            .build()
            .expect("the app builds"),
    )
    .await;
    for n in 0..BURST {
        let response = sign_up_at(&served, "/api", n).await;
        assert_eq!(response.status(), 201);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"Account.register\";q=10;w=3600")
        );
    }
    problem(
        sign_up_at(&served, "/api", BURST).await,
        429,
        "/api/auth/register",
    )
    .await;
    served.shutdown().await;
}

#[tokio::test]
async fn an_app_given_only_the_routes_still_enforces_their_limits() {
    // No `.api(&API)`, no table: nothing to forget, the routes carry their policies.
    let served = Served::start(
        cmmv::App::builder(settings())
            .routes(login_routes())
            .build()
            .expect("the app builds"),
    )
    .await;
    for n in 0..BURST {
        assert_eq!(sign_up(&served, n, None).await.status(), 201);
    }
    problem(sign_up(&served, BURST, None).await, 429, "/auth/register").await;
    served.shutdown().await;
}

const PER_TENANT: &[cmmv::ratelimit::Policy] = &[cmmv::ratelimit::Policy {
    id: "reports",
    limit: 2,
    period: std::time::Duration::from_secs(60),
    burst: 2,
    key: cmmv::ratelimit::KeyKind::Custom("tenant"),
    on_error: cmmv::ratelimit::FailMode::Local,
}];

/// A hand-written route limited like a generated one, counted per tenant.
fn reports() -> axum::Router {
    use axum::handler::Handler;
    axum::Router::new().route(
        "/reports",
        axum::routing::get((|| async { "report" }).layer(cmmv::ratelimit::limit(PER_TENANT))),
    )
}

const REPORT_LIMITS: cmmv::ratelimit::RouteLimits = &[("GET", "/reports", PER_TENANT)];

const REPORTS_API: cmmv::Api = cmmv::Api {
    openapi: &[],
    routes: &[("GET", "/reports")],
    rate_limits: REPORT_LIMITS,
    migrations: &[],
    modules: &[],
    account: None,
    versioning: cmmv::versioning::Versioning::URI,
    protobuf: None,
};

#[tokio::test]
async fn custom_keys_are_checked_at_start_and_count_hand_written_routes() {
    let missing = cmmv::App::builder(settings())
        .routes(reports())
        .api(&REPORTS_API)
        .build()
        .expect_err("the custom key is not registered");
    // A mistake in the app's code, not a setting.
    assert!(
        matches!(
            &missing,
            cmmv::BuildError::UnregisteredRateLimitKey { key: "tenant", .. }
        ),
        "{missing:?}"
    );

    let served = Served::start(
        cmmv::App::builder(settings())
            .routes(reports())
            .api(&REPORTS_API)
            .rate_limit_key("tenant", |request| {
                request
                    .headers()
                    .get("x-tenant")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .build()
            .expect("the app builds"),
    )
    .await;
    let get = |tenant: &'static str| {
        client()
            .get(served.url("/reports"))
            .header("x-tenant", tenant)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(get("acme").await.expect("a response").status(), 200);
    }
    problem(get("acme").await.expect("a response"), 429, "/reports").await;
    assert_eq!(get("globex").await.expect("a response").status(), 200);
    served.shutdown().await;
}

const BY_NAME: &[cmmv::ratelimit::Policy] = &[cmmv::ratelimit::Policy::named("reports")];

#[tokio::test]
async fn a_policy_known_by_name_is_resolved_from_the_api_table_or_refused() {
    use axum::handler::Handler;
    // As `#[contract]` expands a route under a policy of `cmmv.yaml`: by name only.
    let named = || {
        axum::Router::new().route(
            "/reports",
            axum::routing::get((|| async { "report" }).layer(cmmv::ratelimit::limit(BY_NAME))),
        )
    };
    let tenant = |request: &axum::extract::Request| {
        request
            .headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Without the table that defines it, the route refuses rather than run unlimited.
    let unresolved = Served::start(
        cmmv::App::builder(settings())
            .routes(named())
            .build()
            .expect("the app builds"),
    )
    .await;
    let refused = client()
        .get(unresolved.url("/reports"))
        .send()
        .await
        .expect("a response");
    problem(refused, 503, "/reports").await;
    unresolved.shutdown().await;

    let resolved = Served::start(
        cmmv::App::builder(settings())
            .routes(named())
            .api(&REPORTS_API)
            .rate_limit_key("tenant", tenant)
            .build()
            .expect("the app builds"),
    )
    .await;
    for _ in 0..2 {
        let response = client()
            .get(resolved.url("/reports"))
            .header("x-tenant", "acme")
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"reports\";q=2;w=60")
        );
    }
    let third = client()
        .get(resolved.url("/reports"))
        .header("x-tenant", "acme")
        .send()
        .await
        .expect("a response");
    problem(third, 429, "/reports").await;
    resolved.shutdown().await;
}
