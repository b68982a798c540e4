//! Protobuf on the wire: REST bodies in `application/x-protobuf` (or `application/protobuf`),
//! and gRPC (see [`grpc`]), from the `.proto` files the compiler emits.
//!
//! Nothing here is generated per contract. The compiler compiles its `.proto` files into a
//! descriptor set and lists, per operation, the messages it travels as ([`Protobuf`]); the runtime
//! decodes a protobuf body into the JSON value the operation would have received
//! ([`transcode`]), so decoding, validation, auth, limits and handlers are the JSON path's own,
//! and writes the JSON reply into its message when the client asks for protobuf.
//!
//! REST negotiation, on every operation that has a protobuf form:
//! - `Content-Type: application/x-protobuf` or `application/protobuf` sends the body as the
//!   operation's input message; any type that is neither JSON nor protobuf is a 415;
//! - `Accept` naming a protobuf type at least as highly as JSON gets the reply as its message
//!   (a list is its page message, a JSON array the `items` of its wrapper), in the type asked
//!   for; an `Accept` that allows neither is a 406. Errors stay `application/problem+json`.

mod encode;
pub mod grpc;
mod transcode;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, StatusCode};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::Value;

use crate::problem::Problem;

pub(crate) use transcode::ContractForms;

/// The media type protobuf bodies are sent and answered in by default.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The registered name (RFC 9457's era), accepted and answered alike.
pub const PROTOBUF_REGISTERED: &str = "application/protobuf";

/// The field of an rpc's request message that carries the HTTP body.
pub(crate) const BODY_FIELD: &str = "body";

/// What a generated module knows of its protobuf forms (`PROTOBUF` in `rust/mod.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Protobuf {
    /// The encoded `FileDescriptorSet` of the emitted `.proto` files, imports included.
    pub descriptor: &'static [u8],
    /// Every operation of every contract.
    pub operations: &'static [ProtoOperation],
    /// `(enum, [(proto value name, contract word)])` for each enum, by full name.
    pub enums: &'static [(&'static str, &'static [(&'static str, &'static str)])],
    /// The fields (`todo.v1.Task.notes`) that must be sent and may be `null`: unset, they
    /// stand for `null` (elsewhere an unset field is an absent one).
    pub nulls: &'static [&'static str],
}

/// How one operation travels as protobuf.
#[derive(Debug, Clone, Copy)]
pub struct ProtoOperation {
    /// The gRPC method path: `/todo.v1.NoteService/Get`.
    pub rpc: &'static str,
    /// The HTTP method of its routes.
    pub method: &'static str,
    /// Its route in each API version serving it, ascending; gRPC calls the last.
    pub routes: &'static [&'static str],
    /// The rpc's request message (path parameters, query parameters and `body`).
    pub request: &'static str,
    /// Whether the operation takes a body.
    pub takes_body: bool,
    /// The message of the REST body, when the operation takes one that is a message.
    pub body: Option<&'static str>,
    /// The message of the reply, on REST and gRPC (`google.protobuf.Empty` for none).
    pub reply: &'static str,
    /// The success status whose body the reply message carries; the other successes an
    /// operation declares (`responses:`) answer JSON.
    pub status: u16,
    /// Whether the JSON reply is an array that travels as the reply message's `items`.
    pub items: bool,
    /// Whether it is the CRUD list (its request fields map onto the list query).
    pub list: bool,
}

impl Protobuf {
    /// The conversions between the generated Rust types and their messages, for code of your
    /// own (a client, a queue, a test): the same the server runs.
    pub fn messages(&self) -> Result<Messages, String> {
        Wire::new(*self).map(|wire| Messages(Arc::new(wire)))
    }
}

/// Converts the generated Rust types to and from their protobuf messages, by the descriptor
/// set compiled from the emitted `.proto` files (see [`Protobuf::messages`]).
///
/// ```ignore
/// let messages = api::PROTOBUF.expect("generated with the proto target").messages()?;
/// let bytes = messages.encode("todo.v1.Note", &note)?;
/// let back: api::Note = messages.decode("todo.v1.Note", &bytes)?;
/// ```
#[derive(Debug, Clone)]
pub struct Messages(Arc<Wire>);

