//! IR -> proto3: one file per contract, `proto/<contract>.proto`.
//!
//! Every decision (names, numbers, labels, comments, imports, order) is made here, in Rust, and
//! collected into a view model; the minijinja template `proto.proto.j2` only lays
//! the view out, so a user who overrides the template changes the look, never the meaning.
//!
//! What a contract `Task` becomes:
//!
//! - `message Task`: the resource as returned (write-only fields left out), numbered by the
//!   lock file, with `reserved` lines for removed fields;
//! - `TaskInput`, `TaskPatch`, `TaskFilter`, `TaskPage` when an operation uses them; the first
//!   three reuse `Task`'s numbers (and its reserved ones), so a field keeps its number in every
//!   message that carries it;
//! - its user messages and enums;
//! - `service TaskService` with one rpc per operation, each with a request message
//!   (`TaskGetRequest`, ...) and, for list responses, a response wrapper.
//!
//! Files import `google/protobuf/*.proto` for well-known types and `<other contract>.proto`
//! (relative to the `proto/` directory, which is the include root to give protoc) for types
//! declared by other contracts. All files share the project's proto package.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::diag::{Diagnostic, SourceMap, Span, display_path};
use crate::ir::{
    Body, BodyType, Contract, CrudKind, Definition, DerivedBody, EnumDef, Field, Format, Message,
    Operation, Project, Scalar, Type, proto_enum_value_name, to_pascal_case,
    to_screaming_snake_case, to_snake_case,
};
use crate::lock::{BODY_FIELD, Lock};
use crate::templates::Templates;

use super::{GeneratedFile, header};

/// The template every proto file is rendered through.
pub const TEMPLATE: &str = "proto.proto.j2";

const TIMESTAMP: &str = "google.protobuf.Timestamp";
const VALUE: &str = "google.protobuf.Value";
const EMPTY: &str = "google.protobuf.Empty";

/// The path of a contract's proto file, relative to the output directory.
pub fn file_path(contract: &Contract) -> PathBuf {
    PathBuf::from(format!("proto/{}", import_path(contract)))
}

/// How other proto files import a contract's file (the `proto/` directory is the include root).
fn import_path(contract: &Contract) -> String {
    format!("{}.proto", to_snake_case(&contract.name))
}

/// One `.proto` file per contract under `proto/`, or every problem met.
pub fn emit(
    project: &Project,
    lock: &Lock,
    templates: &Templates,
    sources: &SourceMap,
) -> Result<Vec<GeneratedFile>, Vec<Diagnostic>> {
    let emitter = ProtoEmitter::new(project, lock, templates, sources).map_err(|d| vec![d])?;
    // Every file's view and text depend only on the project, so the files are built and
    // rendered on both cores.
    let contracts = emitter.contracts();
    let files = crate::parallel::map(&contracts, |contract| emitter.file(contract));
    finish(files)
}

/// The proto emitter, ready to render: the template compiled. Names protoc would refuse were
/// reported by validation, before any emitter runs.
/// Each contract's file is rendered on its own ([`ProtoEmitter::file`], on any thread), and
/// [`ProtoEmitter::finish`] checks what needs all of them.
pub(crate) struct ProtoEmitter<'a> {
    project: &'a Project,
    lock: &'a Lock,
    sources: &'a SourceMap,
    all_versions: BTreeSet<u32>,
    env: Environment<'a>,
}

/// One contract's rendered file, or why it could not be.
pub(crate) type ContractFile = Result<GeneratedFile, Diagnostic>;

impl<'a> ProtoEmitter<'a> {
    pub(crate) fn new(
        project: &'a Project,
        lock: &'a Lock,
        templates: &'a Templates,
        sources: &'a SourceMap,
    ) -> Result<Self, Diagnostic> {
        let source = templates.get(TEMPLATE).ok_or_else(|| {
            Diagnostic::global(format!("the template `{TEMPLATE}` is missing"))
                .with_help("the template directory overrides built-in templates by file name")
        })?;
        let env = environment(source)?;
        env.get_template(TEMPLATE).map_err(|e| template_error(&e))?;
        Ok(Self {
            project,
            lock,
            sources,
            all_versions: project.versions(),
            env,
        })
    }

    /// The contracts to render, in order.
    pub(crate) fn contracts(&self) -> Vec<&'a Contract> {
        self.project.contracts.values().collect()
    }

    /// Builds and renders one contract's file. Its view is dropped as soon as its text exists:
    /// a large project's views take several times the memory of its texts.
    pub(crate) fn file(&self, contract: &'a Contract) -> ContractFile {
        let mut builder = FileBuilder::new(self.project, self.lock, &self.all_versions, contract);
        let view = builder.build()?;
        let template = self
            .env
            .get_template(TEMPLATE)
            .map_err(|e| template_error(&e))?;
        let body = template
            .render(Value::from_object(view))
            .map_err(|e| template_error(&e))?;
        let origin = display_path(self.sources.name(contract.file));
        Ok(GeneratedFile {
            path: file_path(contract),
            contents: header("//", &origin) + &body,
        })
    }
}

/// The files of every contract (`files` in contract order), or every problem met (in contract
/// order, so that they do not depend on which thread rendered what). Import cycles are not
/// among them: validation reports those before any emitter runs.
pub(crate) fn finish(files: Vec<ContractFile>) -> Result<Vec<GeneratedFile>, Vec<Diagnostic>> {
    let (files, problems): (Vec<_>, Vec<_>) = files.into_iter().partition(Result::is_ok);
    if !problems.is_empty() {
        // A template's error is met by every file: once is enough.
        let mut global = BTreeSet::new();
        return Err(problems
            .into_iter()
            .filter_map(Result::err)
            .filter(|d| !d.labels.is_empty() || global.insert(d.message.clone()))
            .collect());
    }
    let mut files: Vec<GeneratedFile> = files.into_iter().filter_map(Result::ok).collect();
    files.sort();
    Ok(files)
}

/// A strict environment: an undefined variable is an error, not an empty string, so a template
/// and the view model cannot drift apart silently.
fn environment(source: &str) -> Result<Environment<'_>, Diagnostic> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error(&e))?;
    env.set_syntax(syntax);
    env.add_template(TEMPLATE, source)
        .map_err(|e| template_error(&e))?;
    Ok(env)
}

