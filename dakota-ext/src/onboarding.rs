//! The onboarding flow: create a customer (or find the one with the same `external_id`), read
//! its application, submit details, and wait for Dakota's decision within the rate limits.
//!
//! ```no_run
//! # async fn f(dakota: dakota_ext::Dakota) -> Result<(), dakota_ext::Error> {
//! use dakota_ext::onboarding::{NewCustomer, WaitPolicy};
//! let onboarding = dakota.onboarding().start(NewCustomer::individual("Acme Corp").external_id("usr_12345")).await?;
//! println!("send the customer to {}", onboarding.application_url);
//! let decision = onboarding.wait_for_decision(&dakota, WaitPolicy::default()).await?;
//! println!("decision: {decision:?}");
//! # Ok(()) }
//! ```

use crate::client::{CallOptions, Dakota};
use crate::error::Error;
use crate::ksuid::Ksuid;
use crate::time::from_nanos;
use chrono::{DateTime, Utc};
use dakota_api::types;
use futures::Stream;
use secrecy::SecretString;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use url::Url;

/// The customer to onboard.
#[derive(Debug, Clone)]
#[must_use]
pub struct NewCustomer {
    name: String,
    customer_type: types::CustomerCreateRequestCustomerType,
    external_id: Option<String>,
    sub_client_id: Option<Ksuid>,
    is_sub_client: bool,
}

impl NewCustomer {
    /// An individual (KYC) customer.
    pub fn individual(name: impl Into<String>) -> Self {
        Self::new(name, types::CustomerCreateRequestCustomerType::Individual)
    }

    /// A business (KYB) customer.
    pub fn business(name: impl Into<String>) -> Self {
        Self::new(name, types::CustomerCreateRequestCustomerType::Business)
    }

    fn new(
        name: impl Into<String>,
        customer_type: types::CustomerCreateRequestCustomerType,
    ) -> Self {
        Self {
            name: name.into(),
            customer_type,
            external_id: None,
            sub_client_id: None,
            is_sub_client: false,
        }
    }

    /// Your own id for the customer; starting again with the same id finds this customer
    /// instead of creating a second one.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// Create the customer under one of your sub-clients.
    pub fn sub_client(mut self, id: Ksuid) -> Self {
        self.sub_client_id = Some(id);
        self
    }

    /// Mark the customer itself as a sub-client.
    pub fn is_sub_client(mut self, yes: bool) -> Self {
        self.is_sub_client = yes;
        self
    }

    /// The request body, validated as the spec requires (checked before any request).
    pub fn to_request(&self) -> Result<types::CustomerCreateRequest, Error> {
        let chars = self.name.chars().count();
        if !(3..=100).contains(&chars) || self.name.trim().is_empty() {
            return Err(Error::InvalidInput(format!(
                "name must be 3 to 100 characters with at least one non-space, got {chars}"
            )));
        }
        if self.sub_client_id.is_some() && self.is_sub_client {
            return Err(Error::InvalidInput(
                "sub_client_id cannot be combined with is_sub_client".into(),
            ));
        }
        let name = types::CustomerCreateRequestName::try_from(self.name.clone())
            .map_err(|e| Error::InvalidInput(format!("name: {e}")))?;
        types::CustomerCreateRequest::builder()
            .name(name)
            .customer_type(self.customer_type.clone())
            .external_id(self.external_id.clone())
            .sub_client_id(self.sub_client_id)
            .is_sub_client(self.is_sub_client)
            .try_into()
            .map_err(|e: types::error::ConversionError| Error::InvalidInput(e.to_string()))
    }
}

/// A customer's onboarding: ids, where to send the customer, and until when.
#[derive(Clone)]
pub struct Onboarding {
    /// The customer.
    pub customer_id: Ksuid,
    /// The KYB/KYC application.
    pub application_id: Ksuid,
    /// Hosted application page to send the customer to (carries the application token).
    pub application_url: Url,
    /// When the application link expires; `None` when resuming an existing customer (the
    /// API returns the expiry only on creation).
    pub expires_at: Option<DateTime<Utc>>,
    /// True when this call created the customer; false when it found an existing one.
    pub created: bool,
    /// Idempotency key of the create call, when one was made.
    pub idempotency_key: Option<String>,
    token: Option<SecretString>,
}

