//! Onboarding records (customers, applications, tokens, uploads, simulations) and their
//! lifecycle, shared by the customers, applications and sandbox areas.
//!
//! One customer owns one application. The application carries the onboarding state (status,
//! decision, the customer's `kyb_status`); the customer views derive from it. Automatic
//! transitions (auto-approval, the `kyb_*` scenarios, expiry) are stored as a plan and applied,
//! stamped with the time they were due, whenever a record is read, or by the background task
//! when they fall due (so webhooks go out without anyone polling).

pub(crate) mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use dakota_api::types;
use serde_json::{json, Map, Value};

use crate::events::PendingEvent;
use crate::ids;
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, TimerDef, Tx};

/// Customer or application type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Kind {
    Individual,
    Business,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Individual => "individual",
            Kind::Business => "business",
        }
    }
}

/// An application decision (the union of the spec's decision enums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Decision {
    Approved,
    Declined,
    Withdrawn,
}

impl Decision {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Declined => "declined",
            Decision::Withdrawn => "withdrawn",
        }
    }
}

/// What an automatic transition does when it falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Outcome {
    /// `approved`, decision approved, customer `kyb_status` active.
    Approve,
    /// `declined`, decision declined, customer `kyb_status` rejected.
    Decline,
    /// `under_review` until a simulation decides.
    ManualReview,
}

/// Reason recorded on an application that expired undecided.
pub(crate) const EXPIRED_REASON: &str = "Application expired before a decision was made";

/// Metadata of one presigned upload (file content is never kept).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Upload {
    pub(crate) id: String,
    pub(crate) application_id: String,
    pub(crate) individual_id: Option<String>,
    pub(crate) document_type: String,
    /// `pdf`, `jpeg` or `png`.
    pub(crate) file_type: String,
    pub(crate) filename: Option<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) received_bytes: Option<usize>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CustomerRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) external_id: Option<String>,
    pub(crate) is_sub_client: bool,
    pub(crate) sub_client_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) application_id: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AppRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) token: String,
    pub(crate) kind: Kind,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) status: types::ApplicationStatus,
    pub(crate) decision: Option<Decision>,
    pub(crate) decision_method: Option<types::ApplicationDecisionMethod>,
    pub(crate) decided_at: Option<DateTime<Utc>>,
    pub(crate) decision_reason: Option<String>,
    pub(crate) submitted_at: Option<DateTime<Utc>>,
    pub(crate) kyb_status: types::KybStatus,
    pub(crate) plan: Option<(DateTime<Utc>, Outcome)>,
    pub(crate) business_id: String,
    // The large records are boxed: an application without them costs a few hundred bytes, and
    // the B-tree of applications (half-full nodes under time-ordered keys) stays small.
    pub(crate) business: Option<Box<types::BusinessEntity>>,
    pub(crate) primary: Option<Box<types::IndividualEntity>>,
    pub(crate) associated: Vec<types::AssociatedIndividualEntity>,
    pub(crate) edd: Option<Box<types::EddResponse>>,
    pub(crate) attestations: BTreeMap<String, types::CompletedAttestation>,
    pub(crate) poa_status: Option<types::ApplicationPoaStatus>,
    /// The state last announced by webhook events (see [`crate::events`]).
    pub(crate) announced: Announced,
    /// The sandbox simulation behind the next change, stamped on its events.
    pub(crate) simulation: Option<String>,
}

/// The onboarding state an application's webhook events have reported so far.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Announced {
    pub(crate) status: types::ApplicationStatus,
    pub(crate) kyb_status: types::KybStatus,
    pub(crate) submitted: bool,
}

impl Announced {
    /// The state of a new application (nothing changed yet).
    pub(crate) fn initial() -> Self {
        Self {
            status: types::ApplicationStatus::Pending,
            kyb_status: types::KybStatus::Pending,
            submitted: false,
        }
    }
}

/// Attestations the sandbox requires before an application can be submitted.
pub(crate) const REQUIRED_ATTESTATIONS: [&str; 4] = [
    "information_accuracy",
    "terms_of_service",
    "privacy_policy",
    "e_sign",
];

impl AppRec {
    /// Whether the applicant may still edit the application (`pending`, or answering a
    /// request for information).
    pub(crate) fn editable(&self) -> bool {
        matches!(
            self.status,
            types::ApplicationStatus::Pending | types::ApplicationStatus::RequestForInformation
        )
    }

