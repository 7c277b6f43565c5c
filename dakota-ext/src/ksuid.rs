//! KSUIDs: the 27-character, time-ordered identifiers Dakota uses for customers, applications,
//! events and most other resources.
//!
//! The type lives in `dakota-api` (the generator maps the spec's `KSUID` schema to it), so
//! [`Ksuid`], `dakota_ext::types::Ksuid` and every id field of the generated types are one and
//! the same type: parsed and validated once, `Display`, `serde`, ordered by creation time.
//!
//! ```
//! use dakota_ext::Ksuid;
//! let id: Ksuid = "0ujtsYcgvSTl8PAuAdqWYSMnLOv".parse()?;
//! assert_eq!(id.timestamp().to_rfc3339(), "2017-10-10T04:00:47+00:00");
//! assert!("not-a-ksuid".parse::<Ksuid>().is_err());
//! # Ok::<(), dakota_ext::ksuid::KsuidError>(())
//! ```

pub use dakota_api::ksuid::{Ksuid, KsuidError, KSUID_EPOCH};