fn template_error(error: &minijinja::Error) -> Diagnostic {
    let name = error.name().unwrap_or(TEMPLATE);
    let line = error
        .line()
        .map_or_else(String::new, |line| format!(", line {line}"));
    let detail = error.detail().map_or_else(
        || error.kind().to_string(),
        |d| format!("{}: {d}", error.kind()),
    );
    Diagnostic::global(format!("template `{name}`{line}: {detail}")).with_help(
        "a template overridden with `--templates` must use only the variables of the built-in \
         one (see compiler/src/emit/proto.rs for the view model)",
    )
}

// ---- view model ------------------------------------------------------------------------------
//
// Each view is a minijinja object that the template reads attribute by attribute, its nested
// views shared through `Arc`s. Converting the views into the engine's own values (through
// serde) first copied every view into a tree of maps that was dropped right after rendering:
// about a sixth of the proto emitter's work.

#[derive(Debug)]
struct FileView {
    package: String,
    imports: Vec<String>,
    /// The resource message, its derived messages and the user messages, in that order.
    messages: Vec<Arc<MessageView>>,
    enums: Vec<Arc<EnumView>>,
    service: Option<Arc<ServiceView>>,
}

#[derive(Debug)]
struct MessageView {
    name: String,
    comments: Vec<String>,
    deprecated: bool,
    fields: Vec<Arc<FieldView>>,
    reserved: Arc<ReservedView>,
}

impl MessageView {
    fn new(
        name: String,
        comments: Vec<String>,
        fields: Vec<FieldView>,
        reserved: ReservedView,
    ) -> MessageView {
        MessageView {
            name,
            comments,
            deprecated: false,
            fields: shared(fields),
            reserved: Arc::new(reserved),
        }
    }
}

#[derive(Debug)]
struct FieldView {
    comments: Vec<String>,
    /// `optional`, `repeated` or empty.
    label: &'static str,
    ty: String,
    name: String,
    number: u32,
    deprecated: bool,
}

/// Numbers and names of removed fields or values, both ordered by number.
#[derive(Debug, Default)]
struct ReservedView {
    numbers: Vec<u32>,
    names: Vec<String>,
}

impl ReservedView {
    fn new<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a u32)>,
        rename: impl Fn(&str) -> String,
    ) -> Self {
        let mut entries: Vec<(u32, &String)> =
            entries.into_iter().map(|(name, n)| (*n, name)).collect();
        entries.sort();
        Self {
            numbers: entries.iter().map(|(n, _)| *n).collect(),
            names: entries.iter().map(|(_, name)| rename(name)).collect(),
        }
    }
}

#[derive(Debug)]
struct EnumView {
    name: String,
    comments: Vec<String>,
    values: Vec<Arc<EnumValueView>>,
    reserved: Arc<ReservedView>,
}

#[derive(Debug)]
struct EnumValueView {
    name: String,
    number: u32,
    comments: Vec<String>,
}

#[derive(Debug)]
struct ServiceView {
    name: String,
    comments: Vec<String>,
    rpcs: Vec<Arc<RpcView>>,
    /// Request messages and response wrappers, in rpc order.
    messages: Vec<Arc<MessageView>>,
}

#[derive(Debug)]
struct RpcView {
    name: String,
    comments: Vec<String>,
    request: String,
    response: String,
    deprecated: bool,
}

/// A view as the template sees it: its attributes by name. The names are those the template's
/// opening comment lists.
trait View: std::fmt::Debug + Send + Sync + 'static {
    const ATTRIBUTES: &'static [&'static str];

    fn attribute(&self, name: &str) -> Option<Value>;
}

macro_rules! template_objects {
    ($($view:ty),* $(,)?) => {$(
        impl Object for $view {
            fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
                self.attribute(key.as_str()?)
            }

            fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
                self.attribute(key)
            }

            fn enumerate(self: &Arc<Self>) -> Enumerator {
                Enumerator::Str(Self::ATTRIBUTES)
            }
        }
    )*};
}

template_objects!(
    FileView,
    MessageView,
    FieldView,
    ReservedView,
    EnumView,
    EnumValueView,
    ServiceView,
    RpcView,
);

impl View for FileView {
    const ATTRIBUTES: &'static [&'static str] =
        &["package", "imports", "messages", "enums", "service"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "package" => Value::from(self.package.as_str()),
            "imports" => texts(&self.imports),
            "messages" => objects(&self.messages),
            "enums" => objects(&self.enums),
            "service" => self
                .service
                .as_ref()
                .map_or_else(|| Value::from(()), |s| Value::from_dyn_object(s.clone())),
            _ => return None,
        })
    }
}

impl View for MessageView {
    const ATTRIBUTES: &'static [&'static str] =
        &["name", "comments", "deprecated", "fields", "reserved"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "deprecated" => Value::from(self.deprecated),
            "fields" => objects(&self.fields),
            "reserved" => Value::from_dyn_object(self.reserved.clone()),
            _ => return None,
        })
    }
}

impl View for FieldView {
    const ATTRIBUTES: &'static [&'static str] =
        &["comments", "label", "type", "name", "number", "deprecated"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "comments" => texts(&self.comments),
            "label" => Value::from(self.label),
            "type" => Value::from(self.ty.as_str()),
            "name" => Value::from(self.name.as_str()),
            "number" => Value::from(self.number),
            "deprecated" => Value::from(self.deprecated),
            _ => return None,
        })
    }
}

impl View for ReservedView {
    const ATTRIBUTES: &'static [&'static str] = &["numbers", "names"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "numbers" => self.numbers.iter().copied().map(Value::from).collect(),
            "names" => texts(&self.names),
            _ => return None,
        })
    }
}

impl View for EnumView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "comments", "values", "reserved"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "values" => objects(&self.values),
            "reserved" => Value::from_dyn_object(self.reserved.clone()),
            _ => return None,
        })
    }
}

impl View for EnumValueView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "number", "comments"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "number" => Value::from(self.number),
            "comments" => texts(&self.comments),
            _ => return None,
        })
    }
}

