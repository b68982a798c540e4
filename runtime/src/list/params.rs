//! The list operation over HTTP: its query string read into a [`ListQuery`] (every
//! parameter checked against what the contract declares, each failure a 400 or 422 problem
//! naming the parameter), and its reply: the page as JSON, cut to a sparse fieldset, with the
//! next page's cursor and link in the body and in a `Link` header (RFC 8288).
//!
//! ```text
//! GET /v1/tasks?priority[in]=high,normal&created_at[gte]=2026-01-01T00:00:00Z&done=true
//!              &sort=-priority,title&limit=50&fields=id,title&count=true
//! GET /v1/tasks?...&cursor=<the previous page's `next`>
//! ```

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, header};

use super::{
    Condition, CursorKey, Direction, Filter, LIST_PARAMETERS, ListQuery, MAX_IN_VALUES, Operator,
};
use crate::extract::QueryPairs;
use crate::problem::{FieldError, Problem};
use crate::resource::{FieldKind, FieldValue, Key, QueryField, Resource};
use crate::store::Page;

/// A list request, read from the query string: what the store is asked for, and what the
/// reply needs (the cursor key, the request's path and parameters, the fieldset).
#[derive(Debug)]
pub struct ListParams<R> {
    /// The page the store must select.
    pub query: ListQuery,
    /// Turns the page the handler returns into the response.
    pub reply: ListReply<R>,
}

/// What a list response needs besides the page: see [`ListReply::respond`].
#[derive(Debug)]
pub struct ListReply<R> {
    key: CursorKey,
    /// The contract and its sort, which a cursor is signed for: `Task:-priority,title`.
    list: String,
    sort: Vec<(String, Direction)>,
    /// The request's path (before any nesting), which the next page's link repeats.
    path: String,
    /// The request's parameters but `cursor` and `offset`, which the link repeats too.
    kept: Vec<(String, String)>,
    /// `?fields=`: the fields items are cut to.
    fields: Option<Vec<&'static str>>,
    resource: PhantomData<fn() -> R>,
}

impl<R: Resource, S: Send + Sync> FromRequestParts<S> for ListParams<R> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = QueryPairs::from_request_parts(parts, state).await?;
        let key = match crate::layers::RequestScope::of(&parts.extensions) {
            Some(scope) => scope.cursor_key().clone(),
            None => CursorKey::process().clone(),
        };
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path(), |uri| uri.0.path())
            .to_owned();
        ListParams::parse(pairs, key, path)
    }
}

