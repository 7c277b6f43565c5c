//! KSUIDs: the 27-character, time-ordered identifiers Dakota uses for customers, applications,
//! events and most other resources.
//!
//! The base62 codec and id generation come from `svix-ksuid` (well kept, used in production by
//! Svix). It silently truncates out-of-range strings and rejects ids whose leading bytes are
//! zero, so [`Ksuid::parse`] validates the text itself first: exactly 27 characters of
//! `[0-9A-Za-z]` and at most the largest 160-bit value, `aWgEPTl1tmebfsQzFP4bxwgy80V`.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use svix_ksuid::KsuidLike;

/// Seconds between the Unix epoch and the KSUID epoch (2014-05-13T16:53:20Z).
pub const KSUID_EPOCH: i64 = 1_400_000_000;

/// The largest valid KSUID string (2^160 - 1 in base62).
const MAX: &str = "aWgEPTl1tmebfsQzFP4bxwgy80V";
const LEN: usize = 27;

/// Why a string is not a KSUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KsuidError {
    /// Not exactly 27 characters.
    #[error("a KSUID has 27 characters, got {0}")]
    Length(usize),
    /// A character outside `[0-9A-Za-z]`.
    #[error("invalid KSUID character {0:?} at position {1}")]
    Character(char, usize),
    /// Above the largest 160-bit value.
    #[error("KSUID {0:?} is out of range (max {MAX})")]
    OutOfRange(String),
    /// A timestamp outside the 32-bit KSUID range (2014-05-13 .. 2150-06-19).
    #[error("timestamp {0} is outside the KSUID range")]
    Timestamp(i64),
}

/// A validated KSUID. Ordered by creation time (then payload), like its text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ksuid(svix_ksuid::Ksuid);

impl Ksuid {
    /// Parse and validate a KSUID string.
    pub fn parse(s: &str) -> Result<Self, KsuidError> {
        if s.len() != LEN {
            return Err(KsuidError::Length(s.chars().count()));
        }
        if let Some((i, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_alphanumeric()) {
            return Err(KsuidError::Character(c, i));
        }
        // Same length and ASCII order 0-9 < A-Z < a-z matches base62 digit order.
        if s > MAX {
            return Err(KsuidError::OutOfRange(s.to_string()));
        }
        Ok(Self(svix_ksuid::Ksuid::from_bytes(decode(s))))
    }

    /// A new random KSUID stamped with the current time.
    pub fn now() -> Self {
        Self(svix_ksuid::Ksuid::new(None::<std::time::SystemTime>, None))
    }

    /// A new random KSUID stamped with `at` (second precision).
    pub fn at(at: DateTime<Utc>) -> Result<Self, KsuidError> {
        let secs = at.timestamp();
        let raw = u32::try_from(secs - KSUID_EPOCH).map_err(|_| KsuidError::Timestamp(secs))?;
        Ok(Self(svix_ksuid::Ksuid::new_raw(raw, None)))
    }

    /// Build from a raw timestamp (seconds since the KSUID epoch) and 16 payload bytes.
    pub fn from_parts(raw_timestamp: u32, payload: [u8; 16]) -> Self {
        Self(svix_ksuid::Ksuid::new_raw(raw_timestamp, Some(&payload)))
    }

    /// The creation time encoded in the id (second precision).
    pub fn timestamp(&self) -> DateTime<Utc> {
        let secs = i64::from(self.0.timestamp_raw()) + KSUID_EPOCH;
        // Every u32 offset from the KSUID epoch is a valid chrono time.
        Utc.timestamp_opt(secs, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The 16 random payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.0.payload()
    }

    /// The 20 raw bytes (4 timestamp + 16 payload).
    pub fn as_bytes(&self) -> &[u8; 20] {
        self.0.bytes()
    }
}

/// Base62 -> 20 big-endian bytes; the input is already validated (27 chars, <= MAX).
fn decode(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for c in s.bytes() {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            _ => c - b'a' + 36,
        };
        let mut carry = u32::from(digit);
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 62 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }
    out
}

impl fmt::Display for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // svix-ksuid pads to 27 characters.
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ksuid({self})")
    }
}