impl Messages {
    /// `value` (anything the HTTP API would serialize as JSON) as message `message`.
    pub fn encode<T: serde::Serialize>(&self, message: &str, value: &T) -> Result<Vec<u8>, String> {
        let desc = self.descriptor(message)?;
        let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
        self.0.encode(&desc, &json)
    }

    /// Message `message` decoded and checked exactly as a JSON body of the HTTP API is: the
    /// same 422 problem, with the same JSON pointers, for the same mistakes.
    pub fn decode<T>(&self, message: &str, bytes: &[u8]) -> Result<T, Problem>
    where
        T: crate::validate::FromJson + crate::validate::Check,
    {
        let desc = self
            .descriptor(message)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(e))?;
        let mut value = self.0.decode(&desc, Bytes::copy_from_slice(bytes))?;
        crate::validate::decode_body(&mut value)
    }

    /// Message `message` as the JSON value the HTTP API speaks.
    pub fn to_json(&self, message: &str, bytes: &[u8]) -> Result<Value, Problem> {
        let desc = self
            .descriptor(message)
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(e))?;
        self.0.decode(&desc, Bytes::copy_from_slice(bytes))
    }

    /// A JSON value of the HTTP API as message `message`.
    pub fn from_json(&self, message: &str, json: &Value) -> Result<Vec<u8>, String> {
        self.0.encode(&self.descriptor(message)?, json)
    }

    fn descriptor(&self, message: &str) -> Result<MessageDescriptor, String> {
        self.0
            .pool
            .get_message_by_name(message)
            .ok_or_else(|| format!("no message `{message}` in the descriptor set"))
    }
}

/// The decoded descriptors and the operations by route and by rpc: built once per app.
#[derive(Debug)]
pub(crate) struct Wire {
    pub(crate) descriptor: &'static [u8],
    forms: ContractForms,
    by_route: HashMap<(Method, &'static str), Arc<Binding>>,
    by_rpc: HashMap<&'static str, Arc<Binding>>,
    pool: DescriptorPool,
}

/// One operation with its messages resolved.
#[derive(Debug)]
pub(crate) struct Binding {
    pub(crate) operation: &'static ProtoOperation,
    pub(crate) method: Method,
    pub(crate) request: MessageDescriptor,
    body: Option<MessageDescriptor>,
    /// Whether the operation takes a body at all (a JSON array has no message of its own).
    takes_body: bool,
    reply: MessageDescriptor,
}

impl Binding {
    /// Whether the operation takes a body at all.
    pub(crate) fn body_expected(&self) -> bool {
        self.takes_body
    }

    /// Whether its body is one message (not a JSON array).
    pub(crate) fn body_is_message(&self) -> bool {
        self.body.is_some()
    }
}

impl Wire {
    /// Resolves every message the table names; a name the descriptors lack means the generated
    /// module and its descriptor set come from different compilations.
    pub(crate) fn new(protobuf: Protobuf) -> Result<Self, String> {
        let pool = DescriptorPool::decode(protobuf.descriptor)
            .map_err(|e| format!("the protobuf descriptor set cannot be read: {e}"))?;
        let message = |name: &str| {
            pool.get_message_by_name(name).ok_or_else(|| {
                format!("message `{name}` is not in the descriptor set: rebuild the generated code")
            })
        };
        let mut by_route = HashMap::new();
        let mut by_rpc = HashMap::new();
        for operation in protobuf.operations {
            let method = Method::from_bytes(operation.method.as_bytes())
                .map_err(|e| format!("{}: {e}", operation.rpc))?;
            let binding = Arc::new(Binding {
                operation,
                method: method.clone(),
                request: message(operation.request)?,
                body: operation.body.map(message).transpose()?,
                takes_body: operation.takes_body,
                reply: message(operation.reply)?,
            });
            for &route in operation.routes {
                by_route.insert((method.clone(), route), binding.clone());
            }
            by_rpc.insert(operation.rpc, binding);
        }
        Ok(Self {
            descriptor: protobuf.descriptor,
            forms: ContractForms::new(protobuf.enums, protobuf.nulls),
            by_route,
            by_rpc,
            pool,
        })
    }

