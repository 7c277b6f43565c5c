//! [`RedisStore`]: webhook deduplication shared by every replica that uses the same Redis
//! (feature `redis`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::store::{IdempotencyStore, StoreError, StoreFuture};
use crate::redis_conn::{self, bounded, millis, RedisUnavailable};

/// Value of a finished event's key.
const DONE: &str = "done";
/// Prefix of a claimed (in progress) event's value; the rest is the claim's random token.
const CLAIMED: &str = "claimed:";

/// Claims tracked at once by one instance (bounded memory even if claims are never finished).
const MAX_TRACKED_CLAIMS: usize = 100_000;

/// Deletes the key only while it still holds this claim (another replica's later claim, or
/// the `done` mark, are left alone).
const RELEASE_OWN: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Deletes the key unless it is marked done (a release without a known claim token).
const RELEASE_ANY: &str = r"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// An [`IdempotencyStore`] in Redis, so several replicas behind a load balancer deduplicate
/// deliveries together: whichever replica a delivery or its retry lands on, one of them
/// handles the event and the others answer "duplicate" (or "in progress" while it runs).
///
/// One key per event, `<prefix><event id>`, every one with a TTL:
///
/// * [`check_and_insert`](IdempotencyStore::check_and_insert) is one `SET key claimed:<token>
///   NX PX <lease>`: atomic, so of any number of concurrent deliveries exactly one claims the
///   event. The lease is the smaller of the deduplication TTL and
///   [`claim_ttl`](RedisStoreBuilder::claim_ttl) (5 minutes by default), so a claim held by a
///   replica that crashed mid-handler expires and Dakota's next retry is handled.
/// * [`mark_done`](IdempotencyStore::mark_done) sets the key to `done` for the deduplication
///   TTL (72 h with the axum endpoint's default).
/// * [`remove`](IdempotencyStore::remove) (the handler failed) deletes the key in a Lua script
///   only while it still holds this replica's claim token, so a release never erases another
///   replica's claim or a `done` mark.
///
/// Every command is bounded by [`timeout`](RedisStoreBuilder::timeout) (1 s by default); a
/// Redis that is down, unreachable or too slow gives [`StoreError::Backend`] with the reason,
/// which the axum endpoint answers with `503` (Dakota retries) and logs. The handler is never
/// run without a claim, and an event is never marked done unless its handler returned `Ok`.
///
/// A handler that runs longer than the claim lease can be run a second time by a retry that
/// arrives after the lease expired: set `claim_ttl` above your handler's worst case.
///
/// ```no_run
/// use dakota_ext::webhook::{axum::WebhookEndpoint, Event, RedisStore, Verifier, WebhookKey};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder()
///     .prefix("payments-svc:dakota:webhook:")
///     .connect("redis://127.0.0.1:6379/")
///     .await?;
/// let verifier = Verifier::new(WebhookKey::from_hex(&std::env::var("DAKOTA_WEBHOOK_KEY")?)?);
/// let app = WebhookEndpoint::new(verifier, store, |event: Event| async move {
///     println!("{} {}", event.type_str(), event.id);
///     Ok::<(), std::io::Error>(())
/// })
/// .into_router("/webhooks/dakota");
/// # let _ = app; Ok(()) }
/// ```
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    claim_ttl: Duration,
    timeout: Duration,
    release_own: redis::Script,
    release_any: redis::Script,
    /// Claim tokens of the events this instance claimed and has not finished yet.
    claims: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("claim_ttl", &self.claim_ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`RedisStore`]; start with [`RedisStore::builder`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    claim_ttl: Duration,
    timeout: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            claim_ttl: RedisStore::DEFAULT_CLAIM_TTL,
            timeout: redis_conn::DEFAULT_TIMEOUT,
        }
    }
}

impl RedisStoreBuilder {
    /// Prefix of every key (default `dakota:webhook:`): give each service its own when several
    /// share one Redis. Visible ASCII, at most 128 bytes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Longest time a claim (an event being handled) is held before another delivery may claim
    /// the event again (default 5 minutes; never longer than the deduplication TTL). Keep it
    /// above your handler's worst-case run time.
    pub fn claim_ttl(mut self, ttl: Duration) -> Self {
        self.claim_ttl = ttl;
        self
    }

