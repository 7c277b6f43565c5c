//! A local, stateful Dakota Platform API server (think stripe-mock, but it keeps state), for
//! examples and integration tests: in memory by default, or kept in a data dir
//! ([`SandboxBuilder::data_dir`], `--data-dir`) so a team can run it as a shared service
//! whose state survives restarts and crashes.
//!
//! Every request and response body is a `dakota_api::types` value, so the wire format follows
//! the spec by construction. Operations of the spec that the sandbox does not implement answer
//! `501` (problem+json naming the operation); every error is an RFC 9457 problem.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dakota_sandbox::SandboxError> {
//! use std::time::Duration;
//! let sandbox = dakota_sandbox::Sandbox::builder()
//!     .auto_approve_after(Duration::ZERO)
//!     .start()
//!     .await?;
//! println!("{} {}", sandbox.base_url(), sandbox.api_key());
//! // Verify its webhook deliveries with this key (`dakota_ext::webhook::WebhookKey::from_hex`).
//! println!("{}", sandbox.webhook_public_key());
//! # Ok(()) }
//! ```
//!
//! # Behaviour
//!
//! * **Persistence** (with a data dir): one SQLite file holds every record, stored idempotent
//!   response, pending lifecycle timer and webhook delivery, the id sequence and the webhook
//!   signing key; every answer is sent only once the changes it could have seen are on disk
//!   (WAL, `synchronous=FULL`, group commit), and a restart loads it all back. A damaged file,
//!   or one of a newer schema version, is refused at start-up ([`StoreError`]).
//! * **Implemented operations**: see [`IMPLEMENTED_OPERATIONS`], plus `PUT /sandbox/uploads/{upload_id}`,
//!   the target of the presigned upload URLs the sandbox hands out.
//! * **Auth**: `x-api-key` (401 without it or with a wrong one). Application routes also take
//!   `X-Application-Token` (or `?token=` as in `application_url`) for *that* application; a
//!   token of another application gets 403, an expired application's token 403.
//! * **Idempotency**: every POST and PUT needs a UUID `x-idempotency-key` (400 otherwise). The
//!   same key and the same request replay the stored `2xx` response byte for byte (header
//!   `idempotent-replayed: true`), also while the first is still running; the same key with a
//!   different request is `422`. Keys are scoped per credential. Failed requests are not stored.
//! * **Rate limits**: `X-RateLimit-Limit/Remaining/Reset` on every response, fixed windows of
//!   60 requests per minute per API key and 100 per hour per application token by default;
//!   past the limit `429` with `Retry-After`.
//! * **Onboarding**: creating a customer creates its application (`pending`, customer
//!   `kyb_status` `pending`). Unless `X-Sandbox-Skip-Auto-Approval: true`, it is approved
//!   [`SandboxBuilder::auto_approve_after`] after creation (customer `active`, decision
//!   `approved`), applied by a background timer when due (and on any read after that, stamped
//!   with the due time). `X-Sandbox-Instant-Completion: true`
//!   decides at once. `X-Sandbox-Scenario`: `kyb_manual_review` (→ `under_review` until
//!   simulated), `kyb_rejected` (→ `declined`, customer `rejected`), `kyb_expired` (created
//!   expired: `declined` with decision `withdrawn`, `kyc_status` `expired`, token refused),
//!   `provider_maintenance` (503 + `Retry-After`), `intermittent_errors` (odd attempts per
//!   idempotency key fail with 503), `network_timeout` (committed, then the response is held
//!   back [`SandboxBuilder::network_timeout_delay`]). `X-Sandbox-Error-Status` 400..=599
//!   short-circuits with that status and `X-Sandbox-Error-Message`.
//!   `POST /sandbox/simulate/onboarding` applies the documented transitions; its
//!   `previous_state`/`new_state` are application statuses.
//! * **Applications** expire 30 days after creation (`application_expires_at`, Unix
//!   nanoseconds); an undecided expired application reads as declined/withdrawn.
//! * **Submissions** need the details (business: business details and a control person;
//!   individual: the individual's details) and the attestations `information_accuracy`,
//!   `terms_of_service`, `privacy_policy` and `e_sign`; otherwise `400` with
//!   `ApplicationNotReadyError`.
//! * **Webhooks**: `/webhooks/targets` registers endpoints (`global`, or a list of
//!   `event_types`; a non-global target must name at least one; the URL must be absolute
//!   `http`/`https` and cannot be changed later). Every onboarding change is announced once, in
//!   order, to each target that wants its type, whoever caused it (a request, a read, the
//!   auto-approval timer, a scenario, `simulate/onboarding`):
//!
//!   | Change | Events |
//!   |---|---|
//!   | customer created | `customer.created`, `customer.kyb_status.created` |
//!   | application submitted | `customer.kyb_application.submitted`, `customer.updated` |
//!   | application status changes (review, approval, decline, expiry, ...) | `customer.updated` (`previous_attributes.application_status`) |
//!   | customer `kyb_status` changes | `customer.kyb_status.updated` (`previous_attributes.kyb_status`) |
//!
//!   `data.object` is the customer (`id`, `customer_id`, `name`, `customer_type`,
//!   `external_id`, `kyb_status`, `kyc_status`, `application_id`, `application_status`,
//!   `decision`, times), except for `customer.kyb_application.submitted` (`application_id`,
//!   `customer_id`, `submitted_at`). Events caused by a simulation carry its id in
//!   `metadata.simulation_id` and in the delivery records. Nothing is recorded while no target
//!   exists, and a new target only gets later changes.
//!
//!   Deliveries are POSTs of the `Event` envelope signed as Dakota signs them (Ed25519 over the
//!   timestamp's decimal digits followed by the raw body; headers `x-webhook-timestamp` and
//!   `x-webhook-signature`, base64) with the sandbox's key: [`Sandbox::webhook_public_key`]
//!   (hex; random per sandbox unless [`SandboxBuilder::webhook_signing_seed`]). A background
//!   task sends them without holding up any request, one at a time per target (so each target
//!   gets its events in order, and a slow one delays nobody else): each attempt is signed
//!   afresh and limited to [`SandboxBuilder::webhook_timeout`]; a non-2xx answer or a
//!   transport error is retried
//!   [`SandboxBuilder::webhook_max_attempts`] times in all, with a doubling
//!   [`SandboxBuilder::webhook_retry_backoff`]; a deleted target gets no further attempt.
//!   `GET /webhooks` lists one record per (event, target), newest event first, 30 days back;
//!   a page never splits an event's records and `cursor` is the last event's id.
//!   `POST /webhooks/events/{event_id}/replay` sends the event again (same `id`, header
//!   [`WEBHOOK_REPLAY_HEADER`]`: true`) to every target that now wants its type, updating their
//!   records (`is_replay`, `replay_count`); the 11th replay is `409`. Target events
//!   (`target.*`) are not emitted. The background task stops with the sandbox.