impl View for ServiceView {
    const ATTRIBUTES: &'static [&'static str] = &["name", "comments", "rpcs", "messages"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "rpcs" => objects(&self.rpcs),
            "messages" => objects(&self.messages),
            _ => return None,
        })
    }
}

impl View for RpcView {
    const ATTRIBUTES: &'static [&'static str] =
        &["name", "comments", "request", "response", "deprecated"];

    fn attribute(&self, name: &str) -> Option<Value> {
        Some(match name {
            "name" => Value::from(self.name.as_str()),
            "comments" => texts(&self.comments),
            "request" => Value::from(self.request.as_str()),
            "response" => Value::from(self.response.as_str()),
            "deprecated" => Value::from(self.deprecated),
            _ => return None,
        })
    }
}

/// A list of strings as a template sequence.
fn texts(items: &[String]) -> Value {
    items
        .iter()
        .map(|item| Value::from(item.as_str()))
        .collect()
}

/// A list of views as a template sequence of the views themselves.
fn objects<T: Object + 'static>(items: &[Arc<T>]) -> Value {
    items
        .iter()
        .map(|item| Value::from_dyn_object(item.clone()))
        .collect()
}

/// Views ready to be shared with the template.
fn shared<T>(items: Vec<T>) -> Vec<Arc<T>> {
    items.into_iter().map(Arc::new).collect()
}

// ---- building one file -----------------------------------------------------------------------

/// The proto form of a field type.
struct ProtoType {
    ty: String,
    repeated: bool,
    /// A message type (or a map), which has presence without `optional`, or cannot have it.
    has_presence: bool,
}

/// Whether a field should say it may be unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}

struct FileBuilder<'a, 'v> {
    project: &'a Project,
    /// The project's versions, computed once: every contract's service compares against them.
    all_versions: &'v BTreeSet<u32>,
    lock: &'a Lock,
    contract: &'a Contract,
    imports: BTreeSet<String>,
}

impl<'a, 'v> FileBuilder<'a, 'v> {
    fn new(
        project: &'a Project,
        lock: &'a Lock,
        all_versions: &'v BTreeSet<u32>,
        contract: &'a Contract,
    ) -> Self {
        Self {
            project,
            all_versions,
            lock,
            contract,
            // The files of the other contracts it uses: one rule, shared with validation's
            // check for import cycles.
            imports: project
                .contracts_used_by(contract)
                .into_keys()
                .filter_map(|name| project.contracts.get(name))
                .map(import_path)
                .collect(),
        }
    }

    fn build(&mut self) -> Result<FileView, Diagnostic> {
        let contract = self.contract;
        let mut messages = vec![self.resource_message()?];
        let derived: BTreeSet<DerivedBody> = contract
            .operations
            .values()
            .flat_map(|op| op.request.iter().chain(&op.response))
            .filter_map(|body| match body.ty {
                BodyType::Derived(d) => Some(d),
                _ => None,
            })
            .collect();
        if derived.contains(&DerivedBody::Input) {
            messages.push(self.input_message()?);
        }
        if derived.contains(&DerivedBody::Patch) {
            messages.push(self.patch_message()?);
        }
        if let Some(filter) = self.filter_message()? {
            messages.push(filter);
        }
        if derived.contains(&DerivedBody::Page) {
            messages.push(self.page_message());
        }
        for message in contract.messages.values() {
            messages.push(self.user_message(message)?);
        }
        let enums = contract
            .enums
            .values()
            .map(|def| self.enum_view(def))
            .collect::<Result<Vec<_>, _>>()?;
        let service = self.service()?;
        Ok(FileView {
            package: self.project.api.proto_package.clone(),
            imports: std::mem::take(&mut self.imports).into_iter().collect(),
            messages: shared(messages),
            enums: shared(enums),
            service,
        })
    }

    // ---- types -------------------------------------------------------------------------------

    fn proto_type(&mut self, ty: &Type) -> ProtoType {
        match ty {
            Type::Scalar(scalar) => {
                let (ty, is_message) = self.scalar(*scalar);
                ProtoType {
                    ty,
                    repeated: false,
                    has_presence: is_message,
                }
            }
            Type::Named(name) => {
                let (ty, is_message) = self.named(name);
                ProtoType {
                    ty,
                    repeated: false,
                    has_presence: is_message,
                }
            }
            Type::List(inner) => ProtoType {
                repeated: true,
                has_presence: true,
                ..self.proto_type(inner)
            },
            Type::Map(inner) => {
                let value = self.proto_type(inner);
                ProtoType {
                    ty: format!("map<string, {}>", value.ty),
                    repeated: false,
                    has_presence: true,
                }
            }
        }
    }

    /// The proto type of a scalar, and whether it is a message.
    fn scalar(&mut self, scalar: Scalar) -> (String, bool) {
        let (ty, import) = match scalar {
            Scalar::String | Scalar::Decimal | Scalar::Uuid | Scalar::Date | Scalar::Secret => {
                ("string", None)
            }
            Scalar::Bool => ("bool", None),
            Scalar::Int32 => ("int32", None),
            Scalar::Int64 => ("int64", None),
            Scalar::Float => ("float", None),
            Scalar::Double => ("double", None),
            Scalar::Bytes => ("bytes", None),
            Scalar::DateTime => (TIMESTAMP, Some("google/protobuf/timestamp.proto")),
            Scalar::Json => (VALUE, Some("google/protobuf/struct.proto")),
        };
        if let Some(import) = import {
            self.imports.insert(import.to_owned());
        }
        (ty.to_owned(), import.is_some())
    }

    /// A contract, message or enum by name (its file is imported: see
    /// [`Project::contracts_used_by`]), and whether it is a message.
    fn named(&self, name: &str) -> (String, bool) {
        let is_message = !matches!(self.project.resolve(name), Some(Definition::Enum(..)));
        (name.to_owned(), is_message)
    }

    /// The proto type of a request or response body.
    fn body_type(&mut self, body: &BodyType) -> ProtoType {
        match body {
            BodyType::Named(name) => self.proto_type(&Type::Named(name.clone())),
            BodyType::List(name) => {
                self.proto_type(&Type::List(Box::new(Type::Named(name.clone()))))
            }
            BodyType::Derived(d) => ProtoType {
                ty: d.type_name(&self.contract.name),
                repeated: false,
                has_presence: true,
            },
        }
    }

