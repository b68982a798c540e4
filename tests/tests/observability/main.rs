//! The tracing and redaction tests, in a test binary of their own.
//!
//! Each sets a `tracing` subscriber for its thread at `debug` or `trace`. In the integration
//! binary they ran beside tests whose thread-local subscribers stop at `info`, and `tracing`'s
//! process-wide caches of which callsites are enabled (and of the highest level any subscriber
//! wants) are rebuilt as subscribers come and go on other threads: now and then a `debug` span
//! of the runtime was skipped for the whole process. Here every subscriber wants them.

// The integration binary's helpers, shared by path; this binary uses a part of them.
#[allow(dead_code)]
#[path = "../integration/auth_support.rs"]
mod auth_support;
#[allow(dead_code)]
#[path = "../integration/runtime_support.rs"]
mod runtime_support;
#[allow(dead_code)]
#[path = "../integration/store_support.rs"]
mod store_support;

mod redaction;
mod telemetry;

/// Serves `router` on 127.0.0.1 on a thread and runtime of its own, for the life of the test
/// process: a third party (a collector, an identity provider) whose work neither runs on the
/// test's runtime nor logs to the test's thread-local subscriber.
fn serve_on_own_thread(router: axum::Router) -> std::net::SocketAddr {
    let (bound, addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            bound.send(listener.local_addr().expect("addr")).ok();
            axum::serve(listener, router).await.ok();
        });
    });
    addr.recv().expect("the server's address")
}
