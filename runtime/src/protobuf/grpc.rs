//! gRPC on the app's own port: the services of the emitted `.proto` files, server reflection
//! and `grpc.health.v1`.
//!
//! A call is served by the REST operation its rpc documents (`HTTP: GET /notes/{id}`): the
//! request message's path fields fill the route's template, its `body` becomes the JSON body, the
//! rest the query (for a list: `limit`, `offset`, `sort`, `include_total` as `count`, `filter`,
//! `cursor`, `fields`, `conditions` as `field[op]`), and metadata travels as headers
//! (`authorization`, `x-api-key`, `x-request-id`, `traceparent`...). The operation then runs
//! through the app's whole middleware, so a call meets the same authentication, policies, rate
//! limits, validation and handler as the HTTP request it maps to, and is logged, traced and
//! counted as that request. Its answer maps back:
//!
//! | HTTP | gRPC |
//! |---|---|
//! | 2xx | `OK`, the reply message |
//! | 400, 422 | `INVALID_ARGUMENT`, with `google.rpc.BadRequest` field violations |
//! | 401 | `UNAUTHENTICATED` |
//! | 403 | `PERMISSION_DENIED` |
//! | 404, 410 | `NOT_FOUND` |
//! | 409 | `ALREADY_EXISTS` |
//! | 412 | `FAILED_PRECONDITION` |
//! | 413, 429 | `RESOURCE_EXHAUSTED`, with `google.rpc.RetryInfo` from `Retry-After` |
//! | 501 | `UNIMPLEMENTED` |
//! | 503 | `UNAVAILABLE` (with `RetryInfo` when known) |
//! | 504 | `DEADLINE_EXCEEDED` |
//! | other 5xx | `INTERNAL` |
//!
//! Violations name fields as the rpc's request message does: `body.title`, `limit`,
//! `include_total`. Health answers from the app's readiness (`/health/ready`), so it turns
//! `NOT_SERVING` when a critical indicator fails and as soon as shutdown begins.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::{Buf as _, BufMut as _, Bytes};
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, TE};
use http::{HeaderName, HeaderValue, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tonic_types::{ErrorDetails, StatusExt as _};
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use super::{Binding, DecodedJson, PROTOBUF, Wire};

const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";
const REFLECTION_PREFIXES: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// A gRPC service tonic built (reflection, health), boxed so that the switch can hold it.
type GrpcService = BoxCloneSyncService<Request, http::Response<tonic::body::Body>, Infallible>;

/// What every gRPC call shares.
struct Grpc {
    wire: Arc<Wire>,
    reflection: GrpcService,
    reflection_alpha: GrpcService,
    health: GrpcService,
    reporter: HealthReporter,
    /// The largest request message accepted: the app's body limit.
    max_message: usize,
    /// The app's request timeout, which also bounds reading a call's message (the HTTP
    /// request the call maps to has it again, for the operation).
    timeout: Duration,
}

impl std::fmt::Debug for Grpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grpc")
            .field("max_message", &self.max_message)
            .finish_non_exhaustive()
    }
}

/// The app's service with gRPC beside it: requests whose `Content-Type` is `application/grpc`
/// go to gRPC, every other one to `inner`.
#[derive(Debug, Clone)]
pub(crate) struct Switch<S> {
    inner: S,
    grpc: Option<Arc<Grpc>>,
}

impl<S> Switch<S> {
    /// `inner` alone when the app has no protobuf forms.
    pub(crate) fn new(
        inner: S,
        wire: Option<Arc<Wire>>,
        max_message: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let Some(wire) = wire else {
            return Ok(Self { inner, grpc: None });
        };
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wire.descriptor)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wire.descriptor)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let reflection = reflection
            .build_v1()
            .map_err(|e| format!("gRPC reflection cannot serve the descriptors: {e}"))?;
        let alpha = alpha
            .build_v1alpha()
            .map_err(|e| format!("gRPC reflection cannot serve the descriptors: {e}"))?;
        let (reporter, health) = tonic_health::server::health_reporter();
        Ok(Self {
            inner,
            grpc: Some(Arc::new(Grpc {
                wire,
                reflection: boxed(reflection),
                reflection_alpha: boxed(alpha),
                health: boxed(health),
                reporter,
                max_message,
                timeout,
            })),
        })
    }
}

fn boxed<T>(service: T) -> GrpcService
where
    T: tower::Service<Request, Response = http::Response<tonic::body::Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send + 'static,
{
    BoxCloneSyncService::new(service)
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// HTTP requests go straight through; only gRPC calls pay for a boxed future.
    #[project = SwitchedProj]
    pub(crate) enum Switched<F> {
        Http { #[pin] future: F },
        Grpc { future: BoxedResponse },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Switched<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SwitchedProj::Http { future } => future.poll(cx),
            SwitchedProj::Grpc { future } => future.as_mut().poll(cx),
        }
    }
}

fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"))
}

impl<S> tower::Service<Request> for Switch<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Switched<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let grpc = match &self.grpc {
            Some(grpc) if is_grpc(&request) => grpc.clone(),
            _ => {
                return Switched::Http {
                    future: self.inner.call(request),
                };
            }
        };
        let app = self.inner.clone();
        Switched::Grpc {
            future: Box::pin(async move {
                // Past the app's own timeout, so that a slow operation times out (and is logged
                // and counted) as its HTTP request does; this one bounds the rest.
                let timeout = grpc.timeout + Duration::from_secs(1);
                match tokio::time::timeout(timeout, serve(grpc, app, request)).await {
                    Ok(answer) => Ok(answer),
                    Err(_) => Ok(Status::deadline_exceeded(format!(
                        "the call took longer than the server's {} ms",
                        timeout.as_millis()
                    ))
                    .into_http::<Body>()),
                }
            }),
        }
    }
}

async fn serve<S>(grpc: Arc<Grpc>, app: S, request: Request) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let path = request.uri().path().to_owned();
    let answer = if path.starts_with(REFLECTION_PREFIXES[0]) {
        grpc.reflection.clone().oneshot(request).await
    } else if path.starts_with(REFLECTION_PREFIXES[1]) {
        grpc.reflection_alpha.clone().oneshot(request).await
    } else if path.starts_with(HEALTH_PREFIX) {
        refresh_health(&grpc, app).await;
        grpc.health.clone().oneshot(request).await
    } else if let Some(binding) = grpc.wire.rpc(&path).cloned() {
        // The headers as the client (and any proxy before us) sent them: tonic merges request
        // trailers into the metadata, replacing headers of the same name, and a proxy that
        // writes `X-Forwarded-For` does not rewrite trailers.
        let call = Call {
            wire: grpc.wire.clone(),
            binding,
            app,
            headers: request.headers().clone(),
        };
        let server = tonic::server::Grpc::new(BytesCodec)
            .max_decoding_message_size(grpc.max_message)
            .max_encoding_message_size(usize::MAX);
        let mut server = server;
        Ok(server.unary(call, request).await)
    } else {
        Ok(Status::unimplemented(format!("this server has no method `{path}`")).into_http())
    };
    let Ok(answer) = answer;
    answer.map(Body::new)
}

/// Sets every service's health from one run of the app's readiness check.
async fn refresh_health<S>(grpc: &Grpc, app: S)
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let probe = http::Request::get(crate::app::READINESS_PATH)
        .body(Body::empty())
        .unwrap_or_default();
    let serving =
        matches!(app.oneshot(probe).await, Ok(response) if response.status().is_success());
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    grpc.reporter.set_service_status("", status).await;
    for service in grpc.wire.services() {
        grpc.reporter.set_service_status(&service, status).await;
    }
}

/// One rpc, served by its REST operation.
#[derive(Clone)]
struct Call<S> {
    wire: Arc<Wire>,
    binding: Arc<Binding>,
    app: S,
    /// The call's headers as received (see `serve`).
    headers: http::HeaderMap,
}

impl<S> tower::Service<tonic::Request<Bytes>> for Call<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = tonic::Response<Bytes>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, Status>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let (wire, binding, app) = (self.wire.clone(), self.binding.clone(), self.app.clone());
        let headers = std::mem::take(&mut self.headers);
        Box::pin(async move {
            let request = rest_request(&wire, &binding, headers, request)?;
            let Ok(response) = app.oneshot(request).await;
            grpc_answer(response).await
        })
    }
}

