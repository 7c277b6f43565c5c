//! `POST /customers`, `GET /customers`, `GET /customers/{customer_id}`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;
use serde_json::Value;

use super::onboarding::{self, Announced, AppRec, AppToken, CustomerRec, Kind, Outcome};
use crate::pipeline::query;
use crate::pipeline::validate::{known, object, Errors, Known};
use crate::pipeline::{typed, Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::state::SandboxState;
use crate::{events, ids};

known!(
    CustomerCreateRequestCustomerType,
    KybStatus,
    KybLinkStatus,
    ApplicationStatus
);

/// Registers the customers operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createCustomer", create)
        .add("listCustomers", list)
        .add("getCustomer", get);
}

impl SandboxState {
    /// Number of customers created so far.
    pub fn customer_count(&self) -> usize {
        self.read(|t| t.count::<CustomerRec>())
    }
}

/// Applications expire 30 days after creation.
const APPLICATION_LIFETIME_DAYS: i64 = 30;

pub(crate) fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json()?;
    let req = validate_create(body)?;
    let state = call.state;
    let cfg = state.config();
    let now = call.now;
    let scenario = call.scenario();
    let skip = call.bool_header("x-sandbox-skip-auto-approval")?;
    let instant = call.bool_header("x-sandbox-instant-completion")?;
    let kind = match req.customer_type {
        types::CustomerCreateRequestCustomerType::Business => Kind::Business,
        _ => Kind::Individual,
    };

    call.write(|tx| {
        if let Some(sub) = &req.sub_client_id {
            match tx.get::<CustomerRec>(sub.as_str()) {
                Some(c) if c.is_sub_client => {}
                Some(_) => {
                    return Err(ApiError::field(
                        "sub_client_id",
                        "not_a_sub_client",
                        "sub_client_id must reference a customer created with is_sub_client: true",
                    ))
                }
                None => {
                    return Err(ApiError::field(
                        "sub_client_id",
                        "not_found",
                        "sub_client_id does not reference a customer of this organization",
                    ))
                }
            }
        }

        let wait = if instant {
            std::time::Duration::ZERO
        } else {
            cfg.auto_approve_after
        };
        let due = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|d| now.checked_add_signed(d));
        let outcome = match scenario {
            Some("kyb_manual_review") => Outcome::ManualReview,
            Some("kyb_rejected") => Outcome::Decline,
            _ => Outcome::Approve,
        };
        let plan = if skip {
            None
        } else {
            due.map(|d| (d, outcome))
        };
        let (customer, app) = insert(
            tx,
            NewCustomer {
                name: req.name.to_string(),
                kind,
                external_id: req.external_id.clone(),
                is_sub_client: req.is_sub_client,
                sub_client_id: req.sub_client_id.as_ref().map(|s| s.to_string()),
                plan,
                // Already past its expiry: every read shows it declined (decision
                // `withdrawn`) and its token is refused.
                expired: scenario == Some("kyb_expired"),
            },
        )?;
        if scenario == Some("kyb_manual_review") && !skip {
            // The review waits on `POST /sandbox/simulations/{application_id}/advance`.
            let org = super::organization::client_id(state);
            super::simulations::register(
                tx,
                super::simulations::manual_review_run(&org, &customer.id, &app.id, now),
            );
        }
        let response: types::CustomerCreateResponse = build(
            types::builder::CustomerCreateResponse::default()
                .application_expires_at(app.expires_at.timestamp_nanos_opt().unwrap_or(i64::MAX))
                .application_id(ids::ksuid(&app.id))
                .application_url(onboarding::application_url(state.base_url(), &app))
                .id(ids::ksuid(&customer.id))
                .kyb_links(Vec::<types::KybLink>::new()),
        )?;
        Reply::json(StatusCode::CREATED, &response)
    })
}

/// A customer to create with its application.
pub(crate) struct NewCustomer {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) external_id: Option<String>,
    pub(crate) is_sub_client: bool,
    pub(crate) sub_client_id: Option<String>,
    /// The automatic decision and when it falls due (`None`: none).
    pub(crate) plan: Option<(DateTime<Utc>, Outcome)>,
    /// Created already past its expiry (the `kyb_expired` scenario).
    pub(crate) expired: bool,
}

