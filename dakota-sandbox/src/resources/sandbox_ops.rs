//! Sandbox-only operations: `POST /sandbox/simulate/onboarding`, `GET /sandbox/scenarios`, and
//! the target of presigned upload URLs.

use axum::http::StatusCode;
use dakota_api::types;

use super::onboarding::{self, AppRec, CustomerRec, Decision, Outcome, SimulationRec, Upload};
use crate::pipeline::routes::SANDBOX_UPLOAD;
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};

known!(SimulateOnboardingBodyType);

/// Registers the sandbox's own operations (simulations, the scenario catalog) and the
/// target of presigned upload URLs.
pub(crate) fn routes(r: &mut Registry) {
    r.add("simulateOnboarding", simulate)
        .add("listSandboxScenarios", scenarios)
        .add(SANDBOX_UPLOAD, receive_upload)
        .precheck(SANDBOX_UPLOAD, upload_precheck)
        .count_body(SANDBOX_UPLOAD);
}

/// Before an upload's body is read: the upload URL must exist and be valid (the route is
/// unauthenticated, so nothing is buffered for a URL nobody handed out).
fn upload_precheck(
    state: &crate::SandboxState,
    params: &[String],
    _parts: &axum::http::request::Parts,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let id = params.first().map(String::as_str).unwrap_or_default();
    if !crate::ids::is_ksuid(id) {
        return Err(ApiError::not_found("Upload", id));
    }
    match state.read(|t| t.get::<Upload>(id).map(|u| u.expires_at)) {
        None => Err(ApiError::not_found("Upload", id)),
        Some(at) if at <= now => Err(ApiError::forbidden("The upload URL has expired")),
        Some(_) => Ok(()),
    }
}

pub(crate) fn simulate(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::SimulateOnboardingBody = call.body_as()?;
    let mut errs = Errors::default();
    errs.known("type", &req.type_);
    errs.finish()?;
    let kind = req.type_.to_string();
    let now = call.now;
    call.write(|tx| {
        let sim_id = req.simulation_id.to_string();
        if let Some(sim) = tx.get::<SimulationRec>(&sim_id) {
            if sim.applicant_id == req.applicant_id && sim.kind == kind {
                return Reply::ok(&sim.answer);
            }
            return Err(ApiError::field(
                "simulation_id",
                "duplicate",
                "simulation_id was already used for a different transition",
            ));
        }
        if super::simulations::exists(tx, &sim_id) {
            return Err(ApiError::field(
                "simulation_id",
                "duplicate",
                "simulation_id already names a simulation run",
            ));
        }

        // The applicant is an application id; a customer id is accepted too.
        let app_id = if tx.contains::<AppRec>(&req.applicant_id) {
            req.applicant_id.clone()
        } else if let Some(c) = tx.get::<CustomerRec>(&req.applicant_id) {
            c.application_id.clone()
        } else {
            return Err(ApiError::not_found("Applicant", &req.applicant_id));
        };
        let Some(mut app) = onboarding::advance(tx, &app_id)? else {
            return Err(ApiError::not_found("Applicant", &req.applicant_id));
        };
        let previous = app.status.to_string();
        let manual = types::ApplicationDecisionMethod::Manual;
        use types::SimulateOnboardingBodyType as T;
        let reason = req.reason_code.clone();
        match req.type_ {
            // Full onboarding: application approved and the customer cleared to transact.
            T::KybApprove | T::ApplicantActivate => app.apply(Outcome::Approve, now, manual),
            T::KybReject => app.apply(Outcome::Decline, now, manual),
            // KYC transitions only touch the application, as documented.
            T::KycApprove => app.decide(
                Decision::Approved,
                types::ApplicationStatus::Approved,
                None,
                now,
                manual,
                "KYC approved",
            ),
            T::KycReject => app.decide(
                Decision::Declined,
                types::ApplicationStatus::Declined,
                None,
                now,
                manual,
                "KYC rejected",
            ),
            T::ApplicantSuspend => app.decide(
                Decision::Declined,
                types::ApplicationStatus::Declined,
                Some(types::KybStatus::Frozen),
                now,
                manual,
                "Applicant suspended",
            ),
            T::KybInfoRequest | T::KycInfoRequest => {
                app.reopen(types::ApplicationStatus::RequestForInformation, now);
            }
            _ => {
                return Err(ApiError::field(
                    "type",
                    "invalid_enum",
                    "unknown transition type",
                ))
            }
        }
        if let Some(r) = reason {
            if app.decision.is_some() {
                app.decision_reason = Some(r);
            }
        }
        // The webhook events this transition causes name the simulation.
        app.simulation = Some(sim_id.clone());
        let answer: types::SimulateOnboardingResponse = build(
            types::builder::SimulateOnboardingResponse::default()
                .applicant_id(Some(req.applicant_id.clone()))
                .new_state(Some(app.status.to_string()))
                .previous_state(Some(previous))
                .simulation_id(Some(sim_id.clone())),
        )?;
        onboarding::save(tx, app)?;
        tx.put(SimulationRec {
            id: sim_id,
            applicant_id: req.applicant_id.clone(),
            kind,
            answer: answer.clone(),
        });
        Reply::ok(&answer)
    })
}

