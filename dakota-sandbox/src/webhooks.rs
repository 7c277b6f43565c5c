//! Webhooks: targets (`/webhooks/targets...`), delivery records (`GET /webhooks`,
//! `GET /webhooks/{event_id}`), replays, and the background task that signs and POSTs every
//! event and fires timed onboarding transitions.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dakota_api::types;
use dakota_ext::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::events::{self, PendingEvent};
use crate::page::{self, PageQuery};
use crate::problem::{build, ApiError};
use crate::server::{Call, Reply};
use crate::state::{lock, SandboxState};
use crate::validate::{self, Errors};

/// Header set to `true` on a delivery caused by `POST /webhooks/events/{event_id}/replay`.
pub const WEBHOOK_REPLAY_HEADER: &str = "x-webhook-replay";

/// Replays allowed per event over its lifetime.
const MAX_REPLAYS: i64 = 10;
/// Delivery records are kept (and listed) for this many days.
const RETENTION_DAYS: i64 = 30;
/// At most this many delivery records are kept; the oldest go first.
const MAX_DELIVERY_RECORDS: usize = 10_000;
/// Jobs waiting for the background task; when full, new deliveries are recorded as failed.
const QUEUE_CAPACITY: usize = 4096;
/// Longest target URL accepted.
const MAX_URL_LEN: usize = 2048;

/// One registered target.
#[derive(Debug, Clone)]
pub(crate) struct TargetRec {
    id: String,
    url: String,
    global: bool,
    event_types: Vec<types::EventType>,
    last_healthy: i64,
    last_attempted: i64,
}

impl TargetRec {
    fn wants(&self, t: &types::EventType) -> bool {
        self.global || self.event_types.contains(t)
    }

    fn view(&self) -> Result<types::WebhookTarget, ApiError> {
        build(
            types::builder::WebhookTarget::default()
                .event_types(self.event_types.clone())
                .global(self.global)
                .id(crate::model::ksuid(&self.id))
                .time_last_attempted(self.last_attempted)
                .time_last_healthy(self.last_healthy)
                .url(self.url.clone()),
        )
    }
}

/// One published event (kept while a delivery record refers to it).
#[derive(Debug, Clone)]
struct EventRec {
    event_type: types::EventType,
    body: Bytes,
    payload: Map<String, Value>,
    simulation_id: Option<String>,
    replays: i64,
}

/// One event sent (or being sent) to one target.
#[derive(Debug, Clone)]
struct DeliveryRec {
    event_id: String,
    target_id: String,
    endpoint_url: String,
    status: types::WebhookDeliveryStatus,
    attempts: i64,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    is_replay: bool,
}

/// Targets, published events and delivery records of one sandbox.
#[derive(Debug, Default)]
pub(crate) struct Webhooks {
    targets: BTreeMap<String, TargetRec>,
    events: HashMap<String, EventRec>,
    deliveries: VecDeque<DeliveryRec>,
}

impl Webhooks {
    fn record_mut(&mut self, event_id: &str, target_id: &str) -> Option<&mut DeliveryRec> {
        self.deliveries
            .iter_mut()
            .rev()
            .find(|d| d.event_id == event_id && d.target_id == target_id)
    }

    fn view(&self, d: &DeliveryRec) -> Result<types::WebhookDelivery, ApiError> {
        let ev = self.events.get(&d.event_id);
        build(
            types::builder::WebhookDelivery::default()
                .attempts(d.attempts)
                .created_at(d.created_at)
                .delivered_at(d.delivered_at)
                .endpoint_url(d.endpoint_url.clone())
                .event_type(
                    ev.map(|e| e.event_type.as_str().to_owned())
                        .unwrap_or_default(),
                )
                .id(d.event_id.clone())
                .is_replay(d.is_replay)
                .payload(ev.map(|e| e.payload.clone()))
                .replay_count(Some(ev.map_or(0, |e| e.replays)))
                .simulation_id(ev.and_then(|e| e.simulation_id.clone()))
                .status(d.status.clone()),
        )
    }

