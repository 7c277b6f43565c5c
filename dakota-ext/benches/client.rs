//! Client benchmarks against the local sandbox, reported as ratios measured in the same run.
//!
//! `cargo bench -p dakota-ext --bench client`
//!
//! 1. **Per-call overhead**: `getCustomer` through `Dakota` (generated client + the dakota-ext
//!    pipeline: auth header, idempotency bookkeeping, retry loop, tracing span, typed decode)
//!    against a baseline of raw `reqwest` + `serde_json` into the same generated type, on the
//!    same server, in interleaved rounds. Also measured alone: the generated client without
//!    the dakota-ext pipeline, to split the overhead between the two layers. Reported as the
//!    median of per-round ratios (within a round the three paths take turns every few calls, so
//!    load from elsewhere on a shared machine hits them alike). Target: dakota-ext ≤ 1.05× raw.
//! 2. **Bulk onboarding**: 1,000 customers started concurrently through the onboarding facade
//!    against a sandbox limited to `LIMIT` requests per `WINDOW`, with pacing on. Reports the
//!    achieved request rate as a fraction of the limit (target ≥ 0.9), the 429s the server
//!    sent (absorbed by pacing and retries) and the 429s surfaced to the caller (target 0).
//!
//! Environment: `BENCH_CALLS` calls per path and round (default 1000), `BENCH_ROUNDS` rounds
//! (default 21), `BENCH_BULK` customers (1000; `BENCH_BULK=0` skips the bulk run),
//! `BENCH_ONLY=raw|generated|ext` one path alone (for a profiler).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dakota_api::types;
use dakota_ext::onboarding::NewCustomer;
use dakota_ext::{Dakota, RetryPolicy};
use dakota_sandbox::Sandbox;
use futures::StreamExt;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const ROUNDS: usize = 21;
/// Calls of one path in a row before the next path takes its turn.
const SLICE: usize = 10;
/// Target of the per-call overhead: dakota-ext / raw reqwest, median of per-round ratios.
const TARGET: f64 = 1.05;
const LIMIT: u32 = 100;
const WINDOW: Duration = Duration::from_secs(1);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Counts `retrying` events whose `status` is 429: the server's 429s that the client absorbed.
#[derive(Clone, Default)]
struct Count429(Arc<AtomicU64>);

struct StatusVisitor(Option<u64>);