/// One catalog entry.
fn scenario(
    name: &str,
    description: &str,
    valid_for: &[&str],
    webhooks: &[&str],
) -> Result<types::SandboxScenario, ApiError> {
    build(
        types::builder::SandboxScenario::default()
            .description(description.to_owned())
            .example_webhook_sequence(webhooks.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .name(name.to_owned())
            .stateful(false)
            .valid_for(
                valid_for
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<Vec<_>>(),
            ),
    )
}

/// The catalog served by `GET /sandbox/scenarios` (one entry per `X-Sandbox-Scenario` value).
pub(crate) fn catalog() -> Result<Vec<types::SandboxScenario>, ApiError> {
    const ONBOARDING: &[&str] = &["customer_create"];
    const ANY_WRITE: &[&str] = &[
        "customer_create",
        "simulate_onboarding",
        "application_write",
    ];
    // What a webhook target receives for a customer whose application gets decided.
    const DECIDED: &[&str] = &[
        "customer.created",
        "customer.kyb_status.created",
        "customer.updated",
        "customer.kyb_status.updated",
    ];
    const MONEY: &[&str] = &[
        "ach_inbound",
        "fedwire_inbound",
        "wire_outbound",
        "onramp",
        "offramp",
    ];
    [
        scenario(
            "happy_path",
            "Everything succeeds. A new customer's application is approved automatically after the configured delay (5 s by default) and the customer becomes active.",
            ONBOARDING,
            DECIDED,
        ),
        scenario(
            "kyb_manual_review",
            "The application moves to under_review after the delay and stays there until POST /sandbox/simulate/onboarding decides it.",
            ONBOARDING,
            &[
                "customer.created",
                "customer.kyb_status.created",
                "customer.kyb_application.submitted",
                "customer.updated",
            ],
        ),
        scenario(
            "kyb_rejected",
            "The application is declined after the delay; the customer's kyb_status becomes rejected.",
            ONBOARDING,
            DECIDED,
        ),
        scenario(
            "kyb_expired",
            "The application is created already past application_expires_at: it reads as declined with decision withdrawn, kyc_status expired, and its application token is refused with 403.",
            ONBOARDING,
            DECIDED,
        ),
        scenario(
            "provider_maintenance",
            "The request fails with 503 and Retry-After: 30, as if the verification provider were down. Nothing is created.",
            ANY_WRITE,
            &[],
        ),
        scenario(
            "intermittent_errors",
            "Deterministic flakiness: the 1st, 3rd, 5th... attempt with the same idempotency key fails with 503 and Retry-After: 1; the attempts in between go through.",
            ANY_WRITE,
            &[],
        ),
        scenario(
            "network_timeout",
            "The request is carried out and committed, then the response is held back (30 s by default) so the client times out. A retry with the same idempotency key replays the stored response at once.",
            ANY_WRITE,
            &[],
        ),
        scenario(
            "delayed_settlement",
            "Money movement settles late. Not modelled by this sandbox (no money movement); onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "insufficient_funds",
            "Money movement fails for lack of funds. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "compliance_block",
            "A transaction is blocked by compliance. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "invalid_account",
            "The destination account is invalid. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "network_congestion",
            "On-chain transfers are slow. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "account_frozen",
            "The account is frozen. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
        scenario(
            "document_expired",
            "An identity document has expired. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            ONBOARDING,
            &[],
        ),
        scenario(
            "invalid_swift",
            "A SWIFT/BIC code is rejected. Not modelled by this sandbox; onboarding proceeds as happy_path.",
            MONEY,
            &[],
        ),
    ]
    .into_iter()
    .collect()
}

pub(crate) fn scenarios(_call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: types::ListSandboxScenariosResponse =
        build(types::builder::ListSandboxScenariosResponse::default().scenarios(catalog()?))?;
    Reply::json(StatusCode::OK, &body)
}

/// `PUT /sandbox/uploads/{upload_id}`: accepts the file of a presigned upload (the size is
/// recorded, the content dropped).
pub(crate) fn receive_upload(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "upload_id")?;
    call.write(|tx| {
        let Some(mut upload) = tx.get::<Upload>(id).cloned() else {
            return Err(ApiError::not_found("Upload", id));
        };
        if upload.expires_at <= call.now {
            return Err(ApiError::forbidden("The upload URL has expired"));
        }
        if call.body_len == 0 {
            return Err(ApiError::field(
                "body",
                "required",
                "the file content is required",
            ));
        }
        upload.received_bytes = Some(call.body_len);
        tracing::debug!(
            upload = %upload.id,
            application = %upload.application_id,
            individual = ?upload.individual_id,
            document_type = %upload.document_type,
            bytes = call.body_len,
            "sandbox upload received"
        );
        tx.put(upload);
        Ok(Reply::empty(StatusCode::OK))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_every_spec_scenario_once() {
        let names: Vec<String> = catalog()
            .expect("the catalog builds")
            .into_iter()
            .map(|s| s.name)
            .collect();
        for s in crate::pipeline::faults::SCENARIOS {
            assert_eq!(names.iter().filter(|n| n == s).count(), 1, "{s}");
            assert!(!matches!(
                types::CreateCustomerXSandboxScenario::from(*s),
                types::CreateCustomerXSandboxScenario::Unknown(_)
            ));
        }
        assert_eq!(names.len(), crate::pipeline::faults::SCENARIOS.len());
    }
}