impl<R: Resource> ListParams<R> {
    /// Reads and checks a list request's parameters; `path` is the request's, for the next
    /// page's link, and `key` signs and checks cursors.
    pub fn parse(pairs: QueryPairs, key: CursorKey, path: String) -> Result<Self, Problem> {
        reject_unknown::<R>(&pairs)?;
        let mut invalid = Vec::new();
        let limit = match pairs.single("limit")? {
            None => R::DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(limit) if (1..=R::MAX_LIMIT).contains(&limit) => limit,
                Ok(limit) => {
                    invalid.push(FieldError::parameter(
                        "limit",
                        if limit == 0 { "minimum" } else { "maximum" },
                        format!("must be between 1 and {}", R::MAX_LIMIT),
                    ));
                    R::DEFAULT_LIMIT
                }
                Err(_) => return Err(bad_parameter("limit", raw, "a positive integer")),
            },
        };
        // The documents say `int64`: an offset past `i64::MAX` is refused as the schema
        // refuses it, rather than accepted and echoed as a number no client can hold.
        let offset = match pairs.single("offset")? {
            None => 0,
            Some(raw) => match raw.parse::<u64>() {
                Ok(offset) if i64::try_from(offset).is_ok() => offset,
                Ok(_) => {
                    invalid.push(FieldError::parameter(
                        "offset",
                        "maximum",
                        format!("must be at most {}", i64::MAX),
                    ));
                    0
                }
                Err(_) => return Err(bad_parameter("offset", raw, "a non-negative integer")),
            },
        };
        // `include_total` is `count`'s older name. The documents list both (a schema cannot
        // say "one or the other"), so both are read and either asks for the count.
        let count = pairs
            .single("count")?
            .map(|raw| boolean("count", raw))
            .transpose()?;
        let older = pairs
            .single("include_total")?
            .map(|raw| boolean("include_total", raw))
            .transpose()?;
        let count = count.unwrap_or(false) || older.unwrap_or(false);
        let sort = sort_keys::<R>(pairs.single("sort")?)?;
        let list = list_name::<R>(&sort);
        // With a cursor, `offset` skips that many more items after its position: both are
        // documented parameters, and together they still name one page.
        let after = match pairs.single("cursor")? {
            None => None,
            // The rule is `cursor`, not `type`: a cursor's signature is what no schema can
            // state, so clients (and conformance tools) can tell this refusal from the others.
            Some(raw) => Some(key.decode(&list, raw, &position_kinds::<R>(&sort)).ok_or_else(
                || {
                    let message = "not a cursor of this list: pass the `next` of a page listed with the same sort";
                    let mut problem = bad_parameter_message("cursor", message);
                    problem.errors = vec![FieldError::parameter("cursor", "cursor", message)];
                    problem
                },
            )?),
        };
        let fields = pairs.single("fields")?.map(fieldset::<R>).transpose()?;
        let filters = filters::<R>(&pairs, &mut invalid)?;
        if !invalid.is_empty() {
            return Err(Problem::validation(invalid));
        }
        let kept = pairs
            .0
            .into_iter()
            .filter(|(name, _)| name != "cursor" && name != "offset")
            .collect();
        Ok(ListParams {
            query: ListQuery {
                limit,
                offset,
                sort: sort.clone(),
                filters,
                count,
                after,
            },
            reply: ListReply {
                key,
                list,
                sort,
                path,
                kept,
                fields,
                resource: PhantomData,
            },
        })
    }

    /// The query for the store and the reply, apart.
    pub fn into_parts(self) -> (ListQuery, ListReply<R>) {
        (self.query, self.reply)
    }
}