    /// Drops the oldest records beyond [`MAX_DELIVERY_RECORDS`] and events nobody refers to.
    fn trim(&mut self) {
        if self.deliveries.len() <= MAX_DELIVERY_RECORDS {
            return;
        }
        let excess = self.deliveries.len() - MAX_DELIVERY_RECORDS + MAX_DELIVERY_RECORDS / 10;
        self.deliveries.drain(..excess.min(self.deliveries.len()));
        let live: std::collections::HashSet<&str> = self
            .deliveries
            .iter()
            .map(|d| d.event_id.as_str())
            .collect();
        let dead: Vec<String> = self
            .events
            .keys()
            .filter(|k| !live.contains(k.as_str()))
            .cloned()
            .collect();
        for k in dead {
            self.events.remove(&k);
        }
    }
}

/// Work for the background task.
#[derive(Debug)]
pub(crate) enum Job {
    /// Send one event to one target.
    Deliver(Delivery),
    /// Apply the application's due transitions at `at` and publish their events.
    Fire {
        at: DateTime<Utc>,
        application_id: String,
    },
}

/// One event on its way to one target.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    event_id: String,
    target_id: String,
    url: String,
    body: Bytes,
    replay: bool,
}

/// The job queue between request handlers and the background task.
#[derive(Debug)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Queue {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

/// How one delivery attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Delivered,
    Retrying,
    Failed,
}

impl SandboxState {
    /// Hex of the Ed25519 public key that verifies this sandbox's webhook deliveries.
    pub fn webhook_public_key(&self) -> String {
        self.inner.config.webhook_signer.public_key_hex()
    }