impl fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = self.application_url.clone();
        if url.query().is_some() {
            url.set_query(Some("token=[REDACTED]"));
        }
        f.debug_struct("Onboarding")
            .field("customer_id", &self.customer_id)
            .field("application_id", &self.application_id)
            .field("application_url", &url.as_str())
            .field("expires_at", &self.expires_at)
            .field("created", &self.created)
            .finish()
    }
}

/// The outcome of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Approved (or completed).
    Approved,
    /// Declined.
    Declined,
    /// Withdrawn.
    Withdrawn,
    /// Dakota needs more information from the customer before deciding.
    InformationRequested,
}

/// A change of application status observed while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Previous status (`None` for the first observation).
    pub from: Option<types::ApplicationStatus>,
    /// New status.
    pub to: types::ApplicationStatus,
    /// The decision, once there is one.
    pub decision: Option<Decision>,
}

/// How [`Onboarding::wait_for_decision`] polls. Start from [`WaitPolicy::default`] and change
/// what you need: `WaitPolicy::default().timeout(Duration::from_secs(600))`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct WaitPolicy {
    /// First interval between polls.
    pub initial_interval: Duration,
    /// Cap on the interval (it doubles after each unchanged poll).
    pub max_interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// Never more than this many polls in any rolling hour. The application token allows
    /// 100 requests/hour; the default keeps 10 of them for the caller's own calls.
    pub max_polls_per_hour: u32,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30 * 60),
            max_polls_per_hour: 90,
        }
    }
}

impl WaitPolicy {
    /// First interval between polls.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.initial_interval = d;
        self
    }

    /// Cap on the interval (it doubles after each unchanged poll).
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }

    /// Give up after this long.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Never more than this many polls in any rolling hour.
    pub fn max_polls_per_hour(mut self, n: u32) -> Self {
        self.max_polls_per_hour = n;
        self
    }
}

/// Entry point: [`Dakota::onboarding`]. Holds its own handle on the client (a cheap clone), so
/// the futures its methods return own everything they use: store them, spawn them, or
/// `join!` several without keeping the facade alive.
#[derive(Debug, Clone)]
pub struct OnboardingApi {
    dakota: Dakota,
}

impl Dakota {
    /// The onboarding facade.
    ///
    /// ```no_run
    /// # async fn f(dakota: dakota_ext::Dakota) -> Result<(), Box<dyn std::error::Error>> {
    /// use dakota_ext::NewCustomer;
    /// // The future owns what it needs: it can be stored or spawned.
    /// let start = dakota.onboarding().start(NewCustomer::business("Acme Corp"));
    /// let onboarding = tokio::spawn(start).await??;
    /// println!("{}", onboarding.application_url);
    /// # Ok(()) }
    /// ```
    pub fn onboarding(&self) -> OnboardingApi {
        OnboardingApi {
            dakota: self.clone(),
        }
    }
}

fn token_of(url: &Url) -> Option<SecretString> {
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| SecretString::from(v.into_owned()))
}

fn parse_url(s: &str) -> Result<Url, Error> {
    Url::parse(s).map_err(|e| Error::Decode {
        status: 200,
        content_type: Some("application/json".into()),
        snippet: String::new(),
        message: format!("application_url is not a URL: {e}"),
        source: Some(Box::new(e)),
    })
}

