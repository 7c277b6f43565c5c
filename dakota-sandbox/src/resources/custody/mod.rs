//! Non-custodial wallets and what governs them: signers, signer groups, policies with their
//! rules, wallets with their balances and transactions. The records and the rules shared by
//! the signer-groups, policies and wallets areas (and the agentic payments that pay from
//! wallets) live here; each area serves its operations over them.
//!
//! # Endorsed requests
//!
//! Changes to a wallet or a policy come as an `EndorsedRequest`: an intent and signatures over
//! its canonical JSON (see [`keys`]). The sandbox checks, before anything changes:
//!
//! * the intent's `type` fits the operation (a `SendTransactionIntent` has no `type`), its ids
//!   match the path, and its fields are well formed (`400` otherwise);
//! * enough distinct signers sign it (`403` otherwise): for a wallet intent, members of a
//!   signer group attached to the wallet, as many as the largest `min_approvals` of an
//!   `approval_threshold` rule (action `allow`) of the wallet's policies (1 without one); for a
//!   policy intent, one member of the policy's signer group (any registered signer when the
//!   policy has none). Signers of revoked payment agents sign nothing;
//! * the intent's `idempotency_key` was not used before with a different intent (an identical
//!   intent is applied once and answered again).
//!
//! # Policies
//!
//! Rules, checked on every wallet transaction (a denial is `403`):
//!
//! | `rule_type` | `definition` | matches when |
//! |---|---|---|
//! | `address_list` | `{"addresses": [..]}` | the destination is listed; with `allow` rules present, a destination none of them lists is denied |
//! | `amount_threshold` | `{"amount": "25000", "currency": "USD"}` | the amount (its USD value for `USD`, else the amount of a token whose asset is `currency`) exceeds `amount` |
//! | `approval_threshold` | `{"min_approvals": 2}` | always: the intent needs that many signers |

pub(crate) mod chain;
pub(crate) mod keys;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::onboarding::{self, AppRec, CustomerRec};
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::validate::Errors;
use crate::pipeline::{typed, Call};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, TimerDef, Tx};

/// A registered signer (a public key).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SignerRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    /// The key as registered.
    pub(crate) public_key: String,
    /// The key as compared ([`keys::normalize`]).
    pub(crate) key: String,
    pub(crate) key_type: types::SignerKeyType,
    /// The payment agent this signer belongs to, if any.
    pub(crate) agent_id: Option<String>,
    /// Set when its agent is revoked: it signs nothing any more.
    pub(crate) revoked: bool,
}

impl Record for SignerRec {
    const KIND: &'static str = "signer";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Index of signers by normalized key (the record id is the key).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SignerKey {
    pub(crate) key: String,
    pub(crate) signer_id: String,
}

impl Record for SignerKey {
    const KIND: &'static str = "signer_key";
    fn id(&self) -> &str {
        &self.key
    }
}

/// A signer group.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct GroupRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    /// Signer ids, in the order they joined.
    pub(crate) members: Vec<String>,
}

impl Record for GroupRec {
    const KIND: &'static str = "signer_group";
    fn id(&self) -> &str {
        &self.id
    }
}

/// One rule of a policy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RuleRec {
    pub(crate) id: String,
    pub(crate) rule_type: String,
    pub(crate) action: String,
    pub(crate) definition: Map<String, Value>,
    pub(crate) created_at: DateTime<Utc>,
}

/// A policy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PolicyRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) signer_group_id: Option<String>,
    pub(crate) version: i32,
    pub(crate) rules: Vec<RuleRec>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl Record for PolicyRec {
    const KIND: &'static str = "policy";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A wallet, its governance and its holdings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WalletRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) family: types::Family,
    pub(crate) address: String,
    pub(crate) customer_id: Option<String>,
    /// Attached signer group ids, in attach order.
    pub(crate) groups: Vec<String>,
    /// Attached policy ids, in attach order.
    pub(crate) policies: Vec<String>,
    pub(crate) created_at: DateTime<Utc>,
    /// Holdings by [`balance_key`].
    pub(crate) balances: BTreeMap<String, Decimal>,
}

impl Record for WalletRec {
    const KIND: &'static str = "wallet";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Index of wallets by address ([`chain::address_key`]; the record id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WalletAddress {
    pub(crate) address: String,
    pub(crate) wallet_id: String,
}

