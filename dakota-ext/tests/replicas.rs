//! Several replicas on one Redis: webhook deduplication with `RedisStore` behind three axum
//! endpoints, and the rate budget four clients share with `SharedRateBudget`.
//!
//! Needs Redis: `DAKOTA_TEST_REDIS_URL`, or `redis-server` on the PATH (spawned on a free
//! port). Without either every test prints `skipped: <reason>`; with `DAKOTA_REQUIRE_REDIS=1`
//! (CI) that is a failure instead.
//!
//! Run: `cargo test -p dakota-ext --all-features --test replicas -- --nocapture`.

#![cfg(all(feature = "redis", feature = "axum"))]

mod redis_server;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dakota_ext::onboarding::NewCustomer;
use dakota_ext::webhook::axum::WebhookEndpoint;
use dakota_ext::webhook::{Event, IdempotencyStore, RedisStore, Signer, StoreError, Verifier};
use dakota_ext::{Dakota, RetryPolicy, SharedRateBudget};
use dakota_sandbox::Sandbox;
use futures::StreamExt;
use redis_server::TestRedis;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

/// The tests of this file share one Redis and measure rates against a clock: they run one at a
/// time even when the harness runs tests in parallel (a parallel run on a loaded machine once
/// pushed the shared-budget test over its window).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SEED: [u8; 32] = [7; 32];
const PATH: &str = "/webhooks/dakota";

// ------------------------------------------ helpers ------------------------------------------

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn event_body(id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": id,
        "type": "customer.updated",
        "created": unix_now(),
        "api_version": "v1",
        "data": {"object": {"id": "2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m", "name": "Acme"}},
    }))
    .expect("serializable")
}

/// One signed delivery: the exact bytes and headers Dakota would POST (again on a retry).
#[derive(Clone)]
struct Delivery {
    id: String,
    body: Vec<u8>,
    headers: http::HeaderMap,
}

fn delivery(signer: &Signer, id: String) -> Delivery {
    let body = event_body(&id);
    let headers = signer.headers(unix_now(), &body);
    Delivery { id, body, headers }
}

/// What the handlers of all replicas did, per event id.
#[derive(Default)]
struct Ledger {
    /// Successful handler runs.
    handled: Mutex<HashMap<String, u32>>,
    /// Handler runs (failed ones included).
    runs: Mutex<HashMap<String, u32>>,
}

