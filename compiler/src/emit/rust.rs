//! IR -> Rust: the types, validation, handler trait and axum routes of every contract.
//!
//! The generated code is deliberately thin: it lists fields, their rules and their routes, and
//! calls the runtime crate `cmmv` (always by absolute path) for everything else — decoding,
//! validation, CRUD over the repository, responses and errors. Tokens are built with `quote!`;
//! they are formatted only when written (`output::format_rust_files`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use proc_macro2::{Ident, Literal, Span as TokenSpan, TokenStream};
use quote::{ToTokens as _, format_ident, quote};

use crate::diag::{SourceMap, display_path};
use crate::ir::*;
use crate::sql::Migration;

/// One generated Rust file, as tokens.
#[derive(Debug, Clone)]
pub struct RustFile {
    /// Relative to the output directory: `rust/task.rs`.
    pub path: PathBuf,
    /// What the `@generated` marker names as the file's origin.
    pub origin: String,
    pub tokens: TokenStream,
}

/// One file per contract, plus `rust/mod.rs` that includes them all and embeds the OpenAPI
/// documents and the database migrations. Include it in a module of your crate:
/// `pub mod api { include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs")); }`.
pub fn emit(
    project: &Project,
    migrations: &[Migration],
    sources: &SourceMap,
    origin: &str,
) -> Vec<RustFile> {
    let mut files: Vec<RustFile> = project
        .contracts
        .values()
        .filter(|contract| !expanded_by_macro(sources, contract))
        .map(|contract| RustFile {
            path: PathBuf::from(format!("rust/{}.rs", to_snake_case(&contract.name))),
            origin: display_path(sources.name(contract.file)),
            tokens: ContractEmitter {
                project,
                contract,
                named_policies: NamedPolicies::Inline,
            }
            .file(),
        })
        .collect();
    files.push(RustFile {
        path: PathBuf::from("rust/mod.rs"),
        origin: origin.to_owned(),
        tokens: module_file(project, migrations, sources),
    });
    files
}

// ---- #[contract] macro entry point (issue 7) -------------------------------------------------

/// The items of one contract, for the `#[contract]` macro: what `rust/<contract>.rs` holds for
/// a YAML contract (no `@generated` header, not formatted: the tokens go straight to rustc).
pub fn emit_contract(project: &Project, contract: &Contract) -> TokenStream {
    ContractEmitter {
        project,
        contract,
        // A macro cannot read `cmmv.yaml`: its named policies are stand-ins.
        named_policies: NamedPolicies::ByName,
    }
    .file()
}

/// Whether a contract was declared with `#[contract]` in a Rust file: its macro expands its
/// items, so the generated module only carries the project-wide tables for it.
fn expanded_by_macro(sources: &SourceMap, contract: &Contract) -> bool {
    sources
        .name(contract.file)
        .extension()
        .is_some_and(|ext| ext == "rs")
}

// ---- end of the #[contract] macro entry point ------------------------------------------------

