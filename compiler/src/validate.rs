//! Checks that cut across contracts: type names in one namespace, references, route clashes,
//! and defaults / examples that must satisfy their own constraints (which may depend on enums
//! declared elsewhere). Each check is one function; all of them run, whatever the others found.

mod routes;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use self::routes::check_routes;
use crate::diag::{Diagnostic, Diagnostics, SourceMap, Span, suggest};
use crate::ir::*;

pub(crate) fn validate(project: &Project, diags: &mut Diagnostics) {
    // The checks of each contract on their own and the checks across contracts are
    // independent: they run side by side, and their diagnostics are merged in the order they
    // would have come one after the other.
    let ((before, routes), each) = crate::parallel::join(
        || {
            let mut diags = Diagnostics::new();
            check_type_namespace(project, &mut diags);
            check_file_names(project, &mut diags);
            check_proto_enum_values(project, &mut diags);
            check_proto_import_cycles(project, &mut diags);
            check_module_types(project, &mut diags);
            check_account_binding(project, &mut diags);
            check_deprecated_versions(project, &mut diags);
            let mut routes = Diagnostics::new();
            check_routes(project, &mut routes);
            (diags, routes)
        },
        || {
            let mut diags = Diagnostics::new();
            for contract in project.contracts.values() {
                check_json_names(contract, &mut diags);
                check_field_types(project, contract, &mut diags);
                check_bodies(project, contract, &mut diags);
                check_stored_secrets(project, contract, &mut diags);
                check_values(project, contract, &mut diags);
                check_owned_operations(contract, &mut diags);
            }
            diags
        },
    );
    diags.extend(before);
    diags.extend(each);
    diags.extend(routes);
}

/// An owned contract's CRUD operations act for the caller: one without a caller (`auth:
/// public`) would own nothing and reach nothing. And another account's resource must look
/// absent: a value unique across accounts, or a key the client chooses, would answer 409 for
/// a resource the caller cannot see, telling that it exists.
fn check_owned_operations(contract: &Contract, diags: &mut Diagnostics) {
    let Some(owner) = &contract.owner else {
        return;
    };
    for field in &contract.fields {
        let client_key =
            field.primary && !matches!(field.ty, Type::Scalar(Scalar::Uuid | Scalar::Int64));
        // An account's email is unique among accounts already, and set by the server: no
        // client's value ever collides with it.
        let account_email = contract
            .account
            .as_ref()
            .is_some_and(|account| account.email == field.name);
        if (field.unique && !field.primary && !account_email) || client_key {
            let what = if client_key {
                "a key chosen by the client"
            } else {
                "a value unique across accounts"
            };
            diags.push(
                Diagnostic::error(
                    field.span,
                    format!(
                        "`{}.{}` is {what}, which would tell one account of another's `{}`",
                        contract.name, field.name, contract.name
                    ),
                )
                .with_secondary(owner.span, "owned through this field")
                .with_help("a 409 would answer for a resource the caller cannot see: use a server-generated `uuid` key, and no `unique` field"),
            );
        }
    }
    for op in contract.operations_in_order() {
        if op.crud().is_some() && op.auth == AuthPolicy::Public {
            diags.push(
                Diagnostic::error(
                    op.span,
                    format!(
                        "`{}.{}` is public, but `{}` resources belong to the caller",
                        contract.name, op.name, contract.name
                    ),
                )
                .with_secondary(owner.span, "owned through this field")
                .with_help("require credentials (`auth: authenticated` or roles) for the contract's CRUD operations"),
            );
        }
    }
}

/// Accounts are the login module's: a contract bound to them needs the module, and one
/// account has one record, so one contract at most is bound.
fn check_account_binding(project: &Project, diags: &mut Diagnostics) {
    let mut bound = project
        .generated_contracts()
        .filter_map(|c| Some((c, c.account.as_ref()?)));
    let Some((first, binding)) = bound.next() else {
        return;
    };
    if !project.modules.contains(&Module::Login) {
        diags.push(
            Diagnostic::error(
                binding.span,
                format!("`{}` is bound to the login module's accounts, which the project does not mount", first.name),
            )
            .with_help("add `modules: [login]` to `cmmv.yaml`: its `/auth/register` and `/auth/login` make and sign in the accounts"),
        );
    }
    for (other, again) in bound {
        diags.push(
            Diagnostic::error(
                again.span,
                format!("`{}` and `{}` are both bound to the accounts", first.name, other.name),
            )
            .with_secondary(binding.span, format!("`{}` is bound here", first.name))
            .with_help("an account has one record: bind one contract, and reference it (`ref:`) from the others"),
        );
    }
}

