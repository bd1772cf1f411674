//! Memory under a fast producer and a slow consumer on the memory bus.
//!
//! A producer publishes `BENCH_LOAD_EVENTS` (default 10 000 000) small
//! `user.signed_up` events as fast as it can, in batches of 100, to a
//! consumer group of 10 workers whose handler decodes each envelope and then
//! spins for `BENCH_HANDLER_NS` nanoseconds (default 1 000), so the consumer
//! is the slower side all along. A sampler thread reads the process's
//! resident set (`VmRSS` in `/proc/self/status`) every 50 ms. The report:
//! the peak (`VmHWM`), the resident set when a fifth of the events have been
//! handled (after warm-up) and at the end, and the most the bus held at once
//! (at its capacity when publishing waited for the consumer).
//!
//! Baseline: the same messages through a bounded `tokio::sync::mpsc`
//! channel of the bus's default capacity (10 000) to 10 worker tasks with the
//! same handler. Each side runs in a fresh child process of this bench, so
//! neither inherits the other's heap.
//!
//! Run: `cargo bench --bench memory_load` (`BENCH_LOAD_EVENTS`,
//! `BENCH_HANDLER_NS`); under `cargo test` 20 000 events.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env_usize, full_run, signed_up_messages, Row};
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

/// The size the issue states the target for.
const TARGET_EVENTS: usize = 10_000_000;
/// Peak resident set the target allows, in KiB.
const TARGET_PEAK_KB: u64 = 200 * 1024;
/// Most growth from the fifth to the end that still counts as flat: a tenth,
/// or 4 MiB (allocator noise on a small heap), whichever is more.
const FLAT_GROWTH: f64 = 0.10;
const FLAT_GROWTH_KB: u64 = 4 * 1024;

/// One `kB` field of `/proc/self/status` (0 where there is none).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Busy work standing for a slow handler.
fn spin(ns: u64) {
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Samples the resident set against the handled count until stopped.
struct Sampler {
    samples: Arc<Mutex<Vec<(usize, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(handled: Arc<AtomicUsize>) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let sample = (handled.load(Ordering::Relaxed), status_kb("VmRSS:"));
                s.lock().expect("samples").push(sample);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            samples,
            stop,
            thread,
        }
    }

    /// The samples, with one taken now at `n` handled.
    fn finish(self, n: usize) -> Vec<(usize, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        let mut samples = std::mem::take(&mut *self.samples.lock().expect("samples"));
        samples.push((n, status_kb("VmRSS:")));
        samples
    }
}

/// The messages the producer cycles through (64 campaigns).
fn templates() -> Vec<Message> {
    signed_up_messages(topics::DOMAIN_EVENTS, 64)
}

fn decode_and_work(payload: &[u8], ns: u64) {
    let e: Envelope<UserSignedUp> = serde_json::from_slice(payload).expect("decode");
    std::hint::black_box(&e);
    spin(ns);
}

/// The SDK side; returns the most the bus held at once.
async fn sdk(n: usize, ns: u64, handled: Arc<AtomicUsize>) -> usize {
    let bus = MemoryBus::new();
    let finished = Arc::new(tokio::sync::Notify::new());
    let (h, f) = (Arc::clone(&handled), Arc::clone(&finished));
    let router = Router::new().on(handler_fn(
        move |e: Envelope<UserSignedUp>, _ctx: Context| {
            let (h, f) = (Arc::clone(&h), Arc::clone(&f));
            async move {
                std::hint::black_box(&e);
                spin(ns);
                if h.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    f.notify_one();
                }
                Outcome::Done
            }
        },
    ));
    let group = ConsumerGroup::new(topics::DOMAIN_EVENTS, groups::EMAIL_WORKERS, router)
        .workers(10)
        .max_in_flight(100)
        .start(Arc::new(bus.clone()))
        .await
        .expect("start");
    let publisher = bus.clone();
    let producer = tokio::spawn(async move {
        let templates = templates();
        let mut sent = 0;
        while sent < n {
            let batch: Vec<Message> = (sent..(sent + 100).min(n))
                .map(|i| templates[i % templates.len()].clone())
                .collect();
            sent += batch.len();
            publisher.publish(batch).await.expect("publish");
        }
    });
    finished.notified().await;
    producer.await.expect("producer");
    let peak = bus
        .group_peak_len(topics::DOMAIN_EVENTS, groups::EMAIL_WORKERS)
        .unwrap_or(0);
    group.shutdown(Duration::from_secs(5)).await;
    peak
}

/// The baseline: a bounded channel of the same capacity, 10 worker tasks.
async fn channel(n: usize, ns: u64, handled: Arc<AtomicUsize>) -> usize {
    let capacity = MemoryConfig::default().capacity;
    let (tx, rx) = tokio::sync::mpsc::channel::<Message>(capacity);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let (rx, h) = (Arc::clone(&rx), Arc::clone(&handled));
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(m) = next else { break };
                    decode_and_work(&m.payload, ns);
                    h.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let templates = templates();
    for i in 0..n {
        tx.send(templates[i % templates.len()].clone())
            .await
            .expect("send");
    }
    drop(tx);
    for w in workers {
        w.await.expect("worker");
    }
    capacity
}