    /// The background task: delivers webhooks (signing, retries, delivery records) and fires
    /// timed onboarding transitions when they fall due. [`crate::Sandbox`] spawns it; when
    /// serving [`crate::router`] yourself, spawn it once (`tokio::spawn`) and abort it on
    /// shutdown. Returns `None` once taken. Without it, transitions still apply on the next
    /// read, but no webhook is sent (deliveries are recorded as `failed` once the queue is full).
    pub fn take_background_task(&self) -> Option<BoxFuture<'static, ()>> {
        let rx = lock(&self.inner.queue.rx).take()?;
        let state = self.clone();
        Some(Box::pin(run(state, rx)))
    }

    /// Asks the background task to apply `application_id`'s transitions due at `at`.
    pub(crate) fn schedule(&self, at: DateTime<Utc>, application_id: &str) {
        let job = Job::Fire {
            at,
            application_id: application_id.to_owned(),
        };
        if self.inner.queue.tx.try_send(job).is_err() {
            tracing::debug!(
                application_id,
                "timer queue full; the transition applies on the next read"
            );
        }
    }

    /// Publishes the events of every change since the last call (see [`crate::events`]).
    pub(crate) fn flush_events(&self) {
        let now = Utc::now();
        let mut wh = lock(&self.inner.webhooks);
        let pending = {
            let mut store = lock(&self.inner.store);
            events::collect(&mut store)
        };
        if pending.is_empty() || wh.targets.is_empty() {
            return;
        }
        for e in pending {
            self.publish(&mut wh, &e, now);
        }
        wh.trim();
    }

    /// Records one event and queues it for every target that wants it.
    fn publish(&self, wh: &mut Webhooks, e: &PendingEvent, now: DateTime<Utc>) {
        let targets: Vec<(String, String)> = wh
            .targets
            .values()
            .filter(|t| t.wants(&e.event_type))
            .map(|t| (t.id.clone(), t.url.clone()))
            .collect();
        if targets.is_empty() {
            return;
        }
        let id = self.next_id(now);
        let envelope = events::envelope(&id, now.timestamp(), e);
        let body = match serde_json::to_vec(&envelope) {
            Ok(b) => Bytes::from(b),
            Err(err) => {
                tracing::error!(error = %err, "could not encode a webhook event");
                return;
            }
        };
        let Value::Object(payload) = envelope else {
            return;
        };
        wh.events.insert(
            id.clone(),
            EventRec {
                event_type: e.event_type.clone(),
                body: body.clone(),
                payload,
                simulation_id: e.simulation_id.clone(),
                replays: 0,
            },
        );
        for (target_id, url) in targets {
            wh.deliveries.push_back(DeliveryRec {
                event_id: id.clone(),
                target_id: target_id.clone(),
                endpoint_url: url.clone(),
                status: types::WebhookDeliveryStatus::Pending,
                attempts: 0,
                created_at: now,
                delivered_at: None,
                is_replay: false,
            });
            self.enqueue(
                wh,
                Delivery {
                    event_id: id.clone(),
                    target_id,
                    url,
                    body: body.clone(),
                    replay: false,
                },
            );
        }
    }

    /// Hands a delivery to the background task without waiting; a full queue fails it.
    fn enqueue(&self, wh: &mut Webhooks, d: Delivery) {
        if let Err(e) = self.inner.queue.tx.try_send(Job::Deliver(d)) {
            let (mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) = e;
            if let Job::Deliver(d) = job {
                tracing::warn!(event_id = %d.event_id, target = %d.target_id, "webhook queue unavailable; delivery failed");
                if let Some(r) = wh.record_mut(&d.event_id, &d.target_id) {
                    r.status = types::WebhookDeliveryStatus::Failed;
                }
            }
        }
    }

    /// Books one attempt on the delivery record and the target.
    fn record_attempt(&self, d: &Delivery, outcome: Attempt) {
        let now = Utc::now();
        let mut wh = lock(&self.inner.webhooks);
        if let Some(t) = wh.targets.get_mut(&d.target_id) {
            t.last_attempted = now.timestamp();
            if outcome == Attempt::Delivered {
                t.last_healthy = now.timestamp();
            }
        }
        if let Some(r) = wh.record_mut(&d.event_id, &d.target_id) {
            r.attempts = r.attempts.saturating_add(1);
            r.status = match outcome {
                Attempt::Delivered => {
                    r.delivered_at = Some(now);
                    types::WebhookDeliveryStatus::Delivered
                }
                Attempt::Retrying => types::WebhookDeliveryStatus::Pending,
                Attempt::Failed => types::WebhookDeliveryStatus::Failed,
            };
        }
    }

    /// Marks a delivery failed without an attempt (target deleted, no HTTP client).
    fn abandon(&self, d: &Delivery) {
        let mut wh = lock(&self.inner.webhooks);
        if let Some(r) = wh.record_mut(&d.event_id, &d.target_id) {
            r.status = types::WebhookDeliveryStatus::Failed;
        }
    }

    fn target_exists(&self, id: &str) -> bool {
        lock(&self.inner.webhooks).targets.contains_key(id)
    }
}

