//! IR -> Rust: the types, validation, handler trait and axum routes of every contract.
//!
//! The generated code is deliberately thin: it lists fields, their rules and their routes, and
//! calls the runtime crate `cmmv` (always by absolute path) for everything else — decoding,
//! validation, CRUD over the repository, responses and errors. Tokens are built with `quote!`;
//! they are formatted only when written (`output::format_rust_files`).

mod policy;
mod protobuf;
mod resource;
mod routes;
mod rules;
mod types;

use std::collections::BTreeMap;
use std::path::PathBuf;

use proc_macro2::{Ident, Literal, Span as TokenSpan, TokenStream};
use quote::{ToTokens as _, format_ident, quote};

use crate::api::{Api, ContractApi, OperationApi};
use crate::diag::{SourceMap, display_path};
use crate::ir::*;
use crate::sql::Migration;

use policy::*;
use rules::*;
use types::*;

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
    api: &Api<'_>,
    migrations: &[Migration],
    sources: &SourceMap,
    origin: &str,
    proto: bool,
) -> Vec<RustFile> {
    let mut files: Vec<RustFile> = api
        .contracts
        .iter()
        .filter(|resolved| is_generated(sources, resolved.contract))
        .map(|resolved| RustFile {
            path: PathBuf::from(format!(
                "rust/{}.rs",
                to_snake_case(&resolved.contract.name)
            )),
            origin: display_path(sources.name(resolved.contract.file)),
            tokens: ContractEmitter::new(api.project, resolved, NamedPolicies::Inline).file(),
        })
        .collect();
    files.push(RustFile {
        path: PathBuf::from("rust/mod.rs"),
        origin: origin.to_owned(),
        tokens: module_file(api, migrations, sources, proto),
    });
    files
}

/// The items of a runtime module's contract, as the runtime holds them (`cmmv::auth::contract`
/// for the login module): what a project's file for it would hold, without a repository.
pub fn emit_module(api: &Api<'_>, module: Module) -> Option<RustFile> {
    let resolved = api
        .contracts
        .iter()
        .find(|resolved| resolved.contract.provided_by == Some(module))?;
    Some(RustFile {
        path: PathBuf::from(format!("rust/{}.rs", module.name())),
        origin: module.file_name().to_owned(),
        tokens: ContractEmitter::new(api.project, resolved, NamedPolicies::Inline).file(),
    })
}

// ---- #[contract] macro entry point (issue 7) -------------------------------------------------

/// The items of one contract, for the `#[contract]` macro: what `rust/<contract>.rs` holds for
/// a YAML contract (no `@generated` header, not formatted: the tokens go straight to rustc).
pub fn emit_contract(project: &Project, contract: &Contract) -> TokenStream {
    let resolved = ContractApi::resolve(project, contract);
    // A macro cannot read `cmmv.yaml`: its named policies are stand-ins.
    ContractEmitter::new(project, &resolved, NamedPolicies::ByName).file()
}