impl FromStr for Ksuid {
    type Err = KsuidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Ksuid {
    type Error = KsuidError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Ksuid {
    type Error = KsuidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl TryFrom<&dakota_api::types::Ksuid> for Ksuid {
    type Error = KsuidError;
    fn try_from(k: &dakota_api::types::Ksuid) -> Result<Self, Self::Error> {
        Self::parse(k.as_str())
    }
}

impl TryFrom<dakota_api::types::Ksuid> for Ksuid {
    type Error = KsuidError;
    fn try_from(k: dakota_api::types::Ksuid) -> Result<Self, Self::Error> {
        Self::parse(k.as_str())
    }
}

impl From<Ksuid> for dakota_api::types::Ksuid {
    fn from(k: Ksuid) -> Self {
        // The generated newtype checks length 27 and `^[0-9A-Za-z]{27}$`, which every
        // `Ksuid` satisfies; go through serde so no private field is touched.
        serde_json::from_value(serde_json::Value::String(k.to_string())).unwrap_or_else(|_| {
            unreachable!("a validated KSUID always fits the generated KSUID type")
        })
    }
}

impl From<Ksuid> for String {
    fn from(k: Ksuid) -> Self {
        k.to_string()
    }
}

impl Serialize for Ksuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ksuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_reads_time() {
        let k = Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").expect("valid");
        assert_eq!(k.to_string(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert_eq!(k.timestamp().to_rfc3339(), "2017-10-10T04:00:47+00:00");
    }

    #[test]
    fn extremes() {
        let zero = Ksuid::parse("000000000000000000000000000").expect("min");
        assert_eq!(zero.timestamp().timestamp(), KSUID_EPOCH);
        assert_eq!(zero.to_string(), "000000000000000000000000000");
        let max = Ksuid::parse(MAX).expect("max");
        assert_eq!(max.as_bytes(), &[0xff; 20]);
        assert_eq!(max.to_string(), MAX);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(Ksuid::parse(""), Err(KsuidError::Length(0)));
        assert_eq!(
            Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLO"),
            Err(KsuidError::Length(26))
        );
        assert_eq!(
            Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLO-"),
            Err(KsuidError::Character('-', 26))
        );
        assert!(matches!(
            Ksuid::parse("aWgEPTl1tmebfsQzFP4bxwgy80W"),
            Err(KsuidError::OutOfRange(_))
        ));
        assert!(matches!(
            Ksuid::parse("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
            Err(KsuidError::OutOfRange(_))
        ));
        assert!(matches!(
            Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLé"),
            Err(KsuidError::Length(_)) | Err(KsuidError::Character(..))
        ));
        let err = serde_json::from_str::<Ksuid>("\"nope\"").expect_err("invalid");
        assert!(err.to_string().contains("27 characters"));
        assert!(Ksuid::at(DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()).is_err());
    }

    proptest! {
        #[test]
        fn text_round_trip(bytes in any::<[u8; 20]>()) {
            let k = Ksuid(svix_ksuid::Ksuid::from_bytes(bytes));
            let s = k.to_string();
            prop_assert_eq!(s.len(), 27);
            let back = Ksuid::parse(&s).expect("own output parses");
            prop_assert_eq!(back, k);
            prop_assert_eq!(back.as_bytes(), &bytes);
        }

        #[test]
        fn serde_round_trip(raw in any::<u32>(), payload in any::<[u8; 16]>()) {
            let k = Ksuid::from_parts(raw, payload);
            let json = serde_json::to_string(&k).expect("serializes");
            prop_assert_eq!(serde_json::from_str::<Ksuid>(&json).expect("deserializes"), k);
            prop_assert_eq!(k.timestamp().timestamp(), i64::from(raw) + KSUID_EPOCH);
            let api: dakota_api::types::Ksuid = k.into();
            prop_assert_eq!(Ksuid::try_from(&api).expect("back"), k);
        }

        #[test]
        fn order_follows_time(a in any::<u32>(), b in any::<u32>(), p in any::<[u8; 16]>()) {
            let (ka, kb) = (Ksuid::from_parts(a, p), Ksuid::from_parts(b, p));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert_eq!(ka.to_string().cmp(&kb.to_string()), a.cmp(&b));
        }

        #[test]
        fn at_round_trips_seconds(secs in KSUID_EPOCH..(KSUID_EPOCH + i64::from(u32::MAX))) {
            let t = DateTime::<Utc>::from_timestamp(secs, 0).expect("in range");
            prop_assert_eq!(Ksuid::at(t).expect("in range").timestamp(), t);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = Ksuid::parse(&s);
        }
    }
}
