//! Routing verified events to handlers by event type: exact types, wildcards
//! (`transaction.*`, `*`) and a default handler.
//!
//! [`EventRouter`] works on its own (verify with [`super::Verifier`], then
//! [`EventRouter::dispatch`]) and as the handler of the axum endpoint
//! (`WebhookEndpoint::routed`, feature `axum`).
//!
//! Exactly one handler runs per event, the most specific that matches:
//!
//! 1. a handler registered for the exact type (`customer.updated`);
//! 2. otherwise the wildcard with the longest prefix (`customer.kyb_status.*` before
//!    `customer.*` before `*`);
//! 3. otherwise the default handler ([`EventRouter::default_handler`]);
//! 4. otherwise nothing runs and [`EventRouter::dispatch`] returns [`Routed::Unhandled`], which
//!    is a success: an event type you do not handle is acknowledged, not retried forever.
//!
//! Registering a second handler for the same pattern replaces the first.
//!
//! ```
//! use dakota_ext::types::EventType;
//! use dakota_ext::webhook::{CustomerSnapshot, Event, EventRouter, Routed};
//! use std::sync::{Arc, Mutex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = |what: &'static str| {
//!     let seen = seen.clone();
//!     move |event: Event| {
//!         seen.lock().unwrap().push((what, event.type_str().to_owned()));
//!         async { Ok::<(), std::io::Error>(()) }
//!     }
//! };
//! let names = seen.clone();
//! let router = EventRouter::new()
//!     // Typed: `data.object` decoded (here as the lenient customer snapshot).
//!     .on_object(EventType::CustomerUpdated, move |_event: Event, customer: CustomerSnapshot| {
//!         names.lock().unwrap().push(("customer", customer.name.unwrap_or_default()));
//!         async { Ok::<(), std::io::Error>(()) }
//!     })
//!     .on("transaction.*", log("transaction"))
//!     .default_handler(log("default"));
//!
//! let event = |t: &str, object: &str| {
//!     Event::from_json(format!(
//!         r#"{{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n","type":"{t}","created":1767225600,
//!            "api_version":"v1","data":{{"object":{object}}}}}"#
//!     ).as_bytes()).unwrap()
//! };
//! let customer = r#"{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9m","name":"Acme"}"#;
//! let routed = router.dispatch(event("customer.updated", customer)).await.unwrap();
//! assert_eq!(routed, Routed::Exact("customer.updated".into()));
//! router.dispatch(event("transaction.completed", "{}")).await.unwrap();
//! router.dispatch(event("wallet.created", "{}")).await.unwrap();
//! assert_eq!(*seen.lock().unwrap(), [
//!     ("customer", "Acme".to_owned()),
//!     ("transaction", "transaction.completed".to_owned()),
//!     ("default", "wallet.created".to_owned()),
//! ]);
//! # }
//! ```

use super::Event;
use crate::error::BoxError;
use dakota_api::types::EventType;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// Which events a handler takes: an exact event type, or a wildcard.
///
/// From a string: `"customer.updated"` is exact; `"transaction.*"` matches every type starting
/// with `transaction.`; `"*"` matches everything. From an [`EventType`]: that exact type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// Exactly this type, as Dakota spells it.
    Exact(String),
    /// Every type that starts with this prefix (`"transaction."` for `transaction.*`; empty
    /// for `*`).
    Prefix(String),
}

impl Pattern {
    /// Whether `event_type` matches.
    #[must_use]
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Pattern::Exact(t) => t == event_type,
            Pattern::Prefix(p) => event_type.starts_with(p.as_str()),
        }
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Self {
        match s.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(s.to_owned()),
        }
    }
}

impl From<String> for Pattern {
    fn from(s: String) -> Self {
        Pattern::from(s.as_str())
    }
}

impl From<EventType> for Pattern {
    fn from(t: EventType) -> Self {
        Pattern::Exact(t.as_str().to_owned())
    }
}

impl From<&EventType> for Pattern {
    fn from(t: &EventType) -> Self {
        Pattern::Exact(t.as_str().to_owned())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(t) => f.write_str(t),
            Pattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// Which handler took an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Routed {
    /// The handler registered for exactly this type.
    Exact(String),
    /// The wildcard handler with this pattern (e.g. `transaction.*`).
    Wildcard(String),
    /// The default handler.
    Default,
    /// No handler matched and there is no default: the event is acknowledged unhandled.
    Unhandled,
}

/// A handler failed; its error is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[error("webhook handler for {event_type} ({routed:?}) failed: {source}")]
pub struct HandlerError {
    /// The event type that was being handled.
    pub event_type: String,
    /// Which handler ran.
    pub routed: Routed,
    /// What the handler returned (or why its typed object could not be decoded).
    #[source]
    pub source: BoxError,
}

type Handler = Arc<dyn Fn(Event) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Routes events to handlers by type; see the [module docs](self). Cheap to clone (handlers
/// are shared).
#[derive(Clone, Default)]
#[must_use]
pub struct EventRouter {
    exact: BTreeMap<String, Handler>,
    /// Wildcards, kept sorted longest prefix first.
    wildcards: Vec<(String, Handler)>,
    default: Option<Handler>,
}

impl fmt::Debug for EventRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRouter")
            .field("exact", &self.exact.keys().collect::<Vec<_>>())
            .field(
                "wildcards",
                &self
                    .wildcards
                    .iter()
                    .map(|(p, _)| format!("{p}*"))
                    .collect::<Vec<_>>(),
            )
            .field("default", &self.default.is_some())
            .finish()
    }
}