/// What one child reports.
#[derive(Debug, Clone, Copy)]
struct Report {
    peak_kb: u64,
    at_fifth_kb: u64,
    end_kb: u64,
    most_after_fifth_kb: u64,
    held: usize,
    seconds: f64,
}

impl Report {
    /// Most resident set after the fifth above the figure at the fifth.
    fn growth_kb(&self) -> u64 {
        self.most_after_fifth_kb.saturating_sub(self.at_fifth_kb)
    }

    fn flat(&self) -> bool {
        let allowed = (self.at_fifth_kb as f64 * FLAT_GROWTH) as u64;
        self.growth_kb() <= allowed.max(FLAT_GROWTH_KB)
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.peak_kb,
            self.at_fifth_kb,
            self.end_kb,
            self.most_after_fifth_kb,
            self.held,
            self.seconds
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let v: Vec<&str> = line.split_whitespace().collect();
        Some(Self {
            peak_kb: v.first()?.parse().ok()?,
            at_fifth_kb: v.get(1)?.parse().ok()?,
            end_kb: v.get(2)?.parse().ok()?,
            most_after_fifth_kb: v.get(3)?.parse().ok()?,
            held: v.get(4)?.parse().ok()?,
            seconds: v.get(5)?.parse().ok()?,
        })
    }

    fn describe(&self) -> String {
        format!(
            "peak {:.0} MB; {:.0} MB at 20 %, {:.0} MB at the end, at most +{:.1} MB after 20 %",
            self.peak_kb as f64 / 1024.0,
            self.at_fifth_kb as f64 / 1024.0,
            self.end_kb as f64 / 1024.0,
            self.growth_kb() as f64 / 1024.0
        )
    }
}

/// Runs one side in this process and prints its report line.
fn child(side: &str) {
    let n = env_usize("BENCH_CHILD_EVENTS", 20_000);
    let ns = env_usize("BENCH_HANDLER_NS", 1_000) as u64;
    let rt = common::runtime();
    let handled = Arc::new(AtomicUsize::new(0));
    let sampler = Sampler::start(Arc::clone(&handled));
    let started = Instant::now();
    let held = rt.block_on(async {
        match side {
            "sdk" => sdk(n, ns, Arc::clone(&handled)).await,
            _ => channel(n, ns, Arc::clone(&handled)).await,
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let samples = sampler.finish(n);
    let fifth = n / 5;
    let at_fifth_kb = samples
        .iter()
        .find(|(h, _)| *h >= fifth)
        .map_or(0, |(_, kb)| *kb);
    let most_after_fifth_kb = samples
        .iter()
        .filter(|(h, _)| *h >= fifth)
        .map(|(_, kb)| *kb)
        .max()
        .unwrap_or(0);
    let report = Report {
        peak_kb: status_kb("VmHWM:"),
        at_fifth_kb,
        end_kb: samples.last().map_or(0, |(_, kb)| *kb),
        most_after_fifth_kb,
        held,
        seconds,
    };
    println!("REPORT {}", report.line());
}

/// Runs one side in a child process of this bench.
fn run_child(side: &str, n: usize) -> Report {
    let exe = std::env::current_exe().expect("own executable");
    let out = Command::new(exe)
        .args(["--child", side])
        .env("BENCH_CHILD_EVENTS", n.to_string())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the {side} child failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("REPORT "))
        .and_then(Report::parse)
        .unwrap_or_else(|| panic!("no report from the {side} child: {stdout}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(args.get(i + 1).map_or("sdk", String::as_str));
    }
    let n = if full_run() {
        env_usize("BENCH_LOAD_EVENTS", TARGET_EVENTS)
    } else {
        20_000
    };
    let ns = env_usize("BENCH_HANDLER_NS", 1_000);
    let sdk = run_child("sdk", n);
    let raw = run_child("channel", n);
    println!("memory_load: {n} events, handler decodes and spins {ns} ns, 10 workers");
    for (name, r) in [
        ("waitlist memory bus", &sdk),
        ("bounded mpsc channel", &raw),
    ] {
        println!(
            "  {name:<22} {}; held at most {} messages; {:.0} events/s",
            r.describe(),
            r.held,
            n as f64 / r.seconds
        );
    }
    let met = sdk.peak_kb < TARGET_PEAK_KB && sdk.flat();
    Row {
        what: &format!(
            "memory bus, fast producer and slow consumer, {n} events: peak RSS (vs bounded mpsc + 10 workers)"
        ),
        sdk: sdk.describe(),
        baseline: raw.describe(),
        ratio: Some(sdk.peak_kb as f64 / raw.peak_kb as f64),
        target: "peak < 200 MB, flat after 20 % (≤ +10 % or 4 MB) at 10,000,000 events",
        met: (full_run() && n >= TARGET_EVENTS).then_some(met),
    }
    .print();
}
