//! The IR of one API version -> an OpenAPI document: paths, operations, parameters, security,
//! rate limits, responses and the component schemas they use.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::texts::{
    default_summary, description, noun, scoped_owner, success_body_text, success_description,
};
use crate::api::{Api, ContractApi, OperationApi};
use crate::ir::{
    ApiInfo, AuthPolicy, BodyType, CrudKind, Deprecation, Field, Method, Operation, Project,
    RateKey, RateLimit, RoleMode, Versioning, pluralize, to_snake_case,
};

use cmmv_rules::list::{MAX_IN_VALUES, Operator};

use super::model::{
    self, Header, Info, JsonType, Link, MediaType, Parameter, ParameterLocation, PathItem,
    RateLimitExtension, RateLimitPolicy, RefOr, RequestBody, Response, RolesExtension, Schema,
    SecurityRequirement, Tag, number,
};
use super::problems::{
    self, API_KEY_AUTH, BEARER_AUTH, ErrorResponse, JSON, PROBLEM, ResponseHeader,
};
use super::schema::{self, Component, Place};
use super::writer::{Rendered, Writer};

/// The documents of API versions `versions`, one per writer of `outs`, with `generated` as
/// their `x-generated` marker, written entry by entry: each path item and component schema is
/// built, written and dropped before the next, so that memory holds the texts and not a model
/// of the whole document.
///
/// A path item depends only on the operations it serves and a component schema only on its
/// type, never on the version that serves them (the version is in the path's key, not in its
/// item). So the documents are written side by side, and an entry several versions share is
/// built and rendered once, its text copied into each: a project whose versions mostly agree
/// pays for about one document, not one per version.
pub(super) fn write(
    api: &Api<'_>,
    versions: &[u32],
    generated: &str,
    outs: &mut [Writer],
    protobuf: bool,
) {
    assert_eq!(versions.len(), outs.len(), "one writer per version");
    let project = api.project;
    let mut plans: Vec<Plan<'_, '_>> = versions.iter().map(|&v| Plan::new(api, v)).collect();
    for ((plan, out), &version) in plans.iter().zip(outs.iter_mut()).zip(versions) {
        out.entry("openapi", "3.1.0");
        out.entry("x-generated", generated);
        out.entry("info", &info(&project.api, version));
        out.entry("servers", &servers(&project.api));
        if let Some(docs) = &project.api.external_docs {
            out.entry(
                "externalDocs",
                &Link {
                    url: docs.url.clone(),
                    description: docs.description.clone(),
                },
            );
        }
        if !plan.tags.is_empty() {
            out.entry("tags", &plan.tags);
        }
        out.open("paths");
    }

    let mut roots: Vec<Vec<String>> = plans
        .iter_mut()
        .map(|plan| std::mem::take(&mut plan.roots))
        .collect();
    let plans = plans;
    let mut rendered = Rendered::default();
    let suffixes: BTreeSet<&PathKey> = plans.iter().flat_map(|plan| plan.paths.keys()).collect();
    let mut written = vec![0usize; plans.len()];
    let mut responses: Vec<BTreeSet<&'static str>> = vec![BTreeSet::new(); plans.len()];
    for suffix in suffixes {
        // The versions serving this path, grouped by the operations they serve there.
        let mut pending: Vec<usize> = (0..plans.len())
            .filter(|&v| plans[v].paths.contains_key(suffix))
            .collect();
        while let Some(&first) = pending.first() {
            let operations = plans[first].paths[suffix].clone();
            let (group, rest): (Vec<usize>, Vec<usize>) = pending.into_iter().partition(|&v| {
                same_operations(&plans[v].paths[suffix], &operations)
                    && same_deprecations(project, &operations, versions[v], versions[first])
                    // The version's header and media type are its own.
                    && (v == first || !project.api.versioning.negotiates())
            });
            pending = rest;
            let item = path_item(project, &operations, versions[first], protobuf);
            let mut refs = Vec::new();
            let mut used = Vec::new();
            for operation in item.operations() {
                operation_refs(operation, &mut refs);
                used.extend(operation.responses.values().filter_map(|r| match r {
                    RefOr::Ref { reference, .. } => match reference {
                        Cow::Borrowed(path) => Some(*path),
                        Cow::Owned(_) => None,
                    },
                    RefOr::Item(_) => None,
                }));
            }
            for &v in &group {
                responses[v].extend(used.iter().copied());
                let plan = &plans[v];
                roots[v].extend(refs.iter().map(|&name| name.to_owned()));
                // Early enough that little is copied, late enough for a fair sample.
                let sample = plan.paths.len().div_ceil(16);
                if written[v] == sample {
                    outs[v].reserve_rest(sample, plan.paths.len());
                }
                written[v] += 1;
            }
            write_entry(
                outs,
                &group,
                |v| suffix.full_path(versions[v], project.api.versioning.uri),
                &item,
                &mut rendered,
            );
        }
    }

    let graph = ComponentGraph::new(api);
    let reachable: Vec<BTreeSet<&str>> = roots
        .into_iter()
        .map(|roots| graph.reachable(roots))
        .collect();
    let names: BTreeSet<&str> = reachable.iter().flatten().copied().collect();
    for out in outs.iter_mut() {
        out.close();
        out.open("components");
        out.open("schemas");
    }
    for name in names {
        let serving: Vec<usize> = (0..plans.len())
            .filter(|&v| reachable[v].contains(name))
            .collect();
        let schema = graph.components[name].schema();
        write_entry(outs, &serving, |_| name.to_owned(), &schema, &mut rendered);
    }
    let all: Vec<usize> = (0..outs.len()).collect();
    for out in outs.iter_mut() {
        out.close();
    }
    let key = |name: &'static str| move |_: usize| name.to_owned();
    for (v, used) in responses.iter().enumerate() {
        write_entry(
            outs,
            &[v],
            key("responses"),
            &problems::response_components(used),
            &mut rendered,
        );
    }
    write_entry(
        outs,
        &all,
        key("headers"),
        &problems::header_components(),
        &mut rendered,
    );
    write_entry(
        outs,
        &all,
        key("securitySchemes"),
        &problems::security_schemes(),
        &mut rendered,
    );
    for out in outs.iter_mut() {
        out.close();
    }
}