/// A version `cmmv.yaml` names — deprecated, or the default of requests naming none — must be
/// one the contracts serve: a misspelt number would otherwise do nothing, silently.
fn check_deprecated_versions(project: &Project, diags: &mut Diagnostics) {
    let served: BTreeSet<u32> = project
        .contracts
        .values()
        .filter(|c| c.versioned)
        .flat_map(|c| c.operations.values())
        .flat_map(|op| op.versions.iter().copied())
        .collect();
    let list: Vec<String> = served.iter().map(|v| v.to_string()).collect();
    let help = if list.is_empty() {
        "no versioned contract serves any version yet".to_owned()
    } else {
        format!("the contracts serve versions {}", list.join(", "))
    };
    let named = project
        .deprecated_versions
        .iter()
        .map(|(v, d)| (*v, d.span, "is deprecated"))
        .chain(
            project
                .api
                .versioning
                .default
                .iter()
                .map(|d| (d.value, d.span, "is the default")),
        );
    for (version, span, what) in named {
        if !served.contains(&version) {
            diags.push(
                Diagnostic::error(
                    span,
                    format!("version {version} {what} but no contract serves it"),
                )
                .with_label("named here")
                .with_help(help.clone()),
            );
        }
    }
}

/// A runtime module's types live in the runtime, not in the project's generated code: a
/// project contract that names one (a body, a field's type, a reference) would generate code
/// that does not compile, or a foreign key to a table the project does not have.
fn check_module_types(project: &Project, diags: &mut Diagnostics) {
    for contract in project.generated_contracts() {
        let references = contract
            .fields
            .iter()
            .filter_map(|f| Some((f.references.as_ref()?.contract.as_str(), f.span)));
        let named = project.contracts_used_by(contract).into_iter();
        for (name, span) in named.chain(references) {
            let Some(module) = project.contracts.get(name).and_then(|c| c.provided_by) else {
                continue;
            };
            diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "`{}` names a type of the `{}` module's contract `{name}`",
                        contract.name,
                        module.name()
                    ),
                )
                .with_label(
                    "the module's types are the runtime's, not generated with the project's",
                )
                .with_help("declare a message or contract of your own for it"),
            );
        }
    }
}

/// protoc refuses files that import each other in a cycle: report each cycle at the
/// references that make it. A contract's file imports those of the contracts whose types it
/// names ([`Project::contracts_used_by`], the rule the proto emitter follows too), so this is
/// a check on the contracts, made with all the others (`cmmv check` finds it as `cmmv gen`).
fn check_proto_import_cycles(project: &Project, diags: &mut Diagnostics) {
    let graph: BTreeMap<&str, BTreeMap<&str, Span>> = project
        .contracts
        .values()
        .map(|contract| (contract.name.as_str(), project.contracts_used_by(contract)))
        .collect();
    let imports = &graph;
    fn visit<'a>(
        node: &'a str,
        imports: &BTreeMap<&'a str, BTreeMap<&'a str, Span>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in imports.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(next, imports, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }

    let mut done = BTreeSet::new();
    for &start in imports.keys() {
        let Some(cycle) = visit(start, imports, &mut Vec::new(), &mut done) else {
            continue;
        };
        let edge = |i: usize| {
            imports
                .get(cycle[i])
                .and_then(|to| to.get(cycle[i + 1]))
                .copied()
        };
        let names: Vec<String> = cycle.iter().map(|n| format!("`{n}`")).collect();
        let mut diagnostic = Diagnostic::error(
            edge(0).unwrap_or_default(),
            format!("contracts {} use each other's types", names.join(" -> ")),
        )
        .with_label(format!("`{}` uses a type of `{}` here", cycle[0], cycle[1]))
        .with_help(
            "proto files cannot import each other in a cycle; move the shared messages and enums \
             into one contract, or refer to the other resource by its id (`type: uuid, ref: Name`)",
        );
        for i in 1..cycle.len() - 1 {
            if let Some(span) = edge(i) {
                diagnostic = diagnostic.with_secondary(
                    span,
                    format!("`{}` uses a type of `{}` here", cycle[i], cycle[i + 1]),
                );
            }
        }
        diags.push(diagnostic);
    }
}

