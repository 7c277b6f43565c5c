//! Webhooks: targets (`/webhooks/targets...`), delivery records (`GET /webhooks`,
//! `GET /webhooks/{event_id}`) and replays. Events are emitted by every area through
//! [`crate::events`]; [`crate::background`] signs and sends them.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;
use serde_json::Value;

use crate::events::{self, DeliveryRec, EventRec, TargetRec};
use crate::pipeline::query::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::pipeline::validate::{self, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::Tables;

/// Replays allowed per event over its lifetime.
const MAX_REPLAYS: i64 = 10;
/// Delivery records are listed for this many days.
const RETENTION_DAYS: i64 = 30;
/// Longest target URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Registers the webhook operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createWebhookTarget", create_target)
        .add("listWebhookTargets", list_targets)
        .add("getWebhookTarget", get_target)
        .add("updateWebhookTarget", update_target)
        .add("deleteWebhookTarget", delete_target)
        .add("listWebhookHistory", list_history)
        .add("getWebhookDelivery", get_delivery)
        .add("replayWebhookDelivery", replay);
}

fn target_view(t: &TargetRec) -> Result<types::WebhookTarget, ApiError> {
    build(
        types::builder::WebhookTarget::default()
            .event_types(t.event_types.clone())
            .global(t.global)
            .id(crate::ids::ksuid(&t.id))
            .time_last_attempted(t.last_attempted)
            .time_last_healthy(t.last_healthy)
            .url(t.url.clone()),
    )
}

fn delivery_view(t: &Tables, d: &DeliveryRec) -> Result<types::WebhookDelivery, ApiError> {
    let ev = t.get::<EventRec>(&d.event_id);
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
            .payload(ev.and_then(EventRec::payload))
            .replay_count(Some(ev.map_or(0, |e| e.replays)))
            .simulation_id(ev.and_then(|e| e.simulation_id.clone()))
            .status(d.status.clone()),
    )
}

/// A target id from the path; anything that is not a known KSUID is `404` (the read and delete
/// operations document no `400`).
fn target_id<'a>(call: &'a Call<'_>) -> Result<&'a str, ApiError> {
    call.id_or_404(0, "Webhook target")
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
    call.write(|tx| {
        let rec = TargetRec {
            id: tx.next_id(),
            url,
            global,
            event_types,
            last_healthy: now,
            last_attempted: now,
        };
        let reply = Reply::created(&target_view(&rec)?)?;
        tx.put(rec);
        Ok(reply)
    })
}

/// `GET /webhooks/targets`.
pub(crate) fn list_targets(call: &Call<'_>) -> Result<Reply, ApiError> {
    let page = call.query()?.page()?;
    let (data, meta) = call.read(|t| {
        let (rows, meta) = query::records::<TargetRec>(t, &page, |_| true)?;
        let data = rows
            .into_iter()
            .map(target_view)
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok::<_, ApiError>((data, meta))
    })?;
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
    let view = call
        .read(|t| t.get::<TargetRec>(id).map(target_view))
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
    call.write(|tx| {
        let Some(current) = tx.get::<TargetRec>(id) else {
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
        let reply = Reply::ok(&target_view(&next)?)?;
        tx.put(next);
        Ok(reply)
    })
}

/// `DELETE /webhooks/targets/{webhook_target_id}`; pending retries to it stop.
pub(crate) fn delete_target(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = target_id(call)?;
    call.write(|tx| match tx.delete::<TargetRec>(id) {
        Some(_) => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        None => Err(ApiError::not_found("Webhook target", id)),
    })
}

fn retention_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(RETENTION_DAYS)
}

/// `GET /webhooks/{event_id}`: the record of the first target the event went to.
pub(crate) fn get_delivery(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    let since = retention_start(call.now);
    let view = call
        .read(|t| {
            events::deliveries_of(t, id)
                .find(|d| d.created_at >= since)
                .map(|d| delivery_view(t, d))
        })
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
    let q = call.query()?;
    let mut errs = Errors::default();
    let get = |k: &str| q.filter(k);
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
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errs.push(
                    "limit",
                    "out_of_range",
                    format!("limit must be an integer between 1 and {}", MAX_LIMIT),
                );
                DEFAULT_LIMIT
            }
        },
    };
    // Empty date-times are malformed (unlike empty filters, which filter nothing).
    let from = date_param(&mut errs, "from", q.get("from"));
    let to = date_param(&mut errs, "to", q.get("to"));
    errs.finish()?;
    let event_type = get("event_type");
    let simulation_id = get("simulation_id");
    let cursor = get("cursor");
    // Records are kept 30 days; an earlier `from` is narrowed to that window.
    let since = from.map_or(retention_start(call.now), |f| {
        f.max(retention_start(call.now))
    });

    call.read(|t| {
        let mut rows: Vec<(usize, &DeliveryRec)> = t
            .scan::<DeliveryRec>()
            .enumerate()
            .filter(|(_, d)| {
                let ev = t.get::<EventRec>(&d.event_id);
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
            .map(|(_, d)| delivery_view(t, d))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let body: types::WebhookHistoryList = build(
            types::builder::WebhookHistoryList::default()
                .cursor(next)
                .data(data)
                .has_more(has_more),
        )?;
        Reply::ok(&body)
    })
}

/// `POST /webhooks/events/{event_id}/replay`: queues the event again for every target that
/// wants its type now, with `X-Webhook-Replay: true`; at most 10 times per event.
pub(crate) fn replay(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0).to_owned();
    let since = retention_start(call.now);
    call.write(|tx| {
        let recorded = events::deliveries_of(tx, &id).any(|d| d.created_at >= since);
        let Some(mut ev) = tx.get::<EventRec>(&id).filter(|_| recorded).cloned() else {
            return Err(ApiError::not_found("Webhook delivery record", &id));
        };
        if ev.replays >= MAX_REPLAYS {
            return Err(ApiError::conflict(format!(
                "Event {id} was already replayed {MAX_REPLAYS} times, the most allowed"
            )));
        }
        let targets: Vec<TargetRec> = tx
            .scan::<TargetRec>()
            .filter(|t| t.wants(&ev.event_type))
            .cloned()
            .collect();
        ev.replays += 1;
        tx.put(ev);
        for target in &targets {
            let record = match tx
                .get::<DeliveryRec>(&events::delivery_id(&id, &target.id))
                .cloned()
            {
                Some(mut r) => {
                    r.is_replay = true;
                    r.status = types::WebhookDeliveryStatus::Pending;
                    r.endpoint_url.clone_from(&target.url);
                    r
                }
                None => DeliveryRec::pending(&id, target, call.now, true),
            };
            tx.put(record);
            tx.deliver(&id, &target.id);
        }
        let body: types::WebhookReplayResponse = build(
            types::builder::WebhookReplayResponse::default()
                .replayed_to_count(i64::try_from(targets.len()).unwrap_or(i64::MAX))
                .status(types::WebhookReplayResponseStatus::Queued)
                .webhook_id(id.clone()),
        )?;
        Reply::ok(&body)
    })
}