    /// Whether the application has expired undecided (its token no longer works).
    pub(crate) fn is_expired(&self) -> bool {
        self.decision == Some(Decision::Withdrawn)
            && self.decision_reason.as_deref() == Some(EXPIRED_REASON)
    }

    /// Whether an automatic transition is due at `now` (a plan or expiry).
    pub(crate) fn has_due_change(&self, now: DateTime<Utc>) -> bool {
        let undecided = self.decision.is_none()
            && !matches!(self.status, types::ApplicationStatus::UnderReview);
        self.plan.is_some_and(|(at, _)| at <= now) || (undecided && self.expires_at <= now)
    }

    /// Applies every automatic transition due at `now`, stamped with the time it fell due.
    pub(crate) fn advance(&mut self, now: DateTime<Utc>) {
        if let Some((at, outcome)) = self.plan {
            if at <= now && at <= self.expires_at && self.decision.is_none() {
                self.plan = None;
                self.apply(outcome, at, types::ApplicationDecisionMethod::Auto);
            } else if self.decision.is_some() {
                self.plan = None;
            }
        }
        let undecided = self.decision.is_none()
            && !matches!(self.status, types::ApplicationStatus::UnderReview);
        if undecided && self.expires_at <= now {
            self.plan = None;
            self.status = types::ApplicationStatus::Declined;
            self.decision = Some(Decision::Withdrawn);
            self.decision_method = Some(types::ApplicationDecisionMethod::Auto);
            self.decision_reason = Some(EXPIRED_REASON.to_owned());
            self.kyb_status = types::KybStatus::Rejected;
            let at = self.expires_at.max(self.created_at);
            self.decided_at = Some(at);
            self.updated_at = self.updated_at.max(at);
        }
    }

    /// Applies an outcome at `at`.
    pub(crate) fn apply(
        &mut self,
        outcome: Outcome,
        at: DateTime<Utc>,
        method: types::ApplicationDecisionMethod,
    ) {
        match outcome {
            Outcome::Approve => self.decide(
                Decision::Approved,
                types::ApplicationStatus::Approved,
                Some(types::KybStatus::Active),
                at,
                method,
                "All verification checks passed",
            ),
            Outcome::Decline => self.decide(
                Decision::Declined,
                types::ApplicationStatus::Declined,
                Some(types::KybStatus::Rejected),
                at,
                method,
                "Verification checks failed",
            ),
            Outcome::ManualReview => {
                self.status = types::ApplicationStatus::UnderReview;
                if self.submitted_at.is_none() {
                    self.submitted_at = Some(at);
                }
                self.updated_at = self.updated_at.max(at);
            }
        }
    }

    /// Records a decision.
    pub(crate) fn decide(
        &mut self,
        decision: Decision,
        status: types::ApplicationStatus,
        kyb: Option<types::KybStatus>,
        at: DateTime<Utc>,
        method: types::ApplicationDecisionMethod,
        reason: &str,
    ) {
        self.plan = None;
        self.status = status;
        self.decision = Some(decision);
        self.decision_method = Some(method);
        self.decided_at = Some(at);
        self.decision_reason = Some(reason.to_owned());
        if let Some(k) = kyb {
            self.kyb_status = k;
        }
        self.updated_at = self.updated_at.max(at);
    }

    /// Clears the decision (e.g. a request for information reopens the application).
    pub(crate) fn reopen(&mut self, status: types::ApplicationStatus, at: DateTime<Utc>) {
        self.plan = None;
        self.status = status;
        self.decision = None;
        self.decision_method = None;
        self.decided_at = None;
        self.decision_reason = None;
        self.updated_at = self.updated_at.max(at);
    }

    /// The `kyc_status` derived as the spec describes (decision first, then "open application").
    pub(crate) fn kyc_status(&self) -> types::KybLinkStatus {
        match self.decision {
            Some(Decision::Approved) => types::KybLinkStatus::Approved,
            Some(Decision::Declined) => types::KybLinkStatus::Rejected,
            Some(Decision::Withdrawn) => types::KybLinkStatus::Expired,
            None => match self.status {
                types::ApplicationStatus::UnderReview | types::ApplicationStatus::Submitted => {
                    types::KybLinkStatus::InReview
                }
                _ => types::KybLinkStatus::Pending,
            },
        }
    }

