//! `cargo xtask conformance`: the example service, as `cargo run -p todo` runs it (a SQLite
//! file, every contract, the login module), against Schemathesis driven by the documents it
//! serves. Every version's document; valid and invalid requests, the coverage, fuzzing and
//! stateful phases; every check (status codes documented, bodies valid against their schemas,
//! content types, invalid data refused, valid data accepted). Authenticated as an account of the
//! login module holding every role (registered and signed in through `/auth/register` and
//! `/auth/login` before the run), limits off, so that the documents' promises are what is
//! tested — the login module's `/auth/*` routes included.
//!
//! Schemathesis is the PyPI package `.ci/run` pins. Its `positive_data_acceptance` check is
//! replaced by `.ci/conformance/hooks.py`'s, which accepts one thing more: a 422 whose every
//! entry is a rule JSON Schema cannot state (`reference`, `key`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The HS256 secret the service signs its access tokens with.
const SECRET: &str = "the conformance run's secret, thirty-two bytes or more";
const ISSUER: &str = "https://conformance.invalid";
const AUDIENCE: &str = "todo";
/// Every role the example's contracts name.
const ROLES: [&str; 4] = ["admin", "auditor", "editor", "user"];
/// Examples per operation and phase; with the stateful phase about a minute per version.
const MAX_EXAMPLES: &str = "100";
/// A fixed seed, so that a failure reproduces; CI runs the same cases every time.
const SEED: &str = "17";

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "-p", "todo"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("the example does not build".to_owned());
    }
    let versions = served_versions(root)?;
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let addr = free_port()?;
    let mut service = Service(
        Command::new(root.join("target/debug/todo"))
            .env("CMMV_ADDR", addr.to_string())
            .env(
                "CMMV_DATABASE_URL",
                format!("sqlite://{}", data.path().join("todo.db").display()),
            )
            .env("CMMV_RATE_LIMIT", "false")
            .env("CMMV_JWT_ISSUER", ISSUER)
            .env("CMMV_JWT_AUDIENCE", AUDIENCE)
            .env("CMMV_JWT_HS256_SECRET", SECRET)
            // The account the run signs in as holds every role.
            .env("CMMV_AUTH_DEFAULT_ROLES", ROLES.join(","))
            .env("CMMV_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the example: {e}"))?,
    );
    wait_until_listening(addr, &mut service.0)?;
    let token = sign_in(addr)?;
    let hooks = root.join(".ci/conformance");
    let mut failed = Vec::new();
    for version in versions {
        let document = format!("http://{addr}/v{version}/openapi.json");
        println!("schemathesis: {document}");
        let status = Command::new("schemathesis")
            .args(["run", &document])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all"])
            .args(["--exclude-checks", "positive_data_acceptance"])
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--seed", SEED])
            // One worker: the Python tool's parallel generation has tripped over itself
            // (`AST constructor recursion depth mismatch`), which is no finding of ours.
            .args(["--workers", "1"])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &hooks)
            // Schemathesis keeps a cache in its working directory: the run's own, not the tree.
            .current_dir(data.path())
            .status()
            .map_err(|e| {
                format!(
                    "cannot run schemathesis ({e}): `pip install schemathesis` (.ci/run pins it)"
                )
            })?;
        if !status.success() {
            failed.push(version);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the service disagrees with the documents of versions {failed:?} (Schemathesis' report above)"
        ))
    }
}

/// The API versions `contracts/` serves: one document each.
fn served_versions(root: &Path) -> Result<Vec<u32>, String> {
    let input = cmmv_compiler::load(&root.join("contracts")).map_err(|e| e.to_string())?;
    let analysis = cmmv_compiler::analyze(&input);
    Ok(analysis.project.versions().into_iter().collect())
}

/// A port nothing listens on now (the service binds it a moment later).
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_until_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the example exited at start ({status})"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the example did not listen on {addr} within 30 s"))
}

/// Registers an account (which gets every role, `CMMV_AUTH_DEFAULT_ROLES`) and signs in: the
/// access token of a real account, as a client of the service would hold one.
fn sign_in(addr: SocketAddr) -> Result<String, String> {
    let credentials = serde_json::json!({
        "email": "conformance@example.com",
        "password": "the conformance run's password",
    })
    .to_string();
    let (status, _) = post_json(addr, "/auth/register", &credentials)?;
    if status != 201 {
        return Err(format!("registering the run's account answered {status}"));
    }
    let (status, body) = post_json(addr, "/auth/login", &credentials)?;
    let tokens: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("the sign-in answer: {e}"))?;
    match tokens["access_token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(format!("signing in answered {status}: {body}")),
    }
}

/// One HTTP/1.1 request with a JSON body, the connection closed after it: its status and body.
fn post_json(addr: SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("{path}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{path}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("{path}: {e}"))?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{path}: not an HTTP answer"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// The running example, stopped when the run ends however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