    pub(crate) fn rpc(&self, path: &str) -> Option<&Arc<Binding>> {
        self.by_rpc.get(path)
    }

    /// The full names of the gRPC services, for reflection and health.
    pub(crate) fn services(&self) -> Vec<String> {
        self.pool
            .services()
            .map(|service| service.full_name().to_owned())
            .collect()
    }

    /// A protobuf message of `desc` as the JSON value its operation receives.
    pub(crate) fn decode(&self, desc: &MessageDescriptor, bytes: Bytes) -> Result<Value, Problem> {
        let limit = unfolding_limit(bytes.len());
        let message = DynamicMessage::decode(desc.clone(), bytes).map_err(|error| {
            Problem::bad_request(format!(
                "the body is not a valid `{}` protobuf message: {error}",
                desc.full_name()
            ))
        })?;
        if transcode::weight(&message, limit) > limit {
            return Err(unfolds_too_far());
        }
        Ok(transcode::to_json(&message, &self.forms))
    }

    /// A JSON reply as the bytes of message `desc`.
    pub(crate) fn encode(
        &self,
        desc: &MessageDescriptor,
        value: &Value,
    ) -> Result<Vec<u8>, String> {
        encode::message(desc, &self.forms, value).map_err(|e| e.to_string())
    }
}

/// How many JSON values a message of `size` bytes may unfold into: about what a JSON body of
/// that size can hold, so that protobuf's empty messages (two bytes, a value per field once
/// decoded) buy no more memory than JSON does.
pub(crate) fn unfolding_limit(size: usize) -> usize {
    4096 + 2 * size
}

pub(crate) fn unfolds_too_far() -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(
        "the message holds more (empty) elements than a body of its size may: send fewer",
    )
}

/// A protobuf body to decode as message `desc`, which [`crate::extract::JsonBody`] reads
/// (after the operation's limits and guard) instead of JSON text.
#[derive(Debug, Clone)]
pub(crate) struct ProtobufBody {
    pub(crate) wire: Arc<Wire>,
    pub(crate) desc: MessageDescriptor,
}

/// Marks the HTTP request a gRPC call maps to with the rpc it must reach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrpcCall(pub(crate) &'static str);

/// A body already decoded from protobuf, which [`crate::extract::JsonBody`] takes instead of
/// parsing JSON text.
#[derive(Debug, Clone)]
pub(crate) struct DecodedJson(pub(crate) Value);

/// What a request's `Accept` asks the reply to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyForm {
    Json,
    /// Protobuf, in the media type the client named.
    Protobuf(&'static str),
    /// Neither JSON nor protobuf is acceptable.
    Unacceptable,
}

fn is_protobuf(media_type: &str) -> Option<&'static str> {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(PROTOBUF) {
        Some(PROTOBUF)
    } else if essence.eq_ignore_ascii_case(PROTOBUF_REGISTERED) {
        Some(PROTOBUF_REGISTERED)
    } else {
        None
    }
}

/// The reply form `accept` prefers: protobuf when a protobuf type is named with a weight at
/// least that of the best range JSON matches (wildcards included); JSON otherwise.
fn reply_form(accept: Option<&HeaderValue>) -> ReplyForm {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return ReplyForm::Json;
    };
    if accept.trim().is_empty() {
        return ReplyForm::Json;
    }
    let (mut json, mut protobuf): (f32, Option<(f32, &'static str)>) = (0.0, None);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let weight = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(named) = is_protobuf(essence) {
            if protobuf.is_none_or(|(best, _)| weight > best) {
                protobuf = Some((weight, named));
            }
        } else if crate::extract::is_json(essence)
            || essence == "*/*"
            || essence.eq_ignore_ascii_case("application/*")
        {
            json = json.max(weight);
        }
    }
    match protobuf {
        Some((weight, named)) if weight > 0.0 && weight >= json => ReplyForm::Protobuf(named),
        _ if json > 0.0 => ReplyForm::Json,
        _ => ReplyForm::Unacceptable,
    }
}

