//! Mandates (`/mandates...`): draft, read, list, approve and cancel. Approvals and
//! cancellations are signed by a recognized signer other than the bound one (see
//! [`super`] for the payload).

use dakota_api::types;

use super::{
    check_rule, customer_exists, live_agent, mandate_view, new_mandate, payments, validity,
    well_formed_id, MandateRec, ScheduledRec,
};
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::resources::custody::{self, keys, SignerRec};
use crate::resources::listing;
use crate::store::Tx;

pub(super) fn routes(r: &mut Registry) {
    r.add("createMandate", create)
        .add("listMandates", list)
        .add("getMandate", get)
        .add("approveMandate", approve)
        .add("cancelMandate", cancel);
}

/// `POST /mandates`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreateMandateRequest = call.body_as()?;
    call.write(|tx| {
        let a = live_agent(tx, &req.payment_agent_id)?.clone();
        let rule = check_rule(tx, &a.customer_id, &req.rule, "rule")?;
        let valid = validity(call.now, req.valid_from, req.valid_until, "")?;
        let m = new_mandate(tx, &a, rule, valid, None);
        let view = mandate_view(tx, &m, call.now)?;
        tx.put(m);
        Reply::created(&view)
    })
}

const STATUSES: [&str; 6] = [
    "pending", "active", "expired", "rejected", "revoked", "done",
];

/// `GET /mandates`: newest first.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let statuses = listing::list_of(&mut errs, &q, "status", &STATUSES);
    errs.finish()?;
    let customer = q.filter("customer_id");
    let signer = q.filter("signer_id");
    let list = call.write(|tx| {
        if let Some(c) = customer {
            customer_exists(tx, c)?;
        }
        payments::run_due(tx)?;
        tx.scan::<MandateRec>()
            .rev()
            .filter(|m| customer.is_none_or(|c| m.customer_id == c))
            .filter(|m| signer.is_none_or(|s| m.bound_signer_id == s))
            .filter(|m| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == m.status_at(call.now).as_str()))
            })
            .map(|m| mandate_view(tx, m, call.now))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// `GET /mandates/{mandate_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = well_formed_id(call, 0, "mandate_id")?;
    let view = call.write(|tx| {
        payments::run_due(tx)?;
        let m = tx
            .get::<MandateRec>(id)
            .ok_or_else(|| ApiError::not_found("Mandate", id))?;
        mandate_view(tx, m, call.now)
    })?;
    Reply::ok(&view)
}

/// The signer of an approval or cancellation: registered, not revoked, not the bound one,
/// and its signature of the mandate payload verifies (`400` otherwise).
fn signer_of(tx: &Tx<'_>, m: &MandateRec, key: &str, signature: &str) -> Result<String, ApiError> {
    let Some(s) = custody::signer_by_key(tx, key).filter(|s| !s.revoked) else {
        return Err(ApiError::bad_request(
            "The key is not a recognized signer of this organization",
        ));
    };
    if s.id == m.bound_signer_id {
        return Err(ApiError::bad_request(
            "The bound signer cannot approve or change its own mandate",
        ));
    }
    let verifies = tx
        .get::<SignerRec>(&s.id)
        .and_then(|s| keys::parse_public_key(&s.key))
        .is_some_and(|k| {
            keys::verifies(&k, keys::canonical_json(&m.payload()).as_bytes(), signature)
        });
    if !verifies {
        return Err(ApiError::bad_request(
            "The signature does not verify over the mandate payload",
        ));
    }
    Ok(s.id.clone())
}

fn response(m: &MandateRec) -> Result<types::MandateResponse, ApiError> {
    build(
        types::builder::MandateResponse::default()
            .approved_by_signer_id(m.approved_by.clone())
            .id(Some(m.id.clone()))
            .rejected_by_signer_id(m.rejected_by.clone())
            .revoked_by_signer_id(m.revoked_by.clone())
            .status(Some(types::MandateResponseStatus::from(m.status.as_str()))),
    )
}

/// `POST /mandates/{mandate_id}/approve`: pending → active; overdue payments drafted with it
/// run at once.
fn approve(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    let req: types::ApproveMandateRequest = call.body_as()?;
    call.write(|tx| {
        let Some(mut m) = tx.get::<MandateRec>(id).cloned() else {
            return Err(ApiError::not_found("Mandate", id));
        };
        let status = m.status_at(call.now);
        if !matches!(status, types::MandateStatus::Pending) {
            return Err(ApiError::bad_request(format!(
                "Only a pending mandate can be approved; this one is {}",
                status.as_str()
            )));
        }
        let by = signer_of(tx, &m, &req.approver_public_key, &req.signature)?;
        m.status = types::MandateStatus::Active;
        m.approved_by = Some(by);
        m.approved_at = Some(call.now.timestamp());
        tx.put(m.clone());
        payments::run_due(tx)?;
        let m = tx.get::<MandateRec>(id).cloned().unwrap_or(m);
        Reply::ok(&response(&m)?)
    })
}

/// `POST /mandates/{mandate_id}/cancel`: pending → rejected, active (or expired) → revoked;
/// the payments still scheduled under it are cancelled.
fn cancel(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    let req: types::CancelMandateRequest = call.body_as()?;
    call.write(|tx| {
        let Some(mut m) = tx.get::<MandateRec>(id).cloned() else {
            return Err(ApiError::not_found("Mandate", id));
        };
        if !matches!(
            m.status,
            types::MandateStatus::Pending | types::MandateStatus::Active
        ) {
            return Err(ApiError::bad_request(format!(
                "The mandate is already over ({})",
                m.status.as_str()
            )));
        }
        let by = signer_of(tx, &m, &req.signer_public_key, &req.signature)?;
        if matches!(m.status, types::MandateStatus::Pending) {
            m.status = types::MandateStatus::Rejected;
            m.rejected_by = Some(by);
        } else {
            m.status = types::MandateStatus::Revoked;
            m.revoked_by = Some(by);
        }
        tx.put(m.clone());
        let outstanding: Vec<ScheduledRec> = tx
            .scan::<ScheduledRec>()
            .filter(|p| {
                p.planned_mandate.as_deref() == Some(id)
                    && matches!(p.status, types::ScheduledPaymentResponseStatus::Scheduled)
            })
            .cloned()
            .collect();
        for mut p in outstanding {
            p.status = types::ScheduledPaymentResponseStatus::Cancelled;
            tx.put(p);
        }
        Reply::ok(&response(&m)?)
    })
}