/// An operation as a document shows it: with its contract.
type Served<'a, 'p> = (&'a ContractApi<'p>, &'a OperationApi<'p>);

fn info(api: &ApiInfo, version: u32) -> Info {
    Info {
        title: api.title.clone(),
        version: api.version.clone(),
        description: api.description.clone(),
        terms_of_service: api.terms_of_service.clone(),
        contact: api.contact.as_ref().map(|c| model::Contact {
            name: c.name.clone(),
            url: c.url.clone(),
            email: c.email.clone(),
        }),
        license: api.license.as_ref().map(|l| model::License {
            name: l.name.clone(),
            identifier: l.identifier.clone(),
            url: l.url.clone(),
        }),
        api_version: version,
    }
}

/// The declared servers; without any, the host serving the document (a relative `/`), which
/// is what OpenAPI assumes anyway, said out loud so that tools need not guess.
fn servers(api: &ApiInfo) -> Vec<Link> {
    if api.servers.is_empty() {
        return vec![Link {
            url: "/".to_owned(),
            description: Some("The host serving this document.".to_owned()),
        }];
    }
    api.servers
        .iter()
        .map(|server| Link {
            url: server.url.clone(),
            description: server.description.clone(),
        })
        .collect()
}

/// What one version's document serves, before any of it is written.
struct Plan<'a, 'p> {
    tags: Vec<Tag>,
    /// The operations of each path, by the path below the version prefix (the prefix is the
    /// same for every path of a version, so these sort as the full paths do; unversioned
    /// paths come first).
    paths: BTreeMap<PathKey, Vec<Served<'a, 'p>>>,
    /// The schemas the document shows: declared types of every contract served, then the
    /// types its operations refer to.
    roots: Vec<String>,
}

impl<'a, 'p> Plan<'a, 'p> {
    fn new(api: &'a Api<'p>, version: u32) -> Plan<'a, 'p> {
        let mut plan = Plan {
            tags: Vec::new(),
            paths: BTreeMap::new(),
            roots: Vec::new(),
        };
        let prefix = format!("/v{version}");
        for resolved in &api.contracts {
            let contract = resolved.contract;
            let operations: Vec<(&OperationApi<'p>, &str)> = resolved
                .operations
                .iter()
                .filter_map(|op| Some((op, op.route(version)?.path.as_str())))
                .collect();
            if operations.is_empty() {
                continue;
            }
            plan.tags.push(Tag {
                name: contract.name.clone(),
                description: Some(
                    contract.description.clone().unwrap_or_else(|| {
                        format!("Operations on {}.", pluralize(&noun(contract)))
                    }),
                ),
            });
            // Declared types are documented even when no operation of this version uses
            // them, so that every contract served here shows its resource, messages and enums.
            plan.roots.push(contract.name.clone());
            plan.roots.extend(contract.messages.keys().cloned());
            plan.roots.extend(contract.enums.keys().cloned());
            for (op, full) in operations {
                let key = if contract.versioned {
                    let suffix = full.strip_prefix(&prefix).unwrap_or(full);
                    PathKey::Versioned(suffix.to_owned())
                } else {
                    PathKey::Bare(full.to_owned())
                };
                plan.paths.entry(key).or_default().push((resolved, op));
            }
        }
        plan
    }
}

/// A path of the documents, as versions share it: below the version prefix, or served bare
/// (an unversioned contract's) at the same path in every version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PathKey {
    Bare(String),
    Versioned(String),
}

impl PathKey {
    /// The path as the document of `version` shows it: below `/v{N}` when clients name the
    /// version in the path (`uri`), bare when only a header or media type names it.
    fn full_path(&self, version: u32, prefixed: bool) -> String {
        match self {
            PathKey::Bare(path) => path.clone(),
            PathKey::Versioned(suffix) if prefixed => format!("/v{version}{suffix}"),
            PathKey::Versioned(suffix) => suffix.clone(),
        }
    }
}

