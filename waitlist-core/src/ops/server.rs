//! The ops HTTP server: `/`, `/health`, `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio::sync::oneshot;

use super::HealthCheck;
use crate::runtime::{GroupReport, RunningGroup};
use crate::sync::lock;

/// The ops server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// Binding the address failed.
    #[error("cannot bind the ops server to {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// Another `metrics` recorder is installed already.
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder
/// (once; later calls return the same handle) and describes the runtime's
/// metrics. Install it before starting consumer groups: they bind their
/// metric handles when they start.
///
/// # Errors
/// [`OpsError::Recorder`] when another recorder is installed.
pub fn install_prometheus() -> Result<PrometheusHandle, OpsError> {
    if let Some(handle) = PROMETHEUS.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| OpsError::Recorder(e.to_string()))?;
    crate::runtime::metrics::describe();
    Ok(PROMETHEUS.get_or_init(|| handle).clone())
}

struct Shared {
    name: String,
    version: String,
    metrics: Option<PrometheusHandle>,
    checks: Vec<(String, Arc<dyn HealthCheck>)>,
    groups: Mutex<Vec<RunningGroup>>,
    /// Set while the groups are still joining (see [`OpsServer::joining`]).
    joining: AtomicBool,
}

/// Builds the ops server of a worker binary.
///
/// ```no_run
/// # async fn demo(groups: Vec<waitlist_core::runtime::RunningGroup>) -> Result<(), Box<dyn std::error::Error>> {
/// use waitlist_core::ops::{install_prometheus, OpsServer};
///
/// let ops = OpsServer::new("notification-workers", env!("CARGO_PKG_VERSION"))
///     .metrics(install_prometheus()?)
///     .groups(groups)
///     .serve("0.0.0.0:3001".parse()?)
///     .await?;
/// // ... on shutdown:
/// let reports = ops.shutdown(std::time::Duration::from_secs(30)).await;
/// # Ok(()) }
/// ```
pub struct OpsServer {
    name: String,
    version: String,
    metrics: Option<PrometheusHandle>,
    checks: Vec<(String, Arc<dyn HealthCheck>)>,
    groups: Vec<RunningGroup>,
    joining: bool,
}

impl std::fmt::Debug for OpsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsServer")
            .field("name", &self.name)
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("groups", &self.groups.len())
            .field("joining", &self.joining)
            .finish()
    }
}

impl OpsServer {
    /// A server describing service `name` at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            metrics: None,
            checks: Vec::new(),
            groups: Vec::new(),
            joining: false,
        }
    }

    /// Serves `/metrics` from `handle` (see [`install_prometheus`]).
    pub fn metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Adds a readiness check (e.g. the transport) named `name`.
    pub fn check(mut self, name: impl Into<String>, check: impl HealthCheck + 'static) -> Self {
        self.checks.push((name.into(), Arc::new(check)));
        self
    }

    /// Watches `groups` (a [`Workers`](crate::runtime::Workers) set or
    /// single groups): `/health` is unavailable once one stops; the
    /// server's [`OpsHandle::shutdown`] shuts them down.
    pub fn groups(mut self, groups: impl IntoIterator<Item = RunningGroup>) -> Self {
        self.groups.extend(groups);
        self
    }

    /// Serves before the consumer groups have joined: `/health` answers
    /// 503 with `"groups": "joining"` until [`OpsHandle::joined`] hands the
    /// groups over. A worker binds its ops server first this way, so an
    /// orchestrator sees it alive but not ready while it waits for a broker.
    pub fn joining(mut self) -> Self {
        self.joining = true;
        self
    }

    /// Binds `addr` (port 0 picks one) and serves in the background.
    ///
    /// # Errors
    /// [`OpsError::Bind`].
    pub async fn serve(self, addr: SocketAddr) -> Result<OpsHandle, OpsError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| OpsError::Bind {
                addr,
                reason: e.to_string(),
            })?;
        let local_addr = listener.local_addr().map_err(|e| OpsError::Bind {
            addr,
            reason: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            name: self.name,
            version: self.version,
            metrics: self.metrics,
            checks: self.checks,
            groups: Mutex::new(self.groups),
            joining: AtomicBool::new(self.joining),
        });
        let app = axum::Router::new()
            .route("/", get(info))
            .route("/health", get(health))
            .route("/metrics", get(metrics_text))
            .with_state(Arc::clone(&shared));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(error) = server.await {
                tracing::error!(%error, "ops server failed");
            }
        });
        tracing::info!(addr = %local_addr, "ops server listening");
        Ok(OpsHandle {
            addr: local_addr,
            shared,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running ops server.
#[derive(Debug)]
#[must_use = "dropping the OpsHandle stops the server and its groups"]
pub struct OpsHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("name", &self.name).finish()
    }
}

impl OpsHandle {
    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The groups have joined: watches them from now on (as
    /// [`OpsServer::groups`] does) and ends the `joining` state of
    /// [`OpsServer::joining`].
    pub fn joined(&self, groups: impl IntoIterator<Item = RunningGroup>) {
        lock(&self.shared.groups).extend(groups);
        self.shared.joining.store(false, Ordering::Release);
    }

    /// Stops the server, then shuts the watched groups down under one
    /// `deadline`.
    pub async fn shutdown(mut self, deadline: Duration) -> Vec<GroupReport> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let groups = std::mem::take(&mut *lock(&self.shared.groups));
        crate::runtime::Workers::from(groups)
            .shutdown(deadline)
            .await
    }
}

impl Drop for OpsHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn info(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    Json(json!({
        "service": s.name,
        "version": s.version,
        "endpoints": ["/", "/health", "/metrics"],
    }))
}

async fn health(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let mut checks = BTreeMap::new();
    let mut ready = true;
    for (name, check) in &s.checks {
        let result = tokio::time::timeout(Duration::from_secs(5), check.check()).await;
        let status = match result {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => e,
            Err(_) => "timed out".to_owned(),
        };
        ready &= status == "ok";
        checks.insert(name.clone(), status);
    }
    if s.joining.load(Ordering::Acquire) {
        ready = false;
        checks.insert("groups".to_owned(), "joining".to_owned());
    }
    for group in lock(&s.groups).iter() {
        let running = group.is_running();
        ready &= running;
        let status = if running { "ok" } else { "stopped" };
        checks.insert(format!("group:{}", group.name()), status.to_owned());
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ready { "ok" } else { "unavailable" };
    (
        code,
        Json(json!({"status": status, "service": s.name, "checks": checks})),
    )
}

async fn metrics_text(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    match &s.metrics {
        Some(handle) => {
            handle.run_upkeep();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "no metrics recorder configured\n".to_owned(),
        ),
    }
}
