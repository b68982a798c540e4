//! The types of a contract: the resource, its input and patch bodies, messages and enums,
//! with their serde attributes, JSON decoding and typed default values.

use super::*;

impl ContractEmitter<'_> {
    /// A struct with serde serialization, decoding and validation.
    /// `owner` names the fields' rules: the contract (for the resource and its bodies, which
    /// share them) or the message.
    pub(super) fn object(
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
        let decode = self.decode_impl(&ident, owner, fields, shape);
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

    pub(super) fn decode_impl(
        &self,
        ident: &Ident,
        owner: &str,
        fields: &[Field],
        shape: Shape,
    ) -> TokenStream {
        let decodes = fields.iter().map(|field| {
            let var = ident_var(&field.name);
            let key = field.name.as_str();
            let ty = value_type(field, shape);
            let nullable = field.nullable;
            let value = match (&field.default, is_option(field)) {
                (None, false) => quote! {
                    ::cmmv::__private::required::<#ty>(map, at, #key, errors)
                },
                (None, true) => {
                    let required = !field.optional;
                    quote! {
                        ::cmmv::__private::field::<#ty>(
                            map, at, #key,
                            ::cmmv::__private::Presence { required: #required, nullable: #nullable },
                            errors,
                        )
                    }
                }
                (Some(default), false) => {
                    let default = self.value_expr(&field.ty, default);
                    quote! {
                        ::cmmv::__private::with_default::<#ty>(map, at, #key, errors, || #default)
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
                        ::cmmv::__private::patch_field::<#ty>(map, at, #key, #nullable, errors)
                            .map(|value| value.or_default_with(|| #default))
                    }
                }
            };
            quote!(let #var = #value;)
        });
        from_json_impl(ident, owner, fields.iter(), decodes)
    }

    /// A literal of the contract as a Rust expression of the field's type.
    pub(super) fn value_expr(&self, ty: &Type, value: &Value) -> TokenStream {
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

    pub(super) fn patch_type(&self) -> TokenStream {
        let contract = self.contract;
        let name = type_ident(&self.resolved.patch.name);
        let fields: Vec<&Field> = self.resolved.patch.declared().collect();
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
            quote!(let #var = ::cmmv::__private::patch_field::<#ty>(map, at, #key, #nullable, errors);)
        });
        let decode = from_json_impl(&name, &contract.name, fields.iter().copied(), decodes);
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
}

/// The Rust type of a contract type.
pub(super) fn rust_type(ty: &Type) -> TokenStream {
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

pub(super) fn field_type(field: &Field, shape: Shape) -> TokenStream {
    let ty = value_type(field, shape);
    if is_option(field) {
        quote!(::core::option::Option<#ty>)
    } else {
        ty
    }
}

/// The Rust type of one value of `field` where it is used: a resource keeps the hash of a
/// secret, bodies carry its clear text.
pub(super) fn value_type(field: &Field, shape: Shape) -> TokenStream {
    if shape == Shape::Resource && is_secret(field) {
        quote!(::cmmv::secret::SecretHash)
    } else {
        rust_type(&field.ty)
    }
}

pub(super) fn is_secret(field: &Field) -> bool {
    field.ty == Type::Scalar(Scalar::Secret)
}

/// `impl FromJson` for a struct: check the object's keys, decode each field into its variable
/// (the `decodes` statements), then build the struct, failing if any field failed.
pub(super) fn from_json_impl<'f>(
    ident: &Ident,
    owner: &str,
    fields: impl Iterator<Item = &'f Field> + Clone,
    decodes: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    let names = fields.clone().map(|f| f.name.as_str());
    let assigns = fields.clone().map(|field| {
        let name = member_ident(&field.name);
        let var = ident_var(&field.name);
        quote!(#name: #var?)
    });
    // When a field did not decode, the fields that did are checked here, as `Check` would
    // have checked them: one 422 lists a wrong type, a missing field and a too-long string
    // together. (When every field decodes, `decode_body` runs `Check` on the whole.)
    let failed: Vec<TokenStream> = fields
        .clone()
        .map(|field| {
            let var = ident_var(&field.name);
            quote!(#var.is_none())
        })
        .collect();
    let partial_checks: Vec<TokenStream> = fields
        .filter_map(|field| {
            let var = ident_var(&field.name);
            let check = field_check(owner, field, &quote!(value))?;
            Some(quote!(if let ::core::option::Option::Some(value) = &#var { #check }))
        })
        .collect();
    let partial = (!failed.is_empty() && !partial_checks.is_empty()).then(|| {
        quote! {
            if #(#failed)||* {
                #(#partial_checks)*
                return ::core::option::Option::None;
            }
        }
    });
    quote! {
        impl ::cmmv::validate::FromJson for #ident {
            fn from_json(
                value: &mut ::cmmv::__private::serde_json::Value,
                at: &::cmmv::__private::At<'_>,
                errors: &mut ::cmmv::__private::Errors,
            ) -> ::core::option::Option<Self> {
                let map = ::cmmv::__private::object(value, at, &[#(#names),*], errors)?;
                #(#decodes)*
                #partial
                ::core::option::Option::Some(Self { #(#assigns,)* })
            }
        }
    }
}

pub(super) fn scalar_expr(scalar: Scalar, value: &Value) -> TokenStream {
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

pub(super) fn enum_type(def: &EnumDef) -> TokenStream {
    let name = type_ident(&def.name);
    let docs = doc(def.description.as_deref());
    let variants: Vec<Ident> = def
        .values
        .iter()
        .map(|v| format_ident!("{}", to_pascal_case(&v.name)))
        .collect();
    let variant_docs = def.values.iter().map(|v| doc(v.description.as_deref()));
    let wire: Vec<&str> = def.values.iter().map(|v| v.name.as_str()).collect();
    let enum_name = def.name.as_str();
    // Decoding, checks, storage and filters come from the runtime's blanket impls over
    // `Enum`; only the traits of other crates are implemented here, by delegation.
    quote! {
        #docs
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum #name {
            #(#variant_docs #variants,)*
        }

        impl ::cmmv::Enum for #name {
            const NAME: &'static str = #enum_name;
            const VALUES: &'static [Self] = &[#(Self::#variants),*];
            const WIRE: &'static [&'static str] = &[#(#wire),*];
        }

        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::cmmv::Enum::as_str(*self))
            }
        }

        impl ::core::str::FromStr for #name {
            type Err = ::cmmv::types::ParseError;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                <Self as ::cmmv::Enum>::parse(s)
            }
        }

        impl ::cmmv::__private::serde::Serialize for #name {
            fn serialize<S: ::cmmv::__private::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(::cmmv::Enum::as_str(*self))
            }
        }
    }
}

/// `impl SqlColumn` for a message, stored as JSON where a field holds one.
pub(super) fn json_column_impl(ident: &Ident) -> TokenStream {
    quote! {
        impl ::cmmv::sql::SqlColumn for #ident {
            fn to_sql(&self) -> ::cmmv::sql::SqlValue {
                ::cmmv::__private::json_to_sql(self)
            }

            fn from_sql(value: ::cmmv::sql::SqlValue) -> ::core::result::Result<Self, ::cmmv::sql::ColumnError> {
                ::cmmv::__private::json_from_sql(value)
            }
        }
    }
}
