//! A rate-limit budget shared through Redis by every replica that uses the same credential
//! (feature `redis`).
//!
//! Dakota counts requests per API key (and per application token) in fixed windows. The
//! in-process pacer (`DakotaBuilder::pacing`) keeps that window's budget in memory, so N
//! replicas sharing a key each spend the whole budget and together overshoot it. With
//! [`DakotaBuilder::rate_budget`](crate::DakotaBuilder::rate_budget) the budget lives in Redis
//! instead, one hash per credential, and every request of every replica takes its unit there
//! in one atomic Lua script before it is sent:
//!
//! * the limit, the remaining count and the window's reset are learned from the
//!   `X-RateLimit-Limit/Remaining/Reset` headers of every response (any replica's), exactly as
//!   the in-process pacer learns them;
//! * until the limit is known, one request across all replicas is in flight (a probe);
//! * once the budget is spent, requests wait for the reset, so together the replicas stay
//!   within the server's limit instead of collecting `429`s.
//!
//! The Redis key is `<prefix><api-key|app-token>:<SHA-256 of the credential>`: the credential
//! itself is never written to Redis. Time is Redis's own clock (`TIME`), so replicas whose
//! clocks differ still agree on when a window ends. Every key expires shortly after its window.
//!
//! If Redis is unreachable, requests are not blocked: each replica falls back to its
//! in-process pacer (a warning is logged at most every 10 s) and returns to the shared budget
//! as soon as Redis answers again.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};

use crate::pacing::{header_u64, SAME_WINDOW};
use crate::redis_conn::{self, bounded, millis, RedisUnavailable};
use crate::retry;

/// Takes one unit of the budget, or says how long to wait (ms).
///
/// KEYS[1] the budget hash; ARGV[1] probe lease (ms), ARGV[2] poll interval (ms), ARGV[3] how
/// long the key outlives its window (ms), ARGV[4] after how long a spent window nobody heard
/// back from is probed again (ms). Returns 0 when a unit was taken.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset', 'probe')
local limit, remaining, reset, probe = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local poll, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
if reset and now >= reset then
  -- The window turned over: the full limit again; the next response tells when it ends.
  -- 'ended' remembers the window that is over, so a late answer of it is not taken for news.
  redis.call('HDEL', KEYS[1], 'reset')
  redis.call('HSET', KEYS[1], 'turned', now, 'ended', reset)
  reset = nil
  remaining = limit
  if limit then
    redis.call('HSET', KEYS[1], 'remaining', limit)
  else
    redis.call('HDEL', KEYS[1], 'remaining')
  end
end
local wait = 0
if remaining then
  if remaining > 0 then
    redis.call('HSET', KEYS[1], 'remaining', remaining - 1)
  elseif reset then
    wait = reset - now
  elseif (not probe or now >= probe)
      and now - (tonumber(redis.call('HGET', KEYS[1], 'turned')) or now) >= tonumber(ARGV[4]) then
    -- Spent, and no answer of this window came back for long (all failed in transport).
    redis.call('HSET', KEYS[1], 'probe', now + tonumber(ARGV[1]))
  else
    wait = poll
  end
elseif not limit then
  if not probe or now >= probe then
    redis.call('HSET', KEYS[1], 'probe', now + tonumber(ARGV[1]))
  else
    wait = math.min(poll, probe - now)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.max(0, (reset or now) - now) + keep)
end
return math.max(0, wait)
";

/// Learns from one response's rate-limit headers.
///
/// KEYS[1] the budget hash; ARGV[1] limit, ARGV[2] remaining, ARGV[3] time to the reset (ms)
/// (each '' when absent), ARGV[4] slack (ms) within which two resets are the same window,
/// ARGV[5] how long the key outlives its window (ms).
const OBSERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HDEL', KEYS[1], 'probe')
local limit = tonumber(ARGV[1])
if limit and limit > 0 then
  redis.call('HSET', KEYS[1], 'limit', limit)
