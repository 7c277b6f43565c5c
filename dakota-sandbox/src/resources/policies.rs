//! Policies (`/policies...`): creation with rules, reads, and the signed changes (add, update
//! and remove a rule, attach to and detach from a wallet, delete). Rule semantics and the
//! signature rules are in [`super::custody`].
//!
//! Every rule change raises the policy's `version` and is announced to each wallet the policy
//! governs as `wallet.policy.updated` (`status` `rules_changed`); attaching announces
//! `wallet.policy.created`, detaching `wallet.policy.updated` (`detached`), both with
//! `wallet.updated`. Deleting a policy detaches it from every wallet first (each detachment
//! announced as above). Attaching twice is harmless.

use axum::http::StatusCode;
use dakota_api::types;
use serde_json::{json, Map, Value};

use super::custody::{self, policy_view, GroupRec, IntentKind, PolicyRec, RuleRec, WalletRec};
use super::organization;
use crate::events::{self, PendingEvent};
use crate::pipeline::query;
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::Tx;

/// Longest policy description.
const MAX_DESCRIPTION: usize = 2000;

/// Registers the policy operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createPolicy", create)
        .add("listPolicies", list)
        .add("getPolicy", get)
        .add("deletePolicy", delete)
        .add("getWalletsForPolicy", wallets)
        .add("addPolicyRule", add_rule)
        .add("updatePolicyRule", update_rule)
        .add("deletePolicyRule", delete_rule)
        .add("upsertPolicyWalletRelationship", attach)
        .add("deletePolicyWalletRelationship", detach);
}

/// `POST /policies`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreatePolicyRequest = call.body_as()?;
    let mut errs = Errors::default();
    // `name` is any string (the spec sets no length): blank ones are kept as sent.
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        errs.push(
            "description",
            "invalid_length",
            format!("description is at most {MAX_DESCRIPTION} characters"),
        );
    }
    if req.rules.len() > custody::MAX_RULES {
        errs.push(
            "rules",
            "too_many",
            format!("at most {} rules", custody::MAX_RULES),
        );
    }
    for (i, r) in req.rules.iter().enumerate() {
        custody::check_rule(
            &mut errs,
            &format!("rules[{i}]"),
            r.rule_type.as_str(),
            r.action.as_str(),
            &r.definition,
        );
    }
    errs.finish()?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        if let Some(g) = &req.signer_group_id {
            if !tx.contains::<GroupRec>(g) {
                return Err(ApiError::field(
                    "signer_group_id",
                    "not_found",
                    format!("no signer group {g} exists"),
                ));
            }
        }
        let id = tx.next_id();
        let mut rules = Vec::new();
        for r in &req.rules {
            rules.push(RuleRec {
                id: tx.next_id(),
                rule_type: r.rule_type.as_str().to_owned(),
                action: r.action.as_str().to_owned(),
                definition: r.definition.clone(),
                created_at: call.now,
            });
        }
        let rec = PolicyRec {
            id,
            client_id,
            name: req.name.clone(),
            description: req.description.clone(),
            signer_group_id: req.signer_group_id.clone(),
            version: 1,
            rules,
            created_at: call.now,
            updated_at: call.now,
        };
        let reply = Reply::created(&policy_view(&rec)?)?;
        tx.put(rec);
        Ok(reply)
    })
}

/// `GET /policies`.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let page = call.query()?.page()?;
    let body: types::ListPoliciesResponse = call.read(|t| {
        let (rows, meta) = query::records::<PolicyRec>(t, &page, |_| true)?;
        let data = rows
            .into_iter()
            .map(policy_view)
            .collect::<Result<Vec<_>, _>>()?;
        build(
            types::builder::ListPoliciesResponse::default()
                .data(data)
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

/// The path's policy id (the spec types it as a plain string: anything that is not one of
/// ours is `404`).
fn policy_id<'a>(call: &'a Call<'_>) -> &'a str {
    call.param(0)
}

/// `GET /policies/{policy_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let view = call.read(|t| {
        t.get::<PolicyRec>(id)
            .map(policy_view)
            .ok_or_else(|| ApiError::not_found("Policy", id))?
    })?;
    Reply::ok(&view)
}

