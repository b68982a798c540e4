//! The one HTTP client every call to an identity provider goes through, for `oauth2` and
//! `openidconnect` (as their `AsyncHttpClient`) and for the profile calls: redirects are not
//! followed (a provider that redirects a token request is misconfigured, and following would
//! open the door to request forgery), every call has a time limit, and an answer larger than
//! 1 MiB is refused rather than read into memory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};

/// The largest answer read from a provider: discovery documents, key sets and profiles are a
/// few kilobytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A call to a provider that did not come back with an answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No answer within the time limit.
    Timeout,
    /// The provider could not be reached, or the exchange broke off.
    Unreachable(String),
    /// The answer was larger than [`MAX_ANSWER_BYTES`].
    TooLarge,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => f.write_str("the provider did not answer in time"),
            CallError::Unreachable(why) => write!(f, "the provider cannot be reached: {why}"),
            CallError::TooLarge => write!(f, "the answer is larger than {MAX_ANSWER_BYTES} bytes"),
        }
    }
}

impl std::error::Error for CallError {}

/// See the module's documentation.
#[derive(Debug, Clone)]
pub(crate) struct ProviderClient {
    client: reqwest::Client,
}

impl ProviderClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("cmmv/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }

    /// Sends `request` and reads the answer, whatever its status.
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, CallError> {
        let (mut parts, body) = request.into_parts();
        // A client span, and the trace passed on in `traceparent`: the provider's side of a
        // slow sign-in shows in the same trace. No URL (a query may hold a code), no header.
        // Outside any request (a background refresh) there is no span: no root trace per call.
        let span = if !crate::telemetry::within_span() {
            tracing::Span::none()
        } else {
            tracing::debug_span!(
                target: crate::telemetry::SPANS_TARGET,
                "http_client",
                otel.name = parts.method.as_str(),
                otel.kind = "client",
                http.request.method = parts.method.as_str(),
                server.address = parts.uri.host().unwrap_or_default(),
                http.response.status_code = tracing::field::Empty,
            )
        };
        span.in_scope(|| crate::telemetry::inject(&mut parts.headers));
        let started = std::time::Instant::now();
        let answer = tracing::Instrument::instrument(self.call(parts, body), span.clone()).await;
        if let Ok(answer) = &answer {
            let status = answer.status().as_u16();
            span.record("http.response.status_code", status);
            // For an operator looking into a slow or failing sign-in; the URL is left out, as
            // above.
            span.in_scope(|| {
                tracing::debug!(
                    status,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "the identity provider answered"
                );
            });
        }
        answer
    }

    async fn call(
        &self,
        parts: http::request::Parts,
        body: Vec<u8>,
    ) -> Result<HttpResponse, CallError> {
        let url = parts.uri.to_string();
        let mut outgoing = self.client.request(parts.method, &url).body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let mut answer = outgoing.send().await.map_err(classify)?;
        let mut built = http::Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            built = built.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CallError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        built
            .body(body)
            .map_err(|e| CallError::Unreachable(e.to_string()))
    }
}

fn classify(error: reqwest::Error) -> CallError {
    if error.is_timeout() {
        CallError::Timeout
    } else {
        // Without the URL: it may carry a code or a token in its query.
        CallError::Unreachable(error.without_url().to_string())
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderClient {
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, CallError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