impl Record for WalletAddress {
    const KIND: &'static str = "wallet_address";
    fn id(&self) -> &str {
        &self.address
    }
}

/// The key of a holding in [`WalletRec::balances`].
pub(crate) fn balance_key(network: &types::NetworkId, symbol: &str) -> String {
    format!("{}|{}", network.as_str(), symbol.to_ascii_uppercase())
}

/// A wallet transaction.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WalletTxRec {
    pub(crate) id: String,
    pub(crate) wallet_id: String,
    pub(crate) network: types::NetworkId,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) hash: String,
    pub(crate) kind: types::WalletTransactionType,
    pub(crate) amount: Option<Decimal>,
    /// Token symbol moved by a transfer.
    pub(crate) symbol: Option<String>,
    pub(crate) status: types::TransactionStatus,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) confirmed_at: Option<DateTime<Utc>>,
    /// When the chain confirms it (the lifecycle timer).
    pub(crate) due: DateTime<Utc>,
    pub(crate) failure: Option<String>,
}

impl Record for WalletTxRec {
    const KIND: &'static str = "wallet_transaction";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Wallet transactions not confirmed yet (the record id is the transaction id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PendingWalletTx {
    pub(crate) id: String,
}

impl Record for PendingWalletTx {
    const KIND: &'static str = "pending_wallet_transaction";
    fn id(&self) -> &str {
        &self.id
    }
}

/// An intent already applied, by its `idempotency_key` (the record id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct IntentRec {
    pub(crate) key: String,
    /// SHA-256 of the intent's canonical JSON.
    pub(crate) digest: String,
    /// What applying it produced (e.g. the wallet transaction id).
    pub(crate) result: String,
}

impl Record for IntentRec {
    const KIND: &'static str = "applied_intent";
    fn id(&self) -> &str {
        &self.key
    }
}

// ----- views -----

/// The spec's `Signer`.
pub(crate) fn signer_view(s: &SignerRec) -> Result<types::Signer, ApiError> {
    build(
        types::builder::Signer::default()
            .client_id(Some(ids::ksuid(&s.client_id)))
            .id(ids::ksuid(&s.id))
            .key_type(s.key_type.clone())
            .name(s.name.clone())
            .public_key(s.public_key.clone()),
    )
}

/// The spec's `SignerGroup` with its members.
pub(crate) fn group_view(t: &Tables, g: &GroupRec) -> Result<types::SignerGroup, ApiError> {
    let members = g
        .members
        .iter()
        .filter_map(|m| t.get::<SignerRec>(m))
        .map(signer_view)
        .collect::<Result<Vec<_>, _>>()?;
    build(
        types::builder::SignerGroup::default()
            .client_id(ids::ksuid(&g.client_id))
            .id(ids::ksuid(&g.id))
            .members(members)
            .name(g.name.clone()),
    )
}

/// The spec's `PolicyRule`.
pub(crate) fn rule_view(policy_id: &str, r: &RuleRec) -> Result<types::PolicyRule, ApiError> {
    build(
        types::builder::PolicyRule::default()
            .action(types::PolicyRuleAction::from(r.action.as_str()))
            .created_at(r.created_at.timestamp())
            .definition(r.definition.clone())
            .id(r.id.clone())
            .policy_id(policy_id.to_owned())
            .rule_type(types::PolicyRuleRuleType::from(r.rule_type.as_str())),
    )
}

/// The spec's `Policy` with its rules.
pub(crate) fn policy_view(p: &PolicyRec) -> Result<types::Policy, ApiError> {
    let rules = p
        .rules
        .iter()
        .map(|r| rule_view(&p.id, r))
        .collect::<Result<Vec<_>, _>>()?;
    build(
        types::builder::Policy::default()
            .client_id(Some(ids::ksuid(&p.client_id)))
            .created_at(p.created_at.timestamp())
            .description(p.description.clone())
            .id(p.id.clone())
            .name(p.name.clone())
            .rules(rules)
            .signer_group_id(p.signer_group_id.clone())
            .updated_at(p.updated_at.timestamp())
            .version(p.version),
    )
}

