//! The configured client: environments, auth, idempotency keys, retries, pacing, tracing.
//!
//! Every request of every generated operation goes through [`Pipeline`], installed as the
//! `dakota-api` transport hook, so [`Dakota::api`] gives the complete generated API with the
//! same behaviour as the hand-written helpers.

use crate::auth::{self, Credential};
use crate::body_limit::{self, Limits};
use crate::error::{snippet, ApiError, BoxError, Error, Problem, Redacted, TransportKind};
use crate::retry::{self, RetryPolicy};
use dakota_api::transport::{Inner, Transport, TransportFuture};
use progenitor_client::{OperationInfo, ResponseValue};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use url::Url;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Header carrying a per-application token.
pub const APPLICATION_TOKEN_HEADER: &str = "x-application-token";
/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "x-idempotency-key";
/// `x-request-id` of a response.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const API_KEY: HeaderName = HeaderName::from_static(API_KEY_HEADER);
const APPLICATION_TOKEN: HeaderName = HeaderName::from_static(APPLICATION_TOKEN_HEADER);
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static(IDEMPOTENCY_KEY_HEADER);

/// Which Dakota deployment to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Environment {
    /// `https://api.platform.sandbox.dakota.xyz` (simulated money; the default).
    #[default]
    Sandbox,
    /// `https://api.platform.dakota.xyz`.
    Production,
    /// Any other base URL, e.g. the local `dakota-sandbox`.
    Custom(Url),
}

impl Environment {
    /// The base URL of this environment.
    pub fn base_url(&self) -> String {
        match self {
            Environment::Sandbox => "https://api.platform.sandbox.dakota.xyz".into(),
            Environment::Production => "https://api.platform.dakota.xyz".into(),
            Environment::Custom(u) => u.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// Parse `sandbox`, `production` or a URL.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" | "" => Ok(Environment::Sandbox),
            "production" | "prod" => Ok(Environment::Production),
            other => Url::parse(other).map(Environment::Custom).map_err(|e| {
                Error::Config(format!(
                    "unknown environment {s:?} (sandbox, production or a URL): {e}"
                ))
            }),
        }
    }
}

/// Default overall deadline of one call, across all attempts and retry waits.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Default limit of a successful JSON body: a full page of the largest list Dakota documents
/// is well under a megabyte.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Default limit of an error body kept in an [`Error`].
pub const DEFAULT_MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Most same-origin redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Builder for [`Dakota`]; start with [`Dakota::builder`] (the same as `default()`).
#[must_use]
pub struct DakotaBuilder {
    environment: Environment,
    api_key: Option<SecretString>,
    application_token: Option<SecretString>,
    timeout: Option<Option<Duration>>,
    connect_timeout: Option<Duration>,
    deadline: Option<Duration>,
    retry: RetryPolicy,
    auto_idempotency_keys: bool,
    pacing: bool,
    limits: Limits,
    user_agent_suffix: Option<String>,
    http: Option<reqwest::Client>,
    #[cfg(feature = "redis")]
    rate_budget: Option<crate::SharedRateBudget>,
}

impl Default for DakotaBuilder {
    fn default() -> Self {
        Self {
            environment: Environment::default(),
            api_key: None,
            application_token: None,
            timeout: None,
            connect_timeout: None,
            deadline: Some(DEFAULT_DEADLINE),
            retry: RetryPolicy::default(),
            auto_idempotency_keys: true,
            pacing: false,
            limits: Limits {
                body: DEFAULT_MAX_BODY_BYTES,
                error_body: DEFAULT_MAX_ERROR_BODY_BYTES,
            },
            user_agent_suffix: None,
            http: None,
            #[cfg(feature = "redis")]
            rate_budget: None,
        }
    }
}

impl fmt::Debug for DakotaBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DakotaBuilder")
            .field("environment", &self.environment)
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field(
                "application_token",
                &self.application_token.as_ref().map(|_| Redacted),
            )
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .field("auto_idempotency_keys", &self.auto_idempotency_keys)
            .field("pacing", &self.pacing)
            .field("limits", &self.limits)
            .finish()
    }
}