    // ---- fields ------------------------------------------------------------------------------

    /// A field of a contract or message, numbered by the lock entry of `message`.
    fn field(
        &mut self,
        message: &str,
        field: &Field,
        presence: Presence,
        extra_comments: &[String],
    ) -> Result<FieldView, Diagnostic> {
        let number = self
            .lock
            .field_number(message, &field.name)
            .ok_or_else(|| unnumbered(field.span, message, &field.name))?;
        Ok(self.numbered_field(field, number, presence, extra_comments))
    }

    /// A field with its number already known.
    fn numbered_field(
        &mut self,
        field: &Field,
        number: u32,
        presence: Presence,
        extra_comments: &[String],
    ) -> FieldView {
        let ty = self.proto_type(&field.ty);
        let mut comments = text_lines(field.description.as_deref());
        comments.extend(format_note(field));
        comments.extend(extra_comments.iter().cloned());
        FieldView {
            comments,
            label: label(&ty, presence),
            ty: ty.ty,
            name: field.name.clone(),
            number,
            deprecated: field.deprecated,
        }
    }

    /// Fields of the contract's own numbering (`Task`, `TaskInput`, `TaskPatch`, `TaskFilter`).
    fn contract_fields(
        &mut self,
        keep: impl Fn(&Field) -> bool,
        presence: impl Fn(&Field) -> Presence,
        extra_comments: impl Fn(&Field) -> Vec<String>,
    ) -> Result<Vec<FieldView>, Diagnostic> {
        let contract = self.contract;
        contract
            .fields
            .iter()
            .filter(|f| keep(f))
            .map(|f| self.field(&contract.name, f, presence(f), &extra_comments(f)))
            .collect()
    }

    /// The reserved numbers and names of a message's lock entry.
    fn reserved(&self, message: &str) -> ReservedView {
        self.lock
            .messages
            .get(message)
            .map(|entry| ReservedView::new(&entry.reserved, str::to_owned))
            .unwrap_or_default()
    }

    // ---- messages ----------------------------------------------------------------------------

    /// A message numbered like the contract itself: the resource and the messages derived
    /// from it.
    fn contract_message(
        &self,
        name: String,
        comments: Vec<String>,
        fields: Vec<FieldView>,
    ) -> MessageView {
        MessageView::new(name, comments, fields, self.reserved(&self.contract.name))
    }

    fn resource_message(&mut self) -> Result<MessageView, Diagnostic> {
        let fields = self.contract_fields(Field::is_output, may_be_unset, |_| Vec::new())?;
        let mut message = self.contract_message(
            self.contract.name.clone(),
            text_lines(self.contract.description.as_deref()),
            fields,
        );
        message.deprecated = self.contract.deprecated;
        Ok(message)
    }

    fn input_message(&mut self) -> Result<MessageView, Diagnostic> {
        let fields = self.contract_fields(Field::is_input, input_presence, |f| {
            f.default
                .iter()
                .map(|d| format!("Default: {}.", d.to_json()))
                .collect()
        })?;
        let comments = vec![format!(
            "What create and update requests send: the fields of `{}` except read-only ones.",
            self.contract.name
        )];
        Ok(self.contract_message(
            DerivedBody::Input.type_name(&self.contract.name),
            comments,
            fields,
        ))
    }

    fn patch_message(&mut self) -> Result<MessageView, Diagnostic> {
        let fields =
            self.contract_fields(Field::is_patchable, |_| Presence::Optional, |_| Vec::new())?;
        let comments = vec![
            format!(
                "What a patch request sends: unset fields of `{}` stay unchanged.",
                self.contract.name
            ),
            "proto3 cannot mark repeated and map fields optional, so here an empty list or map"
                .to_owned(),
            "cannot be told from an absent one, and setting a nullable field to null is not"
                .to_owned(),
            "expressible; use Update to replace those fields.".to_owned(),
        ];
        Ok(self.contract_message(
            DerivedBody::Patch.type_name(&self.contract.name),
            comments,
            fields,
        ))
    }

    /// `TaskFilter`, when the contract has a list operation and filterable fields.
    fn filter_message(&mut self) -> Result<Option<MessageView>, Diagnostic> {
        if !self.has_filter() {
            return Ok(None);
        }
        let fields =
            self.contract_fields(|f| f.filterable, |_| Presence::Optional, |_| Vec::new())?;
        let comments = vec![format!(
            "Filters of the list operation: only `{}` items equal to every set field are listed.",
            self.contract.name
        )];
        Ok(Some(self.contract_message(
            self.contract.filter_message_name(),
            comments,
            fields,
        )))
    }

    fn has_filter(&self) -> bool {
        self.contract.operations.contains_key(CrudKind::List.name())
            && self.contract.fields.iter().any(|f| f.filterable)
    }

    fn page_message(&self) -> MessageView {
        let contract = &self.contract.name;
        let fields = vec![
            plain_field(
                "repeated",
                contract,
                "items",
                1,
                &format!("The `{contract}` items of this page."),
            ),
            plain_field(
                "",
                "int32",
                "limit",
                2,
                "The page size the items were listed with.",
            ),
            plain_field("", "int32", "offset", 3, "How many items were skipped."),
            plain_field(
                "optional",
                "int64",
                "total",
                4,
                "The number of matching items, when `include_total` was asked for.",
            ),
        ];
        fixed_message(
            DerivedBody::Page.type_name(contract),
            vec![format!("One page of `{contract}` items.")],
            fields,
        )
    }

