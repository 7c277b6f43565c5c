//! The verified event: the spec's `Event` envelope with a typed payload.

use crate::time::UnixSeconds;
use dakota_api::types::{self, EventRequest, EventType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

/// A JSON object, for payloads the spec gives no schema for.
pub type Object = Map<String, Value>;

/// A Dakota event (the spec's `Event` envelope with a typed payload): the one event type of
/// this crate, whether it arrived as a webhook delivery ([`super::Verifier::verify`], the axum
/// endpoint) or from the events feed (`listEvents` through [`crate::Dakota::paginate`] or
/// [`crate::Dakota::events`]), so one handler or [`super::EventRouter`] serves both. Also
/// `dakota_ext::Event`.
///
/// Match on [`Event::event_type`] for the exact type (`customer.kyb_status.updated`, …) or on
/// [`Event::payload`] for the resource family with its snapshot. A type this SDK does not know
/// yet is delivered as [`Payload::Unknown`], never rejected.
///
/// The generated envelope (`dakota_api::types::Event`) converts both ways: `Event::from(..)`,
/// and [`Event::into_envelope`] / `types::Event::try_from(..)` back. Two events are equal when
/// their envelopes are (the same id, type, time, version, request, metadata and `data`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// Event id (a KSUID); the same across redeliveries, so it is the deduplication key.
    pub id: String,
    /// The event type; types newer than this SDK are [`EventType::Unknown`].
    pub event_type: EventType,
    /// Unix seconds when Dakota emitted the event.
    pub created: i64,
    /// Version of the envelope schema.
    pub api_version: String,
    /// The API request that caused the event, when Dakota reports it.
    pub request: Option<EventRequest>,
    /// Implementation-specific, non-provider metadata.
    pub metadata: Object,
    /// The resource snapshot, typed by family.
    pub payload: Payload,
}

impl Event {
    /// Parses an event from JSON **without verifying anything**. Use [`super::Verifier`] for
    /// deliveries; this is for bodies you already verified or stored, and for tests.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The event type as Dakota spells it, e.g. `"customer.updated"` (also for unknown types).
    pub fn type_str(&self) -> &str {
        self.event_type.as_str()
    }

    /// [`Event::created`] as a [`UnixSeconds`] (convertible to a `chrono` time).
    pub fn created_at(&self) -> UnixSeconds {
        UnixSeconds(self.created)
    }

    /// The generated envelope of this event (`dakota_api::types::Event`), e.g. for code written
    /// against the generated types. Fails only when the event does not fit the spec's envelope:
    /// an id that is not a KSUID, or (for [`Payload::Unknown`]) a `data` without an `object`.
    pub fn into_envelope(self) -> Result<types::Event, serde_json::Error> {
        types::Event::try_from(self)
    }

    fn from_raw(raw: RawEvent) -> Result<Self, serde_json::Error> {
        let event_type = EventType::from(raw.event_type.as_str());
        let payload = match Family::of(&event_type) {
            Some(family) => {
                let data: RawData = serde_json::from_value(raw.data).map_err(|e| {
                    <serde_json::Error as serde::de::Error>::custom(format_args!(
                        "`data` of a `{}` event: {e}",
                        raw.event_type
                    ))
                })?;
                family.wrap(data.object, data.previous_attributes.unwrap_or_default())
            }
            None => Payload::Unknown {
                event_type: raw.event_type,
                raw: raw.data,
            },
        };
        Ok(Self {
            id: raw.id,
            event_type,
            created: raw.created,
            api_version: raw.api_version,
            request: raw.request,
            metadata: raw.metadata.unwrap_or_default(),
            payload,
        })
    }
}

