//! A list query evaluated over resources in memory: the in-memory store's lists, and the
//! meaning every SQL statement of `crate::sql::query` must have.

use std::cmp::Ordering;

use super::{Comparison, Condition, Direction, ListQuery, TextPlace};
use crate::resource::{FieldValue, Resource, ToFieldValue};
use crate::store::Page;

impl Condition {
    /// Whether a field holding `value` meets the condition. Nulls meet only `is_null=true`,
    /// as in SQL's three-valued logic.
    pub fn matches(&self, value: &FieldValue) -> bool {
        if *value == FieldValue::Null {
            return *self == Condition::IsNull(true);
        }
        match self {
            Condition::Compare(comparison, operand) => {
                let order = compare(value, operand);
                match comparison {
                    Comparison::Eq => order == Some(Ordering::Equal),
                    Comparison::Ne => order.is_some_and(Ordering::is_ne),
                    Comparison::Gt => order == Some(Ordering::Greater),
                    Comparison::Gte => order.is_some_and(Ordering::is_ge),
                    Comparison::Lt => order == Some(Ordering::Less),
                    Comparison::Lte => order.is_some_and(Ordering::is_le),
                }
            }
            Condition::In { values, negated } => {
                values
                    .iter()
                    .any(|v| compare(value, v) == Some(Ordering::Equal))
                    != *negated
            }
            Condition::Text {
                place,
                text,
                ignore_case,
            } => {
                let FieldValue::Text(field) = value else {
                    return false;
                };
                let (field, text) = if *ignore_case {
                    (field.to_ascii_lowercase(), text.to_ascii_lowercase())
                } else {
                    (field.clone(), text.clone())
                };
                match place {
                    TextPlace::Anywhere => field.contains(&text),
                    TextPlace::Start => field.starts_with(&text),
                }
            }
            Condition::IsNull(null) => !null,
        }
    }
}

/// How two values of one field compare in a filter: as SQL compares them, so that `-0.0`
/// equals `0.0` (the sort order's `total_cmp` tells them apart).
fn compare(a: &FieldValue, b: &FieldValue) -> Option<Ordering> {
    match (a, b) {
        (FieldValue::Float(x), FieldValue::Float(y)) => x.partial_cmp(y),
        (FieldValue::Int(x), FieldValue::Float(y)) => (*x as f64).partial_cmp(y),
        (FieldValue::Float(x), FieldValue::Int(y)) => x.partial_cmp(&(*y as f64)),
        _ => Some(a.sort_cmp(b)),
    }
}

/// The order of two items' positions (their sort keys' values, then their keys'), each
/// position in its direction: nulls after values ascending, before them descending.
pub(crate) fn compare_positions(
    a: &[FieldValue],
    b: &[FieldValue],
    directions: impl Iterator<Item = Direction>,
) -> Ordering {
    a.iter()
        .zip(b)
        .zip(directions)
        .map(|((x, y), direction)| match direction {
            Direction::Ascending => x.sort_cmp(y),
            Direction::Descending => y.sort_cmp(x),
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Where `item` stands in the query's order: the values of its sort keys, then its key.
pub(crate) fn position<R: Resource>(sort: &[(String, Direction)], item: &R) -> Vec<FieldValue> {
    sort.iter()
        .map(|(field, _)| item.field(field).unwrap_or(FieldValue::Null))
        .chain([item.key().to_field_value()])
        .collect()
}

impl ListQuery {
    /// Where `item` stands in this query's order: what [`ListQuery::after`] takes to list the
    /// items after it.
    pub fn position<R: Resource>(&self, item: &R) -> Vec<FieldValue> {
        position(&self.sort, item)
    }

    /// Whether `item` passes every filter.
    pub fn admits<R: Resource>(&self, item: &R) -> bool {
        self.filters.iter().all(|filter| {
            filter
                .condition
                .matches(&item.field(&filter.field).unwrap_or(FieldValue::Null))
        })
    }

    /// The page of `items` the query selects: the items passing the filters, in the query's
    /// order, from after the cursor's position (or past the offset), `limit` of them, with
    /// the count when asked for and whether more follow. What every store answers.
    pub fn select<'r, R: Resource>(&self, items: impl Iterator<Item = &'r R>) -> Page<R> {
        let mut matching: Vec<(Vec<FieldValue>, &R)> = items
            .filter(|item| self.admits(*item))
            .map(|item| (position(&self.sort, item), item))
            .collect();
        let total = self.count.then_some(matching.len() as u64);
        if let Some(after) = &self.after {
            matching.retain(|(at, _)| compare_positions(at, after, self.directions()).is_gt());
        }
        matching.sort_by(|(a, _), (b, _)| compare_positions(a, b, self.directions()));
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let mut rest = matching
            .into_iter()
            .skip(skip)
            .map(|(_, item)| item.clone());
        let items: Vec<R> = rest.by_ref().take(self.limit as usize).collect();
        Page::new(items, self, rest.next().is_some(), total)
    }
}
