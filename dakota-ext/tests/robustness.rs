//! The client against servers that misbehave or attack: redirects to another origin, broken
//! connections, garbage, oversized headers, invalid JSON, servers that hang, and clients
//! configured with malformed credentials. Each error says what happened and keeps its cause.

mod common;

use common::*;
use dakota_ext::{Dakota, DakotaBuilder, Error, RetryPolicy, TransportKind};
use std::error::Error as _;
use std::time::{Duration, Instant};

const KEY: &str = "sk_test_robustness_key_51c0";

fn client(url: &str) -> Dakota {
    Dakota::builder()
        .base_url(url)
        .expect("url")
        .api_key(KEY)
        .retry(RetryPolicy::none())
        .build()
        .expect("client")
}

async fn get_customer(dakota: &Dakota) -> Result<(), Error> {
    dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .map(|_| ())
}

async fn create_customer(dakota: &Dakota) -> Result<(), Error> {
    let body = dakota_ext::NewCustomer::individual("Acme Corp")
        .to_request()
        .expect("valid");
    dakota
        .call(dakota.api().create_customer().body(body).send())
        .await
        .map(|_| ())
}

fn redirect_to(location: String) -> Action {
    Action::Respond(307, vec![("location", location)], Vec::new())
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_refused_and_the_other_origin_sees_nothing() {
    let elsewhere = FaultServer::start(|_, _| json(200, customer_json(CUSTOMER_ID)));
    let target = format!("{}/customers/{CUSTOMER_ID}", elsewhere.url);
    let origin = FaultServer::start(move |_, _| redirect_to(target.clone()));
    let dakota = client(&origin.url);

    let err = get_customer(&dakota).await.expect_err("refused");
    assert!(
        matches!(&err, Error::Redirect { operation: "getCustomer", status: 307, location: Some(l) } if l.starts_with(&elsewhere.url)),
        "{err:?}"
    );
    // A POST: its body and idempotency key would go along too.
    let err = create_customer(&dakota).await.expect_err("refused");
    assert!(matches!(err, Error::Redirect { .. }), "{err:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "the other origin received {:?}",
        elsewhere.requests()
    );
    assert_eq!(origin.requests().len(), 2);
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed_with_the_key() {
    let server = FaultServer::start(|req, _| {
        if req.path.starts_with("/old/") {
            redirect_to(format!("/customers/{CUSTOMER_ID}"))
        } else {
            json(200, customer_json(CUSTOMER_ID))
        }
    });
    // The generated client asks for /customers/...; send it to /old/ first through a base
    // URL whose path the server redirects.
    let dakota = client(&format!("{}/old", server.url));
    get_customer(&dakota).await.expect("followed");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].path, format!("/customers/{CUSTOMER_ID}"));
    assert_eq!(
        seen[1].headers.get("x-api-key").map(String::as_str),
        Some(KEY)
    );
}

