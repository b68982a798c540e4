//! Graceful shutdown.
//!
//! On the signal: readiness turns 503 at once; the server keeps accepting for the shutdown delay
//! (load balancers need a few probe intervals to notice and stop routing here, and connections
//! refused before that would be errors users see); then the listener closes and in-flight
//! requests drain under the deadline. The outcome tells the caller whether everything drained,
//! so that a process can exit 0, or 1 when requests were cut off.

use std::future::Future;
use std::time::Duration;

use axum::ServiceExt as _;
use tokio::net::TcpListener;

use crate::health::Readiness;
type Stack = crate::protobuf::grpc::Switch<crate::layers::Stack>;
use crate::metrics::{Metrics, UPKEEP_INTERVAL};

/// How a served app stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every in-flight request finished within the deadline.
    Drained,
    /// The deadline passed with requests still in flight; they were abandoned.
    DeadlineExceeded,
}

impl ShutdownOutcome {
    /// The process exit code a service should end with: 0 when drained, 1 otherwise.
    pub fn exit_code(self) -> std::process::ExitCode {
        match self {
            Self::Drained => std::process::ExitCode::SUCCESS,
            Self::DeadlineExceeded => std::process::ExitCode::FAILURE,
        }
    }
}

/// The timing of a graceful shutdown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) delay: Duration,
    pub(crate) deadline: Duration,
}

/// Completes on SIGTERM or SIGINT (Ctrl-C), whichever comes first.
pub async fn signal() {
    let interrupt = async {
        // If the handler cannot be installed, the process is stopped the default way instead.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Serves `router` on `listener` until `signal`, then shuts down gracefully.
pub(crate) async fn serve(
    listener: TcpListener,
    stack: Stack,
    readiness: Readiness,
    metrics: Metrics,
    timing: Timing,
    signal: impl Future<Output = ()> + Send,
) -> std::io::Result<ShutdownOutcome> {
    // Upkeep drains every histogram sample recorded since the last run; on a busy server that
    // is a burst of work, done off the request workers so that it never stalls requests
    // queued behind it, and often enough that each burst stays short.
    let upkeep = tokio::spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            interval.tick().await;
            let metrics = metrics.clone();
            let _ = tokio::task::spawn_blocking(move || metrics.run_upkeep()).await;
        }
    });
    let outcome = serve_until(listener, stack, readiness, timing, signal).await;
    upkeep.abort();
    outcome
}

async fn serve_until(
    listener: TcpListener,
    stack: Stack,
    readiness: Readiness,
    timing: Timing,
    signal: impl Future<Output = ()> + Send,
) -> std::io::Result<ShutdownOutcome> {
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        // Each request carries its connection's peer address (`ConnectInfo`): rate limits
        // count by client, and the client is the peer unless it is a trusted proxy.
        axum::serve(
            listener,
            stack.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            // A dropped sender (this function returning early) also stops the server.
            let _ = stopped.await;
        });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);

    tokio::select! {
        result = &mut server => return result.map(|()| ShutdownOutcome::Drained),
        () = signal => {}
    }
    readiness.start_shutdown();
    tracing::info!(
        delay_ms = crate::logging::millis(timing.delay),
        "shutting down: readiness is 503; still serving until the delay ends"
    );
    // The server must go on being polled during the delay, or it would accept nothing.
    tokio::select! {
        result = &mut server => return result.map(|()| ShutdownOutcome::Drained),
        () = tokio::time::sleep(timing.delay) => {}
    }
    tracing::info!(
        deadline_ms = crate::logging::millis(timing.deadline),
        "shutting down: no longer accepting connections; draining in-flight requests"
    );
    let _ = stop_accepting.send(());
    match tokio::time::timeout(timing.deadline, &mut server).await {
        Ok(result) => {
            result?;
            tracing::info!("shutdown complete: every request drained");
            Ok(ShutdownOutcome::Drained)
        }
        Err(_) => {
            tracing::error!("shutdown deadline exceeded: abandoning in-flight requests");
            Ok(ShutdownOutcome::DeadlineExceeded)
        }
    }
}
