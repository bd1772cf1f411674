//! The domain worker server on RabbitMQ with its state in PostgreSQL: run
//! it on as many machines as you like, they share one truth.
//!
//! ```bash
//! AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --example pg_worker --features amqp,postgres -- --relay
//! ```
//!
//! Every store is a [`PgStore`] (schema `--schema`, default `waitlist`),
//! positions are serialised across processes by the PostgreSQL advisory
//! lock, deduplication uses the database's idempotency table, and the
//! events the handlers publish (`reward.earned`, milestones) go through the
//! transactional outbox; `--relay` also runs an outbox relay in this
//! process (run at least one somewhere). Emails go to a JSON-lines file
//! (`--email-log FILE`) so that a test or a person can see exactly what was
//! sent; a host passes its SMTP or API provider instead.
//!
//! Environment: `AMQP_URL`, `DATABASE_URL`, and the topic and pool-size
//! variables of [`DomainConfig::from_env`]. Prints `ready` once every group
//! has joined; stops on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waitlist::domain::{start_workers, DomainConfig, DomainServices, DomainStores};
use waitlist::prelude::*;
use waitlist::providers::JsonLinesEmailProvider;
use waitlist::{AmqpConfig, AmqpTransport, PgCampaignLock, PgStore};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    schema: String,
    relay: bool,
    email_log: PathBuf,
}

fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, AnyError> {
    let mut args = Args {
        schema: waitlist::postgres::DEFAULT_SCHEMA.to_owned(),
        relay: false,
        email_log: PathBuf::from("emails.jsonl"),
    };
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--schema" => args.schema = it.next().ok_or("--schema needs a name")?,
            "--relay" => args.relay = true,
            "--email-log" => args.email_log = it.next().ok_or("--email-log needs a file")?.into(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    // RUST_LOG as usual; quiet by default.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    run(std::env::args().skip(1)).await
}

/// The worker with command-line arguments `argv` (without the program
/// name); returns after SIGINT or SIGTERM. `tests/two_workers.rs` runs its
/// processes through this function.
pub(crate) async fn run(argv: impl IntoIterator<Item = String>) -> Result<(), AnyError> {
    let args = parse(argv)?;

    let pg = Arc::new(PgStore::from_env().await?.with_schema(&args.schema));
    pg.migrate().await?;
    let transport = AmqpTransport::connect(AmqpConfig::from_env()).await?;
    let outbox = pg.outbox();
    let relay = args.relay.then(|| {
        outbox
            .relay(Arc::new(transport.clone()))
            .with_poll_interval(Duration::from_millis(200))
            .start()
    });

    let emails = Arc::new(JsonLinesEmailProvider::append(&args.email_log)?);
    let mut config = DomainConfig::from_env()?;
    config.idempotency = Some((pg.clone(), Duration::from_secs(24 * 3600)));
    let services = Arc::new(
        DomainServices::builder(
            DomainStores::from_one(Arc::clone(&pg)),
            EventPublisher::new(outbox.publisher()),
            emails,
        )
        .lock(Arc::new(PgCampaignLock::new(pg.pool().clone())))
        .topics(config.topics.clone())
        .build()?,
    );
    let workers = start_workers(&services, &config, Arc::new(transport.clone())).await?;
    println!("ready");

    waitlist::runtime::shutdown_signal().await;
    for report in workers.shutdown(Duration::from_secs(30)).await {
        println!(
            "{} handled {} skipped {} dead-lettered {}",
            report.group, report.stats.done, report.stats.skipped, report.stats.dead_lettered
        );
    }
    if let Some(relay) = relay {
        println!("outbox relayed {}", relay.stats().relayed());
        relay.stop().await;
    }
    transport.close().await?;
    Ok(())
}