/// The spec's `Wallet`.
pub(crate) fn wallet_view(t: &Tables, w: &WalletRec) -> Result<types::Wallet, ApiError> {
    let customer_name = w
        .customer_id
        .as_ref()
        .and_then(|c| t.get::<CustomerRec>(c))
        .map(|c| c.name.clone());
    build(
        types::builder::Wallet::default()
            .address(w.address.clone())
            .client_id(ids::ksuid(&w.client_id))
            .created_at(Some(w.created_at.timestamp()))
            .customer_id(w.customer_id.as_deref().map(ids::ksuid))
            .customer_name(customer_name)
            .family(w.family.clone())
            .id(ids::ksuid(&w.id))
            .name(w.name.clone()),
    )
}

/// The spec's `AttachedWallet`.
pub(crate) fn attached_wallet_view(w: &WalletRec) -> Result<types::AttachedWallet, ApiError> {
    build(
        types::builder::AttachedWallet::default()
            .family(w.family.clone())
            .id(ids::ksuid(&w.id))
            .name(w.name.clone()),
    )
}

/// The spec's `WalletTransaction`.
pub(crate) fn wallet_tx_view(w: &WalletTxRec) -> Result<types::WalletTransaction, ApiError> {
    let asset = w
        .symbol
        .as_deref()
        .and_then(|s| chain::token(s, &w.network))
        .and_then(|t| types::Asset::try_from(t.asset).ok());
    build(
        types::builder::WalletTransaction::default()
            .amount(w.amount.map(chain::fmt_amount))
            .asset(asset)
            .confirmed_at(w.confirmed_at.map(|t| t.timestamp()))
            .created_at(Some(w.created_at.timestamp()))
            .from(Some(w.from.clone()))
            .id(ids::ksuid(&w.id))
            .network_id(Some(w.network.clone()))
            .resource_type(types::WalletTransactionResourceType::Wallet)
            .status(w.status.clone())
            .to(Some(w.to.clone()))
            .transaction_hash(Some(w.hash.clone()))
            .transaction_type(Some(w.kind.clone()))
            .wallet_id(ids::ksuid(&w.wallet_id)),
    )
}

/// A generated value as a JSON object (an event's `data.object`).
pub(crate) fn object<T: serde::Serialize>(v: &T) -> Result<Map<String, Value>, ApiError> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::internal("an event object is not a JSON object")),
        Err(e) => Err(ApiError::internal(format!(
            "could not encode an event object: {e}"
        ))),
    }
}

// ----- lookups -----

/// The signer registered under this key (any spelling of it).
pub(crate) fn signer_by_key<'t>(t: &'t Tables, key: &str) -> Option<&'t SignerRec> {
    let k = keys::normalize(key);
    t.get::<SignerKey>(&k)
        .and_then(|i| t.get::<SignerRec>(&i.signer_id))
}

/// Signer ids of every member of these groups, without repeats.
pub(crate) fn members_of(t: &Tables, groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups.iter().filter_map(|g| t.get::<GroupRec>(g)) {
        for m in &g.members {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
}

/// Wallets with a signer group that lists this signer.
pub(crate) fn wallets_of_signer(t: &Tables, signer_id: &str) -> Vec<String> {
    let groups: Vec<&str> = t
        .scan::<GroupRec>()
        .filter(|g| g.members.iter().any(|m| m == signer_id))
        .map(|g| g.id.as_str())
        .collect();
    t.scan::<WalletRec>()
        .filter(|w| w.groups.iter().any(|g| groups.contains(&g.as_str())))
        .map(|w| w.id.clone())
        .collect()
}

/// A customer that must be approved to move money: `403` unless its KYB status is `active`
/// (its due onboarding transitions are applied first); `404` when it does not exist.
pub(crate) fn require_active_customer(tx: &mut Tx<'_>, customer_id: &str) -> Result<(), ApiError> {
    let Some(app_id) = tx
        .get::<CustomerRec>(customer_id)
        .map(|c| c.application_id.clone())
    else {
        return Err(ApiError::not_found("Customer", customer_id));
    };
    onboarding::advance(tx, &app_id)?;
    let status = tx
        .get::<AppRec>(&app_id)
        .map(|a| a.kyb_status.clone())
        .unwrap_or(types::KybStatus::Pending);
    if matches!(status, types::KybStatus::Active) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Customer {customer_id} is not approved (kyb_status {}): it cannot move money until its onboarding is approved",
            status.as_str()
        )))
    }
}

// ----- endorsed requests -----

