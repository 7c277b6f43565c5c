//! Deduplication of redelivered events.
//!
//! Dakota delivers at least once: a delivery that timed out or got a non-2xx answer is retried
//! with the same event id. An [`IdempotencyStore`] remembers which ids were already taken so a
//! redelivery is reported as a duplicate instead of being processed twice.

use std::collections::{BTreeMap, HashMap};
use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The boxed future the store methods return (keeps the trait usable as `dyn IdempotencyStore`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failure. The axum endpoint answers 503 so Dakota retries later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Every slot holds an event that is still being processed.
    #[error("idempotency store is full ({capacity} events being processed)")]
    Full {
        /// The store's capacity.
        capacity: usize,
    },
    /// The backing service (database, cache, …) failed.
    #[error("idempotency store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(e.into())
    }
}

/// Remembers processed event ids for a while.
///
/// The life of an id: [`check_and_insert`](IdempotencyStore::check_and_insert) claims it
/// (`true` = first time), then either [`mark_done`](IdempotencyStore::mark_done) after the
/// handler succeeded or [`remove`](IdempotencyStore::remove) after it failed, so Dakota's retry
/// is processed again. A backend that cannot tell "claimed" from "done" may keep the defaults of
/// `mark_done` / `is_done`; it then acknowledges a redelivery that races a still-running first
/// attempt as a duplicate.
pub trait IdempotencyStore: Send + Sync {
    /// Atomically records `event_id` unless it is already recorded and unexpired.
    /// `Ok(true)`: first time (the caller now owns the event); `Ok(false)`: seen before.
    fn check_and_insert<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;

    /// Forgets `event_id` (processing failed; the next delivery must be processed again).
    fn remove<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, ()>;

    /// Records that processing of `event_id` finished, keeping it for `ttl` from now.
    fn mark_done<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        let _ = (event_id, ttl);
        Box::pin(ready(Ok(())))
    }

    /// For an id `check_and_insert` reported as seen: whether its processing finished (`true`)
    /// or is still running (`false`, the delivery should be retried later).
    fn is_done<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, bool> {
        let _ = event_id;
        Box::pin(ready(Ok(true)))
    }
}

macro_rules! forward_store {
    ($($wrapper:ty),+) => {$(
        impl<S: IdempotencyStore + ?Sized> IdempotencyStore for $wrapper {
            fn check_and_insert<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
                (**self).check_and_insert(event_id, ttl)
            }
            fn remove<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, ()> {
                (**self).remove(event_id)
            }
            fn mark_done<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
                (**self).mark_done(event_id, ttl)
            }
            fn is_done<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, bool> {
                (**self).is_done(event_id)
            }
        }
    )+};
}
forward_store!(Arc<S>, Box<S>, &S);

/// An in-process [`IdempotencyStore`] with per-entry expiry, bounded in size.
///
/// Expired entries are evicted on every insert. When the store is full of unexpired entries,
/// the finished entry closest to expiry is evicted (its id loses duplicate protection early);
/// when every entry is still being processed, inserting fails with [`StoreError::Full`].
/// Ids are lost on restart and not shared between processes; use a shared backend (database,
/// Redis, …) for several instances.
#[derive(Debug)]
pub struct InMemoryStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// (expiry, sequence) → id, ordered by expiry.
    by_expiry: BTreeMap<(Instant, u64), String>,
    next_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    expires: Instant,
    seq: u64,
    done: bool,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStore {
    /// Default capacity (ids remembered at once).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store holding up to [`InMemoryStore::DEFAULT_CAPACITY`] ids.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A store holding up to `capacity` ids (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Number of ids held (including expired ones not evicted yet).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`IdempotencyStore::check_and_insert`] with an explicit clock.
    pub fn check_and_insert_at(
        &self,
        event_id: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        inner.purge_expired(now);
        if inner.entries.contains_key(event_id) {
            return Ok(false);
        }
        if inner.entries.len() >= self.capacity && !inner.evict_oldest_done() {
            return Err(StoreError::Full {
                capacity: self.capacity,
            });
        }
        inner.insert(event_id.to_owned(), expiry(now, ttl), false);
        Ok(true)
    }

    /// [`IdempotencyStore::mark_done`] with an explicit clock.
    pub fn mark_done_at(
        &self,
        event_id: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.purge_expired(now);
        if inner.remove(event_id).is_none()
            && inner.entries.len() >= self.capacity
            && !inner.evict_oldest_done()
        {
            return Err(StoreError::Full {
                capacity: self.capacity,
            });
        }
        inner.insert(event_id.to_owned(), expiry(now, ttl), true);
        Ok(())
    }

    /// [`IdempotencyStore::is_done`] with an explicit clock. An unknown or expired id is
    /// reported as not done, so its delivery is retried and then processed.
    pub fn is_done_at(&self, event_id: &str, now: Instant) -> bool {
        let mut inner = self.lock();
        inner.purge_expired(now);
        inner.entries.get(event_id).is_some_and(|e| e.done)
    }

    /// [`IdempotencyStore::remove`], synchronously.
    pub fn forget(&self, event_id: &str) {
        self.lock().remove(event_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while the lock is held; recover anyway rather than propagate.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn expiry(now: Instant, ttl: Duration) -> Instant {
    // An absurd TTL saturates to "about a century" rather than overflowing.
    now.checked_add(ttl)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

impl Inner {
    fn purge_expired(&mut self, now: Instant) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            self.entries.remove(&id);
        }
    }

    fn insert(&mut self, id: String, expires: Instant, done: bool) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_expiry.insert((expires, seq), id.clone());
        self.entries.insert(id, Entry { expires, seq, done });
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.by_expiry.remove(&(entry.expires, entry.seq));
        Some(entry)
    }

    /// Evicts the finished entry closest to expiry; `false` if every entry is in flight.
    fn evict_oldest_done(&mut self) -> bool {
        let victim = self
            .by_expiry
            .values()
            .find(|id| self.entries.get(id.as_str()).is_some_and(|e| e.done))
            .cloned();
        match victim {
            Some(id) => self.remove(&id).is_some(),
            None => false,
        }
    }
}

impl IdempotencyStore for InMemoryStore {
    fn check_and_insert<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(ready(self.check_and_insert_at(
            event_id,
            ttl,
            Instant::now(),
        )))
    }

    fn remove<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, ()> {
        self.forget(event_id);
        Box::pin(ready(Ok(())))
    }

    fn mark_done<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(ready(self.mark_done_at(event_id, ttl, Instant::now())))
    }

    fn is_done<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(ready(Ok(self.is_done_at(event_id, Instant::now()))))
    }
}