fn module_file(project: &Project, migrations: &[Migration], sources: &SourceMap) -> TokenStream {
    let includes = project
        .contracts
        .values()
        .filter(|c| !expanded_by_macro(sources, c))
        .map(|c| {
            let file = format!("{}.rs", to_snake_case(&c.name));
            quote!(include!(#file);)
        });
    let documents = project.versions().into_iter().map(|version| {
        let json = format!("../openapi/v{version}.json");
        let yaml = format!("../openapi/v{version}.yaml");
        let version = Literal::u32_unsuffixed(version);
        quote!((#version, include_str!(#json), include_str!(#yaml)))
    });
    let routes = project.contracts.values().flat_map(|contract| {
        contract
            .operations_in_order()
            .into_iter()
            .flat_map(move |op| {
                op.versions.iter().map(move |&version| {
                    let method = op.method.as_str();
                    let path = op.full_path(contract, version);
                    quote!((#method, #path))
                })
            })
    });
    // The scripts are inlined rather than `include_str!`ed from the contract directory: the
    // generated code stays free of absolute paths, and a build uses exactly the migrations
    // the compiler checked against the lock.
    let migrations = migrations.iter().map(|m| {
        let version = Literal::u32_unsuffixed(m.version);
        let (name, sqlite, postgres) = (m.name.as_str(), m.sqlite.as_str(), m.postgres.as_str());
        quote! {
            ::cmmv::sql::Migration { version: #version, name: #name, sqlite: #sqlite, postgres: #postgres }
        }
    });
    let rate_limits = project.contracts.values().flat_map(|contract| {
        contract
            .operations_in_order()
            .into_iter()
            .flat_map(move |op| {
                let policies: Vec<TokenStream> =
                    operation_policies(contract, op, NamedPolicies::Inline)
                        .into_iter()
                        .map(|(_, policy)| policy)
                        .collect();
                let versions: Vec<u32> = if policies.is_empty() {
                    Vec::new()
                } else {
                    op.versions.iter().copied().collect()
                };
                versions.into_iter().map(move |version| {
                    let method = op.method.as_str();
                    let path = op.full_path(contract, version);
                    quote!((#method, #path, &[#(#policies),*]))
                })
            })
    });
    quote! {
        #(#includes)*

        /// The OpenAPI documents of the API, by version: `(version, JSON, YAML)`.
        pub const OPENAPI: &[(u32, &str, &str)] = &[#(#documents),*];

        /// Every route the generated routers serve: `(method, path)`.
        pub const ROUTES: &[(&str, &str)] = &[#(#routes),*];

        /// The rate-limit policies of every limited route: `(method, path, policies)`. The
        /// routes carry them; this table describes them (and lets the app check at start that
        /// the custom keys they name are registered). Routes declared `rate_limit: none` are
        /// absent.
        pub const RATE_LIMITS: &[(&str, &str, &[::cmmv::ratelimit::Policy])] = &[#(#rate_limits),*];

        /// The database migrations derived from the contracts, in order, for
        /// `cmmv::sql::Database::migrate`.
        pub const MIGRATIONS: &[::cmmv::sql::Migration] = &[#(#migrations),*];

        /// All of the above, for `cmmv::AppBuilder::api`.
        pub const API: ::cmmv::Api = ::cmmv::Api {
            openapi: OPENAPI,
            routes: ROUTES,
            rate_limits: RATE_LIMITS,
            migrations: MIGRATIONS,
        };
    }
}

/// The policies of an operation, in order, each with its id (none when it is unlimited).
fn operation_policies(
    contract: &Contract,
    op: &Operation,
    named: NamedPolicies,
) -> Vec<(String, TokenStream)> {
    match &op.rate_limit {
        RateLimit::Policies(policies) => policies
            .iter()
            .enumerate()
            .map(|(i, policy)| {
                let id = policy_id(contract, op, i, policy);
                let tokens = match (&policy.name, named) {
                    (Some(_), NamedPolicies::ByName) => {
                        quote!(::cmmv::ratelimit::Policy::named(#id))
                    }
                    _ => rate_policy(&id, policy),
                };
                (id, tokens)
            })
            .collect(),
        RateLimit::Inherit | RateLimit::Unlimited => Vec::new(),
    }
}

/// The name of the constant holding the policy `id` in a contract's routes: the id in
/// upper snake case (`standard` -> `STANDARD`, `Task.create#2` -> `TASK_CREATE_2`), numbered
/// by `index` so that two ids that read alike never share a name.
fn policy_constant(id: &str, index: usize) -> Ident {
    let mut name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    name.push_str(&format!("_{index}"));
    format_ident!("LIMIT_{}", name)
}

/// One policy of a route. Its id names the budget it draws from: a shared policy's name, else
/// the contract (a policy declared on the contract, inherited by its operations, is one
/// budget for all of them) or the operation that declared it, with the policy's place in a
/// list when there are several.
fn policy_id(
    contract: &Contract,
    op: &Operation,
    index: usize,
    policy: &RateLimitPolicy,
) -> String {
    let declared_on_contract = matches!(
        &contract.rate_limit,
        RateLimit::Policies(own) if own.iter().any(|p| p.span == policy.span)
    );
    let mut id = match (&policy.name, declared_on_contract) {
        (Some(name), _) => name.clone(),
        (None, true) => contract.name.clone(),
        (None, false) => format!("{}.{}", contract.name, op.name),
    };
    if policy.name.is_none() && index > 0 {
        id.push_str(&format!("#{}", index + 1));
    }
    id
}

/// A policy as a `cmmv::ratelimit::Policy` literal.
fn rate_policy(id: &str, policy: &RateLimitPolicy) -> TokenStream {
    let limit = Literal::u32_unsuffixed(policy.limit);
    let period = Literal::u64_unsuffixed(policy.period_secs);
    let burst = Literal::u32_unsuffixed(policy.burst);
    let key = match &policy.key {
        RateKey::Ip => quote!(::cmmv::ratelimit::KeyKind::Ip),
        RateKey::User => quote!(::cmmv::ratelimit::KeyKind::User),
        RateKey::ApiKey => quote!(::cmmv::ratelimit::KeyKind::ApiKey),
        RateKey::Header(name) => quote!(::cmmv::ratelimit::KeyKind::Header(#name)),
        RateKey::Custom(name) => quote!(::cmmv::ratelimit::KeyKind::Custom(#name)),
    };
    let on_error = match policy.on_error {
        RateFailMode::App => quote!(::cmmv::ratelimit::FailMode::App),
        RateFailMode::Open => quote!(::cmmv::ratelimit::FailMode::Open),
        RateFailMode::Closed => quote!(::cmmv::ratelimit::FailMode::Closed),
        RateFailMode::Local => quote!(::cmmv::ratelimit::FailMode::Local),
    };
    quote! {
        ::cmmv::ratelimit::Policy {
            id: #id,
            limit: #limit,
            period: ::core::time::Duration::from_secs(#period),
            burst: #burst,
            key: #key,
            on_error: #on_error,
        }
    }
}

/// A field or operation name as a Rust identifier (`type` -> `r#type`).
fn member_ident(name: &str) -> Ident {
    if is_rust_keyword(name) {
        Ident::new_raw(name, TokenSpan::call_site())
    } else {
        Ident::new(name, TokenSpan::call_site())
    }
}

fn type_ident(name: &str) -> Ident {
    Ident::new(name, TokenSpan::call_site())
}

fn doc(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => {
            let lines = text.lines().map(|line| format!(" {line}"));
            quote!(#(#[doc = #lines])*)
        }
        None => TokenStream::new(),
    }
}

/// The Rust type of a contract type.
fn rust_type(ty: &Type) -> TokenStream {
    match ty {
        Type::Scalar(scalar) => match scalar {
            Scalar::String => quote!(::std::string::String),
            Scalar::Bool => quote!(bool),
            Scalar::Int32 => quote!(i32),
            Scalar::Int64 => quote!(i64),
            Scalar::Float => quote!(f32),
            Scalar::Double => quote!(f64),
            Scalar::Decimal => quote!(::cmmv::types::Decimal),
            Scalar::Uuid => quote!(::cmmv::types::Uuid),
            Scalar::Date => quote!(::cmmv::types::Date),
            Scalar::DateTime => quote!(::cmmv::types::DateTime),
            Scalar::Bytes => quote!(::cmmv::types::Bytes),
            Scalar::Json => quote!(::cmmv::__private::serde_json::Value),
            // The clear text of a body; a stored resource holds its hash (`field_type`).
            Scalar::Secret => quote!(::cmmv::secret::Secret),
        },
        Type::List(inner) => {
            let inner = rust_type(inner);
            quote!(::std::vec::Vec<#inner>)
        }
        Type::Map(inner) => {
            let inner = rust_type(inner);
            quote!(::std::collections::BTreeMap<::std::string::String, #inner>)
        }
        Type::Named(name) => {
            let name = type_ident(name);
            quote!(#name)
        }
    }
}

/// Whether a field is held as an `Option`: absent or null are both `None`.
fn is_option(field: &Field) -> bool {
    field.optional || field.nullable
}

fn field_type(field: &Field, shape: Shape) -> TokenStream {
    let ty = value_type(field, shape);
    if is_option(field) {
        quote!(::core::option::Option<#ty>)
    } else {
        ty
    }
}

/// `value` (a body's field) as the resource stores it: a secret becomes its hash (sealed by the
/// default CRUD operations before they call `create` or `replace`).
fn stored(field: &Field, value: TokenStream) -> TokenStream {
    match (is_secret(field), is_option(field)) {
        (true, false) => quote!(::cmmv::secret::Secret::into_stored(#value)),
        (true, true) => quote!(#value.map(::cmmv::secret::Secret::into_stored)),
        (false, _) => value,
    }
}

/// `Resource::input_secrets` / `patch_secrets` for a contract with secret fields (the
/// runtime's defaults, which find none, serve the others).
fn secrets_fn<'f>(
    name: &str,
    param: &str,
    body: &TokenStream,
    fields: impl Iterator<Item = &'f Field>,
    push: impl Fn(Ident, &Field) -> TokenStream,
) -> TokenStream {
    let (name, param) = (format_ident!("{name}"), format_ident!("{param}"));
    let pushes: Vec<TokenStream> = fields
        .map(|field| push(member_ident(&field.name), field))
        .collect();
    if pushes.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn #name(#param: &mut #body) -> ::std::vec::Vec<&mut ::cmmv::secret::Secret> {
            ::core::iter::empty()#(.chain(#pushes))*.collect()
        }
    }
}

/// The Rust type of one value of `field` where it is used: a resource keeps the hash of a
/// secret, bodies carry its clear text.
fn value_type(field: &Field, shape: Shape) -> TokenStream {
    if shape == Shape::Resource && is_secret(field) {
        quote!(::cmmv::secret::SecretHash)
    } else {
        rust_type(&field.ty)
    }
}

fn is_secret(field: &Field) -> bool {
    field.ty == Type::Scalar(Scalar::Secret)
}

/// Where a set of fields is used: it decides which serde and decoding rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The resource as stored and returned.
    Resource,
    /// A user message (request or response).
    Message,
    /// The create / replace body.
    Input,
}

struct ContractEmitter<'a> {
    project: &'a Project,
    contract: &'a Contract,
    named_policies: NamedPolicies,
}

/// How routes carry a policy named in `cmmv.yaml` (`rate_limit: standard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NamedPolicies {
    /// With its values, as the project declares them.
    Inline,
    /// By name, resolved by the app from the whole-crate compilation's `API` table: for the
    /// `#[contract]` macro, which cannot read `cmmv.yaml`.
    ByName,
}

impl ContractEmitter<'_> {
    fn file(&self) -> TokenStream {
        let contract = self.contract;
        let enums = contract.enums.values().map(enum_type);
        let messages = contract.messages.values().map(|m| {
            let object = self.object(
                &m.name,
                &m.name,
                m.description.as_deref(),
                &m.fields,
                Shape::Message,
            );
            let rules = rules_statics(&m.name, &m.fields);
            let column = json_column_impl(&type_ident(&m.name));
            quote!(#rules #object #column)
        });
        // One set of rules per field, shared by `Task`, `TaskInput` and `TaskPatch`.
        let rules = rules_statics(&contract.name, &contract.fields);
        let resource = self.object(
            &contract.name,
            &contract.name,
            contract.description.as_deref(),
            &contract.fields,
            Shape::Resource,
        );
        let input_fields: Vec<Field> = contract
            .fields
            .iter()
            .filter(|f| f.is_input())
            .cloned()
            .collect();
        let input_name = DerivedBody::Input.type_name(&contract.name);
        let input_doc = format!(
            "What create (POST) and replace (PUT) requests send: the fields of [`{}`] that clients may set.",
            contract.name
        );
        let input = self.object(
            &input_name,
            &contract.name,
            Some(&input_doc),
            &input_fields,
            Shape::Input,
        );
        let patch = self.patch_type();
        let resource_impl = self.resource_impl();
        let record_impl = self.record_impl();
        let queries = contract
            .operations_in_order()
            .into_iter()
            .filter(|op| !op.query.is_empty())
            .map(|op| self.query_struct(op));
        let handlers = self.handlers_trait();
        let routes = self.routes_fn();
        quote! {
            #(#enums)*
            #rules
            #resource
            #input
            #patch
            #(#messages)*
            #(#queries)*
            #resource_impl
            #record_impl
            #handlers
            #routes
        }
    }

    /// A struct with serde serialization, decoding and validation.
    /// `owner` names the fields' rules: the contract (for the resource and its bodies, which
    /// share them) or the message.
    fn object(
        &self,
        name: &str,
        owner: &str,
        description: Option<&str>,
        fields: &[Field],
        shape: Shape,
    ) -> TokenStream {
        let ident = type_ident(name);
        let docs = doc(description);
        let members = fields.iter().map(|field| {
            let name = member_ident(&field.name);
            let ty = field_type(field, shape);
            let docs = doc(field.description.as_deref());
            let mut attrs = Vec::new();
            // A secret is written by no shape, not even the body it came in: nothing that
            // serializes a value can show it.
            if (field.write_only && shape != Shape::Input) || is_secret(field) {
                attrs.push(quote!(#[serde(skip_serializing)]));
            } else if field.optional && !field.nullable {
                attrs.push(
                    quote!(#[serde(skip_serializing_if = "::core::option::Option::is_none")]),
                );
            }
            let deprecated = field
                .deprecated
                .then(|| quote!(#[doc = ""] #[doc = " Deprecated."]));
            quote! {
                #docs
                #deprecated
                #(#attrs)*
                pub #name: #ty
            }
        });
        let decode = self.decode_impl(&ident, fields, shape);
        let check = check_impl(&ident, owner, fields);
        quote! {
            #docs
            #[derive(Debug, Clone, PartialEq, ::cmmv::__private::serde::Serialize)]
            #[serde(crate = "::cmmv::__private::serde")]
            pub struct #ident {
                #(#members,)*
            }

            #decode
            #check
        }
    }

    fn decode_impl(&self, ident: &Ident, fields: &[Field], shape: Shape) -> TokenStream {
        let decodes = fields.iter().map(|field| {
            let var = ident_var(&field.name);
            let key = field.name.as_str();
            let ty = value_type(field, shape);
            let nullable = field.nullable;
            let value = match (&field.default, is_option(field)) {
                (None, false) => quote! {
                    ::cmmv::validate::required::<#ty>(map, at, #key, errors)
                },
                (None, true) => {
                    let required = !field.optional;
                    quote! {
                        ::cmmv::validate::field::<#ty>(
                            map, at, #key,
                            ::cmmv::validate::Presence { required: #required, nullable: #nullable },
                            errors,
                        )
                    }
                }
                (Some(default), false) => {
                    let default = self.value_expr(&field.ty, default);
                    quote! {
                        ::cmmv::validate::with_default::<#ty>(map, at, #key, errors, || #default)
                    }
                }
                (Some(default), true) => {
                    let default = match default {
                        Value::Null => quote!(::core::option::Option::None),
                        value => {
                            let value = self.value_expr(&field.ty, value);
                            quote!(::core::option::Option::Some(#value))
                        }
                    };
                    quote! {
                        ::cmmv::validate::patch_field::<#ty>(map, at, #key, #nullable, errors)
                            .map(|value| value.or_default_with(|| #default))
                    }
                }
            };
            quote!(let #var = #value;)
        });
        from_json_impl(ident, fields.iter(), decodes)
    }

    /// A literal of the contract as a Rust expression of the field's type.
    fn value_expr(&self, ty: &Type, value: &Value) -> TokenStream {
        match (ty, value) {
            (Type::Scalar(scalar), value) => scalar_expr(*scalar, value),
            (Type::List(inner), Value::List(items)) => {
                let items = items.iter().map(|item| self.value_expr(inner, item));
                quote!(::std::vec![#(#items),*])
            }
            (Type::Map(inner), Value::Map(entries)) => {
                let entries = entries.iter().map(|(key, item)| {
                    let item = self.value_expr(inner, item);
                    quote!((::std::string::String::from(#key), #item))
                });
                quote!(::std::collections::BTreeMap::from([#(#entries),*]))
            }
            (Type::Named(name), Value::String(text)) => {
                let ty = type_ident(name);
                let variant = format_ident!("{}", to_pascal_case(text));
                quote!(#ty::#variant)
            }
            // Validation accepts no other combination; a default keeps the code compiling.
            (ty, _) => {
                let ty = rust_type(ty);
                quote!(<#ty as ::core::default::Default>::default())
            }
        }
    }

    fn patch_type(&self) -> TokenStream {
        let contract = self.contract;
        let name = type_ident(&DerivedBody::Patch.type_name(&contract.name));
        let fields: Vec<&Field> = patch_fields(contract);
        let docs = format!(
            "What a patch (PATCH) request sends: each field of [`{}`] it carries is changed, `null` clears a nullable one.",
            contract.name
        );
        let members = fields.iter().map(|field| {
            let ident = member_ident(&field.name);
            let ty = rust_type(&field.ty);
            quote!(pub #ident: ::cmmv::Patch<#ty>)
        });
        let decodes = fields.iter().map(|field| {
            let var = ident_var(&field.name);
            let key = field.name.as_str();
            let ty = rust_type(&field.ty);
            let nullable = field.nullable;
            quote!(let #var = ::cmmv::validate::patch_field::<#ty>(map, at, #key, #nullable, errors);)
        });
        let decode = from_json_impl(&name, fields.iter().copied(), decodes);
        let owned: Vec<Field> = fields.iter().map(|f| (*f).clone()).collect();
        let check = check_impl(&name, &contract.name, &owned);
        quote! {
            #[doc = #docs]
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct #name {
                #(#members,)*
            }

            #decode

            #check
        }
    }

    fn resource_impl(&self) -> TokenStream {
        let contract = self.contract;
        let name = type_ident(&contract.name);
        let input = type_ident(&DerivedBody::Input.type_name(&contract.name));
        let patch = type_ident(&DerivedBody::Patch.type_name(&contract.name));
        let Some(pk) = contract.primary_key() else {
            return TokenStream::new();
        };
        let key_ty = rust_type(&pk.ty);
        let key_field = member_ident(&pk.name);
        let key_name = pk.name.as_str();
        let contract_name = contract.name.as_str();
        let (new_key, input_key) = match pk.ty {
            Type::Scalar(Scalar::Uuid) => (
                quote!(::cmmv::types::Uuid::now_v7()),
                quote!(::core::option::Option::None),
            ),
            Type::Scalar(Scalar::Int64) => (
                quote!(i64::try_from(sequence).unwrap_or(i64::MAX)),
                quote!(::core::option::Option::None),
            ),
            _ => (
                quote!(input.#key_field.clone()),
                quote!(::core::option::Option::Some(input.#key_field.clone())),
            ),
        };
        let client_key = pk.is_input();
        let (input_param, sequence_param) = if client_key {
            (quote!(input), quote!(_sequence))
        } else {
            (quote!(_input), quote!(sequence))
        };
        let sequence_param = if matches!(pk.ty, Type::Scalar(Scalar::Int64)) {
            sequence_param
        } else {
            quote!(_sequence)
        };
        let input_key_param = if client_key {
            quote!(input)
        } else {
            quote!(_input)
        };

        let filterable = contract
            .fields
            .iter()
            .filter(|f| f.filterable)
            .map(|field| {
                let name = field.name.as_str();
                let kind = self.field_kind(&field.ty);
                quote!(::cmmv::resource::FilterField { name: #name, kind: #kind })
            });
        let sortable = contract
            .fields
            .iter()
            .filter(|f| f.sortable)
            .map(|f| f.name.as_str());
        let unique = contract
            .fields
            .iter()
            .filter(|f| f.unique && !f.primary)
            .map(|f| f.name.as_str());
        let default_limit = Literal::u32_unsuffixed(contract.pagination.default_limit);
        let max_limit = Literal::u32_unsuffixed(contract.pagination.max_limit);

        let timestamps = contract.storage.timestamps;
        let is_timestamp = |field: &Field| {
            timestamps && matches!(field.name.as_str(), "created_at" | "updated_at")
        };
        let creates = contract.fields.iter().map(|field| {
            let member = member_ident(&field.name);
            let value = if field.primary {
                quote!(key)
            } else if is_timestamp(field) {
                quote!(now)
            } else if field.is_input() {
                stored(field, quote!(input.#member))
            } else {
                self.initial_value(field)
            };
            quote!(#member: #value)
        });
        let replaces = contract
            .fields
            .iter()
            .filter(|f| f.is_input() && !f.primary)
            .map(|field| {
                let member = member_ident(&field.name);
                let value = stored(field, quote!(input.#member));
                quote!(self.#member = #value;)
            });
        let patches = patch_fields(contract).into_iter().map(|field| {
            let member = member_ident(&field.name);
            let patch = if is_secret(field) {
                quote!(patch.#member.map(::cmmv::secret::Secret::into_stored))
            } else {
                quote!(patch.#member)
            };
            if is_option(field) {
                quote!(#patch.apply_option(&mut self.#member);)
            } else {
                quote!(#patch.apply(&mut self.#member);)
            }
        });
        let input_secrets = secrets_fn(
            "input_secrets",
            "input",
            &quote!(Self::Input),
            contract
                .fields
                .iter()
                .filter(|f| f.is_input() && is_secret(f)),
            |member, field| {
                if is_option(field) {
                    quote!(input.#member.as_mut())
                } else {
                    quote!(::core::iter::once(&mut input.#member))
                }
            },
        );
        let patch_secrets = secrets_fn(
            "patch_secrets",
            "patch",
            &quote!(Self::Patch),
            patch_fields(contract).into_iter().filter(|f| is_secret(f)),
            |member, _| quote!(patch.#member.value_mut()),
        );
        let touch = contract
            .fields
            .iter()
            .any(|f| timestamps && f.name == "updated_at")
            .then(|| quote!(self.updated_at = now;));
        let now_param = if touch.is_some() {
            quote!(now)
        } else {
            quote!(_now)
        };
        let create_now = if contract.fields.iter().any(is_timestamp) {
            quote!(now)
        } else {
            quote!(_now)
        };
        let replace_input = if contract.fields.iter().any(|f| f.is_input() && !f.primary) {
            quote!(input)
        } else {
            quote!(_input)
        };
        let patch_param = if patch_fields(contract).is_empty() {
            quote!(_patch)
        } else {
            quote!(patch)
        };
        let create_input = if contract.fields.iter().any(|f| f.is_input()) {
            quote!(input)
        } else {
            quote!(_input)
        };
        let by_name: Vec<TokenStream> = contract
            .fields
            .iter()
            .filter(|f| f.filterable || f.sortable || (f.unique && !f.primary))
            .map(|field| {
                let name = field.name.as_str();
                let member = member_ident(&field.name);
                quote! {
                    #name => ::core::option::Option::Some(
                        ::cmmv::resource::ToFieldValue::to_field_value(&self.#member)
                    ),
                }
            })
            .collect();
        let field_fn = if by_name.is_empty() {
            quote! {
                fn field(&self, _name: &str) -> ::core::option::Option<::cmmv::resource::FieldValue> {
                    ::core::option::Option::None
                }
            }
        } else {
            quote! {
                fn field(&self, name: &str) -> ::core::option::Option<::cmmv::resource::FieldValue> {
                    match name {
                        #(#by_name)*
                        _ => ::core::option::Option::None,
                    }
                }
            }
        };
        quote! {
            impl ::cmmv::resource::Resource for #name {
                type Key = #key_ty;
                type Input = #input;
                type Patch = #patch;

                const NAME: &'static str = #contract_name;
                const KEY_FIELD: &'static str = #key_name;
                const FILTERABLE: &'static [::cmmv::resource::FilterField] = &[#(#filterable),*];
                const SORTABLE: &'static [&'static str] = &[#(#sortable),*];
                const UNIQUE: &'static [&'static str] = &[#(#unique),*];
                const DEFAULT_LIMIT: u32 = #default_limit;
                const MAX_LIMIT: u32 = #max_limit;

                fn key(&self) -> &#key_ty {
                    &self.#key_field
                }

                fn new_key(#input_param: &#input, #sequence_param: u64) -> #key_ty {
                    #new_key
                }

                fn input_key(#input_key_param: &#input) -> ::core::option::Option<#key_ty> {
                    #input_key
                }

                fn create(key: #key_ty, #create_input: #input, #create_now: ::cmmv::types::DateTime) -> Self {
                    Self { #(#creates,)* }
                }

                fn replace(&mut self, #replace_input: #input, #now_param: ::cmmv::types::DateTime) {
                    #(#replaces)*
                    #touch
                }

                fn patch(&mut self, #patch_param: #patch, #now_param: ::cmmv::types::DateTime) {
                    #(#patches)*
                    #touch
                }

                #field_fn

                #input_secrets

                #patch_secrets
            }
        }
    }

    /// `impl Record`: the table, its columns in field order, and the row of a resource. The
    /// migrations create exactly these columns (see `crate::sql`).
    fn record_impl(&self) -> TokenStream {
        let contract = self.contract;
        if contract.primary_key().is_none() {
            return TokenStream::new();
        }
        let name = type_ident(&contract.name);
        let table = contract.storage.table.as_str();
        let soft_delete = contract.storage.soft_delete;
        let columns = contract.fields.iter().map(|field| {
            let column = field.name.as_str();
            let kind = format_ident!("{}", self.column_kind(&field.ty));
            quote!(::cmmv::sql::Column { name: #column, kind: ::cmmv::sql::ColumnKind::#kind })
        });
        let members: Vec<Ident> = contract
            .fields
            .iter()
            .map(|f| member_ident(&f.name))
            .collect();
        quote! {
            impl ::cmmv::sql::Record for #name {
                const TABLE: &'static str = #table;
                const COLUMNS: &'static [::cmmv::sql::Column] = &[#(#columns),*];
                const SOFT_DELETE: bool = #soft_delete;

                fn to_row(&self) -> ::std::vec::Vec<::cmmv::sql::SqlValue> {
                    ::std::vec![#(::cmmv::sql::SqlColumn::to_sql(&self.#members)),*]
                }

                fn from_row(row: &mut ::cmmv::sql::Row) -> ::core::result::Result<Self, ::std::string::String> {
                    ::core::result::Result::Ok(Self { #(#members: row.take()?,)* })
                }
            }
        }
    }

    /// The name of the `ColumnKind` variant that stores a value of type `ty`.
    fn column_kind(&self, ty: &Type) -> &'static str {
        match ty {
            Type::Scalar(scalar) => match scalar {
                Scalar::String => "Text",
                Scalar::Bool => "Bool",
                Scalar::Int32 => "Int32",
                Scalar::Int64 => "Int64",
                Scalar::Float => "Float",
                Scalar::Double => "Double",
                Scalar::Decimal => "Decimal",
                Scalar::Uuid => "Uuid",
                Scalar::Date => "Date",
                Scalar::DateTime => "DateTime",
                Scalar::Bytes => "Bytes",
                Scalar::Json => "Json",
                Scalar::Secret => "Text",
            },
            Type::Named(name) => match self.project.resolve(name) {
                Some(Definition::Enum(..)) => "Text",
                _ => "Json",
            },
            Type::List(_) | Type::Map(_) => "Json",
        }
    }

    /// The value of a read-only field when a resource is created: its default, else `None`.
    fn initial_value(&self, field: &Field) -> TokenStream {
        match (&field.default, is_option(field)) {
            (Some(Value::Null), _) | (None, _) => quote!(::core::option::Option::None),
            (Some(value), false) => self.value_expr(&field.ty, value),
            (Some(value), true) => {
                let value = self.value_expr(&field.ty, value);
                quote!(::core::option::Option::Some(#value))
            }
        }
    }

    fn field_kind(&self, ty: &Type) -> TokenStream {
        match ty {
            Type::Scalar(Scalar::String) => quote!(::cmmv::resource::FieldKind::Text),
            Type::Scalar(Scalar::Bool) => quote!(::cmmv::resource::FieldKind::Bool),
            Type::Scalar(Scalar::Int32 | Scalar::Int64) => quote!(::cmmv::resource::FieldKind::Int),
            Type::Scalar(Scalar::Float | Scalar::Double) => {
                quote!(::cmmv::resource::FieldKind::Float)
            }
            Type::Scalar(Scalar::Uuid) => quote!(::cmmv::resource::FieldKind::Uuid),
            Type::Scalar(Scalar::Date) => quote!(::cmmv::resource::FieldKind::Date),
            Type::Scalar(Scalar::DateTime) => quote!(::cmmv::resource::FieldKind::DateTime),
            Type::Scalar(Scalar::Decimal) => quote!(::cmmv::resource::FieldKind::Decimal),
            Type::Named(name) => {
                let name = type_ident(name);
                quote!(::cmmv::resource::FieldKind::Enum(#name::ALL))
            }
            // Lowering refuses filters on other types.
            _ => quote!(::cmmv::resource::FieldKind::Text),
        }
    }

    fn query_struct(&self, op: &Operation) -> TokenStream {
        let name = type_ident(&self.contract.query_struct_name(op));
        let docs = format!("The query parameters of `{}`.", op.name);
        let members = op.query.iter().map(|field| {
            let ident = member_ident(&field.name);
            let ty = field_type(field, Shape::Message);
            let docs = doc(field.description.as_deref());
            quote!(#docs pub #ident: #ty)
        });
        let names = op.query.iter().map(|f| f.name.as_str());
        let reads = op.query.iter().map(|field| {
            let var = ident_var(&field.name);
            let key = field.name.as_str();
            let read = match (&field.ty, &field.default, is_option(field)) {
                (Type::List(inner), _, _) => {
                    let inner = rust_type(inner);
                    quote!(reader.list::<#inner>(#key))
                }
                (ty, None, false) => {
                    let ty = rust_type(ty);
                    quote!(reader.required::<#ty>(#key))
                }
                (ty, None, true) => {
                    let ty = rust_type(ty);
                    quote!(reader.optional::<#ty>(#key))
                }
                (ty, Some(default), option) => {
                    let rust = rust_type(ty);
                    let default = self.value_expr(ty, default);
                    if option {
                        quote!(reader.optional::<#rust>(#key).map(|v| v.or(::core::option::Option::Some(#default))))
                    } else {
                        quote!(reader.optional::<#rust>(#key).map(|v| v.unwrap_or(#default)))
                    }
                }
            };
            quote!(let #var = #read;)
        });
        let assigns = op.query.iter().map(|field| {
            let name = member_ident(&field.name);
            let var = ident_var(&field.name);
            quote!(#name: #var?)
        });
        let query_owner = self.contract.query_struct_name(op);
        let query_rules = rules_statics(&query_owner, &op.query);
        let check = check_impl(&name, &query_owner, &op.query);
        quote! {
            #[doc = #docs]
            #[derive(Debug, Clone, PartialEq)]
            pub struct #name {
                #(#members,)*
            }

            impl ::cmmv::extract::FromQuery for #name {
                const NAMES: &'static [&'static str] = &[#(#names),*];

                fn from_query(reader: &mut ::cmmv::extract::QueryReader<'_>) -> ::core::option::Option<Self> {
                    #(#reads)*
                    ::core::option::Option::Some(Self { #(#assigns,)* })
                }
            }

            #query_rules
            #check
        }
    }

    fn handlers_trait(&self) -> TokenStream {
        let contract = self.contract;
        let trait_name = type_ident(&contract.handlers_trait_name());
        let resource = type_ident(&contract.name);
        let store_fn = format_ident!("{}_store", to_snake_case(&contract.name));
        let docs = format!(
            "The operations of `{}`. CRUD methods default to the repository from [`{}::{}`]; custom operations are yours to write.",
            contract.name,
            contract.handlers_trait_name(),
            store_fn
        );
        let key_ty = contract
            .primary_key()
            .map_or_else(|| quote!(()), |pk| rust_type(&pk.ty));
        let methods = contract.operations_in_order().into_iter().map(|op| {
            let method = member_ident(&op.name);
            let docs = doc(op.summary.as_deref().or(op.description.as_deref()));
            let result = self.result_type(op);
            let future = quote!(impl ::core::future::Future<Output = ::core::result::Result<#result, ::cmmv::Problem>> + ::core::marker::Send);
            match op.crud() {
                Some(CrudKind::List) => quote! {
                    #docs
                    fn #method(&self, _ctx: ::cmmv::Context, query: ::cmmv::store::ListQuery) -> #future {
                        ::cmmv::crud::list(self.#store_fn(), query)
                    }
                },
                Some(CrudKind::Get) => quote! {
                    #docs
                    fn #method(&self, _ctx: ::cmmv::Context, id: #key_ty) -> #future {
                        ::cmmv::crud::get(self.#store_fn(), id)
                    }
                },
                Some(CrudKind::Create) => {
                    let input = type_ident(&DerivedBody::Input.type_name(&contract.name));
                    quote! {
                        #docs
                        fn #method(&self, _ctx: ::cmmv::Context, input: #input) -> #future {
                            ::cmmv::crud::create(self.#store_fn(), input)
                        }
                    }
                }
                Some(CrudKind::Update) => {
                    let input = type_ident(&DerivedBody::Input.type_name(&contract.name));
                    quote! {
                        #docs
                        fn #method(&self, _ctx: ::cmmv::Context, id: #key_ty, input: #input) -> #future {
                            ::cmmv::crud::replace(self.#store_fn(), id, input)
                        }
                    }
                }
                Some(CrudKind::Patch) => {
                    let patch = type_ident(&DerivedBody::Patch.type_name(&contract.name));
                    quote! {
                        #docs
                        fn #method(&self, _ctx: ::cmmv::Context, id: #key_ty, patch: #patch) -> #future {
                            ::cmmv::crud::patch(self.#store_fn(), id, patch)
                        }
                    }
                }
                Some(CrudKind::Delete) => quote! {
                    #docs
                    fn #method(&self, _ctx: ::cmmv::Context, id: #key_ty) -> #future {
                        ::cmmv::crud::delete(self.#store_fn(), id)
                    }
                },
                None => {
                    let params = self.custom_params(op).into_iter().map(|(name, ty)| quote!(#name: #ty));
                    quote! {
                        #docs
                        fn #method(&self, ctx: ::cmmv::Context #(, #params)*) -> #future;
                    }
                }
            }
        });
        quote! {
            #[doc = #docs]
            pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
                /// The repository of the default CRUD methods.
                fn #store_fn(&self) -> &::cmmv::Store<#resource>;

                #(#methods)*
            }
        }
    }

    /// The parameters a custom operation's handler takes after the context.
    fn custom_params(&self, op: &Operation) -> Vec<(Ident, TokenStream)> {
        let mut params: Vec<(Ident, TokenStream)> = op
            .path_params
            .iter()
            .map(|p| (member_ident(&p.name), rust_type(&p.ty)))
            .collect();
        if !op.query.is_empty() {
            let name = type_ident(&self.contract.query_struct_name(op));
            params.push((format_ident!("query"), quote!(#name)));
        }
        if let Some(body) = &op.request {
            params.push((format_ident!("body"), self.body_type(&body.ty)));
        }
        params
    }

    fn body_type(&self, ty: &BodyType) -> TokenStream {
        match ty {
            BodyType::Named(name) => {
                let name = type_ident(name);
                quote!(#name)
            }
            BodyType::List(name) => {
                let name = type_ident(name);
                quote!(::std::vec::Vec<#name>)
            }
            BodyType::Derived(derived) => {
                let name = type_ident(&derived.type_name(&self.contract.name));
                match derived {
                    DerivedBody::Page => {
                        let resource = type_ident(&self.contract.name);
                        quote!(::cmmv::Page<#resource>)
                    }
                    _ => quote!(#name),
                }
            }
        }
    }

    fn result_type(&self, op: &Operation) -> TokenStream {
        match &op.response {
            Some(body) => self.body_type(&body.ty),
            None => quote!(()),
        }
    }

    /// Every operation's handler is wrapped in its rate limits and its auth guard, so that the
    /// contract's policies travel with the route: no app can mount the routes without them,
    /// and nesting the router under a prefix keeps them.
    fn routes_fn(&self) -> TokenStream {
        let contract = self.contract;
        let trait_name = type_ident(&contract.handlers_trait_name());
        let fn_name = format_ident!("{}_routes", to_snake_case(&contract.name));
        let resource = type_ident(&contract.name);
        let docs = format!(
            "The axum routes of `{}`, every version, with `handlers` as state.",
            contract.name
        );
        let handlers = contract
            .operations_in_order()
            .into_iter()
            .map(|op| self.route_handler(op, &trait_name, &resource));
        let mut by_path: BTreeMap<String, Vec<TokenStream>> = BTreeMap::new();
        // One constant per policy (by id: one budget), however many operations draw on it.
        let mut limits: Vec<TokenStream> = Vec::new();
        let mut constants: BTreeMap<String, Ident> = BTreeMap::new();
        for op in contract.operations_in_order() {
            let handler = format_ident!("{}_handler", op.name);
            let method = format_ident!("{}", op.method.lowercase());
            let names: Vec<Ident> = operation_policies(contract, op, self.named_policies)
                .into_iter()
                .map(|(id, policy)| {
                    let taken = constants.len();
                    constants
                        .entry(id.clone())
                        .or_insert_with(|| {
                            let name = policy_constant(&id, taken);
                            limits.push(quote! {
                                const #name: ::cmmv::ratelimit::Policy = #policy;
                            });
                            name
                        })
                        .clone()
                })
                .collect();
            let limit = quote!(&[#(#names),*]);
            for &version in &op.versions {
                let access = access(&op.auth);
                by_path
                    .entry(op.full_path(contract, version))
                    .or_default()
                    .push(quote!(#method(::cmmv::operation(#handler::<H>, #access, #limit))));
            }
        }
        let routes = by_path.iter().map(|(path, methods)| {
            let mut methods = methods.iter();
            let first = methods.next().map_or_else(
                TokenStream::new,
                |m| quote!(::cmmv::__private::axum::routing::#m),
            );
            quote!(.route(#path, #first #(.#methods)*))
        });
        quote! {
            #[doc = #docs]
            pub fn #fn_name<H: #trait_name>(handlers: ::std::sync::Arc<H>) -> ::cmmv::__private::axum::Router {
                use ::cmmv::__private::axum::extract::State;

                #(#limits)*

                #(#handlers)*

                ::cmmv::__private::axum::Router::new()
                    #(#routes)*
                    .with_state(handlers)
            }
        }
    }

    /// The axum handler of one operation: extract, call the trait method, respond.
    fn route_handler(&self, op: &Operation, trait_name: &Ident, resource: &Ident) -> TokenStream {
        let handler = format_ident!("{}_handler", op.name);
        let method = member_ident(&op.name);
        let state = quote!(State(handlers): State<::std::sync::Arc<H>>);
        let ctx = quote!(ctx: ::cmmv::Context);
        let result = quote!(::core::result::Result<::cmmv::__private::axum::response::Response, ::cmmv::Problem>);
        let key = quote!(<#resource as ::cmmv::resource::Resource>::Key);
        let status = op.status;
        match op.crud() {
            Some(CrudKind::List) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, query: ::cmmv::extract::ListParams<#resource>) -> #result {
                    let page = <H as #trait_name>::#method(&handlers, ctx, query.0).await?;
                    ::core::result::Result::Ok(::cmmv::respond::json(#status, page))
                }
            },
            Some(CrudKind::Get) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, path: ::cmmv::extract::PathParams) -> #result {
                    let id = ::cmmv::extract::path_key::<#key>(path.raw("id"))?;
                    let item = <H as #trait_name>::#method(&handlers, ctx, id).await?;
                    ::core::result::Result::Ok(::cmmv::respond::json(#status, item))
                }
            },
            Some(CrudKind::Create) => {
                let input = type_ident(&DerivedBody::Input.type_name(&self.contract.name));
                quote! {
                    async fn #handler<H: #trait_name>(
                        #state,
                        #ctx,
                        uri: ::cmmv::__private::axum::extract::OriginalUri,
                        ::cmmv::extract::JsonBody(input): ::cmmv::extract::JsonBody<#input>,
                    ) -> #result {
                        let item = <H as #trait_name>::#method(&handlers, ctx, input).await?;
                        let location = ::std::format!(
                            "{}/{}",
                            uri.path().trim_end_matches('/'),
                            ::cmmv::resource::Resource::key(&item)
                        );
                        ::core::result::Result::Ok(::cmmv::respond::created(&location, item))
                    }
                }
            }
            Some(kind @ (CrudKind::Update | CrudKind::Patch)) => {
                let body = if kind == CrudKind::Update {
                    type_ident(&DerivedBody::Input.type_name(&self.contract.name))
                } else {
                    type_ident(&DerivedBody::Patch.type_name(&self.contract.name))
                };
                quote! {
                    async fn #handler<H: #trait_name>(
                        #state,
                        #ctx,
                        path: ::cmmv::extract::PathParams,
                        ::cmmv::extract::JsonBody(body): ::cmmv::extract::JsonBody<#body>,
                    ) -> #result {
                        let id = ::cmmv::extract::path_key::<#key>(path.raw("id"))?;
                        let item = <H as #trait_name>::#method(&handlers, ctx, id, body).await?;
                        ::core::result::Result::Ok(::cmmv::respond::json(#status, item))
                    }
                }
            }
            Some(CrudKind::Delete) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, path: ::cmmv::extract::PathParams) -> #result {
                    let id = ::cmmv::extract::path_key::<#key>(path.raw("id"))?;
                    <H as #trait_name>::#method(&handlers, ctx, id).await?;
                    ::core::result::Result::Ok(::cmmv::respond::no_content())
                }
            },
            None => self.custom_handler(op, trait_name, &handler, &method),
        }
    }

    fn custom_handler(
        &self,
        op: &Operation,
        trait_name: &Ident,
        handler: &Ident,
        method: &Ident,
    ) -> TokenStream {
        let mut extractors = vec![
            quote!(State(handlers): State<::std::sync::Arc<H>>),
            quote!(ctx: ::cmmv::Context),
        ];
        let mut parse = Vec::new();
        let mut args = Vec::new();
        if !op.path_params.is_empty() {
            extractors.push(quote!(path: ::cmmv::extract::PathParams));
            for param in &op.path_params {
                let var = member_ident(&param.name);
                let ty = rust_type(&param.ty);
                let name = param.name.as_str();
                let expected = expected_text(self.project, &param.ty);
                parse.push(quote!(let #var = path.get::<#ty>(#name, #expected)?;));
                args.push(quote!(#var));
            }
        }
        if op.query.is_empty() {
            extractors.push(quote!(_query: ::cmmv::extract::Query<::cmmv::extract::NoQuery>));
        } else {
            let query = type_ident(&self.contract.query_struct_name(op));
            extractors.push(quote!(::cmmv::extract::Query(query): ::cmmv::extract::Query<#query>));
            args.push(quote!(query));
        }
        if let Some(body) = &op.request {
            let ty = self.body_type(&body.ty);
            extractors
                .push(quote!(::cmmv::extract::JsonBody(body): ::cmmv::extract::JsonBody<#ty>));
            args.push(quote!(body));
        }
        let status = op.status;
        let call = quote!(<H as #trait_name>::#method(&handlers, ctx #(, #args)*).await?);
        let respond = if op.response.is_some() {
            quote! {
                let result = #call;
                ::core::result::Result::Ok(::cmmv::respond::json(#status, result))
            }
        } else {
            quote! {
                #call;
                ::core::result::Result::Ok(::cmmv::respond::no_content())
            }
        };
        quote! {
            async fn #handler<H: #trait_name>(#(#extractors),*) -> ::core::result::Result<::cmmv::__private::axum::response::Response, ::cmmv::Problem> {
                #(#parse)*
                #respond
            }
        }
    }
}

/// `impl FromJson` for a struct: check the object's keys, decode each field into its variable
/// (the `decodes` statements), then build the struct, failing if any field failed.
fn from_json_impl<'f>(
    ident: &Ident,
    fields: impl Iterator<Item = &'f Field> + Clone,
    decodes: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    let names = fields.clone().map(|f| f.name.as_str());
    let assigns = fields.map(|field| {
        let name = member_ident(&field.name);
        let var = ident_var(&field.name);
        quote!(#name: #var?)
    });
    quote! {
        impl ::cmmv::validate::FromJson for #ident {
            fn from_json(
                value: &mut ::cmmv::__private::serde_json::Value,
                at: &::cmmv::validate::At<'_>,
                errors: &mut ::cmmv::validate::Errors,
            ) -> ::core::option::Option<Self> {
                let map = ::cmmv::validate::object(value, at, &[#(#names),*], errors)?;
                #(#decodes)*
                ::core::option::Option::Some(Self { #(#assigns,)* })
            }
        }
    }
}

/// The variable a field is decoded into (`title` -> `title_value`, never a keyword).
fn ident_var(name: &str) -> Ident {
    format_ident!("{}_value", name)
}

/// The fields a patch may change: input fields except the key, which never changes.
fn patch_fields(contract: &Contract) -> Vec<&Field> {
    contract
        .fields
        .iter()
        .filter(|f| f.is_patchable())
        .collect()
}

/// How a path parameter's expected shape is described in a 400.
fn expected_text(project: &Project, ty: &Type) -> String {
    match ty {
        Type::Scalar(Scalar::Uuid) => "a UUID".to_owned(),
        Type::Scalar(Scalar::Int32 | Scalar::Int64) => "an integer".to_owned(),
        Type::Scalar(Scalar::Float | Scalar::Double | Scalar::Decimal) => "a number".to_owned(),
        Type::Scalar(Scalar::Bool) => "`true` or `false`".to_owned(),
        Type::Scalar(Scalar::Date) => "a date (YYYY-MM-DD)".to_owned(),
        Type::Scalar(Scalar::DateTime) => "an RFC 3339 date-time".to_owned(),
        Type::Named(name) => match project.resolve(name) {
            Some(Definition::Enum(_, def)) => format!(
                "one of {}",
                def.values
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "a value".to_owned(),
        },
        _ => "a string".to_owned(),
    }
}

fn scalar_expr(scalar: Scalar, value: &Value) -> TokenStream {
    match (scalar, value) {
        (Scalar::String, Value::String(s)) => quote!(::std::string::String::from(#s)),
        (Scalar::Bool, Value::Bool(b)) => quote!(#b),
        (Scalar::Int32, Value::Int(i)) => {
            let lit = Literal::i32_suffixed(i32::try_from(*i).unwrap_or_default());
            quote!(#lit)
        }
        (Scalar::Int64, Value::Int(i)) => {
            let lit = Literal::i64_suffixed(*i);
            quote!(#lit)
        }
        (Scalar::Float, Value::Int(i)) => {
            let lit = Literal::f32_suffixed(*i as f32);
            quote!(#lit)
        }
        (Scalar::Float, Value::Float(x)) => {
            let lit = Literal::f32_suffixed(*x as f32);
            quote!(#lit)
        }
        (Scalar::Double, Value::Int(i)) => {
            let lit = Literal::f64_suffixed(*i as f64);
            quote!(#lit)
        }
        (Scalar::Double, Value::Float(x)) => {
            let lit = Literal::f64_suffixed(*x);
            quote!(#lit)
        }
        (Scalar::Json, value) => {
            let text = value.to_json().to_string();
            quote!(::cmmv::types::json_default(#text))
        }
        // Values written as strings are parsed here, by the parsers the runtime decodes with
        // (validation refused the ones they refuse), and emitted as the values they are: no
        // parsing at start, so nothing can turn into something else there.
        (Scalar::Uuid, Value::String(s)) => match cmmv_rules::parse_uuid(s) {
            Some(uuid) => {
                let bits = Literal::u128_unsuffixed(uuid.as_u128());
                quote!(::cmmv::types::Uuid::from_u128(#bits))
            }
            None => quote!(::core::default::Default::default()),
        },
        (Scalar::Date, Value::String(s)) => match cmmv_rules::parse_date(s) {
            Some(date) => {
                let day = Literal::i32_unsuffixed(date.to_julian_day());
                quote!(::cmmv::types::Date::from_julian_day(#day))
            }
            None => quote!(::core::default::Default::default()),
        },
        (Scalar::DateTime, Value::String(s)) => match cmmv_rules::parse_date_time(s) {
            Some(at) => {
                let nanos = Literal::i128_unsuffixed(at.unix_timestamp_nanos());
                quote!(::cmmv::types::DateTime::from_unix_nanos(#nanos))
            }
            None => quote!(::core::default::Default::default()),
        },
        (Scalar::Bytes, Value::String(s)) => {
            let bytes = cmmv_rules::parse_base64(s).unwrap_or_default();
            quote!(::cmmv::types::Bytes(::std::vec![#(#bytes),*]))
        }
        (Scalar::Decimal, Value::String(s)) => quote!(::cmmv::types::Decimal::from_checked(#s)),
        (Scalar::Decimal, Value::Int(i)) => {
            let text = i.to_string();
            quote!(::cmmv::types::Decimal::from_checked(#text))
        }
        (Scalar::Decimal, Value::Float(x)) => {
            let text = x.to_string();
            quote!(::cmmv::types::Decimal::from_checked(#text))
        }
        _ => quote!(::core::default::Default::default()),
    }
}

fn enum_type(def: &EnumDef) -> TokenStream {
    let name = type_ident(&def.name);
    let docs = doc(def.description.as_deref());
    let variants: Vec<Ident> = def
        .values
        .iter()
        .map(|v| format_ident!("{}", to_pascal_case(&v.name)))
        .collect();
    let variant_docs = def.values.iter().map(|v| doc(v.description.as_deref()));
    let wire: Vec<&str> = def.values.iter().map(|v| v.name.as_str()).collect();
    let expected = format!("one of: {}", wire.join(", "));
    let enum_name = def.name.as_str();
    quote! {
        #docs
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum #name {
            #(#variant_docs #variants,)*
        }

        impl #name {
            /// Every value, as sent on the wire.
            pub const ALL: &'static [&'static str] = &[#(#wire),*];

            /// The value as sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    #(Self::#variants => #wire,)*
                }
            }
        }

        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for #name {
            type Err = ::std::string::String;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    #(#wire => ::core::result::Result::Ok(Self::#variants),)*
                    other => ::core::result::Result::Err(::std::format!("`{other}` is not a valid {}: expected {}", #enum_name, #expected)),
                }
            }
        }

        impl ::cmmv::__private::serde::Serialize for #name {
            fn serialize<S: ::cmmv::__private::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl ::cmmv::validate::FromJson for #name {
            fn from_json(
                value: &mut ::cmmv::__private::serde_json::Value,
                at: &::cmmv::validate::At<'_>,
                errors: &mut ::cmmv::validate::Errors,
            ) -> ::core::option::Option<Self> {
                ::cmmv::validate::enum_value(value, at, Self::ALL, errors).and_then(|s| s.parse().ok())
            }
        }

        impl ::cmmv::validate::Check for #name {
            fn check(&self, _rules: &::cmmv::validate::Rules, _at: &::cmmv::validate::At<'_>, _errors: &mut ::cmmv::validate::Errors) {}
        }

        impl ::cmmv::resource::ToFieldValue for #name {
            fn to_field_value(&self) -> ::cmmv::resource::FieldValue {
                ::cmmv::resource::FieldValue::Text(::std::string::String::from(self.as_str()))
            }
        }

        impl ::cmmv::sql::SqlColumn for #name {
            fn to_sql(&self) -> ::cmmv::sql::SqlValue {
                ::cmmv::sql::enum_to_sql(self.as_str())
            }

            fn from_sql(value: ::cmmv::sql::SqlValue) -> ::core::result::Result<Self, ::std::string::String> {
                ::cmmv::sql::enum_from_sql(value)
            }
        }
    }
}

/// `impl SqlColumn` for a message, stored as JSON where a field holds one.
fn json_column_impl(ident: &Ident) -> TokenStream {
    quote! {
        impl ::cmmv::sql::SqlColumn for #ident {
            fn to_sql(&self) -> ::cmmv::sql::SqlValue {
                ::cmmv::sql::json_to_sql(self)
            }

            fn from_sql(value: ::cmmv::sql::SqlValue) -> ::core::result::Result<Self, ::std::string::String> {
                ::cmmv::sql::json_from_sql(value)
            }
        }
    }
}

/// `impl Check`: each field with constraints (or of a type with constraints of its own) is
/// checked under its JSON Pointer, by the rules [`rules_statics`] declared for `owner`.
fn check_impl(ident: &Ident, owner: &str, fields: &[Field]) -> TokenStream {
    let checks: Vec<TokenStream> = fields
        .iter()
        .filter(|f| needs_check(f))
        .map(|field| {
            let member = ident_member(&field.name);
            let key = field.name.as_str();
            let rules = if has_rules(field) {
                let name = rules_ident(owner, &field.name, "RULES");
                quote!(#name)
            } else {
                quote!(::cmmv::validate::Rules::NONE)
            };
            quote! {
                ::cmmv::validate::Check::check(&self.#member, &#rules, &at.key(#key), errors);
            }
        })
        .collect();
    let (at, errors) = if checks.is_empty() {
        (quote!(_at), quote!(_errors))
    } else {
        (quote!(at), quote!(errors))
    };
    quote! {
        impl ::cmmv::validate::Check for #ident {
            fn check(&self, _rules: &::cmmv::validate::Rules, #at: &::cmmv::validate::At<'_>, #errors: &mut ::cmmv::validate::Errors) {
                #(#checks)*
            }
        }
    }
}

fn ident_member(name: &str) -> Ident {
    member_ident(name)
}

/// Whether checking a field can find anything: it has constraints, or its type has fields.
fn needs_check(field: &Field) -> bool {
    has_rules(field) || matches!(field.ty.element(), Type::Named(_))
}

fn has_rules(field: &Field) -> bool {
    !field.constraints.is_empty() || !field.item_constraints.is_empty()
}

/// The static of one of `owner`'s fields: `TASK_TITLE_RULES`, `TASK_TAGS_ITEMS`,
/// `TASK_CODE_PATTERN`. Contract, message and query names are unique in a project, so these
/// are too.
fn rules_ident(owner: &str, field: &str, what: &str) -> Ident {
    format_ident!(
        "{}_{}_{what}",
        to_screaming_snake_case(owner),
        to_screaming_snake_case(field)
    )
}

/// The rules of each of `owner`'s fields that has any, as statics (with the compiled
/// pattern and the items' rules they point at), declared once and shared by every type that
/// carries the field. Unset rules are `Rules::NONE`'s.
fn rules_statics(owner: &str, fields: &[Field]) -> TokenStream {
    let statics = fields.iter().filter(|f| has_rules(f)).map(|field| {
        let name = rules_ident(owner, &field.name, "RULES");
        let (item_statics, items) = if field.item_constraints.is_empty() {
            (TokenStream::new(), None)
        } else {
            let items_name = rules_ident(owner, &field.name, "ITEMS");
            let pattern_name = rules_ident(owner, &field.name, "ITEM_PATTERN");
            let (pattern_static, body) = rules_body(&field.item_constraints, &pattern_name, None);
            (
                quote! {
                    #pattern_static
                    static #items_name: ::cmmv::validate::Rules = #body;
                },
                Some(quote!(&#items_name)),
            )
        };
        let pattern_name = rules_ident(owner, &field.name, "PATTERN");
        let (pattern_static, body) = rules_body(&field.constraints, &pattern_name, items);
        quote! {
            #item_statics
            #pattern_static
            static #name: ::cmmv::validate::Rules = #body;
        }
    });
    quote!(#(#statics)*)
}

/// A `Rules` literal of the constraints that are set (the others are `Rules::NONE`'s), and
/// the static of its compiled pattern when it has one.
fn rules_body(
    c: &Constraints,
    pattern_name: &Ident,
    items: Option<TokenStream>,
) -> (TokenStream, TokenStream) {
    fn some(value: &TokenStream) -> TokenStream {
        quote!(::core::option::Option::Some(#value))
    }
    let mut set: Vec<TokenStream> = Vec::new();
    let mut pattern_static = TokenStream::new();
    let lengths = [("min_length", c.min_length), ("max_length", c.max_length)];
    let counts = [("min_items", c.min_items), ("max_items", c.max_items)];
    for (key, value) in lengths.into_iter().chain(counts) {
        if let Some(value) = value {
            let key = format_ident!("{key}");
            let value = some(&Literal::u64_suffixed(value).into_token_stream());
            set.push(quote!(#key: #value));
        }
    }
    let bounds = [
        ("minimum", c.minimum),
        ("maximum", c.maximum),
        ("exclusive_minimum", c.exclusive_minimum),
        ("exclusive_maximum", c.exclusive_maximum),
        ("multiple_of", c.multiple_of),
    ];
    for (key, value) in bounds {
        if let Some(value) = value {
            let key = format_ident!("{key}");
            let value = some(&Literal::f64_suffixed(value).into_token_stream());
            set.push(quote!(#key: #value));
        }
    }
    if let Some(source) = &c.pattern {
        pattern_static = quote!(static #pattern_name: ::cmmv::validate::LazyRegex = ::cmmv::validate::LazyRegex::new(#source););
        let value = some(&quote!(&#pattern_name));
        set.push(quote!(pattern: #value));
    }
    if let Some(format) = c.format {
        let variant = format_ident!("{}", to_pascal_case(format.name()));
        let value = some(&quote!(::cmmv::validate::Format::#variant));
        set.push(quote!(format: #value));
    }
    if c.unique_items {
        set.push(quote!(unique_items: true));
    }
    if let Some(items) = items {
        let value = some(&items);
        set.push(quote!(items: #value));
    }
    (
        pattern_static,
        quote! {
            ::cmmv::validate::Rules { #(#set,)* ..::cmmv::validate::Rules::NONE }
        },
    )
}

/// An auth policy as the runtime's `cmmv::auth::Access`.
fn access(policy: &AuthPolicy) -> TokenStream {
    match policy {
        AuthPolicy::Public => quote!(::cmmv::auth::Access::Public),
        AuthPolicy::Authenticated => quote!(::cmmv::auth::Access::Authenticated),
        AuthPolicy::Roles { roles, mode } => {
            let roles = roles.iter();
            match mode {
                RoleMode::Any => quote!(::cmmv::auth::Access::AnyRole(&[#(#roles),*])),
                RoleMode::All => quote!(::cmmv::auth::Access::AllRoles(&[#(#roles),*])),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Issue 16: defaults written as strings are emitted as the values the runtime's parsers
    /// make of them, not as text parsed at start (where a failure used to become a default
    /// value silently).
    #[test]
    fn defaults_are_emitted_as_typed_values() {
        let mut input = crate::Input::default();
        input.add_contract(
            "contracts/event.yaml",
            "contract: Event\nfields:\n  id: { type: uuid, primary: true }\n  at: { type: datetime, default: \"1970-01-01T00:00:01.5+01:00\" }\n  day: { type: date, default: \"2000-01-01\" }\n  owner: { type: uuid, default: \"00000000-0000-0000-0000-00000000002a\" }\n  blob: { type: bytes, default: \"aGk=\" }\n  price: { type: decimal, default: \"12.50\" }\n",
        );
        let (project, diags) = crate::lower_and_validate(&input);
        assert!(diags.is_empty(), "{:?}", diags.into_sorted());
        let tokens = super::emit_contract(&project, &project.contracts["Event"]).to_string();
        // One hour before the epoch plus one and a half seconds.
        assert!(
            tokens.contains(":: cmmv :: types :: DateTime :: from_unix_nanos (- 3598500000000)"),
            "{tokens}"
        );
        assert!(
            tokens.contains(":: cmmv :: types :: Date :: from_julian_day (2451545)"),
            "{tokens}"
        );
        assert!(
            tokens.contains(":: cmmv :: types :: Uuid :: from_u128 (42)"),
            "{tokens}"
        );
        assert!(
            tokens.contains(":: cmmv :: types :: Bytes (:: std :: vec ! [104u8 , 105u8])"),
            "{tokens}"
        );
        assert!(
            tokens.contains(":: cmmv :: types :: Decimal :: from_checked (\"12.50\")"),
            "{tokens}"
        );
        assert!(!tokens.contains("parse_default"), "{tokens}");
    }
}
