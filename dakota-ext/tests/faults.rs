//! The client pipeline against a fault-injecting server: retries (with the clock paused),
//! idempotency across a lost response, timeouts, malformed bodies, secrets kept out of logs.

mod common;

use common::*;
use dakota_ext::{Dakota, Error, RetryPolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk_test_very_secret_value_123";

fn client(url: &str, retry: RetryPolicy) -> Dakota {
    // dakota-ext's default `rustls` feature builds reqwest with `rustls-no-provider`: a client
    // built here, outside dakota-ext, needs a process-wide provider or `build()` panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Dakota::builder()
        .base_url(url)
        .expect("url")
        .api_key(KEY)
        .retry(retry)
        .no_timeout()
        // No timers in the HTTP stack (no timeout, no idle-pool reaper): with tokio's paused
        // clock, auto-advance would otherwise jump to them while the real server answers.
        .http_client(
            reqwest::Client::builder()
                .pool_idle_timeout(None)
                .build()
                .expect("reqwest"),
        )
        .build()
        .expect("client")
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::default()
        .jitter(false)
        .initial_backoff(Duration::from_secs(1))
}

fn create_body() -> dakota_api::types::CustomerCreateRequest {
    dakota_ext::NewCustomer::individual("Acme Corp")
        .external_id("usr_12345")
        .to_request()
        .expect("valid")
}

#[tokio::test(start_paused = true)]
async fn retries_503_with_backoff_then_succeeds() {
    let server = FaultServer::start(|_, i| {
        if i < 2 {
            problem(503, "Service Unavailable")
        } else {
            json(200, customer_json(CUSTOMER_ID))
        }
    });
    let dakota = client(&server.url, no_jitter());
    let start = tokio::time::Instant::now();
    let c = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect("third attempt succeeds");
    assert_eq!(c.name, "Acme Corp");
    assert_eq!(server.requests().len(), 3);
    // Backoff 1 s then 2 s, measured on the paused clock.
    assert_eq!(start.elapsed().as_secs(), 3);
}

#[tokio::test(start_paused = true)]
async fn honours_retry_after_on_429() {
    let server = FaultServer::start(|_, i| {
        if i == 0 {
            Action::Respond(
                429,
                vec![
                    ("retry-after", "7".into()),
                    ("content-type", "application/problem+json".into()),
                ],
                br#"{"type":"about:blank","title":"Too Many Requests","status":429}"#.to_vec(),
            )
        } else {
            json(200, customer_json(CUSTOMER_ID))
        }
    });
    let dakota = client(&server.url, no_jitter());
    let start = tokio::time::Instant::now();
    dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect("retried");
    assert_eq!(start.elapsed().as_secs(), 7);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_with_rate_limited_when_retry_after_is_too_long() {
    let server = FaultServer::start(|_, _| {
        Action::Respond(429, vec![("retry-after", "3600".into())], vec![])
    });
    let dakota = client(&server.url, no_jitter());
    let err = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect_err("429");
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 3600),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn lost_response_after_commit_creates_exactly_one_customer() {
    // The server commits the create, then the connection drops before the answer; the retry
    // carries the same idempotency key and gets the stored response.
    let store: Arc<Mutex<std::collections::HashMap<String, serde_json::Value>>> = Arc::default();
    let created = Arc::new(AtomicUsize::new(0));
    let (s2, c2) = (store.clone(), created.clone());
    let server = FaultServer::start(move |req, i| {
        let key = req
            .headers
            .get("x-idempotency-key")
            .cloned()
            .unwrap_or_default();
        let mut store = s2.lock().expect("lock");
        let body = store
            .entry(key)
            .or_insert_with(|| {
                c2.fetch_add(1, Ordering::SeqCst);
                serde_json::json!({
                    "id": CUSTOMER_ID, "application_id": "36NrI0bW5tUe1Ls2eV0gC5bU8Zf",
                    "application_url": "https://apply.example/applications/36NrI0bW5tUe1Ls2eV0gC5bU8Zf?token=tok_abc",
                    "application_expires_at": 1769817600000000000i64, "kyb_links": []
                })
            })
            .clone();
        if i == 0 {
            Action::Close
        } else {
            json(201, body)
        }
    });
    let dakota = client(
        &server.url,
        RetryPolicy::default().initial_backoff(Duration::from_millis(10)),
    );
    let r = dakota
        .call(dakota.api().create_customer().body(create_body()).send())
        .await
        .expect("retry succeeds");
    assert_eq!(created.load(Ordering::SeqCst), 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let k0 = reqs[0].headers.get("x-idempotency-key").cloned();
    assert!(
        k0.as_deref()
            .is_some_and(|k| uuid::Uuid::parse_str(k).is_ok()),
        "a UUID key was generated"
    );
    assert_eq!(
        k0,
        reqs[1].headers.get("x-idempotency-key").cloned(),
        "same key on the retry"
    );
    assert_eq!(
        r.idempotency_key(),
        k0.as_deref(),
        "key readable from the result"
    );
}

#[tokio::test]
async fn mutating_request_without_a_key_is_not_retried() {
    let server = FaultServer::start(|_, _| problem(503, "Service Unavailable"));
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .auto_idempotency_keys(false)
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(1)))
        .build()
        .expect("client");
    let err = dakota
        .call(dakota.api().create_customer().body(create_body()).send())
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        server.requests().len(),
        1,
        "POST without idempotency key must not be retried"
    );
    assert!(!server.requests()[0]
        .headers
        .contains_key("x-idempotency-key"));
    // A GET is retried regardless.
    let _ = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await;
    assert_eq!(server.requests().len(), 1 + 4);
}

