//! The Redis connection shared by [`crate::webhook::RedisStore`] and
//! [`crate::SharedRateBudget`] (feature `redis`): one auto-reconnecting connection per value,
//! every command bounded by a timeout, failures reported as [`RedisUnavailable`].

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Default bound on one Redis round trip (connecting included).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A Redis command that did not succeed: which one, and why.
///
/// The Redis URL is never part of the message (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("Redis {op}: {cause}")]
pub struct RedisUnavailable {
    op: &'static str,
    #[source]
    cause: Cause,
}

#[derive(Debug, thiserror::Error)]
enum Cause {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected reply: {0}")]
    Reply(String),
}

impl RedisUnavailable {
    /// The command (or step) that failed, e.g. `"connect"` or `"claim (SET NX)"`.
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// Whether Redis did not answer in time (as opposed to refusing or failing the command).
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, Cause::Timeout(_))
    }

    pub(crate) fn reply(op: &'static str, what: impl Into<String>) -> Self {
        Self {
            op,
            cause: Cause::Reply(what.into()),
        }
    }
}

/// A connection manager for `url` that reconnects by itself; `eager` waits for the first
/// connection (so a wrong address fails at start-up instead of on the first use).
pub(crate) async fn connect(
    url: &str,
    timeout: Duration,
    eager: bool,
) -> Result<ConnectionManager, RedisUnavailable> {
    let client = redis::Client::open(url).map_err(|e| RedisUnavailable {
        op: "URL",
        cause: Cause::Redis(e),
    })?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(timeout);
    let manager =
        ConnectionManager::new_lazy_with_config(client, config).map_err(|e| RedisUnavailable {
            op: "connect",
            cause: Cause::Redis(e),
        })?;
    if eager {
        let mut conn = manager.clone();
        bounded("connect (PING)", timeout, async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await?;
    }
    Ok(manager)
}

/// Runs one Redis command with a time limit.
pub(crate) async fn bounded<T>(
    op: &'static str,
    timeout: Duration,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, RedisUnavailable> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(RedisUnavailable {
            op,
            cause: Cause::Redis(e),
        }),
        Err(_) => Err(RedisUnavailable {
            op,
            cause: Cause::Timeout(timeout),
        }),
    }
}

/// Milliseconds for a Redis `PX`/`PEXPIRE` argument: at least 1, at most about a century.
pub(crate) fn millis(d: Duration) -> u64 {
    const CENTURY_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
    u64::try_from(d.as_millis())
        .unwrap_or(CENTURY_MS)
        .clamp(1, CENTURY_MS)
}

/// Checks a key prefix: visible ASCII only (no spaces or control characters), at most 128 bytes.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > 128 {
        return Err("key prefix is longer than 128 bytes".into());
    }
    match prefix.chars().find(|c| !c.is_ascii_graphic()) {
        Some(c) => Err(format!(
            "key prefix may hold only visible ASCII characters, not {c:?}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_is_clamped() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), 100 * 365 * 24 * 3600 * 1000);
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("dakota:webhook:").is_ok());
        assert!(check_prefix("{tenant-1}/dakota.").is_ok());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("bad prefix").is_err());
        assert!(check_prefix("tab\t").is_err());
        assert!(check_prefix("é").is_err());
        assert!(check_prefix(&"a".repeat(129)).is_err());
    }

    #[tokio::test]
    async fn a_url_that_does_not_parse_is_reported_without_echoing_it() {
        let err = connect("redis://:hunter2@", DEFAULT_TIMEOUT, false)
            .await
            .expect_err("no host");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.operation(), "URL");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_within_the_timeout() {
        // Port 1 on localhost: nothing listens there.
        let t = std::time::Instant::now();
        let err = connect("redis://127.0.0.1:1/", Duration::from_millis(300), true)
            .await
            .expect_err("nothing listens on port 1");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(
            err.to_string().starts_with("Redis connect (PING): "),
            "{err}"
        );
    }
}