/// Whether the project's generated code holds a contract's items: not when its `#[contract]`
/// macro expands them, nor when a runtime module provides them.
fn is_generated(sources: &SourceMap, contract: &Contract) -> bool {
    contract.provided_by.is_none() && !expanded_by_macro(sources, contract)
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

fn module_file(
    api: &Api<'_>,
    migrations: &[Migration],
    sources: &SourceMap,
    proto: bool,
) -> TokenStream {
    let includes = api
        .contracts
        .iter()
        .map(|resolved| resolved.contract)
        .filter(|c| is_generated(sources, c))
        .map(|c| {
            let file = format!("{}.rs", to_snake_case(&c.name));
            quote!(include!(#file);)
        });
    let documents = api.versions.iter().map(|&version| {
        let json = format!("../openapi/v{version}.json");
        let yaml = format!("../openapi/v{version}.yaml");
        let version = Literal::u32_unsuffixed(version);
        quote!((#version, include_str!(#json), include_str!(#yaml)))
    });
    // A module's routes are the runtime's, mounted (and checked) with the module.
    let project_contracts = || {
        api.contracts
            .iter()
            .filter(|resolved| resolved.contract.provided_by.is_none())
    };
    let routes = project_contracts()
        .flat_map(|resolved| &resolved.operations)
        .flat_map(OperationApi::served_routes)
        .map(|route| {
            let (method, path) = (route.method.as_str(), route.path.as_str());
            quote!((#method, #path))
        });
    let modules = api.project.modules.iter().map(|module| module.name());
    let account = match project_contracts().find(|c| c.contract.account.is_some()) {
        Some(resolved) => {
            let name = resolved.contract.name.as_str();
            quote!(::core::option::Option::Some(#name))
        }
        None => quote!(::core::option::Option::None),
    };
    let versioning = {
        let v = &api.project.api.versioning;
        let text = |t: Option<&str>| match t {
            Some(t) => quote!(::core::option::Option::Some(#t)),
            None => quote!(::core::option::Option::None),
        };
        let uri = v.uri;
        let header = text(v.header.as_deref());
        let media_type = text(v.media_type.as_deref());
        let default = match &v.default {
            Some(d) => {
                let d = d.value;
                quote!(::core::option::Option::Some(#d))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            ::cmmv::versioning::Versioning {
                uri: #uri,
                header: #header,
                media_type: #media_type,
                default: #default,
            }
        }
    };
    let wiring = wiring(api, sources);
    let protobuf = protobuf::table(api, proto);
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
    let rate_limits = project_contracts().flat_map(|resolved| {
        resolved.operations.iter().flat_map(move |op| {
            let policies: Vec<TokenStream> =
                operation_policies(resolved.contract, op, NamedPolicies::Inline)
                    .into_iter()
                    .map(|(_, policy)| policy)
                    .collect();
            // Unlimited routes are absent from the table.
            let routes: Vec<&crate::api::Route> = if policies.is_empty() {
                Vec::new()
            } else {
                op.served_routes().collect()
            };
            routes.into_iter().map(move |route| {
                let (method, path) = (route.method.as_str(), route.path.as_str());
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

        /// The runtime's modules the documents describe (`modules:` in `cmmv.yaml`): the app
        /// must mount each, and only these.
        pub const MODULES: &[&str] = &[#(#modules),*];

        /// The contract bound to the login module's accounts (`account:`), if one is.
        pub const ACCOUNT: ::core::option::Option<&str> = #account;

        /// How requests name their API version (`versioning:` in `cmmv.yaml`).
        pub const VERSIONING: ::cmmv::versioning::Versioning = #versioning;

        #wiring

        /// How each operation travels as protobuf (REST bodies and gRPC), with the descriptor
        /// set compiled from the emitted `.proto` files; `None` without the proto target.
        pub const PROTOBUF: ::core::option::Option<::cmmv::protobuf::Protobuf> = #protobuf;

        /// All of the above, for `cmmv::AppBuilder::api`.
        pub const API: ::cmmv::Api = ::cmmv::Api {
            openapi: OPENAPI,
            routes: ROUTES,
            rate_limits: RATE_LIMITS,
            migrations: MIGRATIONS,
            modules: MODULES,
            account: ACCOUNT,
            versioning: VERSIONING,
            protobuf: PROTOBUF,
        };
    }
}

/// What a service would otherwise write by hand for every contract this module holds: a store
/// each (`Stores`, in memory or in a database), and every router merged (`routes`). A contract
/// without custom operations is served by `Stores` itself; one with them by the service's own
/// type, which implements its `*Handlers` trait.
fn wiring(api: &Api<'_>, sources: &SourceMap) -> TokenStream {
    let contracts: Vec<&ContractApi<'_>> = api
        .contracts
        .iter()
        .filter(|resolved| is_generated(sources, resolved.contract))
        .collect();
    if contracts.is_empty() {
        return TokenStream::new();
    }
    let field = |c: &ContractApi<'_>| member_ident(&to_snake_case(&c.contract.name));
    let fields = contracts.iter().map(|c| {
        let (field, ty) = (field(c), type_ident(&c.contract.name));
        let doc = format!("The store of `{}`.", c.contract.name);
        quote!(#[doc = #doc] pub #field: ::cmmv::Store<#ty>)
    });
    let in_memory = contracts.iter().map(|c| {
        let field = field(c);
        quote!(#field: ::cmmv::MemoryStore::shared())
    });
    let in_database = contracts.iter().map(|c| {
        let field = field(c);
        quote!(#field: db.store())
    });
    let served_by_stores = contracts
        .iter()
        .filter(|c| c.contract.operations.values().all(|op| op.crud().is_some()))
        .map(|c| {
            let (field, ty) = (field(c), type_ident(&c.contract.name));
            let handlers = type_ident(&c.handlers_trait);
            let store_fn = format_ident!("{}_store", to_snake_case(&c.contract.name));
            quote! {
                impl #handlers for Stores {
                    fn #store_fn(&self) -> &::cmmv::Store<#ty> {
                        &self.#field
                    }
                }
            }
        });
    let accounts = contracts
        .iter()
        .find(|c| c.contract.account.is_some())
        .map(|c| {
            let (field, ty) = (field(c), type_ident(&c.contract.name));
            quote! {
                impl Stores {
                    /// The store of the accounts' records, for the login module
                    /// (`cmmv::auth::Login::with_records`, `cmmv::service::Service::accounts`).
                    pub fn accounts(&self) -> ::std::sync::Arc<dyn ::cmmv::auth::AccountRecords> {
                        ::std::sync::Arc::new(::cmmv::auth::ContractAccounts::<#ty>::new(
                            ::std::sync::Arc::clone(&self.#field),
                        ))
                    }
                }
            }
        });
    let bounds = contracts.iter().map(|c| type_ident(&c.handlers_trait));
    // The last router takes `handlers` itself: the others a clone each.
    let last = contracts.len() - 1;
    let merges = contracts.iter().enumerate().map(|(i, c)| {
        let routes = format_ident!("{}_routes", to_snake_case(&c.contract.name));
        if i == last {
            quote!(.merge(#routes(handlers)))
        } else {
            quote!(.merge(#routes(::std::sync::Arc::clone(&handlers))))
        }
    });
    quote! {
        /// One store per contract.
        #[derive(Debug, Clone)]
        pub struct Stores {
            #(#fields,)*
        }

        impl Stores {
            /// Every contract in memory.
            pub fn in_memory() -> Self {
                Self { #(#in_memory,)* }
            }

            /// Every contract in the database's tables (migrated with [`MIGRATIONS`]).
            pub fn with_database(db: &::cmmv::sql::Database) -> Self {
                Self { #(#in_database,)* }
            }

            /// In the database when there is one, else in memory (`CMMV_DATABASE_URL=memory:`).
            pub fn open(db: ::core::option::Option<&::cmmv::sql::Database>) -> Self {
                match db {
                    ::core::option::Option::Some(db) => Self::with_database(db),
                    ::core::option::Option::None => Self::in_memory(),
                }
            }
        }

        #accounts

        #(#served_by_stores)*

        /// Every contract's routes, served by `handlers`.
        pub fn routes<H>(handlers: ::std::sync::Arc<H>) -> ::cmmv::__private::axum::Router
        where
            H: #(#bounds)+*,
        {
            ::cmmv::__private::axum::Router::new()
                #(#merges)*
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

/// Whether a field is held as an `Option`: absent or null are both `None`.
fn is_option(field: &Field) -> bool {
    field.optional || field.nullable
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
    /// What the contract's projections share: its bodies, names and routes.
    resolved: &'a ContractApi<'a>,
    /// The declared contract, for what only the Rust projection prints (rules, storage).
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

impl<'a> ContractEmitter<'a> {
    fn new(project: &'a Project, resolved: &'a ContractApi<'a>, named: NamedPolicies) -> Self {
        Self {
            project,
            resolved,
            contract: resolved.contract,
            named_policies: named,
        }
    }

    /// Whether the contract's items include a repository (`Store`): not for a module's
    /// contract, whose handlers are the runtime's own.
    fn has_store(&self) -> bool {
        self.contract.provided_by.is_none()
    }

    /// The resolved form of one of the contract's operations.
    fn op(&self, op: &Operation) -> &'a OperationApi<'a> {
        self.resolved.of(op)
    }

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
        let input_fields: Vec<Field> = self.resolved.input.declared().cloned().collect();
        let input_name = &self.resolved.input.name;
        let input_doc = format!(
            "What create (POST) and replace (PUT) requests send: the fields of [`{}`] that clients may set.",
            contract.name
        );
        let input = self.object(
            input_name,
            &contract.name,
            Some(&input_doc),
            &input_fields,
            Shape::Input,
        );
        // A module's contract has no repository: no create or patch bodies, no storage.
        let stored = self.has_store();
        let input = if stored { input } else { TokenStream::new() };
        let patch = if stored {
            self.patch_type()
        } else {
            TokenStream::new()
        };
        let resource_impl = if stored {
            self.resource_impl()
        } else {
            TokenStream::new()
        };
        let record_impl = if stored {
            let record = self.record_impl();
            let account = self.account_record_impl();
            quote!(#record #account)
        } else {
            TokenStream::new()
        };
        let replies = self.reply_enums();
        let queries = self
            .resolved
            .operations
            .iter()
            .filter(|op| op.query_struct.is_some())
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
            #replies
            #resource_impl
            #record_impl
            #handlers
            #routes
        }
    }
}

/// The variable a field is decoded into (`title` -> `title_value`, never a keyword).
fn ident_var(name: &str) -> Ident {
    format_ident!("{}_value", name)
}

fn ident_member(name: &str) -> Ident {
    member_ident(name)
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
