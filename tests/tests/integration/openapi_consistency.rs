//! What the OpenAPI documents promise is what the example service serves: every documented
//! route is served, every served route is documented, and every status the probes below
//! provoke is documented for its operation.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::runtime_support::{Served, client, settings};

fn documents() -> Vec<(u32, Value)> {
    todo::api::OPENAPI
        .iter()
        .map(|(version, json, _)| (*version, serde_json::from_str(json).expect("valid JSON")))
        .collect()
}

/// Every `(METHOD, path)` a document lists.
fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The login module's routes, which the runtime serves unversioned (`versioned: false` in its
/// contract): every document lists them.
const LOGIN_PREFIX: &str = "/auth/";

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let served: BTreeSet<(String, String)> = todo::api::ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    // The generated routers' routes; the login module's are the runtime's (see below).
    let documented: BTreeSet<(String, String)> = documents()
        .iter()
        .flat_map(|(_, document)| documented_routes(document))
        .filter(|(_, path)| !path.starts_with(LOGIN_PREFIX))
        .collect();
    assert_eq!(served, documented);
    assert_eq!(todo::api::MODULES, ["login"]);
    // Each version's document lists exactly the routes under its own prefix, and the login
    // module's, the same in each.
    let login_routes = |document: &Value| -> BTreeSet<(String, String)> {
        documented_routes(document)
            .into_iter()
            .filter(|(_, path)| path.starts_with(LOGIN_PREFIX))
            .collect()
    };
    let first = login_routes(&documents()[0].1);
    let module: BTreeSet<(String, String)> = [
        ("POST", "/auth/register"),
        ("POST", "/auth/confirm"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/me"),
        ("POST", "/auth/password"),
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions"),
        ("DELETE", "/auth/sessions/{session_id}"),
        ("GET", "/auth/api-keys"),
        ("POST", "/auth/api-keys"),
        ("DELETE", "/auth/api-keys/{key_id}"),
        ("GET", "/auth/oauth/providers"),
        ("GET", "/auth/oauth/{provider}/start"),
        ("GET", "/auth/oauth/{provider}/callback"),
        ("POST", "/auth/oauth/exchange"),
        ("POST", "/auth/oauth/{provider}/link"),
        ("POST", "/auth/oauth/link/confirm"),
        ("GET", "/auth/identities"),
        ("DELETE", "/auth/identities/{provider}/{subject}"),
    ]
    .into_iter()
    .map(|(method, path)| (method.to_owned(), path.to_owned()))
    .collect();
    assert_eq!(first, module);
    for (version, document) in documents() {
        let prefix = format!("/v{version}/");
        assert!(
            documented_routes(&document)
                .iter()
                .all(|(_, path)| path.starts_with(&prefix) || path.starts_with(LOGIN_PREFIX))
        );
        assert_eq!(login_routes(&document), first);
        assert_eq!(
            document["paths"][LOGIN_PREFIX.to_owned() + "login"],
            documents()[0].1["paths"]["/auth/login"]
        );
    }
}

/// A value of the parameter's schema, for filling in paths.
fn sample(parameter: &Value) -> String {
    let schema = &parameter["schema"];
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (_, Some("uuid")) => "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69".to_owned(),
        (Some("integer"), _) => "123".to_owned(),
        _ => "probe".to_owned(),
    }
}

/// The concrete path of an operation, its path parameters filled in.
fn concrete_path(path: &str, operation: &Value) -> String {
    let mut concrete = path.to_owned();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        if parameter["in"] == "path" {
            let name = parameter["name"].as_str().unwrap_or_default();
            concrete = concrete.replace(&format!("{{{name}}}"), &sample(parameter));
        }
    }
    concrete
}

#[tokio::test]
async fn every_status_the_service_returns_is_documented() {
    let settings = crate::auth_support::with_auth(settings());
    let app = todo::app(settings, &Arc::new(todo::Todo::in_memory())).expect("the app builds");
    let served = Served::start(app).await;
    let mut probes = 0;
    for (_, document) in documents() {
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(http_method) = method.to_ascii_uppercase().parse::<Method>() else {
                    continue;
                };
                let documented: BTreeSet<String> = operation["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, _)| status.clone())
                    .collect();
                let url = served.url(&concrete_path(path, operation));
                let has_body = operation.get("requestBody").is_some();
                // A plain request (an empty JSON object as body), an unknown query parameter,
                // and a body of the wrong media type.
                let mut requests = vec![client().request(http_method.clone(), &url)];
                requests.push(client().request(http_method.clone(), format!("{url}?zz_unknown=1")));
                if has_body {
                    requests[0] = client()
                        .request(http_method.clone(), &url)
                        .header("content-type", "application/json")
                        .body("{}");
                    requests.push(
                        client()
                            .request(http_method.clone(), &url)
                            .header("content-type", "text/plain")
                            .body("{}"),
                    );
                }
                for request in requests {
                    let response = request.send().await.expect("a response");
                    let status = response.status().as_u16().to_string();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    assert_ne!(
                        body["detail"], "no route serves this path",
                        "{method} {path} is documented but not served"
                    );
                    assert!(
                        documented.contains(&status),
                        "{method} {path} answered {status}, documented: {documented:?}; body: {body}"
                    );
                    probes += 1;
                }
            }
        }
    }
    assert!(probes > 60, "only {probes} probes ran");
}

