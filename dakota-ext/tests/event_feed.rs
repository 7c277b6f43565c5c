//! One `Event` type for both ways events arrive: the sandbox POSTs a signed webhook to a
//! `webhook::axum` endpoint whose handler is an `EventRouter`, and the same event is read back
//! from the events feed (`listEvents`) and dispatched through the same router. Both copies
//! compare equal and run the same handler.
//!
//! Run: `cargo test -p dakota-ext --features axum --test event_feed`.

#![cfg(feature = "axum")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dakota_ext::onboarding::NewCustomer;
use dakota_ext::types;
use dakota_ext::webhook::axum::WebhookEndpoint;
use dakota_ext::webhook::{
    CustomerSnapshot, EventRouter, InMemoryStore, Payload, Routed, Verifier, WebhookKey,
};
use dakota_ext::{Dakota, Event};
use dakota_sandbox::Sandbox;
use futures::TryStreamExt;

/// What the one handler saw, in order: (where it came from, the event, the typed object).
type Seen = Arc<Mutex<Vec<(&'static str, Event, CustomerSnapshot)>>>;

/// The router an integrator would write once: the typed customer snapshot for `customer.*`.
/// `source` says which path fed it (task-local would do too; a shared cell keeps it simple).
fn router(seen: Seen, source: Arc<Mutex<&'static str>>) -> EventRouter {
    EventRouter::new().on_object(
        "customer.*",
        move |event: Event, customer: CustomerSnapshot| {
            let seen = seen.clone();
            let source = source.clone();
            async move {
                let from = *source.lock().map_err(|_| "poisoned")?;
                seen.lock()
                    .map_err(|_| "poisoned")?
                    .push((from, event, customer));
                Ok::<(), &'static str>(())
            }
        },
    )
}

fn seen_now(seen: &Seen) -> Vec<(&'static str, Event, CustomerSnapshot)> {
    seen.lock().map(|v| v.clone()).unwrap_or_default()
}

#[tokio::test]
async fn feed_and_webhook_give_the_same_event_to_the_same_handler() {
    let sandbox = Sandbox::builder()
        .webhook_signing_seed([9; 32])
        .start()
        .await
        .expect("sandbox starts");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("base url")
        .api_key(sandbox.api_key())
        .build()
        .expect("client");

    let seen: Seen = Arc::default();
    let source = Arc::new(Mutex::new("webhook"));
    let router = router(seen.clone(), source.clone());

    // The webhook side: the ready-made endpoint with the router as its handler.
    let verifier =
        Verifier::new(WebhookKey::from_hex(&sandbox.webhook_public_key()).expect("sandbox key"));
    let app = WebhookEndpoint::new(
        verifier,
        InMemoryStore::new(),
        router.clone().into_handler(),
    )
    .into_router("/hooks");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    dakota
        .call(
            dakota
                .api()
                .create_webhook_target()
                .body(
                    types::WebhookTargetCreateRequest::builder()
                        .url(url)
                        .global(false)
                        .event_types(vec![types::EventType::CustomerCreated]),
                )
                .send(),
        )
        .await
        .expect("createWebhookTarget");

    let customer = dakota
        .call(
            dakota
                .api()
                .create_customer()
                .x_sandbox_skip_auto_approval(true)
                .body(
                    NewCustomer::business("Harbor Pine Trading")
                        .to_request()
                        .expect("valid"),
                )
                .send(),
        )
        .await
        .expect("createCustomer")
        .into_inner();

    for _ in 0..400 {
        if !seen_now(&seen).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let by_webhook = seen_now(&seen);
    assert_eq!(by_webhook.len(), 1, "one customer.created delivery");
    let (_, delivered, _) = &by_webhook[0];
    assert_eq!(delivered.type_str(), "customer.created");

    // The feed side: the typed stream of `listEvents`, filtered by nothing but the page size,
    // yields the same `Event` type; find the delivered one and route it through the router.
    let api = dakota.api();
    let from_feed: Vec<Event> = dakota
        .paginate(api.list_events().limit(std::num::NonZeroU64::MIN))
        .try_collect()
        .await
        .expect("listEvents");
    assert!(
        from_feed.len() >= 2,
        "created + kyb_status.created at least"
    );
    let fed = from_feed
        .iter()
        .find(|e| e.id == delivered.id)
        .cloned()
        .expect("the delivered event is in the feed");
    // The shortcut gives the same events.
    let shortcut: Vec<Event> = dakota
        .all_events(100)
        .try_collect()
        .await
        .expect("all_events()");
    assert_eq!(shortcut, from_feed);

    *source.lock().expect("not poisoned") = "feed";
    let routed = router.dispatch(fed.clone()).await.expect("handled");
    assert_eq!(routed, Routed::Wildcard("customer.*".into()));

    let all = seen_now(&seen);
    assert_eq!(all.len(), 2);
    let (w_from, w_event, w_customer) = &all[0];
    let (f_from, f_event, f_customer) = &all[1];
    assert_eq!((*w_from, *f_from), ("webhook", "feed"));
    assert_eq!(w_event, f_event, "the webhook and the feed carry one event");
    assert_eq!(w_customer, f_customer);
    assert_eq!(f_customer.id, customer.id.to_string());
    assert_eq!(f_customer.name.as_deref(), Some("Harbor Pine Trading"));
    assert!(matches!(f_event.payload, Payload::Customer(_)));

    // Back to the generated envelope and again: nothing lost either way.
    let envelope = fed.clone().into_envelope().expect("a valid envelope");
    assert_eq!(envelope.id.to_string(), fed.id);
    assert_eq!(Event::from(envelope), fed);

    server.abort();
    sandbox.shutdown().await;
}
