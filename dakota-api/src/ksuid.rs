//! KSUIDs: the 27-character, time-ordered identifiers Dakota uses for customers, applications,
//! events and most other resources.
//!
//! Hand-written (not generated): `cargo xtask generate` maps the spec's `KSUID` schema to this
//! type through progenitor's type replacement, so every generated field, path parameter and
//! builder uses it, and `types::Ksuid` is the same type. Parsing validates the text itself:
//! exactly 27 characters of `[0-9A-Za-z]` and at most the largest 160-bit value,
//! `aWgEPTl1tmebfsQzFP4bxwgy80V`. The base62 codec is a few lines, written here so the
//! generated crate needs no KSUID dependency (the random payload comes from `uuid`'s v4
//! generator, which the crate already uses).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Seconds between the Unix epoch and the KSUID epoch (2014-05-13T16:53:20Z).
pub const KSUID_EPOCH: i64 = 1_400_000_000;

/// The largest valid KSUID string (2^160 - 1 in base62).
const MAX: &str = "aWgEPTl1tmebfsQzFP4bxwgy80V";
const LEN: usize = 27;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a KSUID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KsuidError {
    /// Not exactly 27 characters.
    Length(usize),
    /// A character outside `[0-9A-Za-z]` (the character and its byte offset).
    Character(char, usize),
    /// Above the largest 160-bit value.
    OutOfRange(String),
    /// A timestamp outside the 32-bit KSUID range (2014-05-13 .. 2150-06-19).
    Timestamp(i64),
}

impl fmt::Display for KsuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KsuidError::Length(n) => write!(f, "a KSUID has 27 characters, got {n}"),
            KsuidError::Character(c, i) => {
                write!(f, "invalid KSUID character {c:?} at position {i}")
            }
            KsuidError::OutOfRange(s) => write!(f, "KSUID {s:?} is out of range (max {MAX})"),
            KsuidError::Timestamp(t) => write!(f, "timestamp {t} is outside the KSUID range"),
        }
    }
}

impl std::error::Error for KsuidError {}

/// A validated KSUID: 4 bytes of seconds since [`KSUID_EPOCH`] and 16 random bytes. Ordered
/// by creation time (then payload), like its text. `Display`, `serde`, [`Ksuid::as_str`] and
/// `Deref<Target = str>` give the 27-character text form (kept beside the bytes, so reading it
/// costs nothing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ksuid {
    // Field order matters for the derived `Ord`: bytes first (the text orders the same way).
    bytes: [u8; 20],
    text: [u8; LEN],
}

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
        // A valid text is already the canonical form (fixed width, one digit per position), so
        // it is kept as given instead of encoded again from the bytes: encoding is the costly
        // half, and every id of every response goes through here.
        let mut text = [0u8; LEN];
        text.copy_from_slice(s.as_bytes());
        Ok(Self {
            bytes: decode(s),
            text,
        })
    }

    /// A new random KSUID stamped with the current time.
    #[must_use]
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let raw = u32::try_from(secs.saturating_sub(KSUID_EPOCH as u64)).unwrap_or(u32::MAX);
        Self::from_parts(raw, random_payload())
    }

    /// A new random KSUID stamped with `at` (second precision).
    pub fn at(at: DateTime<Utc>) -> Result<Self, KsuidError> {
        let secs = at.timestamp();
        let raw = u32::try_from(secs - KSUID_EPOCH).map_err(|_| KsuidError::Timestamp(secs))?;
        Ok(Self::from_parts(raw, random_payload()))
    }

    /// Build from a raw timestamp (seconds since the KSUID epoch) and 16 payload bytes.
    #[must_use]
    pub fn from_parts(raw_timestamp: u32, payload: [u8; 16]) -> Self {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&raw_timestamp.to_be_bytes());
        bytes[4..].copy_from_slice(&payload);
        Self::from_bytes(bytes)
    }

    /// Build from the 20 raw bytes (4 timestamp + 16 payload); every value is valid.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self {
            bytes,
            text: encode(&bytes),
        }
    }

    /// The 27-character text form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // The base62 alphabet is ASCII, so the text is always valid UTF-8.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The creation time encoded in the id (second precision).
    #[must_use]
    pub fn timestamp(&self) -> DateTime<Utc> {
        let secs = i64::from(self.raw_timestamp()) + KSUID_EPOCH;
        // Every u32 offset from the KSUID epoch is a valid chrono time.
        Utc.timestamp_opt(secs, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Seconds since [`KSUID_EPOCH`], as stored in the first 4 bytes.
    #[must_use]
    pub fn raw_timestamp(&self) -> u32 {
        u32::from_be_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }

    /// The 16 random payload bytes.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.bytes[4..]
    }

    /// The 20 raw bytes (4 timestamp + 16 payload).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.bytes
    }
}

