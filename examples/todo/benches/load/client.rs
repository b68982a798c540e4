//! The load generator's client: one hyper connection per simulated client, one request at a
//! time on each, every request built from bytes prepared before the clock starts.
//!
//! It is hyper's connection API and nothing above it (no pool, no URL parsing, no tower
//! stack), as `wrk` and `h2load` are lean: the two cores are shared with the server, so every
//! cycle the client spends is one the server cannot, and a heavier client in one form than in
//! another would be measured as the server's difference. REST travels over HTTP/1.1, gRPC over
//! HTTP/2 with prior knowledge, as their clients send them.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, TE};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One open connection.
pub(crate) enum Connection {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// What one request is: everything but the bytes that vary (path, body) fixed per run.
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// The request target (`/v1/tasks/…`, `/todo.v1.TaskService/Get`).
    pub(crate) path: String,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) accept: Option<&'static str>,
    pub(crate) body: Bytes,
}

/// What a run's requests share.
pub(crate) struct Shared {
    pub(crate) addr: SocketAddr,
    pub(crate) authorization: HeaderValue,
    host: HeaderValue,
}

impl Shared {
    pub(crate) fn new(addr: SocketAddr, token: &str) -> Result<Self, String> {
        Ok(Self {
            addr,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| e.to_string())?,
            host: HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?,
        })
    }
}

impl Connection {
    /// Connects; `http2` speaks HTTP/2 with prior knowledge (gRPC), otherwise HTTP/1.1.
    pub(crate) async fn open(addr: SocketAddr, http2: bool) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let io = TokioIo::new(stream);
        if http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            Ok(Self::Http2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            Ok(Self::Http1(sender))
        }
    }

    /// Sends one request and reads the whole answer: its status, and for a gRPC call its
    /// `grpc-status`, must say it succeeded.
    pub(crate) async fn send(&mut self, shared: &Shared, call: Call) -> Result<(), String> {
        let grpc = call.content_type == Some("application/grpc");
        let target = if matches!(self, Self::Http2(_)) {
            format!("http://{}{}", shared.addr, call.path)
        } else {
            call.path
        };
        let mut request = Request::builder()
            .method(call.method)
            .uri(target)
            .body(Full::new(call.body))
            .map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, shared.authorization.clone());
        if let Some(content_type) = call.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(accept) = call.accept {
            headers.insert(ACCEPT, HeaderValue::from_static(accept));
        }
        let response = match self {
            Self::Http1(sender) => {
                headers.insert(HOST, shared.host.clone());
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await
            }
            Self::Http2(sender) => {
                if grpc {
                    headers.insert(TE, HeaderValue::from_static("trailers"));
                }
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await
            }
        }
        .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.map_err(|e| e.to_string())?;
        if !parts.status.is_success() {
            return Err(format!("answered {}", parts.status));
        }
        if grpc {
            // A failed call may be "trailers-only": its status in the headers.
            let status = collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .or_else(|| parts.headers.get("grpc-status"));
            if status.is_none_or(|s| s != "0") {
                return Err(format!("answered grpc-status {status:?}"));
            }
        }
        Ok(())
    }
}
