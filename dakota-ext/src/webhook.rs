//! Receiving Dakota webhooks: signature verification, typed events, routing by event type
//! ([`EventRouter`]: exact types, wildcards, a default handler), deduplication and (with the
//! `axum` feature) a ready-made endpoint.
//!
//! # How Dakota signs a delivery
//!
//! * `x-webhook-timestamp`: Unix seconds, decimal.
//! * `x-webhook-signature`: base64 (standard or URL-safe alphabet, padded or not) of a 64-byte
//!   Ed25519 signature over the timestamp's decimal ASCII bytes immediately followed by the raw
//!   request body (no separator).
//! * The public key is 32 bytes, shown hex-encoded in the Dakota dashboard.
//!
//! [`Verifier::verify`] checks, in this order: both headers are present and well formed, the
//! timestamp is within the tolerance (300 s either way by default), the signature is valid
//! (`verify_strict`), and only then parses the body into an [`Event`]. Nothing in the body is
//! looked at before the signature checks out.
//!
//! # Example
//!
//! ```
//! use dakota_ext::webhook::{Payload, Signer, Verifier, WebhookKey};
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In production the key comes from the Dakota dashboard; here a local signer stands in.
//! let signer = Signer::from_secret_bytes([7; 32]);
//! let verifier = Verifier::new(WebhookKey::from_hex(&signer.public_key_hex())?)
//!     .tolerance(Duration::from_secs(300));
//!
//! let body = br#"{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n","type":"customer.updated",
//!   "created":1767225600,"api_version":"v1",
//!   "data":{"object":{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m","name":"Acme"},
//!           "previous_attributes":{"name":"Acme Inc"}}}"#;
//! let now = UNIX_EPOCH + Duration::from_secs(1767225600);
//! let headers = signer.headers(1767225600, body);
//!
//! let event = verifier.verify(&headers, body, now)?;
//! assert_eq!(event.event_type.as_str(), "customer.updated");
//! match &event.payload {
//!     Payload::Customer(snapshot) => {
//!         assert!(snapshot.changed("name"));
//!         assert_eq!(snapshot.id(), Some("2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m"));
//!         // Typed on demand; a snapshot that does not fit is an error here, not a rejection.
//!         let customer = snapshot.decode()?;
//!         assert_eq!(customer.name.as_deref(), Some("Acme"));
//!     }
//!     Payload::Unknown { event_type, .. } => println!("new event type {event_type}"),
//!     _ => {}
//! }
//!
//! // A tampered body is rejected before it is parsed.
//! let err = verifier.verify(&headers, b"{}", now).unwrap_err();
//! assert_eq!(err.code(), "bad_signature");
//! # let _ = SystemTime::now();
//! # Ok(())
//! # }
//! ```

mod error;
mod event;
mod key;
#[cfg(feature = "redis")]
mod redis_store;
pub mod route;
mod store;
mod verify;

#[cfg(feature = "axum")]
pub mod axum;

pub use dakota_api::types::{EventRequest, EventType};
pub use error::{Field, WebhookError};
pub use event::{ApplicationSubmitted, CustomerSnapshot, Event, Object, Payload, Snapshot};
pub use key::{Signer, WebhookKey};
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreBuilder};
pub use route::{EventRouter, HandlerError, Pattern, Routed};
pub use store::{IdempotencyStore, InMemoryStore, StoreError, StoreFuture};
pub use verify::{HeaderSource, Verifier, DEFAULT_TOLERANCE, SIGNATURE_HEADER, TIMESTAMP_HEADER};