    fn entity_decision(&self) -> Value {
        match self.decision {
            Some(d) => json!({
                "decision": d.as_str(),
                "decision_at": self.decided_at.map(|t| t.timestamp()),
                "decision_by": if self.decision_method == Some(types::ApplicationDecisionMethod::Manual) { "sandbox@dakota.xyz" } else { "auto" },
                "decision_reason": self.decision_reason,
            }),
            None => json!({}),
        }
    }

    /// The primary individual with the application's decision stamped on it.
    pub(crate) fn primary_view(&self) -> Option<types::IndividualEntity> {
        self.primary
            .as_ref()
            .map(|p| with_decision(p.as_ref(), &self.entity_decision()))
    }

    /// The business with the application's decision stamped on it.
    pub(crate) fn business_view(&self) -> Option<types::BusinessEntity> {
        self.business
            .as_ref()
            .map(|b| with_decision(b.as_ref(), &self.entity_decision()))
    }

    /// Associated individuals with the application's decision stamped on them.
    pub(crate) fn associated_view(&self) -> Vec<types::AssociatedIndividualEntity> {
        let d = self.entity_decision();
        self.associated
            .iter()
            .map(|a| with_decision(a, &d))
            .collect()
    }

    /// Attestation types still missing.
    pub(crate) fn missing_attestations(&self) -> Vec<types::AttestationType> {
        REQUIRED_ATTESTATIONS
            .iter()
            .filter(|t| !self.attestations.contains_key(**t))
            .map(|t| types::AttestationType::from(*t))
            .collect()
    }

    /// Computed validation state (what is still needed before submission).
    pub(crate) fn validation(&self) -> Result<types::ApplicationValidation, ApiError> {
        let missing_att = self.missing_attestations();
        let att: types::AttestationValidation = build(
            types::builder::AttestationValidation::default()
                .completed(self.attestations.values().cloned().collect::<Vec<_>>())
                .missing(missing_att.clone()),
        )?;
        let mut waiting: Vec<String> = Vec::new();
        let (business, primary, associated) = match self.kind {
            Kind::Business => {
                let details_ready = self.business.is_some();
                if !details_ready {
                    waiting.push("business details".into());
                }
                let has_control = self.associated.iter().any(|a| {
                    a.roles.iter().any(|r| {
                        matches!(r, types::AssociatedIndividualEntityRolesItem::ControlPerson)
                    })
                });
                if !has_control {
                    waiting.push("a control person".into());
                }
                let missing: Vec<String> = if details_ready {
                    vec![]
                } else {
                    vec!["legal_name".into()]
                };
                let b: types::EntityValidation = build(
                    types::builder::EntityValidation::default()
                        .details(details_validation(missing, details_ready)?)
                        .documents(empty_documents()?)
                        .id(Some(self.business_id.clone()))
                        .ready(details_ready),
                )?;
                let assoc = self
                    .associated
                    .iter()
                    .map(|a| individual_validation(&a.id, &a.first_name, &a.last_name))
                    .collect::<Result<Vec<_>, ApiError>>()?;
                (Some(b), None, assoc)
            }
            Kind::Individual => {
                let p = match &self.primary {
                    Some(p) => individual_validation(&p.id, &p.first_name, &p.last_name)?,
                    None => {
                        waiting.push("individual details".into());
                        build(
                            types::builder::IndividualEntityValidation::default()
                                .details(details_validation(
                                    vec!["name".into(), "date_of_birth".into(), "address".into()],
                                    false,
                                )?)
                                .documents(empty_documents()?)
                                .individual_name(String::new())
                                .ready(false),
                        )?
                    }
                };
                (None, Some(p), Vec::new())
            }
        };
        if !missing_att.is_empty() {
            waiting.push("attestations".into());
        }
        let ready = waiting.is_empty();
        build(
            types::builder::ApplicationValidation::default()
                .associated_individuals(associated)
                .attestations(att)
                .business(business)
                .primary_individual(primary)
                .ready(ready)
                .status_message(if ready {
                    "Application is ready to submit".to_owned()
                } else {
                    format!("Waiting on: {}", waiting.join(", "))
                }),
        )
    }