/// Characters kept as they are in a path segment; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The HTTP request an rpc's message maps to.
fn rest_request(
    wire: &Wire,
    binding: &Binding,
    mut headers: http::HeaderMap,
    request: tonic::Request<Bytes>,
) -> Result<Request, Status> {
    let (_, extensions, bytes) = request.into_parts();
    let decoded = wire.decode(&binding.request, bytes).map_err(|problem| {
        let code = if problem.status == 413 {
            Code::ResourceExhausted
        } else {
            Code::InvalidArgument
        };
        Status::new(code, problem.detail.clone().unwrap_or_default())
    })?;
    let Value::Object(mut fields) = decoded else {
        return Err(Status::internal(
            "a message decoded to something other than an object",
        ));
    };
    let operation = binding.operation;
    let route = operation
        .routes
        .last()
        .ok_or_else(|| Status::unimplemented("the operation has no route"))?;
    let mut path = String::with_capacity(route.len() + 16);
    for segment in route.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = fields.remove(name).map(|v| text(&v)).unwrap_or_default();
                if value.is_empty() {
                    return Err(violation(name, "this field is required"));
                }
                path.extend(utf8_percent_encode(&value, SEGMENT));
            }
            None => path.push_str(segment),
        }
    }
    // An operation that takes a body gets one even when the message leaves it unset (or it is
    // an empty list), so that it is judged as an empty body rather than a missing one.
    let body = fields.remove(super::BODY_FIELD).or_else(|| {
        binding
            .body_expected()
            .then(|| match binding.body_is_message() {
                true => Value::Object(serde_json::Map::new()),
                false => Value::Array(Vec::new()),
            })
    });
    let query = if operation.list {
        list_query(fields)
    } else {
        let mut pairs = Vec::new();
        for (name, value) in fields {
            match value {
                Value::Array(items) => pairs.extend(items.iter().map(|v| (name.clone(), text(v)))),
                value => pairs.push((name, text(&value))),
            }
        }
        pairs
    };
    if !query.is_empty() {
        path.push('?');
        path.push_str(&serde_urlencoded::to_string(&query).unwrap_or_default());
    }
    // What framed the call, not the operation; and no compression of the reply, which is
    // read back here to become the rpc's reply.
    for name in [
        CONTENT_TYPE,
        CONTENT_LENGTH,
        TE,
        ACCEPT_ENCODING,
        HeaderName::from_static("grpc-timeout"),
        HeaderName::from_static("grpc-encoding"),
        HeaderName::from_static("grpc-accept-encoding"),
    ] {
        headers.remove(name);
    }
    headers.insert(ACCEPT, HeaderValue::from_static(PROTOBUF));
    let mut rest = http::Request::builder()
        .method(binding.method.clone())
        .uri(&path)
        .body(Body::empty())
        .map_err(|e| Status::invalid_argument(format!("the request maps to no valid path: {e}")))?;
    *rest.extensions_mut() = extensions;
    // The operation it must reach: a path value cannot steer it to another route.
    rest.extensions_mut()
        .insert(super::GrpcCall(binding.operation.rpc));
    if let Some(body) = body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        rest.extensions_mut().insert(DecodedJson(body));
    }
    *rest.headers_mut() = headers;
    Ok(rest)
}

/// The list request's fields as the list query: unset and zero values are left out, as a
/// client of the HTTP API leaves them out.
fn list_query(fields: serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let joined = |items: &Value| match items {
        Value::Array(items) if !items.is_empty() => {
            Some(items.iter().map(text).collect::<Vec<_>>().join(","))
        }
        _ => None,
    };
    let mut pairs = Vec::new();
    for (name, value) in fields {
        match (name.as_str(), &value) {
            ("limit", Value::Number(_)) => pairs.push((name, text(&value))),
            ("offset", Value::Number(n)) if n.as_u64() != Some(0) => {
                pairs.push((name, text(&value)));
            }
            ("include_total", Value::Bool(true)) => {
                pairs.push(("count".to_owned(), "true".to_owned()));
            }
            ("cursor", Value::String(s)) if !s.is_empty() => pairs.push((name, s.clone())),
            ("sort" | "fields", items) => pairs.extend(joined(items).map(|v| (name.clone(), v))),
            ("filter", Value::Object(filter)) => {
                pairs.extend(
                    filter
                        .iter()
                        .map(|(field, value)| (field.clone(), text(value))),
                );
            }
            ("conditions", Value::Array(conditions)) => {
                for condition in conditions {
                    let field = condition.get("field").map(text).unwrap_or_default();
                    let op = condition.get("op").map(text).unwrap_or_default();
                    let values = condition.get("values").and_then(joined).unwrap_or_default();
                    pairs.push((format!("{field}[{op}]"), values));
                }
            }
            _ => {}
        }
    }
    pairs
}

/// A JSON scalar as query or path text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn violation(field: &str, description: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("`{field}`: {description}"),
        details,
    )
}

/// Response headers a caller may want on a gRPC answer too, as metadata.
const FORWARDED: [&str; 7] = [
    "x-request-id",
    "ratelimit",
    "ratelimit-policy",
    "location",
    "deprecation",
    "sunset",
    "link",
];