/// The kinds of intent an `EndorsedRequest` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntentKind {
    SendTransaction,
    AttachGroupToWallet,
    DetachGroupFromWallet,
    AttachPolicyToWallet,
    DetachPolicyFromWallet,
    AddPolicyRule,
    RemovePolicyRule,
    UpdatePolicyRule,
    DeletePolicy,
}

impl IntentKind {
    fn type_name(self) -> &'static str {
        match self {
            IntentKind::SendTransaction => "(none: a SendTransactionIntent)",
            IntentKind::AttachGroupToWallet => "attach_group_to_wallet",
            IntentKind::DetachGroupFromWallet => "detach_group_from_wallet",
            IntentKind::AttachPolicyToWallet => "attach_policy_to_wallet",
            IntentKind::DetachPolicyFromWallet => "detach_policy_from_wallet",
            IntentKind::AddPolicyRule => "add_policy_rule",
            IntentKind::RemovePolicyRule => "remove_policy_rule",
            IntentKind::UpdatePolicyRule => "update_policy_rule",
            IntentKind::DeletePolicy => "delete_policy",
        }
    }

    fn of(type_: Option<&str>) -> Option<Self> {
        Some(match type_ {
            None => IntentKind::SendTransaction,
            Some("attach_group_to_wallet") => IntentKind::AttachGroupToWallet,
            Some("detach_group_from_wallet") => IntentKind::DetachGroupFromWallet,
            Some("attach_policy_to_wallet") => IntentKind::AttachPolicyToWallet,
            Some("detach_policy_from_wallet") => IntentKind::DetachPolicyFromWallet,
            Some("add_policy_rule") => IntentKind::AddPolicyRule,
            Some("remove_policy_rule") => IntentKind::RemovePolicyRule,
            Some("update_policy_rule") => IntentKind::UpdatePolicyRule,
            Some("delete_policy") => IntentKind::DeletePolicy,
            Some(_) => return None,
        })
    }
}

/// A parsed `EndorsedRequest` whose intent is of the kind the operation takes.
#[derive(Debug, Clone)]
pub(crate) struct Endorsed<T> {
    /// The intent as the generated type.
    pub(crate) intent: T,
    /// The intent as sent (what was signed).
    pub(crate) raw: Value,
    pub(crate) signatures: Vec<String>,
    pub(crate) idempotency_key: String,
}

/// Most signatures accepted on one request.
const MAX_SIGNATURES: usize = 32;

/// Parses the body as an `EndorsedRequest` carrying an intent of `kind`.
pub(crate) fn endorsed<T: serde::de::DeserializeOwned>(
    call: &Call<'_>,
    kind: IntentKind,
) -> Result<Endorsed<T>, ApiError> {
    let body = call.json()?;
    let obj = crate::pipeline::validate::object(&body)?;
    let mut errs = Errors::default();
    let signatures: Vec<String> = match obj.get("signatures") {
        None => {
            errs.push("signatures", "required", "signatures is required");
            Vec::new()
        }
        Some(Value::Array(items)) => {
            if items.len() > MAX_SIGNATURES {
                errs.push(
                    "signatures",
                    "too_many",
                    format!("at most {MAX_SIGNATURES} signatures"),
                );
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        errs.push(
                            format!("signatures[{i}]"),
                            "invalid_type",
                            "must be a string",
                        );
                        None
                    }
                })
                .collect()
        }
        Some(_) => {
            errs.push(
                "signatures",
                "invalid_type",
                "signatures must be an array of strings",
            );
            Vec::new()
        }
    };
    let raw = match obj.get("intent") {
        None => {
            errs.push("intent", "required", "intent is required");
            None
        }
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            errs.push("intent", "invalid_type", "intent must be an object");
            None
        }
    };
    errs.finish()?;
    let Some(raw) = raw else {
        return Err(ApiError::field("intent", "required", "intent is required"));
    };
    let type_ = raw.get("type").and_then(Value::as_str);
    let got = IntentKind::of(type_);
    if got != Some(kind) {
        return Err(ApiError::field(
            "intent.type",
            "invalid_value",
            format!(
                "this operation takes an intent of type {} (got {})",
                kind.type_name(),
                type_.unwrap_or("none")
            ),
        ));
    }
    let intent: T = typed(raw.clone()).map_err(|mut e| {
        for f in &mut e.errors {
            f.field = format!("intent.{}", f.field);
        }
        e
    })?;
    let idempotency_key = raw
        .get("idempotency_key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if idempotency_key.trim().is_empty() || idempotency_key.len() > 255 {
        return Err(ApiError::field(
            "intent.idempotency_key",
            "invalid_value",
            "the intent's idempotency_key must be 1-255 characters",
        ));
    }
    Ok(Endorsed {
        intent,
        raw,
        signatures,
        idempotency_key,
    })
}