/// Whether two versions serve the very same operations at a path.
fn same_operations(a: &[Served<'_, '_>], b: &[Served<'_, '_>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ca, oa), (cb, ob))| std::ptr::eq(*ca, *cb) && std::ptr::eq(*oa, *ob))
}

/// Whether two versions deprecate the operations of a path alike (a version's own
/// deprecation reaches only its routes).
fn same_deprecations(project: &Project, operations: &[Served<'_, '_>], a: u32, b: u32) -> bool {
    operations.iter().all(|(c, op)| {
        project.deprecation_of(c.contract, op.operation, a)
            == project.deprecation_of(c.contract, op.operation, b)
    })
}

fn path_item(
    project: &Project,
    operations: &[Served<'_, '_>],
    version: u32,
    protobuf: bool,
) -> PathItem {
    let mut item = PathItem::default();
    for &(contract, op) in operations {
        let deprecation = project.deprecation_of(contract.contract, op.operation, version);
        let mut operation = operation(contract, op, deprecation, protobuf);
        if contract.contract.versioned {
            negotiation(&project.api.versioning, version, project, &mut operation);
        }
        *method_slot(&mut item, op.operation.method) = Some(operation);
    }
    item
}

/// What the header and media-type strategies add to an operation of version `version`: the
/// header naming the version (required where the path does not, unless the version is the
/// default), the version's media type beside `application/json` on the JSON successes, and
/// the problems of a version not served (406 by media type; 404 for a bare path another
/// version serves, where the documents show bare paths).
fn negotiation(
    versioning: &Versioning,
    version: u32,
    project: &Project,
    operation: &mut model::Operation,
) {
    let default = versioning
        .default
        .as_ref()
        .map(|d| d.value)
        .or_else(|| project.versions().last().copied());
    if let Some(header) = &versioning.header {
        let required = !versioning.uri && default != Some(version);
        operation.parameters.push(Parameter {
            name: header.clone(),
            location: ParameterLocation::Header,
            description: Some(if versioning.uri {
                format!("The API version, {version}; the path names it already, and a header naming another is refused.")
            } else if required {
                format!("The API version, {version}.")
            } else {
                format!("The API version, {version}, which requests naming none get.")
            }),
            required,
            deprecated: false,
            style: None,
            explode: None,
            schema: Schema {
                enum_values: vec![version.to_string().into()],
                ..Schema::of_type(JsonType::String)
            },
        });
    }
    if let Some(api) = &versioning.media_type {
        let vendor: Cow<'static, str> =
            Cow::Owned(format!("application/vnd.{api}.v{version}+json"));
        for response in operation.responses.values_mut() {
            if let RefOr::Item(response) = response {
                if let Some(json) = response.content.get(JSON).cloned() {
                    response.content.insert(vendor.clone(), json);
                }
            }
        }
        operation.responses.insert(
            Cow::Borrowed(ErrorResponse::NotAcceptable.status_key()),
            ErrorResponse::NotAcceptable.reference(),
        );
    }
    // A bare path that the version asked for does not serve (another does): documented where
    // the documents show bare paths, that is without `uri`.
    if versioning.negotiates() && !versioning.uri {
        operation.responses.insert(
            Cow::Borrowed(ErrorResponse::NotFound.status_key()),
            ErrorResponse::NotFound.reference(),
        );
    }
}

/// Writes `value` as the entry `key(v)` of each document `v` of `targets`: straight into the
/// document when it is the only one, otherwise rendered once into `rendered` and copied.
fn write_entry<T: serde::Serialize + ?Sized>(
    outs: &mut [Writer],
    targets: &[usize],
    key: impl Fn(usize) -> String,
    value: &T,
    rendered: &mut Rendered,
) {
    match targets {
        [] => {}
        [only] => outs[*only].entry(&key(*only), value),
        [first, ..] => {
            rendered.render(outs[*first].depth(), value);
            for &v in targets {
                outs[v].rendered_entry(&key(v), rendered);
            }
        }
    }
}

fn method_slot(item: &mut PathItem, method: Method) -> &mut Option<model::Operation> {
    match method {
        Method::Get => &mut item.get,
        Method::Post => &mut item.post,
        Method::Put => &mut item.put,
        Method::Patch => &mut item.patch,
        Method::Delete => &mut item.delete,
    }
}

/// The component schemas of a project, by name, for finding what each version's document
/// must show.
struct ComponentGraph<'p> {
    components: HashMap<String, Component<'p>>,
}