    /// The full `types::Application` view; `include` selects the optional sections.
    pub(crate) fn to_application(&self, include: &Include) -> Result<types::Application, ApiError> {
        let entities = if include.entities {
            Some(build::<types::ApplicationEntities, _>(
                types::builder::ApplicationEntities::default()
                    .associated_individuals(self.associated_view())
                    .business(self.business_view())
                    .primary_individual(self.primary_view()),
            )?)
        } else {
            None
        };
        let validation = if include.validation {
            Some(self.validation()?)
        } else {
            None
        };
        let attestations = if include.attestations {
            Some(self.attestation_data()?)
        } else {
            None
        };
        build(
            types::builder::Application::default()
                .application_created_at(self.created_at)
                .application_decision(
                    self.decision
                        .map(|d| types::ApplicationApplicationDecision::from(d.as_str())),
                )
                .application_id(self.id.clone())
                .application_status(self.status.clone())
                .application_submitted_at(self.submitted_at)
                .application_type(types::ApplicationApplicationType::from(self.kind.as_str()))
                .application_updated_at(self.updated_at)
                .attestations(attestations)
                .decision_method(self.decision_method.clone())
                .decision_rule_version(
                    (self.decision_method == Some(types::ApplicationDecisionMethod::Auto))
                        .then(|| "sandbox-v1".to_owned()),
                )
                .edd(if include.edd {
                    self.edd.as_deref().cloned()
                } else {
                    None
                })
                .entities(entities)
                .poa_status(self.poa_status.clone())
                .validation(validation),
        )
    }

    fn attestation_data(&self) -> Result<types::AttestationData, ApiError> {
        let mut obj = serde_json::Map::new();
        for (k, a) in &self.attestations {
            obj.insert(
                k.clone(),
                json!({"attested_at": a.attested_at, "attested_by": a.attested_by}),
            );
        }
        serde_json::from_value(Value::Object(obj))
            .map_err(|e| ApiError::internal(format!("could not build the attestations: {e}")))
    }

    /// The lightweight list item.
    pub(crate) fn to_list_item(&self) -> Result<types::ApplicationListItem, ApiError> {
        let item = |id: &str, first: &str, last: &str| {
            build::<types::IndividualListItem, _>(
                types::builder::IndividualListItem::default()
                    .first_name(first.to_owned())
                    .id(id.to_owned())
                    .last_name(last.to_owned()),
            )
        };
        let mut individuals: Vec<types::IndividualListItem> = Vec::new();
        if let Some(p) = &self.primary {
            individuals.push(item(&p.id, &p.first_name, &p.last_name)?);
        }
        for a in &self.associated {
            individuals.push(item(&a.id, &a.first_name, &a.last_name)?);
        }
        let business = match &self.business {
            Some(b) => Some(build::<types::BusinessListItem, _>(
                types::builder::BusinessListItem::default()
                    .id(b.id.clone())
                    .legal_name(b.legal_name.clone()),
            )?),
            None => None,
        };
        build(
            types::builder::ApplicationListItem::default()
                .application_decision(
                    self.decision
                        .map(|d| types::ApplicationListItemApplicationDecision::from(d.as_str())),
                )
                .application_id(self.id.clone())
                .application_status(self.status.clone())
                .application_type(types::ApplicationListItemApplicationType::from(
                    self.kind.as_str(),
                ))
                .business(business)
                .created_at(self.created_at)
                .edd_id(self.edd.as_ref().map(|e| e.id.to_string()))
                .individuals(individuals)
                .submitted_at(self.submitted_at)
                .updated_at(self.updated_at),
        )
    }
}

fn details_validation(
    missing_fields: Vec<String>,
    ready: bool,
) -> Result<types::DetailsValidation, ApiError> {
    build(
        types::builder::DetailsValidation::default()
            .missing_fields(missing_fields)
            .ready(ready),
    )
}

pub(crate) fn empty_documents() -> Result<types::DocumentValidation, ApiError> {
    build(
        types::builder::DocumentValidation::default()
            .missing_documents(Vec::<types::MissingDocument>::new())
            .ready(true)
            .uploaded_documents(Vec::<types::UploadedDocument>::new()),
    )
}

fn individual_validation(
    id: &str,
    first: &str,
    last: &str,
) -> Result<types::IndividualEntityValidation, ApiError> {
    build(
        types::builder::IndividualEntityValidation::default()
            .details(details_validation(Vec::new(), true)?)
            .documents(empty_documents()?)
            .id(Some(id.to_owned()))
            .individual_name(format!("{first} {last}"))
            .ready(true),
    )
}

