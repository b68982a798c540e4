//! The interactive documents at `/docs`: Swagger UI over the served OpenAPI documents, one
//! per API version with a switch between them, "Authorize" with a bearer token or an API key,
//! and "Try it out" against the running app.
//!
//! Everything is in the binary (`assets/swagger-ui/`, vendored from the npm package
//! `swagger-ui-dist`; see `VENDORED.md`): the page loads nothing from anywhere but the app.
//! The API's own policy (`default-src 'none'`) would forbid the page its scripts, so the docs
//! routes carry a policy of their own that allows exactly the app's own scripts, styles,
//! documents and API calls, and nothing else — no inline script (the start-up code is a file
//! too, `init.js`), no other origin.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};

use crate::openapi::Document;

/// Where the page is served.
pub const DOCS_PATH: &str = "/docs";

const BUNDLE: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const PRESET: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-standalone-preset.js");
const STYLES: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

/// The policy of the docs routes: the app's own scripts, styles, images and API only. Swagger
/// UI applies one inline style, allowed by its hash rather than by `'unsafe-inline'` (the
/// headless-browser check, `cargo xtask docs-browser`, fails on any violation, so a new
/// version of the renderer with other inline styles is caught); `data:` images are its icons.
const POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page links everything relative to `/docs`: `docs/init.js` is `/docs/init.js`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-ui-standalone-preset.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"#;

/// The docs routes, for the documents of `versions` (the highest one shown first).
pub(crate) fn routes(documents: &BTreeMap<u32, Document>) -> Router {
    let init = Bytes::from(init_script(documents.keys().copied()));
    Router::new()
        .route(
            DOCS_PATH,
            get(|| async { serve("text/html; charset=utf-8", PAGE.as_bytes(), false) }),
        )
        .route(
            "/docs/init.js",
            get(move || async move { serve("text/javascript; charset=utf-8", init, false) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { serve("text/javascript; charset=utf-8", BUNDLE, true) }),
        )
        .route(
            "/docs/swagger-ui-standalone-preset.js",
            get(|| async { serve("text/javascript; charset=utf-8", PRESET, true) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { serve("text/css; charset=utf-8", STYLES, true) }),
        )
}

/// The start-up script: one entry per version, newest first and shown first.
fn init_script(versions: impl DoubleEndedIterator<Item = u32>) -> String {
    let mut urls = String::new();
    let mut first = None;
    for version in versions.rev() {
        first.get_or_insert(version);
        let _ = write!(
            urls,
            r#"{{"url":"v{version}/openapi.json","name":"v{version}"}},"#
        );
    }
    let primary = first.map_or_else(String::new, |v| format!("v{v}"));
    format!(
        r##""use strict";
window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    urls: [{urls}],
    "urls.primaryName": "{primary}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    validatorUrl: null
  }});
}});
"##
    )
}

fn serve(media_type: &'static str, body: impl Into<Bytes>, asset: bool) -> impl IntoResponse {
    // The assets change only with the runtime; the page and its start-up script with the app.
    let cache = if asset {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
        ],
        body.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_comes_first() {
        let script = init_script([1, 2, 3].into_iter());
        assert!(script.contains(
            r#"urls: [{"url":"v3/openapi.json","name":"v3"},{"url":"v2/openapi.json","name":"v2"},{"url":"v1/openapi.json","name":"v1"},]"#
        ));
        assert!(script.contains(r#""urls.primaryName": "v3""#));
    }
}
