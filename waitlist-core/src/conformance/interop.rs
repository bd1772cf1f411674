//! Shared pieces of the interoperability tests: the documents' example
//! event and a runner for scripts of other clients in the project's Python
//! virtualenv.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documents' `user.signed_up` example, exactly as written there.
pub const USER_SIGNED_UP_EXAMPLE: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "user.signed_up",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "user_id": "user-uuid",
    "campaign_id": "campaign-uuid",
    "email": "user@example.com"
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

/// The Python of the virtualenv: `WAITLIST_PYTHON`, or `.venv/bin/python`
/// under `workspace`; `None` when it does not exist.
pub fn python(workspace: &Path) -> Option<PathBuf> {
    let py = std::env::var_os("WAITLIST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    py.exists().then_some(py)
}

/// Runs `py args…` for at most 90 s and returns its standard output;
/// panics (failing the test) when it fails or hangs.
pub async fn run_python(py: &Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(py)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{args:?} did not finish within 90 s"))
    .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
