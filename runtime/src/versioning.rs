//! How a request names its API version: the path prefix, a header, or the media type.
//!
//! Generated routes are mounted once per version under `/v{N}` (the `uri` strategy, and how
//! the router tells versions apart whatever the strategy). With `header` or `media_type` on
//! (`versioning:` in `cmmv.yaml`), a request may instead call the bare path —
//! `GET /tasks/1` — and say the version in `X-API-Version: 2` (the header's name is
//! configurable) or in `Accept: application/vnd.<api>.v2+json`; a request naming none gets the
//! default version (the latest, or a fixed one). This layer, in front of the router, decides
//! the version and rewrites the bare path to the versioned route, so every route, guard, limit
//! and metric is the one of that version; `OriginalUri` keeps what the client called, so a
//! `Location` points where the client can follow it.
//!
//! - An unknown version is a 400 problem (header) or a 406 (media type) listing the versions
//!   served; a header and a media type that disagree, or a header that disagrees with the
//!   path's prefix, a 400.
//! - A bare path and method that another version serves but the chosen one does not is a 404
//!   naming the versions that serve it (not the 405 the chosen version's route at that path
//!   would give). A bare path no version serves (`/auth/login`, `/health/live`, an unknown
//!   path) passes through untouched; the compiler refuses versioned contracts whose bare paths
//!   would cover such paths.
//! - With `uri` off, a versioned path (`/v2/tasks`) is not served to clients (404).
//! - Answers of versioned routes, and the negotiation's own problems about them, carry
//!   `Vary: X-API-Version` and/or `Vary: Accept`, so caches keep the versions apart; one asked
//!   for by media type answers in it (`Content-Type: application/vnd.<api>.v2+json`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{OriginalUri, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use tower::{Layer, Service};

use crate::Problem;

/// How the contracts' API versions are chosen (`versioning:` in `cmmv.yaml`), as generated
/// code declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioning {
    /// `/v{N}/...` paths are served to clients.
    pub uri: bool,
    /// The request header naming the version (`X-API-Version`), when that strategy is on.
    pub header: Option<&'static str>,
    /// The `<api>` of `application/vnd.<api>.v{N}+json`, when that strategy is on.
    pub media_type: Option<&'static str>,
    /// The version of a request that names none; `None`: the latest.
    pub default: Option<u32>,
}

impl Versioning {
    /// Versions by path prefix only (what a project without `versioning:` gets).
    pub const URI: Versioning = Versioning {
        uri: true,
        header: None,
        media_type: None,
        default: None,
    };

    /// Whether anything but the path prefix is in play (the layer is needed).
    pub(crate) fn negotiates(&self) -> bool {
        !self.uri || self.header.is_some() || self.media_type.is_some()
    }
}

impl Default for Versioning {
    fn default() -> Self {
        Versioning::URI
    }
}

/// The routes of one version below its prefix: the templates, and the methods serving each.
#[derive(Default)]
struct VersionRoutes {
    /// The templates (`/tasks/{id}`); each value indexes `methods`.
    router: matchit::Router<usize>,
    methods: Vec<BTreeSet<&'static str>>,
    /// The index of each template in `methods`.
    templates: HashMap<&'static str, usize>,
}

impl VersionRoutes {
    fn insert(&mut self, method: &'static str, template: &'static str) {
        let index = match self.templates.get(template) {
            Some(&index) => index,
            None => {
                let index = self.methods.len();
                // axum's router, built from the same routes, has refused any conflict already.
                if self.router.insert(template, index).is_err() {
                    return;
                }
                self.methods.push(BTreeSet::new());
                self.templates.insert(template, index);
                index
            }
        };
        if let Some(methods) = self.methods.get_mut(index) {
            methods.insert(method);
        }
    }

    /// The methods serving `path`, when a template matches it.
    fn at(&self, path: &str) -> Option<&BTreeSet<&'static str>> {
        let found = self.router.at(path).ok()?;
        self.methods.get(*found.value)
    }
}

/// `methods` serve `method` (a `HEAD` is answered by the `GET` route, as axum does).
fn allows(methods: &BTreeSet<&'static str>, method: &Method) -> bool {
    methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method.as_str()))
        || (*method == Method::HEAD && methods.iter().any(|m| m.eq_ignore_ascii_case("GET")))
}

