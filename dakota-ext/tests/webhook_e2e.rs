//! End to end: the local sandbox signs and POSTs onboarding events to a `webhook::axum`
//! endpoint, whose handler feeds a `DecisionFeed`; `wait_for_decision_with_feed` returns from
//! the webhook long before its (slow) polling fallback would.
//!
//! Run: `cargo test -p dakota-ext --features axum --test webhook_e2e -- --nocapture`.

#![cfg(feature = "axum")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use dakota_api::types;
use dakota_ext::onboarding::{NewCustomer, WaitPolicy};
use dakota_ext::webhook::axum::WebhookEndpoint;
use dakota_ext::webhook::{Event, InMemoryStore, Signer, Verifier, WebhookKey};
use dakota_ext::{Dakota, Decision, DecisionFeed, Ksuid};
use dakota_sandbox::Sandbox;
use serde_json::{json, Value};

/// The sandbox signs with this seed, so the test can also forge and tamper with deliveries.
const SEED: [u8; 32] = [42; 32];
const PATH: &str = "/webhooks/dakota";

/// What the receiving side saw.
#[derive(Default)]
struct Seen {
    /// Handler calls: (event id, event type, when).
    handled: Mutex<Vec<(String, String, SystemTime)>>,
    /// Every answer of the endpoint: (status, body).
    answers: Mutex<Vec<(u16, String)>>,
    calls: AtomicU32,
}