/// Checks what only the whole project shows about `#[contract]` contracts: a macro expands
/// one item and takes every imported name for a contract or message, so a contract declared
/// in Rust cannot use an enum declared by another contract (its expansion would treat the
/// value as an object).
pub(crate) fn check_macro_contracts(
    project: &Project,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) {
    let from_rust = |contract: &Contract| {
        sources
            .name(contract.file)
            .extension()
            .is_some_and(|ext| ext == "rs")
    };
    for contract in project.contracts.values().filter(|c| from_rust(c)) {
        let fields = contract
            .fields
            .iter()
            .chain(contract.messages.values().flat_map(|m| &m.fields))
            .chain(
                contract
                    .operations
                    .values()
                    .flat_map(|o| o.path_params.iter().chain(&o.query)),
            );
        for field in fields {
            let Type::Named(name) = field.ty.element() else {
                continue;
            };
            if let Some(Definition::Enum(owner, def)) = project.resolve(name) {
                if owner.name != contract.name {
                    diags.push(
                        Diagnostic::error(
                            field.spans.ty,
                            format!("`{}` uses the enum `{name}` of contract `{}`", contract.name, owner.name),
                        )
                        .with_label("an enum of another contract")
                        .with_secondary(def.span, "declared here")
                        .with_help(format!(
                            "a `#[contract]` expansion sees only its own item and cannot tell an imported enum from a contract; declare `{name}` in `{}` too, under another name",
                            contract.name
                        )),
                    );
                }
            }
        }
    }
}

