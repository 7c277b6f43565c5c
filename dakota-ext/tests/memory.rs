//! Memory stays bounded whatever a server sends: a 300 MB JSON answer and a 200 MB error body
//! end in `Error::BodyTooLarge` after at most the configured limit is read, and the process's
//! peak resident memory (`VmHWM`) grows by less than 50 MB. A 300 MB document download still
//! arrives whole, streamed. Its own test binary: the peak is per process.

mod common;

use common::*;
use dakota_ext::{Dakota, Error};
use futures::StreamExt;

const MB: usize = 1024 * 1024;

/// Peak resident set of this process, in bytes (Linux).
fn peak_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn client(url: &str) -> Dakota {
    Dakota::builder()
        .base_url(url)
        .expect("url")
        .api_key("sk_test_memory")
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_bounded_memory_and_downloads_stream() {
    let Some(before) = peak_rss() else {
        eprintln!("skipped: no /proc/self/status on this platform");
        return;
    };
    let server = FaultServer::start(|req, _| {
        if req.path.contains("/documents/") {
            Action::Stream {
                status: 200,
                content_type: "application/pdf",
                len: 300 * MB,
                announce: true,
            }
        } else if req.path.contains("announced") {
            Action::Stream {
                status: 200,
                content_type: "application/json",
                len: 300 * MB,
                announce: true,
            }
        } else if req.path.contains("error") {
            Action::Stream {
                status: 500,
                content_type: "application/problem+json",
                len: 200 * MB,
                announce: false,
            }
        } else {
            Action::Stream {
                status: 200,
                content_type: "application/json",
                len: 300 * MB,
                announce: false,
            }
        }
    });
    let dakota = client(&server.url);
    for (customer, status, which) in [
        ("chunked", 200u16, "max_body_bytes"),
        ("announced", 200, "max_body_bytes"),
        ("error", 500, "max_error_body_bytes"),
    ] {
        // The customer id lands in the path the server looks at.
        let err = dakota
            .call(
                dakota
                    .api()
                    .list_recipients()
                    .customer_id(format!("{customer:0<27}").as_str())
                    .send(),
            )
            .await
            .expect_err("too large");
        assert!(
            matches!(&err, Error::BodyTooLarge { operation: "listRecipients", status: s, which: w, .. } if *s == status && *w == which),
            "{customer}: {err:?}"
        );
        assert!(err.to_string().contains("listRecipients"), "{err}");
    }
    let after_json = peak_rss().unwrap_or(before);

    let doc = dakota
        .call(
            dakota
                .api()
                .download_document()
                .application_id(CUSTOMER_ID)
                .document_id(CUSTOMER_ID)
                .send(),
        )
        .await
        .expect("downloads are not limited");
    let mut stream = doc.into_inner();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        total += chunk.expect("chunk").len();
    }
    assert_eq!(total, 300 * MB);
    let after = peak_rss().unwrap_or(before);
    let grew = after.saturating_sub(before);
    println!(
        "peak RSS: {:.1} MB before, {:.1} MB after the oversized JSON and error bodies, {:.1} MB after a 300 MB download (+{:.1} MB)",
        before as f64 / MB as f64,
        after_json as f64 / MB as f64,
        after as f64 / MB as f64,
        grew as f64 / MB as f64
    );
    assert!(grew < 50 * MB, "peak RSS grew by {} MB", grew / MB);
}