fn boxed<F, Fut, E>(handler: F) -> Handler
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    Arc::new(move |event| {
        let fut = handler(event);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

impl EventRouter {
    /// A router without handlers (every event is [`Routed::Unhandled`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `handler` for events matching `pattern` (`"customer.updated"`,
    /// `EventType::CustomerUpdated`, `"transaction.*"`, `"*"`).
    pub fn on<F, Fut, E>(mut self, pattern: impl Into<Pattern>, handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let handler = boxed(handler);
        match pattern.into() {
            Pattern::Exact(t) => {
                self.exact.insert(t, handler);
            }
            Pattern::Prefix(p) => {
                self.wildcards.retain(|(q, _)| *q != p);
                self.wildcards.push((p, handler));
                // Longest prefix first; equal lengths in a stable (alphabetical) order.
                self.wildcards
                    .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            }
        }
        self
    }

    /// Like [`EventRouter::on`], with `data.object` decoded as `T` (e.g.
    /// `dakota_ext::types::Customer` for `customer.updated`). An object that does not decode
    /// fails the event with a [`HandlerError`] whose source is the JSON error, so the delivery
    /// is retried rather than silently dropped.
    pub fn on_object<T, F, Fut, E>(self, pattern: impl Into<Pattern>, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Event, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let handler = Arc::new(handler);
        self.on(pattern, move |event: Event| {
            let handler = Arc::clone(&handler);
            async move {
                let object = event
                    .payload
                    .object()
                    .cloned()
                    .ok_or_else(|| BoxError::from("the event has no `data.object`"))?;
                let typed: T = serde_json::from_value(serde_json::Value::Object(object))
                    .map_err(BoxError::from)?;
                handler(event, typed).await.map_err(Into::into)
            }
        })
    }

    /// Run `handler` for events no other handler matches.
    pub fn default_handler<F, Fut, E>(mut self, handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.default = Some(boxed(handler));
        self
    }

    /// Which handler `event_type` would go to (without running it).
    #[must_use]
    pub fn route(&self, event_type: &str) -> Routed {
        self.select(event_type).0
    }

    fn select(&self, event_type: &str) -> (Routed, Option<&Handler>) {
        if let Some(h) = self.exact.get(event_type) {
            return (Routed::Exact(event_type.to_owned()), Some(h));
        }
        if let Some((p, h)) = self
            .wildcards
            .iter()
            .find(|(p, _)| event_type.starts_with(p.as_str()))
        {
            return (Routed::Wildcard(format!("{p}*")), Some(h));
        }
        match &self.default {
            Some(h) => (Routed::Default, Some(h)),
            None => (Routed::Unhandled, None),
        }
    }

    /// This router as the handler of `webhook::axum::WebhookEndpoint::new` (feature `axum`):
    /// `WebhookEndpoint::new(verifier, store, router.into_handler())`. A handler error
    /// answers 500 so Dakota retries the delivery; an unhandled type answers 200.
    pub fn into_handler(
        self,
    ) -> impl Fn(Event) -> BoxFuture<'static, Result<(), HandlerError>> + Clone + Send + Sync + 'static
    {
        let router = Arc::new(self);
        move |event| {
            let fut = router.dispatch(event);
            Box::pin(async move { fut.await.map(|_| ()) })
        }
    }

    /// Run the handler `event` routes to (see the [module docs](self) for the order). A
    /// verified event only: use [`super::Verifier`] first.
    pub fn dispatch(
        &self,
        event: Event,
    ) -> impl Future<Output = Result<Routed, HandlerError>> + Send + 'static {
        let event_type = event.type_str().to_owned();
        let (routed, handler) = self.select(&event_type);
        let run = handler.map(|h| h(event));
        async move {
            match run {
                None => {
                    tracing::debug!(event_type, "no webhook handler for this event type");
                    Ok(routed)
                }
                Some(fut) => match fut.await {
                    Ok(()) => Ok(routed),
                    Err(source) => Err(HandlerError {
                        event_type,
                        routed,
                        source,
                    }),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn event(t: &str) -> Event {
        Event::from_json(
            format!(
                r#"{{"id":"2tYtKmOzQsDbpmMU0Ws2Ha1Ai9n","type":"{t}","created":1767225600,
                   "api_version":"v1","data":{{"object":{{"id":"x","amount":"5"}}}}}}"#
            )
            .as_bytes(),
        )
        .expect("event parses")
    }

    type Log = Arc<Mutex<Vec<String>>>;

    fn record(
        log: &Log,
        tag: &'static str,
    ) -> impl Fn(Event) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync + 'static {
        let log = log.clone();
        move |e: Event| {
            log.lock()
                .map(|mut l| l.push(format!("{tag}:{}", e.type_str())))
                .ok();
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn the_most_specific_handler_runs_once() {
        let log = Log::default();
        let router = EventRouter::new()
            .on("transaction.*", record(&log, "tx"))
            .on("customer.kyb_status.*", record(&log, "kyb"))
            .on("customer.*", record(&log, "customer"))
            .on(EventType::CustomerUpdated, record(&log, "exact"))
            .on("*", record(&log, "any"));
        for t in [
            "customer.updated",
            "customer.kyb_status.updated",
            "customer.created",
            "transaction.completed",
            "wallet.created",
            "brand.new.type",
        ] {
            router.dispatch(event(t)).await.expect("handled");
        }
        assert_eq!(
            *log.lock().expect("log"),
            [
                "exact:customer.updated",
                "kyb:customer.kyb_status.updated",
                "customer:customer.created",
                "tx:transaction.completed",
                "any:wallet.created",
                "any:brand.new.type",
            ]
        );
        assert_eq!(
            router.route("customer.kyb_status.created"),
            Routed::Wildcard("customer.kyb_status.*".into())
        );
    }

    #[tokio::test]
    async fn default_then_unhandled() {
        let log = Log::default();
        let with_default = EventRouter::new()
            .on("transaction.*", record(&log, "tx"))
            .default_handler(record(&log, "default"));
        assert_eq!(
            with_default
                .dispatch(event("wallet.created"))
                .await
                .expect("ok"),
            Routed::Default
        );
        // "transaction" alone is not under "transaction.*".
        assert_eq!(with_default.route("transaction"), Routed::Default);
        let bare = EventRouter::new().on("transaction.*", record(&log, "tx"));
        assert_eq!(
            bare.dispatch(event("wallet.created")).await.expect("ok"),
            Routed::Unhandled
        );
        assert_eq!(*log.lock().expect("log"), ["default:wallet.created"]);
    }

    #[tokio::test]
    async fn a_later_registration_replaces_the_earlier_one() {
        let log = Log::default();
        let router = EventRouter::new()
            .on("customer.updated", record(&log, "first"))
            .on("customer.updated", record(&log, "second"))
            .on("customer.*", record(&log, "w1"))
            .on("customer.*", record(&log, "w2"));
        router
            .dispatch(event("customer.updated"))
            .await
            .expect("ok");
        router
            .dispatch(event("customer.created"))
            .await
            .expect("ok");
        assert_eq!(
            *log.lock().expect("log"),
            ["second:customer.updated", "w2:customer.created"]
        );
    }

    #[tokio::test]
    async fn handler_errors_and_undecodable_objects_fail_the_event() {
        #[derive(serde::Deserialize)]
        struct NeedsNumber {
            #[allow(dead_code)]
            amount: u64,
        }
        let router = EventRouter::new()
            .on("transaction.failed", |_e: Event| async {
                Err::<(), _>(std::io::Error::other("database down"))
            })
            .on_object("transaction.*", |_e: Event, _t: NeedsNumber| async {
                Ok::<(), std::io::Error>(())
            });
        let err = router
            .dispatch(event("transaction.failed"))
            .await
            .expect_err("handler error");
        assert_eq!(err.routed, Routed::Exact("transaction.failed".into()));
        assert!(err.to_string().contains("database down"), "{err}");
        // `amount` is a string in the event: the typed handler never runs, the event fails.
        let err = router
            .dispatch(event("transaction.completed"))
            .await
            .expect_err("decode error");
        assert_eq!(err.routed, Routed::Wildcard("transaction.*".into()));
        assert!(
            err.source.downcast_ref::<serde_json::Error>().is_some(),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_dispatch_future_is_owned() {
        let router = EventRouter::new().on("*", |_e: Event| async { Ok::<(), BoxError>(()) });
        let fut = router.dispatch(event("customer.updated"));
        drop(router);
        let routed = tokio::spawn(fut).await.expect("joins").expect("ok");
        assert_eq!(routed, Routed::Wildcard("*".into()));
    }

    #[test]
    fn patterns_parse_and_print() {
        assert_eq!(Pattern::from("a.b"), Pattern::Exact("a.b".into()));
        assert_eq!(Pattern::from("a.*"), Pattern::Prefix("a.".into()));
        assert_eq!(Pattern::from("*"), Pattern::Prefix(String::new()));
        assert_eq!(Pattern::from("a.*").to_string(), "a.*");
        assert!(Pattern::from("*").matches("anything"));
        assert!(!Pattern::from("a.*").matches("ab.c"));
    }
}
