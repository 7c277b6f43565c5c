//! Timestamps as Dakota sends them: Unix nanoseconds (e.g. `application_expires_at`) and Unix
//! seconds (`created_at`, `updated_at`, KYB link times, webhook timestamps).
//!
//! Every conversion is exact and checked: a value chrono cannot represent is a [`TimeError`],
//! never a wrap-around or a panic.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A timestamp outside what the conversion can represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {value} {unit} is out of range")]
pub struct TimeError {
    /// The offending value.
    pub value: i128,
    /// Its unit (`"ns"` or `"s"`).
    pub unit: &'static str,
}

/// Unix time in nanoseconds, as in `application_expires_at: 1734567890000000000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// Exact conversion to a UTC time (nanosecond precision kept).
    pub fn to_datetime(self) -> Result<DateTime<Utc>, TimeError> {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        Utc.timestamp_opt(secs, nanos).single().ok_or(TimeError {
            value: self.0.into(),
            unit: "ns",
        })
    }

    /// Exact conversion from a UTC time; fails outside ±292 years of 1970 (the i64 range).
    pub fn from_datetime(t: DateTime<Utc>) -> Result<Self, TimeError> {
        t.timestamp_nanos_opt().map(Self).ok_or(TimeError {
            value: i128::from(t.timestamp()) * 1_000_000_000,
            unit: "ns",
        })
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Ok(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            Err(_) => write!(f, "{}ns", self.0),
        }
    }
}

impl TryFrom<UnixNanos> for DateTime<Utc> {
    type Error = TimeError;
    fn try_from(n: UnixNanos) -> Result<Self, Self::Error> {
        n.to_datetime()
    }
}

/// Unix time in seconds, as in `created_at: 1767225600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixSeconds(pub i64);

impl UnixSeconds {
    /// Exact conversion to a UTC time.
    pub fn to_datetime(self) -> Result<DateTime<Utc>, TimeError> {
        Utc.timestamp_opt(self.0, 0).single().ok_or(TimeError {
            value: self.0.into(),
            unit: "s",
        })
    }

    /// Conversion from a UTC time; fails when `t` has a sub-second part (not exact).
    pub fn from_datetime(t: DateTime<Utc>) -> Result<Self, TimeError> {
        if t.timestamp_subsec_nanos() != 0 {
            return Err(TimeError {
                value: t.timestamp_nanos_opt().map_or(i128::MAX, i128::from),
                unit: "ns",
            });
        }
        Ok(Self(t.timestamp()))
    }
}

impl fmt::Display for UnixSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Ok(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Err(_) => write!(f, "{}s", self.0),
        }
    }
}

/// Nanoseconds (an `i64` field of a generated type) to UTC time.
pub fn from_nanos(nanos: i64) -> Result<DateTime<Utc>, TimeError> {
    UnixNanos(nanos).to_datetime()
}

/// Seconds (an `i64` field of a generated type) to UTC time.
pub fn from_seconds(secs: i64) -> Result<DateTime<Utc>, TimeError> {
    UnixSeconds(secs).to_datetime()
}

/// Serde adapter: a `DateTime<Utc>` field stored as Unix nanoseconds
/// (`#[serde(with = "dakota_ext::time::nanos")]`). It is chrono's own
/// [`chrono::serde::ts_nanoseconds`]: every `i64` of nanoseconds is a valid time, and a time
/// outside ±292 years of 1970 (the `i64` range) fails to serialize.
pub use chrono::serde::ts_nanoseconds as nanos;

/// Serde adapter: a `DateTime<Utc>` field stored as Unix seconds
/// (`#[serde(with = "dakota_ext::time::seconds")]`).
pub mod seconds {
    use super::*;

    /// Serialize as an integer of seconds. A sub-second part is an error, not truncated (which
    /// is why this is not chrono's `ts_seconds::serialize`: it drops the fraction silently).
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        UnixSeconds::from_datetime(*t)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    /// Deserialize from an integer of seconds: chrono's own `ts_seconds::deserialize` (a value
    /// chrono cannot represent is an error naming it).
    pub use chrono::serde::ts_seconds::deserialize;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documented_example() {
        let t = UnixNanos(1_734_567_890_000_000_000)
            .to_datetime()
            .expect("in range");
        assert_eq!(t.to_rfc3339(), "2024-12-19T00:24:50+00:00");
        assert_eq!(
            UnixNanos(1_734_567_890_000_000_000).to_string(),
            "2024-12-19T00:24:50Z"
        );
        assert_eq!(
            UnixSeconds(1_734_567_890).to_string(),
            "2024-12-19T00:24:50Z"
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert!(UnixSeconds(i64::MAX).to_datetime().is_err());
        assert!(UnixSeconds(i64::MIN).to_datetime().is_err());
        assert_eq!(UnixSeconds(i64::MAX).to_string(), format!("{}s", i64::MAX));
        let far = Utc
            .with_ymd_and_hms(2500, 1, 1, 0, 0, 0)
            .single()
            .expect("valid date");
        assert!(UnixNanos::from_datetime(far).is_err());
        assert!(
            UnixSeconds::from_datetime(Utc.timestamp_opt(1, 5).single().expect("valid")).is_err()
        );
        #[derive(serde::Deserialize, Debug)]
        struct S {
            #[serde(with = "seconds")]
            #[allow(dead_code)]
            at: DateTime<Utc>,
        }
        let e =
            serde_json::from_str::<S>(r#"{"at": 9223372036854775807}"#).expect_err("out of range");
        assert!(e.to_string().contains("9223372036854775807"), "{e}");
        assert!(serde_json::from_str::<S>(r#"{"at": "soon"}"#).is_err());
    }

    proptest! {
        #[test]
        fn nanos_round_trip(n in any::<i64>()) {
            let t = UnixNanos(n).to_datetime().expect("every i64 of ns is a valid time");
            prop_assert_eq!(UnixNanos::from_datetime(t).expect("back"), UnixNanos(n));
        }

        #[test]
        fn seconds_round_trip(s in -8_000_000_000_000i64..8_000_000_000_000i64) {
            match UnixSeconds(s).to_datetime() {
                Ok(t) => prop_assert_eq!(UnixSeconds::from_datetime(t).expect("back"), UnixSeconds(s)),
                Err(e) => prop_assert_eq!(e.unit, "s"),
            }
        }

        #[test]
        fn serde_adapters_round_trip(n in any::<i64>()) {
            #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
            struct N { #[serde(with = "nanos")] at: DateTime<Utc> }
            let v: N = serde_json::from_value(serde_json::json!({ "at": n })).expect("decodes");
            prop_assert_eq!(serde_json::to_value(&v).expect("encodes"), serde_json::json!({ "at": n }));
        }

        #[test]
        fn seconds_adapter_round_trips_and_refuses_fractions(s in -8_000_000_000_000i64..8_000_000_000_000i64, frac in 1u32..1_000_000_000) {
            #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
            struct S { #[serde(with = "seconds")] at: DateTime<Utc> }
            match serde_json::from_value::<S>(serde_json::json!({ "at": s })) {
                Ok(v) => {
                    prop_assert_eq!(serde_json::to_value(&v).expect("encodes"), serde_json::json!({ "at": s }));
                    let fractional = S { at: v.at + chrono::Duration::nanoseconds(i64::from(frac)) };
                    prop_assert!(serde_json::to_value(&fractional).is_err());
                }
                Err(e) => prop_assert!(UnixSeconds(s).to_datetime().is_err(), "{}", e),
            }
        }
    }
}