/// What the layer knows: the strategies and, per version, the routes below its prefix.
pub(crate) struct Negotiation {
    config: Versioning,
    header: Option<HeaderName>,
    /// Per version, the paths it serves below `/v{N}` (route templates) and their methods.
    served: BTreeMap<u32, VersionRoutes>,
    versions: BTreeSet<u32>,
    /// The values of `Vary` on versioned answers.
    vary: Vec<HeaderValue>,
}

impl std::fmt::Debug for Negotiation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Negotiation")
            .field("config", &self.config)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

impl Negotiation {
    /// From the strategies and every `(method, path)` the generated routers serve.
    pub(crate) fn new(
        config: Versioning,
        routes: &[(&'static str, &'static str)],
    ) -> Result<Negotiation, String> {
        let header = config
            .header
            .map(|name| {
                HeaderName::try_from(name)
                    .map_err(|_| format!("`{name}` is not a valid header name"))
            })
            .transpose()?;
        let mut served: BTreeMap<u32, VersionRoutes> = BTreeMap::new();
        for &(method, path) in routes {
            if let Some((version, rest)) = split_version(path) {
                served.entry(version).or_default().insert(method, rest);
            }
        }
        let versions: BTreeSet<u32> = served.keys().copied().collect();
        if let Some(default) = config.default {
            if !versions.is_empty() && !versions.contains(&default) {
                return Err(format!(
                    "the default API version {default} is not served (versions: {})",
                    list(&versions)
                ));
            }
        }
        let mut vary = Vec::new();
        if let Some(name) = &header {
            vary.push(HeaderValue::from_str(name.as_str()).map_err(|e| e.to_string())?);
        }
        if config.media_type.is_some() {
            vary.push(HeaderValue::from_static("accept"));
        }
        Ok(Negotiation {
            config,
            header,
            served,
            versions,
            vary,
        })
    }

    fn serves(&self, version: u32, rest: &str) -> bool {
        self.methods(version, rest).is_some()
    }

    /// The methods `version` serves at `rest` (below its prefix), when it serves the path.
    fn methods(&self, version: u32, rest: &str) -> Option<&BTreeSet<&'static str>> {
        self.served.get(&version)?.at(rest)
    }

    /// Adds the negotiation's `Vary` to an answer about a versioned route.
    fn vary(&self, headers: &mut HeaderMap) {
        for value in &self.vary {
            headers.append(header::VARY, value.clone());
        }
    }

    fn default_version(&self) -> Option<u32> {
        self.config
            .default
            .or_else(|| self.versions.last().copied())
    }

    /// The version the request names in its header and media type, if any.
    fn requested(&self, request: &Request) -> Result<Option<Requested>, Problem> {
        let by_header = match &self.header {
            Some(name) => match request.headers().get(name) {
                Some(value) => {
                    let text = value.to_str().unwrap_or_default().trim();
                    let number = text
                        .strip_prefix(['v', 'V'])
                        .unwrap_or(text)
                        .parse::<u32>()
                        .ok();
                    match number {
                        Some(version) if self.versions.contains(&version) => Some(version),
                        _ => {
                            return Err(self.unknown(
                                StatusCode::BAD_REQUEST,
                                name.as_str(),
                                &format!("`{name}: {text}` names no API version served here"),
                            ));
                        }
                    }
                }
                None => None,
            },
            None => None,
        };
        let by_media = match self.config.media_type {
            Some(api) => match media_version(request, api) {
                MediaVersion::None => None,
                MediaVersion::Version(version) if self.versions.contains(&version) => Some(version),
                MediaVersion::Version(version) => {
                    return Err(self.unknown(
                        StatusCode::NOT_ACCEPTABLE,
                        "accept",
                        &format!(
                            "`application/vnd.{api}.v{version}+json` names no API version served here"
                        ),
                    ));
                }
                MediaVersion::Malformed(range) => {
                    return Err(self.unknown(
                        StatusCode::NOT_ACCEPTABLE,
                        "accept",
                        &format!("`{range}` names no API version served here"),
                    ));
                }
            },
            None => None,
        };
        match (by_header, by_media) {
            (Some(h), Some(m)) if h != m => Err(Problem::bad_request(format!(
                "the header asks for version {h} and `Accept` for version {m}: name one"
            ))),
            (_, Some(m)) => Ok(Some(Requested {
                version: m,
                by_media: true,
            })),
            (Some(h), None) => Ok(Some(Requested {
                version: h,
                by_media: false,
            })),
            (None, None) => Ok(None),
        }
    }

    /// A problem about the version `header` asked for, listing those served (in `detail`,
    /// and in `errors` for programs: `{"parameter": header, "rule": "enum", ...}`).
    fn unknown(&self, status: StatusCode, header: &str, detail: &str) -> Problem {
        let versions = list(&self.versions);
        let mut problem = Problem::new(status)
            .with_detail(format!("{detail}; the versions served are {versions}"));
        problem.errors.push(crate::FieldError::parameter(
            header,
            "enum",
            format!("must name one of the versions {versions}"),
        ));
        problem
    }
}

