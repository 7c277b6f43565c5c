//! Client-side pacing on Dakota's rate-limit headers, so bulk work does not hit `429` at all.
//!
//! Dakota counts requests per API key in fixed windows and reports the budget on every response
//! (`X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` in Unix seconds). The
//! [`Pacer`] keeps a local budget for the current window: every request takes one unit before
//! it is sent, so however many tasks share the client, no more requests leave than the window
//! allows; when the budget is spent, requests wait for the reset. Until the first response has
//! told the limit, only one request is in flight (a probe), so a burst of a thousand tasks at
//! start-up does not overrun an unknown limit either.
//!
//! [`Pacing`] is what the client's pipeline holds: this in-process pacer, or (feature `redis`)
//! the [`SharedRateBudget`](crate::SharedRateBudget) that replicas sharing a credential spend
//! together, with this pacer as its fallback while Redis is unreachable.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::retry;

/// How long a waiting request sleeps before looking again while the limit is unknown.
const PROBE_POLL: Duration = Duration::from_millis(5);
/// Two resets closer than this belong to the same window (the header has whole seconds).
pub(crate) const SAME_WINDOW: Duration = Duration::from_millis(500);
/// A window whose budget was spent without any answer telling when it ends (every request of
/// it failed in transport) is probed again, one request at a time, after this long.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(10);

/// Local view of the current rate-limit window.
#[derive(Debug, Default)]
struct Window {
    /// `X-RateLimit-Limit`, once seen.
    limit: Option<u64>,
    /// Requests this client may still send in the current window (`None`: unknown).
    remaining: Option<u64>,
    /// When the current window ends (`None`: unknown).
    reset: Option<Instant>,
    /// A request is in flight while nothing is known yet.
    probing: bool,
    /// When the window last turned over locally.
    turned: Option<Instant>,
    /// The reset of the window that last ended (a late answer of it is no news).
    ended: Option<Instant>,
}

/// Shared pacing state of one client (one API key).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    window: Mutex<Window>,
}

fn lock(m: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pacer {
    /// Wait until the window has budget for one more request, and take it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wake = {
                let mut w = lock(&self.window);
                let now = Instant::now();
                if w.reset.is_some_and(|r| now >= r) {
                    // The window turned over: the full limit again; the next response tells
                    // when the new window ends.
                    w.ended = w.reset.take();
                    w.remaining = w.limit;
                    w.turned = Some(now);
                }
                match (w.remaining, w.limit) {
                    (Some(n), _) if n > 0 => {
                        w.remaining = Some(n - 1);
                        return;
                    }
                    (Some(_), _) => match w.reset {
                        Some(reset) => reset,
                        // Spent, and no answer of this window has come back for long: probe.
                        None if !w.probing
                            && w.turned.is_some_and(|t| now >= t + STALLED_AFTER) =>
                        {
                            w.probing = true;
                            return;
                        }
                        None => now + PROBE_POLL,
                    },
                    (None, None) if !w.probing => {
                        w.probing = true;
                        return;
                    }
                    (None, None) => now + PROBE_POLL,
                    (None, Some(_)) => return,
                }
            };
            tracing::trace!(
                wait_ms = wake.saturating_duration_since(Instant::now()).as_millis() as u64,
                "pacing: waiting for rate-limit budget"
            );
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Learn from a response's rate-limit headers (any status, `429` included).
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let limit = header_u64(headers, "x-ratelimit-limit");
        let remaining = retry::rate_limit_remaining(headers);
        // A reset already past belongs to a window that is over (a late answer): it says
        // nothing about the current one.
        let reset = retry::rate_limit_reset(headers)
            .filter(|d| !d.is_zero())
            .map(|d| Instant::now() + d);
        let mut w = lock(&self.window);
        w.probing = false;
        if let Some(l) = limit.filter(|&l| l > 0) {
            w.limit = Some(l);
        }
        let (Some(rem), Some(reset)) = (remaining, reset) else {
            return;
        };
        // An answer of the window that just ended, seen after the local turnover (the two
        // clocks involved can disagree by a little): taken as news, it would zero the new
        // window's count and turn it over a second time.
        if w.reset.is_none() && w.ended.is_some_and(|e| reset <= e + SAME_WINDOW) {
            return;
        }
        let newer = w.reset.is_none_or(|cur| reset > cur + SAME_WINDOW);
        if newer {
            // First news of this window: the server's count, less nothing we can know of.
            w.reset = Some(reset);
            w.remaining = Some(match w.remaining {
                Some(local) => local.min(rem),
                None => rem,
            });
        } else {
            // Same window: our own count already includes requests still in flight; the
            // server's is lower only when someone else spends the same key.
            w.remaining = Some(w.remaining.map_or(rem, |local| local.min(rem)));
        }
    }
}

