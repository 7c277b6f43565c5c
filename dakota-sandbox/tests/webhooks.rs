//! Webhook targets, signed deliveries, retries, delivery history and replays.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use common::{fast, person, Api};
use dakota_api::types;
use dakota_ext::webhook::{Event, Verifier, WebhookKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
}

struct ReceiverState {
    tx: mpsc::UnboundedSender<Got>,
    calls: AtomicU32,
    /// Answer `500` to this many requests first.
    fail_first: u32,
}

/// A local endpoint recording every POST to `/hook`.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Got>,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_first: u32) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            tx,
            calls: AtomicU32::new(0),
            fail_first,
        });
        async fn hook(
            State(s): State<Arc<ReceiverState>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let n = s.calls.fetch_add(1, Ordering::SeqCst);
            let _ = s.tx.send(Got { headers, body });
            if n < s.fail_first {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            rx,
            state,
            task,
        }
    }

    /// The next request, within 5 s.
    async fn next(&mut self) -> Got {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("a delivery within 5 s")
            .expect("receiver open")
    }

    /// Requests until one of `event_type` arrives (all of them, in order).
    async fn until(&mut self, event_type: &str) -> Vec<Got> {
        let mut seen = Vec::new();
        loop {
            let g = self.next().await;
            let done = body_json(&g)["type"] == event_type;
            seen.push(g);
            if done {
                return seen;
            }
        }
    }

    /// Nothing arrives for `d`.
    async fn quiet_for(&mut self, d: Duration) {
        if let Ok(Some(g)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected delivery: {}", String::from_utf8_lossy(&g.body));
        }
    }

    fn calls(&self) -> u32 {
        self.state.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// As JSON, to compare generated types (which have no `PartialEq`).
fn v<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serializable")
}

fn body_json(g: &Got) -> Value {
    serde_json::from_slice(&g.body).expect("delivery body is JSON")
}

