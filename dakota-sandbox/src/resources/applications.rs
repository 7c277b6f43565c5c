//! `/applications/...`: listing, reading, details, associated individuals, attestations, EDD,
//! submissions and presigned document uploads.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;
use serde_json::{json, Value};

use super::onboarding::validate::{self, PersonUse};
use super::onboarding::{self, AppRec, AppToken, Include, Kind, Upload};
use crate::ids;
use crate::pipeline::validate::{object, Errors};
use crate::pipeline::{query, typed, Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::state::SandboxState;
use crate::store::Tx;

/// Presigned upload URLs stay valid this long.
const UPLOAD_URL_MINUTES: i64 = 15;

/// Document types that count as a Proof of Address.
const POA_TYPES: [&str; 3] = ["proof_of_address", "bank_statement", "utility_bill"];

/// Runs `f` on the application named by the first path parameter (404 when unknown).
fn with_app<R>(
    call: &Call<'_>,
    f: impl FnOnce(&mut AppRec, &mut Tx<'_>, &Call<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let id = call.id_param(0, "application_id")?.to_owned();
    // One transaction: a failed request leaves no partial write.
    call.write(|tx| {
        let Some(mut app) = onboarding::advance(tx, &id)? else {
            return Err(ApiError::not_found("Application", &id));
        };
        let out = f(&mut app, tx, call)?;
        onboarding::save(tx, app)?;
        Ok(out)
    })
}

/// Registers the applications operations and the application-token check.
pub(crate) fn routes(r: &mut Registry) {
    r.add("listApplications", list)
        .add("getApplication", get)
        .add("createApplicationSubmission", submit)
        .bad_request_body("createApplicationSubmission", submission_bad_request)
        .add("updateBusinessApplicationDetails", put_business)
        .add("updateIndividualApplicationDetails", put_individual)
        .add("addAssociatedIndividual", add_associated)
        .add("updateAssociatedIndividual", update_associated)
        .add("deleteAssociatedIndividual", delete_associated)
        .add("submitAttestation", attest)
        .add("getEDD", get_edd)
        .add("createOrUpdateEDD", put_edd)
        .add("createApplicationDocumentUpload", application_upload)
        .add(
            "createAssociatedIndividualDocumentUpload",
            individual_upload,
        )
        .token_auth(authenticate_token);
}

/// The application an `X-Application-Token` authorizes, for a request naming `path_app`.
fn authenticate_token(
    state: &SandboxState,
    token: &str,
    path_app: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let app_id = state
        .read(|t| t.get::<AppToken>(token).map(|a| a.application_id.clone()))
        .ok_or_else(|| ApiError::unauthorized("Invalid application token"))?;
    if path_app != Some(app_id.as_str()) {
        return Err(ApiError::forbidden(
            "The application token belongs to a different application",
        ));
    }
    let expired = state.write(now, None, |tx| {
        Ok(onboarding::advance(tx, &app_id)?
            .is_some_and(|app| app.expires_at <= now || app.is_expired()))
    })?;
    if expired {
        return Err(ApiError::forbidden("Invalid or expired token"));
    }
    Ok(app_id)
}

impl SandboxState {
    /// The `X-Application-Token` of an application, if it exists.
    pub fn application_token(&self, application_id: &str) -> Option<String> {
        self.read(|t| t.get::<AppRec>(application_id).map(|a| a.token.clone()))
    }
}

fn not_editable(app: &AppRec) -> ApiError {
    ApiError::conflict(format!(
        "Application {} is {} and can no longer be modified",
        app.id, app.status
    ))
}

fn not_pending_forbidden(app: &AppRec) -> ApiError {
    ApiError::forbidden(format!(
        "Application {} is {}; individuals can only be changed while it is pending",
        app.id, app.status
    ))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v)
        .map_err(|e| ApiError::internal(format!("could not encode a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::internal(format!("could not build a record: {e}")))
}

/// `IndividualRequest` → the stored entity shape (`first_name`/`last_name`, no roles).
fn person_json(
    req: &types::IndividualRequest,
    id: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let Value::Object(mut obj) = to_json(req)? else {
        return Err(ApiError::internal("individual did not encode as an object"));
    };
    obj.remove("name");
    obj.remove("roles");
    obj.remove("title");
    obj.remove("ownership_percentage");
    obj.insert("id".into(), json!(id));
    obj.insert("first_name".into(), json!(req.name.first));
    obj.insert("last_name".into(), json!(req.name.last));
    Ok(obj)
}

fn primary_entity(
    req: &types::IndividualRequest,
    id: &str,
) -> Result<types::IndividualEntity, ApiError> {
    from_json(Value::Object(person_json(req, id)?))
}

fn associated_entity(
    req: &types::IndividualRequest,
    id: &str,
) -> Result<types::AssociatedIndividualEntity, ApiError> {
    let mut obj = person_json(req, id)?;
    let roles: Vec<&str> = req
        .roles
        .iter()
        .map(|r| match r {
            types::IndividualRequestRolesItem::Ubo => "ubo",
            types::IndividualRequestRolesItem::ControlPerson => "control_person",
            _ => "authorized_representative",
        })
        .collect();
    obj.insert("roles".into(), json!(roles));
    if let Some(t) = &req.title {
        obj.insert("title".into(), json!(t.to_string()));
    }
    if let Some(p) = req.ownership_percentage {
        obj.insert("ownership_percentage".into(), json!(p));
    }
    from_json(Value::Object(obj))
}

fn decision<T: for<'a> From<&'a str>>(app: &AppRec) -> Option<T> {
    app.decision.map(|d| T::from(d.as_str()))
}

pub(crate) fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let kind = match q.filter("type") {
        None => None,
        Some("business") => Some(Kind::Business),
        Some("individual") => Some(Kind::Individual),
        Some(_) => {
            errs.push("type", "invalid_enum", "expected business or individual");
            None
        }
    };
    let status = match q.filter("status") {
        None => None,
        Some(s @ ("pending" | "submitted" | "completed")) => {
            Some(types::ApplicationStatus::from(s))
        }
        Some(_) => {
            errs.push(
                "status",
                "invalid_enum",
                "expected pending, submitted or completed",
            );
            None
        }
    };
    errs.finish()?;
    let (data, meta) = call.write(|tx| {
        onboarding::advance_all(tx)?;
        let (rows, meta) = query::records::<AppRec>(tx, &page, |a| {
            kind.is_none_or(|k| a.kind == k) && status.as_ref().is_none_or(|s| &a.status == s)
        })?;
        let data = rows
            .into_iter()
            .map(AppRec::to_list_item)
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok((data, meta))
    })?;
    let body: types::ListApplicationsResponse = build(
        types::builder::ListApplicationsResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::json(StatusCode::OK, &body)
}

fn parse_include(raw: Option<&str>) -> Result<Include, ApiError> {
    let mut inc = Include::default();
    for part in raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match part {
            "entities" => inc.entities = true,
            "validation" => inc.validation = true,
            "edd" => inc.edd = true,
            "attestations" => inc.attestations = true,
            "all" => inc = Include::all(),
            other => {
                return Err(ApiError::field(
                    "include",
                    "invalid_enum",
                    format!("'{other}' is not one of entities, validation, edd, attestations, all"),
                ))
            }
        }
    }
    Ok(inc)
}

pub(crate) fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let include = parse_include(call.query()?.get("include"))?;
    let view = with_app(call, |app, _, _| app.to_application(&include))?;
    Reply::json(StatusCode::OK, &view)
}

fn not_ready(app: &AppRec, code: &str, message: String) -> Result<Reply, ApiError> {
    let validation = app.validation()?;
    let mut incomplete: Vec<types::ApplicationEntity> = Vec::new();
    let doc_info = || {
        build::<types::DocumentInfo, _>(
            types::builder::DocumentInfo::default()
                .missing_documents(Vec::<types::MissingDocument>::new())
                .uploaded_documents(Vec::<types::UploadedDocument>::new()),
        )
    };
    if let Some(b) = &validation.business {
        if !b.ready {
            incomplete.push(build(
                types::builder::ApplicationEntity::default()
                    .applicant_id(app.business_id.clone())
                    .applicant_type(types::ApplicationEntityApplicantType::Business)
                    .document_info(doc_info()?)
                    .legal_name(app.business.as_ref().map(|b| b.legal_name.clone()))
                    .ready(false),
            )?);
        }
    }
    if let Some(p) = &validation.primary_individual {
        if !p.ready {
            incomplete.push(build(
                types::builder::ApplicationEntity::default()
                    .applicant_id(p.id.clone().unwrap_or_else(|| app.id.clone()))
                    .applicant_type(types::ApplicationEntityApplicantType::Individual)
                    .document_info(doc_info()?)
                    .ready(false),
            )?);
        }
    }
    let body: types::ApplicationNotReadyError = build(
        types::builder::ApplicationNotReadyError::default()
            .application_id(ids::ksuid(&app.id))
            .code(code.to_owned())
            .incomplete_applicants(incomplete)
            .missing_attestations(validation.attestations.missing.clone())
            .status_message(message),
    )?;
    Reply::json(StatusCode::BAD_REQUEST, &body)
}

/// Every `400` of `createApplicationSubmission` in the one body its spec documents,
/// `ApplicationNotReadyError` (a missing idempotency key too): `code` and `status_message` say
/// what is wrong, nobody is listed as incomplete, and the problem document's members stay
/// beside them. An `application_id` that is no KSUID names no application: `404`.
fn submission_bad_request(problem: &Value, params: &[String]) -> Result<Value, ApiError> {
    let raw = params.first().map(String::as_str).unwrap_or_default();
    if !ids::is_ksuid(raw) {
        return Err(ApiError::not_found("Application", raw));
    }
    let code = problem
        .pointer("/errors/0/code")
        .and_then(Value::as_str)
        .unwrap_or("invalid_request");
    let message = problem
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("The request is invalid");
    let body: types::ApplicationNotReadyError = build(
        types::builder::ApplicationNotReadyError::default()
            .application_id(ids::ksuid(raw))
            .code(code.to_owned())
            .incomplete_applicants(Vec::new())
            .missing_attestations(Vec::new())
            .status_message(message.to_owned()),
    )?;
    let Value::Object(mut out) = to_json(&body)? else {
        return Err(ApiError::internal(
            "ApplicationNotReadyError is not an object",
        ));
    };
    if let Value::Object(p) = problem {
        for (k, v) in p {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(Value::Object(out))
}

pub(crate) fn submit(call: &Call<'_>) -> Result<Reply, ApiError> {
    with_app(call, |app, _tx, call| {
        if !app.editable() {
            return not_ready(
                app,
                "invalid_status",
                format!("Application is {} and cannot be submitted", app.status),
            );
        }
        let validation = app.validation()?;
        if !validation.ready {
            return not_ready(app, "application_not_ready", validation.status_message);
        }
        app.status = types::ApplicationStatus::Submitted;
        app.submitted_at = Some(call.now);
        app.updated_at = call.now;
        Reply::json(StatusCode::OK, &app.to_application(&Include::default())?)
    })
}

pub(crate) fn put_business(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req = validate::business(call.json()?, call.now)?;
    with_app(call, |app, _tx, call| {
        if app.kind != Kind::Business {
            return Err(ApiError::bad_request(
                "business details apply to business applications only; use /individual-details",
            ));
        }
        if !app.editable() {
            return Err(not_editable(app));
        }
        let Value::Object(mut obj) = to_json(&req)? else {
            return Err(ApiError::internal("business did not encode as an object"));
        };
        obj.insert("id".into(), json!(app.business_id));
        let entity: types::BusinessEntity = from_json(Value::Object(obj))?;
        app.business = Some(Box::new(entity));
        app.updated_at = call.now;
        let business = app
            .business_view()
            .ok_or_else(|| ApiError::internal("business missing"))?;
        let body: types::BusinessDetailsResponse = build(
            types::builder::BusinessDetailsResponse::default()
                .application_decision(
                    decision::<types::BusinessDetailsResponseApplicationDecision>(app),
                )
                .application_id(ids::ksuid(&app.id))
                .application_status(app.status.clone())
                .business(business),
        )?;
        Reply::json(StatusCode::OK, &body)
    })
}

pub(crate) fn put_individual(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req = validate::individual(call.json()?, PersonUse::Primary, call.now)?;
    with_app(call, |app, tx, call| {
        if app.kind != Kind::Individual {
            return Err(ApiError::bad_request(
                "individual details apply to individual applications only; use /business-details",
            ));
        }
        if !app.editable() {
            return Err(not_editable(app));
        }
        let id = match &app.primary {
            Some(p) => p.id.clone(),
            None => tx.next_id(),
        };
        app.primary = Some(Box::new(primary_entity(&req, &id)?));
        app.updated_at = call.now;
        let individual = app
            .primary_view()
            .ok_or_else(|| ApiError::internal("individual missing"))?;
        let body: types::IndividualDetailsResponse = build(
            types::builder::IndividualDetailsResponse::default()
                .application_decision(decision::<
                    types::IndividualDetailsResponseApplicationDecision,
                >(app))
                .application_id(ids::ksuid(&app.id))
                .application_status(app.status.clone())
                .individual(individual),
        )?;
        Reply::json(StatusCode::OK, &body)
    })
}

fn same_name(a: &types::AssociatedIndividualEntity, req: &types::IndividualRequest) -> bool {
    a.first_name
        .trim()
        .eq_ignore_ascii_case(req.name.first.trim())
        && a.last_name
            .trim()
            .eq_ignore_ascii_case(req.name.last.trim())
}

fn require_business(app: &AppRec) -> Result<(), ApiError> {
    if app.kind == Kind::Business {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "associated individuals apply to business applications only",
        ))
    }
}

pub(crate) fn add_associated(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req = validate::individual(call.json()?, PersonUse::Associated, call.now)?;
    with_app(call, |app, tx, call| {
        require_business(app)?;
        if !app.editable() {
            return Err(not_editable(app));
        }
        if app.associated.iter().any(|a| same_name(a, &req)) {
            return Err(ApiError::conflict(format!(
                "An individual named {} {} is already on this application",
                req.name.first, req.name.last
            )));
        }
        let id = tx.next_id();
        app.associated.push(associated_entity(&req, &id)?);
        app.updated_at = call.now;
        let body: types::AddAssociatedIndividualResponse =
            build(types::builder::AddAssociatedIndividualResponse::default().id(ids::ksuid(&id)))?;
        Reply::json(StatusCode::CREATED, &body)
    })
}

fn individual_index(call: &Call<'_>, app: &AppRec) -> Result<usize, ApiError> {
    let ind = call.id_param(1, "individual_id")?;
    app.associated
        .iter()
        .position(|a| a.id == ind)
        .ok_or_else(|| ApiError::not_found("Individual", ind))
}

pub(crate) fn update_associated(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_param(1, "individual_id")?;
    let req = validate::individual(call.json()?, PersonUse::Associated, call.now)?;
    with_app(call, |app, _tx, call| {
        require_business(app)?;
        let idx = individual_index(call, app)?;
        if !app.editable() {
            return Err(not_pending_forbidden(app));
        }
        let id = app.associated[idx].id.clone();
        if app
            .associated
            .iter()
            .any(|a| a.id != id && same_name(a, &req))
        {
            return Err(ApiError::field(
                "name",
                "duplicate",
                "another individual on this application has the same name",
            ));
        }
        app.associated[idx] = associated_entity(&req, &id)?;
        app.updated_at = call.now;
        let individual = app
            .associated_view()
            .into_iter()
            .nth(idx)
            .ok_or_else(|| ApiError::internal("individual missing"))?;
        let body: types::AssociatedIndividualResponse = build(
            types::builder::AssociatedIndividualResponse::default()
                .application_decision(decision::<
                    types::AssociatedIndividualResponseApplicationDecision,
                >(app))
                .application_id(ids::ksuid(&app.id))
                .application_status(app.status.clone())
                .individual(individual),
        )?;
        Reply::json(StatusCode::OK, &body)
    })
}

pub(crate) fn delete_associated(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_param(1, "individual_id")?;
    with_app(call, |app, _tx, call| {
        require_business(app)?;
        let idx = individual_index(call, app)?;
        if !app.editable() {
            return Err(not_pending_forbidden(app));
        }
        if app.associated.len() <= 1 {
            return Err(ApiError::bad_request(
                "At least one individual must remain on the application",
            ));
        }
        let removed = app.associated.remove(idx);
        let name = format!("{} {}", removed.first_name, removed.last_name);
        app.attestations.retain(|_, a| a.attested_by != name);
        app.updated_at = call.now;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

pub(crate) fn attest(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    object(&body)?;
    let req: types::AttestationSubmitRequest = typed(body)?;
    let mut errs = Errors::default();
    errs.known("attestation_type", &req.attestation_type);
    let at = DateTime::<Utc>::from_timestamp(req.timestamp, 0);
    if at.is_none() || req.timestamp <= 0 {
        errs.push(
            "timestamp",
            "out_of_range",
            "timestamp must be a Unix time in seconds",
        );
    }
    errs.finish()?;
    let at = at.unwrap_or(call.now);
    with_app(call, |app, _tx, call| {
        if !app.editable() {
            return Err(not_editable(app));
        }
        let attestor = match app.kind {
            Kind::Individual => app
                .primary
                .as_ref()
                .filter(|p| p.id == req.applicant_id)
                .map(|p| format!("{} {}", p.first_name, p.last_name)),
            Kind::Business => app
                .associated
                .iter()
                .filter(|a| {
                    a.roles.iter().any(|r| {
                        matches!(r, types::AssociatedIndividualEntityRolesItem::ControlPerson)
                    })
                })
                .find(|a| a.id == req.applicant_id)
                .map(|a| format!("{} {}", a.first_name, a.last_name)),
        };
        let Some(attested_by) = attestor else {
            let who = match app.kind {
                Kind::Individual => "the application's individual",
                Kind::Business => "a control person of the business",
            };
            return Err(ApiError::field(
                "applicant_id",
                "invalid_attestor",
                format!("the attestor must be {who}"),
            ));
        };
        app.attestations.insert(
            req.attestation_type.to_string(),
            build(
                types::builder::CompletedAttestation::default()
                    .attested_at(at)
                    .attested_by(attested_by)
                    .type_(req.attestation_type.clone()),
            )?,
        );
        app.updated_at = call.now;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

fn edd_reply(app: &AppRec) -> Result<Reply, ApiError> {
    let Some(edd) = app.edd.clone() else {
        return Err(ApiError::not_found("EDD record for application", &app.id));
    };
    let body: types::EddWithApplicationId = build(
        types::builder::EddWithApplicationId::default()
            .application_decision(decision::<types::EddWithApplicationIdApplicationDecision>(
                app,
            ))
            .application_id(ids::ksuid(&app.id))
            .application_status(app.status.clone())
            .edd(*edd),
    )?;
    Reply::json(StatusCode::OK, &body)
}

pub(crate) fn get_edd(call: &Call<'_>) -> Result<Reply, ApiError> {
    with_app(call, |app, _, _| edd_reply(app))
}

pub(crate) fn put_edd(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    object(&body)?;
    let req: types::EddRequest = typed(body)?;
    // `account_usage_description` is required but the spec sets no minLength: a blank one is
    // accepted as sent. The regulation answers (`regulatory_license_type`,
    // `unregulated_justification`) are optional whatever `is_regulated` says: the spec
    // documents no rule between them.
    with_app(call, |app, tx, call| {
        if app.kind != Kind::Business {
            return Err(ApiError::bad_request(
                "EDD applies to business applications only",
            ));
        }
        if !app.editable() {
            return Err(not_editable(app));
        }
        let (id, created) = match &app.edd {
            Some(e) => (e.id.to_string(), e.created_at),
            None => (tx.next_id(), call.now),
        };
        let Value::Object(mut obj) = to_json(&req)? else {
            return Err(ApiError::internal("EDD did not encode as an object"));
        };
        obj.insert("id".into(), json!(id));
        obj.insert("business_id".into(), json!(app.business_id));
        obj.insert("created_at".into(), json!(created));
        obj.insert("updated_at".into(), json!(call.now));
        app.edd = Some(Box::new(from_json(Value::Object(obj))?));
        app.updated_at = call.now;
        edd_reply(app)
    })
}

fn upload_reply(
    call: &Call<'_>,
    app: &mut AppRec,
    tx: &mut Tx<'_>,
    individual_id: Option<String>,
    document_type: String,
    file_type: String,
    filename: Option<String>,
) -> Result<Reply, ApiError> {
    let upload_id = tx.next_id();
    let expires_at = call.now + chrono::Duration::minutes(UPLOAD_URL_MINUTES);
    let object_path = match &individual_id {
        Some(ind) => format!(
            "applications/{}/{}/individuals/{ind}/documents/{upload_id}",
            app.kind.as_str(),
            app.id
        ),
        None => format!(
            "applications/{}/{}/documents/{upload_id}",
            app.kind.as_str(),
            app.id
        ),
    };
    let is_primary =
        individual_id.is_none() || app.primary.as_ref().map(|p| &p.id) == individual_id.as_ref();
    let decided = matches!(
        app.status,
        types::ApplicationStatus::Approved | types::ApplicationStatus::Completed
    );
    if app.kind == Kind::Individual
        && is_primary
        && decided
        && POA_TYPES.contains(&document_type.as_str())
    {
        // Documented: a PoA after the decision sends the application to compliance review.
        app.status = types::ApplicationStatus::ComplianceReview;
        app.poa_status = Some(types::ApplicationPoaStatus::SubmittedPendingReview);
        app.updated_at = call.now;
    }
    tx.put(Upload {
        id: upload_id.clone(),
        application_id: app.id.clone(),
        individual_id,
        document_type,
        file_type,
        filename,
        expires_at,
        received_bytes: None,
    });
    let body: types::DocumentUploadUrlResponse = build(
        types::builder::DocumentUploadUrlResponse::default()
            .expires_at(expires_at)
            .object_path(object_path)
            .upload_url(format!(
                "{}/sandbox/uploads/{upload_id}",
                call.state.base_url()
            ))
            .upload_id(upload_id),
    )?;
    Reply::json(StatusCode::OK, &body)
}

pub(crate) fn application_upload(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    object(&body)?;
    let req: types::ApplicationDocumentUploadUrlRequest = typed(body)?;
    let mut errs = Errors::default();
    errs.known("document_type", &req.document_type);
    errs.known("file_type", &req.file_type);
    errs.finish()?;
    with_app(call, |app, tx, call| {
        upload_reply(
            call,
            app,
            tx,
            None,
            req.document_type.to_string(),
            req.file_type.to_string(),
            req.filename.as_ref().map(|f| f.to_string()),
        )
    })
}

pub(crate) fn individual_upload(call: &Call<'_>) -> Result<Reply, ApiError> {
    let ind = call.id_param(1, "individual_id")?.to_owned();
    let body = call.json()?;
    object(&body)?;
    let req: types::IndividualDocumentUploadUrlRequest = typed(body)?;
    let mut errs = Errors::default();
    errs.known("document_type", &req.document_type);
    errs.known("file_type", &req.file_type);
    errs.finish()?;
    with_app(call, |app, tx, call| {
        let exists = app.primary.as_ref().is_some_and(|p| p.id == ind)
            || app.associated.iter().any(|a| a.id == ind);
        if !exists {
            return Err(ApiError::not_found("Individual", &ind));
        }
        upload_reply(
            call,
            app,
            tx,
            Some(ind.clone()),
            req.document_type.to_string(),
            req.file_type.to_string(),
            req.filename.as_ref().map(|f| f.to_string()),
        )
    })
}