end
local rem, reset_in = tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'remaining', 'reset', 'ended')
local mine, cur, ended = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local slack = tonumber(ARGV[4])
local reset = rem and reset_in and reset_in > 0 and now + reset_in
-- An answer of the window that just ended, observed after the turnover (its reset, measured
-- by the replica before this script ran, can still look a few ms ahead): no news. Taken as
-- news, it would zero the new window's count and turn it over a second time.
if reset and not cur and ended and reset <= ended + slack then
  reset = nil
end
if reset then
  if not cur or reset > cur + slack then
    -- First news of this window.
    redis.call('HSET', KEYS[1], 'reset', reset)
    cur = reset
  end
  -- Our count already includes requests still in flight; the server's is lower only when
  -- someone else spends the same credential.
  if mine then
    rem = math.min(mine, rem)
  end
  redis.call('HSET', KEYS[1], 'remaining', rem)
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.max(0, (cur or now) - now) + tonumber(ARGV[5]))
end
return 1
";

/// While the limit is unknown, how long a waiting request sleeps before asking again.
const POLL: Duration = Duration::from_millis(5);
/// How long the budget's key outlives the end of its window.
const KEEP: Duration = Duration::from_secs(600);
/// Warnings about an unreachable Redis are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The rate-limit budget shared by replicas through Redis; give it to
/// [`DakotaBuilder::rate_budget`](crate::DakotaBuilder::rate_budget). Cheap to clone (one
/// auto-reconnecting connection inside). See the [module documentation](self).
///
/// ```no_run
/// use dakota_ext::{Dakota, SharedRateBudget};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let budget = SharedRateBudget::connect("redis://127.0.0.1:6379/").await?;
/// let dakota = Dakota::builder()
///     .api_key(std::env::var("DAKOTA_API_KEY")?)
///     .rate_budget(budget)
///     .build()?;
/// # let _ = dakota; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedRateBudget {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    probe_lease: Duration,
    /// See `pacing::STALLED_AFTER`.
    stalled_after: Duration,
    acquire: redis::Script,
    observe: redis::Script,
    /// Unix ms of the last "Redis unreachable" warning.
    last_warning: AtomicU64,
}

impl fmt::Debug for SharedRateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRateBudget")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("probe_lease", &self.inner.probe_lease)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`SharedRateBudget`]; start with [`SharedRateBudget::builder`].
#[derive(Debug, Clone)]
pub struct SharedRateBudgetBuilder {
    prefix: String,
    timeout: Duration,
    probe_lease: Duration,
    stalled_after: Duration,
}

impl Default for SharedRateBudgetBuilder {
    fn default() -> Self {
        Self {
            prefix: SharedRateBudget::DEFAULT_PREFIX.to_owned(),
            timeout: redis_conn::DEFAULT_TIMEOUT,
            probe_lease: Duration::from_secs(10),
            stalled_after: crate::pacing::STALLED_AFTER,
        }
    }
}

impl SharedRateBudgetBuilder {
    /// Prefix of every key (default `dakota:ratelimit:`). Replicas share a budget only when
    /// they use the same prefix (and the same credential). Visible ASCII, at most 128 bytes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound on every Redis command, connecting included (default 1 s); past it the request
    /// is paced by the in-process pacer instead.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// While the limit is still unknown, how long the one probe request may take before
    /// another replica sends the next one (default 10 s).
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease;
        self
    }

    /// Shortens the stall delay, for tests.
    #[cfg(test)]
    fn stalled_after(mut self, d: Duration) -> Self {
        self.stalled_after = d;
        self
    }

    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) and checks that Redis
    /// answers.
    pub async fn connect(self, url: &str) -> Result<SharedRateBudget, RedisUnavailable> {
        self.check()?;
        let conn = redis_conn::connect(url, self.timeout, true).await?;
        self.with_connection(conn)
    }

    /// Like [`connect`](Self::connect) without waiting for Redis (until it answers, requests
    /// are paced in-process).
    pub async fn connect_lazy(self, url: &str) -> Result<SharedRateBudget, RedisUnavailable> {
        self.check()?;
        let conn = redis_conn::connect(url, self.timeout, false).await?;
        self.with_connection(conn)
    }

    /// A budget on a connection you already manage.
    pub fn with_connection(
        self,
        conn: ConnectionManager,
    ) -> Result<SharedRateBudget, RedisUnavailable> {
        self.check()?;
        Ok(SharedRateBudget {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                timeout: self.timeout,
                probe_lease: self.probe_lease,
                stalled_after: self.stalled_after,
                acquire: redis::Script::new(ACQUIRE),
                observe: redis::Script::new(OBSERVE),
                last_warning: AtomicU64::new(0),
            }),
        })
    }

    fn check(&self) -> Result<(), RedisUnavailable> {
        redis_conn::check_prefix(&self.prefix)
            .map_err(|e| RedisUnavailable::reply("configuration", e))
    }
}

