//! Concurrent creates: distinct keys create one customer each; one key creates exactly one.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{fast, Api};
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Semaphore;

/// Connections open at once, so the test (client and server share this process's file
/// descriptors) stays within a 1024-descriptor limit.
const MAX_IN_FLIGHT: usize = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_creates_with_distinct_keys() {
    let api = Arc::new(Api::start(fast().rate_limit_per_minute(1_000_000)).await);
    let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let started = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let api = api.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("semaphore");
                let t = Instant::now();
                let r = api
                    .post(
                        "/customers",
                        &json!({"name": format!("Customer {i:04}"), "customer_type": "business"}),
                    )
                    .await;
                (r.status, t.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(1000);
    for t in tasks {
        let (status, lat) = t.await.expect("task");
        assert_eq!(status, StatusCode::CREATED);
        latencies.push(lat);
    }
    let total = started.elapsed();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "1000 concurrent creates (<= {MAX_IN_FLIGHT} in flight): {:.0} ms total, {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
        total.as_secs_f64() * 1000.0,
        1000.0 / total.as_secs_f64(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    assert_eq!(api.sandbox.state().customer_count(), 1000);
    let r = api.get("/customers?limit=1").await;
    assert_eq!(r.json()["meta"]["total_count"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_creates_with_one_key_create_one_customer() {
    let api = Arc::new(Api::start(fast().rate_limit_per_minute(1_000_000)).await);
    let key = uuid::Uuid::new_v4().to_string();
    let body =
        json!({"name": "Acme Corp", "customer_type": "individual", "external_id": "usr_12345"});
    let started = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let api = api.clone();
            let key = key.clone();
            let body = body.clone();
            tokio::spawn(async move {
                Api::send(
                    api.req(reqwest::Method::POST, "/customers")
                        .header("x-idempotency-key", key)
                        .json(&body),
                )
                .await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for t in tasks {
        responses.push(t.await.expect("task"));
    }
    println!(
        "100 concurrent creates with one idempotency key: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(api.sandbox.state().customer_count(), 1);
    let first = &responses[0];
    assert_eq!(first.status, StatusCode::CREATED);
    for r in &responses {
        assert_eq!(r.status, first.status);
        assert_eq!(r.bytes, first.bytes, "replayed bodies are byte-identical");
    }
    let replayed = responses
        .iter()
        .filter(|r| r.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 99);
}
