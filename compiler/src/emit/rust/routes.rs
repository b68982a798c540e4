//! The handler trait of a contract, its query structs and its axum routes, each operation
//! mounted with its limits and guard.

use super::*;

impl ContractEmitter<'_> {
    pub(super) fn query_struct(&self, resolved: &OperationApi<'_>) -> TokenStream {
        let op = resolved.operation;
        let query_owner = resolved.query_struct.as_deref().unwrap_or_default();
        let name = type_ident(query_owner);
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
        let query_rules = rules_statics(query_owner, &op.query);
        let check = check_impl(&name, query_owner, &op.query);
        quote! {
            #[doc = #docs]
            #[derive(Debug, Clone, PartialEq)]
            pub struct #name {
                #(#members,)*
            }

            impl ::cmmv::extract::FromQuery for #name {
                const NAMES: &'static [&'static str] = &[#(#names),*];

                fn from_query(reader: &mut ::cmmv::__private::QueryReader<'_>) -> ::core::option::Option<Self> {
                    #(#reads)*
                    ::core::option::Option::Some(Self { #(#assigns,)* })
                }
            }

            #query_rules
            #check
        }
    }

    pub(super) fn handlers_trait(&self) -> TokenStream {
        let contract = self.contract;
        let trait_name = type_ident(&self.resolved.handlers_trait);
        let resource = type_ident(&contract.name);
        let store_fn = format_ident!("{}_store", to_snake_case(&contract.name));
        let docs = format!(
            "The operations of `{}`. CRUD methods default to the repository from [`{}::{}`]; custom operations are yours to write.",
            contract.name, self.resolved.handlers_trait, store_fn
        );
        let key_ty = contract
            .primary_key()
            .map_or_else(|| quote!(()), |pk| rust_type(&pk.ty));
        let (input, patch) = (
            type_ident(&self.resolved.input.name),
            type_ident(&self.resolved.patch.name),
        );
        let methods = self.resolved.operations.iter().map(|resolved| {
            let op = resolved.operation;
            let method = member_ident(&op.name);
            let docs = doc(op.summary.as_deref().or(op.description.as_deref()));
            let result = self.result_type(op);
            let future = quote!(impl ::core::future::Future<Output = ::core::result::Result<#result, ::cmmv::Problem>> + ::core::marker::Send);
            match op.crud() {
                Some(CrudKind::List) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, query: ::cmmv::store::ListQuery) -> #future {
                        ::cmmv::crud::list_for(self.#store_fn(), ctx, query)
                    }
                },
                Some(CrudKind::Get) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, id: #key_ty) -> #future {
                        ::cmmv::crud::get_for(self.#store_fn(), ctx, id)
                    }
                },
                Some(CrudKind::Create) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, input: #input) -> #future {
                        ::cmmv::crud::create_for(self.#store_fn(), ctx, input)
                    }
                },
                Some(CrudKind::Update) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, id: #key_ty, input: #input) -> #future {
                        ::cmmv::crud::replace_for(self.#store_fn(), ctx, id, input)
                    }
                },
                Some(CrudKind::Patch) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, id: #key_ty, patch: #patch) -> #future {
                        ::cmmv::crud::patch_for(self.#store_fn(), ctx, id, patch)
                    }
                },
                Some(CrudKind::Delete) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context, id: #key_ty) -> #future {
                        ::cmmv::crud::delete_for(self.#store_fn(), ctx, id)
                    }
                },
                Some(CrudKind::Me) => quote! {
                    #docs
                    fn #method(&self, ctx: ::cmmv::Context) -> #future {
                        ::cmmv::crud::me_for(self.#store_fn(), ctx)
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
        let store = if self.has_store() {
            quote! {
                /// The repository of the default CRUD methods.
                fn #store_fn(&self) -> &::cmmv::Store<#resource>;
            }
        } else {
            TokenStream::new()
        };
        let docs = if self.has_store() {
            docs
        } else {
            format!("The operations of `{}`.", contract.name)
        };
        quote! {
            #[doc = #docs]
            pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
                #store

                #(#methods)*
            }
        }
    }

    /// The parameters a custom operation's handler takes after the context.
    pub(super) fn custom_params(&self, op: &Operation) -> Vec<(Ident, TokenStream)> {
        let mut params: Vec<(Ident, TokenStream)> = op
            .path_params
            .iter()
            .map(|p| (member_ident(&p.name), rust_type(&p.ty)))
            .collect();
        if let Some(query) = &self.op(op).query_struct {
            let name = type_ident(query);
            params.push((format_ident!("query"), quote!(#name)));
        }
        if op.cookies.iter().any(|c| c.sent) {
            params.push((format_ident!("cookies"), quote!(::cmmv::extract::Cookies)));
        }
        if let Some(body) = &op.request {
            params.push((format_ident!("body"), self.body_type(&body.ty)));
        }
        params
    }

    pub(super) fn body_type(&self, ty: &BodyType) -> TokenStream {
        match ty {
            BodyType::Named(name) => {
                let name = type_ident(name);
                quote!(#name)
            }
            BodyType::List(name) => {
                let name = type_ident(name);
                quote!(::std::vec::Vec<#name>)
            }
            BodyType::Derived(DerivedBody::Page) => {
                let resource = type_ident(&self.contract.name);
                quote!(::cmmv::Page<#resource>)
            }
            BodyType::Derived(derived) => {
                let name = type_ident(self.resolved.derived_name(*derived));
                quote!(#name)
            }
        }
    }

    pub(super) fn result_type(&self, op: &Operation) -> TokenStream {
        if op.redirect {
            return quote!(::cmmv::Redirect);
        }
        if !op.alternatives.is_empty() {
            let name = reply_enum_ident(self.contract, op);
            return quote!(#name);
        }
        match &op.response {
            Some(body) => self.body_type(&body.ty),
            None => quote!(()),
        }
    }

    /// The answers of each operation that has several successes: one variant per status,
    /// named after it (`Created`, `Accepted`), holding the body of that answer.
    pub(super) fn reply_enums(&self) -> TokenStream {
        let enums = self
            .contract
            .operations_in_order()
            .into_iter()
            .filter(|op| !op.alternatives.is_empty())
            .map(|op| {
                let name = reply_enum_ident(self.contract, op);
                let docs = format!(
                    "The successful answers of `{}.{}`, one per status.",
                    self.contract.name, op.name
                );
                let variants = op.replies().into_iter().map(|reply| {
                    let variant = status_variant(reply.status);
                    let docs = doc(Some(&match &reply.description {
                        Some(text) => format!("{}: {text}", reply.status),
                        None => format!("{}.", reply.status),
                    }));
                    match &reply.body {
                        Some(body) => {
                            let ty = self.body_type(&body.ty);
                            quote!(#docs #variant(#ty))
                        }
                        None => quote!(#docs #variant),
                    }
                });
                quote! {
                    #[doc = #docs]
                    #[derive(Debug, Clone, PartialEq)]
                    pub enum #name {
                        #(#variants,)*
                    }
                }
            });
        quote!(#(#enums)*)
    }

    /// Every operation's handler is wrapped in its rate limits and its auth guard, so that the
    /// contract's policies travel with the route: no app can mount the routes without them,
    /// and nesting the router under a prefix keeps them.
    pub(super) fn routes_fn(&self) -> TokenStream {
        let contract = self.contract;
        let trait_name = type_ident(&self.resolved.handlers_trait);
        let fn_name = format_ident!("{}_routes", to_snake_case(&contract.name));
        let resource = type_ident(&contract.name);
        let docs = format!(
            "The axum routes of `{}`, every version, with `handlers` as state.",
            contract.name
        );
        let handlers = self
            .resolved
            .operations
            .iter()
            .map(|op| self.route_handler(op.operation, &trait_name, &resource));
        let mut by_path: BTreeMap<String, Vec<TokenStream>> = BTreeMap::new();
        // One constant per policy (by id: one budget), however many operations draw on it.
        let mut limits: Vec<TokenStream> = Vec::new();
        let mut constants: BTreeMap<String, Ident> = BTreeMap::new();
        let mut deprecations: BTreeMap<String, (Ident, TokenStream)> = BTreeMap::new();
        for resolved in &self.resolved.operations {
            let op = resolved.operation;
            let handler = format_ident!("{}_handler", op.name);
            let method = format_ident!("{}", op.method.lowercase());
            let names: Vec<Ident> = operation_policies(contract, resolved, self.named_policies)
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
            for route in resolved.served_routes() {
                let access = access(resolved.auth);
                let mounted = quote!(::cmmv::operation(#handler::<H>, #access, #limit));
                // A deprecated route announces it on every answer, and past its sunset is gone.
                let deprecation = self.project.deprecation_of(contract, op, route.version);
                let mounted = if op.deprecated || deprecation.is_some() {
                    let operation = format!("{}.{}", contract.name, op.name);
                    let some = |v: Option<i64>| match v {
                        Some(v) => quote!(::core::option::Option::Some(#v)),
                        None => quote!(::core::option::Option::None),
                    };
                    let since = some(deprecation.and_then(|d| d.since));
                    let sunset = some(deprecation.and_then(|d| d.sunset));
                    let link = match deprecation.and_then(|d| d.link.as_deref()) {
                        Some(link) => quote!(::core::option::Option::Some(#link)),
                        None => quote!(::core::option::Option::None),
                    };
                    let value = quote! {
                        ::cmmv::deprecation::Deprecation {
                            operation: #operation,
                            since: #since,
                            sunset: #sunset,
                            link: #link,
                        }
                    };
                    // One constant per distinct deprecation, however many versions serve it.
                    let taken = deprecations.len();
                    let name = deprecations
                        .entry(value.to_string())
                        .or_insert_with(|| {
                            let name = format_ident!("DEPRECATION_{taken}");
                            (
                                name.clone(),
                                quote!(const #name: ::cmmv::deprecation::Deprecation = #value;),
                            )
                        })
                        .0
                        .clone();
                    quote!(::cmmv::deprecation::announce(#mounted, &#name))
                } else {
                    mounted
                };
                by_path
                    .entry(route.path.clone())
                    .or_default()
                    .push(quote!(#method(#mounted)));
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
        let mut deprecations: Vec<(Ident, TokenStream)> = deprecations.into_values().collect();
        deprecations.sort_by_key(|(name, _)| name.to_string());
        let deprecations = deprecations.into_iter().map(|(_, item)| item);
        quote! {
            #[doc = #docs]
            pub fn #fn_name<H: #trait_name>(handlers: ::std::sync::Arc<H>) -> ::cmmv::__private::axum::Router {
                use ::cmmv::__private::axum::extract::State;

                #(#limits)*

                #(#deprecations)*

                #(#handlers)*

                ::cmmv::__private::axum::Router::new()
                    #(#routes)*
                    .with_state(handlers)
            }
        }
    }

    /// The axum handler of one operation: extract, call the trait method, respond.
    pub(super) fn route_handler(
        &self,
        op: &Operation,
        trait_name: &Ident,
        resource: &Ident,
    ) -> TokenStream {
        let handler = format_ident!("{}_handler", op.name);
        let method = member_ident(&op.name);
        let state = quote!(State(handlers): State<::std::sync::Arc<H>>);
        let ctx = quote!(ctx: ::cmmv::Context);
        let result = quote!(::core::result::Result<::cmmv::__private::axum::response::Response, ::cmmv::Problem>);
        let key = quote!(<#resource as ::cmmv::resource::Resource>::Key);
        let status = op.status;
        match op.crud() {
            Some(CrudKind::List) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, params: ::cmmv::list::ListParams<#resource>) -> #result {
                    let (query, reply) = params.into_parts();
                    let page = <H as #trait_name>::#method(&handlers, ctx, query).await?;
                    ::core::result::Result::Ok(reply.respond(#status, page))
                }
            },
            Some(CrudKind::Get) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, path: ::cmmv::extract::PathParams) -> #result {
                    let id = ::cmmv::__private::path_key::<#key>(path.raw("id"))?;
                    let item = <H as #trait_name>::#method(&handlers, ctx, id).await?;
                    ::core::result::Result::Ok(::cmmv::__private::json(#status, item))
                }
            },
            Some(CrudKind::Create) => {
                let input = type_ident(&self.resolved.input.name);
                quote! {
                    async fn #handler<H: #trait_name>(
                        #state,
                        #ctx,
                        uri: ::cmmv::__private::axum::extract::OriginalUri,
                        ::cmmv::extract::JsonBody(input): ::cmmv::extract::JsonBody<#input>,
                    ) -> #result {
                        let item = <H as #trait_name>::#method(&handlers, ctx, input).await?;
                        ::core::result::Result::Ok(::cmmv::__private::axum::response::IntoResponse::into_response(
                            ::cmmv::Created::resource(uri.path(), item),
                        ))
                    }
                }
            }
            Some(kind @ (CrudKind::Update | CrudKind::Patch)) => {
                let body = if kind == CrudKind::Update {
                    type_ident(&self.resolved.input.name)
                } else {
                    type_ident(&self.resolved.patch.name)
                };
                quote! {
                    async fn #handler<H: #trait_name>(
                        #state,
                        #ctx,
                        path: ::cmmv::extract::PathParams,
                        ::cmmv::extract::JsonBody(body): ::cmmv::extract::JsonBody<#body>,
                    ) -> #result {
                        let id = ::cmmv::__private::path_key::<#key>(path.raw("id"))?;
                        let item = <H as #trait_name>::#method(&handlers, ctx, id, body).await?;
                        ::core::result::Result::Ok(::cmmv::__private::json(#status, item))
                    }
                }
            }
            Some(CrudKind::Me) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx) -> #result {
                    let item = <H as #trait_name>::#method(&handlers, ctx).await?;
                    ::core::result::Result::Ok(::cmmv::__private::json(#status, item))
                }
            },
            Some(CrudKind::Delete) => quote! {
                async fn #handler<H: #trait_name>(#state, #ctx, path: ::cmmv::extract::PathParams) -> #result {
                    let id = ::cmmv::__private::path_key::<#key>(path.raw("id"))?;
                    <H as #trait_name>::#method(&handlers, ctx, id).await?;
                    ::core::result::Result::Ok(::cmmv::__private::no_content())
                }
            },
            None => self.custom_handler(op, trait_name, &handler, &method),
        }
    }

    pub(super) fn custom_handler(
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
                parse.push(quote!(let #var = path.get::<#ty>(#name)?;));
                args.push(quote!(#var));
            }
        }
        if let Some(query) = &self.op(op).query_struct {
            let query = type_ident(query);
            extractors.push(quote!(::cmmv::extract::Query(query): ::cmmv::extract::Query<#query>));
            args.push(quote!(query));
        } else {
            extractors.push(quote!(_query: ::cmmv::extract::Query<::cmmv::extract::NoQuery>));
        }
        if op.cookies.iter().any(|c| c.sent) {
            extractors.push(quote!(cookies: ::cmmv::extract::Cookies));
            args.push(quote!(cookies));
        }
        if let Some(body) = &op.request {
            let ty = self.body_type(&body.ty);
            extractors
                .push(quote!(::cmmv::extract::JsonBody(body): ::cmmv::extract::JsonBody<#ty>));
            args.push(quote!(body));
        }
        let status = op.status;
        let call = quote!(<H as #trait_name>::#method(&handlers, ctx #(, #args)*).await?);
        let (result, response) = if op.redirect {
            (
                quote!(let redirect = #call;),
                quote!(::cmmv::__private::redirect(#status, redirect)),
            )
        } else if !op.alternatives.is_empty() {
            let name = reply_enum_ident(self.contract, op);
            let arms = op.replies().into_iter().map(|reply| {
                let variant = status_variant(reply.status);
                let status = reply.status;
                match reply.body {
                    Some(_) => {
                        quote!(#name::#variant(body) => ::cmmv::__private::json(#status, body))
                    }
                    None => {
                        let empty = empty_answer(status);
                        quote!(#name::#variant => #empty)
                    }
                }
            });
            (
                quote!(let reply = #call;),
                quote!(match reply { #(#arms,)* }),
            )
        } else if op.response.is_some() {
            (
                quote!(let result = #call;),
                quote!(::cmmv::__private::json(#status, result)),
            )
        } else {
            (quote!(#call;), empty_answer(status))
        };
        let response = if op.no_store {
            quote!(::cmmv::__private::no_store(#response))
        } else {
            response
        };
        let respond = quote! {
            #result
            ::core::result::Result::Ok(#response)
        };
        quote! {
            async fn #handler<H: #trait_name>(#(#extractors),*) -> ::core::result::Result<::cmmv::__private::axum::response::Response, ::cmmv::Problem> {
                #(#parse)*
                #respond
            }
        }
    }
}

/// An answer without a body: `204 No Content`, or the operation's own status.
fn empty_answer(status: u16) -> TokenStream {
    if status == 204 {
        quote!(::cmmv::__private::no_content())
    } else {
        quote!(::cmmv::__private::empty(#status))
    }
}

/// The enum of an operation's successful answers: `AccountRegisterReply`.
fn reply_enum_ident(contract: &Contract, op: &Operation) -> Ident {
    format_ident!("{}{}Reply", contract.name, to_pascal_case(&op.name))
}

/// The variant of a success status: its reason phrase (`201` -> `Created`).
fn status_variant(status: u16) -> Ident {
    match status {
        200 => format_ident!("Ok"),
        201 => format_ident!("Created"),
        202 => format_ident!("Accepted"),
        203 => format_ident!("NonAuthoritativeInformation"),
        204 => format_ident!("NoContent"),
        205 => format_ident!("ResetContent"),
        206 => format_ident!("PartialContent"),
        other => format_ident!("Status{}", other),
    }
}