impl tracing::field::Visit for StatusVisitor {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "status" {
            self.0 = Some(value);
        }
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        if field.name() == "status" {
            self.0 = u64::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count429 {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut v = StatusVisitor(None);
        event.record(&mut v);
        if v.0 == Some(429) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn per_call_overhead() -> Result<(), Box<dyn std::error::Error>> {
    let calls = env_usize("BENCH_CALLS", 1000).max(1);
    let rounds = env_usize("BENCH_ROUNDS", ROUNDS).max(1);
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(u32::MAX)
        .start()
        .await?;
    // Both sides share one reqwest client (30 s timeout, as dakota-ext's default), so the ratio
    // is the cost of the generated client plus the dakota-ext pipeline, not of client settings.
    let raw = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())?
        .api_key(sandbox.api_key())
        .http_client(raw.clone())
        .build()?;
    let created = dakota
        .onboarding()
        .start(NewCustomer::individual("Acme Corp"))
        .await?;
    let id = created.customer_id.to_string();

    // The baseline: what a hand-written call would do.
    let url = format!("{}/customers/{id}", sandbox.base_url());
    let key = sandbox.api_key().to_owned();
    let raw_call = || async {
        let resp = raw.get(&url).header("x-api-key", &key).send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            return Err(format!("status {status}").into());
        }
        let c: types::Customer = serde_json::from_slice(&bytes)?;
        Ok::<_, Box<dyn std::error::Error>>(c)
    };
    let ext_call = || async {
        let api = dakota.api();
        let c = dakota
            .call(api.get_customer().customer_id(id.as_str()).send())
            .await?
            .into_inner();
        Ok::<_, Box<dyn std::error::Error>>(c)
    };

    // The generated client alone (progenitor, no dakota-ext pipeline), to split the overhead.
    // Same settings as `raw`, plus the key as a default header (the generated builders take
    // no per-request headers).
    let mut key_header = reqwest::header::HeaderMap::new();
    key_header.insert("x-api-key", reqwest::header::HeaderValue::from_str(&key)?);
    let generated = dakota_api::Client::new_with_client(
        sandbox.base_url(),
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .default_headers(key_header)
            .build()?,
        dakota_api::transport::Inner::default(),
    );
    let gen_call = || async {
        let c = generated
            .get_customer()
            .customer_id(id.as_str())
            .send()
            .await?
            .into_inner();
        Ok::<_, Box<dyn std::error::Error>>(c)
    };

    // Warm up connections and allocators on every path.
    for _ in 0..50 {
        black_box(raw_call().await?);
        black_box(gen_call().await?);
        black_box(ext_call().await?);
    }
    // `BENCH_ONLY=raw|generated|ext`: run that path alone, `BENCH_CALLS` times, and stop (for
    // `perf stat`/`perf record`, which cannot tell the interleaved paths apart).
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        for _ in 0..calls {
            match only.as_str() {
                "raw" => drop(black_box(raw_call().await?)),
                "generated" => drop(black_box(gen_call().await?)),
                "ext" => drop(black_box(ext_call().await?)),
                other => return Err(format!("BENCH_ONLY={other}: raw, generated or ext").into()),
            }
        }
        println!("BENCH_ONLY={only}: {calls} calls");
        sandbox.shutdown().await;
        return Ok(());
    }
    const PATHS: usize = 3;
    let mut per_path: [Vec<f64>; PATHS] = Default::default();
    // Per-round ratios: generated / raw, dakota-ext / raw, dakota-ext / generated.
    let mut ratios: [Vec<f64>; 3] = Default::default();
    let slices = calls.div_ceil(SLICE);
    for round in 0..rounds {
        let mut ns = [0f64; PATHS];
        // The round's calls go in slices of `SLICE` calls per path, the paths taking turns
        // (and turns at going first), so a burst of load from the shared machine lands on all
        // three paths alike instead of on whichever ran its whole round during it.
        for slice in 0..slices {
            let n = SLICE.min(calls - slice * SLICE);
            for k in 0..PATHS {
                let path = (round + slice + k) % PATHS;
                let t = Instant::now();
                for _ in 0..n {
                    match path {
                        0 => drop(black_box(raw_call().await?)),
                        1 => drop(black_box(gen_call().await?)),
                        _ => drop(black_box(ext_call().await?)),
                    }
                }
                ns[path] += t.elapsed().as_nanos() as f64;
            }
        }
        for v in ns.iter_mut() {
            *v /= calls as f64;
        }
        for (k, v) in ns.iter().enumerate() {
            per_path[k].push(*v);
        }
        ratios[0].push(ns[1] / ns[0]);
        ratios[1].push(ns[2] / ns[0]);
        ratios[2].push(ns[2] / ns[1]);
    }
    let rounds_of = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let per_round = ratios.clone();
    let [r, g, e] = per_path.map(median);
    let [gen_raw, ext_raw, ext_gen] = ratios.map(median);
    println!("per-call getCustomer ({rounds} rounds x {calls} calls; medians of the rounds):");
    println!("  raw reqwest + serde_json  {:>8.1} µs/call", r / 1000.0);
    println!("  generated client alone    {:>8.1} µs/call", g / 1000.0);
    println!("  dakota-ext (full Dakota)  {:>8.1} µs/call", e / 1000.0);
    println!("  ratios, median of per-round ratios:");
    println!(
        "    generated / raw         {gen_raw:>8.3}x  (rounds: {})",
        rounds_of(&per_round[0])
    );
    println!(
        "    dakota-ext / generated  {ext_gen:>8.3}x  (rounds: {})",
        rounds_of(&per_round[2])
    );
    println!(
        "    dakota-ext / raw        {ext_raw:>8.3}x  (rounds: {})",
        rounds_of(&per_round[1])
    );
    println!(
        "  target dakota-ext / raw <= {TARGET:.2}: {} ({ext_raw:.3}x)",
        if ext_raw <= TARGET { "met" } else { "NOT met" }
    );
    sandbox.shutdown().await;
    Ok(())
}

async fn bulk_onboarding(count429: Count429) -> Result<(), Box<dyn std::error::Error>> {
    let n = env_usize("BENCH_BULK", 1000);
    if n == 0 {
        println!("bulk onboarding: skipped (BENCH_BULK=0)");
        return Ok(());
    }
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(LIMIT)
        .rate_limit_window(WINDOW)
        .start()
        .await?;
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())?
        .api_key(sandbox.api_key())
        .pacing(true)
        .retry(RetryPolicy::default().max_attempts(10))
        .build()?;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let dakota = &dakota;
            async move {
                dakota
                    .onboarding()
                    .start(NewCustomer::individual(format!("Bulk Customer {i:04}")))
                    .await
            }
        })
        .buffer_unordered(n)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let surfaced_429 = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.status() == Some(429)))
        .count();
    let other_errors = results.len() - ok - surfaced_429;
    let customers = sandbox.state().customer_count();
    let achieved = ok as f64 / elapsed.as_secs_f64();
    let limit = f64::from(LIMIT) / WINDOW.as_secs_f64();
    let fraction = achieved / limit;
    println!(
        "bulk onboarding: {n} concurrent starts, limit {LIMIT} requests per {}s, pacing on:",
        WINDOW.as_secs()
    );
    println!(
        "  {ok} started, {customers} customers in the sandbox, {:.2}s",
        elapsed.as_secs_f64()
    );
    println!("  achieved {achieved:.1} req/s = {fraction:.3} of the limit (target >= 0.9)");
    println!(
        "  429s: {} answered by the server and absorbed, {surfaced_429} surfaced to the caller (target 0)",
        count429.0.load(Ordering::Relaxed)
    );
    if other_errors > 0 {
        println!("  other errors: {other_errors}");
    }
    sandbox.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The bench builds reqwest clients of its own (rustls without a default provider): install
    // ring process-wide first. The sandbox does so too, but from a background task that may
    // not have run yet when the first client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Per-call overhead is measured as a service without a tracing subscriber runs it; the
    // bulk run counts the client's `retrying` events through a subscriber scoped to it.
    rt.block_on(per_call_overhead())?;
    let count429 = Count429::default();
    let subscriber = tracing_subscriber::registry().with(count429.clone());
    rt.block_on(bulk_onboarding(count429).with_subscriber(subscriber))
}