impl<'p> ComponentGraph<'p> {
    fn new(api: &'p Api<'p>) -> ComponentGraph<'p> {
        ComponentGraph {
            components: api
                .contracts
                .iter()
                .flat_map(Component::of_contract)
                .chain([Component::Problem, Component::FieldError])
                .map(|component| (component.name(), component))
                .collect(),
        }
    }

    /// The names of the component schemas reachable from `roots`, plus the problem schemas
    /// every error response uses. Unreachable ones are left out, so that a version's document
    /// holds only its own types.
    fn reachable(&self, roots: Vec<String>) -> BTreeSet<&str> {
        let mut reached = BTreeSet::new();
        let mut pending = roots;
        pending.push(PROBLEM.to_owned());
        while let Some(name) = pending.pop() {
            // Validation guarantees every name resolves; an unknown one simply has no schema.
            let Some((name, component)) = self.components.get_key_value(&name) else {
                continue;
            };
            if reached.insert(name.as_str()) {
                pending.extend(component.refs().into_iter().map(Cow::into_owned));
            }
        }
        reached
    }
}

/// The schema names an operation refers to through its parameters and bodies.
fn operation_refs<'o>(operation: &'o model::Operation, out: &mut Vec<&'o str>) {
    let parameters = operation.parameters.iter().map(|p| &p.schema);
    let request = operation
        .request_body
        .iter()
        .flat_map(|body| body.content.values().map(|m| &*m.schema));
    let responses = operation
        .responses
        .values()
        .filter_map(|r| match r {
            RefOr::Item(response) => Some(response),
            RefOr::Ref { .. } => None,
        })
        .flat_map(|response| response.content.values().map(|m| &*m.schema));
    for schema in parameters.chain(request).chain(responses) {
        schema.collect_refs(out);
    }
}

fn operation(
    resolved: &ContractApi<'_>,
    op_api: &OperationApi<'_>,
    deprecation: Option<&Deprecation>,
    protobuf: bool,
) -> model::Operation {
    let (contract, op) = (resolved.contract, op_api.operation);
    // A runtime module's routes (the login module's) have no proto file: JSON only.
    let protobuf = protobuf && contract.provided_by.is_none();
    let mut parameters: Vec<Parameter> = op
        .path_params
        .iter()
        .map(|f| field_parameter(f, ParameterLocation::Path, true))
        .chain(
            op_api
                .query
                .iter()
                .map(|q| field_parameter(q.field, ParameterLocation::Query, q.required)),
        )
        .collect();
    if op.crud() == Some(CrudKind::List) {
        parameters.extend(list_parameters(resolved));
    }
    parameters.extend(
        op.cookies
            .iter()
            .filter(|c| c.sent)
            .map(|cookie| Parameter {
                location: ParameterLocation::Cookie,
                ..query_parameter(
                    &cookie.name,
                    cookie.description.clone(),
                    Schema::of_type(JsonType::String),
                )
            }),
    );
    let request_body = op.request.as_ref().map(|body| RequestBody {
        description: None,
        required: true,
        content: body_content(
            resolved,
            &body.ty,
            protobuf && !matches!(body.ty, BodyType::List(_)),
        ),
    });
    let noun = noun(contract);
    let mut responses = BTreeMap::from([(
        Cow::Owned(op.status.to_string()),
        RefOr::Item(success_response(resolved, op, &noun, deprecation, protobuf)),
    )]);
    for reply in &op.alternatives {
        responses.insert(
            Cow::Owned(reply.status.to_string()),
            RefOr::Item(alternative_response(resolved, op, reply, deprecation)),
        );
    }
    for error in error_responses(op, deprecation) {
        let declared = op.errors.iter().find(|e| e.status == error.status());
        let mut reference = error.reference();
        if let (Some(declared), RefOr::Ref { description, .. }) = (declared, &mut reference) {
            *description = Some(declared.description.clone());
        }
        responses.insert(Cow::Borrowed(error.status_key()), reference);
    }
    let (security, roles) = security(op_api.auth);
    model::Operation {
        tags: vec![contract.name.clone()],
        summary: Some(
            op.summary
                .clone()
                .unwrap_or_else(|| default_summary(op, &noun)),
        ),
        description: Some(description(resolved, op, &noun)),
        operation_id: op_api.operation_id.clone(),
        deprecated: op.deprecated || deprecation.is_some(),
        parameters,
        request_body,
        responses,
        security: Some(security),
        roles,
        rate_limit: rate_limit_extension(op_api.rate_limit),
        owner: scoped_owner(contract, op).map(|owner| model::OwnerExtension {
            field: owner.field.clone(),
            bypass: owner.bypass.clone(),
        }),
    }
}

/// A path or query parameter declared by a field.
fn field_parameter(field: &Field, location: ParameterLocation, required: bool) -> Parameter {
    let mut schema = schema::field_schema(field, Place::Parameter);
    let description = schema.description.take();
    Parameter {
        required,
        deprecated: field.deprecated,
        location,
        ..query_parameter(&field.name, description, schema)
    }
}

/// An optional query parameter; callers override what differs.
fn query_parameter(name: &str, description: Option<String>, schema: Schema) -> Parameter {
    Parameter {
        name: name.to_owned(),
        location: ParameterLocation::Query,
        description,
        required: false,
        deprecated: false,
        style: None,
        explode: None,
        schema,
    }
}

