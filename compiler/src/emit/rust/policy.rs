//! The policies of routes as generated code carries them: rate-limit policies (each a
//! constant the operations that draw on its budget share) and auth rules.

use super::*;

/// The policies of an operation, in order, each with its id (none when it is unlimited).
pub(super) fn operation_policies(
    contract: &Contract,
    resolved: &OperationApi<'_>,
    named: NamedPolicies,
) -> Vec<(String, TokenStream)> {
    let op = resolved.operation;
    match resolved.rate_limit {
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
pub(super) fn policy_constant(id: &str, index: usize) -> Ident {
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
pub(super) fn policy_id(
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
pub(super) fn rate_policy(id: &str, policy: &RateLimitPolicy) -> TokenStream {
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

/// An auth policy as the runtime's `cmmv::auth::Access`.
pub(super) fn access(policy: &AuthPolicy) -> TokenStream {
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
