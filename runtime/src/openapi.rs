//! Serving the generated OpenAPI documents: `/v{N}/openapi.json|yaml` for each API version,
//! `/openapi.json|yaml` for the latest one, and `/openapi`, the index of them all.

use std::collections::BTreeMap;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};

/// The media type of the JSON documents.
const JSON: &str = "application/json";
/// The media type of the YAML documents (RFC 9512).
const YAML: &str = "application/yaml";

/// One version's document in both serializations.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) json: Bytes,
    pub(crate) yaml: Bytes,
}

/// The routes serving `documents`, keyed by API version.
pub(crate) fn routes(documents: &BTreeMap<u32, Document>) -> Router {
    let mut router = Router::new();
    for (version, document) in documents {
        router = add(router, &format!("/v{version}"), document);
    }
    // BTreeMap order: the last entry is the highest version.
    if let Some((&latest_version, latest)) = documents.iter().next_back() {
        router = add(router, "", latest);
        let index = Bytes::from(index(documents.keys().copied(), latest_version));
        router = router.route("/openapi", get(move || async move { serve(JSON, index) }));
    }
    router
}

/// `/openapi`: every version served and where its documents are, so that a client or a tool
/// finds them without knowing the versions in advance.
fn index(versions: impl Iterator<Item = u32>, latest: u32) -> Vec<u8> {
    let versions: Vec<serde_json::Value> = versions
        .map(|version| {
            serde_json::json!({
                "version": version,
                "json": format!("/v{version}/openapi.json"),
                "yaml": format!("/v{version}/openapi.yaml"),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "latest": latest,
        "versions": versions,
    }))
    .unwrap_or_default()
}

fn add(router: Router, prefix: &str, document: &Document) -> Router {
    let json = document.json.clone();
    let yaml = document.yaml.clone();
    router
        .route(
            &format!("{prefix}/openapi.json"),
            get(move || async move { serve(JSON, json) }),
        )
        .route(
            &format!("{prefix}/openapi.yaml"),
            get(move || async move { serve(YAML, yaml) }),
        )
}

fn serve(media_type: &'static str, body: Bytes) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        body,
    )
}
