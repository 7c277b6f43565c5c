//! Several replicas on one Redis, measured in one run (features `redis` and `axum`):
//!
//! `cargo bench -p dakota-ext --all-features --bench replicas`
//!
//! 1. **Shared rate budget**: four `Dakota` clients with the same API key start `BENCH_BULK`
//!    (1,000) onboardings in total, all at once, against a sandbox limited to `LIMIT`
//!    requests per 1 s window; once with the in-process pacer in each client, once with one
//!    `SharedRateBudget` in Redis. Reports the 429s the server answered (absorbed by retries)
//!    and surfaced to the caller, and the requests accepted and sent (accepted + rejected) per
//!    window as fractions of the limit, over the windows the run used (the sandbox's windows
//!    start on whole seconds; a run of N x L requests ends early in its N-th window, so a
//!    rate over wall time would overstate it by about one window).
//! 2. **Cost per webhook**: the axum endpoint handling distinct signed deliveries one after
//!    another with `RedisStore` (Redis on localhost) against `InMemoryStore`, in interleaved
//!    rounds; reports the medians and the added cost in µs.
//!
//! Redis: `DAKOTA_TEST_REDIS_URL`, or `redis-server` on the PATH (spawned on a free port).

#[path = "../tests/redis_server/mod.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use dakota_ext::onboarding::NewCustomer;
use dakota_ext::webhook::axum::WebhookEndpoint;
use dakota_ext::webhook::{Event, IdempotencyStore, InMemoryStore, RedisStore, Signer, Verifier};
use dakota_ext::{Dakota, RetryPolicy, SharedRateBudget};
use dakota_sandbox::Sandbox;
use futures::StreamExt;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const LIMIT: u32 = 100;
const WINDOW: Duration = Duration::from_secs(1);
const CLIENTS: usize = 4;
const ROUNDS: usize = 9;

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

async fn bulk(
    redis: Option<&redis_server::TestRedis>,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(LIMIT)
        .rate_limit_window(WINDOW)
        .start()
        .await?;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut b = Dakota::builder()
            .base_url(sandbox.base_url())?
            .api_key(sandbox.api_key())
            .pacing(true)
            .retry(RetryPolicy::default().max_attempts(10));
        if let Some(r) = redis {
            let budget = SharedRateBudget::builder()
                .prefix(&r.prefix)
                .connect(&r.url)
                .await?;
            b = b.rate_budget(budget);
        }
        clients.push(b.build()?);
    }
    let absorbed = Count429::default();
    let subscriber = tracing_subscriber::registry().with(absorbed.clone());
    // The sandbox's windows start on whole seconds (of the first request's time), so rates are
    // measured from the start of the first window the run used.
    let started = unix_secs_f64().floor();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let d = &clients[i % CLIENTS];
            async move {
                d.onboarding()
                    .start(NewCustomer::individual(format!("Replica Customer {i:04}")))
                    .await
            }
        })
        .buffer_unordered(n)
        .collect::<Vec<_>>()
        .with_subscriber(subscriber)
        .await;
    let elapsed = unix_secs_f64() - started;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let surfaced = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.status() == Some(429)))
        .count();
    let rejected = absorbed.0.load(Ordering::Relaxed);
    // Windows the run used: from the whole second the first started at to the one the last
    // request fell in. The budget of the run is `windows x L`.
    let windows = (elapsed / WINDOW.as_secs_f64()).ceil().max(1.0);
    let budget = windows * f64::from(LIMIT);
    println!(
        "  {:<28} {ok:>5} ok in {windows:>3} windows | accepted {:.3} of L | sent {:.3} of L | server 429s {rejected:>5} absorbed, {surfaced} surfaced{}",
        if redis.is_some() {
            "shared budget (Redis):"
        } else {
            "in-process pacer per client:"
        },
        ok as f64 / budget,
        (ok as f64 + rejected as f64) / budget,
        if ok + surfaced < n {
            format!(", {} other errors", n - ok - surfaced)
        } else {
            String::new()
        }
    );
    sandbox.shutdown().await;
    Ok(())
}

fn unix_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn endpoint<S: IdempotencyStore + 'static>(store: S) -> axum::Router {
    let verifier = Verifier::new(Signer::from_secret_bytes([9; 32]).public_key());
    WebhookEndpoint::new(verifier, store, |event: Event| async move {
        std::hint::black_box(&event);
        Ok::<(), std::io::Error>(())
    })
    .into_router("/hook")
}

async fn deliver(app: &axum::Router, signer: &Signer, id: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": id, "type": "customer.updated", "created": unix_now(), "api_version": "v1",
        "data": {"object": {"id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m", "name": "Acme"}},
    }))
    .map_err(|e| e.to_string())?;
    let mut req = http::Request::post("/hook")
        .body(Body::from(body.clone()))
        .map_err(|e| e.to_string())?;
    *req.headers_mut() = signer.headers(unix_now(), &body);
    let resp = app.clone().oneshot(req).await.map_err(|e| e.to_string())?;
    if resp.status() != http::StatusCode::OK {
        return Err(format!("status {}", resp.status()));
    }
    Ok(())
}

async fn per_webhook(redis: &redis_server::TestRedis) -> Result<(), Box<dyn std::error::Error>> {
    let per_round = env_usize("BENCH_WEBHOOKS", 400);
    let signer = Signer::from_secret_bytes([9; 32]);
    let memory = endpoint(InMemoryStore::new());
    let shared = endpoint(
        RedisStore::builder()
            .prefix(&redis.prefix)
            .connect(&redis.url)
            .await?,
    );
    let mut seq = 0u64;
    let mut times: [Vec<f64>; 2] = Default::default();
    let mut added = Vec::new();
    for round in 0..ROUNDS {
        let mut ns = [0f64; 2];
        for k in 0..2 {
            let which = (round + k) % 2;
            let app = if which == 0 { &memory } else { &shared };
            let t = Instant::now();
            for _ in 0..per_round {
                seq += 1;
                deliver(app, &signer, &format!("evt-bench-{seq}")).await?;
            }
            ns[which] = t.elapsed().as_nanos() as f64 / per_round as f64;
        }
        times[0].push(ns[0]);
        times[1].push(ns[1]);
        added.push(ns[1] - ns[0]);
    }
    let [m, r] = times.map(median);
    println!(
        "cost per webhook (axum endpoint, distinct signed deliveries one at a time, {ROUNDS} rounds x {per_round}, medians):"
    );
    println!("  InMemoryStore             {:>8.1} µs/webhook", m / 1000.0);
    println!(
        "  RedisStore (localhost)    {:>8.1} µs/webhook  ({:.2}x)",
        r / 1000.0,
        r / m
    );
    println!(
        "  added by RedisStore       {:>8.1} µs/webhook  (median of per-round differences; 2 round trips: claim, mark done)",
        median(added) / 1000.0
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(redis) = redis_server::TestRedis::any("bench-replicas") else {
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let n = env_usize("BENCH_BULK", 1000);
    println!(
        "{CLIENTS} clients sharing one API key, {n} concurrent onboarding starts in total, limit L = {LIMIT} requests per {}s:",
        WINDOW.as_secs()
    );
    rt.block_on(bulk(None, n))?;
    rt.block_on(bulk(Some(&redis), n))?;
    rt.block_on(per_webhook(&redis))
}