    /// Bound on every Redis command, connecting included (default 1 s). Keep it well under
    /// Dakota's delivery timeout so an unreachable Redis is answered with a `503` in time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) and checks that Redis
    /// answers. The connection reconnects by itself after Redis restarts.
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        self.check()?;
        let conn = redis_conn::connect(url, self.timeout, true)
            .await
            .map_err(StoreError::backend)?;
        self.with_connection(conn)
    }

    /// Like [`connect`](Self::connect) but without waiting for Redis: the first command
    /// connects (and fails with [`StoreError::Backend`] while Redis is unreachable).
    pub async fn connect_lazy(self, url: &str) -> Result<RedisStore, StoreError> {
        self.check()?;
        let conn = redis_conn::connect(url, self.timeout, false)
            .await
            .map_err(StoreError::backend)?;
        self.with_connection(conn)
    }

    /// A store on a connection you already manage (its own timeouts apply as well).
    pub fn with_connection(self, conn: ConnectionManager) -> Result<RedisStore, StoreError> {
        self.check()?;
        Ok(RedisStore {
            conn,
            prefix: self.prefix,
            claim_ttl: self.claim_ttl,
            timeout: self.timeout,
            release_own: redis::Script::new(RELEASE_OWN),
            release_any: redis::Script::new(RELEASE_ANY),
            claims: Mutex::new(HashMap::new()),
        })
    }

    fn check(&self) -> Result<(), StoreError> {
        redis_conn::check_prefix(&self.prefix)
            .map_err(|e| StoreError::backend(RedisUnavailable::reply("configuration", e)))
    }
}

impl RedisStore {
    /// Default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "dakota:webhook:";
    /// Default claim lease (5 minutes).
    pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(300);

    /// Settings: prefix, claim lease, timeout.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// A store with the default settings on `url`; see [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// The Redis key of an event id.
    pub fn key(&self, event_id: &str) -> String {
        format!("{}{event_id}", self.prefix)
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn claim(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let token = format!("{CLAIMED}{:032x}", rand::random::<u128>());
        let lease = millis(ttl.min(self.claim_ttl));
        let mut conn = self.conn.clone();
        let set: Option<String> = bounded("claim (SET NX PX)", self.timeout, async {
            redis::cmd("SET")
                .arg(self.key(event_id))
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(lease)
                .query_async(&mut conn)
                .await
        })
        .await
        .map_err(StoreError::backend)?;
        if set.is_some() {
            let mut claims = self.claims();
            if claims.len() >= MAX_TRACKED_CLAIMS {
                // Only a caller that never finishes its claims gets here; forgetting the
                // tokens keeps memory bounded (a release then spares only `done` marks).
                tracing::warn!(
                    tracked = claims.len(),
                    "RedisStore: too many unfinished claims; forgetting their tokens"
                );
                claims.clear();
            }
            claims.insert(event_id.to_owned(), token);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        let token = self.claims().remove(event_id);
        let mut conn = self.conn.clone();
        let key = self.key(event_id);
        let _: i64 = match token {
            Some(token) => {
                bounded("release (script)", self.timeout, async {
                    self.release_own
                        .key(&key)
                        .arg(&token)
                        .invoke_async(&mut conn)
                        .await
                })
                .await
            }
            None => {
                bounded("release (script)", self.timeout, async {
                    self.release_any
                        .key(&key)
                        .arg(DONE)
                        .invoke_async(&mut conn)
                        .await
                })
                .await
            }
        }
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn done(&self, event_id: &str, ttl: Duration) -> Result<(), StoreError> {
        self.claims().remove(event_id);
        let mut conn = self.conn.clone();
        let _: String = bounded("mark done (SET PX)", self.timeout, async {
            redis::cmd("SET")
                .arg(self.key(event_id))
                .arg(DONE)
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut conn)
                .await
        })
        .await
        .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn finished(&self, event_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = bounded("state (GET)", self.timeout, async {
            redis::cmd("GET")
                .arg(self.key(event_id))
                .query_async(&mut conn)
                .await
        })
        .await
        .map_err(StoreError::backend)?;
        Ok(value.as_deref() == Some(DONE))
    }
}

impl IdempotencyStore for RedisStore {
    fn check_and_insert<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(self.claim(event_id, ttl))
    }

    fn remove<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.release(event_id))
    }

    fn mark_done<'a>(&'a self, event_id: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(self.done(event_id, ttl))
    }

    fn is_done<'a>(&'a self, event_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.finished(event_id))
    }
}