impl Ledger {
    fn handled(&self) -> HashMap<String, u32> {
        self.handled.lock().map(|m| m.clone()).unwrap_or_default()
    }
    fn runs_of(&self, id: &str) -> u32 {
        self.runs
            .lock()
            .map(|m| m.get(id).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// How the handler behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Succeeds after a short pause (so concurrent deliveries overlap it).
    Succeed,
    /// Fails on the first run of every event whose number is a multiple of `n`.
    FailFirstEvery(u32),
}

/// Starts one replica: an axum server with its own `RedisStore` on the shared Redis.
async fn replica(store: RedisStore, ledger: Arc<Ledger>, behaviour: Behaviour) -> String {
    let verifier = Verifier::new(Signer::from_secret_bytes(SEED).public_key());
    let app = WebhookEndpoint::new(verifier, store, move |event: Event| {
        let ledger = Arc::clone(&ledger);
        async move {
            let run = {
                let mut runs = ledger.runs.lock().map_err(|_| "poisoned")?;
                let r = runs.entry(event.id.clone()).or_default();
                *r += 1;
                *r
            };
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Behaviour::FailFirstEvery(n) = behaviour {
                let number: u32 = event
                    .id
                    .rsplit('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1);
                if run == 1 && number.is_multiple_of(n) {
                    return Err("simulated handler failure");
                }
            }
            let mut handled = ledger.handled.lock().map_err(|_| "poisoned")?;
            *handled.entry(event.id.clone()).or_default() += 1;
            Ok(())
        }
    })
    .into_router(PATH);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}{PATH}")
}

async fn store(redis: &TestRedis, timeout: Duration, claim_ttl: Duration) -> RedisStore {
    // A short `timeout` is what some tests exercise once Redis is gone; the first connection
    // is not under test, so a loaded CI machine gets a few tries at it.
    let mut last = None;
    for _ in 0..10 {
        match RedisStore::builder()
            .prefix(&redis.prefix)
            .timeout(timeout)
            .claim_ttl(claim_ttl)
            .connect(&redis.url)
            .await
        {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("Redis answers: {last:?}")
}

async fn replicas(redis: &TestRedis, ledger: &Arc<Ledger>, behaviour: Behaviour) -> Vec<String> {
    let mut urls = Vec::new();
    for _ in 0..3 {
        let s = store(redis, Duration::from_secs(2), RedisStore::DEFAULT_CLAIM_TTL).await;
        urls.push(replica(s, Arc::clone(ledger), behaviour).await);
    }
    urls
}

/// The endpoint's answer: status and the `status`/`code` field of its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    what: String,
}

async fn post(http: &reqwest::Client, url: &str, d: &Delivery) -> Answer {
    let resp = http
        .post(url)
        .headers(d.headers.clone())
        .body(d.body.clone())
        .send()
        .await
        .expect("the endpoint answers");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let what = body
        .get("status")
        .filter(|s| s.is_string())
        .or_else(|| body.get("code"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    Answer { status, what }
}

async fn redis_conn(redis: &TestRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Every key under `prefix` with its value and remaining TTL (ms).
async fn keys(redis: &TestRedis) -> BTreeMap<String, (String, i64)> {
    let mut conn = redis_conn(redis).await;
    let mut out = BTreeMap::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", redis.prefix))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        for k in batch {
            let kind: String = redis::cmd("TYPE")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("TYPE");
            let value = if kind == "string" {
                redis::cmd("GET")
                    .arg(&k)
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .expect("GET")
                    .unwrap_or_default()
            } else {
                let all: Vec<String> = redis::cmd("HGETALL")
                    .arg(&k)
                    .query_async(&mut conn)
                    .await
                    .expect("HGETALL");
                all.join(",")
            };
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("PTTL");
            out.insert(k, (value, ttl));
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    out
}

// ------------------------------------ RedisStore contract ------------------------------------

#[tokio::test]
async fn redis_store_claim_done_release_contract() {
    let _serial = SERIAL.lock().await;
    let Some(redis) = TestRedis::any("redis_store_claim_done_release_contract") else {
        return;
    };
    let ttl = Duration::from_secs(3600);
    let a = store(&redis, Duration::from_secs(2), Duration::from_secs(60)).await;
    let b = store(&redis, Duration::from_secs(2), Duration::from_secs(60)).await;

    // One claim wins; a concurrent one on another replica is told "seen, not done".
    assert!(a.check_and_insert("ev-1", ttl).await.expect("claim"));
    assert!(!b.check_and_insert("ev-1", ttl).await.expect("claim"));
    assert!(!b.is_done("ev-1").await.expect("state"));
    // Another replica's release does not erase a claim it does not hold... unless it has no
    // token at all (a manual release), which still never erases a `done` mark: see below.
    a.mark_done("ev-1", ttl).await.expect("done");
    assert!(b.is_done("ev-1").await.expect("state"));
    assert!(!b.check_and_insert("ev-1", ttl).await.expect("claim"));
    b.remove("ev-1").await.expect("release");
    assert!(
        a.is_done("ev-1").await.expect("state"),
        "a release never erases `done`"
    );

    // A failed handler releases: the retry (on any replica) claims again.
    assert!(a.check_and_insert("ev-2", ttl).await.expect("claim"));
    a.remove("ev-2").await.expect("release");
    assert!(b.check_and_insert("ev-2", ttl).await.expect("claim"));

    // A stale release (the claim expired and another replica claimed since) leaves the new
    // claim alone.
    let short = store(&redis, Duration::from_secs(2), Duration::from_millis(150)).await;
    assert!(short.check_and_insert("ev-3", ttl).await.expect("claim"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.check_and_insert("ev-3", ttl).await.expect("claim"),
        "an expired claim (crashed replica) can be claimed again"
    );
    short.remove("ev-3").await.expect("release");
    assert!(!a.check_and_insert("ev-3", ttl).await.expect("claim"));
    assert!(!a.is_done("ev-3").await.expect("state"));

    // Every key lives under the prefix and expires: claims within the claim lease, done marks
    // within the deduplication TTL.
    let all = keys(&redis).await;
    assert_eq!(all.len(), 3, "{all:?}");
    for (k, (v, pttl)) in &all {
        assert!(k.starts_with(&redis.prefix));
        assert!(*pttl > 0, "{k} has no TTL");
        if v == "done" {
            assert!(*pttl <= 3_600_000 && *pttl > 3_500_000, "{k}: {pttl}");
        } else {
            assert!(v.starts_with("claimed:"), "{k}: {v}");
            assert!(*pttl <= 60_000, "{k}: {pttl}");
        }
    }
    // The claim lease never outlives a shorter deduplication TTL.
    assert!(a
        .check_and_insert("ev-4", Duration::from_millis(800))
        .await
        .expect("claim"));
    let pttl = keys(&redis).await[&a.key("ev-4")].1;
    assert!(pttl > 0 && pttl <= 800, "{pttl}");
}

#[tokio::test]
async fn redis_store_rejects_bad_settings_and_reports_an_unreachable_redis() {
    let _serial = SERIAL.lock().await;
    let err = RedisStore::builder()
        .prefix("two words")
        .connect("redis://127.0.0.1:1/")
        .await
        .expect_err("bad prefix");
    assert!(err.to_string().contains("prefix"), "{err}");

    // Nothing listens on port 1: connect fails within the timeout, with the reason.
    let t = Instant::now();
    let err = RedisStore::builder()
        .timeout(Duration::from_millis(300))
        .connect("redis://:s3cret@127.0.0.1:1/")
        .await
        .expect_err("unreachable");
    assert!(t.elapsed() < Duration::from_secs(3));
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(text.contains("Redis connect"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // A lazily connected store reports every operation as a backend failure.
    let lazy = RedisStore::builder()
        .timeout(Duration::from_millis(300))
        .connect_lazy("redis://127.0.0.1:1/")
        .await
        .expect("lazy store");
    let err = lazy
        .check_and_insert("ev", Duration::from_secs(60))
        .await
        .expect_err("unreachable");
    assert!(err.to_string().contains("Redis claim"), "{err}");
}

// ------------------------------------- three replicas ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_handle_each_event_exactly_once() {
    let _serial = SERIAL.lock().await;
    let Some(redis) = TestRedis::any("three_replicas_handle_each_event_exactly_once") else {
        return;
    };
    const EVENTS: usize = 1000;
    let ledger = Arc::new(Ledger::default());
    let urls = replicas(&redis, &ledger, Behaviour::Succeed).await;
    let signer = Signer::from_secret_bytes(SEED);
    let deliveries: Vec<Delivery> = (0..EVENTS)
        .map(|i| {
            delivery(
                &signer,
                format!("evt-{}-{i}", uuid::Uuid::new_v4().simple()),
            )
        })
        .collect();
    let http = reqwest::Client::new();

    // The same signed delivery to all three replicas at once, for every event.
    let answers: Vec<(String, Vec<Answer>)> = futures::stream::iter(&deliveries)
        .map(|d| {
            let (http, urls) = (&http, &urls);
            async move {
                let three = futures::future::join_all(urls.iter().map(|u| post(http, u, d))).await;
                (d.id.clone(), three)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;

    let handled = ledger.handled();
    let once = handled.values().filter(|&&n| n == 1).count();
    let more = handled.values().filter(|&&n| n > 1).count();
    let never = EVENTS - handled.len();
    let mut tally: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for (id, three) in &answers {
        let processed = three.iter().filter(|a| a.what == "processed").count();
        assert_eq!(processed, 1, "{id}: {three:?}");
        for a in three {
            assert!(
                (a.status == 200 && ["processed", "duplicate"].contains(&a.what.as_str()))
                    || (a.status == 409 && a.what == "in_progress"),
                "{id}: {a:?}"
            );
            *tally.entry((a.status, a.what.clone())).or_default() += 1;
        }
    }
    println!(
        "exactly-once: {EVENTS} events x 3 replicas concurrently: handled once {once}, more than once {more}, never {never}; answers {tally:?}"
    );
    assert_eq!((once, more, never), (EVENTS, 0, 0));

    // Redelivered later, to any replica: a duplicate, never handled again.
    let again: Vec<Answer> = futures::stream::iter(deliveries.iter().enumerate())
        .map(|(i, d)| post(&http, &urls[(i + 1) % 3], d))
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(again
        .iter()
        .all(|a| a.status == 200 && a.what == "duplicate"));
    assert!(ledger.handled().values().all(|&n| n == 1));

    // Every key is a `done` mark with a TTL (72 h by default).
    let all = keys(&redis).await;
    assert_eq!(all.len(), EVENTS);
    assert!(all
        .values()
        .all(|(v, ttl)| v == "done" && *ttl > 71 * 3600 * 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_fails_once_is_handled_on_the_retry() {
    let _serial = SERIAL.lock().await;
    let Some(redis) = TestRedis::any("a_handler_that_fails_once_is_handled_on_the_retry") else {
        return;
    };
    const EVENTS: usize = 300;
    let ledger = Arc::new(Ledger::default());
    let urls = replicas(&redis, &ledger, Behaviour::FailFirstEvery(3)).await;
    let signer = Signer::from_secret_bytes(SEED);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let deliveries: Vec<Delivery> = (0..EVENTS)
        .map(|i| delivery(&signer, format!("evt-{run}-{i}")))
        .collect();
    let http = reqwest::Client::new();

    let first: Vec<Answer> = futures::stream::iter(deliveries.iter().enumerate())
        .map(|(i, d)| post(&http, &urls[i % 3], d))
        .buffered(32)
        .collect()
        .await;
    let failed: Vec<usize> = (0..EVENTS).filter(|i| first[*i].status == 500).collect();
    assert_eq!(failed.len(), EVENTS / 3, "every third event fails once");
    assert!(failed.iter().all(|i| i.is_multiple_of(3)));
    assert!(failed.iter().all(|&i| first[i].what == "handler_failed"));

    // Dakota's retry of a failed delivery lands on another replica: handled there.
    let retried: Vec<Answer> = futures::stream::iter(&failed)
        .map(|&i| post(&http, &urls[(i + 1) % 3], &deliveries[i]))
        .buffered(32)
        .collect()
        .await;
    assert!(
        retried
            .iter()
            .all(|a| a.status == 200 && a.what == "processed"),
        "{retried:?}"
    );
    let handled = ledger.handled();
    assert_eq!(handled.len(), EVENTS);
    assert!(handled.values().all(|&n| n == 1));
    for &i in &failed {
        assert_eq!(ledger.runs_of(&deliveries[i].id), 2);
    }
    println!(
        "handler failing once: {} of {EVENTS} events failed their first run and were handled on the retry; each handled exactly once",
        failed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_run_gets_5xx_and_marks_nothing_unhandled() {
    let _serial = SERIAL.lock().await;
    let Some(mut redis) =
        TestRedis::own("redis_stopped_mid_run_gets_5xx_and_marks_nothing_unhandled")
    else {
        return;
    };
    const EVENTS: usize = 400;
    let ledger = Arc::new(Ledger::default());
    let mut urls = Vec::new();
    for _ in 0..3 {
        let s = store(&redis, Duration::from_millis(300), Duration::from_secs(2)).await;
        urls.push(replica(s, Arc::clone(&ledger), Behaviour::Succeed).await);
    }
    let signer = Signer::from_secret_bytes(SEED);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let deliveries: Vec<Delivery> = (0..EVENTS)
        .map(|i| delivery(&signer, format!("evt-{run}-{i}")))
        .collect();
    let http = reqwest::Client::new();

    // Deliver in a steady stream; Redis is killed once a third of the events are handled.
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let answers: Vec<(usize, Instant, Answer)> = {
        let stream = futures::stream::iter(deliveries.iter().enumerate())
            .map(|(i, d)| {
                let (http, urls) = (&http, &urls);
                async move {
                    let started = Instant::now();
                    (i, started, post(http, &urls[i % 3], d).await)
                }
            })
            .buffered(8);
        let mut stream = std::pin::pin!(stream);
        let mut out = Vec::new();
        while let Some(a) = stream.next().await {
            out.push(a);
            let mut k = killed_at.lock().expect("lock");
            if k.is_none() && ledger.handled().len() >= EVENTS / 3 {
                redis.kill();
                *k = Some(Instant::now());
            }
        }
        out
    };
    let killed_at = killed_at
        .lock()
        .expect("lock")
        .expect("Redis was killed mid-run");

    let handled = ledger.handled();
    let mut unavailable = 0;
    for (i, started, a) in &answers {
        let id = &deliveries[*i].id;
        match (a.status, a.what.as_str()) {
            (200, "processed") => assert_eq!(handled.get(id), Some(&1), "{id}"),
            (503, "store_unavailable") => {
                unavailable += 1;
                assert!(
                    !handled.contains_key(id),
                    "{id} handled although unavailable"
                );
            }
            other => panic!("{id}: unexpected answer {other:?}"),
        }
        if *started > killed_at + Duration::from_millis(50) {
            assert_eq!(a.status, 503, "{id}: delivered after Redis stopped");
        }
    }
    assert!(unavailable > 0);
    assert!(handled.values().all(|&n| n == 1));

    // Redis back with its data: every `done` mark belongs to an event that was handled.
    redis.restart().expect("Redis restarts");
    let all = keys(&redis).await;
    let done: HashSet<&str> = all
        .iter()
        .filter(|(_, (v, _))| v == "done")
        .map(|(k, _)| k.strip_prefix(&redis.prefix).unwrap_or(k))
        .collect();
    assert!(!done.is_empty());
    for id in &done {
        assert!(
            handled.contains_key(*id),
            "{id} marked done but never handled"
        );
    }
    assert!(all.values().all(|(_, ttl)| *ttl > 0), "every key expires");

    // Dakota retries every non-2xx delivery: each is handled, once, as soon as any claim a
    // killed connection left behind has expired (2 s lease here).
    let pending: Vec<usize> = answers
        .iter()
        .filter(|(_, _, a)| a.status != 200)
        .map(|(i, _, _)| *i)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut left = pending.clone();
    while !left.is_empty() {
        assert!(Instant::now() < deadline, "still not handled: {left:?}");
        let retried: Vec<(usize, Answer)> = futures::stream::iter(&left)
            .map(|&i| {
                let (http, urls, deliveries) = (&http, &urls, &deliveries);
                async move { (i, post(http, &urls[(i + 2) % 3], &deliveries[i]).await) }
            })
            .buffered(8)
            .collect()
            .await;
        left = retried
            .into_iter()
            .filter(|(_, a)| a.status != 200)
            .map(|(i, _)| i)
            .collect();
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let handled = ledger.handled();
    assert_eq!(handled.len(), EVENTS);
    assert!(handled.values().all(|&n| n == 1));
    println!(
        "Redis killed after {} handled: {unavailable} deliveries answered 503, 0 marked done unhandled; after restart all {} retried deliveries handled, every event exactly once",
        EVENTS - pending.len(),
        pending.len()
    );
}

// ---------------------------------- shared rate budget --------------------------------------

/// Counts the 429s the clients' retry loop absorbed (its `retrying` events with status 429).
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

/// The API key the four clients share.
const SHARED_API_KEY: &str = "sk_test_replicas_share_this_key_0001";

/// What one run of four clients against a rate-limited sandbox saw.
struct BulkRun {
    ok: usize,
    surfaced_429: usize,
    server_429: u64,
    /// Requests the server accepted per window, as a fraction of the limit.
    accepted: f64,
    /// Requests sent (accepted + rejected with 429) per window, as a fraction of the limit.
    sent: f64,
}

fn unix_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// `starts` onboarding starts spread over four clients with the same API key, all at once,
/// against a sandbox allowing `limit` requests per 1 s window; with `shared`, the clients
/// spend one `SharedRateBudget`, else each paces in-process.
async fn four_clients(shared: Option<&TestRedis>, limit: u32, starts: usize) -> BulkRun {
    let sandbox = Sandbox::builder()
        .api_key(SHARED_API_KEY)
        .rate_limit_per_minute(limit)
        .rate_limit_window(Duration::from_secs(1))
        .start()
        .await
        .expect("sandbox");
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut b = Dakota::builder()
            .base_url(sandbox.base_url())
            .expect("url")
            .api_key(sandbox.api_key())
            .pacing(true)
            .retry(RetryPolicy::default().max_attempts(10));
        if let Some(redis) = shared {
            let budget = SharedRateBudget::builder()
                .prefix(&redis.prefix)
                .connect(&redis.url)
                .await
                .expect("Redis answers");
            b = b.rate_budget(budget);
        }
        clients.push(b.build().expect("client"));
    }
    let absorbed = Count429::default();
    let subscriber = tracing_subscriber::registry().with(absorbed.clone());
    // The sandbox's windows start on whole seconds.
    let started = unix_secs_f64().floor();
    let results: Vec<_> = futures::stream::iter(0..starts)
        .map(|i| {
            let d = &clients[i % 4];
            async move {
                d.onboarding()
                    .start(NewCustomer::individual(format!("Replica {i:04}")))
                    .await
            }
        })
        .buffer_unordered(starts)
        .collect::<Vec<_>>()
        .with_subscriber(subscriber)
        .await;
    let windows = (unix_secs_f64() - started).ceil().max(1.0);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, starts, "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(sandbox.state().customer_count(), starts);
    let server_429 = absorbed.0.load(Ordering::Relaxed);
    let budget = windows * f64::from(limit);
    sandbox.shutdown().await;
    BulkRun {
        ok,
        surfaced_429: results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.status() == Some(429)))
            .count(),
        server_429,
        accepted: ok as f64 / budget,
        sent: (ok as f64 + server_429 as f64) / budget,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_clients_sharing_a_key_stay_within_the_limit() {
    let _serial = SERIAL.lock().await;
    let Some(redis) = TestRedis::any("four_clients_sharing_a_key_stay_within_the_limit") else {
        return;
    };
    const LIMIT: u32 = 50;
    const STARTS: usize = 200;
    let alone = four_clients(None, LIMIT, STARTS).await;
    let shared = four_clients(Some(&redis), LIMIT, STARTS).await;
    for (name, r) in [("in-process pacers", &alone), ("shared budget", &shared)] {
        println!(
            "4 clients, {STARTS} starts, limit {LIMIT}/s, {name}: {} ok, accepted {:.3} of L, sent {:.3} of L, server 429s {} absorbed, {} surfaced",
            r.ok, r.accepted, r.sent, r.server_429, r.surfaced_429
        );
    }
    // Nobody sees a 429 either way (the retries absorb them), but only the shared budget keeps
    // what the four send within the limit: each in-process pacer spends the whole window.
    assert_eq!((alone.surfaced_429, shared.surfaced_429), (0, 0));
    assert!(
        shared.sent <= 1.05,
        "shared budget sent {:.3} of L",
        shared.sent
    );
    assert!(
        shared.server_429 <= 2,
        "shared budget: {} server 429s",
        shared.server_429
    );
    assert!(
        alone.sent > 1.2,
        "in-process pacers sent {:.3} of L",
        alone.sent
    );

    // Redis holds one budget, keyed by a hash of the API key, never the key itself.
    let all = keys(&redis).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let (key, (fields, ttl)) = all.iter().next().expect("one key");
    assert!(
        key.starts_with(&format!("{}api-key:", redis.prefix)),
        "{key}"
    );
    assert_eq!(
        key.len(),
        redis.prefix.len() + "api-key:".len() + 64,
        "{key}"
    );
    assert!(!key.contains(SHARED_API_KEY) && !fields.contains(SHARED_API_KEY));
    assert!(fields.contains(&format!("limit,{LIMIT}")), "{fields}");
    assert!(*ttl > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_budget_falls_back_to_in_process_pacing() {
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::builder()
        .rate_limit_per_minute(5)
        .rate_limit_window(Duration::from_secs(1))
        .start()
        .await
        .expect("sandbox");
    // Nothing listens on port 1: every script fails fast and the in-process pacer stands in.
    let budget = SharedRateBudget::builder()
        .timeout(Duration::from_millis(200))
        .connect_lazy("redis://127.0.0.1:1/")
        .await
        .expect("lazy budget");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("url")
        .api_key(sandbox.api_key())
        .rate_budget(budget)
        .build()
        .expect("client");
    let results = futures::future::join_all((0..12).map(|i| {
        let d = &dakota;
        async move {
            d.onboarding()
                .start(NewCustomer::individual(format!("Fallback {i:02}")))
                .await
        }
    }))
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(sandbox.state().customer_count(), 12);
    sandbox.shutdown().await;
}
