//! Shared state of one sandbox: configuration, records, rate-limit windows, idempotency slots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::config::SandboxConfig;
use crate::ids::IdGen;
use crate::model::Store;
use crate::webhooks::{Queue, Webhooks};

/// Locks a mutex, recovering the data if a previous holder panicked (every critical section
/// leaves the data consistent before anything can fail, so the data is still valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by every request of one sandbox; cheap to clone.
///
/// Build one with [`SandboxState::new`] and serve it with [`crate::router`]; [`crate::Sandbox`]
/// does both for you on a local port.
#[derive(Clone)]
pub struct SandboxState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxState")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) config: SandboxConfig,
    pub(crate) base_url: String,
    pub(crate) store: Mutex<Store>,
    pub(crate) ids: Mutex<IdGen>,
    pub(crate) windows: Mutex<HashMap<String, Window>>,
    pub(crate) idempotency: Mutex<HashMap<String, Slot>>,
    pub(crate) intermittent: Mutex<HashMap<String, u64>>,
    /// Webhook targets and delivery records. Lock order: `webhooks`, then `store`, then `ids`.
    pub(crate) webhooks: Mutex<Webhooks>,
    /// Jobs for the background task (deliveries, timers).
    pub(crate) queue: Queue,
}

/// A fixed rate-limit window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    start: i64,
    count: u32,
}

/// The rate-limit headers of one response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateInfo {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Absolute Unix seconds at which the window starts over.
    pub(crate) reset: i64,
    /// Whether this request was over the limit.
    pub(crate) exceeded: bool,
}

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

impl SandboxState {
    /// State for a sandbox reachable at `base_url` (no trailing slash; used in
    /// `application_url`, upload URLs and problem `instance` values).
    pub fn new(
        config: SandboxConfig,
        base_url: impl Into<String>,
    ) -> Result<Self, crate::SandboxError> {
        config.validate()?;
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                store: Mutex::new(Store::default()),
                ids: Mutex::new(IdGen::default()),
                windows: Mutex::new(HashMap::new()),
                idempotency: Mutex::new(HashMap::new()),
                intermittent: Mutex::new(HashMap::new()),
                webhooks: Mutex::new(Webhooks::default()),
                queue: Queue::new(),
            }),
        })
    }

    /// The base URL the state was built with.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The API key the sandbox accepts.
    pub fn api_key(&self) -> &str {
        &self.inner.config.api_key
    }

    /// The settings in force.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The `X-Application-Token` of an application, if it exists.
    pub fn application_token(&self, application_id: &str) -> Option<String> {
        lock(&self.inner.store)
            .applications
            .get(application_id)
            .map(|a| a.token.clone())
    }

    /// Number of customers created so far.
    pub fn customer_count(&self) -> usize {
        lock(&self.inner.store).customers.len()
    }

    pub(crate) fn next_id(&self, now: DateTime<Utc>) -> String {
        lock(&self.inner.ids).next(now)
    }

    /// Counts one request in `bucket` (fixed window of `window_secs`, `limit` requests).
    pub(crate) fn rate(&self, bucket: &str, limit: u32, window_secs: i64, now: i64) -> RateInfo {
        let mut windows = lock(&self.inner.windows);
        let w = windows.entry(bucket.to_owned()).or_insert(Window {
            start: now,
            count: 0,
        });
        if now >= w.start.saturating_add(window_secs) {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        let reset = w.start.saturating_add(window_secs);
        if w.count >= limit {
            return RateInfo {
                limit,
                remaining: 0,
                reset,
                exceeded: true,
            };
        }
        w.count += 1;
        RateInfo {
            limit,
            remaining: limit - w.count,
            reset,
            exceeded: false,
        }
    }

    /// The slot of one idempotency key in one scope.
    pub(crate) fn slot(&self, scope: &str, key: &str) -> Slot {
        let mut map = lock(&self.inner.idempotency);
        map.entry(format!("{scope}\u{0}{key}"))
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None)))
            .clone()
    }

    /// Counts an attempt for `intermittent_errors`; true when this attempt must fail
    /// (the 1st, 3rd, 5th... attempt with the same key).
    pub(crate) fn intermittent_should_fail(&self, key: &str) -> bool {
        let mut map = lock(&self.inner.intermittent);
        let n = map.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n % 2 == 1
    }
}