/// The intent's id fields must name the resources of the path.
pub(crate) fn must_match(field: &str, got: &str, want: &str) -> Result<(), ApiError> {
    if got == want {
        Ok(())
    } else {
        Err(ApiError::field(
            format!("intent.{field}"),
            "mismatch",
            format!("the intent names {got}, the path {want}"),
        ))
    }
}

impl<T> Endorsed<T> {
    /// SHA-256 (hex) of the intent's canonical JSON.
    pub(crate) fn digest(&self) -> String {
        hex::encode(Sha256::digest(keys::canonical_json(&self.raw).as_bytes()))
    }

    /// Distinct signers among `eligible` (signer ids) with a valid signature of the intent.
    pub(crate) fn signers(&self, t: &Tables, eligible: &[String]) -> Vec<String> {
        let message = keys::canonical_json(&self.raw);
        let mut out: Vec<String> = Vec::new();
        for sig in &self.signatures {
            for id in eligible {
                if out.contains(id) {
                    continue;
                }
                let Some(s) = t.get::<SignerRec>(id).filter(|s| !s.revoked) else {
                    continue;
                };
                let Some(key) = keys::parse_public_key(&s.key) else {
                    continue;
                };
                if keys::verifies(&key, message.as_bytes(), sig) {
                    out.push(id.clone());
                    break;
                }
            }
        }
        out
    }

    /// `403` unless at least `min` distinct signers of `eligible` signed the intent.
    pub(crate) fn require(
        &self,
        t: &Tables,
        eligible: &[String],
        min: usize,
        whose: &str,
    ) -> Result<Vec<String>, ApiError> {
        let got = self.signers(t, eligible);
        if got.len() >= min.max(1) {
            Ok(got)
        } else {
            Err(ApiError::forbidden(format!(
                "Signatures are missing or invalid: {} valid signature(s) from {whose}, {} needed",
                got.len(),
                min.max(1)
            )))
        }
    }

    /// Whether this intent was applied before: `Some(result)` for the same intent, `409`-style
    /// `conflict` for another intent under the same key (`status` picks the documented code).
    pub(crate) fn applied_before(
        &self,
        t: &Tables,
        status: StatusCode,
    ) -> Result<Option<String>, ApiError> {
        let Some(prev) = t.get::<IntentRec>(&self.idempotency_key) else {
            return Ok(None);
        };
        if prev.digest == self.digest() {
            Ok(Some(prev.result.clone()))
        } else {
            let detail =
                "An intent with this idempotency key was already relayed with different content";
            Err(if status == StatusCode::CONFLICT {
                ApiError::conflict(detail)
            } else {
                ApiError::field("intent.idempotency_key", "reused", detail)
            })
        }
    }

    /// Records the intent as applied, with what it produced.
    pub(crate) fn mark_applied(&self, tx: &mut Tx<'_>, result: &str) {
        tx.put(IntentRec {
            key: self.idempotency_key.clone(),
            digest: self.digest(),
            result: result.to_owned(),
        });
    }
}

/// Signers eligible for a wallet intent: members of its signer groups.
pub(crate) fn wallet_signers(t: &Tables, w: &WalletRec) -> Vec<String> {
    members_of(t, &w.groups)
}

/// Signatures a wallet intent needs: the largest `min_approvals` of an `approval_threshold`
/// rule (action `allow`) of the wallet's policies, at least 1.
pub(crate) fn wallet_min_approvals(t: &Tables, w: &WalletRec) -> usize {
    w.policies
        .iter()
        .filter_map(|p| t.get::<PolicyRec>(p))
        .flat_map(|p| p.rules.iter())
        .filter(|r| r.rule_type == "approval_threshold" && r.action == "allow")
        .filter_map(|r| r.definition.get("min_approvals").and_then(Value::as_u64))
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .max()
        .unwrap_or(1)
        .max(1)
}