/// The paging, sorting, selecting and filtering parameters of a list operation: exactly those
/// the runtime's `cmmv::list::ListParams` reads, the filters from the operator table both
/// share (`cmmv_rules::list`).
fn list_parameters(resolved: &ContractApi<'_>) -> Vec<Parameter> {
    let contract = resolved.contract;
    let pagination = contract.pagination;
    let boolean = |description: &str| {
        (
            Some(description.to_owned()),
            Schema {
                default: Some(Box::new(false.into())),
                ..Schema::of_type(JsonType::Boolean)
            },
        )
    };
    // Comma-separated values, as `?fields=id,title` and `?priority[in]=high,low` take them.
    let list = |name: &str, description: String, items: Schema, max: Option<u64>| Parameter {
        style: Some("form"),
        explode: Some(false),
        ..query_parameter(
            name,
            Some(description),
            Schema {
                items: Some(Box::new(items)),
                min_items: Some(1),
                max_items: max,
                ..Schema::of_type(JsonType::Array)
            },
        )
    };
    let mut parameters = vec![
        query_parameter(
            "limit",
            Some("How many items to return at most.".to_owned()),
            Schema {
                maximum: number(f64::from(pagination.max_limit)),
                default: Some(Box::new(pagination.default_limit.into())),
                ..schema::integer("int32", 1.0)
            },
        ),
        query_parameter(
            "offset",
            Some("How many matching items to skip (after the `cursor`'s position, with one); for deep pages, follow `next` instead, whose cost does not grow with the depth.".to_owned()),
            Schema {
                default: Some(Box::new(0.into())),
                ..schema::integer("int64", 0.0)
            },
        ),
        query_parameter(
            "cursor",
            Some("Where the page starts: the `next` of the previous page, for the items after its last one, unrepeated and unskipped whatever was inserted or deleted meanwhile. Opaque and signed: a cursor changed, made by another server, or passed with another `sort` is a 400 whose entry's rule is `cursor`.".to_owned()),
            // The shape of a cursor (base64url position, `.`, base64url 16-byte signature); its
            // signature is what no schema can state.
            Schema {
                pattern: Some("^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{22}$".to_owned()),
                ..Schema::of_type(JsonType::String)
            },
        ),
    ];
    let sort_keys: Vec<serde_json::Value> = contract
        .fields
        .iter()
        .filter(|f| f.sortable)
        .flat_map(|f| [f.name.clone(), format!("-{}", f.name)])
        .map(serde_json::Value::String)
        .collect();
    if !sort_keys.is_empty() {
        let key = Schema {
            enum_values: sort_keys,
            ..Schema::of_type(JsonType::String)
        };
        parameters.push(list(
            "sort",
            "Sort keys separated by commas, most significant first, each field once: a field name sorts ascending, a field name after `-` descending. Nulls come after values ascending, before them descending; the key breaks ties, in the direction of the last sort key.".to_owned(),
            key,
            None,
        ));
    }
    let (description, schema) =
        boolean("Also count every item the filters admit, and return the count as `total`.");
    parameters.push(query_parameter("count", description, schema));
    let (description, schema) = boolean("The older name of `count`.");
    parameters.push(Parameter {
        deprecated: true,
        ..query_parameter("include_total", description, schema)
    });
    let shown: Vec<serde_json::Value> = resolved
        .resource
        .field_names()
        .into_iter()
        .map(|name| serde_json::Value::String(name.to_owned()))
        .collect();
    parameters.push(list(
        "fields",
        "Return only these fields of each item (a sparse fieldset), separated by commas."
            .to_owned(),
        Schema {
            enum_values: shown,
            ..Schema::of_type(JsonType::String)
        },
        None,
    ));
    // Each operator is a parameter of its own, `field[op]`, with the schema of its operand:
    // the field's plain type (constraints and nullability describe stored values, not what
    // one may search for), a list of them for `in` and `nin`, text for the text matches.
    for field in resolved.filter.iter().flat_map(|filter| filter.declared()) {
        for op in Operator::for_field(field.filter_kind(), field.may_be_null()) {
            let description = format!("Only items whose `{}` {}.", field.name, op.meaning());
            // Without the range of a stored `float` or `int32`: the server reads a filter's
            // operand as a 64-bit number, whatever the field's size.
            let plain = schema::type_schema(&field.ty, &Default::default(), &Default::default());
            let operand = Schema {
                minimum: None,
                maximum: None,
                exclusive_minimum: None,
                exclusive_maximum: None,
                format: match plain.format {
                    Some("int32") => Some("int64"),
                    Some("float") => Some("double"),
                    other => other,
                },
                ..plain
            };
            let name = format!("{}[{}]", field.name, op.name());
            if op == Operator::Eq {
                parameters.push(query_parameter(
                    &field.name,
                    Some(description.clone()),
                    operand.clone(),
                ));
            }
            parameters.push(if op.takes_list() {
                list(&name, description, operand, Some(MAX_IN_VALUES as u64))
            } else if op == Operator::IsNull {
                query_parameter(&name, Some(description), Schema::of_type(JsonType::Boolean))
            } else if op.matches_text() {
                query_parameter(&name, Some(description), Schema::of_type(JsonType::String))
            } else {
                query_parameter(&name, Some(description), operand)
            });
        }
    }
    parameters
}

