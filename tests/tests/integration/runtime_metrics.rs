//! `/metrics` over real HTTP: route templates as labels, and one registry per app.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use cmmv::App;

use crate::runtime_support::{Served, get as http_get, header, settings};

fn app() -> App {
    App::builder(settings())
        .routes(Router::new().route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("item {id}") }),
        ))
        .build()
        .expect("valid settings")
}

async fn scrape(served: &Served) -> String {
    let response = http_get(served, "/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        header(&response, "content-type").is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        response.headers()
    );
    response.text().await.expect("a body")
}

#[tokio::test]
async fn requests_are_counted_by_route_template_never_by_raw_path() {
    let served = Served::start(app()).await;
    for path in ["/items/1", "/items/2", "/items/3", "/no/such/path"] {
        http_get(&served, path).await;
    }
    let text = scrape(&served).await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/items/{id}",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="<unmatched>",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("/items/1"), "{text}");
    assert!(!text.contains("/no/such/path"), "{text}");
    assert!(
        text.contains(
            r#"http_request_duration_seconds_bucket{method="GET",route="/items/{id}",status="200",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn two_apps_in_one_process_count_separately() {
    let first = Served::start(app()).await;
    let second = Served::start(app()).await;
    for _ in 0..2 {
        http_get(&first, "/items/7").await;
    }
    http_get(&second, "/items/8").await;
    let first_text = scrape(&first).await;
    let second_text = scrape(&second).await;
    assert!(
        first_text
            .contains(r#"http_requests_total{method="GET",route="/items/{id}",status="200"} 2"#),
        "{first_text}"
    );
    assert!(
        second_text
            .contains(r#"http_requests_total{method="GET",route="/items/{id}",status="200"} 1"#),
        "{second_text}"
    );
}