impl Seen {
    fn handled(&self) -> Vec<(String, String, SystemTime)> {
        self.handled.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn answers(&self) -> Vec<(u16, String)> {
        self.answers.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Records the endpoint's answers (status and body) next to the handler's calls.
async fn tap(State(seen): State<Arc<Seen>>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if let Ok(mut a) = seen.answers.lock() {
        a.push((
            parts.status.as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The app a Dakota customer would run: the ready-made endpoint, its handler feeding `feed`.
async fn receiver(
    public_key_hex: &str,
    feed: DecisionFeed,
    seen: Arc<Seen>,
) -> (String, tokio::task::JoinHandle<()>) {
    let verifier = Verifier::new(WebhookKey::from_hex(public_key_hex).expect("sandbox key"));
    let handler_seen = seen.clone();
    let app = WebhookEndpoint::new(verifier, InMemoryStore::new(), move |event: Event| {
        let feed = feed.clone();
        let seen = handler_seen.clone();
        async move {
            let at = SystemTime::now();
            seen.calls.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut h) = seen.handled.lock() {
                h.push((event.id.clone(), event.type_str().to_owned(), at));
            }
            feed.observe(&event);
            Ok::<(), std::convert::Infallible>(())
        }
    })
    .into_router(PATH)
    .layer(middleware::from_fn_with_state(seen, tap));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}{PATH}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// Polling so slow that only a webhook can decide within the test's time limits.
fn slow_fallback() -> WaitPolicy {
    WaitPolicy {
        initial_interval: Duration::from_secs(60),
        max_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(120),
        max_polls_per_hour: 90,
    }
}

async fn wait_handled(seen: &Seen, pred: impl Fn(&[(String, String, SystemTime)]) -> bool) {
    for _ in 0..200 {
        if pred(&seen.handled()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "handler never saw the expected events: {:?}",
        seen.handled()
    );
}

/// A sandbox (auto-approval after 1 s, known signing seed), a client for it, and a receiving
/// app registered as a webhook target for `event_types`.
struct Harness {
    sandbox: Sandbox,
    dakota: Dakota,
    feed: DecisionFeed,
    seen: Arc<Seen>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start(event_types: Vec<types::EventType>) -> Harness {
        let sandbox = Sandbox::builder()
            .auto_approve_after(Duration::from_secs(1))
            .webhook_signing_seed(SEED)
            .start()
            .await
            .expect("sandbox starts");
        assert_eq!(
            sandbox.webhook_public_key(),
            Signer::from_secret_bytes(SEED).public_key_hex()
        );
        let dakota = Dakota::builder()
            .base_url(sandbox.base_url())
            .expect("base url")
            .api_key(sandbox.api_key())
            .build()
            .expect("client");
        let feed = DecisionFeed::new();
        let seen = Arc::new(Seen::default());
        let (url, server) =
            receiver(&sandbox.webhook_public_key(), feed.clone(), seen.clone()).await;
        // Register the endpoint through the client, as an integrator would.
        let target = dakota
            .call(
                dakota
                    .api()
                    .create_webhook_target()
                    .body(
                        types::WebhookTargetCreateRequest::builder()
                            .url(url.clone())
                            .global(false)
                            .event_types(event_types),
                    )
                    .send(),
            )
            .await
            .expect("createWebhookTarget")
            .into_inner();
        assert_eq!(target.url, url);
        Harness {
            sandbox,
            dakota,
            feed,
            seen,
            url,
            server,
        }
    }

    fn calls(&self) -> u32 {
        self.seen.calls.load(Ordering::SeqCst)
    }

    async fn delivery(&self, event_id: &str) -> types::WebhookDelivery {
        self.dakota
            .call(
                self.dakota
                    .api()
                    .get_webhook_delivery()
                    .event_id(event_id)
                    .send(),
            )
            .await
            .expect("getWebhookDelivery")
            .into_inner()
    }

    /// Polls the delivery record until `pred` holds.
    async fn delivery_until(
        &self,
        event_id: &str,
        pred: impl Fn(&types::WebhookDelivery) -> bool,
    ) -> types::WebhookDelivery {
        for _ in 0..200 {
            let d = self.delivery(event_id).await;
            if pred(&d) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "delivery {event_id} never matched: {:?}",
            self.delivery(event_id).await
        );
    }

    /// A customer left undecided; returns the id of its `customer.created` event once handled.
    async fn undecided_customer_event(&self) -> String {
        let created = self
            .dakota
            .call(
                self.dakota
                    .api()
                    .create_customer()
                    .x_sandbox_skip_auto_approval(true)
                    .body(
                        NewCustomer::business("Harbor Pine Trading")
                            .to_request()
                            .expect("valid"),
                    )
                    .send(),
            )
            .await
            .expect("createCustomer")
            .into_inner();
        wait_handled(&self.seen, |h| {
            h.iter().any(|(_, t, _)| t == "customer.created")
        })
        .await;
        let (id, _, _) = self.seen.handled()[0].clone();
        let record = self.delivery_until(&id, |d| d.attempts == 1).await;
        let payload = Value::Object(record.payload.expect("payload"));
        assert_eq!(payload["data"]["object"]["id"], json!(created.id.as_str()));
        id
    }

    async fn stop(self) {
        self.server.abort();
        self.sandbox.shutdown().await;
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

/// POSTs straight to the endpoint; returns the status and the JSON answer.
async fn post(url: &str, headers: http::HeaderMap, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn approval_arrives_by_webhook_long_before_polling() {
    let h = Harness::start(vec![
        types::EventType::CustomerCreated,
        types::EventType::CustomerKybStatusUpdated,
    ])
    .await;
    let created_at = SystemTime::now();
    let onboarding = h
        .dakota
        .onboarding()
        .start(NewCustomer::individual("Acme Corp").external_id("usr_12345"))
        .await
        .expect("onboarding starts");
    let started = Instant::now();
    let decision = onboarding
        .wait_for_decision_with_feed(&h.dakota, &h.feed, slow_fallback())
        .await
        .expect("a decision");
    let waited = started.elapsed();
    assert_eq!(decision, Decision::Approved);
    // The fallback polled once at the start (still pending) and would poll again after 60 s.
    assert!(
        waited < Duration::from_secs(10),
        "decided after {waited:?}: the 60 s polling fallback cannot have done it"
    );
    wait_handled(&h.seen, |s| {
        s.iter().any(|(_, t, _)| t == "customer.kyb_status.updated")
    })
    .await;
    let handled = h.seen.handled();
    let kinds: Vec<&str> = handled.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["customer.created", "customer.kyb_status.updated"]);
    let (approval_id, _, handled_at) = handled[1].clone();
    let record = h
        .delivery_until(&approval_id, |d| {
            d.status == types::WebhookDeliveryStatus::Delivered
        })
        .await;
    assert_eq!(record.attempts, 1);
    let payload = Value::Object(record.payload.clone().expect("payload"));
    assert_eq!(payload["data"]["object"]["kyb_status"], "active");
    assert_eq!(
        payload["data"]["object"]["id"],
        json!(onboarding.customer_id.to_string())
    );

    // Latency: the record's `created_at` is when the sandbox emitted the event, i.e. the
    // moment its timer applied the approval; the handler noted when it ran.
    let emitted: SystemTime = record.created_at.into();
    let approval_to_handler = handled_at.duration_since(emitted).unwrap_or_default();
    let due_to_handler = handled_at
        .duration_since(created_at + Duration::from_secs(1))
        .unwrap_or_default();
    println!(
        "e2e: approval applied -> handler called in {:.1} ms (from the due time, an upper bound: \
         {:.1} ms); wait_for_decision_with_feed returned after {:.0} ms",
        approval_to_handler.as_secs_f64() * 1e3,
        due_to_handler.as_secs_f64() * 1e3,
        waited.as_secs_f64() * 1e3
    );
    assert!(approval_to_handler < Duration::from_secs(2));
    h.stop().await;
}

#[tokio::test]
async fn declined_scenario_arrives_as_declined() {
    let h = Harness::start(vec![types::EventType::CustomerKybStatusUpdated]).await;
    let created = h
        .dakota
        .call(
            h.dakota
                .api()
                .create_customer()
                .x_sandbox_scenario(types::CreateCustomerXSandboxScenario::KybRejected)
                .body(
                    NewCustomer::business("Rejected Ventures")
                        .external_id("usr_67890")
                        .to_request()
                        .expect("valid"),
                )
                .send(),
        )
        .await
        .expect("createCustomer")
        .into_inner();
    let onboarding = h
        .dakota
        .onboarding()
        .resume(Ksuid::parse(&created.id).expect("ksuid"))
        .await
        .expect("resume");
    let started = Instant::now();
    let decision = onboarding
        .wait_for_decision_with_feed(&h.dakota, &h.feed, slow_fallback())
        .await
        .expect("a decision");
    assert_eq!(decision, Decision::Declined);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(h.calls(), 1, "one kyb_status.updated event, by webhook");
    h.stop().await;
}

#[tokio::test]
async fn replayed_delivery_is_reported_as_duplicate() {
    let h = Harness::start(vec![types::EventType::CustomerCreated]).await;
    let event_id = h.undecided_customer_event().await;
    let calls = h.calls();
    let replay = h
        .dakota
        .call(
            h.dakota
                .api()
                .replay_webhook_delivery()
                .event_id(event_id.clone())
                .send(),
        )
        .await
        .expect("replayWebhookDelivery")
        .into_inner();
    assert_eq!(replay.webhook_id, event_id);
    assert_eq!(replay.replayed_to_count, 1);
    let record = h
        .delivery_until(&event_id, |d| {
            d.attempts == 2 && d.status == types::WebhookDeliveryStatus::Delivered
        })
        .await;
    assert!(record.is_replay);
    assert_eq!(record.replay_count, Some(1));
    // The endpoint acknowledged the redelivery as a duplicate without running the handler.
    assert_eq!(h.calls(), calls, "handler not run again");
    let duplicate = json!({"status": "duplicate", "event_id": event_id});
    let answers = h.seen.answers();
    assert!(
        answers.iter().any(|(s, b)| *s == 200
            && serde_json::from_str::<Value>(b).ok().as_ref() == Some(&duplicate)),
        "{answers:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn tampered_delivery_is_rejected() {
    let h = Harness::start(vec![types::EventType::CustomerCreated]).await;
    let event_id = h.undecided_customer_event().await;
    let calls = h.calls();
    let record = h.delivery(&event_id).await;
    let body = serde_json::to_vec(&record.payload.expect("payload")).expect("json");
    let signer = Signer::from_secret_bytes(SEED);
    let now = unix_now();

    // The body changed after signing: 400 `bad_signature`, handler not run.
    let mut tampered = body.clone();
    let pos = tampered
        .windows(6)
        .position(|w| w == b"Harbor")
        .expect("the snapshot names the customer");
    tampered[pos..pos + 6].copy_from_slice(b"Hacker");
    assert!(
        serde_json::from_slice::<Value>(&tampered).is_ok(),
        "still a valid event"
    );
    let (status, problem) = post(&h.url, signer.headers(now, &body), tampered).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "bad_signature");
    // Signed by another key, or an hour ago: also refused.
    let (status, problem) =
        post(&h.url, Signer::generate().headers(now, &body), body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("bad_signature"))
    );
    let (status, _) = post(&h.url, signer.headers(now - 3600, &body), body.clone()).await;
    assert_eq!(status, 400, "an hour-old signature is stale");
    // The same body correctly signed is accepted (as a duplicate: it was delivered before).
    let (status, answer) = post(&h.url, signer.headers(now, &body), body.clone()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(h.calls(), calls);
    h.stop().await;
}
