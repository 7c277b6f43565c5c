//! Sandbox simulation runs, one implementation for every kind: `GET
//! /sandbox/simulations/{simulation_id}` shows where a run stands with every webhook it
//! caused (its callbacks: the events stamped with its id, with their delivery attempts),
//! `POST /sandbox/simulations/{simulation_id}/advance` resolves a run that waits on hold.
//!
//! Runs come from the areas that start them, through [`register`], each with the functions
//! that bring its state up to date ([`RefreshFn`]), read it ([`StateFn`]) and resolve a hold
//! ([`AdvanceFn`]):
//!
//! * a customer created under the `kyb_manual_review` scenario opens a run named by its
//!   **application id**, on hold once the application is `under_review`, resolved with
//!   `approve`, `reject` or `request_information` (the decision's events carry the run's id);
//! * `POST /sandbox/simulate/inbound` opens a payment run (see [`super::inbound`]): a deposit,
//!   settlement, failure, return or reversal of a transaction, held in `processing` under
//!   `scenario: compliance_block` until `approve` or `reject`;
//! * the onboarding transitions of `POST /sandbox/simulate/onboarding` read as finished runs
//!   under the `simulation_id` they were given.
//!
//! Simulation ids are shared by every kind (a second use is refused). Advancing a run that
//! is not on hold is `409`; an action the run does not offer is `400`.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use dakota_api::types;

use super::onboarding::{self, AppRec, Outcome, SimulationRec};
use super::organization;
use crate::events::{self, DeliveryRec, EventRec};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

/// Registers the simulation-run operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("getSimulation", get)
        .add("advanceSimulation", advance);
}

/// Brings the record a run drives up to date (due lifecycle steps) before it is read.
pub(crate) type RefreshFn = fn(&mut Tx<'_>, &RunRec) -> Result<(), ApiError>;

/// Resolves a run on hold: given the run, the action and an optional reason code, applies it
/// and returns the run's new state (`400` for an action the run does not offer).
pub(crate) type AdvanceFn =
    fn(&mut Tx<'_>, &RunRec, &str, Option<&str>) -> Result<String, ApiError>;

/// Reads a run's live state from the record it drives: `(state, position, on hold, finished
/// at)`.
pub(crate) type StateFn =
    fn(&Tables, &RunRec) -> (String, Option<String>, bool, Option<DateTime<Utc>>);

/// One simulation run.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunRec {
    pub(crate) id: String,
    pub(crate) rail: String,
    pub(crate) operation: String,
    pub(crate) scenario: String,
    pub(crate) amount: String,
    pub(crate) currency: String,
    pub(crate) account_id: Option<String>,
    pub(crate) wallet_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) metadata: HashMap<String, String>,
    pub(crate) created_at: DateTime<Utc>,
    /// The record the run drives (e.g. an application id).
    pub(crate) subject: String,
    /// Actions `advance` accepts while the run is on hold.
    pub(crate) actions: Vec<String>,
    /// What kind of run it is: the functions that read, refresh and resolve it (stored by
    /// name).
    #[serde(with = "run_def")]
    pub(crate) def: &'static RunDef,
}

/// The functions of one kind of run, named so a stored run finds them again after a restart
/// (declare each as a `static` and list it in [`RUN_DEFS`]).
#[derive(Debug)]
pub(crate) struct RunDef {
    /// Stable, unique name (stored in the data dir; never rename one).
    pub(crate) name: &'static str,
    pub(crate) state: StateFn,
    pub(crate) on_advance: Option<AdvanceFn>,
    pub(crate) refresh: Option<RefreshFn>,
}

/// Every kind of run, found by name when a stored run is read back.
static RUN_DEFS: [&RunDef; 2] = [&REVIEW, &super::inbound::PAYMENT_RUN];

/// The manual-review run of an application.
static REVIEW: RunDef = RunDef {
    name: "simulation.review",
    state: review_state,
    on_advance: Some(review_advance),
    refresh: Some(review_refresh),
};