/// Sleeps for `d`, or forever when there is nothing to wait for.
async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The background task's loop: timers in a heap, deliveries in a `JoinSet` (aborted with it).
async fn run(state: SandboxState, mut rx: mpsc::Receiver<Job>) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dakota-sandbox/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: webhook deliveries will fail");
            None
        }
    };
    let mut timers: BinaryHeap<Reverse<(DateTime<Utc>, String)>> = BinaryHeap::new();
    // One delivery in flight per target, the rest queued behind it: a target receives its
    // events in the order they happened, and a slow target holds up nobody else.
    let mut inflight: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut waiting: HashMap<String, VecDeque<Delivery>> = HashMap::new();
    let start = |inflight: &mut JoinSet<()>,
                 running: &mut HashMap<tokio::task::Id, String>,
                 d: Delivery| match &client {
        Some(c) => {
            let target = d.target_id.clone();
            let handle = inflight.spawn(deliver(state.clone(), c.clone(), d));
            running.insert(handle.id(), target);
        }
        None => state.abandon(&d),
    };
    loop {
        let wait = timers
            .peek()
            .map(|Reverse((at, _))| (*at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            job = rx.recv() => match job {
                None => break,
                Some(Job::Fire { at, application_id }) => timers.push(Reverse((at, application_id))),
                Some(Job::Deliver(d)) => {
                    if client.is_none() {
                        state.abandon(&d);
                    } else if let Some(queue) = waiting.get_mut(&d.target_id) {
                        queue.push_back(d);
                    } else {
                        waiting.insert(d.target_id.clone(), VecDeque::new());
                        start(&mut inflight, &mut running, d);
                    }
                }
            },
            () = sleep_opt(wait) => {
                // A timer may wake a hair before the wall clock reaches `at`.
                let horizon = Utc::now() + chrono::Duration::milliseconds(5);
                let mut fired = false;
                while timers.peek().is_some_and(|Reverse((at, _))| *at <= horizon) {
                    let Some(Reverse((at, application_id))) = timers.pop() else {
                        break;
                    };
                    let now = Utc::now().max(at);
                    lock(&state.inner.store).app_mut(&application_id, now);
                    fired = true;
                }
                if fired {
                    state.flush_events();
                }
            }
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        if e.is_panic() {
                            tracing::error!("a webhook delivery task panicked");
                        }
                        e.id()
                    }
                };
                // The target's next delivery, if any, goes out now.
                if let Some(target) = running.remove(&id) {
                    match waiting.get_mut(&target).and_then(VecDeque::pop_front) {
                        Some(next) => start(&mut inflight, &mut running, next),
                        None => {
                            waiting.remove(&target);
                        }
                    }
                }
            }
        }
    }
}

/// Sends one event to one target: signed at each attempt, retried with doubling backoff on a
/// non-2xx answer or a transport error, booked after every attempt.
async fn deliver(state: SandboxState, client: reqwest::Client, d: Delivery) {
    let cfg = state.config();
    let attempts = cfg.webhook_max_attempts.max(1);
    let mut backoff = cfg.webhook_retry_backoff;
    for n in 1..=attempts {
        if !state.target_exists(&d.target_id) {
            state.abandon(&d);
            return;
        }
        let (ts, sig) = cfg.webhook_signer.sign_now(&d.body);
        let mut req = client
            .post(&d.url)
            .timeout(cfg.webhook_timeout)
            .header(TIMESTAMP_HEADER, ts)
            .header(SIGNATURE_HEADER, sig)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone());
        if d.replay {
            req = req.header(WEBHOOK_REPLAY_HEADER, "true");
        }
        let delivered = match req.send().await {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) => {
                tracing::debug!(event_id = %d.event_id, url = %d.url, status = %resp.status(), attempt = n, "webhook not accepted");
                false
            }
            Err(e) => {
                tracing::debug!(event_id = %d.event_id, url = %d.url, error = %e, attempt = n, "webhook delivery failed");
                false
            }
        };
        let outcome = if delivered {
            Attempt::Delivered
        } else if n == attempts {
            Attempt::Failed
        } else {
            Attempt::Retrying
        };
        state.record_attempt(&d, outcome);
        if outcome != Attempt::Retrying {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(Duration::from_secs(3600));
    }
}

// ------------------------------------------ handlers ------------------------------------------

/// A target id from the path; anything that is not a known KSUID is `404` (the read and delete
/// operations document no `400`).
fn target_id<'a>(call: &'a Call<'_>) -> Result<&'a str, ApiError> {
    let raw = call.params.first().map(String::as_str).unwrap_or_default();
    if crate::ids::is_ksuid(raw) {
        Ok(raw)
    } else {
        Err(ApiError::not_found("Webhook target", raw))
    }
}

