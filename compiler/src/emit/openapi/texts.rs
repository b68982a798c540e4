//! The words of the documents: operation summaries and descriptions, who may call an
//! operation, what ownership means for a caller, what a success answer holds.

use crate::api::ContractApi;
use crate::ir::{
    AuthPolicy, BodyType, Contract, CrudKind, Operation, Owner, RoleMode, pluralize, to_snake_case,
};

/// The contract's name as a lowercase noun: `TaskList` -> `task list`.
pub(super) fn noun(contract: &Contract) -> String {
    to_snake_case(&contract.name).replace('_', " ")
}

/// `a task`, `an item`.
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// A summary for operations whose contract gives none, so that every operation reads well in
/// documentation tools.
pub(super) fn default_summary(op: &Operation, noun: &str) -> String {
    let one = with_article(noun);
    match op.crud() {
        Some(CrudKind::List) => format!("List {}", pluralize(noun)),
        Some(CrudKind::Get) => format!("Get {one}"),
        Some(CrudKind::Create) => format!("Create {one}"),
        Some(CrudKind::Update) => format!("Replace {one}"),
        Some(CrudKind::Patch) => format!("Update fields of {one}"),
        Some(CrudKind::Delete) => format!("Delete {one}"),
        Some(CrudKind::Me) => format!("Get the signed-in account's {noun}"),
        None => {
            let words = op.name.replace('_', " ");
            let mut chars = words.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    }
}

/// The operation's description (the contract's, or one saying what the CRUD operation does),
/// then who may call it.
pub(super) fn description(resolved: &ContractApi<'_>, op: &Operation, noun: &str) -> String {
    let one = with_article(noun);
    // A client-chosen key travels in the body too, and a replace cannot change it.
    let key_in_body = resolved
        .contract
        .primary_key()
        .filter(|pk| resolved.input.carries(&pk.name))
        .map(|pk| {
            format!(
                " The body's `{}` must equal the key in the path (422 otherwise).",
                pk.name
            )
        })
        .unwrap_or_default();
    let what = op.description.clone().unwrap_or_else(|| match op.crud() {
        Some(CrudKind::List) => format!(
            "Lists {}, one page at a time: `limit` and `offset` choose the page.",
            pluralize(noun)
        ),
        Some(CrudKind::Get) => format!("Returns the {noun} named by the path."),
        Some(CrudKind::Create) => format!(
            "Creates {one} from the body and returns it; `Location` names the new {noun}."
        ),
        Some(CrudKind::Update) => format!(
            "Replaces the {noun} named by the path with the body: every field the body may carry is set.{key_in_body}"
        ),
        Some(CrudKind::Patch) => format!(
            "Changes the fields of the {noun} named by the path that the body carries; absent fields keep their value, `null` clears a nullable one."
        ),
        Some(CrudKind::Delete) => format!("Deletes the {noun} named by the path."),
        Some(CrudKind::Me) => format!(
            "Returns the {noun} of the signed-in account: the one its token's `sub` (or its API key) names."
        ),
        None => {
            let summary = op
                .summary
                .clone()
                .unwrap_or_else(|| default_summary(op, noun));
            // A summary written as a sentence keeps its own full stop.
            if summary.ends_with(['.', '!', '?']) {
                summary
            } else {
                format!("{summary}.")
            }
        }
    });
    let scope = scoped_owner(resolved.contract, op)
        .filter(|_| op.crud() != Some(CrudKind::Me))
        .map(|owner| ownership_sentence(resolved.contract, owner, noun))
        .unwrap_or_default();
    format!("{what}\n\n{}{scope}", access_sentence(&op.auth))
}

/// The owner of the resources a CRUD operation reaches, when the contract is owned: custom
/// operations are the user's code, which decides for itself.
pub(super) fn scoped_owner<'c>(contract: &'c Contract, op: &Operation) -> Option<&'c Owner> {
    contract.owner.as_ref().filter(|_| op.crud().is_some())
}

/// What ownership means for a caller, in words.
fn ownership_sentence(contract: &Contract, owner: &Owner, noun: &str) -> String {
    let belongs = if contract.account.is_some() {
        format!(
            "Each {noun} is the record of one account of the login module (`{}` is the account's id), made when the account first signs in",
            owner.field
        )
    } else {
        format!(
            "Each {noun} belongs to the account that created it (`{}`, set by the server)",
            owner.field
        )
    };
    let reach = format!(
        " {belongs}: a caller reaches only their own, and another's answers 404 as if it did not exist"
    );
    let quoted: Vec<String> = owner.bypass.iter().map(|r| format!("`{r}`")).collect();
    match quoted.split_last() {
        None => format!("{reach}."),
        Some((last, [])) => format!("{reach}, unless they hold the role {last}."),
        Some((last, rest)) => format!(
            "{reach}, unless they hold one of the roles {} or {last}.",
            rest.join(", ")
        ),
    }
}

/// Who may call an operation, in words.
fn access_sentence(auth: &AuthPolicy) -> String {
    let roles = |roles: &[String], joiner: &str| {
        let quoted: Vec<String> = roles.iter().map(|r| format!("`{r}`")).collect();
        match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} {joiner} {last}", rest.join(", ")),
            None => String::new(),
        }
    };
    match auth {
        AuthPolicy::Public => "Open to every client: no credentials needed.".to_owned(),
        AuthPolicy::Authenticated => {
            "Requires credentials: a bearer token or an API key.".to_owned()
        }
        AuthPolicy::Roles { roles: list, mode } => {
            let names: Vec<String> = list.iter().cloned().collect();
            match (mode, names.len()) {
                (_, 1) => format!(
                    "Requires credentials (a bearer token or an API key) holding the role {}.",
                    roles(&names, "and")
                ),
                (RoleMode::All, _) => format!(
                    "Requires credentials (a bearer token or an API key) holding every one of the roles {}.",
                    roles(&names, "and")
                ),
                (RoleMode::Any, _) => format!(
                    "Requires credentials (a bearer token or an API key) holding at least one of the roles {}.",
                    roles(&names, "or")
                ),
            }
        }
    }
}

pub(super) fn success_description(
    resolved: &ContractApi<'_>,
    op: &Operation,
    noun: &str,
) -> String {
    match (op.crud(), &op.response) {
        _ if op.redirect => "A redirect: the client goes on to `Location`.".to_owned(),
        (Some(CrudKind::List), _) => format!("A page of {}.", pluralize(noun)),
        (Some(CrudKind::Get), _) => format!("The {noun}."),
        (Some(CrudKind::Me), _) => format!("The signed-in account's {noun}."),
        (Some(CrudKind::Create), _) => format!("The created {noun}."),
        (Some(CrudKind::Update | CrudKind::Patch), _) => format!("The updated {noun}."),
        (Some(CrudKind::Delete), _) => format!("The {noun} was deleted."),
        (None, Some(body)) => success_body_text(resolved, &body.ty),
        (None, None) => "Success; the response has no body.".to_owned(),
    }
}

pub(super) fn success_body_text(resolved: &ContractApi<'_>, body: &BodyType) -> String {
    match body {
        BodyType::Named(name) => format!("Success: a `{name}`."),
        BodyType::List(name) => format!("Success: a list of `{name}`."),
        BodyType::Derived(derived) => {
            format!("Success: a `{}`.", resolved.derived_name(*derived))
        }
    }
}