/// The budget a request spends.
#[derive(Debug, Clone)]
pub(crate) enum Budget {
    /// The in-process [`Pacer`].
    Local,
    /// The shared budget in Redis under this key; `fallback`: whether the in-process pacer
    /// stands in while Redis is unreachable (API-key budgets; application tokens have their
    /// own hourly buckets and are then not paced).
    #[cfg(feature = "redis")]
    Shared { key: String, fallback: bool },
}

/// How the client paces: in-process, or through a budget shared in Redis.
#[derive(Debug)]
pub(crate) enum Pacing {
    /// One budget per client, in memory.
    Local(Pacer),
    /// One budget per credential, in Redis, shared by every client using it.
    #[cfg(feature = "redis")]
    Shared {
        /// The shared budget.
        budget: crate::SharedRateBudget,
        /// Paces API-key requests while Redis is unreachable (kept informed all along).
        fallback: Pacer,
    },
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing::Local(Pacer::default())
    }
}

impl Pacing {
    /// Pacing through a shared budget.
    #[cfg(feature = "redis")]
    pub(crate) fn shared(budget: crate::SharedRateBudget) -> Self {
        Pacing::Shared {
            budget,
            fallback: Pacer::default(),
        }
    }

    /// The budget a request with these (final) headers spends; `None`: not paced. In-process,
    /// requests with an application token are not paced (they count in the token's own hourly
    /// bucket); shared, they spend the token's budget.
    pub(crate) fn budget_of(&self, headers: &HeaderMap) -> Option<Budget> {
        let token = headers.get(crate::client::APPLICATION_TOKEN_HEADER);
        match self {
            Pacing::Local(_) => token.is_none().then_some(Budget::Local),
            #[cfg(feature = "redis")]
            Pacing::Shared { budget, .. } => {
                use crate::shared_budget::Credential;
                let (kind, secret) = match (token, headers.get(crate::client::API_KEY_HEADER)) {
                    (Some(t), _) => (Credential::ApplicationToken, t),
                    (None, Some(k)) => (Credential::ApiKey, k),
                    (None, None) => return Some(Budget::Local),
                };
                Some(Budget::Shared {
                    key: budget.key_for(kind, secret.as_bytes()),
                    fallback: kind == Credential::ApiKey,
                })
            }
        }
    }

    fn local(&self) -> &Pacer {
        match self {
            Pacing::Local(p) => p,
            #[cfg(feature = "redis")]
            Pacing::Shared { fallback, .. } => fallback,
        }
    }

