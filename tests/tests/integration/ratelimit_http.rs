//! Rate limiting end to end over HTTP on the example service, in process: the headers of
//! limited routes, the 429 problem, and whose requests count together (trusted proxies,
//! spoofed forwarding headers).
//!
//! The example's sign-up (`POST /v1/users`) allows 5 per hour per client IP, in one burst of 5;
//! the label routes have no limit.

use std::sync::Arc;

use cmmv::Settings;
use cmmv::ratelimit::Cidr;
use serde_json::json;
use todo::{Todo, app};

use crate::runtime_support::{Served, client, header, problem, settings};

async fn serve(settings: Settings) -> Served {
    Served::start(app(settings, &Arc::new(Todo::in_memory())).expect("the app builds")).await
}

/// Signs up a new user, forwarded for `forwarded_for` when given; returns the response.
async fn sign_up(served: &Served, n: usize, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client().post(served.url("/v1/users")).json(&json!({
        "email": format!("user{n}@example.com"),
        "display_name": format!("User {n}"),
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
    for n in 0..5 {
        let response = sign_up(&served, n, None).await;
        assert_eq!(response.status(), 201, "request {n} is within the burst");
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"User.create\";q=5;w=3600")
        );
        let remaining = 4 - n;
        let limit = header(&response, "ratelimit").expect("RateLimit");
        assert!(
            limit.starts_with(&format!("\"User.create\";r={remaining};t=")),
            "{limit}"
        );
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("5"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    }

    let refused = sign_up(&served, 5, None).await;
    let retry_after: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    // One request per 720 s comes back: the wait is under that, and never 0.
    assert!((1..=720).contains(&retry_after), "{retry_after}");
    assert!(
        header(&refused, "ratelimit")
            .expect("RateLimit")
            .contains(";r=0;")
    );
    let body = problem(refused, 429, "/v1/users").await;
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
        metrics.contains("cmmv_rate_limit_refused_total{policy=\"User.create\"} 1"),
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
    for n in 0..5 {
        let claimed = format!("198.51.100.{n}");
        assert_eq!(sign_up(&served, n, Some(&claimed)).await.status(), 201);
    }
    let response = sign_up(&served, 5, Some("198.51.100.99")).await;
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
    for n in 0..5 {
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
