//! The `PROTOBUF` table of `rust/mod.rs`: for each operation, the messages its requests and
//! replies travel as over protobuf REST and gRPC, and the rpc that reaches it; for each enum,
//! its proto value names. The messages themselves are not generated as Rust: the runtime decodes
//! and encodes them through the descriptor set compiled from the emitted `.proto` files, which
//! this table names into (`proto/descriptor.binpb`), so one transcoder serves every contract.

use proc_macro2::TokenStream;
use quote::quote;

use crate::api::{Api, OperationApi};
use crate::ir::{
    BodyType, CrudKind, Field, proto_enum_value_name, to_pascal_case, to_screaming_snake_case,
};

/// `None` without the proto target (there is no descriptor set to serve them with).
pub(super) fn table(api: &Api<'_>, proto: bool) -> TokenStream {
    if !proto {
        return quote!(::core::option::Option::None);
    }
    let package = api.project.api.proto_package.as_str();
    let full = |name: &str| format!("{package}.{name}");
    // A runtime module's contract (the login module's) is documented but has no proto file:
    // its routes are REST only.
    let emitted = || {
        api.contracts
            .iter()
            .filter(|c| c.contract.provided_by.is_none())
    };
    let operations = emitted().flat_map(|resolved| {
        let service = full(&resolved.service);
        resolved
            .operations
            .iter()
            .map(move |op_api| operation(op_api, &resolved.contract.name, &service, &full))
    });
    let enums = emitted()
        .flat_map(|resolved| resolved.contract.enums.values())
        .map(|def| {
            let name = full(&def.name);
            let prefix = to_screaming_snake_case(&def.name);
            let values = def.values.iter().map(|value| {
                let proto = proto_enum_value_name(&prefix, &value.name);
                let json = value.name.as_str();
                quote!((#proto, #json))
            });
            quote!((#name, &[#(#values),*]))
        });
    // A required field that may be `null` is `optional` in proto3 like a field that may be
    // absent: these are the ones whose absence means `null`, by message. Patch messages are
    // not among them: there an absent field is one left unchanged.
    let required_null = |f: &&Field| f.nullable && !f.optional && f.default.is_none();
    let nulls: Vec<String> = emitted()
        .flat_map(|resolved| {
            let contract = resolved.contract;
            let own = contract
                .fields
                .iter()
                .filter(required_null)
                .flat_map(move |f| {
                    [
                        full(&format!("{}.{}", contract.name, f.name)),
                        full(&format!("{}Input.{}", contract.name, f.name)),
                    ]
                });
            let messages = contract.messages.values().flat_map(move |m| {
                m.fields
                    .iter()
                    .filter(required_null)
                    .map(move |f| full(&format!("{}.{}", m.name, f.name)))
            });
            own.chain(messages).collect::<Vec<_>>()
        })
        .collect();
    quote! {
        ::core::option::Option::Some(::cmmv::protobuf::Protobuf {
            descriptor: include_bytes!("../proto/descriptor.binpb"),
            operations: &[#(#operations),*],
            enums: &[#(#enums),*],
            nulls: &[#(#nulls),*],
        })
    }
}

fn operation(
    op_api: &OperationApi<'_>,
    contract: &str,
    service: &str,
    full: &dyn Fn(&str) -> String,
) -> TokenStream {
    let op = op_api.operation;
    let rpc = format!("/{service}/{}", to_pascal_case(&op.name));
    let request = full(&op_api.request_message);
    let method = op.method.as_str();
    let routes = op_api.served_routes().map(|route| route.path.as_str());
    // A body the HTTP API sends as one JSON object is one message; a JSON array has no message
    // of its own, so it travels as the `items` of the operation's wrapper.
    let body_message = |ty: &BodyType| match ty {
        BodyType::Named(name) => Some(full(name)),
        BodyType::Derived(derived) => Some(full(&derived.type_name(contract))),
        BodyType::List(_) => None,
    };
    let takes_body = op.request.is_some();
    let body = match op.request.as_ref().and_then(|body| body_message(&body.ty)) {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let (reply, items) = match (&op.response, &op_api.response_message) {
        (Some(_), Some(wrapper)) => (full(wrapper), true),
        (Some(body), None) => (body_message(&body.ty).unwrap_or_default(), false),
        (None, _) => ("google.protobuf.Empty".to_owned(), false),
    };
    let list = op.crud() == Some(CrudKind::List);
    let status = op.status;
    quote! {
        ::cmmv::protobuf::ProtoOperation {
            rpc: #rpc,
            method: #method,
            routes: &[#(#routes),*],
            request: #request,
            takes_body: #takes_body,
            body: #body,
            reply: #reply,
            status: #status,
            items: #items,
            list: #list,
        }
    }
}