/// Checks `url`: an absolute `http`/`https` URL with a host.
fn check_url(errs: &mut Errors, v: Option<&Value>) -> Option<String> {
    match v {
        None => {
            errs.push("url", "required", "url is required");
            None
        }
        Some(Value::String(s)) => {
            let ok = s.len() <= MAX_URL_LEN
                && validate::is_uri(s)
                && reqwest::Url::parse(s).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some_and(|h| !h.is_empty())
                });
            if ok {
                Some(s.clone())
            } else {
                errs.push(
                    "url",
                    "invalid_format",
                    format!(
                        "url must be an absolute http(s) URL of at most {MAX_URL_LEN} characters"
                    ),
                );
                None
            }
        }
        Some(_) => {
            errs.push("url", "invalid_type", "url must be a string");
            None
        }
    }
}

fn check_global(errs: &mut Errors, v: Option<&Value>) -> Option<bool> {
    match v {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errs.push("global", "invalid_type", "global must be a boolean");
            None
        }
    }
}

/// Checks `event_types`: known event types, no repeats. `None` when absent or not an array.
fn check_event_types(errs: &mut Errors, v: Option<&Value>) -> Option<Vec<types::EventType>> {
    let items = match v {
        None => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.push(
                "event_types",
                "invalid_type",
                "event_types must be an array of event types",
            );
            return None;
        }
    };
    let mut out: Vec<types::EventType> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("event_types[{i}]");
        let Value::String(s) = item else {
            errs.push(field, "invalid_type", "must be a string");
            continue;
        };
        let t = types::EventType::from(s.as_str());
        if t.is_unknown() {
            errs.push(field, "invalid_enum", format!("'{s}' is not an event type"));
        } else if out.contains(&t) {
            errs.push(
                field,
                "duplicate",
                format!("'{s}' is listed more than once"),
            );
        } else {
            out.push(t);
        }
    }
    Some(out)
}

fn needs_event_types(errs: &mut Errors, global: bool, event_types: &[types::EventType]) {
    if !global && event_types.is_empty() {
        errs.push(
            "event_types",
            "required",
            "name at least one event type, or set global to true",
        );
    }
}

/// `POST /webhooks/targets`.
pub(crate) fn create_target(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let obj = validate::object(&body)?;
    let mut errs = Errors::default();
    let url = check_url(&mut errs, obj.get("url"));
    let global = check_global(&mut errs, obj.get("global")).unwrap_or(false);
    let event_types = check_event_types(&mut errs, obj.get("event_types")).unwrap_or_default();
    if errs.0.is_empty() {
        needs_event_types(&mut errs, global, &event_types);
    }
    errs.finish()?;
    let Some(url) = url else {
        return Err(ApiError::field("url", "required", "url is required"));
    };
    let now = call.now.timestamp();
    let rec = TargetRec {
        id: call.state.next_id(call.now),
        url,
        global,
        event_types,
        last_healthy: now,
        last_attempted: now,
    };
    let reply = Reply::json(StatusCode::CREATED, &rec.view()?)?;
    lock(&call.state.inner.webhooks)
        .targets
        .insert(rec.id.clone(), rec);
    Ok(reply)
}