fn types_of(gs: &[Got]) -> Vec<String> {
    gs.iter()
        .map(|g| body_json(g)["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn create_target(api: &Api, body: Value) -> types::WebhookTarget {
    let r = api.post("/webhooks/targets", &body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    serde_json::from_slice(&r.bytes).expect("WebhookTarget")
}

async fn patch(api: &Api, path: &str, body: &Value) -> common::Resp {
    Api::send(api.write(Method::PATCH, path).json(body)).await
}

async fn history(api: &Api, query: &str) -> types::WebhookHistoryList {
    let r = api.get(&format!("/webhooks{query}")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    serde_json::from_slice(&r.bytes).expect("WebhookHistoryList")
}

/// Polls the history until `pred` holds (deliveries are booked asynchronously).
async fn history_until(
    api: &Api,
    query: &str,
    pred: impl Fn(&types::WebhookHistoryList) -> bool,
) -> types::WebhookHistoryList {
    for _ in 0..100 {
        let h = history(api, query).await;
        if pred(&h) {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("history never matched: {:?}", history(api, query).await);
}

#[tokio::test]
async fn target_crud() {
    let api = Api::start(fast()).await;
    let before = chrono::Utc::now().timestamp();
    let t = create_target(
        &api,
        json!({"url": "https://hooks.acme-corp.io/dakota", "event_types": ["customer.created"]}),
    )
    .await;
    assert_eq!(t.url, "https://hooks.acme-corp.io/dakota");
    assert!(!t.global, "global defaults to false");
    assert_eq!(t.event_types, vec![types::EventType::CustomerCreated]);
    assert!(t.time_last_healthy >= before && t.time_last_attempted == t.time_last_healthy);
    let path = format!("/webhooks/targets/{}", t.id.as_str());

    let got: types::WebhookTarget =
        serde_json::from_slice(&api.get(&path).await.bytes).expect("get");
    assert_eq!(v(&got), v(&t));

    let g = create_target(
        &api,
        json!({"url": "http://127.0.0.1:9/all", "global": true}),
    )
    .await;
    let r = api.get("/webhooks/targets?limit=1").await;
    assert_eq!(r.status, StatusCode::OK);
    let page: types::ListWebhookTargetsResponse = serde_json::from_slice(&r.bytes).expect("list");
    assert_eq!(v(&page.data), v(&vec![t.clone()]));
    assert_eq!(page.meta.total_count, 2);
    assert!(page.meta.has_more_after);
    let r = api
        .get(&format!(
            "/webhooks/targets?starting_after={}",
            t.id.as_str()
        ))
        .await;
    let page: types::ListWebhookTargetsResponse = serde_json::from_slice(&r.bytes).expect("list");
    assert_eq!(v(&page.data), v(&vec![g.clone()]));

    // PATCH replaces what it names and keeps the rest.
    let r = patch(
        &api,
        &path,
        &json!({"event_types": ["customer.kyb_status.updated", "customer.updated"]}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let u: types::WebhookTarget = serde_json::from_slice(&r.bytes).expect("updated");
    assert_eq!(
        u.event_types,
        vec![
            types::EventType::CustomerKybStatusUpdated,
            types::EventType::CustomerUpdated
        ]
    );
    assert_eq!((u.url.as_str(), u.global), (t.url.as_str(), false));
    let r = patch(&api, &path, &json!({"global": true})).await;
    let u: types::WebhookTarget = serde_json::from_slice(&r.bytes).expect("updated");
    assert!(u.global);
    assert_eq!(u.event_types.len(), 2);
    let r = patch(&api, &path, &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "an empty patch changes nothing");

    let r = Api::send(api.req(Method::DELETE, &path)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.bytes.is_empty());
    api.get(&path).await.problem(404);
    Api::send(api.req(Method::DELETE, &path)).await.problem(404);
    patch(&api, &path, &json!({"global": true}))
        .await
        .problem(404);
    // Ids that are not KSUIDs are simply unknown.
    api.get("/webhooks/targets/nope").await.problem(404);
    // Without the key: 401.
    let r = Api::send(api.http.get(api.url("/webhooks/targets"))).await;
    r.problem(401);
}

#[tokio::test]
async fn target_validation() {
    let api = Api::start(fast()).await;
    let bad = |body: Value, field: &'static str| {
        let api = &api;
        async move {
            let r = api.post("/webhooks/targets", &body).await;
            r.problem(400);
            assert!(
                r.error_fields().iter().any(|f| f == field),
                "{body}: expected an error on {field}, got {:?}",
                r.error_fields()
            );
        }
    };
    bad(json!({"event_types": ["customer.created"]}), "url").await;
    bad(json!({"url": 42, "global": true}), "url").await;
    bad(
        json!({"url": "ftp://files.acme-corp.io/x", "global": true}),
        "url",
    )
    .await;
    bad(json!({"url": "/relative/hook", "global": true}), "url").await;
    bad(
        json!({"url": "https://exa mple.com/x", "global": true}),
        "url",
    )
    .await;
    let long = format!("https://acme-corp.io/{}", "a".repeat(2100));
    bad(json!({"url": long, "global": true}), "url").await;
    bad(
        json!({"url": "https://acme-corp.io/h", "global": "yes"}),
        "global",
    )
    .await;
    bad(
        json!({"url": "https://acme-corp.io/h", "event_types": "customer.created"}),
        "event_types",
    )
    .await;
    bad(
        json!({"url": "https://acme-corp.io/h", "event_types": ["customer.exploded"]}),
        "event_types[0]",
    )
    .await;
    bad(
        json!({"url": "https://acme-corp.io/h", "event_types": ["customer.created", 7]}),
        "event_types[1]",
    )
    .await;
    bad(
        json!({"url": "https://acme-corp.io/h", "event_types": ["customer.created", "customer.created"]}),
        "event_types[1]",
    )
    .await;
    // A non-global target must name what it wants.
    bad(json!({"url": "https://acme-corp.io/h"}), "event_types").await;
    bad(
        json!({"url": "https://acme-corp.io/h", "event_types": []}),
        "event_types",
    )
    .await;
    let r = api
        .post("/webhooks/targets", &json!(["not", "an", "object"]))
        .await;
    r.problem(400);
    // No idempotency key: 400; a key reused for another body: 400 (the documented status).
    let r = Api::send(
        api.req(Method::POST, "/webhooks/targets")
            .json(&json!({"url": "https://acme-corp.io/h", "global": true})),
    )
    .await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "x-idempotency-key");
    let key = uuid::Uuid::new_v4().to_string();
    let first = Api::send(
        api.req(Method::POST, "/webhooks/targets")
            .header("x-idempotency-key", &key)
            .json(&json!({"url": "https://acme-corp.io/a", "global": true})),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = Api::send(
        api.req(Method::POST, "/webhooks/targets")
            .header("x-idempotency-key", &key)
            .json(&json!({"url": "https://acme-corp.io/a", "global": true})),
    )
    .await;
    assert_eq!(again.bytes, first.bytes, "same key, same request: replayed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    Api::send(
        api.req(Method::POST, "/webhooks/targets")
            .header("x-idempotency-key", &key)
            .json(&json!({"url": "https://acme-corp.io/b", "global": true})),
    )
    .await
    .problem(400);

    // Updates: the URL is fixed, the filter must stay non-empty unless global.
    let t: types::WebhookTarget = serde_json::from_slice(&first.bytes).expect("target");
    let path = format!("/webhooks/targets/{}", t.id.as_str());
    let r = patch(&api, &path, &json!({"url": "https://acme-corp.io/c"})).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "url");
    let r = patch(&api, &path, &json!({"global": false})).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "event_types");
    let r = patch(&api, &path, &json!({"event_types": ["nope"]})).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "event_types[0]");
    let r = Api::send(api.req(Method::PATCH, &path).json(&json!({"global": true}))).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "x-idempotency-key");
    // Nothing invalid was stored.
    let page: types::ListWebhookTargetsResponse =
        serde_json::from_slice(&api.get("/webhooks/targets").await.bytes).expect("list");
    assert_eq!(page.meta.total_count, 1);
    assert_eq!(v(&page.data[0]), v(&t));
}

#[tokio::test]
async fn deliveries_are_signed_and_verify() {
    let api = Api::start(fast().auto_approve_after(Duration::from_millis(200))).await;
    let key = WebhookKey::from_hex(&api.sandbox.webhook_public_key()).expect("public key is hex");
    let verifier = Verifier::new(key);
    let mut rx = Receiver::start(0).await;
    let t = create_target(&api, json!({"url": rx.url, "global": true})).await;

    let c = api.create_customer("Acme Corp", "business").await;
    let customer_id = c["id"].as_str().expect("id").to_owned();
    // Nobody reads the customer: the approval still goes out when it falls due.
    let got = rx.until("customer.kyb_status.updated").await;
    assert_eq!(
        types_of(&got),
        [
            "customer.created",
            "customer.kyb_status.created",
            "customer.updated",
            "customer.kyb_status.updated"
        ]
    );
    for g in &got {
        let event: Event = verifier
            .verify(&g.headers, &g.body, SystemTime::now())
            .expect("every delivery verifies with the sandbox's public key");
        assert_eq!(g.headers["content-type"], "application/json");
        assert!(g.headers.get("x-webhook-replay").is_none());
        let snapshot = event.payload.object().expect("an object");
        assert_eq!(snapshot["id"], json!(customer_id));
        assert_eq!(event.api_version, "1.0.0");
        // The body is exactly the spec's `Event`.
        let _: types::Event = serde_json::from_slice(&g.body).expect("types::Event");
    }
    let last = body_json(&got[3]);
    assert_eq!(last["data"]["object"]["kyb_status"], "active");
    assert_eq!(last["data"]["object"]["application_status"], "approved");
    assert_eq!(
        last["data"]["previous_attributes"],
        json!({"kyb_status": "pending"})
    );
    assert_eq!(
        body_json(&got[2])["data"]["previous_attributes"],
        json!({"application_status": "pending"})
    );
    // A tampered body does not verify.
    let mut tampered = got[3].body.to_vec();
    tampered[10] ^= 1;
    assert!(verifier
        .verify(&got[3].headers, &tampered, SystemTime::now())
        .is_err());

    // Each delivery is on record, delivered on the first attempt, payload as sent.
    let h = history_until(&api, "", |h| {
        h.data.len() == 4
            && h.data
                .iter()
                .all(|d| d.status == types::WebhookDeliveryStatus::Delivered)
    })
    .await;
    assert!(!h.has_more && h.cursor.is_none());
    let newest = &h.data[0];
    assert_eq!(newest.event_type, "customer.kyb_status.updated");
    assert_eq!(newest.endpoint_url, rx.url);
    assert_eq!(newest.attempts, 1);
    assert!(newest.delivered_at.is_some() && !newest.is_replay);
    assert_eq!(newest.replay_count, Some(0));
    assert_eq!(
        newest.payload.as_ref().map(|p| Value::Object(p.clone())),
        Some(last.clone())
    );
    let r = api.get(&format!("/webhooks/{}", newest.id.as_str())).await;
    let one: types::WebhookDelivery = serde_json::from_slice(&r.bytes).expect("delivery");
    assert_eq!(v(&one), v(newest));
    api.get("/webhooks/3AX8eEAyqWdzrD5MVnkATtH1ulh")
        .await
        .problem(404);
    // The target's health stamps moved.
    let tt: types::WebhookTarget = serde_json::from_slice(
        &api.get(&format!("/webhooks/targets/{}", t.id.as_str()))
            .await
            .bytes,
    )
    .expect("target");
    assert!(tt.time_last_healthy >= t.time_last_healthy);
    assert!(tt.time_last_attempted >= t.time_last_attempted);
}

#[tokio::test]
async fn event_filter_and_deleted_targets() {
    let api = Api::start(fast().auto_approve_after(Duration::from_millis(100))).await;
    let mut only_kyb = Receiver::start(0).await;
    let mut everything = Receiver::start(0).await;
    let mut deleted = Receiver::start(0).await;
    create_target(
        &api,
        json!({"url": only_kyb.url, "event_types": ["customer.kyb_status.updated"]}),
    )
    .await;
    create_target(&api, json!({"url": everything.url, "global": true})).await;
    let d = create_target(&api, json!({"url": deleted.url, "global": true})).await;
    Api::send(api.req(
        Method::DELETE,
        &format!("/webhooks/targets/{}", d.id.as_str()),
    ))
    .await;

    api.create_customer("Acme Corp", "business").await;
    let got = only_kyb.until("customer.kyb_status.updated").await;
    assert_eq!(types_of(&got), ["customer.kyb_status.updated"]);
    assert_eq!(
        everything.until("customer.kyb_status.updated").await.len(),
        4
    );
    only_kyb.quiet_for(Duration::from_millis(200)).await;
    deleted.quiet_for(Duration::from_millis(10)).await;
    assert_eq!(deleted.calls(), 0);
}

#[tokio::test]
async fn failed_attempts_are_retried_then_recorded() {
    let api = Api::start(
        fast()
            .webhook_max_attempts(3)
            .webhook_retry_backoff(Duration::from_millis(20))
            .webhook_timeout(Duration::from_millis(500)),
    )
    .await;
    // Fails twice, then accepts: delivered on the third attempt.
    let mut flaky = Receiver::start(2).await;
    create_target(
        &api,
        json!({"url": flaky.url, "event_types": ["customer.created"]}),
    )
    .await;
    api.create_customer_with(
        "Acme Corp",
        "business",
        &[("X-Sandbox-Skip-Auto-Approval", "true")],
    )
    .await;
    let a = flaky.next().await;
    let b = flaky.next().await;
    let c = flaky.next().await;
    assert_eq!(a.body, b.body);
    assert_eq!(b.body, c.body);
    let h = history_until(&api, "?status=delivered", |h| h.data.len() == 1).await;
    assert_eq!(h.data[0].attempts, 3);

    // Always failing (500), then unreachable: `failed` after the last attempt.
    let mut down = Receiver::start(u32::MAX).await;
    let dead = "http://127.0.0.1:9/nothing-listens-here";
    create_target(
        &api,
        json!({"url": down.url, "event_types": ["customer.kyb_status.created"]}),
    )
    .await;
    create_target(
        &api,
        json!({"url": dead, "event_types": ["customer.kyb_status.created"]}),
    )
    .await;
    api.create_customer_with(
        "Beta Corp",
        "business",
        &[("X-Sandbox-Skip-Auto-Approval", "true")],
    )
    .await;
    let h = history_until(&api, "?status=failed", |h| h.data.len() == 2).await;
    for d in &h.data {
        assert_eq!(d.attempts, 3, "{d:?}");
        assert!(d.delivered_at.is_none());
        assert_eq!(d.event_type, "customer.kyb_status.created");
    }
    let urls: Vec<&str> = h.data.iter().map(|d| d.endpoint_url.as_str()).collect();
    assert_eq!(urls, [down.url.as_str(), dead]);
    for _ in 0..3 {
        down.next().await;
    }
    down.quiet_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn each_target_gets_its_events_in_order_and_a_slow_one_holds_up_nobody() {
    let api = Api::start(
        fast()
            .webhook_max_attempts(4)
            .webhook_retry_backoff(Duration::from_millis(150)),
    )
    .await;
    // Fails its first two requests: its first event is retried, the rest wait behind it.
    let mut slow = Receiver::start(2).await;
    let mut healthy = Receiver::start(0).await;
    create_target(&api, json!({"url": slow.url, "global": true})).await;
    create_target(&api, json!({"url": healthy.url, "global": true})).await;
    api.create_customer("Acme Corp", "business").await;
    let expected = [
        "customer.created",
        "customer.kyb_status.created",
        "customer.updated",
        "customer.kyb_status.updated",
    ];
    let fast_got = healthy.until("customer.kyb_status.updated").await;
    assert_eq!(types_of(&fast_got), expected);
    assert!(
        slow.calls() < 3,
        "the healthy target was served while the slow one was still retrying"
    );
    let slow_got = slow.until("customer.kyb_status.updated").await;
    assert_eq!(
        types_of(&slow_got),
        [
            "customer.created",
            "customer.created",
            "customer.created",
            "customer.kyb_status.created",
            "customer.updated",
            "customer.kyb_status.updated"
        ]
    );
}

#[tokio::test]
async fn replays_carry_the_header_and_the_same_id() {
    let api = Api::start(fast()).await;
    let mut rx = Receiver::start(0).await;
    create_target(
        &api,
        json!({"url": rx.url, "event_types": ["customer.created"]}),
    )
    .await;
    api.create_customer_with(
        "Acme Corp",
        "business",
        &[("X-Sandbox-Skip-Auto-Approval", "true")],
    )
    .await;
    let original = rx.next().await;
    let id = body_json(&original)["id"].as_str().expect("id").to_owned();
    history_until(&api, "", |h| {
        h.data.first().is_some_and(|d| d.attempts == 1)
    })
    .await;

    let r = Api::send(api.req(Method::POST, &format!("/webhooks/events/{id}/replay"))).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let replay: types::WebhookReplayResponse = serde_json::from_slice(&r.bytes).expect("replay");
    assert_eq!(replay.webhook_id, id);
    assert_eq!(replay.status, types::WebhookReplayResponseStatus::Queued);
    assert_eq!(replay.replayed_to_count, 1);
    let again = rx.next().await;
    assert_eq!(again.headers["x-webhook-replay"], "true");
    assert_eq!(again.body, original.body, "the same event, byte for byte");
    let h = history_until(&api, "", |h| {
        h.data.first().is_some_and(|d| d.attempts == 2)
    })
    .await;
    assert_eq!(h.data.len(), 1, "a replay updates the target's record");
    assert!(h.data[0].is_replay);
    assert_eq!(h.data[0].replay_count, Some(1));

    for _ in 1..10 {
        let r = Api::send(api.req(Method::POST, &format!("/webhooks/events/{id}/replay"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    Api::send(api.req(Method::POST, &format!("/webhooks/events/{id}/replay")))
        .await
        .problem(409);
    Api::send(api.req(
        Method::POST,
        "/webhooks/events/3AX8eEAyqWdzrD5MVnkATtH1ulh/replay",
    ))
    .await
    .problem(404);
}

#[tokio::test]
async fn history_pages_and_filters() {
    let api = Api::start(fast()).await;
    let _rx1 = Receiver::start(0).await;
    let rx2 = Receiver::start(0).await;
    let rx1_url = _rx1.url.clone();
    create_target(
        &api,
        json!({"url": rx1_url, "event_types": ["customer.created", "customer.kyb_status.created"]}),
    )
    .await;
    create_target(
        &api,
        json!({"url": rx2.url, "event_types": ["customer.created"]}),
    )
    .await;
    for name in ["Acme One", "Acme Two", "Acme Three"] {
        api.create_customer_with(
            name,
            "business",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    }
    // 3 customers × (created → 2 targets, kyb_status.created → 1 target) = 9 records, 6 events.
    let all = history_until(&api, "?limit=100", |h| {
        h.data.len() == 9
            && h.data
                .iter()
                .all(|d| d.status == types::WebhookDeliveryStatus::Delivered)
    })
    .await;
    let ids: Vec<&str> = all.data.iter().map(|d| d.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest event first");

    // Pages never split an event's records; following `cursor` visits every record once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = history(&api, &query).await;
        assert!(!page.data.is_empty() && page.data.len() <= 2, "{page:?}");
        seen.extend(
            page.data
                .iter()
                .map(|d| (d.id.clone(), d.endpoint_url.clone())),
        );
        match page.cursor {
            Some(c) => {
                assert!(page.has_more);
                query = format!("?limit=2&cursor={c}");
            }
            None => {
                assert!(!page.has_more);
                break;
            }
        }
    }
    let expected: Vec<(String, String)> = all
        .data
        .iter()
        .map(|d| (d.id.clone(), d.endpoint_url.clone()))
        .collect();
    assert_eq!(seen, expected);

    let h = history(&api, "?event_type=customer.kyb_status.created").await;
    assert_eq!(h.data.len(), 3);
    let h = history(&api, "?status=pending").await;
    assert!(h.data.is_empty());
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let h = history(&api, &format!("?from={}", later.replace('+', "%2B"))).await;
    assert!(h.data.is_empty());
    let h = history(&api, "?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z").await;
    assert_eq!(
        h.data.len(),
        9,
        "an old `from` is narrowed to the retention window"
    );
    assert_eq!(
        api.get("/webhooks?status=bounced").await.problem(400)["errors"][0]["field"],
        "status"
    );
    assert_eq!(
        api.get("/webhooks?limit=0").await.problem(400)["errors"][0]["field"],
        "limit"
    );
    assert_eq!(
        api.get("/webhooks?from=yesterday").await.problem(400)["errors"][0]["field"],
        "from"
    );
    api.get("/webhooks?limit=1&limit=2").await.problem(400);
}

#[tokio::test]
async fn scenarios_simulations_and_submissions_raise_events() {
    let api = Api::start(fast().auto_approve_after(Duration::from_millis(100))).await;
    let mut rx = Receiver::start(0).await;
    create_target(&api, json!({"url": rx.url, "global": true})).await;

    // kyb_rejected: declined when due.
    api.create_customer_with(
        "Reject Corp",
        "business",
        &[("X-Sandbox-Scenario", "kyb_rejected")],
    )
    .await;
    let got = rx.until("customer.kyb_status.updated").await;
    let last = body_json(got.last().expect("one"));
    assert_eq!(last["data"]["object"]["application_status"], "declined");
    assert_eq!(last["data"]["object"]["kyb_status"], "rejected");

    // kyb_expired: created past its expiry; the decline goes out without a read.
    api.create_customer_with(
        "Expired Corp",
        "business",
        &[("X-Sandbox-Scenario", "kyb_expired")],
    )
    .await;
    let got = rx.until("customer.kyb_status.updated").await;
    let last = body_json(got.last().expect("one"));
    assert_eq!(last["data"]["object"]["application_status"], "declined");
    assert_eq!(last["data"]["object"]["decision"], "withdrawn");

    // kyb_manual_review: under review when due (which counts as submitted), then nothing.
    api.create_customer_with(
        "Review Corp",
        "business",
        &[("X-Sandbox-Scenario", "kyb_manual_review")],
    )
    .await;
    let got = rx.until("customer.updated").await;
    assert_eq!(
        types_of(&got),
        [
            "customer.created",
            "customer.kyb_status.created",
            "customer.kyb_application.submitted",
            "customer.updated"
        ],
        "as GET /sandbox/scenarios lists it"
    );
    assert_eq!(
        body_json(&got[3])["data"]["object"]["application_status"],
        "under_review"
    );

    // A submission, then a simulated approval named by its simulation id.
    let c = api
        .create_customer_with(
            "Ada Lovelace",
            "individual",
            &[("X-Sandbox-Skip-Auto-Approval", "true")],
        )
        .await;
    rx.until("customer.kyb_status.created").await;
    let app_id = c["application_id"].as_str().expect("app").to_owned();
    let r = api
        .put(
            &format!("/applications/{app_id}/individual-details"),
            &person("Ada", "Lovelace", &["individual"]),
        )
        .await;
    let d: types::IndividualDetailsResponse = serde_json::from_slice(&r.bytes).expect("details");
    for t in [
        "information_accuracy",
        "terms_of_service",
        "privacy_policy",
        "e_sign",
    ] {
        let r = api
            .post(
                &format!("/applications/{app_id}/attestations"),
                &json!({"applicant_id": d.individual.id, "attestation_type": t, "timestamp": 1_705_315_800}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    let r = api
        .post(&format!("/applications/{app_id}/submissions"), &json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let got = rx.until("customer.updated").await;
    assert_eq!(
        types_of(&got),
        ["customer.kyb_application.submitted", "customer.updated"]
    );
    let submitted = body_json(&got[0]);
    assert_eq!(submitted["data"]["object"]["application_id"], json!(app_id));
    assert_eq!(submitted["data"]["object"]["customer_id"], c["id"]);
    assert_eq!(
        body_json(&got[1])["data"]["object"]["application_status"],
        "submitted"
    );

    api.post(
        "/sandbox/simulate/onboarding",
        &json!({"type": "kyb_approve", "applicant_id": c["id"], "simulation_id": "approve-ada"}),
    )
    .await;
    let got = rx.until("customer.kyb_status.updated").await;
    for g in &got {
        assert_eq!(body_json(g)["metadata"]["simulation_id"], "approve-ada");
    }
    let h = history_until(&api, "?simulation_id=approve-ada", |h| h.data.len() == 2).await;
    assert!(h
        .data
        .iter()
        .all(|d| d.simulation_id.as_deref() == Some("approve-ada")));
    // Reading the decided customer again raises nothing new.
    api.customer(c["id"].as_str().expect("id")).await;
    rx.quiet_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn no_targets_no_deliveries_and_a_stable_key() {
    let seed = [9u8; 32];
    let a = Api::start(fast().webhook_signing_seed(seed)).await;
    let b = Api::start(fast().webhook_signing_seed(seed)).await;
    assert_eq!(
        a.sandbox.webhook_public_key(),
        b.sandbox.webhook_public_key()
    );
    assert_eq!(a.sandbox.webhook_public_key().len(), 64);
    let c = Api::start(fast()).await;
    assert_ne!(
        a.sandbox.webhook_public_key(),
        c.sandbox.webhook_public_key()
    );

    a.create_customer("Acme Corp", "business").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(history(&a, "").await.data.is_empty());
    // A target added later only gets later changes.
    let mut rx = Receiver::start(0).await;
    create_target(&a, json!({"url": rx.url, "global": true})).await;
    let c2 = a.create_customer("Beta Corp", "business").await;
    let first = rx.next().await;
    assert_eq!(body_json(&first)["type"], "customer.created");
    assert_eq!(body_json(&first)["data"]["object"]["id"], c2["id"]);
    // Shutting down stops the background task with the server.
    a.sandbox.shutdown().await;
}