impl OnboardingApi {
    /// Start (or resume) onboarding. With an `external_id`, an existing customer with that id
    /// is returned instead of creating a second one, and the create call uses an idempotency
    /// key derived from the external id, so two concurrent starts still make one customer.
    pub fn start(
        &self,
        customer: NewCustomer,
    ) -> impl Future<Output = Result<Onboarding, Error>> + Send + 'static {
        let this = self.clone();
        async move { this.start_owned(customer).await }
    }

    /// The onboarding of the customer with this external id, if there is one.
    pub fn find(
        &self,
        external_id: impl Into<String>,
    ) -> impl Future<Output = Result<Option<Onboarding>, Error>> + Send + 'static {
        let this = self.clone();
        let external_id = external_id.into();
        async move { this.find_owned(&external_id).await }
    }

    /// The onboarding of an existing customer.
    pub fn resume(
        &self,
        customer_id: Ksuid,
    ) -> impl Future<Output = Result<Onboarding, Error>> + Send + 'static {
        let this = self.clone();
        async move { this.resume_owned(customer_id).await }
    }

    async fn start_owned(&self, customer: NewCustomer) -> Result<Onboarding, Error> {
        let body = customer.to_request()?;
        let mut opts = CallOptions::default();
        if let Some(ext) = &customer.external_id {
            if let Some(existing) = self.find_owned(ext).await? {
                return Ok(existing);
            }
            let key = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("dakota-rs:customer:{ext}").as_bytes(),
            );
            opts = opts.idempotency_key(key.to_string());
        }
        let api = self.dakota.api();
        let created = match self
            .dakota
            .call_with(opts, api.create_customer().body(body).send())
            .await
        {
            Ok(r) => r,
            // A concurrent start with the same external id and a different body won the race.
            Err(Error::Api(e))
                if matches!(e.status, 409 | 422) && customer.external_id.is_some() =>
            {
                let ext = customer.external_id.as_deref().unwrap_or_default();
                return self.find_owned(ext).await?.ok_or(Error::Api(e));
            }
            Err(e) => return Err(e),
        };
        let key = created.idempotency_key().map(str::to_string);
        let c = created.into_inner();
        let url = parse_url(&c.application_url)?;
        Ok(Onboarding {
            customer_id: c.id,
            application_id: c.application_id,
            token: token_of(&url),
            application_url: url,
            expires_at: Some(
                from_nanos(c.application_expires_at).map_err(|e| Error::Decode {
                    status: 201,
                    content_type: Some("application/json".into()),
                    snippet: c.application_expires_at.to_string(),
                    message: format!("application_expires_at: {e}"),
                    source: Some(Box::new(e)),
                })?,
            ),
            created: true,
            idempotency_key: key,
        })
    }

    async fn find_owned(&self, external_id: &str) -> Result<Option<Onboarding>, Error> {
        let api = self.dakota.api();
        let page = self
            .dakota
            .call(
                api.list_customers()
                    .external_id(external_id)
                    .limit(std::num::NonZeroU64::MIN)
                    .send(),
            )
            .await?
            .into_inner();
        let Some(c) = page.data.into_iter().next() else {
            return Ok(None);
        };
        self.resume_customer(c).map(Some)
    }

    async fn resume_owned(&self, customer_id: Ksuid) -> Result<Onboarding, Error> {
        let api = self.dakota.api();
        let c = self
            .dakota
            .call(api.get_customer().customer_id(customer_id).send())
            .await?
            .into_inner();
        self.resume_customer(c)
    }

    fn resume_customer(&self, c: types::Customer) -> Result<Onboarding, Error> {
        let application_id = c
            .application_id
            .as_ref()
            .ok_or_else(|| Error::InvalidInput(format!("customer {} has no application", c.id)))?;
        let url = parse_url(c.application_url.as_deref().unwrap_or_default())?;
        Ok(Onboarding {
            customer_id: c.id,
            application_id: *application_id,
            token: token_of(&url),
            application_url: url,
            expires_at: None,
            created: false,
            idempotency_key: None,
        })
    }
}

/// The decision an application's state implies, if any.
pub fn decision_of(app: &types::Application) -> Option<Decision> {
    use types::ApplicationApplicationDecision as D;
    use types::ApplicationStatus as S;
    match app.application_decision.as_ref() {
        Some(D::Approved) => return Some(Decision::Approved),
        Some(D::Declined) => return Some(Decision::Declined),
        Some(D::Withdrawn) => return Some(Decision::Withdrawn),
        _ => {}
    }
    match app.application_status {
        S::Approved | S::Completed => Some(Decision::Approved),
        S::Declined => Some(Decision::Declined),
        S::RequestForInformation => Some(Decision::InformationRequested),
        _ => None,
    }
}

impl Onboarding {
    fn opts(&self) -> CallOptions {
        match &self.token {
            Some(t) => CallOptions::default().application_token(t.clone()),
            None => CallOptions::default(),
        }
    }

    /// The application as it is now.
    pub async fn application(&self, dakota: &Dakota) -> Result<types::Application, Error> {
        let b = dakota
            .api()
            .get_application()
            .application_id(self.application_id);
        Ok(dakota.call_with(self.opts(), b.send()).await?.into_inner())
    }

    /// The customer record.
    pub async fn customer(&self, dakota: &Dakota) -> Result<types::Customer, Error> {
        let b = dakota.api().get_customer().customer_id(self.customer_id);
        Ok(dakota.call(b.send()).await?.into_inner())
    }

    /// Current application status.
    pub async fn status(&self, dakota: &Dakota) -> Result<types::ApplicationStatus, Error> {
        Ok(self.application(dakota).await?.application_status)
    }