impl DakotaBuilder {
    /// Target environment (default: [`Environment::Sandbox`]).
    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }

    /// Custom base URL (shorthand for [`Environment::Custom`]).
    pub fn base_url(mut self, url: &str) -> Result<Self, Error> {
        let u =
            Url::parse(url).map_err(|e| Error::Config(format!("invalid base URL {url:?}: {e}")))?;
        self.environment = Environment::Custom(u);
        Ok(self)
    }

    /// API key sent as `x-api-key` on the operations whose spec security takes it. Held as a
    /// secret: never in `Debug`, logs or errors. [`DakotaBuilder::build`] refuses an empty key
    /// or one with whitespace or control characters (a trailing newline, say).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// Default application token sent as `X-Application-Token` (instead of the API key) on the
    /// operations whose spec security accepts it; a client with only a token can call exactly
    /// those. The onboarding facade sets the right token per application by itself.
    pub fn application_token(mut self, token: impl Into<String>) -> Self {
        self.application_token = Some(SecretString::from(token.into()));
        self
    }

    /// Timeout of each HTTP attempt (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(Some(t));
        self
    }

    /// No per-attempt timeout and no call deadline (e.g. for tests on tokio's paused clock,
    /// where any timer would fire as soon as the runtime idles).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self.deadline = None;
        self
    }

    /// Overall deadline of one call: all attempts, backoff and `Retry-After` waits together
    /// (default [`DEFAULT_DEADLINE`], 60 s). No retry starts that could not finish in time,
    /// and an attempt in flight is cut at the deadline ([`Error::Deadline`]). Time spent
    /// queued for the pacing budget before the first attempt does not count.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// Largest successful JSON body the client reads (default [`DEFAULT_MAX_BODY_BYTES`],
    /// 8 MiB); beyond it the call fails with [`Error::BodyTooLarge`] and memory stays bounded.
    /// Document downloads are streamed and not limited.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.limits.body = n;
        self
    }

    /// Largest error body the client reads into an [`Error`] (default
    /// [`DEFAULT_MAX_ERROR_BODY_BYTES`], 64 KiB).
    pub fn max_error_body_bytes(mut self, n: usize) -> Self {
        self.limits.error_body = n;
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// Retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Give every POST/PUT/PATCH without one a fresh UUID v4 idempotency key (default on).
    /// When off, such requests are never retried unless the caller sets a key.
    pub fn auto_idempotency_keys(mut self, on: bool) -> Self {
        self.auto_idempotency_keys = on;
        self
    }

    /// Pace requests on the `X-RateLimit-*` headers: every request takes one unit of the
    /// current window's budget before it leaves and waits for the reset once it is spent, so
    /// bulk work shared by many tasks stays under the limit instead of collecting `429`s
    /// (default off). See the `pacing` module.
    pub fn pacing(mut self, on: bool) -> Self {
        self.pacing = on;
        self
    }

    /// Pace requests on a rate-limit budget shared in Redis by every client (every replica)
    /// that uses the same credential, instead of one budget per process; turns pacing on.
    /// See [`SharedRateBudget`](crate::SharedRateBudget) (feature `redis`).
    #[cfg(feature = "redis")]
    pub fn rate_budget(mut self, budget: crate::SharedRateBudget) -> Self {
        self.rate_budget = Some(budget);
        self.pacing = true;
        self
    }

    /// Extra product token appended to the `dakota-rs/<version>` user agent.
    pub fn user_agent_suffix(mut self, s: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(s.into());
        self
    }

    /// Use this reqwest client (proxies, custom TLS roots, pool settings) instead of building
    /// one; the timeout and user-agent settings of this builder are then not applied. Build
    /// it with `redirect(reqwest::redirect::Policy::none())`: reqwest's default policy follows
    /// redirects to other origins with every header, the API key included.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Build the client. Fails on a malformed API key or token (empty, whitespace, control
    /// characters) without echoing it.
    pub fn build(self) -> Result<Dakota, Error> {
        if let Some(k) = &self.api_key {
            auth::validate("the API key", k.expose_secret())?;
        }
        if let Some(t) = &self.application_token {
            auth::validate("the application token", t.expose_secret())?;
        }
        let mut ua = format!("dakota-rs/{}", env!("CARGO_PKG_VERSION"));
        if let Some(s) = &self.user_agent_suffix {
            ua.push(' ');
            ua.push_str(s);
        }
        let mut http = reqwest::Client::builder()
            .user_agent(ua)
            .redirect(same_origin_redirects());
        if let Some(t) = self.timeout.unwrap_or(Some(Duration::from_secs(30))) {
            http = http
                .timeout(t)
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
        }
        let http = match self.http {
            Some(c) => c,
            None => crate::tls::configure(http)?
                .build()
                .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?,
        };
        let pipeline = Arc::new(Pipeline {
            api_key_header: self.api_key.as_ref().and_then(secret_header),
            application_token_header: self.application_token.as_ref().and_then(secret_header),
            api_key: self.api_key,
            application_token: self.application_token,
            retry: self.retry,
            auto_idempotency_keys: self.auto_idempotency_keys,
            pacing: self.pacing,
            #[cfg(feature = "redis")]
            pacer: self
                .rate_budget
                .map(crate::pacing::Pacing::shared)
                .unwrap_or_default(),
            #[cfg(not(feature = "redis"))]
            pacer: crate::pacing::Pacing::default(),
            deadline: self.deadline,
            limits: self.limits,
        });
        let base = self.environment.base_url();
        let api = dakota_api::Client::new_with_client(&base, http, Inner::new(pipeline.clone()));
        Ok(Dakota {
            api,
            pipeline,
            environment: self.environment,
        })
    }
}

