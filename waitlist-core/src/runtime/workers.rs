//! A set of running consumer groups with one lifecycle.

use std::sync::Arc;
use std::time::Duration;

use super::{ConsumerGroup, GroupReport, GroupStats, RunningGroup};
use crate::{Queue, Result};

/// Running consumer groups, started together and stopped together.
///
/// Every service of the SDK that runs groups returns one; a host adds its
/// own with [`start`](Self::start) or [`push`](Self::push) and merges sets
/// with [`append`](Self::append). Dropping it stops every group, like
/// dropping each [`RunningGroup`]: keep it alive for as long as the groups
/// should run.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use waitlist_core::runtime::{ConsumerGroup, Router, Workers};
/// # async fn run(queue: Arc<dyn waitlist_core::Queue>) -> waitlist_core::Result<()> {
/// let workers = Workers::start(
///     queue,
///     [
///         ConsumerGroup::new("domain-events", "email-workers", Router::new()),
///         ConsumerGroup::new("job-events", "job-workers", Router::new()),
///     ],
/// )
/// .await?;
/// assert_eq!(workers.len(), 2);
/// let reports = workers.shutdown(Duration::from_secs(30)).await;
/// assert!(reports.iter().all(|r| r.abandoned == 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use = "dropping Workers stops every group it runs"]
pub struct Workers {
    groups: Vec<RunningGroup>,
}

impl Workers {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts every group on `queue`, one member each.
    ///
    /// # Errors
    /// The first group that fails to subscribe; the groups already started
    /// are stopped (their in-flight work is redelivered).
    pub async fn start(
        queue: Arc<dyn Queue>,
        groups: impl IntoIterator<Item = ConsumerGroup>,
    ) -> Result<Self> {
        let mut workers = Self::new();
        workers.start_more(queue, groups).await?;
        Ok(workers)
    }

    /// Starts more groups on `queue` into this set.
    ///
    /// # Errors
    /// As [`start`](Self::start); groups started by this call are stopped,
    /// the ones already in the set keep running.
    pub async fn start_more(
        &mut self,
        queue: Arc<dyn Queue>,
        groups: impl IntoIterator<Item = ConsumerGroup>,
    ) -> Result<()> {
        let mut started = Vec::new();
        for group in groups {
            match group.start(Arc::clone(&queue)).await {
                Ok(running) => started.push(running),
                Err(e) => {
                    Self { groups: started }
                        .shutdown(Duration::from_secs(5))
                        .await;
                    return Err(e);
                }
            }
        }
        self.groups.extend(started);
        Ok(())
    }

    /// Adds a group started elsewhere.
    pub fn push(&mut self, group: RunningGroup) {
        self.groups.push(group);
    }

    /// Takes over every group of `other`.
    pub fn append(&mut self, other: Workers) {
        self.groups.extend(other.groups);
    }

    /// How many groups run.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether the set has no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether every group is still running.
    pub fn is_running(&self) -> bool {
        self.groups.iter().all(RunningGroup::is_running)
    }

    /// The groups, in the order they were started.
    pub fn groups(&self) -> &[RunningGroup] {
        &self.groups
    }

    /// The group named `name` (the first, if several members of one group run).
    pub fn group(&self, name: &str) -> Option<&RunningGroup> {
        self.groups.iter().find(|g| g.name() == name)
    }

    /// Counters of every group, by name, in start order.
    pub fn stats(&self) -> Vec<(String, GroupStats)> {
        self.groups
            .iter()
            .map(|g| (g.name().to_owned(), g.stats()))
            .collect()
    }

    /// Deliveries settled by all groups together ([`GroupStats::settled`]).
    pub fn settled(&self) -> u64 {
        self.groups.iter().map(|g| g.stats().settled()).sum()
    }

    /// Hands the groups over (to the ops server, say).
    pub fn into_groups(self) -> Vec<RunningGroup> {
        self.groups
    }

    /// Stops every group at once: each stops fetching, and in-flight work
    /// gets until `deadline` (one deadline for all) to finish and settle;
    /// what is still running then is abandoned and redelivered.
    pub async fn shutdown(self, deadline: Duration) -> Vec<GroupReport> {
        futures::future::join_all(self.groups.into_iter().map(|g| g.shutdown(deadline))).await
    }

    /// Runs until the process gets SIGINT (Ctrl-C) or SIGTERM, then shuts
    /// down within `deadline` — the usual `main` of a worker binary.
    pub async fn run_until_signal(self, deadline: Duration) -> Vec<GroupReport> {
        shutdown_signal().await;
        tracing::info!(
            groups = self.len(),
            ?deadline,
            "shutdown signal received; stopping"
        );
        self.shutdown(deadline).await
    }
}

impl From<Vec<RunningGroup>> for Workers {
    fn from(groups: Vec<RunningGroup>) -> Self {
        Self { groups }
    }
}

impl IntoIterator for Workers {
    type Item = RunningGroup;
    type IntoIter = std::vec::IntoIter<RunningGroup>;

    fn into_iter(self) -> Self::IntoIter {
        self.groups.into_iter()
    }
}

impl Extend<RunningGroup> for Workers {
    fn extend<I: IntoIterator<Item = RunningGroup>>(&mut self, iter: I) {
        self.groups.extend(iter);
    }
}

/// Resolves when the process receives SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
