//! Shared pieces of the interoperability tests: the documents' example
//! event and a runner for scripts of other clients in the project's Python
//! virtualenv.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::{Envelope, UserSignedUp};
use crate::publish::EventPublisher;
use crate::runtime::{
    handler_fn, ConsumerGroup, Context, GroupReport, Outcome, Router, RunningGroup,
};
use crate::sync::lock;
use crate::{Publisher, Queue};

/// The documents' `user.signed_up` example, exactly as written there.
pub const USER_SIGNED_UP_EXAMPLE: &str = include_str!("../events/examples/user-signed-up.json");

/// The Python of the virtualenv: `WAITLIST_PYTHON`, or `.venv/bin/python`
/// under `workspace`; `None` when it does not exist.
pub fn python(workspace: &Path) -> Option<PathBuf> {
    let py = std::env::var_os("WAITLIST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    py.exists().then_some(py)
}

/// The virtualenv's Python for the workspace member at `manifest_dir` (a
/// test passes `env!("CARGO_MANIFEST_DIR")`).
pub fn member_python(manifest_dir: &str) -> Option<PathBuf> {
    python(&Path::new(manifest_dir).join(".."))
}

/// The path of `tests/interop/{name}` of the member at `manifest_dir`, as an
/// argument for [`run_python`].
pub fn script(manifest_dir: &str, name: &str) -> String {
    Path::new(manifest_dir)
        .join("tests/interop")
        .join(name)
        .to_string_lossy()
        .into_owned()
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

/// What a [`Recording`] group saw of one `user.signed_up` delivery.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The event.
    pub event: Envelope<UserSignedUp>,
    /// Its `x-origin` header (the foreign scripts set it).
    pub origin: Option<String>,
    /// Its key.
    pub key: Option<String>,
    /// Its message id.
    pub id: String,
}

impl Seen {
    /// Asserts this is the documents' example, sent by `origin` with the
    /// example's id as message id and its campaign as key.
    pub fn assert_example_from(&self, origin: &str) {
        assert_eq!(self.event.id, EXAMPLE_ID, "the event id from {origin}");
        assert_eq!(self.event.event_type, "user.signed_up");
        assert_eq!(self.event.data.email, "user@example.com");
        assert_eq!(self.id, EXAMPLE_ID, "the message id from {origin}");
        assert_eq!(self.origin.as_deref(), Some(origin));
        assert_eq!(
            self.key.as_deref(),
            Some(EXAMPLE_KEY),
            "the key from {origin}"
        );
    }
}

/// The id of [`USER_SIGNED_UP_EXAMPLE`].
pub const EXAMPLE_ID: &str = "550e8400-e29b-41d4-a716-446655440000";

/// The key of [`USER_SIGNED_UP_EXAMPLE`] (its campaign).
pub const EXAMPLE_KEY: &str = "campaign-uuid";

/// Runs a foreign client's `script` that sends the documents' example:
/// `script ADDRESS DESTINATION ID KEY JSON`.
pub async fn send_example(py: &Path, script: &str, address: &str, destination: &str) {
    run_python(
        py,
        &[
            script,
            address,
            destination,
            EXAMPLE_ID,
            EXAMPLE_KEY,
            USER_SIGNED_UP_EXAMPLE,
        ],
    )
    .await;
}

/// A consumer group that records every `user.signed_up` it handles.
#[derive(Debug)]
pub struct Recording {
    group: RunningGroup,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recording {
    /// Starts `group` on `topic` of `queue`; panics if it cannot.
    pub async fn start(queue: Arc<dyn Queue>, topic: &str, group: &str) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = Arc::clone(&seen);
        let router = Router::new().on(handler_fn(
            move |event: Envelope<UserSignedUp>, ctx: Context| {
                let s = Arc::clone(&s);
                async move {
                    lock(&s).push(Seen {
                        event,
                        origin: ctx.headers().get("x-origin").cloned(),
                        key: ctx.key().map(str::to_owned),
                        id: ctx.message_id().to_owned(),
                    });
                    Outcome::Done
                }
            },
        ));
        let group = ConsumerGroup::new(topic, group, router)
            .start(queue)
            .await
            .unwrap_or_else(|e| panic!("start the recording group on {topic}: {e}"));
        Self { group, seen }
    }

    /// Waits at most `wait` until `n` deliveries were handled (panics then).
    pub async fn wait_for(&self, n: usize, wait: Duration) {
        super::wait_until(&format!("{n} deliveries handled"), wait, || {
            lock(&self.seen).len() >= n
        })
        .await;
    }

    /// Shuts the group down (5 s) and returns its report and what it saw.
    pub async fn finish(self) -> (GroupReport, Vec<Seen>) {
        let report = self.group.shutdown(Duration::from_secs(5)).await;
        let seen = lock(&self.seen).clone();
        (report, seen)
    }
}

/// Publishes the documents' example to `topic` through `publisher`;
/// returns it.
pub async fn publish_example(publisher: Arc<dyn Publisher>, topic: &str) -> Envelope<UserSignedUp> {
    let event: Envelope<UserSignedUp> =
        serde_json::from_str(USER_SIGNED_UP_EXAMPLE).expect("the documents' example parses");
    EventPublisher::new(publisher)
        .publish_event(topic, &event)
        .await
        .unwrap_or_else(|e| panic!("publish the example to {topic}: {e}"));
    event
}

/// Parses the one JSON line a foreign client's script printed and asserts
/// its `body` is the documents' example unchanged; returns the line.
pub fn read_example(out: &str, client: &str) -> serde_json::Value {
    let got: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{client} printed no JSON ({e}): {out}"));
    let body: serde_json::Value = got["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_else(|| panic!("{client} read no JSON body: {got}"));
    let original: serde_json::Value =
        serde_json::from_str(USER_SIGNED_UP_EXAMPLE).expect("the documents' example parses");
    assert_eq!(
        body, original,
        "{client} must read the documents' JSON unchanged"
    );
    got
}