/// Which kind of credential a budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// `X-API-Key`.
    ApiKey,
    /// `X-Application-Token`.
    ApplicationToken,
}

impl SharedRateBudget {
    /// Default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "dakota:ratelimit:";

    /// Settings: prefix, timeout, probe lease.
    pub fn builder() -> SharedRateBudgetBuilder {
        SharedRateBudgetBuilder::default()
    }

    /// A budget with the default settings on `url`; see [`SharedRateBudgetBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, RedisUnavailable> {
        Self::builder().connect(url).await
    }

    /// The Redis key of the budget of a credential: the prefix, the kind and a SHA-256 of the
    /// secret (never the secret itself).
    pub(crate) fn key_for(&self, kind: Credential, secret: &[u8]) -> String {
        let (label, domain): (&str, &[u8]) = match kind {
            Credential::ApiKey => ("api-key", b"dakota-rs rate budget: api key\0"),
            Credential::ApplicationToken => {
                ("app-token", b"dakota-rs rate budget: application token\0")
            }
        };
        let digest = Sha256::new()
            .chain_update(domain)
            .chain_update(secret)
            .finalize();
        format!("{}{label}:{}", self.inner.prefix, hex::encode(digest))
    }

    /// One attempt to take a unit: `Ok(None)` taken, `Ok(Some(d))` wait `d` and ask again.
    pub(crate) async fn try_acquire(
        &self,
        key: &str,
    ) -> Result<Option<Duration>, RedisUnavailable> {
        let inner = &*self.inner;
        let mut conn = inner.conn.clone();
        let wait_ms: i64 = bounded("rate budget (acquire script)", inner.timeout, async {
            inner
                .acquire
                .key(key)
                .arg(millis(inner.probe_lease))
                .arg(millis(POLL))
                .arg(millis(KEEP))
                .arg(millis(inner.stalled_after))
                .invoke_async(&mut conn)
                .await
        })
        .await?;
        Ok(u64::try_from(wait_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis))
    }

    /// Records a response's `X-RateLimit-*` headers (an empty map ends a probe that got no
    /// answer).
    pub(crate) async fn observe(
        &self,
        key: &str,
        headers: &HeaderMap,
    ) -> Result<(), RedisUnavailable> {
        let inner = &*self.inner;
        let limit = header_u64(headers, "x-ratelimit-limit");
        let remaining = retry::rate_limit_remaining(headers);
        let reset_in = retry::rate_limit_reset(headers);
        let text = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut conn = inner.conn.clone();
        let _: i64 = bounded("rate budget (observe script)", inner.timeout, async {
            inner
                .observe
                .key(key)
                .arg(text(limit))
                .arg(text(remaining))
                .arg(text(
                    reset_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                ))
                .arg(millis(SAME_WINDOW))
                .arg(millis(KEEP))
                .invoke_async(&mut conn)
                .await
        })
        .await?;
        Ok(())
    }

    /// Logs that Redis failed, at most every [`WARN_EVERY`].
    pub(crate) fn warn_unavailable(&self, e: &RedisUnavailable) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let last = self.inner.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= millis(WARN_EVERY)
            && self
                .inner
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %e, "shared rate budget unavailable; pacing in-process until Redis answers");
        }
    }
}