impl From<types::Event> for Event {
    /// Converts the generated envelope (an event of `GET /events` read with the generated
    /// client), so one handler can serve both webhooks and a catch-up poll.
    fn from(ev: types::Event) -> Self {
        let payload = match Family::of(&ev.type_) {
            Some(family) => family.wrap(ev.data.object, ev.data.previous_attributes),
            // The whole `data` as JSON, including any member a later spec adds to it.
            None => Payload::Unknown {
                event_type: ev.type_.as_str().to_owned(),
                raw: serde_json::to_value(&ev.data).unwrap_or_else(|_| Value::Object(Map::new())),
            },
        };
        Self {
            id: ev.id.to_string(),
            event_type: ev.type_,
            created: ev.created,
            api_version: ev.api_version,
            request: ev.request,
            metadata: ev.metadata,
            payload,
        }
    }
}

impl TryFrom<Event> for types::Event {
    type Error = serde_json::Error;

    /// See [`Event::into_envelope`]. Goes through the wire form, so it keeps every member the
    /// envelope has, whatever fields later specs add to the generated struct.
    fn try_from(event: Event) -> Result<Self, Self::Error> {
        serde_json::to_value(&event).and_then(serde_json::from_value)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        // `EventRequest` is generated without `PartialEq`: compare it as JSON.
        let request = |e: &Event| {
            e.request
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok())
        };
        self.id == other.id
            && self.event_type == other.event_type
            && self.created == other.created
            && self.api_version == other.api_version
            && self.metadata == other.metadata
            && self.payload == other.payload
            && request(self) == request(other)
    }
}

/// The wire envelope. Only what the spec requires is required; unknown fields are ignored.
#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    api_version: String,
    data: Value,
    #[serde(default)]
    metadata: Option<Object>,
    #[serde(default)]
    request: Option<EventRequest>,
}

#[derive(Deserialize)]
struct RawData {
    object: Object,
    #[serde(default)]
    previous_attributes: Option<Object>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(deserializer)?;
        Event::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Event {
    /// Serializes back to the wire envelope (so a verified event can be queued or stored).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            event_type: &'a str,
            created: i64,
            api_version: &'a str,
            data: DataOut<'a>,
            #[serde(skip_serializing_if = "Map::is_empty")]
            metadata: &'a Object,
            #[serde(skip_serializing_if = "Option::is_none")]
            request: Option<&'a EventRequest>,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum DataOut<'a> {
            Known {
                object: &'a Object,
                #[serde(skip_serializing_if = "Map::is_empty")]
                previous_attributes: &'a Object,
            },
            Raw(&'a Value),
        }
        let data = match self.payload.parts() {
            Ok((object, previous_attributes)) => DataOut::Known {
                object,
                previous_attributes,
            },
            Err(raw) => DataOut::Raw(raw),
        };
        Out {
            id: &self.id,
            event_type: self.event_type.as_str(),
            created: self.created,
            api_version: &self.api_version,
            data,
            metadata: &self.metadata,
            request: self.request.as_ref(),
        }
        .serialize(serializer)
    }
}

/// A resource snapshot (`data.object`) plus the attributes it had before an update
/// (`data.previous_attributes`), decodable on demand into `T`.
///
/// The spec describes `data.object` as a sanitized snapshot whose shape varies by event type, so
/// decoding is lazy: a snapshot that does not fit `T` is an error from [`Snapshot::decode`], never
/// a rejected delivery. The raw object is always available.
pub struct Snapshot<T> {
    object: Object,
    previous_attributes: Object,
    _type: PhantomData<fn() -> T>,
}

impl<T> Snapshot<T> {
    fn new(object: Object, previous_attributes: Object) -> Self {
        Self {
            object,
            previous_attributes,
            _type: PhantomData,
        }
    }

    /// The resource as Dakota sent it (`data.object`).
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The changed attributes' previous values (`data.previous_attributes`); empty when absent.
    pub fn previous_attributes(&self) -> &Object {
        &self.previous_attributes
    }

    /// Whether `field` is among the attributes this update changed.
    pub fn changed(&self, field: &str) -> bool {
        self.previous_attributes.contains_key(field)
    }

    /// The resource's `id`, when it has a string one.
    pub fn id(&self) -> Option<&str> {
        self.object.get("id").and_then(Value::as_str)
    }

