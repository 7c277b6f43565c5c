//! Settings of one sandbox instance.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of one sandbox instance; [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The only API key the sandbox accepts in `x-api-key`.
    pub api_key: String,
    /// How long after creation a customer's application is decided automatically
    /// (5 s by default, like Dakota's sandbox). `Duration::ZERO` decides at once.
    pub auto_approve_after: Duration,
    /// How long each automatic step of a money movement takes (default 5 s): a transaction
    /// goes `pending` → `processing` → `completed` (or its scenario's failure) one step per
    /// interval. `Duration::ZERO` runs them at once.
    pub transaction_step: Duration,
    /// Requests allowed per API key in each rate-limit window (default 60 per minute).
    pub rate_limit_per_minute: u32,
    /// Length of the API key's fixed rate-limit window (default 60 s, as documented). Shorter
    /// windows let benchmarks and tests exercise throttling in seconds instead of minutes.
    pub rate_limit_window: Duration,
    /// Requests per hour allowed per application token (default 100).
    pub token_rate_limit_per_hour: u32,
    /// How long the `network_timeout` scenario holds the response back (default 30 s).
    pub network_timeout_delay: Duration,
    /// How long a connection may take to send a request's headers, when it opens and while it
    /// idles between keep-alive requests (default 10 s); slower or idle connections are
    /// closed.
    pub header_read_timeout: Duration,
    /// How long reading a request body may take (default 30 s); slower bodies get `408`.
    pub body_read_timeout: Duration,
    /// Connections served at once (default 1024); further ones wait to be accepted.
    pub max_connections: usize,
    /// Largest JSON request body accepted, in bytes (default 1 MiB); larger ones get `413`.
    pub max_body_bytes: usize,
    /// Largest file accepted on a presigned upload URL, in bytes (default 25 MiB).
    pub max_upload_bytes: usize,
    /// The Ed25519 key that signs webhook deliveries (default: a fresh random key). Its public
    /// half is [`crate::Sandbox::webhook_public_key`]; `Debug` shows only a fingerprint.
    pub webhook_signer: crate::WebhookSigner,
    /// Time limit of one webhook delivery attempt (default 5 s).
    pub webhook_timeout: Duration,
    /// Attempts per delivery before it is recorded as `failed` (default 4, at most 20).
    pub webhook_max_attempts: u32,
    /// Wait before the second attempt of a delivery; it doubles after every further failure
    /// (default 500 ms).
    pub webhook_retry_backoff: Duration,
    /// Enforce each operation's spec `security` exactly (default off). Off, as Dakota's
    /// playground behaves, routes whose spec lists only `ApplicationTokenAuth` also take
    /// `x-api-key`; on, they answer `401` (or `403` where the spec documents no `401`) to a
    /// key and take only the application's token.
    pub strict_auth: bool,
    /// Keep all state in this directory (one SQLite file, `sandbox.sqlite3`, created if
    /// needed) so it survives restarts and crashes; `None` (the default) keeps it in memory.
    /// See [`crate::SandboxBuilder::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// How long after it is broadcast a wallet transaction is confirmed on chain (default
    /// 2 s; `Duration::ZERO` confirms at once, by the background timer or the next read).
    pub wallet_confirmation_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            api_key: crate::ids::api_key(),
            auto_approve_after: Duration::from_secs(5),
            transaction_step: Duration::from_secs(5),
            rate_limit_per_minute: 60,
            rate_limit_window: Duration::from_secs(60),
            token_rate_limit_per_hour: 100,
            network_timeout_delay: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 25 * 1024 * 1024,
            webhook_signer: crate::WebhookSigner::generate(),
            webhook_timeout: Duration::from_secs(5),
            webhook_max_attempts: 4,
            webhook_retry_backoff: Duration::from_millis(500),
            strict_auth: false,
            data_dir: None,
            wallet_confirmation_delay: Duration::from_secs(2),
        }
    }
}

impl SandboxConfig {
    /// Checks the settings; the sandbox refuses to start with invalid ones.
    pub fn validate(&self) -> Result<(), crate::SandboxError> {
        let bad = |what: &str| Err(crate::SandboxError::InvalidConfig(what.to_owned()));
        if self.api_key.is_empty()
            || !self.api_key.bytes().all(|b| b.is_ascii_graphic())
            || self.api_key.len() > 512
        {
            return bad("api_key must be 1-512 visible ASCII characters");
        }
        if self.rate_limit_per_minute == 0 {
            return bad("rate_limit_per_minute must be at least 1");
        }
        if self.rate_limit_window.as_secs() == 0 || self.rate_limit_window.subsec_nanos() != 0 {
            return bad("rate_limit_window must be a whole number of seconds, at least 1");
        }
        if self.token_rate_limit_per_hour == 0 {
            return bad("token_rate_limit_per_hour must be at least 1");
        }
        if self.max_body_bytes == 0 || self.max_upload_bytes == 0 {
            return bad("body limits must be at least 1 byte");
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return bad("read timeouts must be longer than zero");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.webhook_timeout.is_zero() {
            return bad("webhook_timeout must be longer than zero");
        }
        if !(1..=20).contains(&self.webhook_max_attempts) {
            return bad("webhook_max_attempts must be between 1 and 20");
        }
        if self.webhook_retry_backoff > Duration::from_secs(3600) {
            return bad("webhook_retry_backoff must be at most an hour");
        }
        if chrono::Duration::from_std(self.auto_approve_after).is_err() {
            return bad("auto_approve_after is too large");
        }
        if self.wallet_confirmation_delay > Duration::from_secs(86_400) {
            return bad("wallet_confirmation_delay must be at most a day");
        }
        if self.transaction_step > Duration::from_secs(86_400) {
            return bad("transaction_step must be at most a day");
        }
        Ok(())
    }
}
