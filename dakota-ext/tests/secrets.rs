//! Secrets stay out of `Debug`, errors and logs. Its own test binary: tracing caches
//! per-callsite interest process-wide, so a subscriber set here must not race other tests.

mod common;

use common::*;
use dakota_ext::{Dakota, RetryPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk_test_very_secret_value_123";

#[tokio::test]
async fn api_key_never_appears_in_debug_or_logs() {
    use tracing_subscriber::fmt::MakeWriter;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map(|mut v| v.extend_from_slice(b)).ok();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }
    let logs = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = FaultServer::start(|_, i| {
        if i == 0 {
            problem(503, "down")
        } else {
            problem(401, "Unauthorized")
        }
    });
    let dakota = Dakota::builder()
        .base_url(&server.url)
        .expect("url")
        .api_key(KEY)
        .application_token("tok_secret_application_token")
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .max_attempts(2),
        )
        .build()
        .expect("client");
    let err = dakota
        .call(dakota.api().get_customer().customer_id(CUSTOMER_ID).send())
        .await
        .expect_err("401");
    assert_eq!(
        server.requests()[0]
            .headers
            .get("x-api-key")
            .map(String::as_str),
        Some(KEY),
        "the key is sent"
    );
    let debug = format!(
        "{dakota:?} {err:?} {err} {:?}",
        Dakota::builder().api_key(KEY)
    );
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("REDACTED"));
    let text = logs
        .0
        .lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    assert!(
        text.contains("dakota.request") && text.contains("retrying"),
        "spans and retries are logged: {text}"
    );
    assert!(!text.contains(KEY), "{text}");
    assert!(
        !text.contains("tok_secret_application_token")
            && !debug.contains("tok_secret_application_token")
    );
}