/// Contracts, messages and enums share one namespace: OpenAPI component names and proto
/// message names are global. Names the emitters derive (`TaskInput`, `TaskService`, ...) are
/// part of it.
fn check_type_namespace(project: &Project, diags: &mut Diagnostics) {
    // Maps here and below only answer lookups (diagnostics come in contract order), so they
    // hash: a thousand contracts declare tens of thousands of names.
    let mut seen: HashMap<&str, (Span, &'static str)> = HashMap::new();
    for contract in project.contracts.values() {
        seen.insert(&contract.name, (contract.span, "contract"));
    }
    for contract in project.contracts.values() {
        let declared = contract
            .messages
            .values()
            .map(|m| (&m.name, m.span, "message"))
            .chain(contract.enums.values().map(|e| (&e.name, e.span, "enum")));
        for (name, span, what) in declared {
            if let Some((first, first_what)) = seen.get(name.as_str()) {
                diags.push(
                    Diagnostic::error(span, format!("duplicate type name `{name}`"))
                        .with_label(format!("this {what}"))
                        .with_secondary(*first, format!("a {first_what} of that name"))
                        .with_help(
                            "contracts, messages and enums share one namespace; rename one of them",
                        ),
                );
            } else {
                seen.insert(name, (span, what));
            }
        }
    }
    for contract in project.contracts.values() {
        for generated in contract.generated_type_names() {
            if let Some((span, what)) = seen.get(generated.as_str()) {
                diags.push(
                    Diagnostic::error(
                        *span,
                        format!("`{generated}` clashes with a generated name"),
                    )
                    .with_label(format!("this {what}"))
                    .with_secondary(
                        contract.span,
                        format!(
                            "`{generated}` is generated for contract `{}`",
                            contract.name
                        ),
                    )
                    .with_help("rename the type"),
                );
            }
        }
    }
    // Two contracts can derive the same name (`A.b_c` and `AB.c` both give `ABCRequest`).
    let mut derived: HashMap<String, &Contract> = HashMap::new();
    for contract in project.contracts.values() {
        for generated in contract.generated_type_names() {
            if let Some(first) = derived.get(&generated) {
                diags.push(
                    Diagnostic::error(
                        contract.span,
                        format!("the generated name `{generated}` is derived twice"),
                    )
                    .with_label(format!("from contract `{}`", contract.name))
                    .with_secondary(first.span, format!("and from contract `{}`", first.name))
                    .with_help("rename an operation or a contract"),
                );
            } else {
                derived.insert(generated, contract);
            }
        }
    }
    for name in RUNTIME_TYPE_NAMES {
        if let Some((span, what)) = seen.get(*name) {
            diags.push(
                Diagnostic::error(*span, format!("`{name}` is reserved"))
                    .with_label(format!("this {what}"))
                    .with_help(format!(
                        "the runtime's error responses use the schema `{name}`; rename the type"
                    )),
            );
        }
    }
}

/// Each contract gets files named after it in snake_case (`proto/http_server.proto`), so two
/// names that differ only in case (`HTTPServer`, `HttpServer`) would overwrite each other.
fn check_file_names(project: &Project, diags: &mut Diagnostics) {
    let mut seen: HashMap<String, &Contract> = HashMap::new();
    for contract in project.contracts.values() {
        let file = to_snake_case(&contract.name);
        if let Some(first) = seen.get(&file) {
            diags.push(
                Diagnostic::error(
                    contract.span,
                    format!(
                        "contracts `{}` and `{}` would share the file name `{file}`",
                        first.name, contract.name
                    ),
                )
                .with_secondary(first.span, "the other contract")
                .with_help("rename one of them"),
            );
        } else {
            seen.insert(file, contract);
        }
    }
}

/// protoc derives a JSON name for every field (`a_1` and `a1` both become `a1`) and refuses a
/// message where two fields share one. The messages: the resource, the declared messages, and
/// the request of each custom operation, whose fields are its path and query parameters.
fn check_json_names(contract: &Contract, diags: &mut Diagnostics) {
    check_message_json_names(&contract.name, &contract.fields, diags);
    for message in contract.messages.values() {
        check_message_json_names(&message.name, &message.fields, diags);
    }
    for op in contract
        .operations
        .values()
        .filter(|op| op.crud().is_none())
    {
        check_message_json_names(
            &contract.request_message_name(op),
            op.path_params.iter().chain(&op.query),
            diags,
        );
    }
}

fn check_message_json_names<'f>(
    owner: &str,
    fields: impl IntoIterator<Item = &'f Field>,
    diags: &mut Diagnostics,
) {
    let mut seen: HashMap<String, &Field> = HashMap::new();
    for field in fields {
        match seen.entry(proto_json_name(&field.name)) {
            Entry::Occupied(first) => {
                let json = first.key();
                let first = first.get();
                diags.push(
                    Diagnostic::error(field.span, format!("fields `{}` and `{}` of `{owner}` have the same protobuf JSON name `{json}`", first.name, field.name))
                        .with_secondary(first.span, "the other field")
                        .with_help("rename one of them; protobuf drops underscores when it derives JSON names"),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(field);
            }
        }
    }
}

/// proto3 enum values share their package's namespace, so the emitter prefixes each with its
/// enum's name; two enums can still end up with one value name (`Ab.c_d` and `AbC.d` are both
/// `AB_C_D`), which protoc refuses.
fn check_proto_enum_values(project: &Project, diags: &mut Diagnostics) {
    let mut values: HashMap<String, (&EnumDef, Span)> = HashMap::new();
    for def in project.contracts.values().flat_map(|c| c.enums.values()) {
        let prefix = to_screaming_snake_case(&def.name);
        // The emitter adds the zero value `<PREFIX>_UNSPECIFIED` to every enum.
        let unspecified = std::iter::once(("unspecified", def.span));
        for (value, span) in unspecified.chain(def.values.iter().map(|v| (v.name.as_str(), v.span)))
        {
            match values.entry(proto_enum_value_name(&prefix, value)) {
                Entry::Occupied(first) => {
                    let name = first.key();
                    let (first_def, first_span) = first.get();
                    diags.push(
                        Diagnostic::error(
                            span,
                            format!(
                                "enums `{}` and `{}` both define `{name}` in proto",
                                first_def.name, def.name
                            ),
                        )
                        .with_label(format!("becomes `{name}`"))
                        .with_secondary(*first_span, format!("also `{name}`"))
                        .with_help(
                            "proto enum values share the package's namespace; rename the enum or the value",
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert((def, span));
                }
            }
        }
    }
}

/// All fields of a contract: its own, its messages', its operations' parameters.
fn all_fields(contract: &Contract) -> impl Iterator<Item = &Field> {
    contract
        .fields
        .iter()
        .chain(contract.messages.values().flat_map(|m| m.fields.iter()))
        .chain(
            contract
                .operations
                .values()
                .flat_map(|o| o.path_params.iter().chain(o.query.iter())),
        )
}

fn unknown_type(project: &Project, name: &str, span: Span, want: &str) -> Diagnostic {
    let mut names: Vec<&str> = project.contracts.keys().map(String::as_str).collect();
    for contract in project.contracts.values() {
        names.extend(contract.messages.keys().map(String::as_str));
        names.extend(contract.enums.keys().map(String::as_str));
    }
    let diagnostic = Diagnostic::error(span, format!("unknown {want} `{name}`"))
        .with_label("not declared in any contract");
    match suggest(name, names.iter().copied()) {
        Some(best) => diagnostic.with_help(format!("did you mean `{best}`?")),
        None => diagnostic.with_help(
            "declare it under `messages:` or `enums:` of a contract, or as a contract of its own",
        ),
    }
}

fn check_field_types(project: &Project, contract: &Contract, diags: &mut Diagnostics) {
    for op in contract.operations.values() {
        for param in op.path_params.iter().chain(&op.query) {
            if let Type::Named(name) = param.ty.element() {
                if let Some(Definition::Contract(_) | Definition::Message(..)) =
                    project.resolve(name)
                {
                    diags.push(
                        Diagnostic::error(
                            param.spans.ty,
                            format!(
                                "parameter `{}` cannot be the object type `{name}`",
                                param.name
                            ),
                        )
                        .with_help(
                            "parameters are scalars or enums; send objects in a request body",
                        ),
                    );
                }
            }
        }
    }
    for field in all_fields(contract) {
        if let Type::Named(name) = field.ty.element() {
            match project.resolve(name) {
                None => diags.push(unknown_type(project, name, field.spans.ty, "type")),
                Some(Definition::Enum(..)) => {}
                Some(_) if field.filterable || field.sortable => diags.push(
                    Diagnostic::error(
                        field.span,
                        format!(
                            "field `{}` of type `{name}` cannot be filtered or sorted",
                            field.name
                        ),
                    )
                    .with_help("filters and sorting apply to scalar and enum fields"),
                ),
                Some(_) => {}
            }
        }
        if let Some(reference) = &field.references {
            match project.contracts.get(&reference.contract) {
                None => diags.push(unknown_type(
                    project,
                    &reference.contract,
                    reference.span,
                    "contract",
                )),
                Some(target) => {
                    if let Some(pk) = target.primary_key() {
                        if pk.ty != field.ty {
                            diags.push(
                                Diagnostic::error(field.span, format!(
                                    "field `{}` references `{}` but its type `{}` differs from that contract's primary key",
                                    field.name, target.name, field.ty
                                ))
                                .with_secondary(pk.span, format!("`{}.{}` is a `{}`", target.name, pk.name, pk.ty))
                                .with_help(format!("declare the field as `type: {}`", pk.ty)),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A contract field whose type is an object (a message or another contract) is stored as a
/// JSON document, and a secret inside it would be lost (it is never serialized) or kept in
/// clear: only a contract's own `secret` fields are hashed and stored.
fn check_stored_secrets(project: &Project, contract: &Contract, diags: &mut Diagnostics) {
    for field in &contract.fields {
        let Type::Named(name) = field.ty.element() else {
            continue;
        };
        let mut seen = Vec::new();
        if let Some((holder, secret)) = nested_secret(project, name, &mut seen) {
            diags.push(
                Diagnostic::error(
                    field.spans.ty,
                    format!(
                        "field `{}` would store `{name}` as JSON, with the secret `{holder}.{}` in it",
                        field.name, secret.name
                    ),
                )
                .with_secondary(secret.span, "declared a `secret` here")
                .with_help("secrets are hashed only as a contract's own fields; declare the secret on the contract, or send the object only in request bodies"),
            );
        }
    }
}

/// The first `secret` field in the object type `name` or in the object types its fields hold.
fn nested_secret<'p>(
    project: &'p Project,
    name: &str,
    seen: &mut Vec<String>,
) -> Option<(String, &'p Field)> {
    if seen.iter().any(|s| s == name) {
        return None;
    }
    seen.push(name.to_owned());
    let fields: &[Field] = match project.resolve(name)? {
        Definition::Contract(contract) => &contract.fields,
        Definition::Message(_, message) => &message.fields,
        Definition::Enum(..) => return None,
    };
    for field in fields {
        match field.ty.element() {
            Type::Scalar(Scalar::Secret) => return Some((name.to_owned(), field)),
            Type::Named(inner) => {
                if let Some(found) = nested_secret(project, inner, seen) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

fn check_bodies(project: &Project, contract: &Contract, diags: &mut Diagnostics) {
    for op in contract.operations.values() {
        for body in op.request.iter().chain(op.response.iter()) {
            let name = match &body.ty {
                BodyType::Named(name) | BodyType::List(name) => name,
                BodyType::Derived(_) => continue,
            };
            match project.resolve(name) {
                None => diags.push(unknown_type(
                    project,
                    name,
                    body.span,
                    "contract or message",
                )),
                Some(Definition::Enum(_, def)) => diags.push(
                    Diagnostic::error(body.span, format!("a body cannot be the enum `{name}`"))
                        .with_secondary(def.span, "enum declared here")
                        .with_help("bodies are contracts or messages; wrap the value in a message"),
                ),
                // A resource holds the hashes of its secrets, not their clear text: a body of
                // its type cannot carry a secret to hash.
                Some(Definition::Contract(target))
                    if op.request.as_ref() == Some(body) && op.crud().is_none() =>
                {
                    if let Some(secret) = target
                        .fields
                        .iter()
                        .find(|f| f.ty == Type::Scalar(Scalar::Secret))
                    {
                        diags.push(
                            Diagnostic::error(
                                body.span,
                                format!("a request body cannot be `{name}`, which has a secret"),
                            )
                            .with_secondary(secret.span, "a secret field")
                            .with_help(format!(
                                "send secrets through `{name}`'s create, update or patch, or in a message with a `type: secret` field"
                            )),
                        );
                    }
                }
                Some(_) => {}
            }
        }
    }
}

fn check_values(project: &Project, contract: &Contract, diags: &mut Diagnostics) {
    for field in all_fields(contract) {
        let values = [
            ("default", &field.default, field.spans.default),
            ("example", &field.example, field.spans.example),
        ];
        for (what, value, span) in values {
            let Some(value) = value else { continue };
            // Lowering refuses both on a key and on a secret; one error is enough.
            if (field.primary && what == "default") || field.ty == Type::Scalar(Scalar::Secret) {
                continue;
            }
            if let Err(problem) = check_value(project, field, &field.ty, &field.constraints, value)
            {
                diags.push(
                    Diagnostic::error(
                        span.unwrap_or(field.span),
                        format!("the {what} of `{}` is invalid: {problem}", field.name),
                    )
                    .with_label("violates the field's own type or constraints")
                    .with_secondary(field.spans.ty, "declared here")
                    .with_help(format!("change the {what}, or relax the constraint")),
                );
            }
        }
    }
}

/// Whether `value` is a valid instance of `ty` under `constraints`. The message says why not.
pub(crate) fn check_value(
    project: &Project,
    field: &Field,
    ty: &Type,
    constraints: &Constraints,
    value: &Value,
) -> Result<(), String> {
    if let Value::Null = value {
        return if field.nullable {
            Ok(())
        } else {
            Err("null is not allowed (the field is not nullable)".to_owned())
        };
    }
    match ty {
        Type::Scalar(scalar) => check_scalar(*scalar, constraints, value),
        Type::Named(name) => match project.resolve(name) {
            Some(Definition::Enum(_, def)) => match value {
                Value::String(s) if def.values.iter().any(|v| &v.name == s) => Ok(()),
                _ => Err(format!(
                    "expected one of {}",
                    def.values
                        .iter()
                        .map(|v| format!("`{}`", v.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            Some(_) => match value {
                Value::Map(_) => Ok(()),
                other => Err(format!("expected a map, found {}", other.kind())),
            },
            // Reported by check_field_types.
            None => Ok(()),
        },
        Type::List(inner) => {
            let Value::List(items) = value else {
                return Err(format!("expected a list, found {}", value.kind()));
            };
            check_count(items.len(), constraints)?;
            if constraints.unique_items {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        return Err(format!("item {i} repeats an earlier item (`unique_items`)"));
                    }
                }
            }
            for (i, item) in items.iter().enumerate() {
                check_value(project, field, inner, &field.item_constraints, item)
                    .map_err(|e| format!("item {i}: {e}"))?;
            }
            Ok(())
        }
        Type::Map(inner) => {
            let Value::Map(entries) = value else {
                return Err(format!("expected a map, found {}", value.kind()));
            };
            check_count(entries.len(), constraints)?;
            for (key, item) in entries {
                check_value(project, field, inner, &field.item_constraints, item)
                    .map_err(|e| format!("entry `{key}`: {e}"))?;
            }
            Ok(())
        }
    }
}

fn check_count(count: usize, c: &Constraints) -> Result<(), String> {
    let count = count as u64;
    if c.min_items.is_some_and(|min| count < min) {
        return Err(format!("{count} items, fewer than `min_items`"));
    }
    if c.max_items.is_some_and(|max| count > max) {
        return Err(format!("{count} items, more than `max_items`"));
    }
    Ok(())
}

fn check_scalar(scalar: Scalar, c: &Constraints, value: &Value) -> Result<(), String> {
    let expected = |what: &str| Err(format!("expected {what}, found {}", value.kind()));
    match (scalar, value) {
        (Scalar::Bool, Value::Bool(_)) | (Scalar::Json, _) => Ok(()),
        (Scalar::Int32, Value::Int(i)) if i32::try_from(*i).is_err() => {
            Err(format!("{i} is outside the range of int32"))
        }
        (Scalar::Int32 | Scalar::Int64, Value::Int(i)) => check_number(*i as f64, c),
        (Scalar::Float | Scalar::Double, Value::Int(i)) => check_number(*i as f64, c),
        (Scalar::Float | Scalar::Double, Value::Float(x)) => check_number(*x, c),
        (Scalar::Decimal, Value::String(s)) => match s.parse::<f64>() {
            Ok(x) if cmmv_rules::is_decimal(s) => check_number(x, c),
            _ => Err(format!("`{s}` is not a decimal number")),
        },
        (Scalar::Decimal, Value::Int(i)) => check_number(*i as f64, c),
        (Scalar::Decimal, Value::Float(x)) => check_number(*x, c),
        (Scalar::String, Value::String(s)) => check_string(s, c),
        (Scalar::Uuid, Value::String(s)) if cmmv_rules::parse_uuid(s).is_some() => Ok(()),
        (Scalar::Uuid, Value::String(s)) => Err(format!("`{s}` is not a UUID")),
        (Scalar::Date, Value::String(s)) if cmmv_rules::parse_date(s).is_some() => Ok(()),
        (Scalar::Date, Value::String(s)) => Err(format!("`{s}` is not a date (YYYY-MM-DD)")),
        (Scalar::DateTime, Value::String(s)) if cmmv_rules::parse_date_time(s).is_some() => Ok(()),
        (Scalar::DateTime, Value::String(s)) => Err(format!("`{s}` is not an RFC 3339 date-time")),
        (Scalar::Bytes, Value::String(s)) => {
            let bytes =
                cmmv_rules::parse_base64(s).ok_or_else(|| format!("`{s}` is not base64"))?;
            check_length(bytes.len() as u64, "bytes", c)
        }
        (Scalar::Bool, _) => expected("a boolean"),
        (Scalar::Int32 | Scalar::Int64, _) => expected("an integer"),
        (Scalar::Float | Scalar::Double | Scalar::Decimal, _) => expected("a number"),
        (_, _) => expected("a string"),
    }
}

fn check_number(x: f64, c: &Constraints) -> Result<(), String> {
    if c.minimum.is_some_and(|m| x < m) {
        return Err(format!("{x} is below `minimum`"));
    }
    if c.maximum.is_some_and(|m| x > m) {
        return Err(format!("{x} is above `maximum`"));
    }
    if c.exclusive_minimum.is_some_and(|m| x <= m) {
        return Err(format!("{x} is not above `exclusive_minimum`"));
    }
    if c.exclusive_maximum.is_some_and(|m| x >= m) {
        return Err(format!("{x} is not below `exclusive_maximum`"));
    }
    if let Some(m) = c.multiple_of {
        let q = x / m;
        if (q - q.round()).abs() > 1e-9 {
            return Err(format!("{x} is not a multiple of {m}"));
        }
    }
    Ok(())
}

fn check_length(len: u64, unit: &str, c: &Constraints) -> Result<(), String> {
    if c.min_length.is_some_and(|m| len < m) {
        return Err(format!("{len} {unit}, shorter than `min_length`"));
    }
    if c.max_length.is_some_and(|m| len > m) {
        return Err(format!("{len} {unit}, longer than `max_length`"));
    }
    Ok(())
}

fn check_string(s: &str, c: &Constraints) -> Result<(), String> {
    check_length(s.chars().count() as u64, "characters", c)?;
    if let Some(pattern) = &c.pattern {
        // Lowering only accepts patterns that compile.
        if let Ok(re) = regex::Regex::new(pattern) {
            if !re.is_match(s) {
                return Err(format!("`{s}` does not match `pattern`"));
            }
        }
    }
    if let Some(format) = c.format {
        if !format.matches(s) {
            return Err(format!("`{s}` is not a valid {}", format.name()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Issue 16: defaults are checked by the parsers the runtime decodes with (`cmmv-rules`).
    /// A leap second the runtime refuses was accepted here, published in the OpenAPI, and
    /// read at start as 1970-01-01.
    #[test]
    fn a_default_the_runtime_would_refuse_is_refused_at_its_line() {
        let mut input = crate::Input::default();
        input.add_contract(
            "contracts/event.yaml",
            "contract: Event\nfields:\n  id: { type: uuid, primary: true }\n  at: { type: datetime, default: \"2030-01-31T12:00:60Z\" }\n  day: { type: date, default: \"2030-02-30\" }\n  blob: { type: bytes, default: \"aGVsbG8\" }\n  ok: { type: datetime, default: \"2030-01-31T12:00:59.5+02:00\" }\n",
        );
        let diags = crate::analyze(&input).diagnostics.into_sorted();
        let at = |line: usize| {
            diags
                .iter()
                .find(|d| {
                    d.primary_span().is_some_and(|s| {
                        input
                            .sources
                            .location(s)
                            .starts_with(&format!("contracts/event.yaml:{line}:"))
                    })
                })
                .map(|d| d.message.clone())
        };
        assert_eq!(
            at(4).as_deref(),
            Some(
                "the default of `at` is invalid: `2030-01-31T12:00:60Z` is not an RFC 3339 date-time"
            )
        );
        assert!(
            at(5).is_some_and(|m| m.contains("is not a date")),
            "{diags:?}"
        );
        assert!(
            at(6).is_some_and(|m| m.contains("is not base64")),
            "{diags:?}"
        );
        assert_eq!(at(7), None, "{diags:?}");
        assert_eq!(diags.len(), 3, "{diags:?}");
    }
}
