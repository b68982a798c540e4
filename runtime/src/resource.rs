//! What a contract's resource type offers the runtime: its key, how it is built from a create
//! request and changed by replace and patch requests, and the fields lists filter and sort on.
//! Generated code implements [`Resource`]; stores and the default CRUD handlers use only it.

use std::cmp::Ordering;
use std::fmt::{Debug, Display};
use std::str::FromStr;

use serde::Serialize;

use cmmv_rules::list::{Operator, ValueKind};

use crate::types::{Date, DateTime, Decimal, ParseError, Uuid};

/// A value of a filterable or sortable field, compared across resources.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// No value (an optional field left unset); sorts after every value.
    Null,
    /// A `bool` field.
    Bool(bool),
    /// An `int32` or `int64` field.
    Int(i64),
    /// A `float` or `double` field, or a `decimal` (compared as its nearest `f64`).
    Float(f64),
    /// A `string` field, and the fields that compare as their text: enums (by wire name), UUIDs
    /// and dates (`YYYY-MM-DD`, which orders chronologically).
    Text(String),
    /// Instants compare as nanoseconds since the epoch, whatever their offset.
    Time(i128),
}

impl FieldValue {
    /// A total order for sorting: by value, floats by `total_cmp`, nulls after every value
    /// (so first when descending), which is how PostgreSQL's indexes order them and how the
    /// SQL stores sort.
    pub fn sort_cmp(&self, other: &Self) -> Ordering {
        use FieldValue::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Int(a), Float(b)) => (*a as f64).total_cmp(b),
            (Float(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Text(a), Text(b)) => a.cmp(b),
            (Time(a), Time(b)) => a.cmp(b),
            // Values of one field always share a variant; this keeps the order total anyway.
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            FieldValue::Null => 0,
            FieldValue::Bool(_) => 1,
            FieldValue::Int(_) => 2,
            FieldValue::Float(_) => 3,
            FieldValue::Text(_) => 4,
            FieldValue::Time(_) => 5,
        }
    }
}

/// Conversion of a field's Rust value into a [`FieldValue`].
#[doc(hidden)]
pub trait ToFieldValue {
    fn to_field_value(&self) -> FieldValue;
}

impl ToFieldValue for String {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Text(self.clone())
    }
}

impl ToFieldValue for bool {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Bool(*self)
    }
}

impl ToFieldValue for i32 {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Int(i64::from(*self))
    }
}

impl ToFieldValue for i64 {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Int(*self)
    }
}

impl ToFieldValue for f32 {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Float(f64::from(*self))
    }
}

impl ToFieldValue for f64 {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Float(*self)
    }
}

impl ToFieldValue for Uuid {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Text(self.to_string())
    }
}

impl ToFieldValue for Date {
    fn to_field_value(&self) -> FieldValue {
        // `YYYY-MM-DD` text orders chronologically.
        FieldValue::Text(self.to_string())
    }
}

impl ToFieldValue for DateTime {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Time(self.unix_nanos())
    }
}

impl ToFieldValue for Decimal {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Float(self.to_f64())
    }
}

impl<T: ToFieldValue> ToFieldValue for Option<T> {
    fn to_field_value(&self) -> FieldValue {
        self.as_ref()
            .map_or(FieldValue::Null, ToFieldValue::to_field_value)
    }
}

/// How to read a filter value from a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum FieldKind {
    Text,
    Bool,
    Int,
    Float,
    Uuid,
    Date,
    DateTime,
    Decimal,
    /// One of these values.
    Enum(&'static [&'static str]),
}

impl FieldKind {
    /// Parses a query-string value into the value the field compares with. Date-times keep
    /// whole microseconds, the precision every store keeps, so that a finer value compares
    /// alike in all of them.
    pub fn parse(self, raw: &str) -> Result<FieldValue, ParseError> {
        match self {
            FieldKind::Text => Ok(FieldValue::Text(raw.to_owned())),
            FieldKind::Bool => match raw {
                "true" => Ok(FieldValue::Bool(true)),
                "false" => Ok(FieldValue::Bool(false)),
                _ => Err(ParseError::new(raw, "`true` or `false`")),
            },
            FieldKind::Int => raw
                .parse()
                .map(FieldValue::Int)
                .map_err(|_| ParseError::new(raw, "an integer")),
            FieldKind::Float => raw
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(FieldValue::Float)
                .ok_or_else(|| ParseError::new(raw, "a number")),
            FieldKind::Uuid => raw
                .parse::<Uuid>()
                .map(|u| FieldValue::Text(u.to_string()))
                .map_err(|_| ParseError::new(raw, "a UUID")),
            FieldKind::Date => raw.parse::<Date>().map(|d| d.to_field_value()),
            FieldKind::DateTime => raw
                .parse::<DateTime>()
                .map(|d| FieldValue::Time(d.unix_nanos().div_euclid(1000) * 1000)),
            FieldKind::Decimal => raw.parse::<Decimal>().map(|d| d.to_field_value()),
            FieldKind::Enum(values) => {
                if values.contains(&raw) {
                    Ok(FieldValue::Text(raw.to_owned()))
                } else {
                    Err(crate::enumeration::not_one_of(raw, values))
                }
            }
        }
    }

