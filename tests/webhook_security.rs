//! Webhook security against real HTTP servers started inside the tests:
//!
//! - signatures the SDK sends verify with an independent implementation,
//!   the Standard Webhooks reference library (`standardwebhooks` from PyPI,
//!   in the project's virtualenv), and the library's signatures verify with
//!   the SDK;
//! - a receiver using the SDK's verifier rejects forged, replayed (old
//!   timestamp), future, wrongly signed and tampered requests;
//! - the SSRF guard refuses private, loopback, CGNAT, link-local/metadata
//!   and unique-local addresses, IPv6 forms that carry such an IPv4 address,
//!   names resolving to any of them (through the resolver hook, also when
//!   the name re-resolves between the check and the connection), and the
//!   client follows no redirect.
//!
//! Without the virtualenv's `standardwebhooks` the interop tests print
//! SKIPPED, unless `WAITLIST_REQUIRE_BROKERS=1`, where they fail.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use chrono::Utc;
use serde_json::{json, Value};
use waitlist::conformance::interop::{python, run_python};
use waitlist::sync::lock;
use waitlist::webhooks::{
    is_public, AttemptOutcome, SignatureError, SsrfError, UrlGuard, WebhookClient, WebhookSecret,
    WebhookVerifier, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

// ---------------------------------------------------------------- servers

/// One request a test server got.
#[derive(Debug, Clone)]
struct Request {
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Request>>>;

#[derive(Clone)]
struct Server {
    log: Log,
    verifier: Option<WebhookVerifier>,
    redirect_to: Option<String>,
}

/// Records the request; verifies it when the server has a verifier (401
/// with the reason when it does not verify), redirects when told to.
async fn handle(State(s): State<Server>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    lock(&s.log).push(Request {
        headers: headers.clone(),
        body: body.clone(),
    });
    let mut out = HeaderMap::new();
    if let Some(to) = &s.redirect_to {
        out.insert("location", to.parse().expect("a header value"));
        return (StatusCode::TEMPORARY_REDIRECT, out, String::new());
    }
    match &s.verifier {
        Some(v) => match v.verify_headers(&headers, &body) {
            Ok(()) => (StatusCode::NO_CONTENT, out, String::new()),
            Err(e) => (StatusCode::UNAUTHORIZED, out, e.to_string()),
        },
        None => (StatusCode::NO_CONTENT, out, String::new()),
    }
}

/// Starts a server on 127.0.0.1:0; returns its port and its request log.
async fn serve(verifier: Option<WebhookVerifier>, redirect_to: Option<String>) -> (u16, Log) {
    let log = Log::default();
    let app = axum::Router::new().fallback(handle).with_state(Server {
        log: Arc::clone(&log),
        verifier,
        redirect_to,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, log)
}

fn local_client() -> WebhookClient {
    let guard = UrlGuard::new().allow_net("127.0.0.1/32").expect("valid");
    WebhookClient::new(Duration::from_secs(5), "security-test", guard).expect("client")
}

// ---------------------------------------------------------------- interop

/// The virtualenv's Python with `standardwebhooks`, or `None` after
/// printing SKIPPED (a failure under `WAITLIST_REQUIRE_BROKERS=1`).
async fn standardwebhooks(test: &str) -> Option<PathBuf> {
    let required = std::env::var("WAITLIST_REQUIRE_BROKERS").as_deref() == Ok("1");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reason = match python(root) {
        None => format!(
            "no Python virtualenv at {} (run scripts/services.sh up, or set WAITLIST_PYTHON)",
            root.join(".venv").display()
        ),
        Some(py) => {
            let probe = tokio::process::Command::new(&py)
                .args(["-c", "import standardwebhooks"])
                .output()
                .await;
            match probe {
                Ok(out) if out.status.success() => return Some(py),
                Ok(out) => format!(
                    "{} cannot import standardwebhooks (pip install -r scripts/requirements.txt): {}",
                    py.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => format!("cannot run {}: {e}", py.display()),
            }
        }
    };
    assert!(!required, "{test}: {reason}");
    println!("SKIPPED {test}: {reason}");
    None
}

/// Runs the reference script in `mode` on `spec` (passed in a file).
async fn reference(py: &Path, mode: &str, spec: &Value) -> Value {
    let file = std::env::temp_dir().join(format!("standardwebhooks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, spec.to_string()).expect("write the spec");
    let out = run_python(py, &[&script(), mode, &file.to_string_lossy()]).await;
    let _ = std::fs::remove_file(&file);
    serde_json::from_str(&out).expect("JSON from the script")
}

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/standardwebhooks_check.py")
        .to_string_lossy()
        .into_owned()
}

/// Verifies each `(headers, body)` with the reference library under `secret`.
async fn reference_verify(py: &Path, secret: &str, cases: &[(HeaderMap, String)]) -> Vec<Value> {
    let cases: Vec<Value> = cases
        .iter()
        .map(|(headers, body)| {
            let h: serde_json::Map<String, Value> = headers
                .iter()
                .filter(|(k, _)| k.as_str().starts_with("webhook-"))
                .map(|(k, v)| (k.to_string(), json!(v.to_str().expect("ascii"))))
                .collect();
            json!({"body": body, "headers": h})
        })
        .collect();
    let verdicts = reference(py, "verify", &json!({"secret": secret, "cases": cases})).await;
    verdicts.as_array().expect("a list").clone()
}

fn ok(verdicts: &[Value]) -> Vec<bool> {
    verdicts
        .iter()
        .map(|v| v["ok"].as_bool().expect("ok"))
        .collect()
}

/// Bodies worth signing: unicode, escapes, empty object, 64 KiB.
fn bodies() -> Vec<String> {
    vec![
        json!({"type": "user.created", "data": {"email": "zoë@example.com", "name": "李"}})
            .to_string(),
        "{}".to_owned(),
        r#"{"s":"quote \" backslash \\ tab \t nul \u0000 emoji 🎟"}"#.to_owned(),
        json!({"pad": "x".repeat(64 * 1024)}).to_string(),
    ]
}

#[tokio::test]
async fn sdk_deliveries_verify_with_the_standard_webhooks_library() {
    let Some(py) =
        standardwebhooks("sdk_deliveries_verify_with_the_standard_webhooks_library").await
    else {
        return;
    };
    // During a rotation the SDK signs with both; either verifies alone. The
    // second secret is written without its base64 padding, which the
    // reference library accepts and so does the SDK.
    let old = WebhookSecret::generate();
    let new_whsec = WebhookSecret::generate()
        .to_whsec()
        .trim_end_matches('=')
        .to_owned();
    let new = WebhookSecret::parse(&new_whsec).expect("unpadded secret");
    let (port, log) = serve(None, None).await;
    let client = local_client();
    let url = format!("http://127.0.0.1:{port}/hook");
    for (i, body) in bodies().iter().enumerate() {
        let report = client
            .send(
                &url,
                &format!("msg_{i}_{}", uuid::Uuid::new_v4()),
                body.as_bytes(),
                &[old.clone(), new.clone()],
            )
            .await;
        assert_eq!(report.outcome, AttemptOutcome::Delivered, "{report:?}");
    }
    let got: Vec<(HeaderMap, String)> = lock(&log)
        .iter()
        .map(|r| {
            (
                r.headers.clone(),
                String::from_utf8(r.body.to_vec()).expect("UTF-8"),
            )
        })
        .collect();
    assert_eq!(got.len(), bodies().len());
    for (headers, _) in &got {
        let sigs = headers[HEADER_SIGNATURE].to_str().expect("ascii");
        assert_eq!(
            sigs.split(' ').count(),
            2,
            "one signature per secret: {sigs}"
        );
    }

    for secret in [old.to_whsec(), new_whsec.clone()] {
        let verdicts = reference_verify(&py, &secret, &got).await;
        assert_eq!(ok(&verdicts), vec![true; got.len()], "{verdicts:?}");
    }
    // The reference verifier is not a rubber stamp: a stranger's secret, a
    // changed body, id or timestamp all fail there too.
    let stranger = WebhookSecret::generate().to_whsec();
    let verdicts = reference_verify(&py, &stranger, &got).await;
    assert_eq!(ok(&verdicts), vec![false; got.len()], "{verdicts:?}");
    let mut altered = Vec::new();
    for (headers, body) in &got {
        altered.push((headers.clone(), format!("{body} ")));
        let mut h = headers.clone();
        h.insert(HEADER_ID, "msg_other".parse().expect("value"));
        altered.push((h, body.clone()));
        let mut h = headers.clone();
        let ts: i64 = headers[HEADER_TIMESTAMP]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("int");
        h.insert(
            HEADER_TIMESTAMP,
            (ts + 1).to_string().parse().expect("value"),
        );
        altered.push((h, body.clone()));
    }
    let verdicts = reference_verify(&py, &old.to_whsec(), &altered).await;
    assert_eq!(ok(&verdicts), vec![false; altered.len()], "{verdicts:?}");
}

#[tokio::test]
async fn standard_webhooks_library_signatures_verify_with_the_sdk() {
    let Some(py) =
        standardwebhooks("standard_webhooks_library_signatures_verify_with_the_sdk").await
    else {
        return;
    };
    let secret = WebhookSecret::generate();
    let now = Utc::now().timestamp();
    let cases: Vec<(String, String)> = bodies()
        .into_iter()
        .enumerate()
        .map(|(i, body)| (format!("msg_py_{i}"), body))
        .collect();
    let spec = json!({
        "secret": secret.to_whsec(),
        "cases": cases.iter().map(|(id, body)| json!({"id": id, "timestamp": now, "body": body})).collect::<Vec<_>>(),
    });
    let signatures: Vec<String> =
        serde_json::from_value(reference(&py, "sign", &spec).await).expect("signatures");
    assert_eq!(signatures.len(), cases.len());
    let verifier = WebhookVerifier::new(secret.clone());
    for ((id, body), sig) in cases.iter().zip(&signatures) {
        // The same signature the SDK computes, and it verifies.
        assert_eq!(sig, &secret.sign(id, now, body.as_bytes()), "{id}");
        assert_eq!(
            verifier.verify(id, &now.to_string(), sig, body.as_bytes()),
            Ok(()),
            "{id}"
        );
        assert_eq!(
            verifier.verify(id, &now.to_string(), sig, format!("{body} ").as_bytes()),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            WebhookVerifier::new(WebhookSecret::generate()).verify(
                id,
                &now.to_string(),
                sig,
                body.as_bytes()
            ),
            Err(SignatureError::NoMatchingSignature)
        );
    }
    // The published test vector, signed by the library, verifies with the SDK.
    let vector = json!({
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "cases": [{"id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": 1614265330, "body": "{\"test\": 2432232314}"}],
    });
    let sig: Vec<String> =
        serde_json::from_value(reference(&py, "sign", &vector).await).expect("signatures");
    let at = chrono::DateTime::from_timestamp(1614265330, 0).expect("valid");
    let v = WebhookVerifier::new(
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid"),
    );
    assert_eq!(
        v.verify_at(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &sig[0],
            br#"{"test": 2432232314}"#,
            at
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------- verifier

/// A request the receiver must refuse: what is wrong with it, its headers,
/// its body and the reason the receiver must give.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, &'a str);

/// POSTs `body` to the verifying receiver with exactly `headers`; returns
/// the status and the receiver's reason.
async fn post(port: u16, headers: &[(&str, String)], body: &str) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hook"))
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let response = request.send().await.expect("the receiver answers");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn receivers_reject_forged_replayed_and_wrongly_signed_requests() {
    let secret = WebhookSecret::generate();
    let (port, log) = serve(Some(WebhookVerifier::new(secret.clone())), None).await;

    // A genuine delivery from the SDK's client is accepted.
    let report = local_client()
        .send(
            &format!("http://127.0.0.1:{port}/hook"),
            "msg_real",
            b"{\"a\":1}",
            std::slice::from_ref(&secret),
        )
        .await;
    assert_eq!(report.outcome, AttemptOutcome::Delivered, "{report:?}");
    assert_eq!(report.status_code, Some(204));

    let body = r#"{"type":"user.created"}"#;
    let now = Utc::now().timestamp();
    let headers = |id: &str, ts: i64, sig: String| {
        vec![
            (HEADER_ID, id.to_owned()),
            (HEADER_TIMESTAMP, ts.to_string()),
            (HEADER_SIGNATURE, sig),
        ]
    };
    let random_tag =
        base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let valid = secret.sign("msg_1", now, body.as_bytes());
    let valid_tag = valid.trim_start_matches("v1,").to_owned();
    let stale = now - 6 * 60;
    // What is wrong, the headers, the body, the reason the receiver gives.
    let cases: Vec<Case<'_>> = vec![
        (
            "forged signature",
            headers("msg_1", now, format!("v1,{random_tag}")),
            body,
            "no matching signature",
        ),
        (
            "signed with another secret",
            headers(
                "msg_1",
                now,
                WebhookSecret::generate().sign("msg_1", now, body.as_bytes()),
            ),
            body,
            "no matching signature",
        ),
        (
            "replayed: an old delivery with its own old timestamp",
            headers("msg_1", stale, secret.sign("msg_1", stale, body.as_bytes())),
            body,
            "webhook-timestamp too old",
        ),
        (
            "replayed with a fresh timestamp header",
            headers("msg_1", now, secret.sign("msg_1", stale, body.as_bytes())),
            body,
            "no matching signature",
        ),
        (
            "timestamp far in the future",
            headers(
                "msg_1",
                now + 6 * 60,
                secret.sign("msg_1", now + 6 * 60, body.as_bytes()),
            ),
            body,
            "webhook-timestamp too far in the future",
        ),
        (
            "tampered body",
            headers("msg_1", now, valid.clone()),
            r#"{"type":"user.deleted"}"#,
            "no matching signature",
        ),
        (
            "another message's id",
            headers("msg_2", now, valid.clone()),
            body,
            "no matching signature",
        ),
        (
            "unknown version",
            headers("msg_1", now, format!("v2,{valid_tag}")),
            body,
            "no matching signature",
        ),
        (
            "unsigned",
            headers("msg_1", now, String::new()),
            body,
            "no matching signature",
        ),
        (
            "truncated tag",
            headers("msg_1", now, valid[..valid.len() - 4].to_owned()),
            body,
            "no matching signature",
        ),
        (
            "not a timestamp",
            vec![
                (HEADER_ID, "msg_1".into()),
                (HEADER_TIMESTAMP, "yesterday".into()),
                (HEADER_SIGNATURE, valid.clone()),
            ],
            body,
            "invalid webhook-timestamp",
        ),
        (
            "no signature header",
            vec![
                (HEADER_ID, "msg_1".into()),
                (HEADER_TIMESTAMP, now.to_string()),
            ],
            body,
            "missing header webhook-signature",
        ),
        (
            "no id header",
            vec![
                (HEADER_TIMESTAMP, now.to_string()),
                (HEADER_SIGNATURE, valid.clone()),
            ],
            body,
            "missing header webhook-id",
        ),
    ];
    for (what, headers, body, reason) in &cases {
        let (status, text) = post(port, headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
        assert!(
            text.contains(reason),
            "{what}: {text:?}, expected {reason:?}"
        );
    }
    // The valid signature among garbage entries, as during a rotation, passes.
    let (status, text) = post(
        port,
        &headers("msg_1", now, format!("v1,{random_tag} v1a,x {valid}")),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(lock(&log).len(), cases.len() + 2);
}

// ---------------------------------------------------------------- SSRF

/// Addresses the default guard refuses, literal in URLs or behind names.
const FORBIDDEN: &[&str] = &[
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.10",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "169.254.0.1",
    "0.0.0.0",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00:ec2::254",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b::c0a8:1",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "2002:7f00:1::1",
    "2002:a00:1::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
];

fn url_for(ip: &str) -> String {
    match ip.parse::<IpAddr>().expect("an address") {
        IpAddr::V4(_) => format!("http://{ip}:8080/hook"),
        IpAddr::V6(_) => format!("http://[{ip}]:8080/hook"),
    }
}

#[tokio::test]
async fn literal_private_addresses_are_refused_in_every_notation() {
    let guard = UrlGuard::new();
    let mut urls: Vec<String> = FORBIDDEN.iter().map(|ip| url_for(ip)).collect();
    // Notations the URL parser turns into 127.0.0.1 or 169.254.169.254.
    for alias in [
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://2852039166/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[64:FF9B::A9FE:A9FE]/",
        "http://user:pw@127.0.0.1/",
        "https://127.0.0.1./",
    ] {
        urls.push(alias.to_owned());
    }
    for url in &urls {
        match guard.check_url(url).await {
            Err(SsrfError::Forbidden { addr, .. }) => assert!(!is_public(addr), "{url}: {addr}"),
            other => panic!("{url} must be refused as forbidden, got {other:?}"),
        }
    }
    // The delivery client refuses them without sending anything.
    let client = WebhookClient::new(Duration::from_secs(2), "t", UrlGuard::new()).expect("client");
    for url in [
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[::ffff:127.0.0.1]:1/",
        "http://[2002:7f00:1::1]/",
    ] {
        let report = client
            .send(url, "m", b"{}", &[WebhookSecret::generate()])
            .await;
        assert!(
            matches!(report.outcome, AttemptOutcome::Refused(_)),
            "{url}: {report:?}"
        );
    }
    // Public addresses, also through NAT64, 6to4 and IPv4-mapped forms, pass.
    for ip in [
        "93.184.216.34",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
        "2606:4700::1111",
    ] {
        assert!(is_public(ip.parse().expect("ip")), "{ip}");
    }
}

/// A resolver answering every name with the addresses in `answers[name]`.
fn fixed(
    answers: Vec<(&'static str, Vec<&'static str>)>,
) -> impl Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync + 'static {
    move |host: &str| {
        answers
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, ips)| ips.iter().map(|ip| ip.parse().expect("ip")).collect())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("no such host {host}"))
            })
    }
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_refused() {
    for ip in FORBIDDEN {
        let ip: &'static str = ip;
        let guard = UrlGuard::new().with_resolver(fixed(vec![("hooks.example.com", vec![ip])]));
        match guard.check_url("https://hooks.example.com/hook").await {
            Err(SsrfError::Forbidden { host, addr }) => {
                assert_eq!(host, "hooks.example.com");
                assert_eq!(addr, ip.parse::<IpAddr>().expect("ip"));
            }
            other => panic!("a name resolving to {ip} must be refused, got {other:?}"),
        }
    }
    // One private answer among public ones is enough to refuse.
    let guard = UrlGuard::new().with_resolver(fixed(vec![(
        "mixed.example.com",
        vec!["93.184.216.34", "2606:4700::1111", "64:ff9b::a9fe:a9fe"],
    )]));
    assert!(matches!(
        guard.check_url("https://mixed.example.com/").await,
        Err(SsrfError::Forbidden { .. })
    ));
    // Only public answers pass; no answer is worth a retry, not a refusal.
    let guard =
        UrlGuard::new().with_resolver(fixed(vec![("public.example.com", vec!["93.184.216.34"])]));
    assert_eq!(guard.check_url("https://public.example.com/").await, Ok(()));
    assert!(matches!(
        guard.check_url("https://missing.example.com/").await,
        Err(SsrfError::Unresolved { .. })
    ));
    // The local name `localhost` goes through the system resolver.
    assert!(matches!(
        UrlGuard::new().check_url("http://localhost:1/").await,
        Err(SsrfError::Forbidden { .. })
    ));
}

#[tokio::test]
async fn a_name_re_resolving_to_a_private_address_before_the_connection_is_refused() {
    // A receiver on loopback that must never be reached.
    let (port, log) = serve(None, None).await;
    // DNS rebinding: the first answer (the guard's check) is public, the
    // next (the HTTP client's connection) is loopback.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let guard = UrlGuard::new().with_resolver(move |_host: &str| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let ip = if n == 0 { "93.184.216.34" } else { "127.0.0.1" };
        Ok(vec![ip.parse().expect("ip")])
    });
    let client = WebhookClient::new(Duration::from_secs(5), "t", guard).expect("client");
    let report = client
        .send(
            &format!("http://rebind.example.com:{port}/hook"),
            "m",
            b"{}",
            &[WebhookSecret::generate()],
        )
        .await;
    match &report.outcome {
        AttemptOutcome::Refused(reason) => assert!(reason.contains("127.0.0.1"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "checked, then resolved again to connect"
    );
    assert!(lock(&log).is_empty(), "the loopback receiver was reached");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    // The redirect targets: a loopback server the default guard forbids,
    // and the metadata address.
    let (target_port, target_log) = serve(None, None).await;
    for location in [
        format!("http://127.0.0.1:{target_port}/internal"),
        format!("http://[::ffff:127.0.0.1]:{target_port}/internal"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let (port, log) = serve(None, Some(location.clone())).await;
        // The endpoint is a public-looking name the guard lets through
        // explicitly (it resolves to loopback here).
        let guard = UrlGuard::new()
            .allow_host("hooks.example.com")
            .with_resolver(fixed(vec![("hooks.example.com", vec!["127.0.0.1"])]));
        let client = WebhookClient::new(Duration::from_secs(5), "t", guard).expect("client");
        let report = client
            .send(
                &format!("http://hooks.example.com:{port}/hook"),
                "m",
                b"{}",
                &[WebhookSecret::generate()],
            )
            .await;
        assert_eq!(report.status_code, Some(307), "{location}: {report:?}");
        assert!(
            matches!(report.outcome, AttemptOutcome::Failed(_)),
            "{report:?}"
        );
        assert_eq!(lock(&log).len(), 1, "the endpoint was called once");
    }
    // Not even to an address the guard allows.
    let (port, _) = serve(
        None,
        Some(format!("http://127.0.0.1:{target_port}/internal")),
    )
    .await;
    let report = local_client()
        .send(
            &format!("http://127.0.0.1:{port}/hook"),
            "m",
            b"{}",
            &[WebhookSecret::generate()],
        )
        .await;
    assert_eq!(report.status_code, Some(307), "{report:?}");
    assert!(lock(&target_log).is_empty(), "a redirect was followed");
}
