//! Secrets stay out of `Debug` output, error messages and logs: webhook
//! secrets, checkout-token keys, SMTP passwords, credentials in broker and
//! database URLs and Kafka SASL/TLS properties.
//!
//! Every `tracing` event of this test binary (and every `log` record, which
//! the subscriber forwards) is written at TRACE level (lapin's at DEBUG:
//! its TRACE output holds the AMQP login frame) into one buffer while
//! the tests build configurations, connect with wrong or unneeded
//! passwords, deliver webhooks and send mail; each test then asserts that
//! none of its secrets appears there nor in what it formatted. The
//! connections need no broker to be up: with the local services they fail
//! (or succeed) after authenticating, without them they fail to connect —
//! either way the secret must not show.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use tracing_subscriber::fmt::MakeWriter;
use waitlist::amqp::AmqpConfig;
use waitlist::kafka::KafkaConfig;
use waitlist::providers::{EmailMessage, EmailProvider, SmtpConfig, SmtpEmailProvider, SmtpTls};
use waitlist::waitroom::CheckoutTokenSigner;
use waitlist::webhooks::{
    UrlGuard, WebhookClient, WebhookConfig, WebhookSecret, WebhookSubscription, WebhookVerifier,
};
use waitlist::{AmqpTransport, KafkaTransport, PgStore, RedisStore};

/// What the capture records: everything, lapin up to DEBUG.
const LOG_FILTER: &str = "trace,lapin=debug";

/// Everything logged by this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The global capture, installed once (TRACE, every target, `log` too).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        // lapin logs every frame it writes at TRACE, Connection.StartOk
        // included, whose PLAIN response is the password (as a byte list):
        // that level of lapin is not for production (see RELIABILITY.md).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(LOG_FILTER))
            .with_ansi(false)
            .with_writer(captured.clone())
            .try_init()
            .expect("the only subscriber of this binary");
        captured
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().0.lock().expect("not poisoned")).into_owned()
}

/// How `secret` may show: as text, or as its bytes the way `Debug` prints
/// a byte list or slice (`[115, 51, ...]`), in hex or in base64.
fn forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let list = bytes.iter().map(u8::to_string).collect::<Vec<_>>();
    vec![
        secret.to_owned(),
        list.join(", "),
        list.join(","),
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ]
}