/// Creates a customer and its `pending` application in `tx`, schedules its timed transitions
/// and announces it (`customer.created`, `customer.kyb_status.created`). Returns both records
/// as stored.
pub(crate) fn insert(
    tx: &mut crate::store::Tx<'_>,
    new: NewCustomer,
) -> Result<(CustomerRec, AppRec), ApiError> {
    let now = tx.now;
    let customer_id = tx.next_id();
    let application_id = tx.next_id();
    let business_id = tx.next_id();
    let token = ids::application_token();
    let kind = new.kind;
    let mut plan = new.plan;
    let mut expires_at = now
        .checked_add_signed(chrono::Duration::days(APPLICATION_LIFETIME_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if new.expired {
        expires_at = now - chrono::Duration::seconds(1);
        plan = None;
    }
    let app = AppRec {
        id: application_id.clone(),
        customer_id: customer_id.clone(),
        token: token.clone(),
        kind,
        created_at: now,
        updated_at: now,
        expires_at,
        status: types::ApplicationStatus::Pending,
        decision: None,
        decision_method: None,
        decided_at: None,
        decision_reason: None,
        submitted_at: None,
        kyb_status: types::KybStatus::Pending,
        plan,
        business_id,
        business: None,
        primary: None,
        associated: Vec::new(),
        edd: None,
        attestations: BTreeMap::new(),
        poa_status: (kind == Kind::Individual).then_some(types::ApplicationPoaStatus::Missing),
        announced: Announced::initial(),
        simulation: None,
    };
    let customer = CustomerRec {
        id: customer_id.clone(),
        name: new.name,
        kind,
        external_id: new.external_id,
        is_sub_client: new.is_sub_client,
        sub_client_id: new.sub_client_id,
        created_at: now,
        application_id: application_id.clone(),
    };
    // Timed transitions also fire from the background task, so their webhooks go out on time.
    if let Some((due, _)) = plan {
        tx.schedule(due, &application_id, &onboarding::LIFECYCLE);
    }
    tx.schedule(expires_at, &application_id, &onboarding::LIFECYCLE);
    for e in onboarding::customer_created(&customer, &app) {
        events::emit(tx, e)?;
    }
    tx.put(AppToken {
        token,
        application_id: application_id.clone(),
    });
    tx.put(customer.clone());
    let app = onboarding::save(tx, app)?;
    Ok((customer, app))
}

pub(crate) fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "customer_id")?;
    let view = call.write(|tx| {
        let Some(app_id) = tx.get::<CustomerRec>(id).map(|c| c.application_id.clone()) else {
            return Err(ApiError::not_found("Customer", id));
        };
        onboarding::advance(tx, &app_id)?;
        let Some(c) = tx.get::<CustomerRec>(id) else {
            return Err(ApiError::not_found("Customer", id));
        };
        onboarding::customer_view(tx, c, call.state.base_url())
    })?;
    Reply::ok(&view)
}

fn statuses<T: Known + for<'a> From<&'a str> + PartialEq>(
    errs: &mut Errors,
    field: &str,
    raw: Option<&str>,
) -> Option<Vec<T>> {
    let raw = raw?;
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v = T::from(part);
        if v.unknown().is_some() {
            errs.push(
                field,
                "invalid_enum",
                format!("'{part}' is not an allowed value"),
            );
        } else {
            out.push(v);
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

fn datetime(errs: &mut Errors, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errs.push(
                field,
                "invalid_format",
                format!("must be an RFC 3339 date-time ({e})"),
            );
            None
        }
    }
}