/// `GET /policies/{policy_id}/wallets`.
fn wallets(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let list = call.read(|t| {
        if !t.contains::<PolicyRec>(id) {
            return Err(ApiError::not_found("Policy", id));
        }
        t.scan::<WalletRec>()
            .filter(|w| w.policies.iter().any(|p| p == id))
            .map(custody::attached_wallet_view)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// The policy as `wallet.policy.*` events show it.
fn policy_event_object(p: &PolicyRec, status: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("policy_id".into(), json!(p.id));
    o.insert("name".into(), json!(p.name));
    o.insert("version".into(), json!(p.version));
    o.insert("status".into(), json!(status));
    o
}

/// Stores a changed policy (version raised) and announces it to the wallets it governs.
fn save_changed(tx: &mut Tx<'_>, mut p: PolicyRec) -> Result<PolicyRec, ApiError> {
    let previous = p.version;
    p.version = p.version.saturating_add(1);
    p.updated_at = tx.now;
    tx.put(p.clone());
    let wallets: Vec<String> = tx
        .scan::<WalletRec>()
        .filter(|w| w.policies.contains(&p.id))
        .map(|w| w.id.clone())
        .collect();
    for w in wallets {
        let mut o = policy_event_object(&p, "rules_changed");
        o.insert("wallet_id".into(), json!(w));
        events::emit(
            tx,
            PendingEvent::new(types::EventType::WalletPolicyUpdated, o)
                .previous("version", previous),
        )?;
    }
    Ok(p)
}

/// Loads the policy and checks the intent's signatures against its signer group.
fn authorized<T>(tx: &Tx<'_>, e: &custody::Endorsed<T>, id: &str) -> Result<PolicyRec, ApiError> {
    let Some(p) = tx.get::<PolicyRec>(id).cloned() else {
        return Err(ApiError::not_found("Policy", id));
    };
    e.require(
        tx,
        &custody::policy_signers(tx, &p),
        1,
        "the policy's signer group",
    )?;
    Ok(p)
}

/// `POST /policies/{policy_id}/rules` (a signed `AddPolicyRuleIntent`).
fn add_rule(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let e = custody::endorsed::<types::AddPolicyRuleIntent>(call, IntentKind::AddPolicyRule)?;
    custody::must_match("policy_id", &e.intent.policy_id, id)?;
    let mut errs = Errors::default();
    custody::check_rule(
        &mut errs,
        "intent",
        e.intent.rule_type.as_str(),
        e.intent.action.as_str(),
        &e.intent.definition,
    );
    errs.finish()?;
    call.write(|tx| {
        let mut p = authorized(tx, &e, id)?;
        if e.applied_before(tx, StatusCode::BAD_REQUEST)?.is_some() {
            return Reply::created(&policy_view(&p)?);
        }
        if p.rules.len() >= custody::MAX_RULES {
            return Err(ApiError::field(
                "intent",
                "too_many",
                format!("a policy has at most {} rules", custody::MAX_RULES),
            ));
        }
        let rule = RuleRec {
            id: tx.next_id(),
            rule_type: e.intent.rule_type.as_str().to_owned(),
            action: e.intent.action.as_str().to_owned(),
            definition: e.intent.definition.clone(),
            created_at: call.now,
        };
        e.mark_applied(tx, &rule.id);
        p.rules.push(rule);
        let p = save_changed(tx, p)?;
        Reply::created(&policy_view(&p)?)
    })
}

/// `PATCH /policies/{policy_id}/rules/{rule_id}` (a signed `UpdatePolicyRuleIntent`; its
/// `updated_definition` is the new definition as a JSON string).
fn update_rule(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let rule_id = call.param(1);
    let e = custody::endorsed::<types::UpdatePolicyRuleIntent>(call, IntentKind::UpdatePolicyRule)?;
    custody::must_match("policy_id", &e.intent.policy_id, id)?;
    custody::must_match("rule_id", &e.intent.rule_id, rule_id)?;
    let definition = match serde_json::from_str::<Value>(&e.intent.updated_definition) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(ApiError::field(
                "intent.updated_definition",
                "invalid_format",
                "updated_definition must be a JSON object written as a string",
            ))
        }
    };
    call.write(|tx| {
        let mut p = authorized(tx, &e, id)?;
        let Some(pos) = p.rules.iter().position(|r| r.id == rule_id) else {
            return Err(ApiError::not_found("Policy rule", rule_id));
        };
        if e.applied_before(tx, StatusCode::BAD_REQUEST)?.is_some() {
            return Reply::ok(&policy_view(&p)?);
        }
        let mut errs = Errors::default();
        let (rule_type, action) = (p.rules[pos].rule_type.clone(), p.rules[pos].action.clone());
        custody::check_rule(
            &mut errs,
            "intent.updated_definition",
            &rule_type,
            &action,
            &definition,
        );
        // Field names under `updated_definition` carry the rule type's keys only.
        for f in &mut errs.0 {
            f.field = f.field.replace(
                "intent.updated_definition.definition",
                "intent.updated_definition",
            );
        }
        errs.finish()?;
        p.rules[pos].definition = definition.clone();
        e.mark_applied(tx, rule_id);
        let p = save_changed(tx, p)?;
        Reply::ok(&policy_view(&p)?)
    })
}

/// `DELETE /policies/{policy_id}/rules/{rule_id}` (a signed `RemovePolicyRuleIntent`).
fn delete_rule(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let rule_id = call.param(1);
    let e = custody::endorsed::<types::RemovePolicyRuleIntent>(call, IntentKind::RemovePolicyRule)?;
    custody::must_match("policy_id", &e.intent.policy_id, id)?;
    custody::must_match("rule_id", &e.intent.rule_id, rule_id)?;
    call.write(|tx| {
        let mut p = authorized(tx, &e, id)?;
        if e.applied_before(tx, StatusCode::BAD_REQUEST)?.is_some() {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let Some(pos) = p.rules.iter().position(|r| r.id == rule_id) else {
            return Err(ApiError::not_found("Policy rule", rule_id));
        };
        p.rules.remove(pos);
        e.mark_applied(tx, rule_id);
        save_changed(tx, p)?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Detaches the policy from one wallet and announces it.
fn detach_from(tx: &mut Tx<'_>, w: &WalletRec, p: &PolicyRec) -> Result<(), ApiError> {
    let mut next = w.clone();
    next.policies.retain(|x| *x != p.id);
    tx.put(next.clone());
    custody::announce_relation(
        tx,
        w,
        &next,
        types::EventType::WalletPolicyUpdated,
        policy_event_object(p, "detached"),
    )
}

/// `DELETE /policies/{policy_id}` (a signed `DeletePolicyIntent`): detached from every wallet,
/// then deleted.
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = policy_id(call);
    let e = custody::endorsed::<types::DeletePolicyIntent>(call, IntentKind::DeletePolicy)?;
    custody::must_match("policy_id", &e.intent.policy_id, id)?;
    call.write(|tx| {
        let p = authorized(tx, &e, id)?;
        let governed: Vec<WalletRec> = tx
            .scan::<WalletRec>()
            .filter(|w| w.policies.contains(&p.id))
            .cloned()
            .collect();
        for w in &governed {
            detach_from(tx, w, &p)?;
        }
        tx.delete::<PolicyRec>(&p.id);
        e.mark_applied(tx, &p.id);
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Loads wallet and policy for a wallet intent and checks its signatures against the
/// wallet's signer groups.
fn wallet_and_policy<T>(
    tx: &Tx<'_>,
    e: &custody::Endorsed<T>,
    policy: &str,
    wallet: &str,
) -> Result<(WalletRec, PolicyRec), ApiError> {
    let Some(p) = tx.get::<PolicyRec>(policy).cloned() else {
        return Err(ApiError::not_found("Policy", policy));
    };
    let Some(w) = tx.get::<WalletRec>(wallet).cloned() else {
        return Err(ApiError::not_found("Wallet", wallet));
    };
    e.require(
        tx,
        &custody::wallet_signers(tx, &w),
        custody::wallet_min_approvals(tx, &w),
        "the wallet's signer groups",
    )?;
    Ok((w, p))
}

/// `PUT /policies/{policy_id}/wallets/{wallet_id}` (a signed `AttachPolicyToWalletIntent`).
fn attach(call: &Call<'_>) -> Result<Reply, ApiError> {
    let policy = policy_id(call);
    let wallet = call.id_param(1, "wallet_id")?;
    let e = custody::endorsed::<types::AttachPolicyToWalletIntent>(
        call,
        IntentKind::AttachPolicyToWallet,
    )?;
    custody::must_match("policy_id", &e.intent.policy_id, policy)?;
    custody::must_match("wallet_id", &e.intent.wallet_id, wallet)?;
    call.write(|tx| {
        let (w, p) = wallet_and_policy(tx, &e, policy, wallet)?;
        if e.applied_before(tx, StatusCode::CONFLICT)?.is_some() || w.policies.contains(&p.id) {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let mut next = w.clone();
        next.policies.push(p.id.clone());
        tx.put(next.clone());
        e.mark_applied(tx, &p.id);
        custody::announce_relation(
            tx,
            &w,
            &next,
            types::EventType::WalletPolicyCreated,
            policy_event_object(&p, "attached"),
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// `DELETE /policies/{policy_id}/wallets/{wallet_id}` (a signed
/// `DetachPolicyFromWalletIntent`).
fn detach(call: &Call<'_>) -> Result<Reply, ApiError> {
    let policy = policy_id(call);
    let wallet = call.id_param(1, "wallet_id")?;
    let e = custody::endorsed::<types::DetachPolicyFromWalletIntent>(
        call,
        IntentKind::DetachPolicyFromWallet,
    )?;
    custody::must_match("policy_id", &e.intent.policy_id, policy)?;
    custody::must_match("wallet_id", &e.intent.wallet_id, wallet)?;
    call.write(|tx| {
        let (w, p) = wallet_and_policy(tx, &e, policy, wallet)?;
        if e.applied_before(tx, StatusCode::CONFLICT)?.is_some() {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        if !w.policies.contains(&p.id) {
            return Err(ApiError::not_found("Policy of this wallet", policy));
        }
        detach_from(tx, &w, &p)?;
        e.mark_applied(tx, &p.id);
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}
