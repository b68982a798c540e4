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

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let served: BTreeSet<(String, String)> = todo::api::ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let documented: BTreeSet<(String, String)> = documents()
        .iter()
        .flat_map(|(_, document)| documented_routes(document))
        .collect();
    assert_eq!(served, documented);
    // Each version's document lists exactly the routes under its own prefix.
    for (version, document) in documents() {
        let prefix = format!("/v{version}/");
        assert!(
            documented_routes(&document)
                .iter()
                .all(|(_, path)| path.starts_with(&prefix))
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
    let app = todo::app(settings(), &Arc::new(todo::Todo::in_memory())).expect("the app builds");
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