mod run_def {
    use super::{RunDef, RUN_DEFS};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &&'static RunDef, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.name)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<&'static RunDef, D::Error> {
        let name = String::deserialize(d)?;
        RUN_DEFS
            .iter()
            .copied()
            .find(|def| def.name == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown simulation run kind `{name}`"))
            })
    }
}

impl std::fmt::Debug for RunRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRec")
            .field("id", &self.id)
            .field("rail", &self.rail)
            .field("operation", &self.operation)
            .field("scenario", &self.scenario)
            .finish_non_exhaustive()
    }
}

impl Record for RunRec {
    const KIND: &'static str = "simulation_run";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Starts tracking a run (`409`-worthy duplicates are the caller's to refuse first).
pub(crate) fn register(tx: &mut Tx<'_>, run: RunRec) {
    tx.put(run);
}

/// Whether a run (or an onboarding simulation) already uses this id: simulation ids are
/// shared by every kind.
pub(crate) fn exists(t: &Tables, id: &str) -> bool {
    t.contains::<RunRec>(id) || t.contains::<SimulationRec>(id)
}

// ----- the manual-review run of an application -----

const REVIEW_ACTIONS: [&str; 3] = ["approve", "reject", "request_information"];

fn review_state(t: &Tables, run: &RunRec) -> (String, Option<String>, bool, Option<DateTime<Utc>>) {
    let Some(app) = t.get::<AppRec>(&run.subject) else {
        return ("canceled".into(), None, false, None);
    };
    match &app.status {
        types::ApplicationStatus::UnderReview if app.decision.is_none() => {
            ("accepted".into(), Some("manual_review".into()), true, None)
        }
        types::ApplicationStatus::Pending | types::ApplicationStatus::Submitted => (
            "accepted".into(),
            Some("awaiting_review".into()),
            false,
            None,
        ),
        other => (
            "completed".into(),
            Some(other.as_str().to_owned()),
            false,
            app.decided_at.or(Some(app.updated_at)),
        ),
    }
}

fn review_refresh(tx: &mut Tx<'_>, run: &RunRec) -> Result<(), ApiError> {
    if tx.contains::<AppRec>(&run.subject) {
        onboarding::advance(tx, &run.subject)?;
    }
    Ok(())
}

fn review_advance(
    tx: &mut Tx<'_>,
    run: &RunRec,
    action: &str,
    reason: Option<&str>,
) -> Result<String, ApiError> {
    let Some(mut app) = tx.get::<AppRec>(&run.subject).cloned() else {
        return Err(ApiError::not_found("Simulation subject", &run.subject));
    };
    let manual = types::ApplicationDecisionMethod::Manual;
    match action {
        "approve" => app.apply(Outcome::Approve, tx.now, manual),
        "reject" => app.apply(Outcome::Decline, tx.now, manual),
        "request_information" => {
            app.reopen(types::ApplicationStatus::RequestForInformation, tx.now);
        }
        _ => {
            return Err(ApiError::field(
                "action",
                "invalid_value",
                format!(
                    "'{action}' does not fit this run; it offers {}",
                    REVIEW_ACTIONS.join(", ")
                ),
            ))
        }
    }
    if let (Some(r), true) = (reason, app.decision.is_some()) {
        app.decision_reason = Some(r.to_owned());
    }
    app.simulation = Some(run.id.clone());
    let app = onboarding::save(tx, app)?;
    Ok(app.status.as_str().to_owned())
}