/// The `Link` header of a list response: the next page, when there is one.
/// `Link` (RFC 8288): a list's next page, a deprecation's page, or both.
fn link_header(next: bool, deprecation: Option<&str>) -> Header {
    const NEXT: &str = "The next page, when items follow this one (RFC 8288): `<uri-reference>; rel=\"next\"`, the reference also given as `next_link`.";
    const NEXT_EXAMPLE: &str = "</v1/items?limit=25&cursor=WyJhIiwxXQ.cGVyc3VhZGVk>; rel=\"next\"";
    let Some(link) = deprecation else {
        return Header {
            description: NEXT.to_owned(),
            required: false,
            schema: Box::new(Schema::of_type(JsonType::String)),
            example: Some(serde_json::json!(NEXT_EXAMPLE)),
        };
    };
    let about = format!(
        "The page about the operation's deprecation and sunset (RFC 8288): `<{link}>; rel=\"deprecation\"` and `rel=\"sunset\"`."
    );
    let example = format!(
        "<{link}>; rel=\"deprecation\"; type=\"text/html\", <{link}>; rel=\"sunset\"; type=\"text/html\""
    );
    Header {
        description: if next {
            format!("{NEXT} {about}")
        } else {
            about
        },
        required: true,
        schema: Box::new(Schema::of_type(JsonType::String)),
        example: Some(serde_json::json!(if next {
            format!("{NEXT_EXAMPLE}, {example}")
        } else {
            example
        })),
    }
}

/// The schema of a request or response body.
fn body_schema(resolved: &ContractApi<'_>, body: &BodyType) -> Schema {
    match body {
        BodyType::Named(name) => Schema::reference(name),
        BodyType::List(name) => Schema {
            items: Some(Box::new(Schema::reference(name))),
            ..Schema::of_type(JsonType::Array)
        },
        BodyType::Derived(derived) => Schema::reference(resolved.derived_name(*derived)),
    }
}

/// The protobuf media types the server reads and answers (see `cmmv::protobuf`).
const PROTOBUF_TYPES: [&str; 2] = ["application/x-protobuf", "application/protobuf"];

/// A body as JSON and, when the server speaks it, as protobuf: the message has the same fields
/// (`schema`), except that a JSON array travels as the `items` of its wrapper message.
fn body_content(
    resolved: &ContractApi<'_>,
    body: &BodyType,
    protobuf: bool,
) -> BTreeMap<Cow<'static, str>, MediaType> {
    let schema = body_schema(resolved, body);
    let mut content = json_content(schema.clone());
    if protobuf {
        let message = match body {
            BodyType::List(_) => Schema {
                properties: model::Properties(vec![("items".to_owned(), schema)]),
                ..Schema::of_type(JsonType::Object)
            },
            _ => schema,
        };
        for media_type in PROTOBUF_TYPES {
            content.insert(
                Cow::Borrowed(media_type),
                MediaType {
                    schema: Box::new(message.clone()),
                    example: None,
                },
            );
        }
    }
    content
}

fn json_content(schema: Schema) -> BTreeMap<Cow<'static, str>, MediaType> {
    BTreeMap::from([(
        Cow::Borrowed(JSON),
        MediaType {
            schema: Box::new(schema),
            example: None,
        },
    )])
}

fn success_response(
    resolved: &ContractApi<'_>,
    op: &Operation,
    noun: &str,
    deprecation: Option<&Deprecation>,
    protobuf: bool,
) -> Response {
    let content = match &op.response {
        Some(body) if op.status != 204 => body_content(resolved, &body.ty, protobuf),
        _ => BTreeMap::new(),
    };
    let mut headers = success_headers(op, deprecation);
    if op.crud() == Some(CrudKind::List) {
        // Inline: a document without a list would otherwise carry an unused component.
        headers.insert(
            "Link",
            RefOr::Item(link_header(
                true,
                deprecation.and_then(|d| d.link.as_deref()),
            )),
        );
    }
    Response {
        description: success_description(resolved, op, noun),
        headers,
        content,
        links: created_links(resolved, op),
    }
}

/// One of the other successes an operation declares (`responses:`).
fn alternative_response(
    resolved: &ContractApi<'_>,
    op: &Operation,
    reply: &crate::ir::Reply,
    deprecation: Option<&Deprecation>,
) -> Response {
    let content = match &reply.body {
        Some(body) => json_content(body_schema(resolved, &body.ty)),
        None => BTreeMap::new(),
    };
    Response {
        description: reply
            .description
            .clone()
            .unwrap_or_else(|| match &reply.body {
                Some(body) => success_body_text(resolved, &body.ty),
                None => "Success; the response has no body.".to_owned(),
            }),
        headers: success_headers(op, deprecation),
        content,
        links: BTreeMap::new(),
    }
}

