//! A typed model of the part of OpenAPI 3.1 (and JSON Schema 2020-12) that the emitter writes.
//!
//! The model is built from the IR and then serialized, one path item or component at a time
//! (see `writer`); the document's own keys are written by `document`. Field order in these
//! structs is the key order of the output, so it is chosen for reading: what a thing is first,
//! its details after. Empty collections and unset options are left out, so that documents stay
//! short.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Info {
    pub(super) title: String,
    pub(super) version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(rename = "termsOfService", skip_serializing_if = "Option::is_none")]
    pub(super) terms_of_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) contact: Option<Contact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) license: Option<License>,
    /// The API version this document describes, the `N` of `/vN/...`.
    #[serde(rename = "x-api-version")]
    pub(super) api_version: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct License {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<String>,
}

/// A server (`servers`) or external documentation (`externalDocs`): a URL, described.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Link {
    pub(super) url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Tag {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
}

/// The operations of one path, in the order readers expect: read, create, replace, change,
/// delete.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct PathItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) get: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) post: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) put: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) patch: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) delete: Option<Operation>,
}

impl PathItem {
    /// The operations of the path, in the order they are written.
    pub(super) fn operations(&self) -> impl Iterator<Item = &Operation> {
        [&self.get, &self.post, &self.put, &self.patch, &self.delete]
            .into_iter()
            .flatten()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Operation {
    pub(super) tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    pub(super) operation_id: String,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) deprecated: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request_body: Option<RequestBody>,
    /// Keyed by status code; three-digit codes sort numerically as strings.
    pub(super) responses: BTreeMap<Cow<'static, str>, RefOr<Response>>,
    /// `Some(vec![])` is meaningful: it says the operation needs no credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) security: Option<Vec<SecurityRequirement>>,
    #[serde(rename = "x-cmmv-roles", skip_serializing_if = "Option::is_none")]
    pub(super) roles: Option<RolesExtension>,
    #[serde(rename = "x-cmmv-rate-limit", skip_serializing_if = "Option::is_none")]
    pub(super) rate_limit: Option<RateLimitExtension>,
    /// The owner field and bypass roles of an owned contract's CRUD operation.
    #[serde(rename = "x-cmmv-owner", skip_serializing_if = "Option::is_none")]
    pub(super) owner: Option<OwnerExtension>,
}

/// `x-cmmv-owner`: which field holds the owner, and which roles reach every resource.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct OwnerExtension {
    pub(super) field: String,
    pub(super) bypass: Vec<String>,
}

/// Scheme name -> role names (empty: any principal the scheme authenticates).
pub(super) type SecurityRequirement = BTreeMap<&'static str, Vec<String>>;

/// The exact role rule, which `security` alone cannot say: OpenAPI reads the listed roles as
/// all required, while contracts default to "any of them".
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct RolesExtension {
    pub(super) roles: Vec<String>,
    pub(super) require: &'static str,
}

#[derive(Debug, Clone)]
pub(super) enum RateLimitExtension {
    /// The operation is explicitly exempt from rate limiting.
    Unlimited,
    /// Every policy applies; a request must pass all of them.
    Policies(Vec<RateLimitPolicy>),
}

impl Serialize for RateLimitExtension {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RateLimitExtension::Unlimited => serializer.serialize_str("none"),
            RateLimitExtension::Policies(policies) => policies.serialize(serializer),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct RateLimitPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    pub(super) limit: u32,
    /// Seconds with an `s` suffix, e.g. `60s`, so the unit is never in doubt.
    pub(super) period: String,
    pub(super) burst: u32,
    pub(super) key: String,
    /// Only when the contract chose: otherwise the deployment's setting decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) on_error: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ParameterLocation {
    Path,
    Query,
    Header,
    Cookie,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Parameter {
    pub(super) name: String,
    #[serde(rename = "in")]
    pub(super) location: ParameterLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) style: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) explode: Option<bool>,
    pub(super) schema: Schema,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct RequestBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    pub(super) required: bool,
    pub(super) content: BTreeMap<Cow<'static, str>, MediaType>,
}

/// The schema is boxed here and in `Header`: both sit in `BTreeMap`s of one or two entries,
/// whose nodes have room for eleven, and a `Schema` inline would make every such node several
/// kilobytes.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct MediaType {
    pub(super) schema: Box<Schema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) example: Option<serde_json::Value>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Response {
    pub(super) description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) headers: BTreeMap<&'static str, RefOr<Header>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) content: BTreeMap<Cow<'static, str>, MediaType>,
    /// Operations a client can call next with what this response holds (OpenAPI links).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) links: BTreeMap<String, OperationLink>,
}

/// An OpenAPI link: `operationId` called with parameters read from the response.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct OperationLink {
    #[serde(rename = "operationId")]
    pub(super) operation_id: String,
    pub(super) parameters: BTreeMap<&'static str, String>,
    pub(super) description: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Header {
    pub(super) description: String,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) required: bool,
    pub(super) schema: Box<Schema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) example: Option<serde_json::Value>,
}