/// The Dakota client. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Dakota {
    api: dakota_api::Client,
    pipeline: Arc<Pipeline>,
    environment: Environment,
}

impl fmt::Debug for Dakota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dakota")
            .field("environment", &self.environment)
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl Dakota {
    /// Start configuring a client (the same as `DakotaBuilder::default()`).
    pub fn builder() -> DakotaBuilder {
        DakotaBuilder::default()
    }

    /// Configure from `DAKOTA_API_KEY`, `DAKOTA_ENVIRONMENT` (`sandbox`/`production`) and
    /// `DAKOTA_BASE_URL` (wins over the environment).
    pub fn from_env() -> Result<Self, Error> {
        let mut b = Self::builder();
        if let Ok(env) = std::env::var("DAKOTA_ENVIRONMENT") {
            b = b.environment(Environment::parse(&env)?);
        }
        if let Ok(url) = std::env::var("DAKOTA_BASE_URL") {
            b = b.base_url(&url)?;
        }
        match std::env::var("DAKOTA_API_KEY") {
            Ok(k) if !k.is_empty() => b = b.api_key(k),
            _ => return Err(Error::Config("DAKOTA_API_KEY is not set".into())),
        }
        b.build()
    }

    /// The environment this client talks to.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The complete generated API (every operation of the spec), with this client's auth,
    /// idempotency keys, retries and tracing applied. Wrap a call's `send()` in [`Dakota::call`] to
    /// get [`Error`] and the idempotency key, or with `.send()` for progenitor's raw types.
    pub fn api(&self) -> &dakota_api::Client {
        &self.api
    }

    /// Await a generated operation's `send()` and convert its outcome into [`Response`] /
    /// [`Error`] (typed problem, status, request id, idempotency key).
    ///
    /// ```no_run
    /// # async fn f(dakota: dakota_ext::Dakota) -> Result<(), dakota_ext::Error> {
    /// let customer = dakota
    ///     .call(dakota.api().get_customer().customer_id("2s9bU0pOvqtK3r8aCzn0ZkYvGxW").send())
    ///     .await?;
    /// println!("{}", customer.name);
    /// # Ok(()) }
    /// ```
    pub async fn call<F, T, E>(&self, send: F) -> Result<Response<T>, Error>
    where
        F: std::future::Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
        E: serde::Serialize,
    {
        self.call_with(CallOptions::default(), send).await
    }

    /// [`Dakota::call`] with per-call options (idempotency key, application token). The
    /// options apply to requests made while `send` runs.
    pub async fn call_with<F, T, E>(&self, opts: CallOptions, send: F) -> Result<Response<T>, Error>
    where
        F: std::future::Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
        E: serde::Serialize,
    {
        let ctx = Arc::new(CallContext {
            application_token: opts.application_token,
            state: Mutex::new(CallState {
                idempotency_key: opts.idempotency_key,
                last: None,
                operation: None,
                stopped: None,
            }),
        });
        let result = CALL.scope(ctx.clone(), send).await;
        let key = lock(&ctx.state).idempotency_key.take();
        match result {
            // The generated value is kept whole: its headers are not copied again.
            Ok(value) => Ok(Response {
                value,
                idempotency_key: key,
            }),
            Err(e) => Err(convert_error(e, &ctx, key).await),
        }
    }
}