#![deny(missing_docs)]

// Layers, each depending only on those above it:
//   config, ids, problem, signing          plain data
//   durable, store                         the SQLite log of a data dir; the record store
//   events, state                          the event log; shared state and job queues
//   background, pipeline                   timers and webhook delivery; the HTTP pipeline
//   resources                              one module per resource area, over the pipeline
//   lib                                    composes the router from the pipeline and areas
mod background;
mod config;
mod durable;
mod events;
mod ids;
mod pipeline;
mod problem;
mod resources;
mod serve;
mod signing;
mod state;
mod store;

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use background::WEBHOOK_REPLAY_HEADER;
pub use config::SandboxConfig;
pub use durable::StoreError;
pub use pipeline::auth::{API_KEY_HEADER, APPLICATION_TOKEN_HEADER};
pub use pipeline::faults::SCENARIOS;
pub use pipeline::idempotency::IDEMPOTENCY_KEY_HEADER;
pub use pipeline::{IDEMPOTENT_REPLAYED_HEADER, REQUEST_ID_HEADER};
pub use resources::wallets::FundWalletError;
pub use signing::{WebhookSigner, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use state::SandboxState;

/// The operationIds the sandbox implements (sorted; plus its own `sandboxUploadDocument`);
/// every other operation of the spec answers `501`.
pub static IMPLEMENTED_OPERATIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    resources::registry()
        .operations()
        .into_iter()
        .filter(|op| *op != pipeline::routes::SANDBOX_UPLOAD)
        .collect()
});

