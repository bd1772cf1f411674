//! Many processes, one truth: two `pg_worker` processes on one RabbitMQ and
//! one PostgreSQL schema, fed 1,000 sign-ups and 500 referrals through the
//! transactional outbox. Afterwards the positions equal a full
//! recalculation, every referral is counted once, every reward is delivered
//! once, every email is sent once, and nothing is lost.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use waitlist::domain::positions::rank_all;
use waitlist::domain::{DomainEventPublisher, Timestamp};
use waitlist::events::{ReferralCreated, ReferralVerified, RewardDeliveryMethod, UserSignedUp};
use waitlist::prelude::*;
use waitlist::store::{Campaign, Referral, Reward, RewardRule, User};
use waitlist::PgStore;

const USERS: usize = 1_000;
const REFERRERS: usize = 100;
const REFERRALS_EACH: usize = 5;
const REWARD_AT: u64 = 3;
const CAMPAIGN: &str = "launch";
const ACCOUNT: &str = "acme";

/// The worker of `examples/pg_worker.rs`, compiled into this test binary
/// (a harness-less test: `main` below) so that the processes it starts
/// always run the code under test.
mod pg_amqp_support;

use pg_amqp_support::{amqp_url, database_url};

#[allow(dead_code)]
#[path = "../examples/pg_worker.rs"]
mod pg_worker;

const TEST: &str = "two_worker_processes_share_one_truth";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--pg-worker") {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        if let Err(e) = rt.block_on(pg_worker::run(args.into_iter().skip(1))) {
            eprintln!("pg_worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    // A little of libtest's command line: `--list` and a name filter.
    if args.iter().any(|a| a == "--list") {
        println!("{TEST}: test");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !TEST.contains(f.as_str())) {
        println!("running 0 tests (filtered out)");
        return;
    }
    println!("running 1 test");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(two_worker_processes_share_one_truth());
    println!("test {TEST} ... ok");
}

struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn start(schema: &str, topics: &(String, String), emails: &Path) -> Self {
        let bin = std::env::current_exe().expect("test binary path");
        let mut child = Command::new(bin)
            .args(["--pg-worker", "--schema", schema, "--relay", "--email-log"])
            .arg(emails)
            .env("AMQP_URL", amqp_url())
            .env("DATABASE_URL", database_url())
            .env("KAFKA_TOPIC", &topics.0)
            .env("KAFKA_JOB_TOPIC", &topics.1)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pg_worker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == "ready" => return,
                Ok(_) => {}
                Err(e) => panic!("pg_worker did not get ready: {e}"),
            }
        }
    }

    /// SIGTERM, then the lines it printed while shutting down.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "pg_worker exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "pg_worker did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.lines.try_iter().collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn t0() -> Timestamp {
    waitlist::chrono::Utc::now()
}

/// The emails a worker wrote: (to, subject, key) per line.
fn emails(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("an email line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (s("to"), s("subject"), s("key"))
        })
        .collect()
}

struct Counts {
    ranked: i64,
    settled_referrals: i64,
    pending_rewards: i64,
    emails: usize,
}