impl<R: Resource> ListReply<R> {
    /// The JSON response of `page`: its items cut to the requested fields and, when more items
    /// follow it, the cursor of the next page (`next`, the position of its last item), that
    /// page's URI reference (`next_link`) and the same reference in a `Link: <...>;
    /// rel="next"` header.
    pub fn respond(self, status: u16, mut page: Page<R>) -> Response {
        if page.more && page.next.is_none() {
            if let Some(last) = page.items.last() {
                let cursor = self
                    .key
                    .encode(&self.list, &super::eval::position(&self.sort, last));
                let mut pairs = self.kept;
                pairs.push(("cursor".to_owned(), cursor.clone()));
                let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
                page.next_link = Some(format!("{}?{query}", self.path));
                page.next = Some(cursor);
            }
        }
        let link = page
            .next_link
            .as_ref()
            .and_then(|link| HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")).ok());
        let mut response = crate::respond::json(status, page.body(self.fields.as_deref()));
        if let Some(link) = link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// Refuses parameters that are neither the list's own nor a filter on a filterable field,
/// all at once.
fn reject_unknown<R: Resource>(pairs: &QueryPairs) -> Result<(), Problem> {
    let known = |name: &str| {
        LIST_PARAMETERS.contains(&name)
            || split_filter(name).is_some_and(|(field, _)| filterable::<R>(field).is_some())
    };
    if pairs.0.iter().all(|(name, _)| known(name)) {
        return Ok(());
    }
    let mut allowed = LIST_PARAMETERS.join(", ");
    if !R::FILTERABLE.is_empty() {
        let fields: Vec<&str> = R::FILTERABLE.iter().map(|f| f.name).collect();
        allowed.push_str(&format!(
            ", and filters `<field>=<value>` or `<field>[<operator>]=<value>` on {}",
            fields.join(", ")
        ));
    }
    pairs.reject_unknown_by(known, &allowed)
}

/// `field` or `field[op]`: the field, and the operator's name when there is one.
fn split_filter(name: &str) -> Option<(&str, Option<&str>)> {
    match name.split_once('[') {
        None => Some((name, None)),
        Some((field, rest)) => Some((field, Some(rest.strip_suffix(']')?))),
    }
}

fn filterable<R: Resource>(name: &str) -> Option<&'static QueryField> {
    R::FILTERABLE.iter().find(|f| f.name == name)
}

/// The filters: each `field` or `field[op]` parameter, its operator one the field's type
/// takes, its value of the field's type. Limits broken are added to `invalid` (a 422).
fn filters<R: Resource>(
    pairs: &QueryPairs,
    invalid: &mut Vec<FieldError>,
) -> Result<Vec<Filter>, Problem> {
    let mut filters = Vec::new();
    for (name, raw) in &pairs.0 {
        if LIST_PARAMETERS.contains(&name.as_str()) {
            continue;
        }
        // `reject_unknown` let only filters on filterable fields through.
        let Some((field, op_name)) = split_filter(name) else {
            continue;
        };
        let Some(field) = filterable::<R>(field) else {
            continue;
        };
        // One value per parameter: `?done=true&done=false` asks for nothing sensible.
        pairs.single(name)?;
        let operators = || {
            field
                .operators()
                .map(Operator::name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let op = match op_name {
            None => Operator::Eq,
            Some(op_name) => Operator::from_name(op_name).ok_or_else(|| {
                operator_problem(
                    name,
                    format!(
                        "`{op_name}` is not an operator; `{}` takes: {}",
                        field.name,
                        operators()
                    ),
                )
            })?,
        };
        if !field.operators().any(|o| o == op) {
            return Err(operator_problem(
                name,
                format!(
                    "`{}` does not apply to `{}` ({}); it takes: {}",
                    op.name(),
                    field.name,
                    field.kind.expected(),
                    operators()
                ),
            ));
        }
        let values = operands(field, op, name, raw, invalid)?;
        if let Some(condition) = Condition::new(op, values) {
            filters.push(Filter {
                field: field.name.to_owned(),
                condition,
            });
        }
    }
    Ok(filters)
}

/// The operands of `field[op]=raw`: one value of the field's type; a comma-separated list of
/// them for `in` and `nin`; text for the text operators; a boolean for `is_null`.
fn operands(
    field: &QueryField,
    op: Operator,
    name: &str,
    raw: &str,
    invalid: &mut Vec<FieldError>,
) -> Result<Vec<FieldValue>, Problem> {
    let parse = |kind: FieldKind, raw: &str| {
        kind.parse(raw)
            .map_err(|error| bad_parameter_message(name, &error.to_string()))
    };
    if op == Operator::IsNull {
        return Ok(vec![parse(FieldKind::Bool, raw)?]);
    }
    if op.matches_text() {
        return Ok(vec![FieldValue::Text(raw.to_owned())]);
    }
    if !op.takes_list() {
        return Ok(vec![parse(field.kind, raw)?]);
    }
    // An empty value is a list of one empty value, as OpenAPI's `form` style reads it: the
    // empty text for a text field, and a 400 for a type the empty text is not a value of.
    let values = raw
        .split(',')
        .map(|item| parse(field.kind, item))
        .collect::<Result<Vec<_>, _>>()?;
    if values.len() > MAX_IN_VALUES {
        invalid.push(FieldError::parameter(
            name,
            "max_items",
            format!("list at most {MAX_IN_VALUES} values"),
        ));
    }
    Ok(values)
}

/// `?sort=-priority,title`: sortable fields, each once.
fn sort_keys<R: Resource>(raw: Option<&str>) -> Result<Vec<(String, Direction)>, Problem> {
    let mut sort: Vec<(String, Direction)> = Vec::new();
    let Some(raw) = raw else {
        return Ok(sort);
    };
    // Every key names a field, as the documents' list of keys says: `sort=` or `sort=a,,b`
    // is a client's mistake, told rather than read as fewer keys.
    if raw.split(',').any(str::is_empty) {
        return Err(empty_key(
            "sort",
            "name a sort key between every two commas",
        ));
    }
    for key in raw.split(',') {
        let (field, direction) = match key.strip_prefix('-') {
            Some(field) => (field, Direction::Descending),
            None => (key, Direction::Ascending),
        };
        if !R::SORTABLE.iter().any(|f| f.name == field) {
            let sortable: Vec<&str> = R::SORTABLE.iter().map(|f| f.name).collect();
            let mut problem = Problem::bad_request(format!(
                "cannot sort by `{field}`; sortable fields: {}",
                if sortable.is_empty() {
                    "none".to_owned()
                } else {
                    sortable.join(", ")
                }
            ));
            problem.errors = vec![FieldError::parameter(
                "sort",
                "enum",
                format!("`{field}` is not sortable"),
            )];
            return Err(problem);
        }
        // A field named again (`sort=title,-title`) cannot change an order its first mention
        // decided: it is skipped, as the documents' list of keys allows it.
        if sort.iter().any(|(seen, _)| seen == field) {
            continue;
        }
        sort.push((field.to_owned(), direction));
    }
    Ok(sort)
}

/// What a cursor is signed for: the contract and its sort, `Task:-priority,title`.
fn list_name<R: Resource>(sort: &[(String, Direction)]) -> String {
    let keys: Vec<String> = sort
        .iter()
        .map(|(field, direction)| match direction {
            Direction::Ascending => field.clone(),
            Direction::Descending => format!("-{field}"),
        })
        .collect();
    format!("{}:{}", R::NAME, keys.join(","))
}

/// The kinds of a position's values: each sort key's, then the key's.
fn position_kinds<R: Resource>(sort: &[(String, Direction)]) -> Vec<FieldKind> {
    sort.iter()
        .filter_map(|(name, _)| R::SORTABLE.iter().find(|f| f.name == *name))
        .map(|f| f.kind)
        .chain([<R::Key as Key>::KIND])
        .collect()
}

/// `?fields=id,title`: fields of the resource as responses show it, in the resource's order.
fn fieldset<R: Resource>(raw: &str) -> Result<Vec<&'static str>, Problem> {
    if raw.split(',').any(str::is_empty) {
        return Err(empty_key(
            "fields",
            "name at least one field, and one between every two commas",
        ));
    }
    let named: Vec<&str> = raw.split(',').collect();
    if let Some(unknown) = named.iter().find(|name| !R::FIELDS.contains(name)) {
        let mut problem = Problem::bad_request(format!(
            "`{unknown}` is not a field of {}; fields: {}",
            R::NAME,
            R::FIELDS.join(", ")
        ));
        problem.errors = vec![FieldError::parameter(
            "fields",
            "enum",
            format!("`{unknown}` is not a field"),
        )];
        return Err(problem);
    }
    Ok(R::FIELDS
        .iter()
        .copied()
        .filter(|field| named.contains(field))
        .collect())
}

fn boolean(name: &str, raw: &str) -> Result<bool, Problem> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_parameter(name, raw, "`true` or `false`")),
    }
}

fn operator_problem(name: &str, message: String) -> Problem {
    let mut problem = Problem::bad_request(format!("query parameter `{name}`: {message}"));
    problem.errors = vec![FieldError::parameter(name, "operator", message)];
    problem
}

fn bad_parameter(name: &str, raw: &str, expected: &str) -> Problem {
    bad_parameter_message(name, &format!("`{raw}` is not {expected}"))
}

/// An empty item of a comma-separated list (`sort=`, `fields=id,,title`): no value of the
/// documented items' enum.
fn empty_key(name: &str, message: &str) -> Problem {
    let mut problem = Problem::bad_request(format!("query parameter `{name}`: {message}"));
    problem.errors = vec![FieldError::parameter(name, "enum", message)];
    problem
}

fn bad_parameter_message(name: &str, message: &str) -> Problem {
    let mut problem = Problem::bad_request(format!("query parameter `{name}`: {message}"));
    problem.errors = vec![FieldError::parameter(name, "type", message)];
    problem
}