/// `GET /webhooks/targets`.
pub(crate) fn list_targets(call: &Call<'_>) -> Result<Reply, ApiError> {
    let pairs = call.query_pairs()?;
    let q = PageQuery::parse(&pairs)?;
    let rows: Vec<(String, types::WebhookTarget)> = lock(&call.state.inner.webhooks)
        .targets
        .values()
        .map(|t| Ok((t.id.clone(), t.view()?)))
        .collect::<Result<_, ApiError>>()?;
    let (data, meta) = page::paginate(rows, &q, true)?;
    let body: types::ListWebhookTargetsResponse = build(
        types::builder::ListWebhookTargetsResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::json(StatusCode::OK, &body)
}

/// `GET /webhooks/targets/{webhook_target_id}`.
pub(crate) fn get_target(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = target_id(call)?;
    let view = lock(&call.state.inner.webhooks)
        .targets
        .get(id)
        .map(TargetRec::view)
        .ok_or_else(|| ApiError::not_found("Webhook target", id))??;
    Reply::json(StatusCode::OK, &view)
}

/// `PATCH /webhooks/targets/{webhook_target_id}`: fields present replace, absent ones stay.
pub(crate) fn update_target(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = target_id(call)?;
    let body = call.json()?;
    let obj = validate::object(&body)?;
    let mut errs = Errors::default();
    if obj.contains_key("url") {
        errs.push(
            "url",
            "immutable",
            "a target's url cannot be changed; create a new target instead",
        );
    }
    let global = check_global(&mut errs, obj.get("global"));
    let event_types = check_event_types(&mut errs, obj.get("event_types"));
    let mut wh = lock(&call.state.inner.webhooks);
    let Some(current) = wh.targets.get(id) else {
        return Err(ApiError::not_found("Webhook target", id));
    };
    let mut next = current.clone();
    if let Some(g) = global {
        next.global = g;
    }
    if let Some(t) = event_types {
        next.event_types = t;
    }
    if errs.0.is_empty() {
        needs_event_types(&mut errs, next.global, &next.event_types);
    }
    errs.finish()?;
    let reply = Reply::json(StatusCode::OK, &next.view()?)?;
    wh.targets.insert(id.to_owned(), next);
    Ok(reply)
}

/// `DELETE /webhooks/targets/{webhook_target_id}`; pending retries to it stop.
pub(crate) fn delete_target(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = target_id(call)?;
    match lock(&call.state.inner.webhooks).targets.remove(id) {
        Some(_) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        None => Err(ApiError::not_found("Webhook target", id)),
    }
}

fn retention_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(RETENTION_DAYS)
}

/// `GET /webhooks/{event_id}`: the record of the first target the event went to.
pub(crate) fn get_delivery(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.params.first().map(String::as_str).unwrap_or_default();
    let since = retention_start(call.now);
    let wh = lock(&call.state.inner.webhooks);
    let view = wh
        .deliveries
        .iter()
        .find(|d| d.event_id == id && d.created_at >= since)
        .map(|d| wh.view(d))
        .ok_or_else(|| ApiError::not_found("Webhook delivery record", id))??;
    Reply::json(StatusCode::OK, &view)
}

fn date_param(errs: &mut Errors, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errs.push(
                field,
                "invalid_format",
                format!("must be an RFC 3339 date-time ({e})"),
            );
            None
        }
    }
}

/// `GET /webhooks`: records grouped by event, newest event first; a page never splits an
/// event's records, and `cursor` is the id of the last event on the page.
pub(crate) fn list_history(call: &Call<'_>) -> Result<Reply, ApiError> {
    let pairs = call.query_pairs()?;
    let mut errs = Errors::default();
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in &pairs {
        if seen.contains(&k.as_str()) {
            errs.push(
                k.clone(),
                "duplicate",
                format!("query parameter '{k}' is given more than once"),
            );
        } else {
            seen.push(k);
        }
    }
    let get = |k: &str| pairs.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    let status = match get("status") {
        None => None,
        Some(s @ ("delivered" | "failed" | "pending")) => {
            Some(types::WebhookDeliveryStatus::from(s))
        }
        Some(_) => {
            errs.push(
                "status",
                "invalid_enum",
                "must be one of delivered, failed, pending",
            );
            None
        }
    };
    let limit = match get("limit") {
        None => page::DEFAULT_LIMIT,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=page::MAX_LIMIT).contains(&n) => n,
            _ => {
                errs.push(
                    "limit",
                    "out_of_range",
                    format!("limit must be an integer between 1 and {}", page::MAX_LIMIT),
                );
                page::DEFAULT_LIMIT
            }
        },
    };
    let from = date_param(&mut errs, "from", get("from"));
    let to = date_param(&mut errs, "to", get("to"));
    errs.finish()?;
    let event_type = get("event_type");
    let simulation_id = get("simulation_id");
    let cursor = get("cursor");
    // Records are kept 30 days; an earlier `from` is narrowed to that window.
    let since = from.map_or(retention_start(call.now), |f| {
        f.max(retention_start(call.now))
    });

    let wh = lock(&call.state.inner.webhooks);
    let mut rows: Vec<(usize, &DeliveryRec)> = wh
        .deliveries
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            let ev = wh.events.get(&d.event_id);
            d.created_at >= since
                && to.is_none_or(|t| d.created_at <= t)
                && status.as_ref().is_none_or(|s| &d.status == s)
                && event_type.is_none_or(|t| ev.is_some_and(|e| e.event_type.as_str() == t))
                && simulation_id
                    .is_none_or(|s| ev.is_some_and(|e| e.simulation_id.as_deref() == Some(s)))
                && cursor.is_none_or(|c| d.event_id.as_str() < c)
        })
        .collect();
    // Event ids are time-ordered KSUIDs: newest event first, its records in creation order.
    rows.sort_by(|(ia, a), (ib, b)| b.event_id.cmp(&a.event_id).then(ia.cmp(ib)));
    let mut end = 0;
    while end < rows.len() {
        let group = &rows[end].1.event_id;
        let group_len = rows[end..]
            .iter()
            .take_while(|(_, d)| &d.event_id == group)
            .count();
        if end > 0 && end + group_len > limit {
            break;
        }
        end += group_len;
        if end >= limit {
            break;
        }
    }
    let has_more = end < rows.len();
    let next = if has_more {
        rows.get(end.saturating_sub(1))
            .map(|(_, d)| d.event_id.clone())
    } else {
        None
    };
    let data = rows[..end]
        .iter()
        .map(|(_, d)| wh.view(d))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let body: types::WebhookHistoryList = build(
        types::builder::WebhookHistoryList::default()
            .cursor(next)
            .data(data)
            .has_more(has_more),
    )?;
    Reply::json(StatusCode::OK, &body)
}