    fn user_message(&mut self, message: &Message) -> Result<MessageView, Diagnostic> {
        let fields = message
            .fields
            .iter()
            .map(|f| self.field(&message.name, f, may_be_unset(f), &[]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MessageView::new(
            message.name.clone(),
            text_lines(message.description.as_deref()),
            fields,
            self.reserved(&message.name),
        ))
    }

    fn enum_view(&self, def: &EnumDef) -> Result<EnumView, Diagnostic> {
        let prefix = to_screaming_snake_case(&def.name);
        let value_name = |value: &str| proto_enum_value_name(&prefix, value);
        let mut values = vec![EnumValueView {
            name: value_name("unspecified"),
            number: 0,
            comments: vec!["Not set, or a value this reader does not know.".to_owned()],
        }];
        for value in &def.values {
            let number = self
                .lock
                .value_number(&def.name, &value.name)
                .ok_or_else(|| unnumbered(value.span, &def.name, &value.name))?;
            values.push(EnumValueView {
                name: value_name(&value.name),
                number,
                comments: text_lines(value.description.as_deref()),
            });
        }
        let reserved = self
            .lock
            .enums
            .get(&def.name)
            .map(|entry| ReservedView::new(&entry.reserved, value_name))
            .unwrap_or_default();
        Ok(EnumView {
            name: def.name.clone(),
            comments: text_lines(def.description.as_deref()),
            values: shared(values),
            reserved: Arc::new(reserved),
        })
    }

    // ---- service -----------------------------------------------------------------------------

    fn service(&mut self) -> Result<Option<Arc<ServiceView>>, Diagnostic> {
        let contract = self.contract;
        let operations = contract.operations_in_order();
        if operations.is_empty() {
            return Ok(None);
        }
        let all_versions = self.all_versions;
        let mut rpcs = Vec::new();
        let mut messages = Vec::new();
        for op in operations {
            let request = contract.request_message_name(op);
            messages.push(self.request_message(op, &request)?);
            let response = match (&op.response, contract.response_message_name(op)) {
                (Some(body), Some(wrapper)) => {
                    let items = self.body_type(&body.ty);
                    messages.push(fixed_message(
                        wrapper.clone(),
                        vec![format!("The response of {}.", to_pascal_case(&op.name))],
                        vec![plain_field(
                            label(&items, Presence::Required),
                            &items.ty,
                            "items",
                            1,
                            "",
                        )],
                    ));
                    wrapper
                }
                (Some(body), None) => self.body_type(&body.ty).ty,
                (None, _) => {
                    self.imports
                        .insert("google/protobuf/empty.proto".to_owned());
                    EMPTY.to_owned()
                }
            };
            let mut comments = text_lines(op.summary.as_deref());
            comments.extend(text_lines(op.description.as_deref()));
            comments.push(format!(
                "HTTP: `{} {}{}`.",
                op.method.as_str(),
                contract.path,
                op.path
            ));
            if op.versions != *all_versions {
                comments.push(format!(
                    "Served by API {} only.",
                    versions_text(&op.versions)
                ));
            }
            rpcs.push(RpcView {
                name: to_pascal_case(&op.name),
                comments,
                request,
                response,
                deprecated: op.deprecated,
            });
        }
        Ok(Some(Arc::new(ServiceView {
            name: contract.service_name(),
            comments: vec![format!(
                "The operations on `{}`, as served by the HTTP API under `{}`.",
                contract.name, contract.path
            )],
            rpcs: shared(rpcs),
            messages: shared(messages),
        })))
    }

    fn request_message(&mut self, op: &Operation, name: &str) -> Result<MessageView, Diagnostic> {
        let comments = vec![format!("The request of {}.", to_pascal_case(&op.name))];
        match op.crud() {
            Some(CrudKind::List) => {
                Ok(fixed_message(name.to_owned(), comments, self.list_fields()))
            }
            Some(_) => {
                // CRUD requests have fixed shapes: the path parameters, then the body.
                let mut fields = Vec::new();
                for (number, param) in (1..).zip(&op.path_params) {
                    fields.push(self.numbered_field(param, number, Presence::Required, &[]));
                }
                if let Some(body) = &op.request {
                    let number = u32::try_from(fields.len() + 1).unwrap_or(u32::MAX);
                    fields.push(self.body_field(body, number));
                }
                Ok(fixed_message(name.to_owned(), comments, fields))
            }
            None => {
                // Custom requests are numbered by the lock, so inputs added later never
                // renumber the ones already published.
                let mut fields = Vec::new();
                for param in &op.path_params {
                    fields.push(self.field(name, param, Presence::Required, &[])?);
                }
                for param in &op.query {
                    fields.push(self.field(name, param, input_presence(param), &[])?);
                }
                if let Some(body) = &op.request {
                    let number = self
                        .lock
                        .field_number(name, BODY_FIELD)
                        .ok_or_else(|| unnumbered(body.span, name, BODY_FIELD))?;
                    fields.push(self.body_field(body, number));
                }
                Ok(MessageView::new(
                    name.to_owned(),
                    comments,
                    fields,
                    self.reserved(name),
                ))
            }
        }
    }

    /// The `body` field of a request message.
    fn body_field(&mut self, body: &Body, number: u32) -> FieldView {
        let ty = self.body_type(&body.ty);
        plain_field(
            label(&ty, Presence::Required),
            &ty.ty,
            BODY_FIELD,
            number,
            "",
        )
    }

    /// The fixed fields of a list request.
    fn list_fields(&self) -> Vec<FieldView> {
        let contract = self.contract;
        let pagination = contract.pagination;
        let sortable: Vec<&str> = contract
            .fields
            .iter()
            .filter(|f| f.sortable)
            .map(|f| f.name.as_str())
            .collect();
        let sort_comment = if sortable.is_empty() {
            format!("Sort keys; no field of `{}` is sortable.", contract.name)
        } else {
            format!(
                "Sort keys: a field name for ascending order, `-name` for descending. Sortable: {}.",
                sortable.join(", ")
            )
        };
        let mut fields = vec![
            plain_field(
                "optional",
                "int32",
                "limit",
                1,
                &format!(
                    "The page size: {} when unset, at most {}.",
                    pagination.default_limit, pagination.max_limit
                ),
            ),
            plain_field("", "int32", "offset", 2, "How many items to skip."),
            plain_field("repeated", "string", "sort", 3, &sort_comment),
            plain_field(
                "",
                "bool",
                "include_total",
                4,
                "Whether the page carries `total`.",
            ),
        ];
        if self.has_filter() {
            fields.push(plain_field(
                "",
                &contract.filter_message_name(),
                "filter",
                5,
                "Only items matching every set filter.",
            ));
        }
        fields
    }
}

/// A field whose shape the compiler fixes (page, list request, wrappers), with a one-line
/// comment (none when empty).
fn plain_field(label: &'static str, ty: &str, name: &str, number: u32, comment: &str) -> FieldView {
    FieldView {
        comments: text_lines(Some(comment)),
        label,
        ty: ty.to_owned(),
        name: name.to_owned(),
        number,
        deprecated: false,
    }
}

/// A message with a fixed shape: nothing is ever removed from it, so it reserves nothing.
fn fixed_message(name: String, comments: Vec<String>, fields: Vec<FieldView>) -> MessageView {
    MessageView::new(name, comments, fields, ReservedView::default())
}

/// `repeated` for lists; `optional` where a field may be unset and its type has no presence of
/// its own (scalars and enums); nothing otherwise. proto3 allows `optional` on message fields
/// too, but they already have presence, and repeated and map fields cannot take it.
fn label(ty: &ProtoType, presence: Presence) -> &'static str {
    if ty.repeated {
        "repeated"
    } else if presence == Presence::Optional && !ty.has_presence {
        "optional"
    } else {
        ""
    }
}

