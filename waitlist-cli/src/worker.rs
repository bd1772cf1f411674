//! `waitlist worker`: the documents' worker server (`cmd/kafka-worker`) on
//! any transport — the domain-event and job groups of documents 000–001,
//! stores in PostgreSQL (`DATABASE_URL`, with the transactional outbox and
//! the campaign lock) or in memory, `/health` and `/metrics` on `PORT`,
//! graceful shutdown on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waitlist::domain::{start_workers, DomainConfig, DomainServices, DomainStores};
use waitlist::ops::{install_prometheus, OpsServer};
use waitlist::prelude::*;
use waitlist::providers::{EmailProvider, JsonLinesEmailProvider};
use waitlist::store::MemoryStore;
use waitlist::{PgCampaignLock, PgStore};

use waitlist::postgres::RunningRelay;
use waitlist::runtime::Workers;

use crate::transport::{Broker, Connected};

/// The worker's own settings (the rest come from the environment).
#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// Port of `/health` and `/metrics`.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    port: u16,
    /// PostgreSQL schema of the stores (with `DATABASE_URL`).
    #[arg(long, default_value = waitlist::postgres::DEFAULT_SCHEMA)]
    schema: String,
    /// Do not relay the outbox from this process (run a relay elsewhere).
    #[arg(long)]
    no_relay: bool,
    /// Append every email as a JSON line to FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    email_log: Option<PathBuf>,
    /// How long the groups may take to join before the worker gives up.
    #[arg(long, default_value = "60s", value_parser = crate::parse_duration)]
    startup_timeout: Duration,
}

fn print_startup(config: &DomainConfig, at: &str, stores: &str, port: u16) {
    println!("Event consumer server configuration:");
    println!("  - Broker: {at}");
    println!("  - Domain events topic: {}", config.topics.domain);
    println!("  - Job events topic: {}", config.topics.jobs);
    println!(
        "  - Worker pool size: {} per consumer",
        config.email_workers
    );
    println!("  - Stores: {stores}");
    println!("  - Health and metrics: port {port}");
    println!("  - Consumer groups:");
    let groups = [
        (
            &config.email_group,
            "user.*, referral.verified, reward.earned, campaign.*",
        ),
        (&config.position_group, "referral.verified, user.signed_up"),
        (&config.reward_group, "reward.earned"),
        (&config.job_group, "job.*"),
    ];
    for (group, processes) in groups {
        println!("    * {group} (processes: {processes})");
    }
}

pub(crate) async fn run(broker: &Broker, args: &WorkerArgs) -> Result<(), String> {
    let config = DomainConfig::from_env().map_err(|e| e.to_string())?;
    let emails: Arc<dyn EmailProvider> = match &args.email_log {
        None => Arc::new(JsonLinesEmailProvider::stdout()),
        Some(path) => Arc::new(
            JsonLinesEmailProvider::append(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        ),
    };
    let database = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let stores = match &database {
        Some(url) => format!(
            "PostgreSQL {} (schema {})",
            waitlist::secrets::redact_url(url),
            args.schema
        ),
        None => "memory (set DATABASE_URL for PostgreSQL)".to_owned(),
    };
    print_startup(&config, &broker.describe(), &stores, args.port);

    // The ops server comes first: alive but not ready while the broker and
    // the database are being reached and the groups join.
    let metrics = install_prometheus().map_err(|e| format!("metrics: {e}"))?;
    let addr = SocketAddr::from(([0, 0, 0, 0], args.port));
    let ops = OpsServer::new("waitlist-worker", env!("CARGO_PKG_VERSION"))
        .metrics(metrics)
        .joining()
        .serve(addr)
        .await
        .map_err(|e| e.to_string())?;
    println!("health and metrics on http://{}", ops.local_addr());

    let setup = Setup {
        broker,
        args,
        config: &config,
        emails: &emails,
        database: database.is_some(),
    };
    let started = retry_until(&broker.describe(), args.startup_timeout, || setup.start()).await?;
    ops.joined(started.workers);
    println!("ready");

    waitlist::runtime::shutdown_signal().await;
    println!("stopping");
    for report in ops.shutdown(Duration::from_secs(30)).await {
        let s = &report.stats;
        println!(
            "{} handled {} skipped {} dead-lettered {}",
            report.group, s.done, s.skipped, s.dead_lettered
        );
    }
    if let Some(relay) = started.relay {
        println!("outbox relayed {}", relay.stats().relayed());
        relay.stop().await;
    }
    started
        .transport
        .publisher
        .close()
        .await
        .map_err(|e| format!("closing the transport: {e}"))
}

/// What one start attempt needs.
struct Setup<'a> {
    broker: &'a Broker,
    args: &'a WorkerArgs,
    config: &'a DomainConfig,
    emails: &'a Arc<dyn EmailProvider>,
    database: bool,
}