/// A version named by the request, and whether by media type (which the answer then echoes).
#[derive(Debug, Clone, Copy)]
struct Requested {
    version: u32,
    by_media: bool,
}

enum MediaVersion {
    None,
    Version(u32),
    /// `application/vnd.<api>.<something else>+json`.
    Malformed(String),
}

/// The version an `Accept` header asks for through `application/vnd.<api>.v{N}+json` (the
/// first such range with a non-zero `q`).
fn media_version(request: &Request, api: &str) -> MediaVersion {
    let prefix = format!("application/vnd.{api}.");
    for value in request.headers().get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused || essence.len() < prefix.len() {
                continue;
            }
            let (head, tail) = essence.split_at(prefix.len());
            if !head.eq_ignore_ascii_case(&prefix) {
                continue;
            }
            let version = tail
                .strip_suffix("+json")
                .and_then(|v| v.strip_prefix('v'))
                .and_then(|v| v.parse::<u32>().ok());
            return match version {
                Some(version) => MediaVersion::Version(version),
                None => MediaVersion::Malformed(essence.to_owned()),
            };
        }
    }
    MediaVersion::None
}

/// `/v2/tasks/{id}` → `(2, "/tasks/{id}")`.
fn split_version(path: &str) -> Option<(u32, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let version = rest[..end].parse::<u32>().ok()?;
    if rest[..end].starts_with('0') || rest[..end].starts_with('+') {
        return None;
    }
    let tail = &rest[end..];
    Some((version, if tail.is_empty() { "/" } else { tail }))
}

fn list(versions: &BTreeSet<u32>) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The layer in front of the router.
#[derive(Debug, Clone)]
pub(crate) struct NegotiateLayer(pub(crate) Arc<Negotiation>);

impl<S> Layer<S> for NegotiateLayer {
    type Service = Negotiate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Negotiate {
            inner,
            negotiation: self.0.clone(),
        }
    }
}

/// The service of the negotiation layer (in the app's type only).
#[derive(Debug, Clone)]
pub struct Negotiate<S> {
    inner: S,
    negotiation: Arc<Negotiation>,
}