/// Optional and nullable fields may be unset in the resource and in user messages.
fn may_be_unset(field: &Field) -> Presence {
    if field.optional || field.nullable {
        Presence::Optional
    } else {
        Presence::Required
    }
}

/// Inputs that may be left out (optional, defaulted or nullable ones) may be unset.
fn input_presence(field: &Field) -> Presence {
    if field.required_on_create() && !field.nullable {
        Presence::Required
    } else {
        Presence::Optional
    }
}

/// The emitter only runs on a lock that `lock::assign` produced for the same project, which
/// numbers everything; a lock from elsewhere may not.
fn unnumbered(span: Span, owner: &str, name: &str) -> Diagnostic {
    Diagnostic::error(span, format!("`{owner}.{name}` has no number in the lock"))
        .with_label("not numbered")
        .with_help("numbers come from `lock::assign`; run `cmmv gen` to update the lock file")
}

/// The lines of a description; nothing for `None` or blank text.
fn text_lines(text: Option<&str>) -> Vec<String> {
    let text = text.unwrap_or_default().trim();
    if text.is_empty() {
        return Vec::new();
    }
    text.lines()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// What a proto `string` carries when the contract type is richer than a string.
fn format_note(field: &Field) -> Option<String> {
    let note = match field.ty.element() {
        Type::Scalar(Scalar::Decimal) => {
            "A decimal number as a string, e.g. \"12.50\" (exact, unlike double)."
        }
        Type::Scalar(Scalar::Uuid) => {
            "A UUID as a string, e.g. \"123e4567-e89b-12d3-a456-426614174000\"."
        }
        Type::Scalar(Scalar::Date) => "A calendar date as a string, YYYY-MM-DD.",
        Type::Scalar(Scalar::String) => {
            return field
                .constraints
                .format
                .or(field.item_constraints.format)
                .map(|format| format!("Format: {}.", format_name(format)));
        }
        _ => return None,
    };
    Some(note.to_owned())
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Email => "email address",
        Format::Url => "URL",
        Format::Hostname => "host name",
        Format::Ipv4 => "IPv4 address",
        Format::Ipv6 => "IPv6 address",
    }
}

