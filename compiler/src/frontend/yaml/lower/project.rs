//! The project file, `cmmv.yaml`: the API's title and document metadata, the proto package,
//! and the named rate-limit policies contracts refer to.

use super::*;

/// Lowers `cmmv.yaml`, the project file.
pub(crate) fn lower_project_file(file: FileId, text: &str, diags: &mut Diagnostics) -> Project {
    let mut project = Project::default();
    project.api.file = Some(file);
    let (root, syntax) = crate::frontend::yaml::tree::parse(file, text);
    diags.extend(syntax);
    let Some(root) = root else {
        return project;
    };
    let empty = BTreeMap::new();
    let mut cx = Lowerer {
        file,
        text,
        diags,
        named_limits: &empty,
    };
    let Some(map) = cx.object(&root, "the project file", PROJECT_KEYS) else {
        return project;
    };
    if let Some(api) = map.get("api") {
        if let Some(api) = cx.object(api, "`api`", API_KEYS) {
            if let Some(title) = api.get("title").and_then(|n| cx.string(n)) {
                project.api.title = title;
            }
            if let Some(version) = api.get("version").and_then(|n| cx.string(n)) {
                project.api.version = version;
            }
            project.api.description = api.get("description").and_then(|n| cx.string(n));
            cx.document_metadata(&api, &mut project.api);
        }
    }
    if let Some(proto) = map.get("proto") {
        if let Some(proto) = cx.object(proto, "`proto`", PROTO_KEYS) {
            if let Some(node) = proto.get("package") {
                if let Some(package) = cx.string(node) {
                    let valid = package.split('.').all(is_snake_case);
                    if valid {
                        project.api.proto_package = package;
                    } else {
                        cx.error(
                            node.span,
                            format!("`{package}` is not a valid proto package"),
                        )
                        .with_help("use dot-separated lowercase words, e.g. `todo.v1`")
                        .emit(cx.diags);
                    }
                }
            }
        }
    }
    if let Some(versioning) = map.get("versioning") {
        project.api.versioning = cx.versioning(versioning, &project.api.proto_package);
    }
    if let Some(versions) = map.get("versions") {
        cx.version_settings(versions, &mut project);
    }
    if let Some(modules) = map.get("modules") {
        cx.modules(modules, &mut project.modules);
    }
    if let Some(limits) = map.get("rate_limits") {
        if let Some(entries) = cx.map(limits, "`rate_limits`") {
            for (key, value) in entries {
                let Some(name) = cx.key_name(key) else {
                    continue;
                };
                if !is_snake_case(&name) {
                    cx.error(
                        key.span,
                        format!("rate-limit policy name `{name}` is not snake_case"),
                    )
                    .with_help("name policies like `standard` or `login_attempts`")
                    .emit(cx.diags);
                    continue;
                }
                if let Some(mut policy) = cx.rate_limit_policy(value) {
                    policy.name = Some(name.clone());
                    project.rate_limits.insert(name, policy);
                }
            }
        }
    }
    project
}