pub(crate) fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let get = |k: &str| q.filter(k);
    let external_id = get("external_id");
    let search = get("search").map(str::to_lowercase);
    let kyb_one: Option<Vec<types::KybStatus>> =
        statuses(&mut errs, "kyb_status", get("kyb_status"));
    let kyb_many: Option<Vec<types::KybStatus>> =
        statuses(&mut errs, "kyb_statuses", get("kyb_statuses"));
    let kyc: Option<Vec<types::KybLinkStatus>> =
        statuses(&mut errs, "kyc_statuses", get("kyc_statuses"));
    let app_statuses: Option<Vec<types::ApplicationStatus>> = statuses(
        &mut errs,
        "application_statuses",
        get("application_statuses"),
    );
    let sub_client_id = get("sub_client_id");
    if let Some(s) = sub_client_id {
        if !ids::is_ksuid(s) {
            errs.push(
                "sub_client_id",
                "invalid_format",
                "must be a KSUID (27 letters and digits)",
            );
        }
    }
    let is_sub_client = match get("is_sub_client") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errs.push("is_sub_client", "invalid_type", "must be true or false");
            None
        }
    };
    let sort_by = get("sort_by");
    if let Some(s) = sort_by {
        const SORTS: [&str; 7] = [
            "application_status",
            "created_at",
            "customer_type",
            "id",
            "kyb_status",
            "kyc_status",
            "name",
        ];
        if !SORTS.contains(&s) {
            errs.push(
                "sort_by",
                "invalid_enum",
                format!("expected one of: {}", SORTS.join(", ")),
            );
        }
    }
    let desc = match get("sort_dir") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            errs.push("sort_dir", "invalid_enum", "expected asc or desc");
            false
        }
    };
    let from = datetime(&mut errs, "created_at_from", q.get("created_at_from"));
    let to = datetime(&mut errs, "created_at_to", q.get("created_at_to"));
    errs.finish()?;

    let base = call.state.base_url();
    let mut rows: Vec<types::Customer> = call.write(|tx| {
        onboarding::advance_all(tx)?;
        let t: &crate::store::Tables = tx;
        t.scan::<CustomerRec>()
            .filter(|r| external_id.is_none_or(|e| r.external_id.as_deref() == Some(e)))
            .map(|r| onboarding::customer_view(t, r, base))
            .filter(|row| {
                let Ok(c) = row else {
                    return true;
                };
                search.as_deref().is_none_or(|s| {
                    c.name.to_lowercase().contains(s)
                        || c.id.to_lowercase().contains(s)
                        || c.email
                            .as_deref()
                            .is_some_and(|m| m.to_lowercase().contains(s))
                }) && kyb_one.as_ref().is_none_or(|v| v.contains(&c.kyb_status))
                    && kyb_many.as_ref().is_none_or(|v| v.contains(&c.kyb_status))
                    && kyc.as_ref().is_none_or(|v| v.contains(&c.kyc_status))
                    && app_statuses.as_ref().is_none_or(|v| {
                        c.application_status.as_ref().is_some_and(|s| v.contains(s))
                    })
                    && sub_client_id.is_none_or(|s| c.sub_client_id.as_deref() == Some(s))
                    && is_sub_client.is_none_or(|want| !want || c.is_sub_client)
                    && from.is_none_or(|f| c.created_at >= f.timestamp())
                    && to.is_none_or(|t| c.created_at <= t.timestamp())
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })?;

    let key = |c: &types::Customer| -> String {
        match sort_by {
            Some("application_status") => c
                .application_status
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            Some("created_at") => format!("{:020}", c.created_at),
            Some("customer_type") => c.customer_type.to_string(),
            Some("kyb_status") => c.kyb_status.to_string(),
            Some("kyc_status") => c.kyc_status.to_string(),
            Some("name") => c.name.to_lowercase(),
            _ => String::new(),
        }
    };
    let by_id = matches!(sort_by, None | Some("id"));
    if !by_id {
        rows.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id)));
    }
    if desc {
        rows.reverse();
    }
    let (data, meta) = query::paginate(rows, |c| c.id.as_str(), &page, by_id && !desc)?;
    let body: types::ListCustomersResponse = build(
        types::builder::ListCustomersResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::json(StatusCode::OK, &body)
}

/// `CustomerCreateRequest`, every field checked so that all problems are reported at once.
fn validate_create(v: Value) -> Result<types::CustomerCreateRequest, ApiError> {
    let obj = object(&v)?;
    let mut errs = Errors::default();
    match obj.get("name") {
        None => errs.push("name", "required", "name is required"),
        Some(Value::String(s)) => {
            if let Err(e) = types::CustomerCreateRequestName::try_from(s.as_str()) {
                let code = if s.trim().is_empty() {
                    "blank"
                } else {
                    "invalid_length"
                };
                errs.push(
                    "name",
                    code,
                    format!(
                        "name must be 3-100 characters with at least one non-space character ({e})"
                    ),
                );
            }
        }
        Some(_) => errs.push("name", "invalid_type", "name must be a string"),
    }
    match obj.get("customer_type") {
        None => errs.push("customer_type", "required", "customer_type is required"),
        Some(Value::String(s)) if s == "individual" || s == "business" => {}
        Some(Value::String(s)) => errs.push(
            "customer_type",
            "invalid_enum",
            format!("'{s}' is not an allowed value; expected individual or business"),
        ),
        Some(_) => errs.push(
            "customer_type",
            "invalid_type",
            "customer_type must be a string",
        ),
    }
    match obj.get("external_id") {
        None | Some(Value::String(_)) => {}
        Some(_) => errs.push(
            "external_id",
            "invalid_type",
            "external_id must be a string",
        ),
    }
    let is_sub = match obj.get("is_sub_client") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errs.push(
                "is_sub_client",
                "invalid_type",
                "is_sub_client must be a boolean",
            );
            false
        }
    };
    match obj.get("sub_client_id") {
        None => {}
        Some(Value::String(s)) => {
            if !ids::is_ksuid(s) {
                errs.push(
                    "sub_client_id",
                    "invalid_format",
                    "sub_client_id must be a KSUID (27 letters and digits)",
                );
            } else if is_sub {
                errs.push(
                    "sub_client_id",
                    "mutually_exclusive",
                    "sub_client_id cannot be combined with is_sub_client: true",
                );
            }
        }
        Some(_) => errs.push(
            "sub_client_id",
            "invalid_type",
            "sub_client_id must be a string",
        ),
    }
    errs.finish()?;
    typed(v)
}