#[tokio::test]
async fn connection_refused_is_named_and_keeps_its_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dakota = client(&format!("http://127.0.0.1:{port}"));
    let err = get_customer(&dakota).await.expect_err("nothing listens");
    assert!(
        matches!(
            &err,
            Error::Transport {
                kind: TransportKind::ConnectionRefused,
                operation: Some("getCustomer"),
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("getCustomer") && msg.contains("connection refused"),
        "{msg}"
    );
    let source = err.source().expect("source kept");
    assert!(
        source.downcast_ref::<reqwest::Error>().is_some(),
        "{source:?}"
    );
    assert!(!msg.contains(KEY));
}

#[tokio::test]
async fn a_dropped_connection_garbage_and_oversized_headers_read_differently() {
    let closed = FaultServer::start(|_, _| Action::Close);
    let garbage = FaultServer::start(|_, _| Action::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()));
    let huge_header = FaultServer::start(|_, _| {
        let mut r = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
        r.extend(std::iter::repeat_n(b'a', 1024 * 1024));
        r.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
        Action::Raw(r)
    });
    let mut kinds = Vec::new();
    for (server, want) in [
        (&closed, TransportKind::ConnectionReset),
        (&garbage, TransportKind::Protocol),
        (&huge_header, TransportKind::Protocol),
    ] {
        let err = get_customer(&client(&server.url))
            .await
            .expect_err("broken");
        match &err {
            Error::Transport { kind, message, .. } => {
                assert_eq!(*kind, want, "{message}");
                assert!(err.source().is_some());
                kinds.push(err.to_string());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_ne!(
        kinds[0], kinds[1],
        "a reset and garbage must read differently"
    );
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_error() {
    // A plain-HTTP server answering at once, before any request: what a TLS client meets
    // when the URL says https but the port speaks HTTP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        use std::io::Write;
        for mut sock in listener.incoming().flatten() {
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let err = get_customer(&client(&url)).await.expect_err("no TLS there");
    assert!(
        matches!(
            &err,
            Error::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{err:?} / {err}"
    );
}

#[tokio::test]
async fn invalid_json_names_the_operation_and_the_position_and_keeps_the_parser_error() {
    let server = FaultServer::start(|_, _| {
        Action::Respond(
            200,
            vec![("content-type", "application/json".into())],
            b"{\n  \"id\": \"36NrHzLJ2pQx0Kw1dU9fB4aT7Ze\",\n  \"name\": }".to_vec(),
        )
    });
    let err = get_customer(&client(&server.url))
        .await
        .expect_err("bad JSON");
    let msg = err.to_string();
    assert!(
        msg.contains("getCustomer") && msg.contains("line 3 column"),
        "{msg}"
    );
    assert!(
        err.source()
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .is_some(),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_non_json_error_body_shows_a_short_snippet() {
    let server = FaultServer::start(|_, _| {
        let mut page = b"<html><body>Bad gateway from the proxy".to_vec();
        page.extend(std::iter::repeat_n(b'.', 10_000));
        Action::Respond(502, vec![("content-type", "text/html".into())], page)
    });
    let err = get_customer(&client(&server.url)).await.expect_err("502");
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 502);
    let body = api.body.as_ref().and_then(|b| b.as_str()).expect("snippet");
    assert!(body.starts_with("<html>") && body.len() <= 200, "{body}");
}

#[tokio::test]
async fn a_hanging_server_costs_the_deadline_not_four_timeouts() {
    let server = FaultServer::start(|_, _| Action::Hang);
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .timeout(Duration::from_secs(30))
        .deadline(Duration::from_millis(400))
        .build()
        .expect("client");
    let started = Instant::now();
    let err = get_customer(&dakota).await.expect_err("deadline");
    let took = started.elapsed();
    assert!(
        matches!(
            &err,
            Error::Deadline {
                operation: "getCustomer",
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let server = FaultServer::start(|_, _| {
        Action::Respond(
            503,
            vec![
                ("retry-after", "60".into()),
                ("content-type", "application/problem+json".into()),
            ],
            br#"{"title":"Unavailable","status":503}"#.to_vec(),
        )
    });
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .deadline(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let err = get_customer(&dakota).await.expect_err("503");
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "no retry that cannot finish in time"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn default_builder_is_the_same_as_builder() {
    let server = FaultServer::start(|_, _| problem(400, "Bad Request"));
    for b in [Dakota::builder(), DakotaBuilder::default()] {
        let dakota = b
            .base_url(&server.url)
            .expect("url")
            .api_key(KEY)
            .build()
            .expect("client");
        let _ = create_customer(&dakota).await;
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        let key = s
            .headers
            .get("x-idempotency-key")
            .expect("a key on the POST");
        uuid::Uuid::parse_str(key).expect("a UUID");
    }
}

#[test]
fn malformed_keys_are_refused_at_build_without_echoing_them() {
    for bad in [
        "",
        "sk_live_trailing_newline\n",
        "sk_live_inner space",
        "sk_live_\u{1}ctl",
    ] {
        let err = Dakota::builder().api_key(bad).build().expect_err("refused");
        let msg = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(msg.contains("API key"), "{msg}");
        assert!(bad.trim().is_empty() || !msg.contains(bad.trim()), "{msg}");
    }
    let err = Dakota::builder()
        .application_token("tok\r\n")
        .build()
        .expect_err("refused");
    assert!(err.to_string().contains("application token"));
}

#[tokio::test]
async fn is_retryable_agrees_with_the_retry_loop() {
    for (status, retried) in [
        (409u16, false),
        (425, false),
        (400, false),
        (408, true),
        (500, true),
        (503, true),
    ] {
        let server = FaultServer::start(move |_, _| problem(status, "x"));
        let dakota = Dakota::builder()
            .base_url(&server.url)
            .expect("url")
            .api_key(KEY)
            .retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::ZERO,
                jitter: false,
                ..RetryPolicy::default()
            })
            .build()
            .expect("client");
        let err = get_customer(&dakota).await.expect_err("error status");
        let attempts = server.requests().len();
        assert_eq!(attempts == 2, retried, "{status}: {attempts} attempt(s)");
        assert_eq!(err.is_retryable(), retried, "{status}: {err:?}");
    }
}