/// The negotiation, around each route (where `MatchedPath` is known).
#[derive(Debug, Clone)]
pub(crate) struct NegotiateLayer(pub(crate) Arc<Wire>);

impl<S> tower::Layer<S> for NegotiateLayer {
    type Service = Negotiate<S>;

    fn layer(&self, inner: S) -> Negotiate<S> {
        Negotiate {
            inner,
            wire: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Negotiate<S> {
    inner: S,
    wire: Arc<Wire>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// A JSON request on a JSON route goes straight through, its reply marked `Vary: Accept`
    /// when the route also answers protobuf; only protobuf requests pay for a boxed future.
    #[project = NegotiatedProj]
    pub(crate) enum Negotiated<F> {
        Direct { #[pin] future: F, vary: bool },
        Transcoded { future: BoxedResponse },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Negotiated<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            NegotiatedProj::Direct { future, vary } => {
                let vary = *vary;
                future.poll(cx).map(|result| {
                    result.map(|mut response| {
                        if vary {
                            response
                                .headers_mut()
                                .append(VARY, HeaderValue::from_static("accept"));
                        }
                        response
                    })
                })
            }
            NegotiatedProj::Transcoded { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S> tower::Service<Request> for Negotiate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Negotiated<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let binding = request
            .extensions()
            .get::<MatchedPath>()
            .and_then(|path| {
                self.wire
                    .by_route
                    .get(&(request.method().clone(), path.as_str()))
            })
            .cloned();
        // A gRPC call's request must reach its own operation: a path value such as `stats`
        // in `/v1/tasks/{id}` would otherwise route `TaskService/Get` to another route.
        if let Some(&GrpcCall(rpc)) = request.extensions().get::<GrpcCall>() {
            if binding.as_ref().is_none_or(|b| b.operation.rpc != rpc) {
                return Negotiated::Transcoded {
                    future: Box::pin(async {
                        Ok(Problem::new(StatusCode::NOT_FOUND)
                            .with_detail("no resource has this key")
                            .into_response())
                    }),
                };
            }
        }
        let Some(binding) = binding else {
            return Negotiated::Direct {
                future: self.inner.call(request),
                vary: false,
            };
        };
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let sends_protobuf = content_type.and_then(is_protobuf).is_some();
        let form = reply_form(request.headers().get(ACCEPT));
        let foreign_body = binding.body.is_some()
            && content_type
                .is_some_and(|t| !crate::extract::is_json(t) && is_protobuf(t).is_none());
        if !sends_protobuf && !foreign_body && form == ReplyForm::Json {
            return Negotiated::Direct {
                future: self.inner.call(request),
                vary: true,
            };
        }
        // The clone is ready (see `tower::Service`'s note on cloning inner services).
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let wire = self.wire.clone();
        Negotiated::Transcoded {
            future: Box::pin(async move {
                let response =
                    transcoded(inner, &wire, &binding, request, sends_protobuf, form).await;
                Ok(varied(response))
            }),
        }
    }
}

/// `Vary: Accept`, once: every answer of a route that has a protobuf form varies by it.
fn varied(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let varies = headers.get_all(VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("accept"))
    });
    if !varies {
        headers.append(VARY, HeaderValue::from_static("accept"));
    }
    response
}

async fn transcoded<S>(
    mut inner: S,
    wire: &Arc<Wire>,
    binding: &Binding,
    mut request: Request,
    sends_protobuf: bool,
    form: ReplyForm,
) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let unsupported = || {
        Problem::unsupported_media_type(format!(
            "send the body as `application/json` or as `{PROTOBUF}` (`{}`)",
            binding.body.as_ref().map_or("", |d| d.full_name())
        ))
    };
    if form == ReplyForm::Unacceptable {
        return Problem::new(StatusCode::NOT_ACCEPTABLE)
            .with_detail(format!(
                "this operation answers `application/json` or `{PROTOBUF}`; `Accept` allows neither"
            ))
            .into_response();
    }
    if matches!(form, ReplyForm::Protobuf(_)) {
        // The reply is read back here to become a message: it must not be compressed first.
        request.headers_mut().remove(ACCEPT_ENCODING);
    }
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(crate::extract::is_json);
    if !is_json {
        match (&binding.body, sends_protobuf) {
            // Decoded by the body's extractor, after the operation's limits and guard, as a
            // JSON body is parsed: an unauthenticated caller costs no decoding.
            (Some(desc), true) => {
                request.extensions_mut().insert(ProtobufBody {
                    wire: wire.clone(),
                    desc: desc.clone(),
                });
            }
            (Some(_), false) => return unsupported().into_response(),
            // An operation without a message body: one that takes none lets the route judge
            // the request as it would anyway; one whose body is a JSON array has no message.
            (None, _) => {
                let has_body = request
                    .headers()
                    .get(CONTENT_LENGTH)
                    .is_none_or(|length| length != "0");
                if sends_protobuf && has_body && binding.takes_body {
                    return unsupported().into_response();
                }
            }
        }
    }
    let response = inner.call(request).await;
    reply(response, wire, binding, form).await
}

/// The route's reply, written as protobuf when asked for and successful.
async fn reply(
    response: Result<Response, Infallible>,
    wire: &Wire,
    binding: &Binding,
    form: ReplyForm,
) -> Response {
    let Ok(response) = response;
    let ReplyForm::Protobuf(media_type) = form else {
        return response;
    };
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| crate::extract::is_json(t) && !t.contains("problem+json"));
    if response.status().as_u16() != binding.operation.status || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let encoded = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => to_protobuf(wire, binding, &bytes),
        Err(error) => Err(error.to_string()),
    };
    match encoded {
        Ok(bytes) => {
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(error) => {
            tracing::error!(
                rpc = binding.operation.rpc,
                %error,
                "a reply could not be written as protobuf"
            );
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("the reply could not be written as protobuf")
                .into_response()
        }
    }
}

/// A JSON reply body as the bytes of the operation's reply message.
pub(crate) fn to_protobuf(wire: &Wire, binding: &Binding, json: &[u8]) -> Result<Vec<u8>, String> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let mut json = serde_json::Deserializer::from_slice(json);
    let encoded = if binding.operation.items {
        let items = binding
            .reply
            .get_field_by_name("items")
            .ok_or("the reply message has no `items`")?;
        encode::as_field(&items, &wire.forms, &mut json)
    } else {
        encode::message(&binding.reply, &wire.forms, &mut json)
    };
    encoded.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(accept: &str) -> ReplyForm {
        reply_form(Some(&HeaderValue::from_str(accept).expect("header")))
    }

    #[test]
    fn accept_picks_protobuf_only_when_named_at_least_as_highly_as_json() {
        assert_eq!(reply_form(None), ReplyForm::Json);
        assert_eq!(form("*/*"), ReplyForm::Json);
        assert_eq!(
            form("application/x-protobuf"),
            ReplyForm::Protobuf(PROTOBUF)
        );
        assert_eq!(
            form("application/protobuf, application/json;q=0.5"),
            ReplyForm::Protobuf(PROTOBUF_REGISTERED)
        );
        assert_eq!(
            form("application/json, application/x-protobuf;q=0.9"),
            ReplyForm::Json
        );
        assert_eq!(
            form("application/x-protobuf, */*"),
            ReplyForm::Protobuf(PROTOBUF)
        );
        assert_eq!(form("application/vnd.todo.v2+json"), ReplyForm::Json);
        assert_eq!(form("text/html"), ReplyForm::Unacceptable);
        assert_eq!(form("application/x-protobuf;q=0"), ReplyForm::Unacceptable);
    }
}
