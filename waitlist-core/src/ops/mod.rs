//! The ops server of a worker binary (feature `ops-server`): `GET /`
//! (service info), `GET /health` (liveness plus readiness of the checks and
//! consumer groups: 200 or 503 with each check's state) and `GET /metrics`
//! (Prometheus text of everything recorded through the `metrics` facade,
//! the runtime's metrics included).

mod health;
mod server;

pub use health::{health_fn, CheckFuture, FnHealthCheck, HealthCheck};
pub use metrics_exporter_prometheus::PrometheusHandle;
pub use server::{install_prometheus, OpsError, OpsHandle, OpsServer};