/// A reusable object, or a reference to one in `components`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub(super) enum RefOr<T> {
    Ref {
        #[serde(rename = "$ref")]
        reference: Cow<'static, str>,
        /// What this use of the referenced object means here (OpenAPI 3.1 lets a reference
        /// override the description of what it names).
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    Item(T),
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type")]
pub(super) enum SecurityScheme {
    #[serde(rename = "http", rename_all = "camelCase")]
    Http {
        description: &'static str,
        scheme: &'static str,
        bearer_format: &'static str,
    },
    #[serde(rename = "apiKey")]
    ApiKey {
        description: &'static str,
        #[serde(rename = "in")]
        location: &'static str,
        name: &'static str,
    },
}

/// A JSON Schema 2020-12 schema object, limited to the keywords the emitter uses.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schema {
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) ty: Option<SchemaType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) content_encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub(super) enum_values: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Properties::is_empty")]
    pub(super) properties: Properties,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) required: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_properties: Option<AdditionalProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) items: Option<Box<Schema>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) any_of: Vec<Schema>,
    /// Only `not: {type: null}`, which makes a `json` field that is not nullable refuse `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) not: Option<Box<Schema>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) minimum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) maximum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exclusive_minimum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exclusive_maximum: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) multiple_of: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_items: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) unique_items: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_properties: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_properties: Option<u64>,
    /// Boxed: few schemas have a default, and a JSON value inline would add 64 bytes to every
    /// schema, of which a large document holds hundreds of thousands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) default: Option<Box<serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) examples: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) read_only: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) write_only: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) deprecated: bool,
    /// Bounds that JSON Schema cannot state for the value's wire form: byte lengths of base64
    /// text and numeric bounds of decimal strings. Keyed `x-min-bytes`, `x-minimum`, ...
    #[serde(flatten)]
    pub(super) extensions: BTreeMap<&'static str, serde_json::Value>,
    /// The contract whose primary key the value holds (a foreign key).
    #[serde(rename = "x-cmmv-references", skip_serializing_if = "Option::is_none")]
    pub(super) references: Option<String>,
}

impl Schema {
    /// A schema of one JSON type.
    pub(super) fn of_type(ty: JsonType) -> Schema {
        Schema {
            ty: Some(SchemaType {
                ty,
                nullable: false,
            }),
            ..Schema::default()
        }
    }

    /// `{"$ref": "#/components/schemas/<name>"}`.
    pub(super) fn reference(name: &str) -> Schema {
        Schema {
            reference: Some(schema_ref(name)),
            ..Schema::default()
        }
    }

    /// The component names this schema refers to, directly or through nested schemas.
    pub(super) fn collect_refs<'s>(&'s self, out: &mut Vec<&'s str>) {
        if let Some(name) = self
            .reference
            .as_deref()
            .and_then(|r| r.strip_prefix(SCHEMA_REF_PREFIX))
        {
            out.push(name);
        }
        let nested = self
            .properties
            .0
            .iter()
            .map(|(_, schema)| schema)
            .chain(self.items.as_deref())
            .chain(self.any_of.iter())
            .chain(
                self.additional_properties
                    .as_ref()
                    .and_then(|extra| match extra {
                        AdditionalProperties::Schema(schema) => Some(&**schema),
                        AdditionalProperties::Allowed(_) => None,
                    }),
            );
        for schema in nested {
            schema.collect_refs(out);
        }
    }
}

const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// The `$ref` of a component schema.
pub(super) fn schema_ref(name: &str) -> String {
    format!("{SCHEMA_REF_PREFIX}{name}")
}

/// The JSON types of JSON Schema's `type` keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }
}

/// `"string"`, or `["string", "null"]` when the value may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SchemaType {
    pub(super) ty: JsonType,
    pub(super) nullable: bool,
}

impl Serialize for SchemaType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.nullable {
            let mut seq = serializer.serialize_seq(Some(2))?;
            seq.serialize_element(self.ty.name())?;
            seq.serialize_element("null")?;
            seq.end()
        } else {
            serializer.serialize_str(self.ty.name())
        }
    }
}

/// `additionalProperties`: `false` for closed objects, a schema for maps.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub(super) enum AdditionalProperties {
    Allowed(bool),
    Schema(Box<Schema>),
}

/// Object properties in declaration order, which is the order users wrote their fields in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Properties(pub(super) Vec<(String, Schema)>);

impl Properties {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, schema) in &self.0 {
            map.serialize_entry(name, schema)?;
        }
        map.end()
    }
}

/// The JSON number closest to `x`: an integer when `x` is one, so that bounds read `1`, not `1.0`.
pub(super) fn number(x: f64) -> Option<serde_json::Number> {
    // Integral values inside the range where f64 represents every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() <= EXACT {
        Some(serde_json::Number::from(x as i64))
    } else {
        serde_json::Number::from_f64(x)
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}