/// The `(METHOD, path template)` pairs the app really routes: the paths are read off the built
/// axum router (its `Debug` lists every path it matches, merged routers and the runtime's own
/// routes included), and each method of each path is asked over HTTP — a method the path does
/// not route is a 405 before any handler or guard runs, anything else is served.
async fn routed(app: cmmv::App) -> BTreeSet<(String, String)> {
    let listing = format!("{:?}", app.mounted_routes());
    // The routes proper; the fallback's own paths (`/`, `/{*__private__axum_fallback}`),
    // listed after them, answer every request with 404.
    let routes = listing
        .split_once("fallback_router")
        .map_or(listing.as_str(), |(routes, _)| routes);
    let paths: BTreeSet<String> = regex::Regex::new(r#""(/[^"]*)""#)
        .expect("a regex")
        .captures_iter(routes)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(paths.len() > 10, "the router lists its paths: {listing}");
    let served = Served::start(app).await;
    let fill = regex::Regex::new(r"\{[^}]+\}").expect("a regex");
    let mut routed = BTreeSet::new();
    for path in &paths {
        let concrete = fill.replace_all(path, "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let status = client()
                .request(method.clone(), served.url(&concrete))
                .send()
                .await
                .expect("a response")
                .status();
            if status != reqwest::StatusCode::METHOD_NOT_ALLOWED {
                routed.insert((method.as_str().to_owned(), path.clone()));
            }
        }
    }
    routed
}

/// Issue 17: the routes the example app really serves — read off the built router, not a table
/// emitted from the same IR as the documents — are the documented ones plus those
/// `docs/operations.md` says the documents leave out, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_the_app_serves_are_documented_or_deliberately_left_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = crate::auth_support::with_auth(settings());
    settings.database_url = format!("sqlite://{}", dir.path().join("todo.db").display());
    let service = todo::assemble(settings)
        .await
        .expect("the example assembles");
    let served = routed(service.app).await;

    let mut expected: BTreeSet<(String, String)> = documents()
        .iter()
        .flat_map(|(_, document)| documented_routes(document))
        .collect();
    let get = |path: &str| ("GET".to_owned(), path.to_owned());
    // Operational routes, left out of the documents on purpose (docs/operations.md).
    expected.extend(
        [
            "/health/live",
            "/health/ready",
            "/health/started",
            "/metrics",
        ]
        .map(get),
    );
    for (version, _) in documents() {
        expected.extend(
            [
                format!("/v{version}/openapi.json"),
                format!("/v{version}/openapi.yaml"),
            ]
            .map(|p| get(&p)),
        );
    }
    expected.extend(["/openapi", "/openapi.json", "/openapi.yaml"].map(get));
    // The interactive documents and their assets (docs/operations.md).
    expected.extend(
        [
            "/docs",
            "/docs/init.js",
            "/docs/swagger-ui-bundle.js",
            "/docs/swagger-ui-standalone-preset.js",
            "/docs/swagger-ui.css",
        ]
        .map(get),
    );

    let missing: Vec<_> = expected.difference(&served).collect();
    let undocumented: Vec<_> = served.difference(&expected).collect();
    assert!(
        missing.is_empty() && undocumented.is_empty(),
        "documented or expected but not served: {missing:?}\nserved but neither documented nor deliberately left out: {undocumented:?}"
    );
}

/// `/docs` serves the interactive documents from the binary, under a policy of its own that
/// allows the page's own scripts and nothing from elsewhere; the API keeps its `default-src
/// 'none'`. (The page itself is checked in a real browser by `cargo xtask docs-browser`.)
#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_under_its_own_policy() {
    let settings = crate::auth_support::with_auth(settings());
    let app = todo::app(settings, &Arc::new(todo::Todo::in_memory())).expect("the app builds");
    let served = Served::start(app).await;
    let policy = |response: &reqwest::Response| {
        response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let page = client()
        .get(served.url("/docs"))
        .send()
        .await
        .expect("a page");
    assert_eq!(page.status(), 200);
    assert!(
        crate::runtime_support::header(&page, "content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let page_policy = policy(&page);
    assert!(page_policy.contains("script-src 'self'"), "{page_policy}");
    assert!(!page_policy.contains("unsafe"), "{page_policy}");
    let html = page.text().await.expect("HTML");
    assert!(html.contains(r#"<script src="docs/init.js"></script>"#));
    assert!(!html.contains("http"), "the page names no other origin");
    let init = client()
        .get(served.url("/docs/init.js"))
        .send()
        .await
        .expect("a script");
    let script = init.text().await.expect("text");
    assert!(
        script.contains(
            r#"{"url":"v2/openapi.json","name":"v2"},{"url":"v1/openapi.json","name":"v1"}"#
        ),
        "{script}"
    );
    for (asset, media) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui-standalone-preset.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
    ] {
        let response = client()
            .get(served.url(asset))
            .send()
            .await
            .expect("an asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            crate::runtime_support::header(&response, "content-type")
                .is_some_and(|t| t.starts_with(media)),
            "{asset}"
        );
        assert!(
            response.bytes().await.expect("a body").len() > 100_000,
            "{asset}"
        );
    }
    // The API's own answers keep the strict policy.
    let api = client()
        .get(served.url("/v1/labels"))
        .send()
        .await
        .expect("a list");
    assert_eq!(policy(&api), "default-src 'none'; frame-ancestors 'none'");
}
