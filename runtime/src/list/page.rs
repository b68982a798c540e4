//! [`Page`]: what a list operation answers.

use serde::ser::{Error as _, SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};

use super::ListQuery;

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The resources of the page, in the requested order.
    pub items: Vec<T>,
    /// The limit the page was asked with.
    pub limit: u32,
    /// The offset the page starts at (0 for a page after a cursor).
    pub offset: u64,
    /// Present when the request asked for it (`count=true`): every item the filters admit.
    pub total: Option<u64>,
    /// Whether items follow this page (the store read one past the limit). Not part of the
    /// body: the list route turns it into [`Page::next`].
    pub more: bool,
    /// The cursor of the next page, when items follow: set by the list route, which holds the
    /// key cursors are signed with.
    pub next: Option<String>,
    /// The next page's URI reference (this request's path and parameters, with `cursor`):
    /// set with [`Page::next`].
    pub next_link: Option<String>,
}

impl<T> Page<T> {
    /// The page of `items` a store selected for `query`; `more` when items follow them.
    pub fn new(items: Vec<T>, query: &ListQuery, more: bool, total: Option<u64>) -> Self {
        Page {
            items,
            limit: query.limit,
            offset: query.offset,
            total,
            more,
            next: None,
            next_link: None,
        }
    }
}

impl<T: Serialize> Page<T> {
    /// The body of the page, each item cut to `fields` when given (`?fields=`).
    pub(crate) fn body<'a>(&'a self, fields: Option<&'a [&'static str]>) -> impl Serialize + 'a {
        PageBody {
            items: Items {
                items: &self.items,
                fields,
            },
            limit: self.limit,
            offset: self.offset,
            total: self.total,
            next: self.next.as_deref(),
            next_link: self.next_link.as_deref(),
        }
    }
}

/// The page as JSON: what the OpenAPI `<Contract>Page` schema and the proto page message
/// describe.
impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body(None).serialize(serializer)
    }
}

#[derive(Serialize)]
struct PageBody<'a, T> {
    items: Items<'a, T>,
    limit: u32,
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_link: Option<&'a str>,
}

struct Items<'a, T> {
    items: &'a [T],
    fields: Option<&'a [&'static str]>,
}

impl<T: Serialize> Serialize for Items<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.items.len()))?;
        for item in self.items {
            match self.fields {
                None => seq.serialize_element(item)?,
                // Through a JSON value, whose keys can be picked: a sparse page costs a copy
                // of each item, a full one nothing more.
                Some(fields) => match serde_json::to_value(item).map_err(S::Error::custom)? {
                    serde_json::Value::Object(object) => {
                        seq.serialize_element(&Sparse { object, fields })?;
                    }
                    other => seq.serialize_element(&other)?,
                },
            }
        }
        seq.end()
    }
}

/// The fields of an item a fieldset names, in the order given (the resource's own: see
/// `params::fieldset`); a field the item leaves out (an optional one) stays out.
struct Sparse<'a> {
    object: serde_json::Map<String, serde_json::Value>,
    fields: &'a [&'static str],
}

impl Serialize for Sparse<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for field in self.fields {
            if let Some(value) = self.object.get(*field) {
                map.serialize_entry(field, value)?;
            }
        }
        map.end()
    }
}
