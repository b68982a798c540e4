//! The served documents list exactly the list parameters the server accepts.

use super::*;

// ---------------------------------------------------------------------------------------------
// The documents describe what the server accepts
// ---------------------------------------------------------------------------------------------

/// A value a parameter's schema admits, `$ref`s resolved in `document`.
fn sample(schema: &Value, document: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return sample(&document["components"]["schemas"][name], document);
    }
    if let Some(first) = schema["enum"].get(0) {
        return first
            .as_str()
            .map_or_else(|| first.to_string(), str::to_owned);
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("array"), _) => sample(&schema["items"], document),
        (Some("boolean"), _) => "true".to_owned(),
        (Some("integer"), _) => schema["minimum"].as_i64().unwrap_or(1).max(1).to_string(),
        (Some("number"), _) | (_, Some("decimal")) => "1.5".to_owned(),
        (_, Some("uuid")) => "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69".to_owned(),
        (_, Some("date-time")) => "2030-01-31T17:00:00Z".to_owned(),
        (_, Some("date")) => "2030-01-31".to_owned(),
        _ => "probe".to_owned(),
    }
}

/// Every parameter the served documents list for a list operation is accepted with a value of
/// its schema, alone; a filter on a field or with an operator they do not list is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_list_parameters_are_exactly_the_accepted_ones() {
    let stores = Stores::memory();
    let backend = Backend {
        name: "memory",
        served: serve(&stores, CURSOR_SECRET).await,
        stores,
    };
    let project = seed_tasks(&backend, "documented").await.to_string();
    let mut checked = 0;
    for version in [1, 2] {
        let (status, _, document) = get_raw(&backend, &format!("/v{version}/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        for (path, item) in document["paths"].as_object().expect("paths") {
            let Some(list) = item.get("get").filter(|op| {
                op["operationId"]
                    .as_str()
                    .is_some_and(|id| id.ends_with("_list"))
            }) else {
                continue;
            };
            let first = page(&backend, path, &[("limit", "1")]).await;
            // The query's parameters (the version's header is not the list's business).
            let query: Vec<&Value> = list["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .filter(|p| p["in"] == "query")
                .collect();
            let documented: BTreeSet<String> = query
                .iter()
                .map(|p| p["name"].as_str().expect("a name").to_owned())
                .collect();
            for parameter in query {
                let name = parameter["name"].as_str().expect("a name");
                let value = match name {
                    "cursor" => match first["next"].as_str() {
                        Some(cursor) => cursor.to_owned(),
                        None => continue,
                    },
                    _ => sample(&parameter["schema"], &document),
                };
                let (status, _, body) = get(&backend, path, &[(name, &value)]).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{path}: documented `{name}={value}` is refused: {body}"
                );
                checked += 1;
            }
            // Every field of the resource with every operator: documented or refused.
            let resource =
                &list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
            let page_name = resource
                .as_str()
                .expect("a page")
                .trim_start_matches("#/components/schemas/");
            let item =
                &document["components"]["schemas"][page_name]["properties"]["items"]["items"];
            // A whole resource or a sparse one: the first is the resource.
            let item = &document["components"]["schemas"][item["anyOf"][0]["$ref"]
                .as_str()
                .expect("a ref")
                .trim_start_matches("#/components/schemas/")];
            for field in item["properties"].as_object().expect("properties").keys() {
                for op in cmmv::list::Operator::ALL {
                    let name = format!("{field}[{}]", op.name());
                    if documented.contains(&name) {
                        continue;
                    }
                    let (status, _, body) = get(&backend, path, &[(&name, "1")]).await;
                    assert_eq!(
                        status,
                        StatusCode::BAD_REQUEST,
                        "{path}: undocumented `{name}` is accepted: {body}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} parameters checked");
    // Filtered for real: a documented filter is applied, not merely tolerated.
    let body = page(
        &backend,
        "/v1/tasks",
        &[("project_id", &project), ("story_points[gte]", "8")],
    )
    .await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
}