/// The headers of every success of `op`, as a version whose deprecation is `deprecation`
/// serves it.
fn success_headers(
    op: &Operation,
    deprecation: Option<&Deprecation>,
) -> BTreeMap<&'static str, RefOr<Header>> {
    let mut headers = vec![ResponseHeader::RequestId];
    if is_rate_limited(op) {
        headers.extend([ResponseHeader::RateLimit, ResponseHeader::RateLimitPolicy]);
    }
    let mut headers = problems::header_refs(&headers);
    if op.redirect {
        headers.insert("Location", RefOr::Item(location_header()));
        let set: Vec<String> = op
            .cookies
            .iter()
            .filter(|c| c.set)
            .map(|c| match &c.description {
                Some(text) => format!("`{}`: {text}", c.name),
                None => format!("`{}`", c.name),
            })
            .collect();
        if !set.is_empty() {
            headers.insert("Set-Cookie", RefOr::Item(set_cookie_header(&set)));
        }
    }
    if op.no_store {
        // Inline, as `Link`: most documents have no operation answering with credentials.
        headers.insert("Cache-Control", RefOr::Item(no_store_header()));
    }
    if let Some(deprecation) = deprecation {
        headers.extend(deprecation_headers(deprecation));
    }
    headers
}

/// What a deprecated operation's answers announce: `Deprecation` (RFC 9745) from `since`,
/// `Sunset` (RFC 8594) from `sunset`, and the page about it as `Link`.
fn deprecation_headers(deprecation: &Deprecation) -> Vec<(&'static str, RefOr<Header>)> {
    let mut headers = Vec::new();
    if let Some(since) = deprecation.since {
        headers.push((
            "Deprecation",
            RefOr::Item(Header {
                description: "When the operation was deprecated (RFC 9745): `@` and the Unix time."
                    .to_owned(),
                required: true,
                schema: Box::new(Schema::of_type(JsonType::String)),
                example: Some(serde_json::json!(format!("@{since}"))),
            }),
        ));
    }
    if let Some(sunset) = deprecation.sunset {
        headers.push((
            "Sunset",
            RefOr::Item(Header {
                description: "When the operation stops being served (RFC 8594), an HTTP-date; after it, the operation answers 410.".to_owned(),
                required: true,
                schema: Box::new(Schema::of_type(JsonType::String)),
                example: Some(serde_json::json!(cmmv_rules::http_date(sunset))),
            }),
        ));
    }
    if let Some(link) = &deprecation.link {
        headers.push(("Link", RefOr::Item(link_header(false, Some(link)))));
    }
    headers
}

/// Where a redirect sends the client.
fn location_header() -> Header {
    Header {
        description: "Where the client goes next.".to_owned(),
        required: true,
        schema: Box::new(Schema {
            format: Some("uri-reference"),
            ..Schema::of_type(JsonType::String)
        }),
        example: None,
    }
}

/// The cookies a redirect sets, each `HttpOnly; Secure; SameSite=Lax`.
fn set_cookie_header(cookies: &[String]) -> Header {
    Header {
        description: format!(
            "Sets {} (`HttpOnly; Secure; SameSite=Lax`).",
            cookies.join("; ")
        ),
        required: false,
        schema: Box::new(Schema::of_type(JsonType::String)),
        example: None,
    }
}

/// `Cache-Control: no-store` of an answer that carries credentials.
fn no_store_header() -> Header {
    Header {
        description:
            "`no-store`: the answer carries credentials, which no cache may keep (RFC 9111)."
                .to_owned(),
        required: false,
        schema: Box::new(Schema {
            enum_values: vec![serde_json::json!("no-store")],
            ..Schema::of_type(JsonType::String)
        }),
        example: Some(serde_json::json!("no-store")),
    }
}

/// What a client can do with a resource it just created: every operation of the contract that
/// names one resource by its key (`/{id}`), called with the new key. Only operations served
/// by every version that serves the create are linked, so that the links hold in each document
/// showing the create (and the create's path item stays the same in all of them).
fn created_links(
    resolved: &ContractApi<'_>,
    op: &Operation,
) -> BTreeMap<String, model::OperationLink> {
    let Some(key) = resolved
        .contract
        .primary_key()
        .filter(|_| op.crud() == Some(CrudKind::Create))
    else {
        return BTreeMap::new();
    };
    resolved
        .operations
        .iter()
        .filter(|target| {
            target.operation.path_params.iter().any(|p| p.name == "id")
                && op.versions.is_subset(target.versions())
        })
        .map(|target| {
            (
                target.operation_id.clone(),
                model::OperationLink {
                    operation_id: target.operation_id.clone(),
                    parameters: BTreeMap::from([("id", format!("$response.body#/{}", key.name))]),
                    description: format!(
                        "`{}` of the created {}.",
                        target.operation.name,
                        to_snake_case(&resolved.contract.name).replace('_', " ")
                    ),
                },
            )
        })
        .collect()
}

