//! The worker server of the product documents (`go run cmd/kafka-worker`),
//! on Kafka: the domain-event groups, the job workers and the webhook
//! consumers, with their pool sizes, until SIGINT or SIGTERM.
//!
//! ```bash
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example kafka_worker --features kafka,webhooks
//! # publish a few events itself, wait until they are handled, then stop:
//! cargo run --example kafka_worker --features kafka,webhooks -- --demo
//! ```
//!
//! Environment: `KAFKA_BROKERS`, `KAFKA_TOPIC`, `KAFKA_JOB_TOPIC`,
//! `KAFKA_CONSUMER_GROUP`, `KAFKA_JOB_CONSUMER_GROUP`,
//! `KAFKA_WORKER_POOL_SIZE`. Stores and the email provider are in memory
//! here; a host service passes its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use waitlist::domain::{start_workers, Clock, DomainConfig, DomainServices, SystemClock};
use waitlist::events::{topics, UserSignedUp};
use waitlist::prelude::*;
use waitlist::providers::RecordingEmailProvider;
use waitlist::store::{Campaign, CampaignStore, MemoryStore, User, UserStore};
use waitlist::webhooks::{
    MemoryDeliveryLog, MemorySubscriptionStore, WebhookConfig, WebhookService,
};
use waitlist::{KafkaConfig, KafkaTransport};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn print_startup(kafka: &KafkaConfig, domain: &DomainConfig, webhooks: &WebhookConfig) {
    let brokers: Vec<&str> = kafka.brokers.split(',').collect();
    println!("Kafka event consumer server configuration:");
    println!("  - Domain events topic: {}", domain.topics.domain);
    println!("  - Job events topic: {}", domain.topics.jobs);
    println!("  - Webhook events topic: {}", webhooks.events_topic);
    println!("  - Kafka brokers: [{}]", brokers.join(" "));
    println!(
        "  - Worker pool size: {} per consumer",
        domain.email_workers
    );
    println!("  - Consumer groups:");
    println!(
        "    * {} (processes: user.*, referral.verified, reward.earned, campaign.*)",
        domain.email_group
    );
    println!(
        "    * {} (processes: referral.verified, user.signed_up)",
        domain.position_group
    );
    println!("    * {} (processes: reward.earned)", domain.reward_group);
    println!("    * {} (processes: job.*)", domain.job_group);
    println!(
        "    * {} (processes: webhook events)",
        webhooks.events_group
    );
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    // RUST_LOG as usual; quiet by default.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let demo = std::env::args().any(|a| a == "--demo");

    let kafka_config = KafkaConfig::from_env();
    let domain_config = DomainConfig::from_env()?;
    let webhook_config = WebhookConfig::from_env()?;
    print_startup(&kafka_config, &domain_config, &webhook_config);

    let transport = KafkaTransport::new(kafka_config)?;
    let queue: Arc<dyn Queue> = Arc::new(transport.clone());
    let publisher = EventPublisher::new(Arc::new(transport.clone()));
    let store = Arc::new(MemoryStore::new());
    let emails = Arc::new(RecordingEmailProvider::new());
    let services = Arc::new(
        DomainServices::in_memory(Arc::clone(&store), publisher.clone(), emails.clone())
            .topics(domain_config.topics.clone())
            .build()?,
    );

    let mut workers = start_workers(&services, &domain_config, Arc::clone(&queue)).await?;
    let webhooks = WebhookService::new(
        webhook_config,
        Arc::new(MemorySubscriptionStore::new()),
        Arc::new(MemoryDeliveryLog::new()),
        publisher,
    )?
    .start(Arc::clone(&queue))
    .await?;
    workers.append(webhooks);
    println!("Consumer groups running; stop with Ctrl-C or SIGTERM");

    if demo {
        let campaign = "campaign-demo";
        store
            .save_campaign(Campaign::new(campaign, "account-demo"))
            .await?;
        let now = SystemClock.now();
        for who in ["ada", "bob"] {
            let email = format!("{who}@example.com");
            store
                .insert_user(User::new(campaign, who, &email, now))
                .await?;
            let event = UserSignedUp {
                user_id: who.into(),
                campaign_id: campaign.into(),
                email,
            };
            services
                .events
                .user_signed_up("account-demo", event)
                .await?;
        }
        println!(
            "demo: published 2 user.signed_up events to {}",
            topics::DOMAIN_EVENTS
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while emails.sent().len() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for e in emails.sent() {
            println!("demo: email-workers sent \"{}\" to {}", e.subject, e.to);
        }
        if emails.sent().len() < 2 {
            return Err("demo: the events were not handled within 60 s".into());
        }
    } else {
        waitlist::runtime::shutdown_signal().await;
        println!("Shutting down: finishing in-flight work");
    }

    for report in workers.shutdown(Duration::from_secs(30)).await {
        println!(
            "  {:<18} handled {:>4}  skipped {:>4}  dead-lettered {}",
            report.group, report.stats.done, report.stats.skipped, report.stats.dead_lettered
        );
    }
    Ok(())
}