#[tokio::test]
async fn caller_key_is_used_and_reported_on_error() {
    let server = FaultServer::start(|_, _| problem(400, "Bad Request"));
    let dakota = client(&server.url, RetryPolicy::none());
    let key = "6f1c1c0e-3f7a-4d3e-9a51-2b8f7c1d4e5a";
    let err = dakota
        .call_with(
            dakota_ext::CallOptions::default().idempotency_key(key),
            dakota.api().create_customer().body(create_body()).send(),
        )
        .await
        .expect_err("400");
    assert_eq!(err.idempotency_key(), Some(key));
    assert_eq!(
        server.requests()[0]
            .headers
            .get("x-idempotency-key")
            .map(String::as_str),
        Some(key)
    );
    assert_eq!(err.request_id(), Some("req_test_1"));
    assert_eq!(
        err.problem().and_then(|p| p.title.as_deref()),
        Some("Bad Request")
    );
}

#[tokio::test]
async fn timeout_is_a_transport_error() {
    let server = FaultServer::start(|_, _| {
        std::thread::sleep(Duration::from_millis(600));
        json(200, customer_json(CUSTOMER_ID))
    });
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .timeout(Duration::from_millis(100))
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let err = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect_err("times out");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: dakota_ext::TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn malformed_truncated_and_html_bodies_are_clear_errors() {
    let server = FaultServer::start(|req, _| match req.path.as_str() {
        p if p.ends_with("36NrHzLJ2pQx0Kw1dU9fB4aT7Za") => json(200, serde_json::json!({"id": 5})),
        p if p.ends_with("36NrHzLJ2pQx0Kw1dU9fB4aT7Zb") => {
            Action::Truncate(200, 400, br#"{"id": "36NrHzLJ2pQx0Kw1dU9fB4a"#.to_vec())
        }
        p if p.ends_with("36NrHzLJ2pQx0Kw1dU9fB4aT7Zc") => Action::Respond(
            502,
            vec![("content-type", "text/html".into())],
            b"<html><body>Bad Gateway</body></html>".to_vec(),
        ),
        p if p.ends_with("36NrHzLJ2pQx0Kw1dU9fB4aT7Zd") => Action::Respond(404, vec![], vec![]),
        _ => Action::Respond(
            200,
            vec![("content-type", "application/json".into())],
            b"not json at all".to_vec(),
        ),
    });
    let dakota = client(&server.url, RetryPolicy::none());
    let get = |id: &'static str| {
        let d = dakota.clone();
        async move { d.call(d.api().get_customer().customer_id(id).send()).await }
    };
    let e = get("36NrHzLJ2pQx0Kw1dU9fB4aT7Za")
        .await
        .expect_err("wrong shape");
    assert!(
        matches!(&e, Error::Decode { status: 200, snippet, .. } if snippet.contains("\"id\"")),
        "{e:?}"
    );
    let e = get("36NrHzLJ2pQx0Kw1dU9fB4aT7Zb")
        .await
        .expect_err("truncated");
    assert!(
        matches!(e, Error::Transport { .. } | Error::Decode { .. }),
        "{e:?}"
    );
    let e = get("36NrHzLJ2pQx0Kw1dU9fB4aT7Zc")
        .await
        .expect_err("html 502");
    assert_eq!(e.status(), Some(502), "{e:?}");
    assert!(e.to_string().contains("502"));
    let e = get("36NrHzLJ2pQx0Kw1dU9fB4aT7Zd")
        .await
        .expect_err("empty 404");
    assert_eq!(e.status(), Some(404), "{e:?}");
    let e = get("36NrHzLJ2pQx0Kw1dU9fB4aT7Ze")
        .await
        .expect_err("not json");
    assert!(e.to_string().contains("not json at all"), "{e}");
}

#[tokio::test]
async fn unknown_enum_values_from_a_newer_api_deserialize() {
    let server = FaultServer::start(|_, _| {
        let mut c = customer_json(CUSTOMER_ID);
        c["kyb_status"] = "under_partner_audit".into();
        c["application_status"] = "compliance_review".into();
        json(200, c)
    });
    let dakota = client(&server.url, RetryPolicy::none());
    let c = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect("decodes");
    assert!(c.kyb_status.is_unknown());
    assert_eq!(c.kyb_status.as_str(), "under_partner_audit");
    assert_eq!(
        c.application_status.as_ref().map(|s| s.as_str()),
        Some("compliance_review")
    );
}
