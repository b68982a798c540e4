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

use crate::api::{Api, BodyField, BodyModel, ContractApi};
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

mod descriptor;
mod file;
mod view;

pub use descriptor::{DESCRIPTOR_PATH, descriptor_set};

pub(crate) use view::{EnumView, FileView, MessageView, ServiceView};

use file::*;
use view::*;

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
    api: &Api<'_>,
    lock: &Lock,
    templates: &Templates,
    sources: &SourceMap,
) -> Result<Vec<GeneratedFile>, Vec<Diagnostic>> {
    let emitter = ProtoEmitter::new(api, lock, templates, sources).map_err(|d| vec![d])?;
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
    api: &'a Api<'a>,
    lock: &'a Lock,
    sources: &'a SourceMap,
    env: Environment<'a>,
}

/// One contract's rendered file, or why it could not be.
pub(crate) type ContractFile = Result<GeneratedFile, Diagnostic>;

impl<'a> ProtoEmitter<'a> {
    pub(crate) fn new(
        api: &'a Api<'a>,
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
            api,
            lock,
            sources,
            env,
        })
    }

    /// The contracts to render, in order.
    pub(crate) fn contracts(&self) -> Vec<&'a ContractApi<'a>> {
        // A runtime module's contract is documented, not generated: it has no proto service.
        self.api
            .contracts
            .iter()
            .filter(|c| c.contract.provided_by.is_none())
            .collect()
    }

    /// Builds and renders one contract's file. Its view is dropped as soon as its text exists:
    /// a large project's views take several times the memory of its texts.
    pub(crate) fn file(&self, resolved: &'a ContractApi<'a>) -> ContractFile {
        let contract = resolved.contract;
        let mut builder = FileBuilder::new(self.api, self.lock, resolved);
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

/// The view of every generated contract's file — what the template renders, as data — for
/// checks that compare two versions of the proto surface (`cmmv diff`) without parsing text.
pub(crate) fn views<'a>(
    api: &'a Api<'a>,
    lock: &'a Lock,
) -> Vec<(&'a Contract, Result<FileView, Diagnostic>)> {
    api.contracts
        .iter()
        .filter(|c| c.contract.provided_by.is_none())
        .map(|resolved| {
            (
                resolved.contract,
                FileBuilder::new(api, lock, resolved).build(),
            )
        })
        .collect()
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
        emit(
            &crate::api::Api::resolve(&project),
            &lock,
            &Templates::builtin(),
            &input.sources,
        )
        .expect("emits")
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
        let files = emit(
            &crate::api::Api::resolve(&project),
            &lock,
            &Templates::builtin(),
            &input.sources,
        )
        .expect("emits");
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
            &crate::api::Api::resolve(&analysis.project),
            &analysis.lock,
            &Templates::builtin(),
            &input.sources,
        )
        .expect("the example's proto files");
        for contract in analysis.project.generated_contracts() {
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
        let Err(diags) = emit(
            &crate::api::Api::resolve(&project),
            &lock,
            &templates,
            &input.sources,
        ) else {
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
