//! Validation: `impl Check` of each type, and the rules of each field as statics shared by
//! the resource and its bodies.

use super::*;

/// `impl Check`: each field with constraints (or of a type with constraints of its own) is
/// checked under its JSON Pointer, by the rules [`rules_statics`] declared for `owner`.
pub(super) fn check_impl(ident: &Ident, owner: &str, fields: &[Field]) -> TokenStream {
    let checks: Vec<TokenStream> = fields
        .iter()
        .filter_map(|field| {
            let member = ident_member(&field.name);
            field_check(owner, field, &quote!(&self.#member))
        })
        .collect();
    let (at, errors) = if checks.is_empty() {
        (quote!(_at), quote!(_errors))
    } else {
        (quote!(at), quote!(errors))
    };
    quote! {
        impl ::cmmv::validate::Check for #ident {
            fn check(&self, _rules: &::cmmv::__private::Rules, #at: &::cmmv::__private::At<'_>, #errors: &mut ::cmmv::__private::Errors) {
                #(#checks)*
            }
        }
    }
}

/// The check of one field's `value` (an expression borrowing it) against the field's rules,
/// reported under `at.key(name)`; `None` when there is nothing to check. The `Check` impl of a
/// type calls it for every field, and its decoder for the fields that decoded when another
/// did not, so that one response lists every problem.
pub(super) fn field_check(owner: &str, field: &Field, value: &TokenStream) -> Option<TokenStream> {
    if !needs_check(field) {
        return None;
    }
    let key = field.name.as_str();
    let rules = if has_rules(field) {
        let name = rules_ident(owner, &field.name, "RULES");
        quote!(#name)
    } else {
        quote!(::cmmv::__private::Rules::NONE)
    };
    Some(quote! {
        ::cmmv::validate::Check::check(#value, &#rules, &at.key(#key), errors);
    })
}

/// Whether checking a field can find anything: it has constraints, or its type has fields.
pub(super) fn needs_check(field: &Field) -> bool {
    has_rules(field) || matches!(field.ty.element(), Type::Named(_))
}

pub(super) fn has_rules(field: &Field) -> bool {
    !field.constraints.is_empty() || !field.item_constraints.is_empty()
}

/// The static of one of `owner`'s fields: `TASK_TITLE_RULES`, `TASK_TAGS_ITEMS`,
/// `TASK_CODE_PATTERN`. Contract, message and query names are unique in a project, so these
/// are too.
pub(super) fn rules_ident(owner: &str, field: &str, what: &str) -> Ident {
    format_ident!(
        "{}_{}_{what}",
        to_screaming_snake_case(owner),
        to_screaming_snake_case(field)
    )
}

/// The rules of each of `owner`'s fields that has any, as statics (with the compiled
/// pattern and the items' rules they point at), declared once and shared by every type that
/// carries the field. Unset rules are `Rules::NONE`'s.
pub(super) fn rules_statics(owner: &str, fields: &[Field]) -> TokenStream {
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
                    static #items_name: ::cmmv::__private::Rules = #body;
                },
                Some(quote!(&#items_name)),
            )
        };
        let pattern_name = rules_ident(owner, &field.name, "PATTERN");
        let (pattern_static, body) = rules_body(&field.constraints, &pattern_name, items);
        quote! {
            #item_statics
            #pattern_static
            static #name: ::cmmv::__private::Rules = #body;
        }
    });
    quote!(#(#statics)*)
}

/// A `Rules` literal of the constraints that are set (the others are `Rules::NONE`'s), and
/// the static of its compiled pattern when it has one.
pub(super) fn rules_body(
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
        pattern_static = quote!(static #pattern_name: ::cmmv::__private::LazyRegex = ::cmmv::__private::LazyRegex::new(#source););
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
            ::cmmv::__private::Rules { #(#set,)* ..::cmmv::__private::Rules::NONE }
        },
    )
}