/// The axum router of a sandbox over `state`: every path goes through the sandbox's own
/// pipeline (so unknown routes, wrong methods and unimplemented spec operations get
/// problem+json too). Spawn [`SandboxState::take_background_task`] beside it for timers and
/// webhook deliveries.
pub fn router(state: SandboxState) -> axum::Router {
    pipeline::router(state, resources::registry())
}

/// Every record type and timer the sandbox stores (see [`store`] for what a new one adds).
pub(crate) fn schema() -> store::Schema {
    let mut s = store::Schema::default();
    events::schema(&mut s);
    resources::schema(&mut s);
    s
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding or reading the local address failed.
    #[error("could not bind the sandbox: {0}")]
    Io(#[from] std::io::Error),
    /// A setting is out of range.
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    /// The data dir cannot be used (corrupt, written by a newer version, in use, ...).
    #[error(transparent)]
    DataDir(#[from] StoreError),
}

/// A running sandbox on `127.0.0.1`; dropping it shuts the server down.
#[derive(Debug)]
pub struct Sandbox {
    base_url: String,
    addr: SocketAddr,
    state: SandboxState,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
    background: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts a sandbox with the default settings on a free local port.
    pub async fn start() -> Result<Sandbox, SandboxError> {
        Self::builder().start().await
    }

    /// Settings for a sandbox.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key the sandbox accepts in `x-api-key`.
    pub fn api_key(&self) -> &str {
        self.state.api_key()
    }

    /// The `X-Application-Token` of an application (as embedded in its `application_url`).
    pub fn application_token(&self, application_id: &str) -> Option<String> {
        self.state.application_token(application_id)
    }

    /// Hex of the Ed25519 public key that verifies this sandbox's webhook deliveries (what
    /// the Dakota dashboard shows; e.g. give it to `dakota_ext::webhook::WebhookKey::from_hex`).
    pub fn webhook_public_key(&self) -> String {
        self.state.webhook_public_key()
    }

    /// The shared state (e.g. to count records in a test).
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// Stops the server and waits for it to finish its in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(bg) = self.background.take() {
            bg.abort();
            let _ = bg.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bg) = self.background.take() {
            bg.abort();
        }
    }
}

/// Builder of a [`Sandbox`].
#[derive(Debug, Clone, Default)]
pub struct SandboxBuilder {
    config: SandboxConfig,
    port: u16,
}

impl SandboxBuilder {
    /// Delay before a new customer's application is decided automatically (default 5 s;
    /// `Duration::ZERO` decides at once: the background timer fires immediately, and any read
    /// before that applies it too).
    pub fn auto_approve_after(mut self, d: Duration) -> Self {
        self.config.auto_approve_after = d;
        self
    }

    /// Duration of each automatic step of a money movement (default 5 s): `pending` →
    /// `processing` → `completed`. `Duration::ZERO` settles at once (background timer, and any
    /// read applies due steps too).
    pub fn transaction_step(mut self, d: Duration) -> Self {
        self.config.transaction_step = d;
        self
    }

    /// Requests per minute allowed per API key (default 60).
    pub fn rate_limit_per_minute(mut self, n: u32) -> Self {
        self.config.rate_limit_per_minute = n;
        self
    }