/// The tests' Redis (a server from `DAKOTA_TEST_REDIS_URL` or a spawned `redis-server`).
#[cfg(test)]
#[path = "../tests/redis_server/mod.rs"]
mod test_redis;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_budget::test_redis as redis_server;
    use reqwest::header::HeaderValue;

    fn unix_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }

    /// Rate-limit headers with the reset at `reset` (Unix seconds).
    fn headers(limit: u64, remaining: u64, reset: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", reset),
        ] {
            h.insert(k, HeaderValue::from(v));
        }
        h
    }

    async fn budget(redis: &redis_server::TestRedis) -> SharedRateBudget {
        SharedRateBudget::builder()
            .prefix(&redis.prefix)
            .connect(&redis.url)
            .await
            .expect("Redis answers")
    }

    #[tokio::test]
    async fn one_probe_then_the_learned_budget_then_the_reset() {
        let Some(redis) = redis_server::TestRedis::any("one_probe_then_the_learned_budget") else {
            return;
        };
        // Two replicas on one key.
        let (a, b) = (budget(&redis).await, budget(&redis).await);
        let key = a.key_for(Credential::ApiKey, b"sk_test_probe");
        assert_eq!(key, b.key_for(Credential::ApiKey, b"sk_test_probe"));

        // Nothing known: one probe across replicas, the others poll.
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        let wait = b.try_acquire(&key).await.expect("script").expect("waits");
        assert!(wait <= POLL, "{wait:?}");
        // The probe's answer: limit 3, 1 left in a window ending in about 2 s.
        let reset = unix_secs() + 2;
        a.observe(&key, &headers(3, 1, reset))
            .await
            .expect("script");
        assert_eq!(b.try_acquire(&key).await.expect("script"), None);
        let wait = a.try_acquire(&key).await.expect("script").expect("spent");
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        // A late answer from an earlier window (reset already past) changes nothing.
        a.observe(&key, &headers(3, 3, unix_secs() - 5))
            .await
            .expect("script");
        assert!(b.try_acquire(&key).await.expect("script").is_some());
        // Once the window is over, the full limit again, then poll until news of the window.
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
        for _ in 0..3 {
            assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        }
        let wait = b.try_acquire(&key).await.expect("script").expect("spent");
        assert!(wait <= POLL, "{wait:?}");
    }

    #[tokio::test]
    async fn a_late_answer_of_the_window_that_ended_is_no_news() {
        let Some(redis) = redis_server::TestRedis::any("a_late_answer_of_the_window_that_ended")
        else {
            return;
        };
        let a = budget(&redis).await;
        let key = a.key_for(Credential::ApiKey, b"sk_test_late");
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        a.observe(&key, &headers(5, 0, unix_secs() + 1))
            .await
            .expect("script");
        let wait = a.try_acquire(&key).await.expect("script").expect("spent");
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        // The window turned over: 5 units again, one taken here.
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        // An answer of the window that ended, measured by its replica 3 ms before the end and
        // observed only now (as under load): it must neither zero the new window's count nor
        // end the new window.
        let mut conn = a.inner.conn.clone();
        let _: i64 = a
            .inner
            .observe
            .key(&key)
            .arg("5")
            .arg("0")
            .arg("3")
            .arg(millis(SAME_WINDOW))
            .arg(millis(KEEP))
            .invoke_async(&mut conn)
            .await
            .expect("script");
        let mut taken = 1;
        for _ in 0..20 {
            match a.try_acquire(&key).await.expect("script") {
                None => taken += 1,
                Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert_eq!(taken, 5, "units taken in the new window");
    }

    #[tokio::test]
    async fn the_servers_lower_count_wins_and_a_lost_probe_is_retried() {
        let Some(redis) = redis_server::TestRedis::any("the_servers_lower_count_wins") else {
            return;
        };
        let a = budget(&redis).await;
        let key = a.key_for(Credential::ApiKey, b"sk_test_count");
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        // The probe got no answer (transport error): the next request probes again.
        a.observe(&key, &HeaderMap::new()).await.expect("script");
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        let reset = unix_secs() + 30;
        a.observe(&key, &headers(10, 8, reset))
            .await
            .expect("script");
        // Someone else spends the key too: the server's count is lower than ours.
        a.observe(&key, &headers(10, 1, reset))
            .await
            .expect("script");
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        assert!(a.try_acquire(&key).await.expect("script").is_some());

        // The key holds numbers only, and expires after its window.
        let mut conn = a.inner.conn.clone();
        let fields: Vec<String> = redis::cmd("HKEYS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("HKEYS");
        assert!(fields
            .iter()
            .all(|f| ["limit", "remaining", "reset", "turned", "ended"].contains(&f.as_str())));
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        assert!(ttl > 600_000 && ttl <= 631_000, "{ttl}");
    }

    #[tokio::test]
    async fn a_window_whose_requests_all_failed_is_probed_again() {
        let Some(redis) = redis_server::TestRedis::any("a_window_whose_requests_all_failed") else {
            return;
        };
        let a = SharedRateBudget::builder()
            .prefix(&redis.prefix)
            .stalled_after(Duration::from_millis(400))
            .connect(&redis.url)
            .await
            .expect("Redis answers");
        let key = a.key_for(Credential::ApiKey, b"sk_test_stall");
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        a.observe(&key, &headers(2, 2, unix_secs() + 1))
            .await
            .expect("script");
        let wait = a.try_acquire(&key).await.expect("script");
        assert_eq!(wait, None);
        assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        let wait = a.try_acquire(&key).await.expect("script").expect("spent");
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        // The new window: both units go out, both fail in transport (no headers come back).
        for _ in 0..2 {
            assert_eq!(a.try_acquire(&key).await.expect("script"), None);
        }
        for _ in 0..2 {
            a.observe(&key, &HeaderMap::new()).await.expect("script");
        }
        assert!(a.try_acquire(&key).await.expect("script").is_some());
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            a.try_acquire(&key).await.expect("script"),
            None,
            "a probe after the stall delay"
        );
        assert!(
            a.try_acquire(&key).await.expect("script").is_some(),
            "one probe at a time"
        );
        // The probe's answer tells when this window ends: wait for it (the failed requests
        // stay counted: the server may have seen them).
        a.observe(&key, &headers(2, 1, unix_secs() + 2))
            .await
            .expect("script");
        let wait = a.try_acquire(&key).await.expect("script").expect("spent");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
    }

    #[tokio::test]
    async fn keys_hash_the_credential_and_separate_its_kinds() {
        // No Redis needed: nothing is sent until a request is paced.
        let b = SharedRateBudget::builder()
            .prefix("svc:")
            .connect_lazy("redis://127.0.0.1:1/")
            .await
            .expect("lazy");
        let key = b.key_for(Credential::ApiKey, b"sk_live_secret");
        assert!(key.starts_with("svc:api-key:"), "{key}");
        assert!(!key.contains("secret"));
        assert_eq!(key.len(), "svc:api-key:".len() + 64);
        let token = b.key_for(Credential::ApplicationToken, b"sk_live_secret");
        assert!(token.starts_with("svc:app-token:"));
        assert_ne!(key[12..], token[14..], "kinds hash apart");
        assert_ne!(key, b.key_for(Credential::ApiKey, b"sk_live_other"));
        let debug = format!("{b:?}");
        assert!(debug.contains("svc:"), "{debug}");
    }

    #[tokio::test]
    async fn bad_settings_are_refused() {
        let err = SharedRateBudget::builder()
            .prefix("has space")
            .connect_lazy("redis://127.0.0.1:1/")
            .await
            .expect_err("bad prefix");
        assert!(err.to_string().contains("prefix"), "{err}");
        let err = SharedRateBudget::connect("not a url")
            .await
            .expect_err("bad URL");
        assert_eq!(err.operation(), "URL");
    }
}
