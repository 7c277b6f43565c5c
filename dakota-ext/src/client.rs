//! The configured client: environments, auth, idempotency keys, retries, pacing, tracing.
//!
//! Every request of every generated operation goes through [`Pipeline`], installed as the
//! `dakota-api` transport hook, so [`Dakota::api`] gives the complete generated API with the
//! same behaviour as the hand-written helpers.

use crate::error::{snippet, ApiError, Error, Problem, Redacted, TransportKind};
use crate::retry::{self, RetryPolicy};
use dakota_api::transport::{Inner, Transport, TransportFuture};
use progenitor_client::{OperationInfo, ResponseValue};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
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

/// Which Dakota deployment to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

/// Builder for [`Dakota`]; start with [`Dakota::builder`].
#[derive(Default)]
pub struct DakotaBuilder {
    environment: Environment,
    api_key: Option<SecretString>,
    application_token: Option<SecretString>,
    timeout: Option<Option<Duration>>,
    connect_timeout: Option<Duration>,
    retry: RetryPolicy,
    auto_idempotency_keys: bool,
    pacing: bool,
    user_agent_suffix: Option<String>,
    http: Option<reqwest::Client>,
    #[cfg(feature = "redis")]
    rate_budget: Option<crate::SharedRateBudget>,
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
            .field("retry", &self.retry)
            .field("auto_idempotency_keys", &self.auto_idempotency_keys)
            .field("pacing", &self.pacing)
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

    /// API key sent as `x-api-key`. Held as a secret: never in `Debug`, logs or errors.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// Default application token sent as `X-Application-Token` on the operations whose spec
    /// accepts it. The onboarding facade sets the right token per application by itself.
    pub fn application_token(mut self, token: impl Into<String>) -> Self {
        self.application_token = Some(SecretString::from(token.into()));
        self
    }

    /// Timeout of each HTTP attempt (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(Some(t));
        self
    }

    /// No per-attempt timeout (e.g. for tests on tokio's paused clock).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
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
    /// one; the timeout and user-agent settings of this builder are then not applied.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<Dakota, Error> {
        let mut ua = format!("dakota-rs/{}", env!("CARGO_PKG_VERSION"));
        if let Some(s) = &self.user_agent_suffix {
            ua.push(' ');
            ua.push_str(s);
        }
        let mut http = reqwest::Client::builder().user_agent(ua);
        if let Some(t) = self.timeout.unwrap_or(Some(Duration::from_secs(30))) {
            http = http
                .timeout(t)
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
        }
        let http = match self.http {
            Some(c) => c,
            None => http
                .build()
                .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?,
        };
        let pipeline = Arc::new(Pipeline {
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
            token_operations: dakota_api::registry::APPLICATION_TOKEN_OPERATIONS
                .iter()
                .copied()
                .collect(),
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
    /// Start configuring a client.
    pub fn builder() -> DakotaBuilder {
        DakotaBuilder {
            auto_idempotency_keys: true,
            ..DakotaBuilder::default()
        }
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
            Ok(k) if !k.trim().is_empty() => b = b.api_key(k),
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
            idempotency_key: Mutex::new(opts.idempotency_key),
            application_token: opts.application_token,
            last: Mutex::new(None),
        });
        let result = CALL.scope(ctx.clone(), send).await;
        let key = lock(&ctx.idempotency_key).clone();
        match result {
            Ok(rv) => {
                let status = rv.status().as_u16();
                let headers = rv.headers().clone();
                Ok(Response {
                    value: rv.into_inner(),
                    status,
                    headers,
                    idempotency_key: key,
                })
            }
            Err(e) => Err(convert_error(e, &ctx, key).await),
        }
    }
}

/// Per-call settings for [`Dakota::call_with`].
#[derive(Default, Clone)]
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
#[derive(Debug, Clone)]
pub struct Response<T> {
    value: T,
    status: u16,
    headers: HeaderMap,
    idempotency_key: Option<String>,
}

impl<T> Response<T> {
    /// The typed body.
    pub fn into_inner(self) -> T {
        self.value
    }
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// Response headers (rate-limit headers included).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The idempotency key the request carried (given by the caller or generated).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
    /// `x-request-id`, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    }
}

impl<T> std::ops::Deref for Response<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

struct CallContext {
    idempotency_key: Mutex<Option<String>>,
    application_token: Option<SecretString>,
    last: Mutex<Option<LastResponse>>,
}

#[derive(Clone, Debug)]
struct LastResponse {
    status: u16,
    content_type: Option<String>,
    request_id: Option<String>,
}

tokio::task_local! {
    static CALL: Arc<CallContext>;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The request pipeline installed under the generated client.
pub(crate) struct Pipeline {
    api_key: Option<SecretString>,
    application_token: Option<SecretString>,
    retry: RetryPolicy,
    auto_idempotency_keys: bool,
    pacing: bool,
    pacer: crate::pacing::Pacing,
    token_operations: HashSet<&'static str>,
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
            .finish()
    }
}

fn secret_header(value: &SecretString) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value.expose_secret()).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    }
}