impl Lowerer<'_> {
    /// The OpenAPI metadata of `api:`: servers, contact, license, terms of service and
    /// external documentation, each checked for what the OpenAPI specification requires.
    fn document_metadata(&mut self, api: &Object<'_>, info: &mut ApiInfo) {
        if let Some(node) = api.get("servers") {
            match node.as_seq() {
                Some(items) => {
                    info.servers = items.iter().filter_map(|item| self.server(item)).collect();
                }
                None => self.expected(node, "a list of servers (`- url: https://...`)"),
            }
        }
        if let Some(node) = api.get("contact") {
            if let Some(contact) = self.object(node, "`contact`", CONTACT_KEYS) {
                let email = contact.get("email").and_then(|n| {
                    let email = self.string(n)?;
                    self.check_email(n.span, &email).then_some(email)
                });
                info.contact = Some(Contact {
                    name: contact.get("name").and_then(|n| self.string(n)),
                    url: contact.get("url").and_then(|n| self.absolute_url(n)),
                    email,
                });
            }
        }
        if let Some(node) = api.get("license") {
            info.license = self.license(node);
        }
        info.terms_of_service = api
            .get("terms_of_service")
            .and_then(|n| self.absolute_url(n));
        if let Some(node) = api.get("external_docs") {
            if let Some(docs) = self.object(node, "`external_docs`", EXTERNAL_DOCS_KEYS) {
                let url = self.required(&docs, "url", "`external_docs`");
                info.external_docs =
                    url.and_then(|n| self.absolute_url(n))
                        .map(|url| ExternalDocs {
                            url,
                            description: docs.get("description").and_then(|n| self.string(n)),
                        });
            }
        }
    }

    fn server(&mut self, node: &Node) -> Option<Server> {
        let server = self.object(node, "a server", SERVER_KEYS)?;
        let url_node = self.required(&server, "url", "a server")?;
        let url = self.string(url_node)?;
        // A server URL is absolute (`https://api.example.com/`) or relative to where the
        // documents are served (`/`, `/api`); either way it has no query or fragment.
        let relative = url.starts_with('/');
        if !(relative || is_absolute_url(&url)) || url.contains(['?', '#', ' ']) {
            self.error(url_node.span, format!("`{url}` is not a server URL"))
                .with_label("not an absolute URL or a path")
                .with_help("write `https://api.example.com` or a path such as `/` or `/api`")
                .emit(self.diags);
            return None;
        }
        Some(Server {
            url,
            description: server.get("description").and_then(|n| self.string(n)),
        })
    }

    fn license(&mut self, node: &Node) -> Option<License> {
        let license = self.object(node, "`license`", LICENSE_KEYS)?;
        let name = self
            .required(&license, "name", "`license`")
            .and_then(|n| self.string(n));
        let identifier = license.get("identifier").and_then(|n| self.string(n));
        let url = license.get("url").and_then(|n| self.absolute_url(n));
        if let (Some(_), Some(_)) = (&identifier, &url) {
            let span = license.key_span("url").unwrap_or(license.span);
            self.error(
                span,
                "a license has an SPDX `identifier` or a `url`, not both",
            )
            .with_label("also given an identifier")
            .with_help("OpenAPI 3.1 makes them exclusive; keep the SPDX identifier, e.g. `MIT`")
            .emit(self.diags);
        }
        Some(License {
            name: name?,
            identifier,
            url,
        })
    }

    /// The value of a key an object must have; reports it missing.
    fn required<'n>(&mut self, object: &Object<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let node = object.get(key);
        if node.is_none() {
            self.error(object.span, format!("{what} needs `{key}`"))
                .with_label(format!("`{key}` missing"))
                .emit(self.diags);
        }
        node
    }

    fn absolute_url(&mut self, node: &Node) -> Option<String> {
        let url = self.string(node)?;
        if is_absolute_url(&url) && !url.contains(' ') {
            Some(url)
        } else {
            self.error(node.span, format!("`{url}` is not an absolute URL"))
                .with_label("expected an http or https URL")
                .with_help("write the whole URL, e.g. `https://example.com/docs`")
                .emit(self.diags);
            None
        }
    }

    fn check_email(&mut self, span: Span, email: &str) -> bool {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }) && !email.contains(char::is_whitespace);
        if !valid {
            self.error(span, format!("`{email}` is not an email address"))
                .with_label("expected `name@example.com`")
                .emit(self.diags);
        }
        valid
    }
}

/// An `http` or `https` URL with a host.
fn is_absolute_url(url: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        url.strip_prefix(scheme)
            .is_some_and(|rest| rest.split('/').next().is_some_and(|host| !host.is_empty()))
    })
}

impl Lowerer<'_> {
    /// `modules: [login]`: the runtime's modules the project mounts.
    fn modules(&mut self, node: &Node, modules: &mut BTreeSet<Module>) {
        let Some(items) = node.as_seq() else {
            self.expected(node, "a list of runtime modules, e.g. `[login]`");
            return;
        };
        for item in items {
            let Some(name) = self.string(item) else {
                continue;
            };
            match Module::from_name(&name) {
                Some(module) if !modules.insert(module) => {
                    self.error(item.span, format!("module `{name}` is listed twice"))
                        .emit(self.diags);
                }
                Some(_) => {}
                None => {
                    let names = Module::ALL.iter().map(|m| m.name());
                    let help = match suggest(&name, names.clone()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!(
                            "the runtime's modules: {}",
                            names.collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.error(item.span, format!("unknown module `{name}`"))
                        .with_help(help)
                        .emit(self.diags);
                }
            }
        }
    }
}

impl Lowerer<'_> {
    /// `versions:` in the project file: settings per API version, by number.
    fn version_settings(&mut self, node: &Node, project: &mut Project) {
        let Some(entries) = self.map(node, "`versions`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            let Some(version) = name.parse::<u32>().ok().filter(|v| (1..=65535).contains(v)) else {
                self.error(key.span, format!("`{name}` is not an API version"))
                    .with_label("expected a number from 1 to 65535")
                    .with_help(
                        "key each version by its number: `versions: { 1: { deprecated: ... } }`",
                    )
                    .emit(self.diags);
                continue;
            };
            let Some(settings) = self.object(value, "a version's settings", VERSION_KEYS) else {
                continue;
            };
            if let Some(node) = settings.get("deprecated") {
                match self.deprecation(node) {
                    (true, Some(deprecation)) => {
                        project.deprecated_versions.insert(version, deprecation);
                    }
                    (true, None) => {
                        project.deprecated_versions.insert(
                            version,
                            Deprecation {
                                since: None,
                                sunset: None,
                                link: None,
                                span: node.span,
                            },
                        );
                    }
                    (false, _) => {}
                }
            }
        }
    }
}