/// The run a customer created under `kyb_manual_review` opens: named by its application id,
/// on hold while the application is under review.
pub(crate) fn manual_review_run(
    client_id: &str,
    customer_id: &str,
    application_id: &str,
    now: DateTime<Utc>,
) -> RunRec {
    let mut metadata = HashMap::new();
    metadata.insert("customer_id".to_owned(), customer_id.to_owned());
    metadata.insert("application_id".to_owned(), application_id.to_owned());
    metadata.insert("organization_id".to_owned(), client_id.to_owned());
    RunRec {
        id: application_id.to_owned(),
        rail: "kyb".into(),
        operation: "application_review".into(),
        scenario: "kyb_manual_review".into(),
        amount: "0.00".into(),
        currency: "USD".into(),
        account_id: None,
        wallet_id: None,
        trace_id: None,
        metadata,
        created_at: now,
        subject: application_id.to_owned(),
        actions: REVIEW_ACTIONS.iter().map(|s| (*s).to_owned()).collect(),
        def: &REVIEW,
    }
}

// ----- operations -----

/// The path's simulation id, URL-decoded.
fn sim_id(call: &Call<'_>) -> String {
    percent_encoding::percent_decode_str(call.param(0))
        .decode_utf8_lossy()
        .into_owned()
}

/// Events caused by a run, oldest first, with their delivery history.
fn callbacks(
    t: &Tables,
    id: &str,
    max_attempts: i64,
) -> Result<(Vec<types::SimulationCallbackRecord>, Option<DateTime<Utc>>), ApiError> {
    let mut first: Option<DateTime<Utc>> = None;
    let mut out = Vec::new();
    for e in t
        .scan::<EventRec>()
        .filter(|e| e.simulation_id.as_deref() == Some(id))
    {
        let created = Utc.timestamp_opt(e.created, 0).single();
        first = first.or(created);
        let deliveries: Vec<&DeliveryRec> = events::deliveries_of(t, &e.id).collect();
        let attempts: i64 = deliveries.iter().map(|d| d.attempts).sum();
        let state = if deliveries.is_empty() {
            None
        } else if deliveries
            .iter()
            .any(|d| matches!(d.status, types::WebhookDeliveryStatus::Pending))
        {
            Some(types::SimulationCallbackRecordState::Pending)
        } else if deliveries
            .iter()
            .any(|d| matches!(d.status, types::WebhookDeliveryStatus::Delivered))
        {
            Some(types::SimulationCallbackRecordState::Delivered)
        } else {
            Some(types::SimulationCallbackRecordState::Failed)
        };
        let failed = deliveries
            .iter()
            .filter(|d| matches!(d.status, types::WebhookDeliveryStatus::Failed))
            .count();
        let targets = i64::try_from(deliveries.len()).unwrap_or(i64::MAX);
        out.push(build::<types::SimulationCallbackRecord, _>(
            types::builder::SimulationCallbackRecord::default()
                .attempts(Some(attempts))
                .callback_id(Some(e.id.clone()))
                .delivered_at(deliveries.iter().filter_map(|d| d.delivered_at).max())
                .last_error((failed > 0).then(|| {
                    format!(
                        "{failed} of {} targets did not accept the delivery",
                        deliveries.len()
                    )
                }))
                .max_attempts(Some(max_attempts.saturating_mul(targets.max(1))))
                .payload_json(Some(String::from_utf8_lossy(&e.body).into_owned()))
                .scheduled_for(created)
                .state(state),
        )?);
    }
    Ok((out, first))
}

