//! Sub-clients: `PATCH /customers/{customer_id}/sub-client` links a customer to a sub-client
//! of the organization (a customer created with `is_sub_client: true`) or, with
//! `sub_client_id` null or left out, removes the link; `GET /customers/sub-client-summary`
//! counts the customers of every sub-client. A sub-client cannot be linked to another one, nor
//! a customer to itself (`400`). A change is announced as `customer.updated` with
//! `previous_attributes.sub_client_id`.

use std::collections::BTreeMap;

use dakota_api::types;
use serde_json::{json, Value};

use super::onboarding::{self, AppRec, CustomerRec};
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};

/// Registers the sub-client operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("updateCustomerSubClient", update)
        .add("getSubClientSummary", summary);
}

/// `PATCH /customers/{customer_id}/sub-client`.
fn update(call: &Call<'_>) -> Result<Reply, ApiError> {
    // The operation documents no 400 for the path: an id that is not a KSUID names no customer.
    let id = call.id_or_404(0, "Customer")?;
    let req: types::UpdateCustomerSubClientRequest = call.body_as()?;
    let target = req.sub_client_id.as_ref().map(|s| s.to_string());
    let base = call.state.base_url();
    let view = call.write(|tx| {
        let Some(mut c) = tx.get::<CustomerRec>(id).cloned() else {
            return Err(ApiError::not_found("Customer", id));
        };
        if let Some(t) = &target {
            let Some(sub) = tx.get::<CustomerRec>(t) else {
                return Err(ApiError::not_found("Sub-client", t));
            };
            if !sub.is_sub_client {
                return Err(ApiError::field(
                    "sub_client_id",
                    "not_a_sub_client",
                    "sub_client_id must name a customer created with is_sub_client: true",
                ));
            }
            if *t == c.id {
                return Err(ApiError::field(
                    "sub_client_id",
                    "invalid_value",
                    "a customer cannot be its own sub-client",
                ));
            }
            if c.is_sub_client {
                return Err(ApiError::field(
                    "sub_client_id",
                    "invalid_value",
                    "a sub-client cannot belong to another sub-client",
                ));
            }
        }
        onboarding::advance(tx, &c.application_id)?;
        if c.sub_client_id != target {
            let previous = c.sub_client_id.clone();
            c.sub_client_id = target.clone();
            tx.put(c.clone());
            if let Some(app) = tx.get::<AppRec>(&c.application_id) {
                let mut object = onboarding::customer_snapshot(&c, app);
                object.insert("sub_client_id".into(), json!(c.sub_client_id));
                events::emit(
                    tx,
                    PendingEvent::new(types::EventType::CustomerUpdated, object)
                        .previous("sub_client_id", previous.map_or(Value::Null, Value::String)),
                )?;
            }
        }
        onboarding::customer_view(tx, &c, base)
    })?;
    Reply::ok(&view)
}

/// `GET /customers/sub-client-summary`: every sub-client, oldest first, with the number of
/// customers linked to it.
fn summary(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: types::GetSubClientSummaryResponse = call.read(|t| {
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for c in t.scan::<CustomerRec>() {
            if let Some(s) = &c.sub_client_id {
                *counts.entry(s.as_str()).or_default() += 1;
            }
        }
        let data = t
            .scan::<CustomerRec>()
            .filter(|c| c.is_sub_client)
            .map(|c| {
                build::<types::SubClientSummary, _>(
                    types::builder::SubClientSummary::default()
                        .customer_count(counts.get(c.id.as_str()).copied().unwrap_or(0))
                        .sub_client_id(ids::ksuid(&c.id))
                        .sub_client_name(c.name.clone()),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        build(types::builder::GetSubClientSummaryResponse::default().data(data))
    })?;
    Reply::ok(&body)
}
