//! List requests: what a `GET` on a collection asks a store for — filters with operators,
//! sort keys, a page by offset or after a cursor's position, a count — and how the in-memory
//! store answers it ([`ListQuery::select`]), which is the reference the SQL stores' statements
//! agree with (`tests/tests/integration/list_queries.rs` holds them to it).
//!
//! The query string syntax, its parsing and the reply (cursors, `Link`, sparse fieldsets) are
//! in [`params`]; the cursors themselves in [`cursor`].

pub mod cursor;
mod eval;
mod page;
pub mod params;

pub use cmmv_rules::list::{LIST_PARAMETERS, MAX_IN_VALUES, Operator};
pub use cursor::CursorKey;
pub use page::Page;
pub use params::{ListParams, ListReply};

use crate::resource::FieldValue;

/// Sort direction of one sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first (`?sort=field`); nulls come last.
    Ascending,
    /// Largest first (`?sort=-field`); nulls come first.
    Descending,
}

/// How a filter compares a field with its operands.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `eq`, `ne`, `gt`, `gte`, `lt`, `lte`: the field compared with the value. As in SQL, a
    /// null field satisfies none of them (`ne` included).
    Compare(Comparison, FieldValue),
    /// `in` (`negated: false`) or `nin`: the field equals one (or none) of the values; a
    /// null field satisfies neither.
    In {
        /// The values, at most [`MAX_IN_VALUES`].
        values: Vec<FieldValue>,
        /// `nin`.
        negated: bool,
    },
    /// `contains`, `prefix` and their case-insensitive twins, on text fields. `ignore_case`
    /// folds ASCII letters only, which is what SQLite's `LIKE` does, so that every store
    /// matches alike.
    Text {
        /// Where the text must appear.
        place: TextPlace,
        /// The text, matched literally (no wildcards).
        text: String,
        /// `icontains`, `iprefix`.
        ignore_case: bool,
    },
    /// `is_null=true` (the field is null) or `is_null=false` (it is not).
    IsNull(bool),
}

/// The comparisons of [`Condition::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `=`.
    Eq,
    /// `<>`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl Comparison {
    /// The SQL operator.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Comparison::Eq => " = ",
            Comparison::Ne => " <> ",
            Comparison::Gt => " > ",
            Comparison::Gte => " >= ",
            Comparison::Lt => " < ",
            Comparison::Lte => " <= ",
        }
    }
}

/// Where [`Condition::Text`] looks for its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPlace {
    /// Anywhere (`contains`).
    Anywhere,
    /// At the start (`prefix`).
    Start,
}

impl Condition {
    /// The condition `op` makes of its operands (one, several for `in` and `nin`, a boolean
    /// for `is_null`); `None` when they do not fit the operator.
    pub fn new(op: Operator, mut values: Vec<FieldValue>) -> Option<Condition> {
        let one = |values: &mut Vec<FieldValue>| match values.len() {
            1 => values.pop(),
            _ => None,
        };
        let compare =
            |c, values: &mut Vec<FieldValue>| one(values).map(|v| Condition::Compare(c, v));
        let text = |place, ignore_case, values: &mut Vec<FieldValue>| match one(values)? {
            FieldValue::Text(text) => Some(Condition::Text {
                place,
                text,
                ignore_case,
            }),
            _ => None,
        };
        match op {
            Operator::Eq => compare(Comparison::Eq, &mut values),
            Operator::Ne => compare(Comparison::Ne, &mut values),
            Operator::Gt => compare(Comparison::Gt, &mut values),
            Operator::Gte => compare(Comparison::Gte, &mut values),
            Operator::Lt => compare(Comparison::Lt, &mut values),
            Operator::Lte => compare(Comparison::Lte, &mut values),
            Operator::In | Operator::Nin => (!values.is_empty()).then(|| Condition::In {
                values,
                negated: op == Operator::Nin,
            }),
            Operator::Contains => text(TextPlace::Anywhere, false, &mut values),
            Operator::IContains => text(TextPlace::Anywhere, true, &mut values),
            Operator::Prefix => text(TextPlace::Start, false, &mut values),
            Operator::IPrefix => text(TextPlace::Start, true, &mut values),
            Operator::IsNull => match one(&mut values)? {
                FieldValue::Bool(null) => Some(Condition::IsNull(null)),
                _ => None,
            },
        }
    }
}

/// One filter of a list request: a field and the condition it must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// A filterable field.
    pub field: String,
    /// What its value must be.
    pub condition: Condition,
}

impl Filter {
    /// `field` equals `value` (what `?field=value` asks).
    pub fn eq(field: impl Into<String>, value: FieldValue) -> Self {
        Filter {
            field: field.into(),
            condition: Condition::Compare(Comparison::Eq, value),
        }
    }
}

/// A validated list request: only declared fields and operators, limits within bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// The most items to return (`?limit=`), between 1 and the contract's maximum.
    pub limit: u32,
    /// How many matching items to skip before the page starts (`?offset=`, default 0). Zero
    /// when the page starts after a cursor's position.
    pub offset: u64,
    /// Sort keys in priority order; the primary key breaks ties, in the direction of the last
    /// key (ascending without keys), so that a sort on one indexed field reads its index
    /// `(field, key)` one way.
    pub sort: Vec<(String, Direction)>,
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Whether to count every matching item into [`crate::Page::total`] (`?count=true`); the
    /// SQL stores run a second query for it.
    pub count: bool,
    /// Where the page starts (`?cursor=`): after the item whose sort keys, then key, have
    /// these values. Pages after a position see rows inserted or deleted meanwhile without
    /// repeating or skipping any other.
    pub after: Option<Vec<FieldValue>>,
}

impl ListQuery {
    /// The first `limit` items, unfiltered, in key order.
    pub fn new(limit: u32) -> Self {
        ListQuery {
            limit,
            offset: 0,
            sort: Vec::new(),
            filters: Vec::new(),
            count: false,
            after: None,
        }
    }

    /// The direction the key breaks ties in: the last sort key's.
    pub fn key_direction(&self) -> Direction {
        self.sort
            .last()
            .map_or(Direction::Ascending, |(_, direction)| *direction)
    }

    /// The direction of each position of an item: each sort key's, then the key's.
    pub fn directions(&self) -> impl Iterator<Item = Direction> + '_ {
        self.sort
            .iter()
            .map(|(_, direction)| *direction)
            .chain([self.key_direction()])
    }
}
