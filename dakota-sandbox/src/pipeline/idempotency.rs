//! Idempotency keys: the same key and request replay the stored `2xx` answer; the slot of a
//! request that failed is given back, so memory only holds successful answers (at most
//! [`MAX_STORED`], each for [`RETENTION_HOURS`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::durable::IdemRow;
use crate::problem::ApiError;
use crate::state::lock;

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "x-idempotency-key";

/// Stored answers kept at most (the oldest go first).
pub(crate) const MAX_STORED: usize = 100_000;
/// How long a stored answer is replayed.
pub(crate) const RETENTION_HOURS: i64 = 24;

/// A response kept for idempotent replay.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) fingerprint: [u8; 32],
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) body: Bytes,
}

/// One idempotency key: locked while a request with it runs, holding the stored response after.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<Stored>>>;

/// Slots by scope and key.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<String, Slot>,
    /// Keys with a stored answer, oldest first.
    stored: VecDeque<(DateTime<Utc>, String)>,
}

/// The name of one key's slot (how it is stored in a data dir).
pub(crate) fn slot_key(scope: &str, key: &str) -> String {
    format!("{scope}\u{0}{key}")
}

impl Idempotency {
    /// The slot of one idempotency key in one scope.
    pub(crate) fn slot(&self, scope: &str, key: &str) -> Slot {
        let mut slots = lock(&self.slots);
        slots
            .map
            .entry(slot_key(scope, key))
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None)))
            .clone()
    }

    /// Slots holding the answers read back from a data dir (oldest first).
    pub(crate) fn restore(&self, rows: Vec<IdemRow>) {
        let mut slots = lock(&self.slots);
        for row in rows {
            let Ok(status) = StatusCode::from_u16(row.status) else {
                continue;
            };
            let stored = Stored {
                fingerprint: row.fingerprint,
                status,
                content_type: row
                    .content_type
                    .and_then(|c| HeaderValue::from_str(&c).ok()),
                body: Bytes::from(row.body),
            };
            slots.stored.push_back((row.stored_at, row.slot.clone()));
            slots
                .map
                .insert(row.slot, Arc::new(tokio::sync::Mutex::new(Some(stored))));
        }
    }

    /// Records that `slot` now holds an answer, and forgets the answers past retention;
    /// returns the slot names forgotten.
    pub(crate) fn stored(&self, scope: &str, key: &str, now: DateTime<Utc>) -> Vec<String> {
        let mut slots = lock(&self.slots);
        slots.stored.push_back((now, slot_key(scope, key)));
        let horizon = now - chrono::Duration::hours(RETENTION_HOURS);
        let mut forgotten = Vec::new();
        while let Some((at, k)) = slots.stored.front().cloned() {
            if at > horizon && slots.stored.len() <= MAX_STORED {
                break;
            }
            slots.stored.pop_front();
            forgotten.push(k.clone());
            let idle = slots
                .map
                .get(&k)
                .is_some_and(|s| Arc::strong_count(s) == 1 && s.try_lock().is_ok());
            if idle {
                slots.map.remove(&k);
            }
        }
        forgotten
    }

    /// Gives back the slot of a request that stored nothing, unless another request with
    /// the same key is waiting on it.
    pub(crate) fn release(&self, scope: &str, key: &str, slot: Slot) {
        let mut slots = lock(&self.slots);
        let k = slot_key(scope, key);
        let reclaim = slots.map.get(&k).is_some_and(|s| {
            Arc::ptr_eq(s, &slot)
                // the map's reference and ours: nobody else holds or waits for it
                && Arc::strong_count(s) == 2
                && s.try_lock().is_ok_and(|g| g.is_none())
        });
        if reclaim {
            slots.map.remove(&k);
        }
    }

    /// Number of slots held (answers stored plus requests running).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.slots).map.len()
    }
}

/// Hash of the request a key was used with.
pub(crate) fn fingerprint(parts: &Parts, body: &Bytes) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(parts.uri.path().as_bytes());
    h.update([0]);
    h.update(parts.uri.query().unwrap_or_default().as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// The request's `x-idempotency-key` (a UUID, normalized).
pub(crate) fn key_of(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Err(ApiError::field(
            IDEMPOTENCY_KEY_HEADER,
            "required",
            "The x-idempotency-key header is required on this request",
        ));
    };
    let parsed = raw
        .to_str()
        .ok()
        .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok());
    match parsed {
        Some(u) => Ok(u.hyphenated().to_string()),
        None => Err(ApiError::field(
            IDEMPOTENCY_KEY_HEADER,
            "invalid_format",
            "The x-idempotency-key header must be a UUID",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failed_slots_are_reclaimed_stored_ones_kept() {
        let idem = Idempotency::default();
        let slot = idem.slot("s", "k1");
        {
            let _guard = slot.clone().lock_owned().await;
        }
        idem.release("s", "k1", slot);
        assert_eq!(idem.len(), 0);

        let slot = idem.slot("s", "k2");
        {
            let mut guard = slot.clone().lock_owned().await;
            *guard = Some(Stored {
                fingerprint: [0; 32],
                status: StatusCode::OK,
                content_type: None,
                body: Bytes::new(),
            });
        }
        idem.stored("s", "k2", Utc::now());
        idem.release("s", "k2", slot);
        assert_eq!(idem.len(), 1, "a stored answer stays");

        // A waiter keeps the slot alive.
        let slot = idem.slot("s", "k3");
        let waiter = idem.slot("s", "k3");
        idem.release("s", "k3", slot);
        assert_eq!(idem.len(), 2);
        drop(waiter);
    }

    #[test]
    fn answers_past_retention_are_forgotten() {
        let idem = Idempotency::default();
        let old = Utc::now() - chrono::Duration::hours(RETENTION_HOURS + 1);
        drop(idem.slot("s", "old"));
        idem.stored("s", "old", old);
        drop(idem.slot("s", "new"));
        idem.stored("s", "new", Utc::now());
        assert_eq!(idem.len(), 1);
    }
}