    /// Wait until `budget` has a unit for one more request, and take it.
    pub(crate) async fn acquire(&self, budget: &Budget) {
        match budget {
            Budget::Local => self.local().acquire().await,
            #[cfg(feature = "redis")]
            Budget::Shared { key, fallback } => {
                let Pacing::Shared { budget: shared, .. } = self else {
                    return self.local().acquire().await;
                };
                loop {
                    match shared.try_acquire(key).await {
                        Ok(None) => return,
                        Ok(Some(wait)) => {
                            // A little jitter so replicas woken by the same reset do not all
                            // ask Redis in the same millisecond.
                            let jitter = Duration::from_micros(rand::random_range(0..2_000));
                            tracing::trace!(
                                wait_ms = wait.as_millis() as u64,
                                "pacing: waiting for the shared rate-limit budget"
                            );
                            tokio::time::sleep(wait + jitter).await;
                        }
                        Err(e) => {
                            shared.warn_unavailable(&e);
                            if *fallback {
                                self.local().acquire().await;
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Learn from a response's rate-limit headers (an empty map: no answer came).
    pub(crate) async fn observe(&self, budget: &Budget, headers: &HeaderMap) {
        match budget {
            Budget::Local => self.local().observe(headers),
            #[cfg(feature = "redis")]
            Budget::Shared { key, fallback } => {
                if *fallback {
                    self.local().observe(headers);
                }
                if let Pacing::Shared { budget: shared, .. } = self {
                    if let Err(e) = shared.observe(key, headers).await {
                        shared.warn_unavailable(&e);
                    }
                }
            }
        }
    }
}

pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(limit: u64, remaining: u64, reset_in: Duration) -> HeaderMap {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        let reset = (now + reset_in).as_secs();
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", reset),
        ] {
            h.insert(k, HeaderValue::from_str(&v.to_string()).expect("digits"));
        }
        h
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_until_the_limit_is_known_then_the_budget() {
        let p = std::sync::Arc::new(Pacer::default());
        p.acquire().await; // the probe
        let second = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "waits for the probe's answer");
        p.observe(&headers(3, 2, Duration::from_secs(30)));
        second.await.expect("joins");
        // One unit left in this window (3 - probe - second).
        p.acquire().await;
        let t = Instant::now();
        let blocked = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire().await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!blocked.is_finished(), "budget spent: waits for the reset");
        blocked.await.expect("joins after the reset");
        assert!(t.elapsed() >= Duration::from_secs(29));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_of_the_window_that_ended_is_no_news() {
        let p = Pacer::default();
        {
            // A spent window of 3 that ended a moment ago, by this client's estimate of a
            // reset still a little ahead on the server's clock.
            let mut w = lock(&p.window);
            w.limit = Some(3);
            w.remaining = Some(0);
            w.reset = Some(Instant::now());
        }
        p.acquire().await; // turns the window over: 2 left
        lock(&p.window).ended = Some(Instant::now() + Duration::from_secs(1));
        // An answer of the ended window (0 left, reset within the next second).
        p.observe(&headers(3, 0, Duration::from_millis(500)));
        {
            let w = lock(&p.window);
            assert_eq!((w.remaining, w.reset), (Some(2), None));
        }
        // News of the new window is still taken.
        p.observe(&headers(3, 1, Duration::from_secs(3)));
        assert_eq!(lock(&p.window).remaining, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_empties_the_budget_until_reset() {
        let p = Pacer::default();
        p.acquire().await;
        p.observe(&headers(100, 50, Duration::from_secs(60)));
        p.observe(&headers(100, 0, Duration::from_secs(60)));
        let t = Instant::now();
        p.acquire().await;
        assert!(t.elapsed() >= Duration::from_secs(59));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_from_a_past_window_does_not_reopen_the_budget() {
        let p = std::sync::Arc::new(Pacer::default());
        p.acquire().await;
        p.observe(&headers(2, 0, Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // The window turned over: 2 units again; one is taken.
        p.acquire().await;
        // An answer from the window that already ended (its reset is in the past) arrives
        // late: it must not pass for news of a new window (which would turn over again and
        // hand out the full limit a second time).
        let mut late = HeaderMap::new();
        late.insert("x-ratelimit-limit", HeaderValue::from(2));
        late.insert("x-ratelimit-remaining", HeaderValue::from(0));
        late.insert("x-ratelimit-reset", HeaderValue::from(1));
        p.observe(&late);
        p.acquire().await;
        let third = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!third.is_finished(), "the window's 2 units are spent");
        third.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_whose_requests_all_failed_is_probed_again() {
        let p = std::sync::Arc::new(Pacer::default());
        p.acquire().await;
        p.observe(&headers(2, 2, Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // The new window's 2 units go out and every one fails in transport (no headers).
        p.acquire().await;
        p.acquire().await;
        p.observe(&HeaderMap::new());
        p.observe(&HeaderMap::new());
        let t = Instant::now();
        let next = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire().await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !next.is_finished(),
            "spent: no request before the stall delay"
        );
        tokio::time::timeout(Duration::from_secs(60), next)
            .await
            .expect("a probe goes out after the stall delay")
            .expect("joins");
        assert!(t.elapsed() >= STALLED_AFTER - Duration::from_secs(2));
        // Only one probe at a time.
        let second = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished());
        p.observe(&headers(2, 1, Duration::from_secs(1)));
        second.await.expect("the probe's answer reopens the budget");
    }

    #[test]
    fn local_pacing_skips_application_token_requests() {
        let p = Pacing::default();
        let mut h = HeaderMap::new();
        h.insert(crate::client::API_KEY_HEADER, HeaderValue::from_static("k"));
        assert!(matches!(p.budget_of(&h), Some(Budget::Local)));
        h.insert(
            crate::client::APPLICATION_TOKEN_HEADER,
            HeaderValue::from_static("t"),
        );
        assert!(p.budget_of(&h).is_none());
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn shared_pacing_keys_each_credential_by_its_hash() {
        let budget = crate::SharedRateBudget::builder()
            .connect_lazy("redis://127.0.0.1:1/")
            .await
            .expect("lazy");
        let p = Pacing::shared(budget);
        let mut h = HeaderMap::new();
        h.insert(
            crate::client::API_KEY_HEADER,
            HeaderValue::from_static("sk_test_key"),
        );
        let Some(Budget::Shared { key, fallback }) = p.budget_of(&h) else {
            panic!("API-key requests spend the shared budget");
        };
        assert!(key.starts_with("dakota:ratelimit:api-key:") && fallback);
        assert!(!key.contains("sk_test_key"));
        h.insert(
            crate::client::APPLICATION_TOKEN_HEADER,
            HeaderValue::from_static("tok_1"),
        );
        let Some(Budget::Shared { key, fallback }) = p.budget_of(&h) else {
            panic!("token requests spend the token's shared budget");
        };
        assert!(key.starts_with("dakota:ratelimit:app-token:") && !fallback);
        assert!(matches!(
            p.budget_of(&HeaderMap::new()),
            Some(Budget::Local)
        ));
    }

    #[test]
    fn responses_without_headers_change_nothing() {
        let p = Pacer::default();
        p.observe(&HeaderMap::new());
        let w = lock(&p.window);
        assert_eq!((w.limit, w.remaining, w.reset), (None, None, None));
    }
}