    /// Submit the application for review.
    pub async fn submit(&self, dakota: &Dakota) -> Result<types::Application, Error> {
        let b = dakota
            .api()
            .create_application_submission()
            .application_id(self.application_id);
        Ok(dakota.call_with(self.opts(), b.send()).await?.into_inner())
    }

    /// Set the business details of a business application.
    pub async fn business_details(
        &self,
        dakota: &Dakota,
        details: types::BusinessApplicationCreateRequest,
    ) -> Result<(), Error> {
        let b = dakota
            .api()
            .update_business_application_details()
            .application_id(self.application_id)
            .body(details);
        dakota.call_with(self.opts(), b.send()).await.map(drop)
    }

    /// Set the applicant's details of an individual application.
    pub async fn individual_details(
        &self,
        dakota: &Dakota,
        details: types::IndividualRequest,
    ) -> Result<(), Error> {
        let b = dakota
            .api()
            .update_individual_application_details()
            .application_id(self.application_id)
            .body(details);
        dakota.call_with(self.opts(), b.send()).await.map(drop)
    }

    /// Add an associated individual (UBO, control person...) to a business application.
    pub async fn add_associated_individual(
        &self,
        dakota: &Dakota,
        person: types::IndividualRequest,
    ) -> Result<types::AddAssociatedIndividualResponse, Error> {
        let b = dakota
            .api()
            .add_associated_individual()
            .application_id(self.application_id)
            .body(person);
        Ok(dakota.call_with(self.opts(), b.send()).await?.into_inner())
    }

    /// Submit an attestation.
    pub async fn attest(
        &self,
        dakota: &Dakota,
        attestation: types::AttestationSubmitRequest,
    ) -> Result<(), Error> {
        let b = dakota
            .api()
            .submit_attestation()
            .application_id(self.application_id)
            .body(attestation);
        dakota.call_with(self.opts(), b.send()).await.map(drop)
    }

    /// Ask for an upload URL for an application document.
    pub async fn document_upload(
        &self,
        dakota: &Dakota,
        request: types::ApplicationDocumentUploadUrlRequest,
    ) -> Result<types::DocumentUploadUrlResponse, Error> {
        let b = dakota
            .api()
            .create_application_document_upload()
            .application_id(self.application_id)
            .body(request);
        Ok(dakota.call_with(self.opts(), b.send()).await?.into_inner())
    }

    /// Poll until the application is decided (or needs information), within `policy`'s rate
    /// budget; times out with [`Error::WaitTimeout`].
    pub async fn wait_for_decision(
        &self,
        dakota: &Dakota,
        policy: WaitPolicy,
    ) -> Result<Decision, Error> {
        use futures::StreamExt;
        let mut s = std::pin::pin!(self.transitions(dakota, policy));
        while let Some(t) = s.next().await {
            if let Some(d) = t?.decision {
                return Ok(d);
            }
        }
        Err(Error::WaitTimeout(Duration::ZERO, "an onboarding decision"))
    }

    /// A stream of status transitions, ending after the decision (or with a timeout error).
    pub fn transitions<'a>(
        &'a self,
        dakota: &'a Dakota,
        policy: WaitPolicy,
    ) -> impl Stream<Item = Result<Transition, Error>> + 'a {
        poll_transitions(policy, move || async move {
            let app = self.application(dakota).await?;
            let d = decision_of(&app);
            Ok((app.application_status, d))
        })
    }
}

/// Rolling-window budget: at most `max` events in any `window`.
#[derive(Debug)]
pub(crate) struct Budget {
    max: usize,
    window: Duration,
    recent: VecDeque<tokio::time::Instant>,
}