impl<S> Service<Request> for Negotiate<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = crate::store::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // A gRPC call names its operation's route itself, version included (the rpc is one
        // operation): whichever strategies the API allows, and whatever its metadata says.
        if request
            .extensions()
            .get::<crate::protobuf::GrpcCall>()
            .is_some()
        {
            return Box::pin(self.inner.call(request));
        }
        let negotiation = self.negotiation.clone();
        // The negotiation's own answers depend on the version headers as much as the routes'.
        let answer = |problem: Problem| -> Self::Future {
            let mut response = problem.into_response();
            negotiation.vary(response.headers_mut());
            Box::pin(async move { Ok(response) })
        };
        let path = request.uri().path().to_owned();
        let prefixed = split_version(&path).filter(|(v, rest)| negotiation.serves(*v, rest));
        let requested = if let Some((version, _)) = prefixed {
            if !negotiation.config.uri {
                return answer(Problem::not_found(
                    "no route serves this path (the API version is named in the request, not in the path)",
                ));
            }
            match negotiation.requested(&request) {
                Err(problem) => return answer(problem),
                Ok(Some(asked)) if asked.version != version => {
                    return answer(Problem::bad_request(format!(
                        "the path is version {version}'s but the request asks for version {}",
                        asked.version
                    )));
                }
                Ok(asked) => asked,
            }
        } else {
            let serving: BTreeSet<u32> = negotiation
                .versions
                .iter()
                .copied()
                .filter(|&v| negotiation.serves(v, &path))
                .collect();
            if serving.is_empty() {
                // Not a versioned route in any version: the router decides.
                let future = self.inner.call(request);
                return Box::pin(future);
            }
            // Those serving the request's method there too.
            let method = request.method().clone();
            let serving_method: BTreeSet<u32> = serving
                .iter()
                .copied()
                .filter(|&v| {
                    negotiation
                        .methods(v, &path)
                        .is_some_and(|methods| allows(methods, &method))
                })
                .collect();
            let asked = match negotiation.requested(&request) {
                Ok(asked) => asked,
                Err(problem) => return answer(problem),
            };
            let Some(version) = asked
                .map(|a| a.version)
                .or_else(|| negotiation.default_version())
            else {
                let future = self.inner.call(request);
                return Box::pin(future);
            };
            if !serving_method.is_empty() && !serving_method.contains(&version) {
                return answer(Problem::not_found(format!(
                    "`{method} {path}` is not served in version {version}; the versions serving it are {}",
                    list(&serving_method)
                )));
            }
            // When no version serves the method there, the chosen version's route answers (a
            // 405 listing what it allows), or a 404 when it has none at that path.
            if !serving.contains(&version) {
                return answer(Problem::not_found(format!(
                    "`{path}` is not served in version {version}; the versions serving it are {}",
                    list(&serving)
                )));
            }
            // The router sees the versioned route; the handlers see what the client called.
            let original = request.uri().clone();
            let rewritten = match original.path_and_query().map(|pq| pq.as_str()) {
                Some(pq) => format!("/v{version}{pq}"),
                None => format!("/v{version}{path}"),
            };
            match rewritten.parse::<Uri>() {
                Ok(uri) => {
                    request.extensions_mut().insert(OriginalUri(original));
                    *request.uri_mut() = uri;
                }
                Err(_) => return answer(Problem::bad_request("the request path cannot be read")),
            }
            asked.or(Some(Requested {
                version,
                by_media: false,
            }))
        };
        let future = self.inner.call(request);
        let echo = requested
            .filter(|r| r.by_media)
            .and_then(|r| negotiation.config.media_type.map(|api| (api, r.version)));
        Box::pin(async move {
            let mut response = future.await?;
            negotiation.vary(response.headers_mut());
            let headers = response.headers_mut();
            if let Some((api, version)) = echo {
                let is_json = headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"application/json"));
                if is_json {
                    if let Ok(value) =
                        HeaderValue::try_from(format!("application/vnd.{api}.v{version}+json"))
                    {
                        headers.insert(header::CONTENT_TYPE, value);
                    }
                }
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_paths() {
        assert_eq!(split_version("/v2/tasks/{id}"), Some((2, "/tasks/{id}")));
        assert_eq!(split_version("/v10/x"), Some((10, "/x")));
        assert_eq!(split_version("/v1"), Some((1, "/")));
        assert_eq!(split_version("/v01/x"), None);
        assert_eq!(split_version("/vx/x"), None);
        assert_eq!(split_version("/tasks"), None);
    }

    fn request_accepting(accept: &str) -> Request {
        Request::builder()
            .header(header::ACCEPT, accept)
            .body(axum::body::Body::empty())
            .unwrap_or_default()
    }

    #[test]
    fn versions_in_media_types() {
        let version = |accept: &str| match media_version(&request_accepting(accept), "todo") {
            MediaVersion::None => None,
            MediaVersion::Version(v) => Some(Ok(v)),
            MediaVersion::Malformed(m) => Some(Err(m)),
        };
        assert_eq!(version("application/vnd.todo.v2+json"), Some(Ok(2)));
        assert_eq!(
            version("text/html, application/vnd.todo.v1+json;q=0.9"),
            Some(Ok(1))
        );
        assert_eq!(version("application/vnd.todo.v2+json;q=0, */*"), None);
        assert_eq!(version("application/vnd.other.v2+json"), None);
        assert_eq!(version("application/json"), None);
        assert_eq!(
            version("application/vnd.todo.latest+json"),
            Some(Err("application/vnd.todo.latest+json".to_owned()))
        );
    }
}
