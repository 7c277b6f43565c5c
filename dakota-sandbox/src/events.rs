//! The event log and its webhook fan-out.
//!
//! A resource area announces a state change with [`emit`] inside its write transaction: the
//! event is built as the spec's `Event` envelope, kept in the log (what `GET /events` lists),
//! and recorded as one pending delivery per webhook target that wants its type (what
//! `GET /webhooks` lists); the deliveries go out once the transaction commits
//! ([`crate::background`] signs and sends them). A failed request emits nothing, since its
//! transaction is undone as a whole.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dakota_api::types;
use serde_json::{json, Map, Value};

use crate::problem::{build, ApiError};
use crate::store::{Origin, Record, Schema, Tables, Tx};

/// Envelope version stamped on every event.
pub(crate) const API_VERSION: &str = "1.0.0";
/// Events kept in the log at most (what `GET /events` can list); the oldest go first.
pub(crate) const MAX_EVENTS: usize = 100_000;
/// Delivery records kept at most; the oldest go first.
pub(crate) const MAX_DELIVERY_RECORDS: usize = 10_000;

/// An event about to be emitted: type and payload; id and time are given by [`emit`].
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub(crate) event_type: types::EventType,
    pub(crate) object: Map<String, Value>,
    pub(crate) previous: Map<String, Value>,
    pub(crate) simulation_id: Option<String>,
}

impl PendingEvent {
    /// An event of `event_type` about `object`.
    pub(crate) fn new(event_type: types::EventType, object: Map<String, Value>) -> Self {
        Self {
            event_type,
            object,
            previous: Map::new(),
            simulation_id: None,
        }
    }

    /// Records a field's value before the change (`data.previous_attributes`).
    pub(crate) fn previous(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.previous.insert(field.to_owned(), value.into());
        self
    }

    /// Names the sandbox simulation that caused the event (`metadata.simulation_id`).
    pub(crate) fn simulation(mut self, id: Option<String>) -> Self {
        self.simulation_id = id;
        self
    }
}

/// One emitted event, kept as its JSON envelope.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct EventRec {
    pub(crate) id: String,
    pub(crate) event_type: types::EventType,
    /// Emission time, Unix seconds.
    pub(crate) created: i64,
    #[serde(with = "crate::store::utf8_bytes")]
    pub(crate) body: Bytes,
    pub(crate) simulation_id: Option<String>,
    pub(crate) replays: i64,
}

impl Record for EventRec {
    const KIND: &'static str = "event";
    fn id(&self) -> &str {
        &self.id
    }
}

impl EventRec {
    /// The envelope as the spec's `Event`.
    pub(crate) fn view(&self) -> Result<types::Event, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::internal(format!("could not read a stored event: {e}")))
    }

    /// The envelope as a JSON object (the `payload` of a delivery record).
    pub(crate) fn payload(&self) -> Option<Map<String, Value>> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// One registered webhook target.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TargetRec {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) global: bool,
    pub(crate) event_types: Vec<types::EventType>,
    pub(crate) last_healthy: i64,
    pub(crate) last_attempted: i64,
}

impl Record for TargetRec {
    const KIND: &'static str = "webhook_target";
    fn id(&self) -> &str {
        &self.id
    }
}

impl TargetRec {
    /// Whether the target receives events of this type.
    pub(crate) fn wants(&self, t: &types::EventType) -> bool {
        self.global || self.event_types.contains(t)
    }
}

/// One event sent (or being sent) to one target. Its id is the event id followed by the
/// target id, so records sort by event, then target.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DeliveryRec {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) endpoint_url: String,
    pub(crate) status: types::WebhookDeliveryStatus,
    pub(crate) attempts: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
    pub(crate) is_replay: bool,
}

impl Record for DeliveryRec {
    const KIND: &'static str = "webhook_delivery";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Registers the event log's records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<EventRec>()
        .record::<TargetRec>()
        .record::<DeliveryRec>();
}

/// The id of the delivery record of `event_id` to `target_id`.
pub(crate) fn delivery_id(event_id: &str, target_id: &str) -> String {
    format!("{event_id}{target_id}")
}

impl DeliveryRec {
    /// A new pending record.
    pub(crate) fn pending(
        event_id: &str,
        target: &TargetRec,
        now: DateTime<Utc>,
        is_replay: bool,
    ) -> Self {
        Self {
            id: delivery_id(event_id, &target.id),
            event_id: event_id.to_owned(),
            endpoint_url: target.url.clone(),
            status: types::WebhookDeliveryStatus::Pending,
            attempts: 0,
            created_at: now,
            delivered_at: None,
            is_replay,
        }
    }
}

/// Emits one event: logs it and queues a delivery to every target that wants it.
pub(crate) fn emit(tx: &mut Tx<'_>, e: PendingEvent) -> Result<(), ApiError> {
    let id = tx.next_id();
    let now = tx.now;
    let body = envelope(&id, now.timestamp(), &e, tx.origin.as_ref())?;
    let body = Bytes::from(
        serde_json::to_vec(&body)
            .map_err(|err| ApiError::internal(format!("could not encode an event: {err}")))?,
    );
    tx.put(EventRec {
        id: id.clone(),
        event_type: e.event_type.clone(),
        created: now.timestamp(),
        body,
        simulation_id: e.simulation_id.clone(),
        replays: 0,
    });
    tx.trim_oldest::<EventRec>(MAX_EVENTS);
    let targets: Vec<TargetRec> = tx
        .scan::<TargetRec>()
        .filter(|t| t.wants(&e.event_type))
        .cloned()
        .collect();
    for t in targets {
        tx.put(DeliveryRec::pending(&id, &t, now, false));
        tx.deliver(&id, &t.id);
    }
    tx.trim_oldest::<DeliveryRec>(MAX_DELIVERY_RECORDS);
    Ok(())
}

/// The spec's `Event` envelope of an event.
fn envelope(
    id: &str,
    created: i64,
    e: &PendingEvent,
    origin: Option<&Origin>,
) -> Result<types::Event, ApiError> {
    let data: types::EventData = build(
        types::builder::EventData::default()
            .object(e.object.clone())
            .previous_attributes(e.previous.clone()),
    )?;
    let mut metadata = Map::new();
    metadata.insert("source".into(), json!("sandbox"));
    if let Some(s) = &e.simulation_id {
        metadata.insert("simulation_id".into(), json!(s));
    }
    let mut event = types::builder::Event::default()
        .id(crate::ids::ksuid(id))
        .type_(e.event_type.clone())
        .created(created)
        .api_version(API_VERSION.to_owned())
        .data(data)
        .metadata(metadata);
    if let Some(o) = origin {
        let request: types::EventRequest = build(
            types::builder::EventRequest::default()
                .id(o.request_id.clone())
                .idempotency_key(o.idempotency_key.clone()),
        )?;
        event = event.request(Some(request));
    }
    build(event)
}

/// Delivery records of one event, in target order.
pub(crate) fn deliveries_of<'a>(
    t: &'a Tables,
    event_id: &'a str,
) -> impl Iterator<Item = &'a DeliveryRec> + 'a {
    t.after::<DeliveryRec>(event_id)
        .take_while(move |d| d.event_id == event_id)
}

/// Marks a delivery failed without an attempt (target deleted, queue full, no HTTP client).
pub(crate) fn fail_delivery(tx: &mut Tx<'_>, event_id: &str, target_id: &str) {
    let id = delivery_id(event_id, target_id);
    if let Some(mut d) = tx.get::<DeliveryRec>(&id).cloned() {
        d.status = types::WebhookDeliveryStatus::Failed;
        tx.put(d);
    }
}