/// Asserts `secret` appears, in none of its [`forms`], neither in `shown`
/// nor in the logs so far.
fn assert_hidden(secret: &str, shown: &str) {
    let logs = logged();
    for form in forms(secret) {
        assert!(
            !shown.contains(&form),
            "{secret:?} shown as {form:?} in: {shown}"
        );
        assert!(
            !logs.contains(&form),
            "{secret:?} logged as {form:?} in:\n{}",
            logs.lines()
                .filter(|l| l.contains(&form))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn host_of(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

#[tokio::test]
async fn amqp_password_stays_out_of_debug_errors_and_logs() {
    logs();
    let secret = "amqp-Pa55-7f3a91";
    let url = format!("amqp://guest:{secret}@127.0.0.1:5672/%2f");
    let mut config = AmqpConfig::new(url);
    config.reconnect_initial = Duration::from_millis(50);
    config.reconnect_deadline = Duration::from_millis(400);
    let shown = format!("{config:?} {config:#?}");
    assert!(shown.contains("guest:***@127.0.0.1"), "{shown}");
    let err = AmqpTransport::connect(config)
        .await
        .expect_err("a wrong password (or no broker) cannot connect");
    let err_shown = format!("{err} {err:?}");
    assert!(err_shown.contains("guest:***@"), "{err_shown}");
    assert_hidden(secret, &format!("{shown} {err_shown}"));
    assert!(
        logged().contains("AMQP connect failed"),
        "the capture sees the transport's logs"
    );
}

#[tokio::test]
async fn redis_password_stays_out_of_errors_and_logs() {
    logs();
    let secret = "redis-Pa55-c41e07";
    // The local Redis has no password: AUTH fails (or nothing listens).
    let url = format!(
        "redis://:{secret}@{}/0",
        host_of("REDIS_HOST_PORT", "127.0.0.1:6379")
    );
    let err = RedisStore::connect(&url)
        .await
        .expect_err("AUTH without a configured password fails");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains(":***@"), "the server is named: {shown}");
    assert_hidden(secret, &shown);
    let bad = format!("redis://:{secret}@[not-a-host/0");
    let err = RedisStore::connect(&bad).await.expect_err("invalid URL");
    assert_hidden(secret, &format!("{err} {err:?}"));
}

#[tokio::test]
async fn database_password_stays_out_of_debug_errors_and_logs() {
    logs();
    let secret = "pg-Pa55-99d0b2";
    // The local database trusts its clients: the password is sent (or not
    // asked for) and the pool connects; a closed port fails.
    let host = host_of("PGHOST_PORT", "127.0.0.1:5432");
    let url = format!("postgres://postgres:{secret}@{host}/test");
    let mut shown = String::new();
    match PgStore::connect(&url).await {
        Ok(store) => {
            shown.push_str(&format!("{store:?} {:?}", store.pool()));
            sqlx::query("select 1")
                .execute(store.pool())
                .await
                .expect("a query on the pool");
        }
        Err(e) => shown.push_str(&format!("{e} {e:?}")),
    }
    // Nothing listens on port 1 (the pool retries until its timeout).
    let closed = format!("postgres://postgres:{secret}@127.0.0.1:1/test");
    let query = format!("postgres://127.0.0.1:1/test?user=postgres&password={secret}");
    let (a, b) = tokio::join!(PgStore::connect(&closed), PgStore::connect(&query));
    for err in [a.expect_err("port 1"), b.expect_err("port 1")] {
        shown.push_str(&format!("{err} {err:?}"));
    }
    assert_hidden(secret, &shown);
}

#[tokio::test]
async fn kafka_sasl_secrets_stay_out_of_debug_and_logs() {
    logs();
    let secret = "kafka-Pa55-5be8aa";
    let config = KafkaConfig::new("127.0.0.1:1")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", "alice")
        .set("sasl.password", secret);
    let shown = format!("{config:?} {config:#?}");
    assert!(
        shown.contains("sasl.password") && shown.contains("alice"),
        "{shown}"
    );
    let transport = KafkaTransport::new(config).expect("clients are created without a broker");
    let transport_shown = format!("{transport:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(transport);
    assert_hidden(secret, &format!("{shown} {transport_shown}"));
}

#[tokio::test]
async fn smtp_password_stays_out_of_debug_errors_and_logs() {
    logs();
    let secret = "smtp-Pa55-0e6d41";
    let config = SmtpConfig {
        host: "127.0.0.1".into(),
        // Nothing listens here: the send fails before or at AUTH.
        port: 1,
        tls: SmtpTls::None,
        credentials: Some(("mailer".into(), secret.into())),
        from: "noreply@waitlist.test".into(),
        timeout: Duration::from_secs(2),
    };
    let shown = format!("{config:?} {config:#?}");
    assert!(shown.contains("mailer"), "{shown}");
    let provider = SmtpEmailProvider::new(config).expect("valid");
    let provider_shown = format!("{provider:?}");
    let err = provider
        .send_email(&EmailMessage {
            to: "user@example.com".into(),
            subject: "hello".into(),
            html: "<p>hi</p>".into(),
            ..EmailMessage::default()
        })
        .await
        .expect_err("nothing listens on port 1");
    assert_hidden(secret, &format!("{shown} {provider_shown} {err} {err:?}"));
}

#[tokio::test]
async fn webhook_secrets_and_token_keys_stay_out_of_debug_and_logs() {
    logs();
    let secret = WebhookSecret::generate();
    let whsec = secret.to_whsec();
    let raw = whsec.trim_start_matches("whsec_").to_owned();
    let subscription =
        WebhookSubscription::new("sub", "acc", "http://127.0.0.1:1/hook", secret.clone());
    let verifier = WebhookVerifier::new(secret.clone());
    let config = WebhookConfig::default();
    let key = "token-key-4b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e";
    let signer = CheckoutTokenSigner::new(key.as_bytes().to_vec()).expect("key");
    let shown =
        format!("{secret:?} {subscription:?} {subscription:#?} {verifier:?} {config:?} {signer:?}");
    // A delivery attempt logs; it must not log the secret it signs with.
    let guard = UrlGuard::new().allow_net("127.0.0.1/32").expect("valid");
    let client = WebhookClient::new(Duration::from_secs(2), "test", guard).expect("client");
    let report = client
        .send("http://127.0.0.1:1/hook", "msg_1", b"{}", &[secret])
        .await;
    let report_shown = format!("{report:?}");
    for s in [whsec.as_str(), raw.as_str(), key] {
        assert_hidden(s, &format!("{shown} {report_shown}"));
    }
}
