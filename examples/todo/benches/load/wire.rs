//! The `wire` comparison: the same app and store answering create and get as JSON over REST,
//! as protobuf over REST, and as gRPC unary calls over HTTP/2 on the same port. Bodies are
//! encoded once, before the clock starts, by the descriptors the app serves with
//! (`cmmv::protobuf::Messages`), so the client side costs the same per request in every form.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use cmmv::types::Uuid;
use serde_json::json;

use super::{CONNECTIONS, Measured, Scenario};

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Json,
    /// REST, `Content-Type` and `Accept: application/x-protobuf`.
    Protobuf,
    /// gRPC unary calls (`TaskService/Get`, `TaskService/Create`).
    Grpc,
}

impl Form {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Form::Json => "json-rest",
            Form::Protobuf => "protobuf-rest",
            Form::Grpc => "grpc",
        }
    }
}

/// The encoded messages of a run: a `TaskGetRequest` per seeded id, one `TaskInput` and one
/// `TaskCreateRequest` from the JSON create body.
pub(crate) struct Encoded {
    pub(crate) input: Bytes,
    create_request: Bytes,
    get_requests: Vec<Bytes>,
}

impl Encoded {
    pub(crate) fn new(ids: &[Uuid], create_body: &str) -> Result<Self, String> {
        let messages = todo::api::PROTOBUF
            .ok_or("the example is generated with the proto target")?
            .messages()?;
        let body: serde_json::Value =
            serde_json::from_str(create_body).map_err(|e| e.to_string())?;
        Ok(Self {
            input: Bytes::from(messages.from_json("todo.v1.TaskInput", &body)?),
            create_request: Bytes::from(
                messages.from_json("todo.v1.TaskCreateRequest", &json!({ "body": body }))?,
            ),
            get_requests: ids
                .iter()
                .map(|id| {
                    messages
                        .from_json("todo.v1.TaskGetRequest", &json!({ "id": id.to_string() }))
                        .map(Bytes::from)
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `requests` gRPC calls from [`CONNECTIONS`] HTTP/2 connections, one call at a time on each.
pub(crate) async fn drive_grpc(
    addr: SocketAddr,
    scenario: Scenario,
    requests: usize,
    encoded: Arc<Encoded>,
) -> Result<Measured, String> {
    let token = format!("Bearer {}", super::common::bearer_token());
    let mut channels = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        channels.push(channel);
    }
    let call = move |channel: tonic::transport::Channel,
                     i: usize,
                     token: String,
                     encoded: Arc<Encoded>| async move {
        let (path, message) = match scenario {
            Scenario::Get => (
                "/todo.v1.TaskService/Get",
                encoded.get_requests[i % encoded.get_requests.len()].clone(),
            ),
            Scenario::Create => (
                "/todo.v1.TaskService/Create",
                encoded.create_request.clone(),
            ),
        };
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| e.to_string())?;
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            token.parse().map_err(|_| "a metadata value")?,
        );
        let path = http::uri::PathAndQuery::from_static(path);
        grpc.unary(request, path, cmmv::protobuf::grpc::BytesCodec)
            .await
            .map(|_| ())
            .map_err(|status| format!("{} answered {status}", scenario.name()))
    };
    // Warm-up: every connection used, every code path touched once.
    for (i, channel) in channels.iter().cycle().take(CONNECTIONS * 4).enumerate() {
        call(channel.clone(), i, token.clone(), encoded.clone()).await?;
    }
    let per_connection = requests / CONNECTIONS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, channel) in channels.into_iter().enumerate() {
        let (token, encoded) = (token.clone(), encoded.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_connection);
            for i in 0..per_connection {
                let began = Instant::now();
                call(
                    channel.clone(),
                    c * per_connection + i,
                    token.clone(),
                    encoded.clone(),
                )
                .await?;
                latencies.push(began.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(Measured::of(latencies, start.elapsed()))
}