    /// Decodes the snapshot into any type.
    pub fn decode_as<U: DeserializeOwned>(&self) -> Result<U, serde_json::Error> {
        U::deserialize(&self.object)
    }

    /// Consumes the snapshot, returning `(object, previous_attributes)`.
    pub fn into_parts(self) -> (Object, Object) {
        (self.object, self.previous_attributes)
    }
}

impl<T: DeserializeOwned> Snapshot<T> {
    /// Decodes the snapshot into `T`, the typed view this module gives for the resource.
    pub fn decode(&self) -> Result<T, serde_json::Error> {
        self.decode_as()
    }
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Self::new(self.object.clone(), self.previous_attributes.clone())
    }
}

impl<T> PartialEq for Snapshot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object && self.previous_attributes == other.previous_attributes
    }
}

impl<T> fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("type", &std::any::type_name::<T>())
            .field("object", &self.object)
            .field("previous_attributes", &self.previous_attributes)
            .finish()
    }
}

macro_rules! payload {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = [$($et:ident),+ $(,)?] ),+ $(,)?) => {
        /// The event's resource snapshot, by resource family. `#[non_exhaustive]`: new families
        /// may gain variants; until then they arrive as [`Payload::Unknown`].
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Payload {
            $( $(#[$doc])* $variant(Snapshot<$ty>), )+
            /// An event type this SDK has no typed payload for (check [`Event::event_type`] to
            /// see whether the spec knows it). Delivered, never rejected.
            Unknown {
                /// The type string as sent.
                event_type: String,
                /// The `data` member verbatim (any JSON).
                raw: Value,
            },
        }

        #[derive(Clone, Copy)]
        enum Family { $($variant),+ }

        impl Family {
            fn of(t: &EventType) -> Option<Self> {
                #[allow(unreachable_patterns)] // stays correct when the spec adds types
                match t {
                    $( $(EventType::$et)|+ => Some(Family::$variant), )+
                    _ => None,
                }
            }

            fn wrap(self, object: Object, previous_attributes: Object) -> Payload {
                match self {
                    $( Family::$variant => Payload::$variant(Snapshot::new(object, previous_attributes)), )+
                }
            }
        }

        impl Payload {
            fn parts(&self) -> Result<(&Object, &Object), &Value> {
                match self {
                    $( Payload::$variant(s) => Ok((&s.object, &s.previous_attributes)), )+
                    Payload::Unknown { raw, .. } => Err(raw),
                }
            }
        }
    };
}

payload! {
    /// `user.created`, `user.updated`, `user.deleted`.
    User(Object) = [UserCreated, UserUpdated, UserDeleted],
    /// `api_key.created`, `api_key.deleted`.
    ApiKey(Object) = [ApiKeyCreated, ApiKeyDeleted],
    /// `customer.created`, `customer.updated`, `customer.kyb_status.created`,
    /// `customer.kyb_status.updated`: a (partial) customer.
    Customer(CustomerSnapshot) = [
        CustomerCreated,
        CustomerUpdated,
        CustomerKybStatusCreated,
        CustomerKybStatusUpdated,
    ],
    /// `customer.kyb_link.created`, `customer.kyb_link.updated` (try
    /// `decode_as::<dakota_api::types::KybLink>()`).
    KybLink(Object) = [CustomerKybLinkCreated, CustomerKybLinkUpdated],
    /// `customer.kyb_application.submitted`.
    ApplicationSubmitted(ApplicationSubmitted) = [CustomerKybApplicationSubmitted],
    /// `auto_account.created`, `auto_account.updated`, `auto_account.deleted`.
    AutoAccount(Object) = [AutoAccountCreated, AutoAccountUpdated, AutoAccountDeleted],
    /// `transaction.auto.created`, `transaction.auto.updated`.
    AutoTransaction(Object) = [TransactionAutoCreated, TransactionAutoUpdated],
    /// `transaction.one_off.created`, `transaction.one_off.updated`.
    OneOffTransaction(Object) = [TransactionOneOffCreated, TransactionOneOffUpdated],
    /// `recipient.created`, `recipient.updated`, `recipient.deleted`.
    Recipient(Object) = [RecipientCreated, RecipientUpdated, RecipientDeleted],
    /// `destination.created`, `destination.deleted`.
    Destination(Object) = [DestinationCreated, DestinationDeleted],
    /// `target.created`, `target.updated`, `target.deleted` (webhook targets).
    Target(Object) = [TargetCreated, TargetUpdated, TargetDeleted],
    /// `exception.created`, `exception.cleared`.
    Exception(Object) = [ExceptionCreated, ExceptionCleared],
    /// `bvnk.onboarding.created`, `bvnk.onboarding.updated`.
    BvnkOnboarding(Object) = [BvnkOnboardingCreated, BvnkOnboardingUpdated],
    /// `wallet.created`, `wallet.updated`.
    Wallet(Object) = [WalletCreated, WalletUpdated],
    /// `wallet.signer_group.created`, `wallet.signer_group.updated`.
    SignerGroup(Object) = [WalletSignerGroupCreated, WalletSignerGroupUpdated],
    /// `wallet.policy.created`, `wallet.policy.updated`.
    Policy(Object) = [WalletPolicyCreated, WalletPolicyUpdated],
    /// `wallet.transaction.created`, `wallet.transaction.updated`.
    WalletTransaction(Object) = [WalletTransactionCreated, WalletTransactionUpdated],
    /// `wallet.deposit`.
    WalletDeposit(Object) = [WalletDeposit],
}

/// The customer snapshot carried by `customer.*` events (`data.object`).
///
/// Events carry a *partial* customer (the spec's events feed shows `id`, `name`,
/// `customer_type`, `kyb_status`, `application_status`, …), so everything but `id` is optional
/// and unlisted fields land in [`CustomerSnapshot::other`]. When a snapshot is complete,
/// `decode_as::<dakota_api::types::Customer>()` gives the full API type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerSnapshot {
    /// Customer id (KSUID).
    pub id: String,
    /// Customer name.
    #[serde(default)]
    pub name: Option<String>,
    /// `business` or `individual`.
    #[serde(default)]
    pub customer_type: Option<String>,
    /// Overall KYB state.
    #[serde(default)]
    pub kyb_status: Option<types::KybStatus>,
    /// Where the onboarding application stands.
    #[serde(default)]
    pub application_status: Option<types::ApplicationStatus>,
    /// The onboarding application's id.
    #[serde(default)]
    pub application_id: Option<String>,
    /// Your own reference for the customer, when you set one.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Why the KYB status changed (e.g. on `customer.kyb_status.updated` from the
    /// proof-of-address flow).
    #[serde(default)]
    pub reason_code: Option<String>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub other: Object,
}

/// The object of `customer.kyb_application.submitted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApplicationSubmitted {
    /// The submitted application's id.
    pub application_id: String,
    /// The customer it belongs to.
    pub customer_id: String,
    /// When it was submitted.
    #[serde(default)]
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub other: Object,
}

impl Payload {
    /// The resource object (`data.object`), for every variant; for [`Payload::Unknown`] only when
    /// `data` has an object-valued `object` member.
    pub fn object(&self) -> Option<&Object> {
        match self.parts() {
            Ok((object, _)) => Some(object),
            Err(raw) => raw.get("object").and_then(Value::as_object),
        }
    }

    /// `data.previous_attributes` (empty when absent); for [`Payload::Unknown`] only when present
    /// and an object.
    pub fn previous_attributes(&self) -> Option<&Object> {
        match self.parts() {
            Ok((_, prev)) => Some(prev),
            Err(raw) => raw.get("previous_attributes").and_then(Value::as_object),
        }
    }

    /// Whether this is [`Payload::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, Payload::Unknown { .. })
    }
}
