//! `impl Resource` (keys, create / replace / patch, secrets, filterable and sortable fields)
//! and `impl Record` (the row of a resource).

use super::*;

impl ContractEmitter<'_> {
    pub(super) fn resource_impl(&self) -> TokenStream {
        let contract = self.contract;
        let (input_body, patch_body) = (&self.resolved.input, &self.resolved.patch);
        let name = type_ident(&contract.name);
        let input = type_ident(&input_body.name);
        let patch = type_ident(&patch_body.name);
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
        let client_key = input_body.carries(&pk.name);
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

        let query_field = |field: &Field| {
            let name = field.name.as_str();
            let kind = self.field_kind(&field.ty);
            let nullable = field.optional || field.nullable;
            quote!(::cmmv::__private::QueryField { name: #name, kind: #kind, nullable: #nullable })
        };
        let filterable = contract
            .fields
            .iter()
            .filter(|f| f.filterable)
            .map(query_field);
        let sortable = contract
            .fields
            .iter()
            .filter(|f| f.sortable)
            .map(query_field);
        let shown = self.resolved.resource.field_names();
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
        let owner_field = contract.owner.as_ref().map(|o| o.field.as_str());
        let account_email = contract.account.as_ref().map(|a| a.email.as_str());
        let creates = contract.fields.iter().map(|field| {
            let member = member_ident(&field.name);
            let value = if field.primary {
                quote!(key)
            } else if is_timestamp(field) {
                quote!(now)
            } else if input_body.carries(&field.name) {
                stored(field, quote!(input.#member))
            } else if Some(field.name.as_str()) == owner_field {
                // Set right after, from the caller (`Resource::set_owner`).
                quote!(::core::default::Default::default())
            } else if Some(field.name.as_str()) == account_email {
                // Clients never create an account's record: the login module makes it
                // (`AccountRecord::for_account`); server code creating one sets the email.
                quote!(::core::default::Default::default())
            } else {
                self.initial_value(field)
            };
            quote!(#member: #value)
        });
        // A replace sets every input field but the key (which is in the path): the fields a
        // patch may change, all of them.
        let replaces = patch_body.declared().map(|field| {
            let member = member_ident(&field.name);
            let value = stored(field, quote!(input.#member));
            quote!(self.#member = #value;)
        });
        let patches = patch_body.declared().map(|field| {
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
            input_body.declared().filter(|f| is_secret(f)),
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
            patch_body.declared().filter(|f| is_secret(f)),
            |member, _| quote!(patch.#member.value_mut()),
        );
        let (touch, now_param) = self.touch();
        let create_now = if contract.fields.iter().any(is_timestamp) {
            quote!(now)
        } else {
            quote!(_now)
        };
        let replace_input = if !patch_body.is_empty() {
            quote!(input)
        } else {
            quote!(_input)
        };
        let patch_param = if patch_body.is_empty() {
            quote!(_patch)
        } else {
            quote!(patch)
        };
        let create_input = if !input_body.is_empty() {
            quote!(input)
        } else {
            quote!(_input)
        };
        let by_name: Vec<TokenStream> = contract
            .fields
            .iter()
            .filter(|f| {
                f.filterable
                    || f.sortable
                    || (f.unique && !f.primary)
                    || Some(f.name.as_str()) == owner_field
            })
            .map(|field| {
                let name = field.name.as_str();
                let member = member_ident(&field.name);
                quote! {
                    #name => ::core::option::Option::Some(
                        ::cmmv::__private::ToFieldValue::to_field_value(&self.#member)
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
        let ownership = self.ownership();
        quote! {
            impl ::cmmv::resource::Resource for #name {
                type Key = #key_ty;
                type Input = #input;
                type Patch = #patch;

                const NAME: &'static str = #contract_name;
                const KEY_FIELD: &'static str = #key_name;
                const FILTERABLE: &'static [::cmmv::__private::QueryField] = &[#(#filterable),*];
                const SORTABLE: &'static [::cmmv::__private::QueryField] = &[#(#sortable),*];
                const FIELDS: &'static [&'static str] = &[#(#shown),*];
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

                #ownership

                #input_secrets

                #patch_secrets
            }
        }
    }

    /// What a change does to `updated_at` (when the contract keeps timestamps), and the name
    /// of the `now` parameter of a method making it (`_now` when unused).
    fn touch(&self) -> (Option<TokenStream>, TokenStream) {
        let touch = self
            .contract
            .fields
            .iter()
            .any(|f| self.contract.storage.timestamps && f.name == "updated_at")
            .then(|| quote!(self.updated_at = now;));
        let now_param = if touch.is_some() {
            quote!(now)
        } else {
            quote!(_now)
        };
        (touch, now_param)
    }

    /// `impl AccountRecord` of the contract bound to the accounts (`account:`): a new
    /// account's record from its key and email alone (lowering made sure every other field
    /// has a default, or may be absent), and the email kept in step.
    pub(super) fn account_record_impl(&self) -> TokenStream {
        let contract = self.contract;
        let Some(binding) = &contract.account else {
            return TokenStream::new();
        };
        let name = type_ident(&contract.name);
        let email = member_ident(&binding.email);
        let timestamps = contract.storage.timestamps;
        let is_timestamp = |field: &Field| {
            timestamps && matches!(field.name.as_str(), "created_at" | "updated_at")
        };
        let made = contract.fields.iter().map(|field| {
            let member = member_ident(&field.name);
            let value = if field.primary {
                quote!(key)
            } else if field.name == binding.email {
                quote!(::std::borrow::ToOwned::to_owned(email))
            } else if is_timestamp(field) {
                quote!(now)
            } else {
                self.initial_value(field)
            };
            quote!(#member: #value)
        });
        let made_now = if contract.fields.iter().any(is_timestamp) {
            quote!(now)
        } else {
            quote!(_now)
        };
        let (touch, now_param) = self.touch();
        quote! {
            impl ::cmmv::resource::AccountRecord for #name {
                fn for_account(
                    key: <Self as ::cmmv::resource::Resource>::Key,
                    email: &str,
                    #made_now: ::cmmv::types::DateTime,
                ) -> Self {
                    Self { #(#made,)* }
                }

                fn account_email(&self) -> &str {
                    &self.#email
                }

                fn set_account_email(&mut self, email: &str, #now_param: ::cmmv::types::DateTime) {
                    ::std::borrow::ToOwned::clone_into(email, &mut self.#email);
                    #touch
                }
            }
        }
    }

    /// An owned contract's part of `impl Resource`: who owns it, and how a new resource gets
    /// its owner.
    fn ownership(&self) -> TokenStream {
        let Some(owner) = &self.contract.owner else {
            return TokenStream::new();
        };
        let Some(field) = self.contract.field(&owner.field) else {
            return TokenStream::new();
        };
        let name = owner.field.as_str();
        let member = member_ident(name);
        let bypass = owner.bypass.iter().map(String::as_str);
        let (can_own, set_owner) = match field.ty {
            Type::Scalar(Scalar::Uuid) => (
                quote!(subject.parse::<::cmmv::types::Uuid>().is_ok()),
                quote! {
                    if let ::core::result::Result::Ok(owner) = subject.parse() {
                        self.#member = owner;
                    }
                },
            ),
            _ => (quote!(true), quote!(self.#member = subject.to_owned();)),
        };
        let can_own_param = if matches!(field.ty, Type::Scalar(Scalar::Uuid)) {
            quote!(subject)
        } else {
            quote!(_subject)
        };
        quote! {
            const OWNERSHIP: ::core::option::Option<::cmmv::resource::Ownership> =
                ::core::option::Option::Some(::cmmv::resource::Ownership {
                    field: #name,
                    bypass: &[#(#bypass),*],
                });

            fn can_own(#can_own_param: &str) -> bool {
                #can_own
            }

            fn set_owner(&mut self, subject: &str) {
                #set_owner
            }
        }
    }

    /// `impl Record`: the table, its columns in field order, and the row of a resource. The
    /// migrations create exactly these columns (see `crate::sql`).
    pub(super) fn record_impl(&self) -> TokenStream {
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
            quote!(::cmmv::__private::Column { name: #column, kind: ::cmmv::__private::ColumnKind::#kind })
        });
        let members: Vec<Ident> = contract
            .fields
            .iter()
            .map(|f| member_ident(&f.name))
            .collect();
        // Validation made every reference name a contract with a key.
        let references: Vec<TokenStream> = contract
            .fields
            .iter()
            .filter_map(|field| {
                let target = self.project.contracts.get(&field.references.as_ref()?.contract)?;
                let key = target.primary_key()?.name.as_str();
                let (column, table) = (field.name.as_str(), target.storage.table.as_str());
                Some(quote!(::cmmv::__private::ForeignKey { column: #column, table: #table, key: #key }))
            })
            .collect();
        let references = (!references.is_empty()).then(|| {
            quote!(const REFERENCES: &'static [::cmmv::__private::ForeignKey] = &[#(#references),*];)
        });
        quote! {
            impl ::cmmv::__private::Record for #name {
                const TABLE: &'static str = #table;
                const COLUMNS: &'static [::cmmv::__private::Column] = &[#(#columns),*];
                const SOFT_DELETE: bool = #soft_delete;
                #references

                fn to_row(&self) -> ::std::vec::Vec<::cmmv::sql::SqlValue> {
                    ::std::vec![#(::cmmv::sql::SqlColumn::to_sql(&self.#members)),*]
                }

                fn from_row(row: &mut ::cmmv::__private::Row) -> ::core::result::Result<Self, ::cmmv::sql::ColumnError> {
                    ::core::result::Result::Ok(Self { #(#members: row.take()?,)* })
                }
            }
        }
    }

    /// The name of the `ColumnKind` variant that stores a value of type `ty`.
    pub(super) fn column_kind(&self, ty: &Type) -> &'static str {
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
    pub(super) fn initial_value(&self, field: &Field) -> TokenStream {
        match (&field.default, is_option(field)) {
            (Some(Value::Null), _) | (None, _) => quote!(::core::option::Option::None),
            (Some(value), false) => self.value_expr(&field.ty, value),
            (Some(value), true) => {
                let value = self.value_expr(&field.ty, value);
                quote!(::core::option::Option::Some(#value))
            }
        }
    }

    pub(super) fn field_kind(&self, ty: &Type) -> TokenStream {
        match ty {
            Type::Scalar(Scalar::String) => quote!(::cmmv::__private::FieldKind::Text),
            Type::Scalar(Scalar::Bool) => quote!(::cmmv::__private::FieldKind::Bool),
            Type::Scalar(Scalar::Int32 | Scalar::Int64) => {
                quote!(::cmmv::__private::FieldKind::Int)
            }
            Type::Scalar(Scalar::Float | Scalar::Double) => {
                quote!(::cmmv::__private::FieldKind::Float)
            }
            Type::Scalar(Scalar::Uuid) => quote!(::cmmv::__private::FieldKind::Uuid),
            Type::Scalar(Scalar::Date) => quote!(::cmmv::__private::FieldKind::Date),
            Type::Scalar(Scalar::DateTime) => quote!(::cmmv::__private::FieldKind::DateTime),
            Type::Scalar(Scalar::Decimal) => quote!(::cmmv::__private::FieldKind::Decimal),
            Type::Named(name) => {
                let name = type_ident(name);
                quote!(::cmmv::__private::FieldKind::Enum(<#name as ::cmmv::Enum>::WIRE))
            }
            // Lowering refuses filters on other types.
            _ => quote!(::cmmv::__private::FieldKind::Text),
        }
    }
}

/// `value` (a body's field) as the resource stores it: a secret becomes its hash (sealed by the
/// default CRUD operations before they call `create` or `replace`).
pub(super) fn stored(field: &Field, value: TokenStream) -> TokenStream {
    match (is_secret(field), is_option(field)) {
        (true, false) => quote!(::cmmv::secret::Secret::into_stored(#value)),
        (true, true) => quote!(#value.map(::cmmv::secret::Secret::into_stored)),
        (false, _) => value,
    }
}

/// `Resource::input_secrets` / `patch_secrets` for a contract with secret fields (the
/// runtime's defaults, which find none, serve the others).
pub(super) fn secrets_fn<'f>(
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