/// Per-call settings for [`Dakota::call_with`].
#[derive(Default, Clone)]
#[must_use]
pub struct CallOptions {
    idempotency_key: Option<String>,
    application_token: Option<SecretString>,
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("idempotency_key", &self.idempotency_key)
            .field(
                "application_token",
                &self.application_token.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

impl CallOptions {
    /// Use this idempotency key (e.g. one persisted from an earlier failed attempt).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Send this application token on operations that accept one.
    pub fn application_token(mut self, token: SecretString) -> Self {
        self.application_token = Some(token);
        self
    }
}

/// A successful response: the typed body plus what the caller may need to keep.
pub struct Response<T> {
    /// The generated client's value (body, status, headers), kept as it is.
    value: ResponseValue<T>,
    idempotency_key: Option<String>,
}

impl<T: fmt::Debug> fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("value", self.value.as_ref())
            .field("status", &self.status())
            .field("headers", self.headers())
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

impl<T: Clone> Clone for Response<T> {
    fn clone(&self) -> Self {
        Self {
            value: ResponseValue::new(
                self.value.as_ref().clone(),
                self.value.status(),
                self.value.headers().clone(),
            ),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

impl<T> Response<T> {
    /// The typed body.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.value.status().as_u16()
    }
    /// Response headers (rate-limit headers included).
    pub fn headers(&self) -> &HeaderMap {
        self.value.headers()
    }
    /// The idempotency key the request carried (given by the caller or generated).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
    /// `x-request-id`, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    }
}

impl<T> std::ops::Deref for Response<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref()
    }
}

struct CallContext {
    application_token: Option<SecretString>,
    /// What the pipeline learns during the call; one lock, taken a few times per attempt.
    state: Mutex<CallState>,
}

struct CallState {
    idempotency_key: Option<String>,
    last: Option<LastResponse>,
    /// The operation last run in this call (the spec's operationId).
    operation: Option<&'static str>,
    /// Why the pipeline stopped on its own (missing credential, deadline): reported instead
    /// of what the generated code makes of the stand-in response or timeout.
    stopped: Option<Error>,
}

/// The last response of a call, for errors. Header values are kept as they came (no copy
/// into a `String` unless an error needs them).
#[derive(Clone, Debug)]
struct LastResponse {
    status: u16,
    content_type: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

fn header_string(v: Option<HeaderValue>) -> Option<String> {
    v.and_then(|v| v.to_str().ok().map(str::to_string))
}

tokio::task_local! {
    static CALL: Arc<CallContext>;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// reqwest's redirect policy for clients this crate builds: follow at most
/// [`MAX_REDIRECTS`] redirects within the origin of the original request (scheme, host and
/// port); refuse any other. reqwest would forward every custom header (it only strips
/// `Authorization` and cookies), so following a redirect elsewhere would hand the API key,
/// the application token, the idempotency key and a POST body to a third party. Stripping
/// them instead would still send the body, and Dakota has no reason to redirect an API call
/// off its own origin, so the redirect response itself comes back as [`Error::Redirect`].
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The request pipeline installed under the generated client.
pub(crate) struct Pipeline {
    api_key: Option<SecretString>,
    application_token: Option<SecretString>,
    /// The header values of the two, made once (validated at `build()`, marked sensitive)
    /// instead of on every request.
    api_key_header: Option<HeaderValue>,
    application_token_header: Option<HeaderValue>,
    retry: RetryPolicy,
    auto_idempotency_keys: bool,
    pacing: bool,
    pacer: crate::pacing::Pacing,
    deadline: Option<Duration>,
    limits: Limits,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field(
                "application_token",
                &self.application_token.as_ref().map(|_| Redacted),
            )
            .field("retry", &self.retry)
            .field("auto_idempotency_keys", &self.auto_idempotency_keys)
            .field("pacing", &self.pacing)
            .field("deadline", &self.deadline)
            .field("limits", &self.limits)
            .finish()
    }
}

fn secret_header(value: &SecretString) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value.expose_secret()).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Errors after which the request may not have been processed or its answer was lost.
fn retryable_transport(e: &reqwest::Error) -> bool {
    !(e.is_builder() || e.is_redirect() || e.is_decode())
        && crate::error::transport_kind(e) != TransportKind::Protocol
}

fn is_mutating(method: &reqwest::Method) -> bool {
    matches!(
        *method,
        reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
    )
}

/// A response made on the spot for a request the pipeline refused to send (it never leaves
/// the process): `401` problem+json saying why, for callers of the raw `send()`;
/// [`Dakota::call`] reports the [`Error`] recorded beside it instead.
fn refusal(status: u16, title: &str, detail: &str) -> reqwest::Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    })
    .to_string();
    let mut r = http::Response::new(body);
    *r.status_mut() =
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::UNAUTHORIZED);
    r.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    reqwest::Response::from(r)
}

