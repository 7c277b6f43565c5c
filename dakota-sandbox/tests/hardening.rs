//! A server other people run: slow and idle connections are closed, oversized heads get
//! problem+json, bodies are not buffered for nobody, slow bodies time out.

mod common;

use std::time::{Duration, Instant};

use common::{fast, Api};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes (or `limit` passes); returns what arrived and whether the
/// connection was closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

fn addr(api: &Api) -> String {
    api.sandbox.addr().to_string()
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed() {
    let api = Api::start(fast().header_read_timeout(Duration::from_millis(300))).await;
    // Says nothing at all.
    let mut silent = TcpStream::connect(addr(&api)).await.expect("connect");
    // Sends half a request head, then stops (slowloris).
    let mut slow = TcpStream::connect(addr(&api)).await.expect("connect");
    slow.write_all(b"GET /customers HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Completes one request, then idles on the kept-alive connection.
    let mut idle = TcpStream::connect(addr(&api)).await.expect("connect");
    let req = format!(
        "GET /customers HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\n\r\n",
        api.sandbox.api_key()
    );
    idle.write_all(req.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed, "the idle keep-alive connection stays open");
    for s in [&mut silent, &mut slow] {
        let (_, closed) = read_until_closed(s, Duration::from_secs(5)).await;
        assert!(closed, "a silent or slow connection stays open");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server still serves.
    assert_eq!(api.get("/customers").await.status.as_u16(), 200);
}

#[tokio::test]
async fn oversized_request_heads_get_problem_json() {
    let api = Api::start(fast()).await;
    let long = format!("/customers?search={}", "a".repeat(20_000));
    let r = api.get(&long).await;
    // listCustomers documents a `default` problem response, so 414 itself is documented.
    let p = r.problem(414);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("request target")),
        "{p}"
    );
    let mut rb = api.req(reqwest::Method::GET, "/customers");
    for i in 0..80 {
        rb = rb.header(format!("x-filler-{i}"), "v".repeat(1000));
    }
    let r = Api::send(rb).await;
    let p = r.problem(431);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("headers")),
        "{p}"
    );
    // Many distinct query parameters are parsed once each (no quadratic duplicate check);
    // a repeated one is reported by name.
    let many: String = (0..1500).map(|i| format!("p{i}=1&")).collect();
    let r = api.get(&format!("/customers?{many}limit=1&limit=2")).await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn uploads_to_unknown_ids_are_refused_before_the_body_is_read() {
    let api = Api::start(fast()).await;
    let mut s = TcpStream::connect(addr(&api)).await.expect("connect");
    // Announces 24 MB but sends a few bytes: a server that buffered first would wait.
    s.write_all(
        b"PUT /sandbox/uploads/2hCjxJzUAW6JVRkZqaF9E0KpM3b HTTP/1.1\r\nHost: x\r\nContent-Length: 25165824\r\n\r\nhello",
    )
    .await
    .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("answered before the body arrived")
        .expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");

    // A real upload is counted as it streams (and recorded by size).
    let c = api.create_customer("Uploader", "business").await;
    let app = c["application_id"].as_str().expect("id");
    let r = api
        .post(
            &format!("/applications/{app}/document-uploads"),
            &json!({"document_type": "certificate_of_incorporation", "file_type": "pdf", "country": "US"}),
        )
        .await;
    let url = r.json()["upload_url"].as_str().expect("url").to_owned();
    let body = vec![7u8; 3 * 1024 * 1024];
    let r = api.http.put(&url).body(body).send().await.expect("upload");
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
    let r = api
        .http
        .put(&url)
        .body(Vec::<u8>::new())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn slow_bodies_time_out() {
    let api = Api::start(fast().body_read_timeout(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(addr(&api)).await.expect("connect");
    let head = format!(
        "POST /customers HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\nx-idempotency-key: {}\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\"",
        api.sandbox.api_key(),
        uuid::Uuid::new_v4()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let p: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    assert_eq!(p["status"], 408, "{text}");
}