/// `version 2`, `versions 1 and 2`, `versions 1, 2 and 3`.
fn versions_text(versions: &BTreeSet<u32>) -> String {
    let numbers: Vec<String> = versions.iter().map(u32::to_string).collect();
    match numbers.split_last() {
        Some((last, [])) => format!("version {last}"),
        Some((last, rest)) => format!("versions {} and {last}", rest.join(", ")),
        None => "no version".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TASK: &str = r#"contract: Task
description: A unit of work on a to-do list.
versions: [1, 2]
storage: { timestamps: true }
fields:
  id: { type: uuid, primary: true }
  title: { type: string, min_length: 1, max_length: 200, filterable: true, sortable: true, description: "What to do." }
  done: { type: bool, default: false, filterable: true }
  due_at: { type: datetime, optional: true }
  priority: { type: enum, values: [low, normal, high], default: normal, filterable: true }
  tags: { type: list<string>, max_items: 10 }
  meta: { type: json, optional: true }
  scores: { type: map<int32> }
  kind: { type: CategoryKind, optional: true }
  category_id: { type: int64, ref: Category, nullable: true, on_delete: set_null }
  estimate: { type: decimal, optional: true }
  passcode: { type: secret, optional: true }
  legacy: { type: int32, deprecated: true, optional: true }
  contact: { type: string, format: email, optional: true }
  attachment: { type: bytes, optional: true }
  labels: { type: map<Label> }
crud: [list, get, create, update, patch, delete]
messages:
  CompleteTask:
    description: Marks a task done.
    fields:
      note: { type: string, optional: true, max_length: 500 }
      labels: { type: list<Label> }
      at: { type: date, nullable: true }
operations:
  complete:
    method: POST
    path: /{id}/complete
    request: CompleteTask
    response: Task
    query: { notify: { type: bool, optional: true } }
    summary: Complete a task.
  search:
    method: GET
    path: /search
    query: { q: string, kinds: { type: list<CategoryKind>, optional: true } }
    response: list<Task>
    versions: [2]
  archive:
    method: POST
    path: /{id}/archive
    response: none
    deprecated: true
"#;

    pub(crate) const CATEGORY: &str = r#"contract: Category
fields:
  id: { type: int64, primary: true }
  name: { type: string, unique: true }
  kind: { type: CategoryKind }
  label: { type: Label, optional: true }
enums:
  CategoryKind:
    description: What a category groups.
    values: [work, home, { name: errands, description: Things to fetch. }]
messages:
  Label:
    fields:
      text: string
      color: { type: string, optional: true }
crud: [list, get]
"#;

    fn generate(contracts: &[(&str, &str)]) -> Vec<GeneratedFile> {
        let mut input = crate::Input::default();
        for (name, text) in contracts {
            input.add_contract(*name, *text);
        }
        let (project, diags) = crate::lower_and_validate(&input);
        assert!(diags.is_empty(), "{:?}", diags.into_sorted());
        let (lock, diags) = crate::lock::assign(&project, None);
        assert!(diags.is_empty(), "{diags:?}");
        emit(&project, &lock, &Templates::builtin(), &input.sources).expect("emits")
    }

    fn rich() -> Vec<GeneratedFile> {
        generate(&[
            ("contracts/task.yaml", TASK),
            ("contracts/category.yaml", CATEGORY),
        ])
    }

    /// Writes `files` under a fresh directory and runs protoc on every `.proto` file, with
    /// `proto/` as the include root. `None` when protoc is not installed.
    fn protoc(files: &[GeneratedFile]) -> Option<std::process::Output> {
        let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut paths = Vec::new();
        for file in files {
            let path = dir.path().join(&file.path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("directory");
            std::fs::write(&path, &file.contents).expect("write");
            paths.push(path);
        }
        std::process::Command::new(protoc)
            .arg("-I")
            .arg(dir.path().join("proto"))
            .arg("--fatal_warnings")
            .arg("--include_imports")
            .arg(format!(
                "--descriptor_set_out={}",
                dir.path().join("all.pb").display()
            ))
            .args(&paths)
            .output()
            .ok()
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn protoc_compiles_the_generated_files() {
        let Some(output) = protoc(&rich()) else {
            eprintln!("skipped: protoc not found (install protobuf-compiler or set PROTOC)");
            return;
        };
        assert!(
            output.status.success(),
            "protoc failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn output_is_deterministic_and_marked() {
        let first = rich();
        assert_eq!(first, rich());
        let paths: Vec<String> = first.iter().map(|f| display_path(&f.path)).collect();
        assert_eq!(paths, ["proto/category.proto", "proto/task.proto"]);
        assert!(first[1].contents.starts_with(
            "// @generated by cmmv from contracts/task.yaml. DO NOT EDIT.\nsyntax = \"proto3\";\n"
        ));
    }

    #[test]
    fn types_labels_and_imports() {
        let files = rich();
        let task = &files[1].contents;
        for line in [
            "import \"category.proto\";\nimport \"google/protobuf/empty.proto\";\nimport \"google/protobuf/struct.proto\";\nimport \"google/protobuf/timestamp.proto\";\n",
            "  google.protobuf.Timestamp due_at = 4;\n",
            "  repeated string tags = 6;\n",
            "  google.protobuf.Value meta = 7;\n",
            "  map<string, int32> scores = 8;\n",
            "  optional CategoryKind kind = 9;\n",
            "  optional int32 legacy = 13 [deprecated = true];\n",
            "  map<string, Label> labels = 16;\n",
            // Write-only fields are accepted, never returned.
            "message TaskInput {\n",
            "  optional string passcode = 12;\n",
            "  rpc Search(TaskSearchRequest) returns (TaskSearchResponse);\n",
            "message TaskSearchResponse {\n  repeated Task items = 1;\n}\n",
            "  rpc Delete(TaskDeleteRequest) returns (google.protobuf.Empty);\n",
            "  // Served by API version 2 only.\n",
        ] {
            assert!(task.contains(line), "missing {line:?} in\n{task}");
        }
        let resource = &task
            [task.find("message Task {").unwrap_or(0)..task.find("message TaskInput").unwrap_or(0)];
        assert!(!resource.contains("passcode"));
        assert!(
            !files[0].contents.contains("import"),
            "category.proto imports nothing"
        );
    }

    const NOTE: &str = r#"contract: Note
crud: [get, create]
fields:
  id: { type: uuid, primary: true }
  text: { type: string, description: "The text.\nMarkdown allowed." }
  priority: { type: enum, values: [low, high] }
operations:
  pin:
    method: POST
    path: /{id}/pin
    query: { until: { type: datetime, optional: true } }
    response: none
"#;

    #[test]
    fn golden_small_contract_with_removed_fields() {
        let mut input = crate::Input::default();
        input.add_contract("contracts/note.yaml", NOTE);
        let (project, diags) = crate::lower_and_validate(&input);
        assert!(diags.is_empty(), "{:?}", diags.into_sorted());
        // An earlier version had a field `old` and an enum value `urgent`.
        let previous = crate::lock::parse(
            crate::diag::FileId(0),
            r#"{"version": 1,
                "messages": {"Note": {"fields": {"id": 1, "text": 2, "old": 3, "priority": 4}}},
                "enums": {"NotePriority": {"values": {"low": 1, "urgent": 2, "high": 3}}}}"#,
        )
        .expect("a valid lock");
        let (lock, diags) = crate::lock::assign(&project, Some(&previous));
        assert!(diags.is_empty(), "{diags:?}");
        let files = emit(&project, &lock, &Templates::builtin(), &input.sources).expect("emits");
        assert_eq!(files.len(), 1);
        let expected = r#"// @generated by cmmv from contracts/note.yaml. DO NOT EDIT.
syntax = "proto3";

package api;

import "google/protobuf/empty.proto";
import "google/protobuf/timestamp.proto";

message Note {
  reserved 3;
  reserved "old";
  // A UUID as a string, e.g. "123e4567-e89b-12d3-a456-426614174000".
  string id = 1;
  // The text.
  // Markdown allowed.
  string text = 2;
  NotePriority priority = 4;
}

// What create and update requests send: the fields of `Note` except read-only ones.
message NoteInput {
  reserved 3;
  reserved "old";
  // The text.
  // Markdown allowed.
  string text = 2;
  NotePriority priority = 4;
}

enum NotePriority {
  reserved 2;
  reserved "NOTE_PRIORITY_URGENT";
  // Not set, or a value this reader does not know.
  NOTE_PRIORITY_UNSPECIFIED = 0;
  NOTE_PRIORITY_LOW = 1;
  NOTE_PRIORITY_HIGH = 3;
}

// The operations on `Note`, as served by the HTTP API under `/notes`.
service NoteService {
  // HTTP: `GET /notes/{id}`.
  rpc Get(NoteGetRequest) returns (Note);

  // HTTP: `POST /notes`.
  rpc Create(NoteCreateRequest) returns (Note);

  // HTTP: `POST /notes/{id}/pin`.
  rpc Pin(NotePinRequest) returns (google.protobuf.Empty);
}

// The request of Get.
message NoteGetRequest {
  // The resource's identifier.
  // A UUID as a string, e.g. "123e4567-e89b-12d3-a456-426614174000".
  string id = 1;
}

// The request of Create.
message NoteCreateRequest {
  NoteInput body = 1;
}

// The request of Pin.
message NotePinRequest {
  // The resource's identifier.
  // A UUID as a string, e.g. "123e4567-e89b-12d3-a456-426614174000".
  string id = 1;
  google.protobuf.Timestamp until = 2;
}
"#;
        assert_eq!(files[0].contents, expected, "got:\n{}", files[0].contents);
        if let Some(output) = protoc(&files) {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    #[test]
    fn import_cycles_are_reported_by_validation_with_every_other_problem() {
        // Issue 16: the check lived in this emitter, so `cmmv check` (analysis only) passed
        // what `cmmv gen` refused.
        let a = "contract: Alpha\nfields:\n  id: { type: uuid, primary: true }\n  kind: { type: BetaKind }\nenums:\n  AlphaKind: [x]\n";
        let b = "contract: Beta\nfields:\n  id: { type: uuid, primary: true }\n  kind: { type: AlphaKind }\n  bad: { type: strng }\nenums:\n  BetaKind: [y]\n";
        let mut input = crate::Input::default();
        input.add_contract("contracts/alpha.yaml", a);
        input.add_contract("contracts/beta.yaml", b);
        let analysis = crate::analyze(&input);
        let diags = analysis.diagnostics.into_sorted();
        let cycle = diags
            .iter()
            .find(|d| d.message.contains("use each other's types"))
            .unwrap_or_else(|| panic!("no cycle among {diags:?}"));
        assert_eq!(
            cycle.message,
            "contracts `Alpha` -> `Beta` -> `Alpha` use each other's types"
        );
        assert_eq!(cycle.labels.len(), 2);
        assert_eq!(
            input.sources.location(cycle.labels[0].span),
            "contracts/alpha.yaml:4:3"
        );
        assert!(
            diags
                .iter()
                .any(|d| d.message.contains("unknown type `strng`")),
            "reported with the rest: {diags:?}"
        );
    }

    /// What each proto file imports of the other contracts is what validation checks for
    /// cycles: both read [`Project::contracts_used_by`].
    #[test]
    fn emitted_imports_are_the_contracts_used() {
        let input =
            crate::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts"))
                .expect("the example loads");
        let analysis = crate::analyze(&input);
        let files = emit(
            &analysis.project,
            &analysis.lock,
            &Templates::builtin(),
            &input.sources,
        )
        .expect("the example's proto files");
        for contract in analysis.project.contracts.values() {
            let file = files
                .iter()
                .find(|f| f.path == file_path(contract))
                .expect("a file per contract");
            let imported: BTreeSet<String> = file
                .contents
                .lines()
                .filter_map(|l| l.strip_prefix("import \""))
                .filter_map(|l| l.strip_suffix("\";"))
                .filter(|l| !l.starts_with("google/"))
                .map(str::to_owned)
                .collect();
            let used: BTreeSet<String> = analysis
                .project
                .contracts_used_by(contract)
                .into_keys()
                .map(|name| import_path(&analysis.project.contracts[name]))
                .collect();
            assert_eq!(imported, used, "{}", contract.name);
        }
    }

    /// Names protoc refuses although each contract on its own is fine: two fields of one
    /// message with one JSON name, two enum values with one proto name. Validation reports them
    /// with every other problem of the run, so the emitter never meets them.
    #[test]
    fn names_protoc_refuses_are_reported() {
        let messages = |text: &str| {
            let mut input = crate::Input::default();
            input.add_contract("contracts/a.yaml", text);
            let (_, diags) = crate::lower_and_validate(&input);
            diags
                .into_sorted()
                .into_iter()
                .map(|d| (d.message.clone(), d.labels.len()))
                .collect::<Vec<_>>()
        };
        let fields = messages(
            "contract: A\nfields:\n  id: { type: uuid, primary: true }\n  x_1: string\n  x1: string\n",
        );
        assert_eq!(
            fields,
            [(
                "fields `x_1` and `x1` of `A` have the same protobuf JSON name `x1`".to_owned(),
                2
            )]
        );
        let parameters = messages(
            "contract: A\nfields:\n  id: { type: uuid, primary: true }\noperations:\n  find:\n    method: GET\n    path: /find\n    query:\n      page_1: int32\n      page1: int32\n    response: A\n",
        );
        assert_eq!(
            parameters,
            [(
                "fields `page_1` and `page1` of `AFindRequest` have the same protobuf JSON name `page1`"
                    .to_owned(),
                2
            )]
        );
        let enums = messages(
            "contract: A\nfields:\n  id: { type: uuid, primary: true }\nenums:\n  Ab: [c_d]\n  AbC: [d]\n",
        );
        assert_eq!(
            enums,
            [(
                "enums `Ab` and `AbC` both define `AB_C_D` in proto".to_owned(),
                2
            )]
        );
    }

    #[test]
    fn template_errors_name_the_template_and_line() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join(TEMPLATE),
            "syntax = \"proto3\";\n{{ no_such_variable.x }}\n",
        )
        .expect("write");
        let templates = Templates::with_overrides(dir.path()).expect("templates");
        let mut input = crate::Input::default();
        input.add_contract("contracts/note.yaml", NOTE);
        input.add_contract("contracts/other.yaml", NOTE.replace("Note", "Other"));
        let project = crate::lower_and_validate(&input).0;
        let (lock, _) = crate::lock::assign(&project, None);
        let Err(diags) = emit(&project, &lock, &templates, &input.sources) else {
            panic!("an undefined variable was accepted");
        };
        // Met in both files, reported once.
        assert_eq!(diags.len(), 1, "{diags:?}");
        let diag = &diags[0];
        assert!(diag.labels.is_empty());
        assert!(
            diag.message
                .starts_with("template `proto.proto.j2`, line 2: undefined value"),
            "{}",
            diag.message
        );
        assert!(diag.help.is_some());
    }
}