/// Signers eligible for a policy intent: its signer group's members, or every signer of the
/// organization when it has no group.
pub(crate) fn policy_signers(t: &Tables, p: &PolicyRec) -> Vec<String> {
    match &p.signer_group_id {
        Some(g) => members_of(t, std::slice::from_ref(g)),
        None => t.scan::<SignerRec>().map(|s| s.id.clone()).collect(),
    }
}

// ----- rules -----

/// Rule types and actions the spec lists.
pub(crate) const RULE_TYPES: [&str; 3] = ["approval_threshold", "amount_threshold", "address_list"];
pub(crate) const RULE_ACTIONS: [&str; 2] = ["allow", "deny"];

/// Most addresses in one `address_list` rule, and most rules in one policy.
const MAX_RULE_ADDRESSES: usize = 1000;
pub(crate) const MAX_RULES: usize = 100;

/// Checks a rule's type, action and definition; problems go to `errs` under `field`.
pub(crate) fn check_rule(
    errs: &mut Errors,
    field: &str,
    rule_type: &str,
    action: &str,
    def: &Map<String, Value>,
) {
    if !RULE_TYPES.contains(&rule_type) {
        errs.push(
            format!("{field}.rule_type"),
            "invalid_enum",
            format!("expected one of: {}", RULE_TYPES.join(", ")),
        );
        return;
    }
    if !RULE_ACTIONS.contains(&action) {
        errs.push(
            format!("{field}.action"),
            "invalid_enum",
            "expected allow or deny",
        );
    }
    let d = format!("{field}.definition");
    match rule_type {
        "address_list" => match def.get("addresses") {
            Some(Value::Array(a))
                if !a.is_empty()
                    && a.len() <= MAX_RULE_ADDRESSES
                    && a.iter()
                        .all(|x| x.as_str().is_some_and(|s| !s.trim().is_empty())) => {}
            _ => errs.push(
                format!("{d}.addresses"),
                "invalid_value",
                format!("addresses must list 1 to {MAX_RULE_ADDRESSES} non-empty addresses"),
            ),
        },
        "amount_threshold" => {
            match def.get("amount").and_then(Value::as_str) {
                Some(a) if chain::parse_amount(a).is_some() => {}
                _ => errs.push(
                    format!("{d}.amount"),
                    "invalid_value",
                    "amount must be a decimal string such as \"25000\"",
                ),
            }
            match def.get("currency") {
                None => {}
                Some(Value::String(c))
                    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {}
                Some(_) => errs.push(
                    format!("{d}.currency"),
                    "invalid_value",
                    "currency must be a three-letter upper-case code",
                ),
            }
        }
        _ => match def.get("min_approvals").and_then(Value::as_u64) {
            Some(n) if (1..=100).contains(&n) => {}
            _ => errs.push(
                format!("{d}.min_approvals"),
                "invalid_value",
                "min_approvals must be an integer between 1 and 100",
            ),
        },
    }
}

/// What a policy check looks at in a wallet operation.
#[derive(Debug, Clone)]
pub(crate) struct OpFacts {
    pub(crate) to: String,
    pub(crate) amount: Option<Decimal>,
    pub(crate) token: Option<chain::Token>,
}