/// `GET /sandbox/simulations/{simulation_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = sim_id(call);
    let org = organization::client_id(call.state);
    let max_attempts = i64::from(call.state.config().webhook_max_attempts);
    let body = call.write(|tx| {
        if let Some(run) = tx.get::<RunRec>(&id).cloned() {
            // Apply due transitions first, so the state is current.
            if let Some(refresh) = run.def.refresh {
                refresh(tx, &run)?;
            }
            let (state, position, on_hold, done) = (run.def.state)(tx, &run);
            let (cbs, _) = callbacks(tx, &id, max_attempts)?;
            return build::<types::SimulationInspection, _>(
                types::builder::SimulationInspection::default()
                    .account_id(run.account_id.clone())
                    .advance_actions_available(if on_hold {
                        run.actions.clone()
                    } else {
                        Vec::new()
                    })
                    .amount(run.amount.clone())
                    .awaiting_advance(Some(on_hold))
                    .callbacks(cbs)
                    .completed_at(done)
                    .created_at(run.created_at)
                    .currency(run.currency.clone())
                    .metadata(run.metadata.clone())
                    .operation(run.operation.clone())
                    .organization_id(org.clone())
                    .rail(run.rail.clone())
                    .scenario(run.scenario.clone())
                    .simulation_id(run.id.clone())
                    .state(state)
                    .state_position(position)
                    .trace_id(run.trace_id.clone())
                    .wallet_id(run.wallet_id.clone()),
            );
        }
        let Some(sim) = tx.get::<SimulationRec>(&id).cloned() else {
            return Err(ApiError::not_found("Simulation", &id));
        };
        let (cbs, first) = callbacks(tx, &id, max_attempts)?;
        let at = first.unwrap_or(call.now);
        let rail = if sim.kind.starts_with("kyc") {
            "kyc"
        } else {
            "kyb"
        };
        let mut metadata = HashMap::new();
        metadata.insert("applicant_id".to_owned(), sim.applicant_id.clone());
        build::<types::SimulationInspection, _>(
            types::builder::SimulationInspection::default()
                .advance_actions_available(Vec::<String>::new())
                .amount("0.00".to_owned())
                .awaiting_advance(Some(false))
                .callbacks(cbs)
                .completed_at(Some(at))
                .created_at(at)
                .currency("USD".to_owned())
                .metadata(metadata)
                .operation(sim.kind.clone())
                .organization_id(org.clone())
                .rail(rail.to_owned())
                .scenario("happy_path".to_owned())
                .simulation_id(id.clone())
                .state("completed".to_owned())
                .state_position(sim.answer.new_state.clone()),
        )
    })?;
    Reply::ok(&body)
}

/// `POST /sandbox/simulations/{simulation_id}/advance`.
fn advance(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = sim_id(call);
    let req: types::AdvanceSimulationRequest = call.body_as()?;
    let body = call.write(|tx| {
        let Some(run) = tx.get::<RunRec>(&id).cloned() else {
            if tx.contains::<SimulationRec>(&id) {
                return Err(ApiError::conflict(
                    "Nothing to resolve: this simulation finished when it was started",
                ));
            }
            return Err(ApiError::not_found("Simulation", &id));
        };
        if let Some(refresh) = run.def.refresh {
            refresh(tx, &run)?;
        }
        let (previous, _, on_hold, _) = (run.def.state)(tx, &run);
        let Some(apply) = run.def.on_advance.filter(|_| on_hold) else {
            return Err(ApiError::conflict(
                "Nothing to resolve: the run is not on hold right now",
            ));
        };
        if !run.actions.contains(&req.action) {
            return Err(ApiError::field(
                "action",
                "invalid_value",
                format!(
                    "'{}' does not fit this run; it offers {}",
                    req.action,
                    run.actions.join(", ")
                ),
            ));
        }
        // Every event the resolution emits is a webhook it scheduled (those stamped with the
        // run's id and the ones that follow from them, such as `recipient.updated`).
        let last = tx.scan::<EventRec>().next_back().map(|e| e.id.clone());
        apply(tx, &run, &req.action, req.reason_code.as_deref())?;
        let scheduled = match &last {
            Some(l) => tx.after::<EventRec>(l).count(),
            None => tx.count::<EventRec>(),
        };
        let (state, _, _, _) = (run.def.state)(tx, &run);
        build::<types::AdvanceSimulationResult, _>(
            types::builder::AdvanceSimulationResult::default()
                .callbacks_scheduled(i64::try_from(scheduled).unwrap_or(i64::MAX))
                .new_state(state)
                .previous_state(previous)
                .simulation_id(id.clone()),
        )
    })?;
    Reply::ok(&body)
}

/// Registers the simulation runs (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<RunRec>();
}
