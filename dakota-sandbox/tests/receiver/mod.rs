//! A local webhook endpoint for the tests of the resource areas: registers itself as a global
//! target, verifies every delivery's signature and hands the events over in order.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use dakota_ext::webhook::{Verifier, WebhookKey};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::common::Api;

/// Events received by a global webhook target.
pub struct Hooks {
    rx: mpsc::UnboundedReceiver<Result<Value, String>>,
    task: tokio::task::JoinHandle<()>,
    seen: Vec<Value>,
}

impl Hooks {
    /// Starts the endpoint and registers it with the sandbox as a global target.
    pub async fn register(api: &Api) -> Hooks {
        let (tx, rx) = mpsc::unbounded_channel::<Result<Value, String>>();
        let key = WebhookKey::from_hex(&api.sandbox.webhook_public_key()).expect("webhook key");
        let verifier = Verifier::new(key);
        async fn hook(
            State((tx, verifier)): State<(mpsc::UnboundedSender<Result<Value, String>>, Verifier)>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let got = verifier
                .verify_bytes(&headers, &body, SystemTime::now())
                .map_err(|e| format!("a delivery that does not verify: {e}"))
                .and_then(|b| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string()));
            let _ = tx.send(got);
            StatusCode::OK
        }
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state((tx, verifier));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let r = api
            .post("/webhooks/targets", &json!({"url": url, "global": true}))
            .await;
        assert_eq!(
            r.status.as_u16(),
            201,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        Hooks {
            rx,
            task,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 10 s) until an event of `event_type` whose `data.object` has `field` =
    /// `value` arrives, and returns it.
    pub async fn wait_for(&mut self, event_type: &str, field: &str, value: &str) -> Value {
        let matches = |e: &Value| {
            e["type"] == event_type && e["data"]["object"][field].as_str() == Some(value)
        };
        if let Some(e) = self.seen.iter().find(|e| matches(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {event_type} with {field}={value} within 10 s; got {:?}",
                        self.seen
                            .iter()
                            .map(|e| e["type"].clone())
                            .collect::<Vec<_>>()
                    )
                })
                .expect("receiver open")
                .unwrap_or_else(|e| panic!("{e}"));
            self.seen.push(next.clone());
            if matches(&next) {
                return next;
            }
        }
    }

    /// Types of every event received so far (after draining what has arrived).
    pub fn types(&mut self) -> Vec<String> {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e.unwrap_or_else(|e| panic!("{e}")));
        }
        self.seen
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every event of `GET /events` (newest first), walking all pages.
pub async fn all_events(api: &Api) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/events?limit=100&starting_after={a}"),
            None => "/events?limit=100".to_owned(),
        };
        let r = api.get(&path).await;
        assert_eq!(
            r.status.as_u16(),
            200,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        let page = r.json();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        out.extend(data);
        if page["meta"]["has_more_after"] != json!(true) {
            return out;
        }
    }
}

/// Events of `GET /events` of this type whose `data.object` has `field` = `value`.
pub async fn events_of(api: &Api, event_type: &str, field: &str, value: &str) -> Vec<Value> {
    all_events(api)
        .await
        .into_iter()
        .filter(|e| e["type"] == event_type && e["data"]["object"][field].as_str() == Some(value))
        .collect()
}