/// Copies `entity` with the `decision*` fields of `decision` (a JSON object) merged in.
fn with_decision<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(
    entity: &T,
    decision: &Value,
) -> T {
    let Ok(Value::Object(mut obj)) = serde_json::to_value(entity) else {
        return entity.clone();
    };
    if let Value::Object(d) = decision {
        for (k, v) in d {
            if !v.is_null() {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(Value::Object(obj)).unwrap_or_else(|_| entity.clone())
}

/// Optional sections of `GET /applications/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Include {
    pub(crate) entities: bool,
    pub(crate) validation: bool,
    pub(crate) edd: bool,
    pub(crate) attestations: bool,
}

impl Include {
    pub(crate) fn all() -> Self {
        Self {
            entities: true,
            validation: true,
            edd: true,
            attestations: true,
        }
    }
}

impl Record for CustomerRec {
    const KIND: &'static str = "customer";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Record for AppRec {
    const KIND: &'static str = "application";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Record for Upload {
    const KIND: &'static str = "upload";
    fn id(&self) -> &str {
        &self.id
    }
}

/// An application token (the record id is the token).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AppToken {
    pub(crate) token: String,
    pub(crate) application_id: String,
}

impl Record for AppToken {
    const KIND: &'static str = "application_token";
    fn id(&self) -> &str {
        &self.token
    }
}

/// The answer given to one `simulation_id` of `POST /sandbox/simulate/onboarding`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SimulationRec {
    pub(crate) id: String,
    pub(crate) applicant_id: String,
    pub(crate) kind: String,
    pub(crate) answer: types::SimulateOnboardingResponse,
}

impl Record for SimulationRec {
    const KIND: &'static str = "onboarding_simulation";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Applies the application's due transitions at `tx.now`, announces what changed, and
/// returns it; `None` when it does not exist.
pub(crate) fn advance(tx: &mut Tx<'_>, id: &str) -> Result<Option<AppRec>, ApiError> {
    let now = tx.now;
    advance_at(tx, id, now)
}

fn advance_at(tx: &mut Tx<'_>, id: &str, now: DateTime<Utc>) -> Result<Option<AppRec>, ApiError> {
    let Some(mut app) = tx.get::<AppRec>(id).cloned() else {
        return Ok(None);
    };
    app.advance(now);
    save(tx, app).map(Some)
}

/// Stores an application, emitting the events of whatever changed since they were last
/// announced (see [`announce`]).
pub(crate) fn save(tx: &mut Tx<'_>, mut app: AppRec) -> Result<AppRec, ApiError> {
    let events = match tx.get::<CustomerRec>(&app.customer_id) {
        Some(c) => announce(c, &mut app),
        None => Vec::new(),
    };
    tx.put(app.clone());
    for e in events {
        crate::events::emit(tx, e)?;
    }
    Ok(app)
}

/// Applies every due transition (before listing).
pub(crate) fn advance_all(tx: &mut Tx<'_>) -> Result<(), ApiError> {
    let now = tx.now;
    let due: Vec<String> = tx
        .scan::<AppRec>()
        .filter(|a| a.has_due_change(now))
        .map(|a| a.id.clone())
        .collect();
    for id in due {
        advance_at(tx, &id, now)?;
    }
    Ok(())
}

/// The lifecycle timer of applications (auto-decision, expiry).
pub(crate) static LIFECYCLE: TimerDef = TimerDef {
    name: "application.lifecycle",
    run: fire,
};

/// Registers the onboarding records and timers (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<CustomerRec>()
        .record::<AppRec>()
        .record::<Upload>()
        .record::<AppToken>()
        .record::<SimulationRec>()
        .timer(&LIFECYCLE);
}

fn fire(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
    advance(tx, id).map(|_| ())
}