/// The operation's HTTP answer as the rpc's.
async fn grpc_answer(response: Response) -> Result<tonic::Response<Bytes>, Status> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| Status::internal(format!("the reply could not be read: {e}")))?;
    let mut metadata = tonic::metadata::MetadataMap::new();
    for name in FORWARDED {
        if let Some(value) = parts.headers.get(name) {
            if let (Ok(key), Ok(value)) = (
                tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()),
                tonic::metadata::AsciiMetadataValue::try_from(value.as_bytes()),
            ) {
                metadata.insert(key, value);
            }
        }
    }
    let is_message = parts
        .headers
        .get(CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes() == PROTOBUF.as_bytes());
    if parts.status.is_success() && !is_message {
        return Err(Status::unimplemented(format!(
            "the operation answered HTTP {} with a body the rpc's reply message cannot carry; call it over HTTP",
            parts.status.as_u16()
        )));
    }
    if parts.status.is_success() {
        let mut reply = tonic::Response::new(bytes);
        *reply.metadata_mut() = metadata;
        return Ok(reply);
    }
    let mut status = problem_status(parts.status, &parts.headers, &bytes);
    *status.metadata_mut() = metadata;
    Err(status)
}

/// A problem+json answer as a status with its `google.rpc` details.
fn problem_status(http: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Status {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = problem
        .get("detail")
        .or_else(|| problem.get("title"))
        .and_then(Value::as_str)
        .map_or_else(
            || http.canonical_reason().unwrap_or("error").to_owned(),
            str::to_owned,
        );
    let code = match http.as_u16() {
        400 | 406 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 | 410 => Code::NotFound,
        405 | 501 => Code::Unimplemented,
        409 => Code::AlreadyExists,
        412 | 428 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        503 => Code::Unavailable,
        504 | 408 => Code::DeadlineExceeded,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    };
    let mut details = ErrorDetails::new();
    if let Some(errors) = problem.get("errors").and_then(Value::as_array) {
        for error in errors {
            let field = match (error.get("pointer"), error.get("parameter")) {
                (Some(Value::String(pointer)), _) => body_field(pointer),
                (_, Some(Value::String(parameter))) => parameter_field(parameter),
                _ => String::new(),
            };
            let description = error.get("message").map(text).unwrap_or_default();
            details.add_bad_request_violation(field, description);
        }
    }
    let retry = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(seconds) = retry {
        details.set_retry_info(Some(Duration::from_secs(seconds)));
    }
    let status = Status::with_error_details(code, message, details);
    match problem.get("request_id").and_then(Value::as_str) {
        Some(id) => {
            let mut status = status;
            if let Ok(value) = tonic::metadata::AsciiMetadataValue::try_from(id) {
                status.metadata_mut().insert("x-request-id", value);
            }
            status
        }
        None => status,
    }
}

/// A JSON pointer into the body as the request message's field path: `/tags/2` is
/// `body.tags[2]`.
fn body_field(pointer: &str) -> String {
    let mut path = super::BODY_FIELD.to_owned();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{token}]"));
        } else {
            path.push('.');
            path.push_str(&token);
        }
    }
    path
}

/// A query parameter as the list request's field: `count` is `include_total`, `title[gt]` a
/// condition.
fn parameter_field(parameter: &str) -> String {
    match parameter {
        "count" => "include_total".to_owned(),
        p if p.contains('[') => "conditions".to_owned(),
        p => p.to_owned(),
    }
}

/// A tonic codec that passes encoded messages through as bytes: the server decodes a call's
/// message with its rpc's descriptor, which only the call knows; a client of your own can send
/// what [`super::Messages`] encodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> BytesCodec {
        BytesCodec
    }

    fn decoder(&mut self) -> BytesCodec {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_pointers_become_field_paths() {
        assert_eq!(body_field("/title"), "body.title");
        assert_eq!(body_field("/tags/2"), "body.tags[2]");
        assert_eq!(body_field("/meta/a~1b"), "body.meta.a/b");
        assert_eq!(parameter_field("count"), "include_total");
        assert_eq!(parameter_field("title[gt]"), "conditions");
    }

    #[test]
    fn problems_map_to_codes_with_details() {
        let body = br#"{"status":422,"detail":"invalid","errors":[{"pointer":"/title","rule":"min_length","message":"too short"}]}"#;
        let status = problem_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &http::HeaderMap::new(),
            body,
        );
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details.bad_request().expect("bad request").field_violations;
        assert_eq!(violations[0].field, "body.title");
        let mut headers = http::HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let limited = problem_status(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}");
        assert_eq!(limited.code(), Code::ResourceExhausted);
        assert_eq!(
            limited
                .get_error_details()
                .retry_info()
                .and_then(|r| r.retry_delay),
            Some(Duration::from_secs(7))
        );
    }
}
