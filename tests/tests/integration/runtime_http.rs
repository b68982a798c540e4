//! The runtime's layers over real HTTP: request ids, problems for every framework error,
//! body limit, timeout, panics, security headers and CORS.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use cmmv::settings::{Cors, CorsOrigins};
use cmmv::{App, Problem, RequestId, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime_support::{Served, client, get as http_get, header, json, problem, settings};

fn routes() -> Router {
    Router::new()
        .route(
            "/things",
            get(|| async { "things" }).post(|| async { "made" }),
        )
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("item {id}") }),
        )
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("secret-internal-detail: the database password is hunter2");
                }
                "unreachable"
            }),
        )
        .route(
            "/conflict",
            get(|| async {
                let mut problem = Problem::conflict("the title is taken");
                problem.instance = Some("/tasks/7".to_owned());
                Err::<(), _>(problem)
            }),
        )
        .route(
            "/whoami",
            get(|id: RequestId| async move { id.to_string() }),
        )
        .route(
            "/teapot",
            get(|| async { (axum::http::StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
}

async fn serve(settings: Settings) -> Served {
    let app = App::builder(settings)
        .routes(routes())
        .build()
        .expect("valid settings");
    Served::start(app).await
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_echoed_and_reaches_handlers() {
    let served = serve(settings()).await;
    let response = client()
        .get(served.url("/whoami"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .expect("a response");
    assert_eq!(header(&response, "x-request-id"), Some("trace-abc.123"));
    assert_eq!(response.text().await.expect("a body"), "trace-abc.123");
}

#[tokio::test]
async fn a_missing_or_insane_request_id_is_replaced_by_a_uuid_v7() {
    let served = serve(settings()).await;
    let too_long = "a".repeat(129);
    for incoming in [None, Some(too_long.as_str()), Some("two words")] {
        let mut request = client().get(served.url("/whoami"));
        if let Some(id) = incoming {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.expect("a response");
        let echoed = header(&response, "x-request-id").expect("an id").to_owned();
        assert_ne!(Some(echoed.as_str()), incoming);
        let parsed = echoed.parse::<uuid_like::Uuid>().expect("a UUID");
        assert_eq!(parsed.version, '7', "{echoed}");
        assert_eq!(response.text().await.expect("a body"), echoed);
    }
}

/// Just enough UUID parsing to check the version digit, without another dependency.
mod uuid_like {
    pub(crate) struct Uuid {
        pub(crate) version: char,
    }

    impl std::str::FromStr for Uuid {
        type Err = String;

        fn from_str(s: &str) -> Result<Self, String> {
            let groups: Vec<&str> = s.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            if lengths != [8, 4, 4, 4, 12] || !s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
            {
                return Err(format!("not a UUID: {s}"));
            }
            let version = groups[2].chars().next().ok_or("empty group")?;
            Ok(Self { version })
        }
    }
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let served = serve(settings()).await;
    let response = client()
        .get(served.url("/nope"))
        .header("x-request-id", "req-404")
        .send()
        .await
        .expect("a response");
    let body = problem(response, 404, "/nope").await;
    assert_eq!(body["request_id"], "req-404");
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let served = serve(settings()).await;
    let response = client()
        .delete(served.url("/things"))
        .send()
        .await
        .expect("a response");
    let allow = header(&response, "allow")
        .expect("an Allow header")
        .to_owned();
    for method in ["GET", "POST"] {
        assert!(allow.contains(method), "{allow}");
    }
    let body = problem(response, 405, "/things").await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("GET")),
        "{body}"
    );
}

#[tokio::test]
async fn extractor_rejections_become_problems() {
    let served = serve(settings()).await;
    let body = problem(http_get(&served, "/items/abc").await, 400, "/items/abc").await;
    assert!(body["detail"].is_string(), "{body}");
    // A bare status from a handler becomes a problem too, its text the detail.
    let body = problem(http_get(&served, "/teapot").await, 418, "/teapot").await;
    assert_eq!(body["detail"], "short and stout");
}

#[tokio::test]
async fn handler_problems_get_the_request_id_and_keep_their_instance() {
    let served = serve(settings()).await;
    let body = problem(http_get(&served, "/conflict").await, 409, "/tasks/7").await;
    assert_eq!(body["detail"], "the title is taken");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems() {
    let served = serve(Settings {
        body_limit: 16,
        ..settings()
    })
    .await;
    let small = client()
        .post(served.url("/echo"))
        .body("hello")
        .send()
        .await
        .expect("a response");
    assert_eq!(small.status().as_u16(), 200);
    assert_eq!(small.text().await.expect("a body"), "hello");

    let declared = client()
        .post(served.url("/echo"))
        .body("x".repeat(100))
        .send()
        .await
        .expect("a response");
    let body = problem(declared, 413, "/echo").await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("16 bytes")),
        "{body}"
    );

    // Without a declared length the cap applies while the body is read.
    let raw = raw_request(
        &served,
        "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         20\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n20\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("application/problem+json"), "{raw}");
    assert!(raw.contains("\"request_id\""), "{raw}");
}

/// Sends `request` as is over a fresh connection and reads the whole answer.
async fn raw_request(served: &Served, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(served.addr)
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the request");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_requests_time_out_as_503_problems() {
    let served = serve(Settings {
        request_timeout: Duration::from_millis(200),
        ..settings()
    })
    .await;
    let started = std::time::Instant::now();
    let body = problem(http_get(&served, "/slow").await, 503, "/slow").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("time limit")),
        "{body}"
    );
}

#[tokio::test]
async fn panics_are_500_problems_without_internals() {
    let served = serve(settings()).await;
    let response = http_get(&served, "/panic").await;
    let body = problem(response, 500, "/panic").await;
    let text = body.to_string();
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // The server lives on.
    assert_eq!(http_get(&served, "/things").await.status().as_u16(), 200);
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let served = serve(Settings {
        hsts_max_age: Some(600),
        ..settings()
    })
    .await;
    for path in ["/things", "/nope"] {
        let response = http_get(&served, path).await;
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));
        assert_eq!(
            header(&response, "strict-transport-security"),
            Some("max-age=600")
        );
    }
    let without_hsts = serve(settings()).await;
    let response = http_get(&without_hsts, "/things").await;
    assert_eq!(header(&response, "strict-transport-security"), None);
}

fn cors_settings() -> Settings {
    Settings {
        cors: Cors {
            origins: CorsOrigins::List(vec!["https://app.example".to_owned()]),
            credentials: true,
        },
        ..settings()
    }
}

#[tokio::test]
async fn cors_preflights_answer_listed_origins_only() {
    let served = serve(cors_settings()).await;
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, served.url("/things"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.expect("a response");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header(&allowed, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert!(header(&allowed, "x-request-id").is_some());

    let refused = preflight("https://evil.example").await.expect("a response");
    assert_eq!(header(&refused, "access-control-allow-origin"), None);

    // Simple requests carry the CORS headers too, and expose the request id to scripts.
    let simple = client()
        .get(served.url("/things"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("a response");
    assert_eq!(
        header(&simple, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        header(&simple, "access-control-expose-headers")
            .is_some_and(|h| h.contains("x-request-id")),
        "{:?}",
        simple.headers()
    );
}

#[tokio::test]
async fn no_cors_headers_without_configured_origins() {
    let served = serve(settings()).await;
    let response = client()
        .get(served.url("/things"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("a response");
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[test]
fn credentials_with_any_origin_stop_the_start() {
    let settings = Settings {
        cors: Cors {
            origins: CorsOrigins::Any,
            credentials: true,
        },
        ..settings()
    };
    let error = App::builder(settings)
        .routes(routes())
        .build()
        .expect_err("credentials with * are refused");
    let cmmv::BuildError::Settings(setting) = &error else {
        panic!("a settings error: {error:?}");
    };
    assert_eq!(setting.key.as_deref(), Some("CMMV_CORS_CREDENTIALS"));
    assert!(
        error.to_string().starts_with("CMMV_CORS_CREDENTIALS: "),
        "{error}"
    );
}

#[test]
fn settings_errors_name_the_key() {
    let error = Settings::from_pairs([("CMMV_ADDR", "x")]).expect_err("a bad address");
    assert_eq!(
        error.to_string(),
        "CMMV_ADDR: invalid socket address \"x\" (expected e.g. 0.0.0.0:8080)"
    );
    let error =
        Settings::from_pairs([("CMMV_SHUTDOWN_DEADLINE", "a while")]).expect_err("a bad duration");
    assert_eq!(error.key.as_deref(), Some("CMMV_SHUTDOWN_DEADLINE"));
}

#[tokio::test]
async fn openapi_documents_are_served_per_version_and_latest() {
    let app = App::builder(settings())
        .openapi(1, r#"{"v":1}"#, "v: 1\n")
        .openapi(2, r#"{"v":2}"#.to_owned(), "v: 2\n".to_owned())
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let latest = http_get(&served, "/openapi.json").await;
    assert_eq!(header(&latest, "content-type"), Some("application/json"));
    assert_eq!(json(latest).await["v"], 2);
    let v1 = http_get(&served, "/v1/openapi.json").await;
    assert_eq!(json(v1).await["v"], 1);
    let yaml = http_get(&served, "/v1/openapi.yaml").await;
    assert_eq!(header(&yaml, "content-type"), Some("application/yaml"));
    assert_eq!(yaml.text().await.expect("a body"), "v: 1\n");
    assert_eq!(
        http_get(&served, "/v3/openapi.json")
            .await
            .status()
            .as_u16(),
        404
    );
    // The index names every version and where its documents are; each link answers.
    let index = http_get(&served, "/openapi").await;
    assert_eq!(header(&index, "content-type"), Some("application/json"));
    let index = json(index).await;
    assert_eq!(index["latest"], 2);
    let versions = index["versions"].as_array().expect("a list");
    assert_eq!(versions.len(), 2);
    for (entry, version) in versions.iter().zip([1, 2]) {
        assert_eq!(entry["version"], version);
        for format in ["json", "yaml"] {
            let link = entry[format].as_str().expect("a link");
            assert_eq!(link, format!("/v{version}/openapi.{format}"));
            assert_eq!(http_get(&served, link).await.status().as_u16(), 200);
        }
    }
}

/// What the test's layers do: append `tag` to the `x-layers` response header, and answer 418
/// themselves when the request says `x-stop: <tag>`.
async fn tagging(
    tag: &'static str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let stop = request
        .headers()
        .get("x-stop")
        .is_some_and(|value| value.as_bytes() == tag.as_bytes());
    let mut response = if stop {
        (axum::http::StatusCode::IM_A_TEAPOT, tag).into_response()
    } else {
        next.run(request).await
    };
    let seen = response
        .headers()
        .get("x-layers")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| tag.to_owned(), |inner| format!("{tag},{inner}"));
    response
        .headers_mut()
        .insert("x-layers", seen.parse().expect("a header value"));
    response
}

async fn outer_layer(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    tagging("outer", request, next).await
}

async fn inner_layer(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    tagging("inner", request, next).await
}

#[tokio::test]
async fn the_apps_own_layers_sit_inside_the_runtimes_middleware_and_outside_the_guards() {
    let guarded = Router::new().route(
        "/private",
        get(cmmv::operation(
            || async { "secret" },
            cmmv::auth::Access::Authenticated,
            &[],
        )),
    );
    let app = App::builder(crate::auth_support::with_auth(settings()))
        .routes(routes())
        .routes(guarded)
        .layer(axum::middleware::from_fn(outer_layer))
        .layer(axum::middleware::from_fn(inner_layer))
        .build()
        .expect("the app builds");
    let served = Served::start(app).await;

    // Every route, the fallback included, goes through both, the first given outermost.
    for path in ["/things", "/nowhere"] {
        let response = http_get(&served, path).await;
        assert_eq!(header(&response, "x-layers"), Some("outer,inner"), "{path}");
    }
    // Before the guard: a layer may answer a request the guard would refuse...
    let stopped = client()
        .get(served.url("/private"))
        .header("x-stop", "inner")
        .send()
        .await
        .expect("a response");
    assert_eq!(stopped.status(), 418);
    // ...and its answer still gets the runtime's request id and security headers.
    assert!(header(&stopped, "x-request-id").is_some());
    assert_eq!(header(&stopped, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&stopped, "x-layers"), Some("outer,inner"));
    // Without it, the guard answers, inside the layers.
    let refused = http_get(&served, "/private").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "x-layers"), Some("outer,inner"));
}