    /// Length of the API key's fixed rate-limit window (default 60 s; whole seconds).
    pub fn rate_limit_window(mut self, window: Duration) -> Self {
        self.config.rate_limit_window = window;
        self
    }

    /// Requests per hour allowed per application token (default 100).
    pub fn token_rate_limit_per_hour(mut self, n: u32) -> Self {
        self.config.token_rate_limit_per_hour = n;
        self
    }

    /// The API key to accept (default: a random `sk_sandbox_...` key).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = key.into();
        self
    }

    /// How long the `network_timeout` scenario holds a response back (default 30 s).
    pub fn network_timeout_delay(mut self, d: Duration) -> Self {
        self.config.network_timeout_delay = d;
        self
    }

    /// How long a connection may take to send a request's headers, also while it idles
    /// between keep-alive requests (default 10 s).
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.config.header_read_timeout = d;
        self
    }

    /// How long reading a request body may take (default 30 s).
    pub fn body_read_timeout(mut self, d: Duration) -> Self {
        self.config.body_read_timeout = d;
        self
    }

    /// Connections served at once (default 1024).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }

    /// Largest JSON body accepted (default 1 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.config.max_body_bytes = n;
        self
    }

    /// Signs webhook deliveries with the Ed25519 key of this 32-byte seed, so the public key
    /// stays the same across runs (default: a fresh random key per sandbox).
    pub fn webhook_signing_seed(mut self, seed: [u8; 32]) -> Self {
        self.config.webhook_signer = WebhookSigner::from_seed(seed);
        self
    }

    /// Time limit of one webhook delivery attempt (default 5 s).
    pub fn webhook_timeout(mut self, d: Duration) -> Self {
        self.config.webhook_timeout = d;
        self
    }

    /// Attempts per webhook delivery before it is recorded as failed (default 4, 1..=20).
    pub fn webhook_max_attempts(mut self, n: u32) -> Self {
        self.config.webhook_max_attempts = n;
        self
    }

    /// Wait before a delivery's second attempt, doubling after each further failure
    /// (default 500 ms).
    pub fn webhook_retry_backoff(mut self, d: Duration) -> Self {
        self.config.webhook_retry_backoff = d;
        self
    }

    /// Enforce each operation's spec `security` exactly: token-only routes refuse
    /// `x-api-key` (default off, as Dakota's playground; see [`SandboxConfig::strict_auth`]).
    pub fn strict_auth(mut self, on: bool) -> Self {
        self.config.strict_auth = on;
        self
    }

    /// Keeps all state in `dir` (created if needed; one SQLite file, `sandbox.sqlite3`) so
    /// it survives restarts and crashes: records, pending lifecycle timers and webhook
    /// deliveries, stored idempotent responses and the webhook signing key (unless
    /// [`SandboxBuilder::webhook_signing_seed`] gives one). Every `2xx` answer is on disk
    /// before it is sent. Default: in memory. Delete the directory to start afresh.
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.data_dir = Some(dir.into());
        self
    }

    /// How long after it is broadcast a wallet transaction is confirmed (default 2 s;
    /// `Duration::ZERO` confirms at once).
    pub fn wallet_confirmation_delay(mut self, d: Duration) -> Self {
        self.config.wallet_confirmation_delay = d;
        self
    }

    /// Local port to bind (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// All settings at once.
    pub fn config(mut self, config: SandboxConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds `127.0.0.1:port` and starts serving in a background task.
    pub async fn start(self) -> Result<Sandbox, SandboxError> {
        self.config.validate()?;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let state = SandboxState::new(self.config, base_url.clone())?;
        let app = router(state.clone());
        let background = state.take_background_task().map(tokio::spawn);
        let (tx, rx) = watch::channel(false);
        let limits = serve::Limits {
            header_read_timeout: state.config().header_read_timeout,
            max_connections: state.config().max_connections,
        };
        let task = tokio::spawn(serve::serve(listener, app, limits, rx));
        Ok(Sandbox {
            base_url,
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
            background,
        })
    }
}
