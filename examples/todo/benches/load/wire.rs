//! The `wire` comparison: the same app and store answering create and get as JSON over REST,
//! as protobuf over REST, and as gRPC unary calls over HTTP/2 on the same port. Bodies are
//! encoded (and gRPC messages framed) once, before the clock starts, by the descriptors the app
//! serves with (`cmmv::protobuf::Messages`), so the client side costs the same per request in
//! every form.

use bytes::{BufMut as _, Bytes, BytesMut};
use cmmv::types::Uuid;
use serde_json::json;

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Json,
    /// JSON over REST on HTTP/2 (prior knowledge), as the gRPC calls travel: what the
    /// transport alone costs.
    JsonHttp2,
    /// REST, `Content-Type` and `Accept: application/x-protobuf`.
    Protobuf,
    /// gRPC unary calls (`TaskService/Get`, `TaskService/Create`).
    Grpc,
}

impl Form {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Form::Json => "json-rest",
            Form::JsonHttp2 => "json-rest-h2",
            Form::Protobuf => "protobuf-rest",
            Form::Grpc => "grpc",
        }
    }
}

/// The encoded messages of a run: one `TaskInput` from the JSON create body (a protobuf REST
/// body), and gRPC-framed, one `TaskCreateRequest` and a `TaskGetRequest` per seeded id.
pub(crate) struct Encoded {
    pub(crate) input: Bytes,
    pub(crate) create_call: Bytes,
    pub(crate) get_calls: Vec<Bytes>,
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
            create_call: framed(
                &messages.from_json("todo.v1.TaskCreateRequest", &json!({ "body": body }))?,
            ),
            get_calls: ids
                .iter()
                .map(|id| {
                    messages
                        .from_json("todo.v1.TaskGetRequest", &json!({ "id": id.to_string() }))
                        .map(|message| framed(&message))
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A gRPC message as a call's body carries it: uncompressed, its length before it.
fn framed(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    frame.put_slice(message);
    frame.freeze()
}