/// `POST /webhooks/events/{event_id}/replay`: queues the event again for every target that
/// wants its type now, with `X-Webhook-Replay: true`; at most 10 times per event.
pub(crate) fn replay(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call
        .params
        .first()
        .map(String::as_str)
        .unwrap_or_default()
        .to_owned();
    let since = retention_start(call.now);
    let mut wh = lock(&call.state.inner.webhooks);
    let recorded = wh
        .deliveries
        .iter()
        .any(|d| d.event_id == id && d.created_at >= since);
    let Some(ev) = wh.events.get(&id).filter(|_| recorded).cloned() else {
        return Err(ApiError::not_found("Webhook delivery record", &id));
    };
    if ev.replays >= MAX_REPLAYS {
        return Err(ApiError::conflict(format!(
            "Event {id} was already replayed {MAX_REPLAYS} times, the most allowed"
        )));
    }
    let targets: Vec<(String, String)> = wh
        .targets
        .values()
        .filter(|t| t.wants(&ev.event_type))
        .map(|t| (t.id.clone(), t.url.clone()))
        .collect();
    if let Some(e) = wh.events.get_mut(&id) {
        e.replays += 1;
    }
    for (target_id, url) in &targets {
        match wh.record_mut(&id, target_id) {
            Some(r) => {
                r.is_replay = true;
                r.status = types::WebhookDeliveryStatus::Pending;
                r.endpoint_url.clone_from(url);
            }
            None => wh.deliveries.push_back(DeliveryRec {
                event_id: id.clone(),
                target_id: target_id.clone(),
                endpoint_url: url.clone(),
                status: types::WebhookDeliveryStatus::Pending,
                attempts: 0,
                created_at: call.now,
                delivered_at: None,
                is_replay: true,
            }),
        }
        call.state.enqueue(
            &mut wh,
            Delivery {
                event_id: id.clone(),
                target_id: target_id.clone(),
                url: url.clone(),
                body: ev.body.clone(),
                replay: true,
            },
        );
    }
    let body: types::WebhookReplayResponse = build(
        types::builder::WebhookReplayResponse::default()
            .replayed_to_count(i64::try_from(targets.len()).unwrap_or(i64::MAX))
            .status(types::WebhookReplayResponseStatus::Queued)
            .webhook_id(id),
    )?;
    Reply::json(StatusCode::OK, &body)
}