    /// The kind the shared operator table knows.
    pub fn value_kind(self) -> ValueKind {
        match self {
            FieldKind::Text => ValueKind::Text,
            FieldKind::Bool => ValueKind::Bool,
            FieldKind::Int => ValueKind::Int,
            FieldKind::Float => ValueKind::Float,
            FieldKind::Uuid => ValueKind::Uuid,
            FieldKind::Date => ValueKind::Date,
            FieldKind::DateTime => ValueKind::DateTime,
            FieldKind::Decimal => ValueKind::Decimal,
            FieldKind::Enum(_) => ValueKind::Enum,
        }
    }

    /// Whether `value` is a value of a field of this kind (or null): the variant
    /// [`ToFieldValue`] makes of such a field.
    pub fn holds(self, value: &FieldValue) -> bool {
        matches!(
            (self, value),
            (_, FieldValue::Null)
                | (FieldKind::Bool, FieldValue::Bool(_))
                | (FieldKind::Int, FieldValue::Int(_))
                | (FieldKind::Float | FieldKind::Decimal, FieldValue::Float(_))
                | (
                    FieldKind::Text | FieldKind::Uuid | FieldKind::Date | FieldKind::Enum(_),
                    FieldValue::Text(_)
                )
                | (FieldKind::DateTime, FieldValue::Time(_))
        )
    }

    /// What a value of the kind looks like, for messages: `an integer`.
    pub fn expected(self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::{Borrowed, Owned};
        match self {
            FieldKind::Text => Borrowed("text"),
            FieldKind::Bool => Borrowed("`true` or `false`"),
            FieldKind::Int => Borrowed("an integer"),
            FieldKind::Float | FieldKind::Decimal => Borrowed("a number"),
            FieldKind::Uuid => Borrowed("a UUID"),
            FieldKind::Date => Borrowed("a date (YYYY-MM-DD)"),
            FieldKind::DateTime => Borrowed("an RFC 3339 date-time"),
            FieldKind::Enum(values) => Owned(format!("one of {}", values.join(", "))),
        }
    }
}

/// A field that list requests may filter or sort on.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct QueryField {
    pub name: &'static str,
    pub kind: FieldKind,
    /// The field may be absent or null (`optional` or `nullable`): it takes `is_null`, and
    /// nulls sort after every value.
    pub nullable: bool,
}

impl QueryField {
    /// The operators a filter on this field may use.
    pub fn operators(&self) -> impl Iterator<Item = Operator> {
        Operator::for_field(self.kind.value_kind(), self.nullable)
    }
}

/// The type of a resource's primary key.
pub trait Key:
    Clone
    + Ord
    + Send
    + Sync
    + Debug
    + Display
    + FromStr
    + Serialize
    + ToFieldValue
    + crate::sql::SqlColumn
    + 'static
{
    /// What the key is called in messages ("a UUID").
    const DESCRIPTION: &'static str;
    /// How the key's value compares, for the positions list cursors carry.
    const KIND: FieldKind;
}

impl Key for Uuid {
    const DESCRIPTION: &'static str = "a UUID";
    const KIND: FieldKind = FieldKind::Uuid;
}

impl Key for i64 {
    const DESCRIPTION: &'static str = "an integer";
    const KIND: FieldKind = FieldKind::Int;
}

impl Key for String {
    const DESCRIPTION: &'static str = "a string";
    const KIND: FieldKind = FieldKind::Text;
}

/// Who owns the resources of a contract (`owner:` in the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// The field holding the owner's account id: the `sub` of the tokens of whoever created
    /// the resource.
    pub field: &'static str,
    /// Roles whose holders reach every resource, whoever owns it (`admin`).
    pub bypass: &'static [&'static str],
}

