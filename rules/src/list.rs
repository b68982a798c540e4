//! What a list operation accepts in its query string, which the OpenAPI documents describe and
//! the server parses: its own parameters, and the filter operators each type of field takes.
//! One table, so that every `field[op]` a document lists is one the server accepts and no
//! other.

/// The list operation's own query parameters: a filterable field may not be called so.
/// `include_total` is the older name of `count`, still accepted.
pub const LIST_PARAMETERS: &[&str] = &[
    "limit",
    "offset",
    "cursor",
    "sort",
    "count",
    "include_total",
    "fields",
];

/// The most values one `in` or `nin` filter may list: a bound on the statement's parameters
/// (SQLite allows 32,766 in all) and on the work one request asks for.
pub const MAX_IN_VALUES: usize = 100;

/// What a filter compares a field with, as written in brackets after its name:
/// `?priority[in]=high,normal`. A plain `?field=value` is [`Operator::Eq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Contains,
    IContains,
    Prefix,
    IPrefix,
    IsNull,
}

/// What kind of value a filterable field holds, which decides its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Bool,
    Int,
    Float,
    Decimal,
    Uuid,
    Date,
    DateTime,
    Enum,
}

impl ValueKind {
    /// Whether values of the kind have an order a client may ask about (`gt`, `lte`...):
    /// numbers, dates, instants and text. UUIDs, booleans and enums (whose stored order is
    /// their wire names' alphabetical one, not the declared one) compare for equality only.
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            ValueKind::Text
                | ValueKind::Int
                | ValueKind::Float
                | ValueKind::Decimal
                | ValueKind::Date
                | ValueKind::DateTime
        )
    }
}

impl Operator {
    /// Every operator, in the order documents list them.
    pub const ALL: [Operator; 13] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::In,
        Operator::Nin,
        Operator::Contains,
        Operator::IContains,
        Operator::Prefix,
        Operator::IPrefix,
        Operator::IsNull,
    ];

    /// The name written in brackets: `gte`.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Ne => "ne",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::In => "in",
            Operator::Nin => "nin",
            Operator::Contains => "contains",
            Operator::IContains => "icontains",
            Operator::Prefix => "prefix",
            Operator::IPrefix => "iprefix",
            Operator::IsNull => "is_null",
        }
    }

    /// The operator written `name`.
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether a field of `kind` (nullable or not) takes this operator.
    pub fn applies_to(self, kind: ValueKind, nullable: bool) -> bool {
        match self {
            Operator::Eq | Operator::Ne | Operator::In | Operator::Nin => true,
            Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => kind.is_ordered(),
            Operator::Contains | Operator::IContains | Operator::Prefix | Operator::IPrefix => {
                kind == ValueKind::Text
            }
            Operator::IsNull => nullable,
        }
    }

    /// The operators a field of `kind` takes.
    pub fn for_field(kind: ValueKind, nullable: bool) -> impl Iterator<Item = Operator> {
        Operator::ALL
            .into_iter()
            .filter(move |op| op.applies_to(kind, nullable))
    }

    /// Whether the value is a comma-separated list (`in`, `nin`).
    pub fn takes_list(self) -> bool {
        matches!(self, Operator::In | Operator::Nin)
    }

    /// Whether the value is text matched against the field's text, whatever the field's type
    /// (`contains`, `prefix` and their case-insensitive twins).
    pub fn matches_text(self) -> bool {
        matches!(
            self,
            Operator::Contains | Operator::IContains | Operator::Prefix | Operator::IPrefix
        )
    }

    /// What an item's field must be for the item to be listed, completing "Only items whose
    /// `title` ...".
    pub fn meaning(self) -> &'static str {
        match self {
            Operator::Eq => "equals this value",
            Operator::Ne => "differs from this value (items where it is null are left out)",
            Operator::Gt => "is greater than this value",
            Operator::Gte => "is greater than or equal to this value",
            Operator::Lt => "is less than this value",
            Operator::Lte => "is less than or equal to this value",
            Operator::In => "equals one of these comma-separated values",
            Operator::Nin => {
                "equals none of these comma-separated values (items where it is null are left out)"
            }
            Operator::Contains => "contains this text (case-sensitive)",
            Operator::IContains => "contains this text, ignoring the case of ASCII letters",
            Operator::Prefix => "starts with this text (case-sensitive)",
            Operator::IPrefix => "starts with this text, ignoring the case of ASCII letters",
            Operator::IsNull => "is null (`true`) or is not null (`false`)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_follow_the_type() {
        let names = |kind, nullable| {
            Operator::for_field(kind, nullable)
                .map(Operator::name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(ValueKind::Bool, false), ["eq", "ne", "in", "nin"]);
        assert_eq!(
            names(ValueKind::Uuid, true),
            ["eq", "ne", "in", "nin", "is_null"]
        );
        assert_eq!(
            names(ValueKind::DateTime, false),
            ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
        );
        assert_eq!(names(ValueKind::Text, false).len(), 12);
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.name()), Some(op));
        }
        assert_eq!(Operator::from_name("like"), None);
    }
}