async fn counts(pg: &PgStore, files: &[PathBuf]) -> Counts {
    let s = format!("\"{}\"", pg.schema());
    let one = |sql: String| {
        let pool = pg.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    Counts {
        ranked: one(format!(
            "SELECT count(*) FROM {s}.users WHERE position IS NOT NULL"
        ))
        .await,
        settled_referrals: one(format!(
            "SELECT count(*) FROM {s}.referrals WHERE status <> 'pending'"
        ))
        .await,
        pending_rewards: one(format!(
            "SELECT count(*) FROM {s}.user_rewards WHERE status <> 'delivered'"
        ))
        .await,
        emails: files.iter().map(|f| emails(f).len()).sum(),
    }
}

async fn two_worker_processes_share_one_truth() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("tw_{id}");
    let Some((pg, broker)) = pg_amqp_support::connect(&schema).await else {
        return;
    };
    drop(broker); // the workers connect themselves
    let pg = Arc::new(pg);
    pg.migrate().await.expect("migrate");
    let mut campaign = Campaign::new(CAMPAIGN, ACCOUNT);
    campaign.points_per_referral = 3;
    campaign.reward_rules = vec![RewardRule {
        reward_id: "early".into(),
        verified_referrals: REWARD_AT,
    }];
    pg.save_campaign(campaign).await.expect("campaign");
    pg.save_reward(Reward {
        id: "early".into(),
        campaign_id: CAMPAIGN.into(),
        name: "Early access".into(),
        method: RewardDeliveryMethod::Email,
        code_prefix: "EARLY".into(),
    })
    .await
    .expect("reward");

    let dir = std::env::temp_dir().join(format!("two_workers_{id}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files = [dir.join("a.jsonl"), dir.join("b.jsonl")];
    let topics = (format!("domain-{id}"), format!("jobs-{id}"));
    let a = Worker::start(&schema, &topics, &files[0]);
    let b = Worker::start(&schema, &topics, &files[1]);
    a.wait_ready();
    b.wait_ready();

    // The host: users and referrals in the database, their events through
    // the outbox (the workers relay it).
    let events = DomainEventPublisher::new(EventPublisher::new(pg.outbox().publisher()))
        .with_topic(&topics.0);
    let started = Instant::now();
    for i in 0..USERS {
        let user_id = format!("u{i:04}");
        let email = format!("{user_id}@example.com");
        let mut user = User::new(CAMPAIGN, &user_id, &email, t0());
        user.signup_ip = Some(format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256));
        user.device_fingerprint = Some(format!("device-{i}"));
        user.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0".into());
        pg.insert_user(user).await.expect("user");
        let signed_up = UserSignedUp {
            user_id,
            campaign_id: CAMPAIGN.into(),
            email,
        };
        events
            .user_signed_up(ACCOUNT, signed_up)
            .await
            .expect("staged");
    }
    let mut referrals = Vec::new();
    for r in 0..REFERRERS * REFERRALS_EACH {
        // Referrer r % 100 refers user 100 + r: 5 referrals each.
        let (referrer, referred) = (
            format!("u{:04}", r % REFERRERS),
            format!("u{:04}", REFERRERS + r),
        );
        let referral_id = format!("ref-{r}");
        pg.insert_referral(Referral::new(
            CAMPAIGN,
            &referral_id,
            &referrer,
            &referred,
            t0(),
        ))
        .await
        .expect("referral");
        let created = ReferralCreated {
            referral_id: referral_id.clone(),
            referrer_id: referrer.clone(),
            referred_id: referred.clone(),
            campaign_id: CAMPAIGN.into(),
        };
        events
            .referral_created(ACCOUNT, created)
            .await
            .expect("staged");
        referrals.push((referral_id, referrer, referred));
    }
    for (referral_id, referrer_id, referred_id) in &referrals {
        let verified = ReferralVerified {
            referral_id: referral_id.clone(),
            referrer_id: referrer_id.clone(),
            referred_id: referred_id.clone(),
            campaign_id: CAMPAIGN.into(),
            points_per_referral: 3,
        };
        events
            .referral_verified(ACCOUNT, verified)
            .await
            .expect("staged");
    }
    let staged = started.elapsed();

    // Wait until everything settled, then a quiet second for stragglers.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let c = counts(&pg, &files).await;
        let backlog = pg.outbox().backlog().await.expect("backlog").pending;
        if c.ranked == USERS as i64
            && c.settled_referrals == referrals.len() as i64
            && c.pending_rewards == 0
            && backlog == 0
        {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let again = counts(&pg, &files).await;
            if again.emails == c.emails {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {} ranked, {} referrals settled, {} rewards pending, {} staged",
            c.ranked,
            c.settled_referrals,
            c.pending_rewards,
            backlog
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled = started.elapsed();
    let out_a = a.stop();
    let out_b = b.stop();

    // Positions equal a full recalculation from the stored counts.
    let standings = pg.standings(CAMPAIGN).await.expect("standings");
    let expected: HashMap<String, u64> = rank_all(&standings, 3).into_iter().collect();
    let s = format!("\"{schema}\"");
    let rows: Vec<(String, Option<i64>, i64)> = sqlx::query_as(&format!(
        "SELECT id, position, verified_referrals FROM {s}.users WHERE campaign_id = $1"
    ))
    .bind(CAMPAIGN)
    .fetch_all(pg.pool())
    .await
    .expect("users");
    assert_eq!(rows.len(), USERS);
    for (user, position, _) in &rows {
        assert_eq!(
            position.and_then(|p| u64::try_from(p).ok()),
            expected.get(user).copied(),
            "{user}'s position"
        );
    }
    // Every referral counted once: the stored counts are the verified rows.
    let verified: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT referrer_id, count(*) FROM {s}.referrals WHERE status = 'verified' GROUP BY referrer_id"
    ))
    .fetch_all(pg.pool())
    .await
    .expect("verified");
    let verified: HashMap<String, i64> = verified.into_iter().collect();
    for (user, _, count) in &rows {
        assert_eq!(
            *count,
            verified.get(user).copied().unwrap_or(0),
            "{user}'s count"
        );
    }
    let total_verified: i64 = verified.values().sum();
    assert!(total_verified > 0, "fraud detection blocked every referral");

    // Every email once; the expected ones all there.
    let all: Vec<(String, String, String)> = files.iter().flat_map(|f| emails(f)).collect();
    let mut seen = HashSet::new();
    for e in &all {
        assert!(seen.insert(e.clone()), "sent twice: {e:?}");
    }
    let welcome = all.iter().filter(|e| e.2.starts_with("welcome")).count();
    assert_eq!(welcome, USERS, "one welcome email per user");
    let moves = all
        .iter()
        .filter(|e| e.2.starts_with("position_update/"))
        .count();
    assert_eq!(
        moves as i64, total_verified,
        "one position email per counted referral"
    );
    let earners = verified
        .values()
        .filter(|&&n| n >= REWARD_AT as i64)
        .count();
    let rewards: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT user_id, status FROM {s}.user_rewards WHERE campaign_id = $1"
    ))
    .bind(CAMPAIGN)
    .fetch_all(pg.pool())
    .await
    .expect("rewards");
    assert_eq!(
        rewards.len(),
        earners,
        "one reward per user at {REWARD_AT} referrals"
    );
    assert!(rewards.iter().all(|(_, status)| status == "delivered"));
    let reward_emails = all
        .iter()
        .filter(|e| e.1 == "You earned Early access")
        .count();
    assert_eq!(reward_emails, earners, "one reward email per reward");

    // Both processes did work.
    let handled = |out: &[String]| -> u64 {
        out.iter()
            .filter_map(|l| l.split(" handled ").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    let (ha, hb) = (handled(&out_a), handled(&out_b));
    assert!(
        ha > 0 && hb > 0,
        "both workers must handle events ({ha} / {hb})"
    );
    println!(
        "two workers: {USERS} users, {} referrals ({total_verified} verified), {earners} rewards, \
         {} emails; staged in {staged:?}, settled after {settled:?}; handled {ha} + {hb}",
        referrals.len(),
        all.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
        .execute(pg.pool())
        .await;
}
