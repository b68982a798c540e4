//! `cargo xtask grpc-check`: the example service, as `cargo run -p todo` runs it, called by a
//! gRPC client we did not write: `buf curl` (pinned by `.ci/node/package-lock.json`), which
//! learns the schema from the server's own reflection service, speaks gRPC over HTTP/2 (prior
//! knowledge, on the port that serves REST) and reports each status by its gRPC code.
//!
//! What it checks: reflection lists every service of the emitted `.proto` files with every rpc,
//! `grpc.health.v1` answers SERVING, a signed-in call creates and reads a label, an anonymous one
//! is `unauthenticated`, and an invalid message is `invalid_argument`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::example::RunningExample;

/// The services the example's contracts declare, each with an rpc reflection must list.
const EXPECTED: &[&str] = &[
    "grpc.health.v1.Health/Check",
    "todo.v1.CommentService/List",
    "todo.v1.LabelService/Create",
    "todo.v1.NoteService/Patch",
    "todo.v1.ProjectService/Get",
    "todo.v1.TaskService/Complete",
    "todo.v1.TaskService/Search",
    "todo.v1.UserService/Me",
];

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let buf = root.join(".ci/node/node_modules/.bin/buf");
    if !buf.exists() {
        return Err("buf is not installed: run `npm ci --prefix .ci/node`".to_owned());
    }
    let example = RunningExample::start(root)?;
    let base = format!("http://{}", example.addr);
    let auth = format!("Authorization: Bearer {}", example.token);
    let call = |method: &str, body: &str, header: Option<&str>| -> Result<Answer, String> {
        let mut command = Command::new(&buf);
        command
            .args(["curl", "--http2-prior-knowledge", "--protocol", "grpc"])
            .args(["--data", body]);
        if let Some(header) = header {
            command.args(["--header", header]);
        }
        let output = command
            .arg(format!("{base}/{method}"))
            .output()
            .map_err(|e| format!("cannot run buf: {e}"))?;
        Ok(Answer {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    };

    let listed = Command::new(&buf)
        .args([
            "curl",
            "--http2-prior-knowledge",
            "--protocol",
            "grpc",
            "--list-methods",
        ])
        .arg(&base)
        .output()
        .map_err(|e| format!("cannot run buf: {e}"))?;
    let methods = String::from_utf8_lossy(&listed.stdout).into_owned();
    let missing: Vec<&&str> = EXPECTED
        .iter()
        .filter(|m| !methods.lines().any(|line| line == **m))
        .collect();
    if !listed.status.success() || !missing.is_empty() {
        return Err(format!(
            "reflection does not list {missing:?}:\n{methods}{}",
            String::from_utf8_lossy(&listed.stderr)
        ));
    }
    println!("reflection: {} methods", methods.lines().count());

    let health = call("grpc.health.v1.Health/Check", r#"{"service":""}"#, None)?;
    expect(&health, |v| v["status"] == "SERVING", "health SERVING")?;

    let created = call(
        "todo.v1.LabelService/Create",
        r##"{"body":{"slug":"from-buf","color":"#112233"}}"##,
        Some(&auth),
    )?;
    expect(
        &created,
        |v| v["slug"] == "from-buf" && v["color"] == "#112233",
        "create",
    )?;
    let fetched = call("todo.v1.LabelService/Get", r#"{"id":"from-buf"}"#, None)?;
    expect(&fetched, |v| v["slug"] == "from-buf", "get")?;

    let anonymous = call("todo.v1.TaskService/List", "{}", None)?;
    expect_code(&anonymous, "unauthenticated")?;
    let invalid = call(
        "todo.v1.LabelService/Create",
        r#"{"body":{"slug":"Not A Slug"}}"#,
        Some(&auth),
    )?;
    expect_code(&invalid, "invalid_argument")?;
    println!("grpc-check: reflection, health, create, get, unauthenticated, invalid_argument: ok");
    Ok(())
}

struct Answer {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn expect(answer: &Answer, holds: impl Fn(&Value) -> bool, what: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(&answer.stdout).unwrap_or(Value::Null);
    if answer.ok && holds(&value) {
        println!("{what}: ok");
        Ok(())
    } else {
        Err(format!("{what}: {}{}", answer.stdout, answer.stderr))
    }
}

/// buf curl prints a failed call's status as JSON (`{"code": "unauthenticated", ...}`) and
/// exits non-zero.
fn expect_code(answer: &Answer, code: &str) -> Result<(), String> {
    let text = format!("{}{}", answer.stdout, answer.stderr);
    let start = text.find('{').unwrap_or(text.len());
    let value: Value = serde_json::from_str(text[start..].trim()).unwrap_or(Value::Null);
    if !answer.ok && value["code"] == code {
        println!("{code}: ok");
        Ok(())
    } else {
        Err(format!("expected `{code}`: {text}"))
    }
}