/// Errors after which the request may not have been processed or its answer was lost.
fn retryable_transport(e: &reqwest::Error) -> bool {
    !(e.is_builder() || e.is_redirect() || e.is_decode())
}

impl Pipeline {
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
        ctx: Option<&Arc<CallContext>>,
    ) -> Option<String> {
        let headers = request.headers_mut();
        if let Some(key) = self.api_key.as_ref().and_then(secret_header) {
            headers.entry(API_KEY_HEADER).or_insert(key);
        }
        if self.token_operations.contains(info.operation_id) {
            let token = ctx
                .and_then(|c| c.application_token.as_ref())
                .or(self.application_token.as_ref());
            if let Some(v) = token.and_then(secret_header) {
                headers.entry(APPLICATION_TOKEN_HEADER).or_insert(v);
            }
        }
        let mutating = matches!(
            *request.method(),
            reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
        );
        let idem = HeaderName::from_static(IDEMPOTENCY_KEY_HEADER);
        let preset = ctx.and_then(|c| lock(&c.idempotency_key).clone());
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
        if key.is_none() && mutating && self.auto_idempotency_keys {
            let fresh = uuid::Uuid::new_v4().to_string();
            if let Ok(v) = HeaderValue::from_str(&fresh) {
                headers.insert(idem, v);
                key = Some(fresh);
            }
        }
        if let (Some(c), Some(k)) = (ctx, &key) {
            *lock(&c.idempotency_key) = Some(k.clone());
        }
        key
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
        let key = self.prepare(&mut original, info, ctx.as_ref());
        let request = original;
        let mutating = matches!(
            *request.method(),
            reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
        );
        let may_retry = !mutating || key.is_some();
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
        loop {
            self.pace(budget.as_ref()).await;
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
            tracing::Span::current().record("attempt", attempt);
            match client.execute(this).await {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let request_id = resp
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let span = tracing::Span::current();
                    span.record("status", status);
                    if let Some(id) = &request_id {
                        span.record("request_id", id.as_str());
                    }
                    self.observe(budget.as_ref(), resp.headers()).await;
                    if !last_try && retry::retryable_status(status) {
                        let delay = retry::server_delay(status, resp.headers())
                            .unwrap_or_else(|| self.retry.backoff(attempt));
                        if delay <= self.retry.max_retry_after {
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
                        *lock(&c.last) = Some(LastResponse {
                            status,
                            content_type: resp
                                .headers()
                                .get(reqwest::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string),
                            request_id,
                        });
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    // No answer, no news about the budget (this also ends a pacing probe).
                    self.observe(budget.as_ref(), &HeaderMap::new()).await;
                    if !last_try && retryable_transport(&e) {
                        let delay = self.retry.backoff(attempt);
                        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, kind = ?transport_kind(&e), "retrying after transport error");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
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

async fn convert_error<E: serde::Serialize>(
    e: progenitor_client::Error<E>,
    ctx: &CallContext,
    key: Option<String>,
) -> Error {
    use progenitor_client::Error as P;
    let last = lock(&ctx.last).clone();
    match e {
        P::InvalidRequest(msg) => Error::InvalidInput(msg),
        P::Custom(msg) => Error::InvalidInput(msg),
        P::CommunicationError(err) | P::InvalidUpgrade(err) | P::ResponseBodyError(err) => {
            Error::Transport {
                kind: transport_kind(&err),
                message: err.without_url().to_string(),
                idempotency_key: key,
            }
        }
        P::ErrorResponse(rv) => {
            let status = rv.status().as_u16();
            let headers = rv.headers().clone();
            let body = serde_json::to_value(rv.into_inner()).ok();
            api_error(status, Some(&headers), body, key, None)
        }
        P::InvalidResponsePayload(bytes, err) => {
            let (status, content_type, request_id) = match last {
                Some(l) => (l.status, l.content_type, l.request_id),
                None => (0, None, None),
            };
            if status >= 400 {
                // An error status whose body is empty or not the documented JSON (an HTML page
                // from a proxy, say): still an API error with its status.
                let body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
                let mut out = api_error(status, None, body.clone(), key, request_id);
                if let (Error::Api(a), None) = (&mut out, body) {
                    if !bytes.is_empty() {
                        a.body = Some(serde_json::Value::String(snippet(&bytes, 200)));
                    }
                }
                return out;
            }
            Error::Decode {
                status,
                content_type,
                snippet: snippet(&bytes, 200),
                message: err.to_string(),
            }
        }
        P::UnexpectedResponse(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let content_type = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(err) => {
                    return Error::Transport {
                        kind: transport_kind(&err),
                        message: err.without_url().to_string(),
                        idempotency_key: key,
                    }
                }
            };
            if (200..300).contains(&status) {
                return Error::Decode {
                    status,
                    content_type,
                    snippet: snippet(&bytes, 200),
                    message: "status not documented for this operation".into(),
                };
            }
            let body = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .or_else(|| {
                    (!bytes.is_empty()).then(|| serde_json::Value::String(snippet(&bytes, 200)))
                });
            api_error(status, Some(&headers), body, key, None)
        }
    }
}