impl Budget {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1) as usize,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Wait until one more event fits the budget, then record it.
    pub(crate) async fn acquire(&mut self) {
        let now = tokio::time::Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max {
            if let Some(oldest) = self.recent.pop_front() {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
        self.recent.push_back(tokio::time::Instant::now());
    }
}

/// The polling engine behind [`Onboarding::transitions`]: capped exponential intervals that
/// reset on change, a rolling hourly budget, an overall timeout.
pub(crate) fn poll_transitions<F, Fut>(
    policy: WaitPolicy,
    mut poll: F,
) -> impl Stream<Item = Result<Transition, Error>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(types::ApplicationStatus, Option<Decision>), Error>>,
{
    async_stream(move |tx| async move {
        let deadline = tokio::time::Instant::now() + policy.timeout;
        let mut budget = Budget::new(policy.max_polls_per_hour, Duration::from_secs(3600));
        let mut interval = policy.initial_interval;
        let mut last: Option<types::ApplicationStatus> = None;
        loop {
            budget.acquire().await;
            if tokio::time::Instant::now() > deadline {
                let _ = tx
                    .send(Err(Error::WaitTimeout(
                        policy.timeout,
                        "an onboarding decision",
                    )))
                    .await;
                return;
            }
            let (status, decision) = match poll().await {
                Ok(v) => v,
                Err(e) if e.is_retryable() => {
                    tracing::debug!(error = %e, "poll failed; will retry");
                    (
                        last.clone().unwrap_or(types::ApplicationStatus::Pending),
                        None,
                    )
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let changed = last.as_ref() != Some(&status);
            if changed || decision.is_some() {
                let t = Transition {
                    from: last.clone(),
                    to: status.clone(),
                    decision: decision.clone(),
                };
                if tx.send(Ok(t)).await.is_err() {
                    return;
                }
                interval = policy.initial_interval;
            } else {
                interval = (interval * 2).min(policy.max_interval);
            }
            if decision.is_some() {
                return;
            }
            last = Some(status);
            let wake = tokio::time::Instant::now() + interval;
            if wake > deadline {
                tokio::time::sleep_until(deadline).await;
            } else {
                tokio::time::sleep_until(wake).await;
            }
        }
    })
}

/// A tiny channel-backed stream generator (avoids a macro crate for one use).
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T>
where
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: Future<Output = ()>,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let producer = f(tx);
    let rx = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    // Drive the producer and the receiver together on the caller's task.
    futures::stream::select(
        futures::stream::once(producer).filter_map(|()| async { None }),
        rx,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn validates_before_sending() {
        assert!(NewCustomer::individual("Al").to_request().is_err());
        assert!(NewCustomer::individual("    ").to_request().is_err());
        assert!(NewCustomer::individual("x".repeat(101))
            .to_request()
            .is_err());
        let ok = NewCustomer::business("Acme Corp")
            .external_id("usr_12345")
            .to_request()
            .expect("valid");
        assert_eq!(
            serde_json::to_value(&ok).expect("serializes")["customer_type"],
            "business"
        );
        let sub = Ksuid::now();
        assert!(NewCustomer::individual("Acme Corp")
            .sub_client(sub)
            .is_sub_client(true)
            .to_request()
            .is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stays_inside_the_hourly_budget() {
        // An application that is never decided: the poller must keep to 90 polls per rolling
        // hour over three simulated hours, however short the configured interval.
        let polls = Arc::new(std::sync::Mutex::new(Vec::<tokio::time::Instant>::new()));
        let p = polls.clone();
        let policy = WaitPolicy {
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(3 * 3600),
            max_polls_per_hour: 90,
        };
        let start = tokio::time::Instant::now();
        let s = poll_transitions(policy, move || {
            p.lock()
                .map(|mut v| v.push(tokio::time::Instant::now()))
                .ok();
            async { Ok((types::ApplicationStatus::UnderReview, None)) }
        });
        let items: Vec<_> = s.collect().await;
        assert!(matches!(items.last(), Some(Err(Error::WaitTimeout(..)))));
        let polls = polls.lock().map(|v| v.clone()).unwrap_or_default();
        assert!(
            polls.len() >= 270,
            "budget should be used, got {}",
            polls.len()
        );
        for (i, t) in polls.iter().enumerate() {
            let in_hour = polls[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(3600))
                .count();
            assert!(in_hour <= 90, "{in_hour} polls in the hour after poll {i}");
        }
        assert!(tokio::time::Instant::now().duration_since(start) >= Duration::from_secs(3 * 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn reports_each_transition_and_stops_at_the_decision() {
        let n = Arc::new(AtomicU32::new(0));
        let n2 = n.clone();
        let s = poll_transitions(WaitPolicy::default(), move || {
            let i = n2.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(match i {
                    0 | 1 => (types::ApplicationStatus::Pending, None),
                    2 | 3 => (types::ApplicationStatus::UnderReview, None),
                    _ => (types::ApplicationStatus::Approved, Some(Decision::Approved)),
                })
            }
        });
        let items: Vec<Transition> = s.map(|r| r.expect("no error")).collect().await;
        let seen: Vec<_> = items.iter().map(|t| t.to.clone()).collect();
        assert_eq!(
            seen,
            vec![
                types::ApplicationStatus::Pending,
                types::ApplicationStatus::UnderReview,
                types::ApplicationStatus::Approved
            ]
        );
        assert_eq!(
            items.last().and_then(|t| t.decision.clone()),
            Some(Decision::Approved)
        );
        assert_eq!(n.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn unknown_status_is_not_a_decision() {
        let app: types::Application = serde_json::from_value(serde_json::json!({
            "application_id": "36NrHzLJ2pQx0Kw1dU9fB4aT7Ze",
            "application_type": "individual",
            "application_status": "brand_new_state",
            "application_created_at": "2026-03-01T10:00:00Z",
            "application_updated_at": "2026-03-01T10:00:00Z"
        }))
        .expect("an unknown status still deserializes");
        assert_eq!(app.application_status.as_str(), "brand_new_state");
        assert!(app.application_status.is_unknown());
        assert_eq!(decision_of(&app), None);
    }
}

/// Onboarding progress pushed by webhooks, fanned out to everyone waiting on a decision.
///
/// Feed it from your webhook handler (`feed.observe(&event)`), then wait with
/// [`Onboarding::wait_for_decision_with_feed`]: the wait ends as soon as a matching event
/// arrives, while slow polling stays on as a fallback for lost deliveries.
#[derive(Debug, Clone)]
pub struct DecisionFeed {
    tx: tokio::sync::broadcast::Sender<Observed>,
}

/// What a customer webhook event said about an onboarding.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Customer the event is about.
    pub customer_id: String,
    /// Application, when the event names it.
    pub application_id: Option<String>,
    /// The decision the event implies, if any.
    pub decision: Option<Decision>,
}

impl Default for DecisionFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl DecisionFeed {
    /// A feed buffering up to 1,024 undelivered observations per waiter.
    pub fn new() -> Self {
        Self {
            tx: tokio::sync::broadcast::channel(1024).0,
        }
    }

    /// Record a verified webhook event; events that are not about a customer are ignored.
    /// Returns what was observed (feature `webhook`).
    #[cfg(feature = "webhook")]
    pub fn observe(&self, event: &crate::webhook::Event) -> Option<Observed> {
        let crate::webhook::Payload::Customer(snapshot) = &event.payload else {
            return None;
        };
        let c = snapshot.decode().ok()?;
        let decision = decision_from_statuses(c.application_status.as_ref(), c.kyb_status.as_ref());
        let observed = Observed {
            customer_id: c.id,
            application_id: c.application_id,
            decision,
        };
        // No receiver is fine: nobody is waiting right now.
        let _ = self.tx.send(observed.clone());
        Some(observed)
    }
}

#[cfg(feature = "webhook")]
fn decision_from_statuses(
    app: Option<&types::ApplicationStatus>,
    kyb: Option<&types::KybStatus>,
) -> Option<Decision> {
    use types::ApplicationStatus as S;
    use types::KybStatus as K;
    match app {
        Some(S::Approved | S::Completed) => return Some(Decision::Approved),
        Some(S::Declined) => return Some(Decision::Declined),
        Some(S::RequestForInformation) => return Some(Decision::InformationRequested),
        _ => {}
    }
    match kyb {
        Some(K::Active) => Some(Decision::Approved),
        Some(K::Rejected | K::AutoDeclined) => Some(Decision::Declined),
        _ => None,
    }
}

impl Onboarding {
    /// Wait for the decision from webhook events in `feed`, polling with `fallback` in case a
    /// delivery is lost. Whichever source decides first wins.
    pub async fn wait_for_decision_with_feed(
        &self,
        dakota: &Dakota,
        feed: &DecisionFeed,
        fallback: WaitPolicy,
    ) -> Result<Decision, Error> {
        use futures::StreamExt;
        let mut rx = feed.tx.subscribe();
        let customer = self.customer_id.to_string();
        let application = self.application_id.to_string();
        let mut polling = std::pin::pin!(self.transitions(dakota, fallback));
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(o) if o.customer_id == customer || o.application_id.as_deref() == Some(application.as_str()) => {
                        if let Some(d) = o.decision {
                            return Ok(d);
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    // The feed is gone: polling alone decides.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return self.wait_for_decision(dakota, WaitPolicy::default()).await,
                },
                t = polling.next() => match t {
                    Some(Ok(t)) => if let Some(d) = t.decision { return Ok(d) },
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::WaitTimeout(Duration::ZERO, "an onboarding decision")),
                },
            }
        }
    }
}
