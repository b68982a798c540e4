//! The example service as `cargo run -p todo` runs it (a SQLite file in a temporary directory,
//! every contract, the login module), started for a check from outside (`conformance`,
//! `docs-browser`) and signed in as an account of its login module holding every role. Limits
//! are off: the checks are about what the documents promise, not about budgets.

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

/// The example, serving on 127.0.0.1 until dropped.
pub(crate) struct RunningExample {
    pub(crate) addr: SocketAddr,
    /// The access token of the signed-in account.
    pub(crate) token: String,
    _service: Service,
    _data: tempfile::TempDir,
}

impl RunningExample {
    /// Builds the example, starts it on a free port over a fresh SQLite file, and signs in.
    pub(crate) fn start(root: &Path) -> Result<RunningExample, String> {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--locked", "-p", "todo"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("the example does not build".to_owned());
        }
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
        Ok(RunningExample {
            addr,
            token,
            _service: service,
            _data: data,
        })
    }
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
