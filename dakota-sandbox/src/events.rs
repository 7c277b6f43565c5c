//! Webhook events raised by onboarding transitions.
//!
//! Handlers raise the events of an explicit action (`customer.created`) through the store's
//! outbox. Every other change is found by comparing each application with the state its events
//! last announced ([`crate::model::Announced`]), whoever caused it: a request, a lazy read, the
//! background timer or a simulation. [`collect`] runs under the store lock after every request
//! and every timer, so each change is announced exactly once, in order.

use chrono::SecondsFormat;
use dakota_api::types;
use serde_json::{json, Map, Value};

use crate::model::{Announced, AppRec, CustomerRec, Store};

/// Envelope version stamped on every event.
pub(crate) const API_VERSION: &str = "1.0.0";

/// An event not yet published: type and payload; id and time are given on publication.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub(crate) event_type: types::EventType,
    pub(crate) object: Map<String, Value>,
    pub(crate) previous: Map<String, Value>,
    pub(crate) simulation_id: Option<String>,
}

impl PendingEvent {
    fn new(event_type: types::EventType, object: Map<String, Value>) -> Self {
        Self {
            event_type,
            object,
            previous: Map::new(),
            simulation_id: None,
        }
    }

    fn previous(mut self, field: &str, value: &str) -> Self {
        self.previous.insert(field.to_owned(), json!(value));
        self
    }
}

/// The customer as `customer.*` events show it (the object `DecisionFeed` reads).
pub(crate) fn customer_snapshot(c: &CustomerRec, app: &AppRec) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("id".into(), json!(c.id));
    // Dakota's event catalogue names the customer `customer_id`; both are given.
    o.insert("customer_id".into(), json!(c.id));
    o.insert("name".into(), json!(c.name));
    o.insert("customer_type".into(), json!(c.kind.as_str()));
    if let Some(e) = &c.external_id {
        o.insert("external_id".into(), json!(e));
    }
    o.insert("kyb_status".into(), json!(app.kyb_status.as_str()));
    o.insert("kyc_status".into(), json!(app.kyc_status().as_str()));
    o.insert("application_id".into(), json!(app.id));
    o.insert("application_status".into(), json!(app.status.as_str()));
    if let Some(d) = app.decision {
        o.insert("decision".into(), json!(d.as_str()));
    }
    o.insert("created_at".into(), json!(c.created_at.timestamp()));
    o.insert(
        "updated_at".into(),
        json!(app.updated_at.max(c.created_at).timestamp()),
    );
    o
}

/// `customer.created` and `customer.kyb_status.created` for a new customer.
pub(crate) fn customer_created(c: &CustomerRec, app: &AppRec) -> [PendingEvent; 2] {
    let object = customer_snapshot(c, app);
    [
        PendingEvent::new(types::EventType::CustomerCreated, object.clone()),
        PendingEvent::new(types::EventType::CustomerKybStatusCreated, object),
    ]
}

/// Takes the outbox and the events of every change not announced yet, marking them announced.
pub(crate) fn collect(store: &mut Store) -> Vec<PendingEvent> {
    let mut out = std::mem::take(&mut store.outbox);
    let Store {
        customers,
        applications,
        dirty,
        all_dirty,
        customer_of,
        ..
    } = store;
    let touched = std::mem::take(dirty);
    // Only what was touched since the last collection, in customer order.
    let candidates: Vec<&CustomerRec> = if std::mem::take(all_dirty) {
        customers.values().collect()
    } else {
        let mut ids: Vec<&String> = touched.iter().filter_map(|a| customer_of.get(a)).collect();
        ids.sort();
        ids.into_iter().filter_map(|id| customers.get(id)).collect()
    };
    for c in candidates {
        let Some(app) = applications.get_mut(&c.application_id) else {
            continue;
        };
        let simulation_id = app.simulation.take();
        let current = Announced {
            status: app.status.clone(),
            kyb_status: app.kyb_status.clone(),
            submitted: app.submitted_at.is_some(),
        };
        if current == app.announced {
            continue;
        }
        let before = std::mem::replace(&mut app.announced, current.clone());
        let object = customer_snapshot(c, app);
        let mut changes = Vec::new();
        if current.submitted && !before.submitted {
            let mut o = Map::new();
            o.insert("application_id".into(), json!(app.id));
            o.insert("customer_id".into(), json!(c.id));
            if let Some(t) = app.submitted_at {
                o.insert(
                    "submitted_at".into(),
                    json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                );
            }
            changes.push(PendingEvent::new(
                types::EventType::CustomerKybApplicationSubmitted,
                o,
            ));
        }
        if current.status != before.status {
            changes.push(
                PendingEvent::new(types::EventType::CustomerUpdated, object.clone())
                    .previous("application_status", before.status.as_str()),
            );
        }
        if current.kyb_status != before.kyb_status {
            changes.push(
                PendingEvent::new(types::EventType::CustomerKybStatusUpdated, object)
                    .previous("kyb_status", before.kyb_status.as_str()),
            );
        }
        for mut e in changes {
            e.simulation_id.clone_from(&simulation_id);
            out.push(e);
        }
    }
    out
}

/// The wire envelope (the spec's `Event`) of a published event.
pub(crate) fn envelope(id: &str, created: i64, e: &PendingEvent) -> Value {
    let mut data = Map::new();
    data.insert("object".into(), Value::Object(e.object.clone()));
    if !e.previous.is_empty() {
        data.insert(
            "previous_attributes".into(),
            Value::Object(e.previous.clone()),
        );
    }
    let mut metadata = Map::new();
    metadata.insert("source".into(), json!("sandbox"));
    if let Some(s) = &e.simulation_id {
        metadata.insert("simulation_id".into(), json!(s));
    }
    json!({
        "id": id,
        "type": e.event_type.as_str(),
        "created": created,
        "api_version": API_VERSION,
        "data": data,
        "metadata": metadata,
    })
}
