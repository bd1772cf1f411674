//! `waitlist worker`: the documents' worker server (`cmd/kafka-worker`) on
//! any transport — the domain-event and job groups of documents 000–001,
//! stores in PostgreSQL (`DATABASE_URL`, with the transactional outbox and
//! the campaign lock) or in memory, `/health` and `/metrics` on `PORT`,
//! graceful shutdown on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist::domain::{start_workers, DomainConfig, DomainServices, DomainStores};
use waitlist::ops::{install_prometheus, OpsServer};
use waitlist::prelude::*;
use waitlist::providers::{EmailMessage, EmailProvider, ProviderError, SendReceipt};
use waitlist::store::MemoryStore;
use waitlist::{PgCampaignLock, PgStore};

use crate::transport::Broker;

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
    /// Append every email as a JSON line to FILE instead of logging it.
    #[arg(long, value_name = "FILE")]
    email_log: Option<PathBuf>,
    /// How long the groups may take to join before the worker gives up.
    #[arg(long, default_value = "60s", value_parser = crate::parse_duration)]
    startup_timeout: Duration,
}

/// Emails as JSON lines `{"to", "subject", "key"}` in a file, or in the log.
#[derive(Debug)]
struct EmailSink {
    file: Option<Mutex<std::fs::File>>,
}

#[waitlist::async_trait]
impl EmailProvider for EmailSink {
    async fn send_email(&self, m: &EmailMessage) -> Result<SendReceipt, ProviderError> {
        let line =
            serde_json::json!({ "to": m.to, "subject": m.subject, "key": m.idempotency_key });
        match &self.file {
            None => println!("email {line}"),
            Some(file) => {
                let mut file = file
                    .lock()
                    .map_err(|_| ProviderError::Permanent("email file lock poisoned".into()))?;
                writeln!(file, "{line}").map_err(|e| ProviderError::Transient(e.to_string()))?;
            }
        }
        Ok(SendReceipt::default())
    }
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
    let mut config = DomainConfig::from_env().map_err(|e| e.to_string())?;
    let emails: Arc<dyn EmailProvider> = Arc::new(EmailSink {
        file: match &args.email_log {
            None => None,
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            )),
        },
    });
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
    print_startup(&config, &broker_label(broker), &stores, args.port);

    let transport = broker.connect().await?;
    let mut relay = None;
    let builder = match database {
        Some(_) => {
            let pg = PgStore::from_env()
                .await
                .map_err(|e| format!("cannot use PostgreSQL: {e}"))?;
            let pg = Arc::new(pg.with_schema(&args.schema));
            pg.migrate()
                .await
                .map_err(|e| format!("migrating PostgreSQL: {e}"))?;
            let outbox = pg.outbox();
            if !args.no_relay {
                relay = Some(outbox.relay(Arc::clone(&transport.publisher)).start());
            }
            config.idempotency = Some((pg.clone(), Duration::from_secs(24 * 3600)));
            let lock = Arc::new(PgCampaignLock::new(pg.pool().clone()));
            let publisher = EventPublisher::new(outbox.publisher());
            DomainServices::builder(DomainStores::from_one(pg), publisher, emails).lock(lock)
        }
        None => {
            let publisher = EventPublisher::new(Arc::clone(&transport.publisher));
            DomainServices::in_memory(Arc::new(MemoryStore::new()), publisher, emails)
        }
    };
    let services = Arc::new(
        builder
            .topics(config.topics.clone())
            .build()
            .map_err(|e| e.to_string())?,
    );
    let starting = start_workers(&services, &config, Arc::clone(&transport.queue));
    let workers = match tokio::time::timeout(args.startup_timeout, starting).await {
        Ok(Ok(workers)) => workers,
        Ok(Err(e)) => {
            return Err(format!(
                "starting the consumer groups on {}: {e}",
                transport.at
            ))
        }
        Err(_) => {
            return Err(format!(
                "the consumer groups did not join {} within {:?}",
                transport.at, args.startup_timeout
            ))
        }
    };
    let metrics = install_prometheus().map_err(|e| format!("metrics: {e}"))?;
    let addr = SocketAddr::from(([0, 0, 0, 0], args.port));
    let ops = OpsServer::new("waitlist-worker", env!("CARGO_PKG_VERSION"))
        .metrics(metrics)
        .groups(workers)
        .serve(addr)
        .await
        .map_err(|e| e.to_string())?;
    println!("health and metrics on http://{}", ops.local_addr());
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
    if let Some(relay) = relay {
        println!("outbox relayed {}", relay.stats().relayed());
        relay.stop().await;
    }
    transport
        .publisher
        .close()
        .await
        .map_err(|e| format!("closing the transport: {e}"))
}

fn broker_label(broker: &Broker) -> String {
    format!("{:?}", broker.kind).to_lowercase()
}