impl Lowerer<'_> {
    /// `versioning:` — which strategies name a request's version, and the default version.
    fn versioning(&mut self, node: &Node, proto_package: &str) -> Versioning {
        let mut versioning = Versioning {
            span: Some(node.span),
            ..Versioning::default()
        };
        let Some(object) = self.object(node, "`versioning`", VERSIONING_KEYS) else {
            return versioning;
        };
        let mut strategies = BTreeSet::new();
        if let Some(list) = object.get("strategies").and_then(|n| self.string_list(n)) {
            versioning.uri = false;
            for (name, span) in list {
                if !["uri", "header", "media_type"].contains(&name.as_str()) {
                    self.error(span, format!("unknown versioning strategy `{name}`"))
                        .with_label("expected `uri`, `header` or `media_type`")
                        .emit(self.diags);
                    continue;
                }
                strategies.insert(name);
            }
            if strategies.is_empty() {
                self.error(node.span, "no versioning strategy is on")
                    .with_help("list at least one of `uri`, `header`, `media_type`")
                    .emit(self.diags);
                strategies.insert("uri".to_owned());
            }
        } else {
            strategies.insert("uri".to_owned());
        }
        versioning.uri = strategies.contains("uri");
        let header = object.get("header").and_then(|n| {
            let name = self.string(n)?;
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let reserved = ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str());
            if !token || reserved {
                self.error(n.span, format!("`{name}` cannot name the version"))
                    .with_label(if reserved {
                        "this header already means something else"
                    } else {
                        "not an HTTP header name"
                    })
                    .with_help("use a header of its own, such as `X-API-Version`")
                    .emit(self.diags);
                return None;
            }
            Some(name)
        });
        if strategies.contains("header") {
            versioning.header = Some(header.unwrap_or_else(|| Versioning::HEADER.to_owned()));
        } else if let Some(n) = object.get("header") {
            self.error(
                n.span,
                "`header` is set but the `header` strategy is not on",
            )
            .with_help("add `header` to `strategies`")
            .emit(self.diags);
        }
        let media = object.get("media_type").and_then(|n| {
            let name = self.string(n)?;
            let valid = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                })
                && !name.starts_with(['.', '-']);
            if !valid {
                self.error(
                    n.span,
                    format!("`{name}` cannot name the API in a media type"),
                )
                .with_label("expected lowercase letters, digits, `-` and `.`")
                .with_help("e.g. `todo`, for `application/vnd.todo.v2+json`")
                .emit(self.diags);
                return None;
            }
            Some(name)
        });
        if strategies.contains("media_type") {
            // By default, the first word of the proto package: `todo` of `todo.v1`.
            let fallback = proto_package.split('.').next().unwrap_or("api").to_owned();
            versioning.media_type = Some(media.unwrap_or(fallback));
        } else if let Some(n) = object.get("media_type") {
            self.error(
                n.span,
                "`media_type` is set but the `media_type` strategy is not on",
            )
            .with_help("add `media_type` to `strategies`")
            .emit(self.diags);
        }
        if let Some(n) = object.get("default") {
            match n.scalar() {
                Some(Yaml::Str("latest")) => {}
                Some(Yaml::Int(v)) if (1..=65535).contains(&v) => {
                    versioning.default = Some(Spanned {
                        value: v as u32,
                        span: n.span,
                    });
                }
                _ => self.expected(n, "`latest` or a version number"),
            }
        }
        versioning
    }
}
