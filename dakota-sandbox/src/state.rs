//! Shared state of one sandbox: configuration, the record store, and the work handed to the
//! background task (lifecycle timers and webhook deliveries).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::config::SandboxConfig;
use crate::durable::IdemRow;
use crate::problem::ApiError;
use crate::store::{Effect, Origin, Store, Tables, TimerDef, Tx};

/// Deliveries waiting for the background task at most; beyond that new ones fail at once.
pub(crate) const MAX_QUEUED_DELIVERIES: usize = 100_000;

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
    pub(crate) store: Store,
    pub(crate) jobs: Jobs,
    /// Idempotent responses read from the data dir, taken by the pipeline when it is built.
    pub(crate) recovered_responses: Mutex<Vec<IdemRow>>,
}

/// A due lifecycle timer.
pub(crate) struct Timer {
    pub(crate) at: DateTime<Utc>,
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) def: &'static TimerDef,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A webhook delivery to make: event id, target id, and the log entry that must be on disk
/// first (0: nothing to wait for).
pub(crate) type DeliveryJob = (String, String, u64);

/// Work for the background task. Both queues are bounded by the records they refer to.
#[derive(Default)]
pub(crate) struct Jobs {
    pub(crate) timers: Mutex<BinaryHeap<Reverse<Timer>>>,
    pub(crate) deliveries: Mutex<VecDeque<DeliveryJob>>,
    pub(crate) notify: tokio::sync::Notify,
    pub(crate) taken: std::sync::atomic::AtomicBool,
}

impl SandboxState {
    /// State for a sandbox reachable at `base_url` (no trailing slash; used in
    /// `application_url`, upload URLs and problem `instance` values). With
    /// [`SandboxConfig::data_dir`] set, the data dir is opened (created if needed), checked
    /// and loaded here: its records, pending timers and webhook deliveries, stored idempotent
    /// responses and webhook signing key (which replaces a randomly generated
    /// [`SandboxConfig::webhook_signer`]).
    pub fn new(
        mut config: SandboxConfig,
        base_url: impl Into<String>,
    ) -> Result<Self, crate::SandboxError> {
        config.validate()?;
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        let (store, recovered) = match &config.data_dir {
            None => (Store::new(crate::schema()), Default::default()),
            Some(dir) => {
                let keep_since = Utc::now()
                    - chrono::Duration::hours(crate::pipeline::idempotency::RETENTION_HOURS);
                let (seed, generated) = config.webhook_signer.seed();
                let (store, recovered) =
                    Store::open(crate::schema(), dir, (seed, !generated), keep_since)?;
                if let Some(seed) = recovered.webhook_seed {
                    config.webhook_signer = crate::WebhookSigner::from_seed(seed);
                }
                (store, recovered)
            }
        };
        let crate::store::Recovered {
            timers,
            idempotency,
            ..
        } = recovered;
        let state = Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                store,
                jobs: Jobs::default(),
                recovered_responses: Mutex::new(idempotency),
            }),
        };
        {
            let mut heap = lock(&state.inner.jobs.timers);
            for (seq, at, def, id) in timers {
                heap.push(Reverse(Timer { at, seq, id, def }));
            }
        }
        // Deliveries still pending when the data dir was last written go out again.
        let pending = state.read(|t| {
            t.scan::<crate::events::DeliveryRec>()
                .filter(|d| d.status == dakota_api::types::WebhookDeliveryStatus::Pending)
                .filter_map(|d| {
                    let target = d.id.strip_prefix(d.event_id.as_str())?;
                    Some((d.event_id.clone(), target.to_owned(), 0))
                })
                .collect::<VecDeque<_>>()
        });
        if !pending.is_empty() {
            tracing::info!(count = pending.len(), "resuming pending webhook deliveries");
            *lock(&state.inner.jobs.deliveries) = pending;
        }
        Ok(state)
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

    /// Hex of the Ed25519 public key that verifies this sandbox's webhook deliveries.
    pub fn webhook_public_key(&self) -> String {
        self.inner.config.webhook_signer.public_key_hex()
    }

    /// Reads the store.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tables) -> T) -> T {
        self.inner.store.read(f)
    }

    /// Runs `f` as one atomic transaction of the store at `now`; after a commit, its timers
    /// and deliveries go to the background task.
    pub(crate) fn write<T>(
        &self,
        now: DateTime<Utc>,
        origin: Option<Origin>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (out, effects) = self.inner.store.write(now, origin, f);
        if !effects.is_empty() {
            self.dispatch(effects);
        }
        out
    }

    fn dispatch(&self, effects: Vec<Effect>) {
        let jobs = &self.inner.jobs;
        let mut overflow = Vec::new();
        for e in effects {
            match e {
                Effect::Timer { at, seq, id, timer } => {
                    lock(&jobs.timers).push(Reverse(Timer {
                        at,
                        seq,
                        id,
                        def: timer,
                    }));
                }
                Effect::Deliver {
                    event_id,
                    target_id,
                    lsn,
                } => {
                    let mut q = lock(&jobs.deliveries);
                    if q.len() >= MAX_QUEUED_DELIVERIES {
                        overflow.push((event_id, target_id));
                    } else {
                        q.push_back((event_id, target_id, lsn));
                    }
                }
            }
        }
        jobs.notify.notify_one();
        if !overflow.is_empty() {
            tracing::warn!(
                count = overflow.len(),
                "webhook queue full; deliveries recorded as failed"
            );
            let _ = self.inner.store.write(Utc::now(), None, |tx| {
                for (event_id, target_id) in &overflow {
                    crate::events::fail_delivery(tx, event_id, target_id);
                }
                Ok(())
            });
        }
    }
}