fn is_rate_limited(op: &Operation) -> bool {
    matches!(&op.rate_limit, RateLimit::Policies(policies) if !policies.is_empty())
}

/// The error responses an operation can produce, so that clients see every status the router
/// may answer with:
///
/// - 400, 500 and 503 always: unparsable path or query values, unexpected failures and an
///   unavailable store can happen anywhere;
/// - 401 when credentials are required, 403 when roles are;
/// - 404 when the path names a resource through parameters;
/// - 409 for create, replace and patch, which can break unique constraints;
/// - 413, 415 and 422 when there is a request body (too large, not JSON, invalid);
/// - 422 also when parameters are validated beyond parsing: query parameters (which may be
///   required or constrained), the list operation's paging bounds, constrained path parameters;
/// - 429 when a rate limit applies.
fn error_responses(op: &Operation, deprecation: Option<&Deprecation>) -> BTreeSet<ErrorResponse> {
    let mut errors = BTreeSet::from([
        ErrorResponse::BadRequest,
        ErrorResponse::InternalError,
        ErrorResponse::ServiceUnavailable,
    ]);
    let conditional = [
        (op.auth.requires_credentials(), ErrorResponse::Unauthorized),
        (
            matches!(op.auth, AuthPolicy::Roles { .. }),
            ErrorResponse::Forbidden,
        ),
        (!op.path_params.is_empty(), ErrorResponse::NotFound),
        (
            matches!(
                op.crud(),
                Some(CrudKind::Create | CrudKind::Update | CrudKind::Patch)
            ),
            ErrorResponse::Conflict,
        ),
        (op.request.is_some(), ErrorResponse::PayloadTooLarge),
        (op.request.is_some(), ErrorResponse::UnsupportedMediaType),
        (
            op.request.is_some() || validates_parameters(op),
            ErrorResponse::ValidationFailed,
        ),
        (is_rate_limited(op), ErrorResponse::TooManyRequests),
        (
            deprecation.is_some_and(|d| d.sunset.is_some()),
            ErrorResponse::Gone,
        ),
    ];
    errors.extend(
        conditional
            .into_iter()
            .filter_map(|(applies, error)| applies.then_some(error)),
    );
    // What the operation's own logic answers with.
    errors.extend(
        op.errors
            .iter()
            .filter_map(|e| ErrorResponse::from_status(e.status)),
    );
    errors
}

fn validates_parameters(op: &Operation) -> bool {
    !op.query.is_empty()
        || op.crud() == Some(CrudKind::List)
        || op
            .path_params
            .iter()
            .any(|f| !f.constraints.is_empty() || !f.item_constraints.is_empty())
}

/// The operation's `security` and, for role policies, the exact role rule.
///
/// Roles are not listed in the requirements' arrays: OpenAPI 3.1 reads a role listed there as
/// required, which is wrong for a policy satisfied by any one of its roles, and lint rulesets
/// take the arrays for OAuth scopes. `x-roles` states the rule, and the description says it.
fn security(auth: &AuthPolicy) -> (Vec<SecurityRequirement>, Option<RolesExtension>) {
    let roles: Vec<String> = auth.roles().map(str::to_owned).collect();
    let requirements = match auth {
        AuthPolicy::Public => Vec::new(),
        AuthPolicy::Authenticated | AuthPolicy::Roles { .. } => [BEARER_AUTH, API_KEY_AUTH]
            .into_iter()
            .map(|scheme| BTreeMap::from([(scheme, Vec::new())]))
            .collect(),
    };
    let extension = match auth {
        AuthPolicy::Roles { mode, .. } => Some(RolesExtension {
            roles,
            require: match mode {
                RoleMode::Any => "any",
                RoleMode::All => "all",
            },
        }),
        _ => None,
    };
    (requirements, extension)
}

fn rate_limit_extension(limit: &RateLimit) -> Option<RateLimitExtension> {
    match limit {
        RateLimit::Inherit => None,
        RateLimit::Unlimited => Some(RateLimitExtension::Unlimited),
        RateLimit::Policies(policies) => Some(RateLimitExtension::Policies(
            policies
                .iter()
                .map(|p| RateLimitPolicy {
                    name: p.name.clone(),
                    limit: p.limit,
                    period: format!("{}s", p.period_secs),
                    burst: p.burst,
                    key: rate_key(&p.key),
                    on_error: p.on_error.as_str(),
                })
                .collect(),
        )),
    }
}

/// The key as contracts write it.
fn rate_key(key: &RateKey) -> String {
    match key {
        RateKey::Ip => "ip".to_owned(),
        RateKey::User => "user".to_owned(),
        RateKey::ApiKey => "api_key".to_owned(),
        RateKey::Header(name) => format!("header:{name}"),
        RateKey::Custom(name) => format!("custom:{name}"),
    }
}