/// Checks the wallet's policies against an operation: `403` naming the rule that denies it.
pub(crate) fn evaluate(t: &Tables, w: &WalletRec, op: &OpFacts) -> Result<(), ApiError> {
    let to = chain::address_key(&op.to);
    let deny = |p: &PolicyRec, r: &RuleRec, why: &str| {
        ApiError::forbidden(format!(
            "Policy {} ({}) denied the operation: rule {} {why}",
            p.id, p.name, r.id
        ))
    };
    let listed = |r: &RuleRec| {
        r.definition
            .get("addresses")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|x| chain::address_key(x) == to)
            })
    };
    let mut allowlists = 0;
    let mut allowed = false;
    for p in w.policies.iter().filter_map(|p| t.get::<PolicyRec>(p)) {
        for r in &p.rules {
            match (r.rule_type.as_str(), r.action.as_str()) {
                ("address_list", "deny") if listed(r) => {
                    return Err(deny(p, r, "lists the destination address"));
                }
                ("address_list", "allow") => {
                    allowlists += 1;
                    allowed |= listed(r);
                }
                ("amount_threshold", "deny") => {
                    let limit = r
                        .definition
                        .get("amount")
                        .and_then(Value::as_str)
                        .and_then(chain::parse_amount);
                    let currency = r
                        .definition
                        .get("currency")
                        .and_then(Value::as_str)
                        .unwrap_or("USD");
                    let value = match (op.amount, op.token) {
                        (Some(a), Some(tok)) if currency == "USD" => Some(tok.usd_value(a)),
                        (Some(a), Some(tok)) if tok.asset == currency => Some(a),
                        _ => None,
                    };
                    if let (Some(limit), Some(v)) = (limit, value) {
                        if v > limit {
                            return Err(deny(
                                p,
                                r,
                                &format!("caps one operation at {limit} {currency}"),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if allowlists > 0 && !allowed {
        return Err(ApiError::forbidden(format!(
            "A policy of wallet {} only allows listed destinations, and {} is not listed",
            w.id, op.to
        )));
    }
    Ok(())
}

// ----- wallet events and balances -----

/// The wallet as `wallet.*` events show it: the `Wallet` plus its signer group and policy ids.
pub(crate) fn wallet_snapshot(t: &Tables, w: &WalletRec) -> Result<Map<String, Value>, ApiError> {
    let mut o = object(&wallet_view(t, w)?)?;
    o.insert("signer_group_ids".into(), json!(w.groups));
    o.insert("policy_ids".into(), json!(w.policies));
    Ok(o)
}

/// Announces a change of a wallet's signer groups or policies: the relation event
/// (`wallet.signer_group.*` or `wallet.policy.*`) and `wallet.updated` with the previous ids.
pub(crate) fn announce_relation(
    tx: &mut Tx<'_>,
    before: &WalletRec,
    after: &WalletRec,
    relation: types::EventType,
    related: Map<String, Value>,
) -> Result<(), ApiError> {
    let mut rel = related;
    rel.insert("wallet_id".into(), json!(after.id));
    events::emit(tx, PendingEvent::new(relation, rel))?;
    let snapshot = wallet_snapshot(tx, after)?;
    let mut e = PendingEvent::new(types::EventType::WalletUpdated, snapshot);
    if before.groups != after.groups {
        e = e.previous("signer_group_ids", json!(before.groups));
    }
    if before.policies != after.policies {
        e = e.previous("policy_ids", json!(before.policies));
    }
    events::emit(tx, e)
}

/// Adds `amount` of `symbol` on `network` to the wallet at `address`, announcing
/// `wallet.deposit`; `Ok(None)` when no sandbox wallet has that address.
pub(crate) fn deposit(
    tx: &mut Tx<'_>,
    address: &str,
    network: &types::NetworkId,
    symbol: &str,
    amount: Decimal,
    from: Option<&str>,
    transaction_id: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(wallet_id) = tx
        .get::<WalletAddress>(&chain::address_key(address))
        .map(|a| a.wallet_id.clone())
    else {
        return Ok(None);
    };
    let Some(mut w) = tx.get::<WalletRec>(&wallet_id).cloned() else {
        return Ok(None);
    };
    if chain::family_of(network) != w.family {
        return Ok(None);
    }
    let key = balance_key(network, symbol);
    let held = w.balances.get(&key).copied().unwrap_or_default();
    let now_held = held
        .checked_add(amount)
        .ok_or_else(|| ApiError::field("amount", "out_of_range", "the balance would overflow"))?;
    w.balances.insert(key, now_held);
    let mut o = Map::new();
    o.insert("wallet_id".into(), json!(w.id));
    o.insert("address".into(), json!(w.address));
    o.insert("network_id".into(), json!(network.as_str()));
    o.insert("asset_id".into(), json!(symbol.to_ascii_uppercase()));
    o.insert("amount".into(), json!(chain::fmt_amount(amount)));
    o.insert("balance".into(), json!(chain::fmt_amount(now_held)));
    if let Some(f) = from {
        o.insert("from".into(), json!(f));
    }
    if let Some(t) = transaction_id {
        o.insert("transaction_id".into(), json!(t));
    }
    tx.put(w);
    events::emit(tx, PendingEvent::new(types::EventType::WalletDeposit, o))?;
    Ok(Some(wallet_id))
}

/// Confirms a wallet transaction on chain (its lifecycle timer): a transfer the wallet can
/// cover moves the funds (`completed`, the receiving sandbox wallet gets a `wallet.deposit`);
/// one it cannot cover fails. Announces `wallet.transaction.updated`.
pub(crate) fn confirm(tx: &mut Tx<'_>, id: &str, at: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(mut wtx) = tx.get::<WalletTxRec>(id).cloned() else {
        tx.delete::<PendingWalletTx>(id);
        return Ok(());
    };
    if !matches!(wtx.status, types::TransactionStatus::Broadcasted) {
        tx.delete::<PendingWalletTx>(id);
        return Ok(());
    }
    let previous = wtx.status.clone();
    let at = at.max(wtx.created_at);
    let mut credit: Option<(String, Decimal, String)> = None;
    match (wtx.amount, wtx.symbol.clone()) {
        (Some(amount), Some(symbol)) if amount > Decimal::ZERO => {
            let Some(mut w) = tx.get::<WalletRec>(&wtx.wallet_id).cloned() else {
                return Ok(());
            };
            let key = balance_key(&wtx.network, &symbol);
            let held = w.balances.get(&key).copied().unwrap_or_default();
            if held >= amount {
                w.balances.insert(key, held - amount);
                tx.put(w);
                wtx.status = types::TransactionStatus::Completed;
                credit = Some((wtx.to.clone(), amount, symbol));
            } else {
                wtx.status = types::TransactionStatus::Failed;
                wtx.failure = Some(format!(
                    "insufficient funds: the wallet holds {} {symbol} on {}",
                    chain::fmt_amount(held),
                    wtx.network.as_str()
                ));
            }
        }
        _ => wtx.status = types::TransactionStatus::Completed,
    }
    if matches!(wtx.status, types::TransactionStatus::Completed) {
        wtx.confirmed_at = Some(at);
    }
    tx.put(wtx.clone());
    tx.delete::<PendingWalletTx>(id);
    let mut o = object(&wallet_tx_view(&wtx)?)?;
    if let Some(f) = &wtx.failure {
        o.insert("failure_reason".into(), json!(f));
    }
    events::emit(
        tx,
        PendingEvent::new(types::EventType::WalletTransactionUpdated, o)
            .previous("status", previous.as_str()),
    )?;
    if let Some((to, amount, symbol)) = credit {
        deposit(
            tx,
            &to,
            &wtx.network,
            &symbol,
            amount,
            Some(&wtx.from),
            Some(&wtx.id),
        )?;
    }
    Ok(())
}

/// Confirms every wallet transaction that is due by `tx.now` (reads call this so balances are
/// current even before the background timer runs).
pub(crate) fn confirm_due(tx: &mut Tx<'_>) -> Result<(), ApiError> {
    let now = tx.now;
    let due: Vec<(String, DateTime<Utc>)> = tx
        .scan::<PendingWalletTx>()
        .filter_map(|p| tx.get::<WalletTxRec>(&p.id))
        .filter(|w| w.due <= now)
        .map(|w| (w.id.clone(), w.due))
        .collect();
    for (id, at) in due {
        confirm(tx, &id, at)?;
    }
    Ok(())
}

/// Records and announces a new wallet transaction (status `broadcasted`) and schedules its
/// confirmation `delay` later.
pub(crate) fn broadcast(
    tx: &mut Tx<'_>,
    wtx: WalletTxRec,
) -> Result<types::WalletTransaction, ApiError> {
    let view = wallet_tx_view(&wtx)?;
    tx.schedule(wtx.due, &wtx.id, &CONFIRM);
    tx.put(PendingWalletTx { id: wtx.id.clone() });
    tx.put(wtx);
    events::emit(
        tx,
        PendingEvent::new(types::EventType::WalletTransactionCreated, object(&view)?),
    )?;
    Ok(view)
}

/// The timer that confirms a broadcast wallet transaction on chain.
pub(crate) static CONFIRM: TimerDef = TimerDef {
    name: "wallet_transaction.confirm",
    run: confirm,
};

/// Registers the custody records (signers, groups, policies, wallets, their transactions and
/// intents) and timers (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<SignerRec>()
        .record::<SignerKey>()
        .record::<GroupRec>()
        .record::<PolicyRec>()
        .record::<WalletRec>()
        .record::<WalletAddress>()
        .record::<WalletTxRec>()
        .record::<PendingWalletTx>()
        .record::<IntentRec>()
        .timer(&CONFIRM);
}
