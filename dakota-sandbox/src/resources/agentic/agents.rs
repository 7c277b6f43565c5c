//! `POST /payment-agents`, `POST /payment-agents/{id}/revoke` and
//! `POST /payment-agents/{id}/proposals` (drafting: see [`super::drafting`]).

use dakota_api::types;

use super::{agent, agent_view, count_turn, live_agent, AgentRec};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::ApiError;
use crate::resources::custody::{keys, SignerKey, SignerRec};
use crate::resources::onboarding::CustomerRec;
use crate::resources::organization;

pub(super) fn routes(r: &mut Registry) {
    r.add("createPaymentAgent", create)
        .add("revokePaymentAgent", revoke)
        .add("createPaymentAgentProposals", propose);
}

/// `POST /payment-agents`: the agent and its hosted signer.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreatePaymentAgentRequest = call.body_as()?;
    if !req.hosted {
        return Err(ApiError::field(
            "hosted",
            "invalid_value",
            "only hosted agents are offered: hosted must be true",
        ));
    }
    // `name` is any string (the spec sets no length): blank ones are kept as sent.
    let public_key = keys::fresh_public_key()
        .ok_or_else(|| ApiError::internal("could not make the agent's signing key"))?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        if !tx.contains::<CustomerRec>(&req.customer_id) {
            return Err(ApiError::not_found("Customer", &req.customer_id));
        }
        let agent_id = tx.next_id();
        let signer_id = tx.next_id();
        let key = keys::normalize(&public_key);
        tx.put(SignerRec {
            id: signer_id.clone(),
            client_id,
            name: format!("Payment agent {}", req.name),
            public_key: public_key.clone(),
            key: key.clone(),
            key_type: types::SignerKeyType::Es256,
            agent_id: Some(agent_id.clone()),
            revoked: false,
        });
        tx.put(SignerKey {
            key,
            signer_id: signer_id.clone(),
        });
        let a = AgentRec {
            id: agent_id,
            customer_id: req.customer_id.clone(),
            name: req.name.clone(),
            signer_id,
            revoked_at: None,
        };
        let view = agent_view(tx, &a, false)?;
        tx.put(a);
        Reply::created(&view)
    })
}

/// `POST /payment-agents/{payment_agent_id}/revoke`: for good; twice gives the same answer.
fn revoke(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    call.write(|tx| {
        let mut a = agent(tx, id)?.clone();
        if a.revoked_at.is_none() {
            a.revoked_at = Some(call.now);
            if let Some(mut s) = tx.get::<SignerRec>(&a.signer_id).cloned() {
                s.revoked = true;
                tx.put(s);
            }
            tx.put(a.clone());
        }
        Reply::ok(&agent_view(tx, &a, true)?)
    })
}

/// `POST /payment-agents/{payment_agent_id}/proposals`.
fn propose(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    let req: types::CreateProposalsRequest = call.body_as()?;
    let turns = super::drafting::user_turns(&req)?;
    call.write(|tx| {
        let a = agent(tx, id)?.clone();
        live_agent(tx, id)?;
        count_turn(tx, "drafts", &a.customer_id)?;
        let result = super::drafting::draft(tx, &a, &turns)?;
        Reply::ok(&result)
    })
}