/// A contract's resource. Implemented by generated code.
pub trait Resource: Clone + Send + Sync + Debug + Serialize + 'static {
    /// The type of the primary key (`Uuid`, `i64` or `String`), which paths carry as `{id}`.
    type Key: Key;
    /// The create / replace body.
    type Input: Send + 'static;
    /// The patch body.
    type Patch: Send + 'static;

    /// The contract name, for messages ("Task `...` does not exist").
    const NAME: &'static str;
    /// The name of the primary-key field.
    const KEY_FIELD: &'static str;
    /// The fields a list request may filter on (`?status=open`, `?due_at[lt]=...`), with how
    /// to read each one's value from the query string.
    const FILTERABLE: &'static [QueryField];
    /// The fields a list request may sort by (`?sort=-created_at,title`).
    const SORTABLE: &'static [QueryField];
    /// The fields of the resource as responses show it (write-only ones left out), which a
    /// list request may select (`?fields=id,title`).
    const FIELDS: &'static [&'static str];
    /// Fields with a unique constraint besides the key.
    const UNIQUE: &'static [&'static str];
    /// `?limit=` default and hard maximum.
    const DEFAULT_LIMIT: u32;
    /// The largest `?limit=` accepted; a larger one is answered with a 422.
    const MAX_LIMIT: u32;

    /// The value of the key field ([`Resource::KEY_FIELD`]): what identifies this resource in its
    /// store and in paths.
    fn key(&self) -> &Self::Key;

    /// The key of a resource about to be created: a new UUID v7 or the next sequence value
    /// for server-generated keys, the client's value for client-chosen ones.
    fn new_key(input: &Self::Input, sequence: u64) -> Self::Key;

    /// The key a create or replace body carries, for client-chosen keys (`None` otherwise).
    fn input_key(input: &Self::Input) -> Option<Self::Key>;

    /// The resource a create request makes.
    fn create(key: Self::Key, input: Self::Input, now: DateTime) -> Self;

    /// Replaces every input field (PUT); read-only fields keep their values.
    fn replace(&mut self, input: Self::Input, now: DateTime);

    /// Changes the fields the patch carries.
    fn patch(&mut self, patch: Self::Patch, now: DateTime);

    /// The value of a filterable, sortable or unique field.
    fn field(&self, name: &str) -> Option<FieldValue>;

    /// Who owns each resource (`owner:` in the contract), when someone does: the default CRUD
    /// operations then set the owner from the caller on create, and touch only the caller's
    /// own resources unless the caller holds a bypass role.
    const OWNERSHIP: Option<Ownership> = None;

    /// Whether the account `subject` can own resources: the owner field holds it (a `uuid`
    /// field only UUIDs). Generated for owned contracts.
    fn can_own(_subject: &str) -> bool {
        false
    }

    /// Makes the account `subject` the owner of a resource about to be created; called with
    /// subjects [`Resource::can_own`] accepts. Generated for owned contracts.
    fn set_owner(&mut self, _subject: &str) {}

    /// The secret fields (`type: secret`) a create or replace body carries, which the default
    /// CRUD operations hash before [`Resource::create`] or [`Resource::replace`]. Generated
    /// for contracts with secrets; none otherwise.
    fn input_secrets(_input: &mut Self::Input) -> Vec<&mut crate::secret::Secret> {
        Vec::new()
    }

    /// The secret fields a patch body carries, hashed before [`Resource::patch`].
    fn patch_secrets(_patch: &mut Self::Patch) -> Vec<&mut crate::secret::Secret> {
        Vec::new()
    }
}

/// A contract bound to the login module's accounts (`account:`): each account's record,
/// keyed by the account id, made by the module rather than by clients (see
/// [`crate::auth::AccountRecords`]). Generated for the account contract.
pub trait AccountRecord: Resource {
    /// The record of a new account: its key and email, every other field its default.
    fn for_account(key: Self::Key, email: &str, now: DateTime) -> Self;

    /// The account's email, as the record shows it.
    fn account_email(&self) -> &str;

    /// Shows the account's new email.
    fn set_account_email(&mut self, email: &str, now: DateTime);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_order_is_total_and_puts_nulls_last() {
        let mut values = [
            FieldValue::Float(2.0),
            FieldValue::Null,
            FieldValue::Float(f64::NAN),
            FieldValue::Float(-1.0),
        ];
        values.sort_by(FieldValue::sort_cmp);
        assert_eq!(values[0], FieldValue::Float(-1.0));
        assert_eq!(values[3], FieldValue::Null);
    }

    #[test]
    fn query_values_parse_by_kind() {
        assert_eq!(FieldKind::Bool.parse("true"), Ok(FieldValue::Bool(true)));
        assert!(FieldKind::Int.parse("1.5").is_err());
        assert!(FieldKind::Enum(&["low", "high"]).parse("mid").is_err());
        assert!(FieldKind::Float.parse("NaN").is_err());
    }
}
