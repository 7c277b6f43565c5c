//! Retry policy: exponential backoff with full jitter, honouring `Retry-After` and
//! `X-RateLimit-Reset`.
//!
//! The arithmetic is small enough that a backoff crate would add more API surface than it
//! removes; the policy is a plain value so callers can reason about worst-case latency.

use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How failed requests are retried. Start from [`RetryPolicy::default`] (or
/// [`RetryPolicy::none`]) and change what you need:
///
/// ```
/// use dakota_ext::RetryPolicy;
/// use std::time::Duration;
/// let policy = RetryPolicy::default().max_attempts(6).max_backoff(Duration::from_secs(20));
/// assert_eq!(policy.max_attempts, 6);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time (before jitter).
    pub initial_backoff: Duration,
    /// Cap on the computed backoff.
    pub max_backoff: Duration,
    /// Longest server-requested wait (`Retry-After`/`X-RateLimit-Reset`) the client will honour;
    /// beyond it the call fails with [`crate::Error::RateLimited`] instead of sleeping.
    pub max_retry_after: Duration,
    /// Randomize backoff in `[0, backoff]` (full jitter) so clients do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Total attempts including the first (1 = never retry).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Backoff before the first retry; doubles each time (before jitter).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Cap on the computed backoff.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Longest server-requested wait the client will honour.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Randomize backoff (full jitter); on by default.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Backoff before retry number `retry` (1-based), before any server hint.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.max_backoff);
        if self.jitter && !capped.is_zero() {
            let nanos = u64::try_from(capped.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::random_range(0..=nanos))
        } else {
            capped
        }
    }
}

/// Whether a response status is worth retrying.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as a duration: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Time until `X-RateLimit-Reset` (absolute Unix seconds), measured against the sub-second
/// clock so a paced client wakes when the window turns over, not up to a second later.
pub fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(
        Duration::from_secs(reset)
            .checked_sub(now)
            .unwrap_or(Duration::ZERO),
    )
}

/// `X-RateLimit-Remaining`.
pub fn rate_limit_remaining(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-remaining")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The server's requested wait for a retryable response, if any.
pub fn server_delay(status: u16, headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| {
        if status == 429 {
            rate_limit_reset(headers)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(3), Duration::from_secs(1));
        assert_eq!(p.backoff(40), Duration::from_secs(8));
        let j = RetryPolicy::default();
        for r in 1..10 {
            assert!(j.backoff(r) <= Duration::from_secs(8));
        }
    }

    #[test]
    fn parses_server_hints() {
        let mut h = HeaderMap::new();
        assert_eq!(server_delay(429, &h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(server_delay(503, &h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        let mut h = HeaderMap::new();
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 30;
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        let d = server_delay(429, &h).unwrap_or_default();
        assert!(
            d >= Duration::from_secs(29) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(server_delay(503, &h), None, "reset only matters for 429");
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(rate_limit_remaining(&h), Some(3));
    }
}