/// The `types::Customer` view of a customer (call `advance` on its application first).
pub(crate) fn customer_view(
    t: &Tables,
    c: &CustomerRec,
    base_url: &str,
) -> Result<types::Customer, ApiError> {
    let app = t.get::<AppRec>(&c.application_id);
    let sub_name = c
        .sub_client_id
        .as_ref()
        .and_then(|s| t.get::<CustomerRec>(s))
        .map(|s| s.name.clone());
    let email = app.and_then(|a| {
        a.primary
            .as_ref()
            .map(|p| p.email_address.clone())
            .or_else(|| a.business.as_ref().and_then(|b| b.business_email.clone()))
    });
    let updated = app.map_or(c.created_at, |a| a.updated_at.max(c.created_at));
    build(
        types::builder::Customer::default()
            .application_id(app.and_then(|a| types::Ksuid::try_from(a.id.as_str()).ok()))
            .application_status(app.map(|a| a.status.clone()))
            .application_url(app.map(|a| application_url(base_url, a)))
            .created_at(c.created_at.timestamp())
            .customer_type(types::CustomerCustomerType::from(c.kind.as_str()))
            .decision(
                app.and_then(|a| a.decision)
                    .map(|d| types::CustomerDecision::from(d.as_str())),
            )
            .email(email)
            .id(ids::ksuid(&c.id))
            .is_sub_client(c.is_sub_client)
            .kyb_links(Vec::<types::KybLink>::new())
            .kyb_status(app.map_or(types::KybStatus::Pending, |a| a.kyb_status.clone()))
            .kyc_status(app.map_or(types::KybLinkStatus::NotStarted, AppRec::kyc_status))
            .name(c.name.clone())
            .provider_statuses(Vec::<types::ProviderKybStatus>::new())
            .sub_client_id(c.sub_client_id.as_deref().map(ids::ksuid))
            .sub_client_name(sub_name)
            .updated_at(updated.timestamp()),
    )
}

/// `{base_url}/applications/{id}?token=...`
pub(crate) fn application_url(base_url: &str, app: &AppRec) -> String {
    format!("{base_url}/applications/{}?token={}", app.id, app.token)
}

/// The customer as `customer.*` events show it (the object `DecisionFeed` reads).
pub(crate) fn customer_snapshot(c: &CustomerRec, app: &AppRec) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("id".into(), json!(c.id));
    // Dakota's event catalogue names the customer `customer_id`; both are given.
    o.insert("customer_id".into(), json!(c.id));
    o.insert("name".into(), json!(c.name));
    o.insert("customer_type".into(), json!(c.kind.as_str()));
    if let Some(e) = &c.external_id {
        o.insert("external_id".into(), json!(e));
    }
    o.insert("kyb_status".into(), json!(app.kyb_status.as_str()));
    o.insert("kyc_status".into(), json!(app.kyc_status().as_str()));
    o.insert("application_id".into(), json!(app.id));
    o.insert("application_status".into(), json!(app.status.as_str()));
    if let Some(d) = app.decision {
        o.insert("decision".into(), json!(d.as_str()));
    }
    o.insert("created_at".into(), json!(c.created_at.timestamp()));
    o.insert(
        "updated_at".into(),
        json!(app.updated_at.max(c.created_at).timestamp()),
    );
    o
}

/// `customer.created` and `customer.kyb_status.created` for a new customer.
pub(crate) fn customer_created(c: &CustomerRec, app: &AppRec) -> [PendingEvent; 2] {
    let object = customer_snapshot(c, app);
    [
        PendingEvent::new(types::EventType::CustomerCreated, object.clone()),
        PendingEvent::new(types::EventType::CustomerKybStatusCreated, object),
    ]
}

/// The events of every change of `app` not announced yet, marking them announced.
fn announce(c: &CustomerRec, app: &mut AppRec) -> Vec<PendingEvent> {
    let mut out = Vec::new();
    let simulation_id = app.simulation.take();
    let current = Announced {
        status: app.status.clone(),
        kyb_status: app.kyb_status.clone(),
        submitted: app.submitted_at.is_some(),
    };
    if current == app.announced {
        return out;
    }
    let before = std::mem::replace(&mut app.announced, current.clone());
    let object = customer_snapshot(c, app);
    if current.submitted && !before.submitted {
        let mut o = Map::new();
        o.insert("application_id".into(), json!(app.id));
        o.insert("customer_id".into(), json!(c.id));
        if let Some(t) = app.submitted_at {
            o.insert(
                "submitted_at".into(),
                json!(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            );
        }
        out.push(PendingEvent::new(
            types::EventType::CustomerKybApplicationSubmitted,
            o,
        ));
    }
    if current.status != before.status {
        out.push(
            PendingEvent::new(types::EventType::CustomerUpdated, object.clone())
                .previous("application_status", before.status.as_str()),
        );
    }
    if current.kyb_status != before.kyb_status {
        out.push(
            PendingEvent::new(types::EventType::CustomerKybStatusUpdated, object)
                .previous("kyb_status", before.kyb_status.as_str()),
        );
    }
    out.into_iter()
        .map(|e| e.simulation(simulation_id.clone()))
        .collect()
}