/// A started worker: its transport, groups and outbox relay.
struct Started {
    transport: Connected,
    workers: Workers,
    relay: Option<RunningRelay>,
}

impl Setup<'_> {
    /// Reaches the broker and the database and starts the groups; an error
    /// names the step and the cause in one line.
    async fn start(&self) -> Result<Started, String> {
        let transport = self.broker.connect().await?;
        let mut config = self.config.clone();
        let emails = Arc::clone(self.emails);
        let mut relay = None;
        let builder = if self.database {
            let url = std::env::var("DATABASE_URL").unwrap_or_default();
            let at = waitlist::secrets::redact_url(&url);
            let wait = self.broker.timeout;
            let pg = match tokio::time::timeout(wait, PgStore::connect(&url)).await {
                Ok(Ok(pg)) => pg,
                Ok(Err(e)) => return Err(format!("cannot reach PostgreSQL at {at}: {e}")),
                Err(_) => {
                    return Err(format!(
                        "cannot reach PostgreSQL at {at}: no answer within {wait:?}"
                    ))
                }
            };
            let pg = Arc::new(pg.with_schema(&self.args.schema));
            pg.migrate()
                .await
                .map_err(|e| format!("migrating PostgreSQL: {e}"))?;
            let outbox = pg.outbox();
            if !self.args.no_relay {
                relay = Some(outbox.relay(Arc::clone(&transport.publisher)).start());
            }
            config.idempotency = Some((pg.clone(), Duration::from_secs(24 * 3600)));
            let lock = Arc::new(PgCampaignLock::new(pg.pool().clone()));
            let publisher = EventPublisher::new(outbox.publisher());
            DomainServices::builder(DomainStores::from_one(pg), publisher, emails).lock(lock)
        } else {
            let publisher = EventPublisher::new(Arc::clone(&transport.publisher));
            DomainServices::in_memory(Arc::new(MemoryStore::new()), publisher, emails)
        };
        let services = Arc::new(
            builder
                .topics(config.topics.clone())
                .build()
                .map_err(|e| e.to_string())?,
        );
        let workers = start_workers(&services, &config, Arc::clone(&transport.queue))
            .await
            .map_err(|e| format!("starting the consumer groups on {}: {e}", transport.at))?;
        Ok(Started {
            transport,
            workers,
            relay,
        })
    }
}

/// The first pause between start attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between start attempts.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds, writing one line per failure to
/// standard error (the cause and the pause before the next try); gives up
/// with the last cause once `timeout` has passed since the first try.
/// `broker` names where the attempts go, for an attempt cut short.
async fn retry_until<T, F, Fut>(
    broker: &str,
    timeout: Duration,
    mut attempt: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let cause = match tokio::time::timeout(left, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(cause)) => cause.replace('\n', " "),
            Err(_) => last.unwrap_or_else(|| format!("no answer from {broker}")),
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(format!("{cause} (gave up after {timeout:?})"));
        }
        let wait = pause.min(left);
        eprintln!("waitlist: {cause}; retrying in {wait:.1?}");
        tokio::time::sleep(wait).await;
        pause = (pause * 2).min(MAX_PAUSE);
        last = Some(cause);
    }
}