fn random_payload() -> [u8; 16] {
    // uuid's v4 generator draws from the OS's CSPRNG (`getrandom`); 6 of its 128 bits are the
    // fixed version/variant, which leaves 122 random bits per id.
    *uuid::Uuid::new_v4().as_bytes()
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

/// 20 big-endian bytes -> 27 base62 digits, zero-padded (repeated division by 62).
fn encode(bytes: &[u8; 20]) -> [u8; LEN] {
    let mut n = *bytes;
    let mut out = [b'0'; LEN];
    for slot in out.iter_mut().rev() {
        let mut rem = 0u32;
        for byte in n.iter_mut() {
            let v = (rem << 8) | u32::from(*byte);
            *byte = (v / 62) as u8;
            rem = v % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    out
}

impl fmt::Display for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Ksuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ksuid({self})")
    }
}

impl std::ops::Deref for Ksuid {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Ksuid {
    fn as_ref(&self) -> &str {
        self.as_str()
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

impl TryFrom<&String> for Ksuid {
    type Error = KsuidError;
    fn try_from(s: &String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Ksuid {
    type Error = KsuidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<&Ksuid> for Ksuid {
    fn from(k: &Ksuid) -> Self {
        *k
    }
}

impl From<Ksuid> for String {
    fn from(k: Ksuid) -> Self {
        k.to_string()
    }
}

impl PartialEq<str> for Ksuid {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Ksuid {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl Serialize for Ksuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Ksuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Ksuid {
    fn schema_name() -> String {
        "KSUID".into()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            string: Some(Box::new(schemars::schema::StringValidation {
                max_length: Some(LEN as u32),
                min_length: Some(LEN as u32),
                pattern: Some("^[0-9A-Za-z]{27}$".into()),
            })),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reads_time() {
        // The example of the KSUID reference implementation (segmentio/ksuid).
        let k = Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").expect("valid");
        assert_eq!(k.to_string(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert_eq!(k.timestamp().to_rfc3339(), "2017-10-10T04:00:47+00:00");
        // Its documented components: timestamp 107608047, payload B5A1CD34B5F99D1154FB6853345C9735.
        assert_eq!(k.raw_timestamp(), 107_608_047);
        assert_eq!(
            k.payload(),
            &[
                0xB5, 0xA1, 0xCD, 0x34, 0xB5, 0xF9, 0x9D, 0x11, 0x54, 0xFB, 0x68, 0x53, 0x34, 0x5C,
                0x97, 0x35
            ][..]
        );
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
            Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLO-"),
            Err(KsuidError::Character('-', 26))
        );
        assert!(matches!(
            Ksuid::parse("aWgEPTl1tmebfsQzFP4bxwgy80W"),
            Err(KsuidError::OutOfRange(_))
        ));
        let err = serde_json::from_str::<Ksuid>("\"nope\"").expect_err("invalid");
        assert!(err.to_string().contains("27 characters"));
        assert!(Ksuid::at(DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()).is_err());
    }

    #[test]
    fn now_is_fresh_and_random() {
        let (a, b) = (Ksuid::now(), Ksuid::now());
        assert_ne!(a, b);
        let age = Utc::now() - a.timestamp();
        assert!(age.num_seconds().abs() <= 2, "{age}");
        assert_eq!(Ksuid::parse(&format!("{a}")), Ok(a));
    }

    #[test]
    fn compares_with_text() {
        let k = Ksuid::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").expect("valid");
        assert!(k == "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert!(k != "0ujtsYcgvSTl8PAuAdqWYSMnLOw");
        assert!(k != "not a ksuid");
        assert_eq!(format!("{k:>30}"), "   0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert_eq!(k.as_str(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert!(k.starts_with("0ujts"), "derefs to the text");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn text_round_trip(bytes in any::<[u8; 20]>()) {
                let k = Ksuid::from_bytes(bytes);
                let s = k.to_string();
                prop_assert_eq!(s.len(), 27);
                let back = Ksuid::parse(&s).expect("own output parses");
                prop_assert_eq!(back, k);
                prop_assert_eq!(back.as_bytes(), &bytes);
            }

            #[test]
            fn parsed_text_is_the_canonical_text(s in "[0-9A-Za-z]{27}") {
                prop_assume!(s.as_str() <= MAX);
                let k = Ksuid::parse(&s).expect("valid");
                prop_assert_eq!(k.as_str(), s.as_str());
                prop_assert_eq!(k, Ksuid::from_bytes(*k.as_bytes()));
            }

            #[test]
            fn serde_round_trip(raw in any::<u32>(), payload in any::<[u8; 16]>()) {
                let k = Ksuid::from_parts(raw, payload);
                let json = serde_json::to_string(&k).expect("serializes");
                prop_assert_eq!(serde_json::from_str::<Ksuid>(&json).expect("deserializes"), k);
                prop_assert_eq!(k.timestamp().timestamp(), i64::from(raw) + KSUID_EPOCH);
                prop_assert_eq!(k.raw_timestamp(), raw);
                prop_assert_eq!(k.payload(), &payload[..]);
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
}
