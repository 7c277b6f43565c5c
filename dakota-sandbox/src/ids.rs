//! Identifiers: time-ordered KSUIDs, application tokens, API keys and request ids.

use chrono::{DateTime, Utc};
use dakota_api::types;
use rand::distr::Alphanumeric;
use rand::Rng;
use svix_ksuid::{Ksuid, KSUID_EPOCH};

/// Hands out KSUIDs that sort in creation order.
///
/// A plain KSUID only has one-second resolution, so two ids minted in the same second sort
/// randomly. The sandbox pages over ids in creation order, so the first eight payload bytes
/// carry a process-wide counter (big endian) and the rest stay random; the timestamp never
/// goes backwards. The result is still a standard 27-character base62 KSUID.
#[derive(Debug, Default)]
pub(crate) struct IdGen {
    counter: u64,
    last_ts: u32,
}

impl IdGen {
    /// A generator that continues from a saved [`IdGen::state`].
    pub(crate) fn resume(counter: u64, last_ts: u32) -> Self {
        Self { counter, last_ts }
    }

    /// What must be saved to continue the sequence after a restart: the counter and the
    /// last timestamp.
    pub(crate) fn state(&self) -> (u64, u32) {
        (self.counter, self.last_ts)
    }

    /// A new KSUID for an entity created at `now`.
    pub(crate) fn next(&mut self, now: DateTime<Utc>) -> String {
        let secs = now.timestamp().saturating_sub(KSUID_EPOCH);
        let ts = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
        let ts = ts.max(self.last_ts);
        self.last_ts = ts;
        self.counter = self.counter.wrapping_add(1);
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&self.counter.to_be_bytes());
        rand::rng().fill(&mut payload[8..]);
        Ksuid::new_raw(ts, Some(&payload)).to_string()
    }
}

/// `len` random ASCII letters and digits.
pub(crate) fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh API key: `sk_sandbox_` followed by 32 random letters and digits.
pub(crate) fn api_key() -> String {
    format!("sk_sandbox_{}", random_alnum(32))
}

/// A fresh per-application token (43 letters and digits, like Dakota's).
pub(crate) fn application_token() -> String {
    random_alnum(43)
}

/// A fresh request id (`req_` and 26 lower-case letters and digits).
pub(crate) fn request_id() -> String {
    format!("req_{}", random_alnum(26).to_ascii_lowercase())
}

/// Whether `s` has the KSUID shape the spec requires (27 base62 characters).
pub(crate) fn is_ksuid(s: &str) -> bool {
    s.len() == 27 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A `types::Ksuid` from an id the sandbox minted (always well-formed; the zero KSUID
/// stands in should that ever not hold).
pub(crate) fn ksuid(id: &str) -> types::Ksuid {
    types::Ksuid::try_from(id).unwrap_or_else(|_| zero_ksuid())
}

#[allow(clippy::expect_used)]
fn zero_ksuid() -> types::Ksuid {
    types::Ksuid::try_from("000000000000000000000000000").expect("27 zeros are a valid KSUID")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksuids_sort_in_creation_order_within_one_second() {
        let mut gen = IdGen::default();
        let now = Utc::now();
        let ids: Vec<String> = (0..1000).map(|_| gen.next(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|id| is_ksuid(id)));
        assert!(ids.iter().all(|id| id.parse::<Ksuid>().is_ok()));
    }

    #[test]
    fn clock_going_backwards_keeps_order() {
        let mut gen = IdGen::default();
        let now = Utc::now();
        let a = gen.next(now);
        let b = gen.next(now - chrono::Duration::seconds(10));
        assert!(a < b);
    }
}