impl Pipeline {
    /// Set the credential and the idempotency key; `Err` when the operation needs a credential
    /// this client lacks.
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        op: Option<&'static dakota_api::registry::Operation>,
        operation: &'static str,
        ctx: Option<&Arc<CallContext>>,
    ) -> Result<Option<String>, Error> {
        // Operations the registry does not know (a client generated from another spec) are
        // treated as the spec's default: API key only.
        let schemes = op.map_or(&[auth::API_KEY_SCHEME][..], |o| o.security);
        let call_token = ctx.and_then(|c| c.application_token.as_ref());
        let token = call_token.or(self.application_token.as_ref());
        let headers = request.headers_mut();
        headers.remove(API_KEY);
        headers.remove(APPLICATION_TOKEN);
        let (name, value) = match auth::choose(schemes, self.api_key.as_ref(), token) {
            Ok(Credential::ApiKey) => (API_KEY, self.api_key_header.clone()),
            // The call's own token when it has one (that is the one `choose` took), else the
            // client's.
            Ok(Credential::Token) => (
                APPLICATION_TOKEN,
                match call_token {
                    Some(t) => secret_header(t),
                    None => self.application_token_header.clone(),
                },
            ),
            Ok(Credential::None) => (API_KEY, None),
            Err(credential) => {
                return Err(Error::MissingCredential {
                    operation,
                    credential,
                })
            }
        };
        if let Some(v) = value {
            headers.insert(name, v);
        }

        // The key goes exactly where the spec declares the header (every POST, PUT and PATCH
        // for an operation the registry does not know), or wherever the caller set one.
        let wants_key = op.map_or_else(|| is_mutating(request.method()), |o| o.idempotency_key);
        let idem = IDEMPOTENCY_KEY;
        let preset = ctx.and_then(|c| lock(&c.state).idempotency_key.clone());
        let headers = request.headers_mut();
        if let Some(k) = preset
            .as_deref()
            .and_then(|k| HeaderValue::from_str(k).ok())
        {
            headers.insert(idem.clone(), k);
        }
        let mut key = headers
            .get(&idem)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if key.is_none() && wants_key && self.auto_idempotency_keys {
            let fresh = uuid::Uuid::new_v4().to_string();
            if let Ok(v) = HeaderValue::from_str(&fresh) {
                headers.insert(idem, v);
                key = Some(fresh);
            }
        }
        if let (Some(c), Some(k)) = (ctx, &key) {
            lock(&c.state).idempotency_key = Some(k.clone());
        }
        Ok(key)
    }

    /// With pacing on, take one unit of the request's window budget (waiting for the reset
    /// when it is spent); `None`: not paced (see `Pacing::budget_of`).
    async fn pace(&self, budget: Option<&crate::pacing::Budget>) {
        if let Some(b) = budget {
            self.pacer.acquire(b).await;
        }
    }

    async fn observe(&self, budget: Option<&crate::pacing::Budget>, headers: &HeaderMap) {
        if let Some(b) = budget {
            self.pacer.observe(b, headers).await;
        }
    }

    async fn run(
        &self,
        client: &reqwest::Client,
        mut original: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let ctx = CALL.try_with(Arc::clone).ok();
        let op = dakota_api::registry::operation(info.operation_id);
        if op.is_none() {
            tracing::warn!(
                operation = info.operation_id,
                "operation unknown to the registry: sending the API key"
            );
        }
        let operation = op.map_or(info.operation_id, |o| o.operation_id);
        if let Some(c) = &ctx {
            let mut state = lock(&c.state);
            state.operation = Some(operation);
            state.stopped = None;
        }
        let key = match self.prepare(&mut original, op, operation, ctx.as_ref()) {
            Ok(key) => key,
            Err(e) => {
                let detail = e.to_string();
                if let Some(c) = &ctx {
                    lock(&c.state).stopped = Some(e);
                }
                return Ok(refusal(401, "Missing credential", &detail));
            }
        };
        let request = original;
        let may_retry = !is_mutating(request.method()) || key.is_some();
        let max = if may_retry {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let budget = self
            .pacing
            .then(|| self.pacer.budget_of(request.headers()))
            .flatten();
        let mut attempt = 1u32;
        let mut request = Some(request);
        let mut deadline: Option<tokio::time::Instant> = None;
        let deadline_hit = |attempts: u32| {
            if let (Some(c), Some(d)) = (&ctx, self.deadline) {
                lock(&c.state).stopped = Some(Error::Deadline {
                    operation,
                    deadline: d,
                    attempts,
                    idempotency_key: key.clone(),
                });
            }
        };
        loop {
            self.pace(budget.as_ref()).await;
            let now = tokio::time::Instant::now();
            let ends = *deadline.get_or_insert_with(|| match self.deadline {
                Some(d) => now + d,
                None => now + Duration::from_secs(u64::from(u32::MAX)),
            });
            // A request whose body cannot be cloned (a stream) gets exactly one attempt.
            let copy = if attempt < max {
                request.as_ref().and_then(reqwest::Request::try_clone)
            } else {
                None
            };
            let (this, last_try) = match (copy, request.take()) {
                (Some(copy), original) => {
                    request = original;
                    (copy, false)
                }
                (None, Some(original)) => (original, true),
                (None, None) => unreachable!("the original request is kept until the last attempt"),
            };
            let span = tracing::Span::current();
            if !span.is_disabled() {
                span.record("attempt", attempt);
            }
            let sent = client.execute(this);
            let outcome = if self.deadline.is_some() {
                match tokio::time::timeout_at(ends, sent).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        deadline_hit(attempt);
                        return Ok(refusal(504, "Deadline exceeded", "call deadline passed"));
                    }
                }
            } else {
                sent.await
            };
            // Whether a wait of `delay` before the next attempt still ends before the deadline.
            let in_time = |delay: Duration| {
                self.deadline.is_none() || tokio::time::Instant::now() + delay < ends
            };
            match outcome {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let request_id = resp.headers().get(REQUEST_ID_HEADER).cloned();
                    let span = tracing::Span::current();
                    if !span.is_disabled() {
                        span.record("status", status);
                        if let Some(id) = request_id.as_ref().and_then(|v| v.to_str().ok()) {
                            span.record("request_id", id);
                        }
                    }
                    self.observe(budget.as_ref(), resp.headers()).await;
                    if !last_try && retry::retryable_status(status) {
                        let delay = retry::server_delay(status, resp.headers())
                            .unwrap_or_else(|| self.retry.backoff(attempt));
                        if delay <= self.retry.max_retry_after && in_time(delay) {
                            tracing::info!(
                                status,
                                attempt,
                                delay_ms = delay.as_millis() as u64,
                                "retrying"
                            );
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    if let Some(k) = key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
                        resp.headers_mut()
                            .entry(IDEMPOTENCY_KEY_HEADER)
                            .or_insert(k);
                    }
                    if let Some(c) = &ctx {
                        lock(&c.state).last = Some(LastResponse {
                            status,
                            content_type: resp
                                .headers()
                                .get(reqwest::header::CONTENT_TYPE)
                                .cloned(),
                            request_id,
                        });
                    }
                    return Ok(body_limit::limit(resp, operation, self.limits));
                }
                Err(e) => {
                    // No answer, no news about the budget (this also ends a pacing probe).
                    self.observe(budget.as_ref(), &HeaderMap::new()).await;
                    if !last_try && retryable_transport(&e) {
                        let delay = self.retry.backoff(attempt);
                        if in_time(delay) {
                            tracing::info!(attempt, delay_ms = delay.as_millis() as u64, kind = %crate::error::transport_kind(&e), "retrying after transport error");
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    return Err(e);
                }
            }
        }
    }
}

