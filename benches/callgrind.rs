//! Instructions per delivered message on the memory bus, counted by
//! callgrind, so that a regression of the hot path shows up whatever the
//! machine's load.
//!
//! The bench runs itself as a child under `valgrind --tool=callgrind`,
//! collecting only inside the measured function (`--toggle-collect`): on a
//! current-thread runtime every task — publisher, dispatcher, workers — runs
//! inside that function's `block_on`, so the count is the whole delivery
//! path and nothing else (the messages are built before it). Each side runs
//! twice, with `BENCH_CALLGRIND_EVENTS` (default 20 000) and a quarter of
//! that, and the difference divided by the difference in messages is the
//! cost per message, without the fixed costs of starting and stopping.
//!
//! SDK: publish (batches of 100) → `MemoryBus` → consumer group (10 workers)
//! → router decodes the `user.signed_up` envelope → trivial handler → ack.
//! Baseline: the same payload bytes through a bounded `tokio::sync::mpsc`
//! channel to one task that decodes the same envelope.
//!
//! Run: `cargo bench --bench callgrind` (needs `valgrind`); under
//! `cargo test` both sides run natively at a smoke size, without valgrind.

mod common;
#[path = "common/flows.rs"]
mod flows;

use std::process::Command;

use bytes::Bytes;
use common::{env_usize, full_run, signed_up_messages, Row};
use waitlist::prelude::*;

/// Instructions per message of the SDK in the recorded run (BENCHMARKS.md,
/// 20 000 events; the count is the same from run to run on one build, but
/// moves with the compiler and the dependencies' versions): a run above it
/// by more than a tenth is reported as a regression. Update it with the
/// change that moves it, saying why.
const SDK_REFERENCE: f64 = 19_044.0;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The SDK path for `msgs`; callgrind collects only in here.
#[inline(never)]
fn measured_sdk(rt: &tokio::runtime::Runtime, bus: &MemoryBus, msgs: Vec<Vec<Message>>) {
    rt.block_on(flows::sdk_flow(bus, msgs, || {}, || {}));
}

/// The baseline for `payloads`; callgrind collects only in here.
#[inline(never)]
fn measured_channel(rt: &tokio::runtime::Runtime, payloads: Vec<Bytes>) -> usize {
    rt.block_on(flows::channel_flow(payloads, || {}))
}

/// Runs `side` over `n` messages in this process.
fn run(side: &str, n: usize) {
    let rt = current_thread();
    let msgs = signed_up_messages(topics::DOMAIN_EVENTS, n);
    if side == "sdk" {
        let bus = MemoryBus::new();
        let batches: Vec<Vec<Message>> = msgs.chunks(100).map(<[Message]>::to_vec).collect();
        measured_sdk(&rt, &bus, batches);
    } else {
        let payloads = msgs.iter().map(|m| m.payload.clone()).collect();
        assert_eq!(measured_channel(&rt, payloads), n);
    }
}

/// Instructions callgrind collected for `side` over `n` messages.
fn instructions(side: &str, n: usize) -> u64 {
    let exe = std::env::current_exe().expect("own executable");
    let out_file = std::env::temp_dir().join(format!(
        "waitlist-callgrind-{side}-{n}-{}.out",
        std::process::id()
    ));
    // The function itself, not its async blocks (`…::{{closure}}`): a
    // nested match would toggle collection off again.
    let function = if side == "sdk" {
        "callgrind::measured_sdk"
    } else {
        "callgrind::measured_channel"
    };
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(format!("--toggle-collect={function}"))
        .arg(exe)
        .args(["--child", side, &n.to_string()])
        .output()
        .expect("run valgrind");
    assert!(
        out.status.success(),
        "callgrind of {side} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).expect("callgrind output");
    let _ = std::fs::remove_file(&out_file);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a summary line in the callgrind output")
}

/// Instructions per message of `side`: the difference of two sizes.
fn per_message(side: &str, n: usize) -> f64 {
    let small = n / 4;
    let (a, b) = (instructions(side, small), instructions(side, n));
    b.saturating_sub(a) as f64 / (n - small) as f64
}

fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let side = args.get(i + 1).map_or("sdk", String::as_str);
        let n = args.get(i + 2).and_then(|v| v.parse().ok()).unwrap_or(1000);
        return run(side, n);
    }
    if !full_run() {
        // `cargo test`: both paths once, natively, small.
        run("sdk", 500);
        run("channel", 500);
        println!("callgrind: smoke run (no valgrind under cargo test)");
        return;
    }
    if !valgrind_available() {
        common::unreachable("callgrind", "valgrind", "PATH");
        return;
    }
    let n = env_usize("BENCH_CALLGRIND_EVENTS", 20_000).max(8);
    let sdk = per_message("sdk", n);
    let raw = per_message("channel", n);
    println!(
        "callgrind: instructions per delivered message, {} − {} events",
        n,
        n / 4
    );
    println!("  waitlist memory bus (10 workers, decode, ack): {sdk:>9.0}");
    println!("  bare tokio mpsc channel (1 task, decode):      {raw:>9.0}");
    let target = format!(
        "≤ {:.0} (reference {SDK_REFERENCE:.0} + 10 %)",
        SDK_REFERENCE * 1.1
    );
    Row {
        what:
            "memory bus hot path, instructions per delivered message (callgrind; vs mpsc + decode)",
        sdk: format!("{sdk:.0}"),
        baseline: format!("{raw:.0}"),
        ratio: Some(sdk / raw),
        target: &target,
        met: Some(sdk <= SDK_REFERENCE * 1.1),
    }
    .print();
}
