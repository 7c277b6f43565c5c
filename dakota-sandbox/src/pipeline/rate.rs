//! Fixed-window rate limits per credential (`X-RateLimit-*` headers, `429` past the limit).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::state::lock;

/// A fixed rate-limit window.
#[derive(Debug, Clone, Copy)]
struct Window {
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

/// Windows by bucket (one per credential).
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimits {
    /// Counts one request in `bucket` (fixed window of `window_secs`, `limit` requests).
    pub(crate) fn count(&self, bucket: &str, limit: u32, window_secs: i64, now: i64) -> RateInfo {
        let mut windows = lock(&self.windows);
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
}