impl Transport for Pipeline {
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        info: &'a OperationInfo,
    ) -> TransportFuture<'a> {
        let span = tracing::info_span!(
            "dakota.request",
            operation = info.operation_id,
            method = %request.method(),
            path = request.url().path(),
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        Box::pin(self.run(client, request, info).instrument(span))
    }
}

fn problem_of(body: &serde_json::Value) -> Option<Problem> {
    let obj = body.as_object()?;
    if !(obj.contains_key("title") || obj.contains_key("type") || obj.contains_key("detail")) {
        return None;
    }
    serde_json::from_value(body.clone()).ok()
}

fn api_error(
    status: u16,
    headers: Option<&HeaderMap>,
    body: Option<serde_json::Value>,
    key: Option<String>,
    header_request_id: Option<String>,
) -> Error {
    let retry_after = headers.and_then(|h| retry::server_delay(status, h));
    let problem = body.as_ref().and_then(problem_of);
    let request_id = problem
        .as_ref()
        .and_then(|p| p.request_id.clone())
        .or_else(|| {
            headers
                .and_then(|h| h.get("x-request-id"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .or(header_request_id);
    if status == 429 {
        return Error::RateLimited {
            retry_after,
            request_id,
            idempotency_key: key,
        };
    }
    Error::Api(Box::new(ApiError {
        status,
        problem,
        body,
        retry_after,
        request_id,
        idempotency_key: key,
    }))
}

/// A reqwest error that stopped a call: the body limit when that is what it was, else a
/// transport error keeping the reqwest error as its source.
fn wire_error(err: reqwest::Error, operation: Option<&'static str>, key: Option<String>) -> Error {
    if let Some(x) = body_limit::find(&err) {
        return Error::BodyTooLarge {
            operation: x.operation,
            status: x.status,
            limit: x.limit,
            which: x.which,
        };
    }
    crate::error::transport(err, operation, key)
}

/// `bytes` of an error body as JSON, or a short text snippet when it is not JSON.
fn error_body(bytes: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .or_else(|| (!bytes.is_empty()).then(|| serde_json::Value::String(snippet(bytes, 200))))
}

async fn convert_error<E: serde::Serialize>(
    e: progenitor_client::Error<E>,
    ctx: &CallContext,
    key: Option<String>,
) -> Error {
    use progenitor_client::Error as P;
    let (last, operation) = {
        let mut state = lock(&ctx.state);
        if let Some(stopped) = state.stopped.take() {
            return stopped;
        }
        (state.last.take(), state.operation)
    };
    match e {
        P::InvalidRequest(msg) => Error::InvalidInput(msg),
        P::Custom(msg) => Error::InvalidInput(msg),
        P::CommunicationError(err) | P::InvalidUpgrade(err) | P::ResponseBodyError(err) => {
            wire_error(err, operation, key)
        }
        P::ErrorResponse(rv) => {
            let status = rv.status().as_u16();
            let headers = rv.headers().clone();
            let body = serde_json::to_value(rv.into_inner()).ok();
            api_error(status, Some(&headers), body, key, None)
        }
        P::InvalidResponsePayload(bytes, err) => {
            let (status, content_type, request_id) = match last {
                Some(l) => (
                    l.status,
                    header_string(l.content_type),
                    header_string(l.request_id),
                ),
                None => (0, None, None),
            };
            if status >= 400 {
                // An error status whose body is empty or not the documented JSON (an HTML page
                // from a proxy, say): still an API error with its status.
                return api_error(status, None, error_body(&bytes), key, request_id);
            }
            Error::Decode {
                status,
                content_type,
                snippet: snippet(&bytes, 200),
                message: format!(
                    "{}: invalid JSON at line {} column {}: {err}",
                    operation.unwrap_or("response"),
                    err.line(),
                    err.column()
                ),
                source: Some(Box::new(err) as BoxError),
            }
        }
        P::UnexpectedResponse(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if (300..400).contains(&status) {
                return Error::Redirect {
                    operation: operation.unwrap_or("request"),
                    status,
                    location: headers
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(|l| snippet(l.as_bytes(), 200)),
                };
            }
            let content_type = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(err) => return wire_error(err, operation, key),
            };
            if (200..300).contains(&status) {
                return Error::Decode {
                    status,
                    content_type,
                    snippet: snippet(&bytes, 200),
                    message: format!(
                        "{}: status not documented for this operation",
                        operation.unwrap_or("response")
                    ),
                    source: None,
                };
            }
            api_error(status, Some(&headers), error_body(&bytes), key, None)
        }
    }
}

impl<E: serde::Serialize> From<progenitor_client::Error<E>> for Error {
    /// For a generated call sent without [`Dakota::call`] (`dakota.api().get_customer()
    /// ...send().await?` in a function returning [`Error`]): the same variants as through
    /// `call`, from what the error itself carries. `call` knows more (the operation, the
    /// idempotency key, the body of an undocumented error status), so prefer it.
    fn from(e: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as P;
        match e {
            P::InvalidRequest(msg) | P::Custom(msg) => Error::InvalidInput(msg),
            P::CommunicationError(err) | P::InvalidUpgrade(err) | P::ResponseBodyError(err) => {
                wire_error(err, None, None)
            }
            P::ErrorResponse(rv) => {
                let status = rv.status().as_u16();
                let headers = rv.headers().clone();
                let body = serde_json::to_value(rv.into_inner()).ok();
                api_error(status, Some(&headers), body, None, None)
            }
            P::InvalidResponsePayload(bytes, err) => Error::Decode {
                status: 0,
                content_type: None,
                snippet: snippet(&bytes, 200),
                message: format!(
                    "invalid JSON at line {} column {}: {err}",
                    err.line(),
                    err.column()
                ),
                source: Some(Box::new(err) as BoxError),
            },
            P::UnexpectedResponse(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers();
                if (300..400).contains(&status) {
                    return Error::Redirect {
                        operation: "request",
                        status,
                        location: headers
                            .get(reqwest::header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(|l| snippet(l.as_bytes(), 200)),
                    };
                }
                if (200..300).contains(&status) {
                    return Error::Decode {
                        status,
                        content_type: headers
                            .get(reqwest::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                        snippet: String::new(),
                        message: "status not documented for this operation".into(),
                        source: None,
                    };
                }
                // Reading the body needs an await; `Dakota::call` does, this conversion cannot.
                api_error(status, Some(headers), None, None, None)
            }
        }
    }
}
