//! Agentic payments: payment agents, their proposals and instructions, mandates, scheduled
//! payments and customer insights. The records and rules they share live here; each
//! operation group has its module.
//!
//! * A **payment agent** pays for one customer. The sandbox makes it a hosted P-256 signer
//!   (the private half is not kept: the sandbox signs for it). It is `pending` until a signer
//!   group holding its signer governs a wallet, `active` then, `revoked` for good after
//!   `POST /payment-agents/{id}/revoke` (its signer signs nothing any more).
//! * **Payees** (recipients and destinations made by instructions) belong to the agent's
//!   customer; mandates and drafts find them by id or by name.
//! * A **mandate** binds the agent's signer to a rule; a recognized signer other than the
//!   bound one approves or cancels it by signing the **mandate payload**: the canonical JSON
//!   (see [`super::custody::keys`]) of the mandate's `id`, `bound_signer_id`, `rule`,
//!   `valid_from` and `valid_until` as `GET /mandates/{mandate_id}` shows them.
//! * A **scheduled payment** runs when due (a lifecycle timer; reads apply due ones too): it
//!   needs the agent not revoked, its customer approved, an active mandate whose rule covers
//!   it (the one drafted with it, else any of the signer's), the agent's signer on the funding
//!   wallet, the funds, and the wallet's policies' consent. It then relays a wallet
//!   transaction (`wallet.transaction.created`) and reads `executed`; otherwise `failed` with
//!   the reason. A payment drafted with a mandate that is still pending waits for its
//!   approval, then runs at once if overdue. A mandate whose drafted payments have all ended
//!   reads `done`.
//! * Drafting and chat are allowed 30 turns an hour and 200 a day per customer (`429` with
//!   `Retry-After` beyond).

pub(crate) mod agents;
pub(crate) mod drafting;
pub(crate) mod insights;
pub(crate) mod instructions;
pub(crate) mod mandates;
pub(crate) mod payments;

use chrono::{DateTime, Utc};
use dakota_api::types;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::custody::{self, chain, GroupRec, SignerRec};
use super::onboarding::CustomerRec;
use crate::pipeline::{Call, Registry};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

/// Registers every agentic-payments operation.
pub(crate) fn routes(r: &mut Registry) {
    agents::routes(r);
    mandates::routes(r);
    instructions::routes(r);
    payments::routes(r);
    insights::routes(r);
}

/// A payment agent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AgentRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) name: String,
    pub(crate) signer_id: String,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl Record for AgentRec {
    const KIND: &'static str = "payment_agent";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A payee (a recipient made by an instruction).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PayeeRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) name: String,
}

impl Record for PayeeRec {
    const KIND: &'static str = "agentic_recipient";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Where a destination pays out.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum DestKind {
    Crypto {
        address: String,
        network: types::NetworkId,
    },
    Bank {
        label: String,
        rail: String,
    },
}

/// A payee's destination.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DestRec {
    pub(crate) id: String,
    pub(crate) payee_id: String,
    pub(crate) kind: DestKind,
}

impl Record for DestRec {
    const KIND: &'static str = "agentic_destination";
    fn id(&self) -> &str {
        &self.id
    }
}

/// An auto-account made by an instruction: pays `destination_id` from a deposit address.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AutoAccountRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) destination_id: String,
    pub(crate) source_asset: String,
    pub(crate) source_network: types::NetworkId,
    pub(crate) output_asset: String,
    pub(crate) rail: Option<String>,
    pub(crate) deposit_address: String,
}

impl Record for AutoAccountRec {
    const KIND: &'static str = "agentic_auto_account";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A mandate (its stored status; `expired` is how a pending or active one past
/// `valid_until` reads).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct MandateRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) bound_signer_id: String,
    pub(crate) rule: types::MandateRule,
    pub(crate) valid_from: i64,
    pub(crate) valid_until: Option<i64>,
    pub(crate) status: types::MandateStatus,
    pub(crate) approved_by: Option<String>,
    pub(crate) approved_at: Option<i64>,
    pub(crate) rejected_by: Option<String>,
    pub(crate) revoked_by: Option<String>,
    pub(crate) instruction_id: Option<String>,
}

impl Record for MandateRec {
    const KIND: &'static str = "mandate";
    fn id(&self) -> &str {
        &self.id
    }
}

impl MandateRec {
    /// Whether it has passed `valid_until` at `now`.
    pub(crate) fn past(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_some_and(|u| now.timestamp() > u)
    }

    /// The status as read at `now`.
    pub(crate) fn status_at(&self, now: DateTime<Utc>) -> types::MandateStatus {
        match self.status {
            types::MandateStatus::Pending | types::MandateStatus::Active if self.past(now) => {
                types::MandateStatus::Expired
            }
            ref s => s.clone(),
        }
    }

    /// Whether it authorizes payments at `now`.
    pub(crate) fn in_force(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status_at(now), types::MandateStatus::Active)
            && now.timestamp() >= self.valid_from
    }

    /// The payload signers sign to approve or cancel it.
    pub(crate) fn payload(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("bound_signer_id".into(), json!(self.bound_signer_id));
        o.insert(
            "rule".into(),
            serde_json::to_value(&self.rule).unwrap_or(Value::Null),
        );
        o.insert("valid_from".into(), json!(self.valid_from));
        if let Some(u) = self.valid_until {
            o.insert("valid_until".into(), json!(u));
        }
        Value::Object(o)
    }
}

/// An accepted proposal.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct InstructionRec {
    pub(crate) id: String,
    pub(crate) agent_id: String,
    pub(crate) actions: Vec<types::AgenticAction>,
    pub(crate) downstream: Vec<types::AgenticActionDownstream>,
}

impl Record for InstructionRec {
    const KIND: &'static str = "instruction";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A scheduled payment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ScheduledRec {
    pub(crate) id: String,
    pub(crate) agent_id: String,
    pub(crate) customer_id: String,
    pub(crate) signer_id: String,
    pub(crate) wallet_id: String,
    pub(crate) amount: Decimal,
    pub(crate) asset: String,
    pub(crate) network: types::NetworkId,
    /// The address paid (a destination's, or an auto-account's deposit address).
    pub(crate) address: String,
    pub(crate) recipient_id: Option<String>,
    pub(crate) destination_id: Option<String>,
    pub(crate) destination_type: Option<types::ScheduledPaymentResponseDestinationType>,
    pub(crate) destination_label: Option<String>,
    pub(crate) destination_rail: Option<String>,
    pub(crate) output_asset: Option<String>,
    pub(crate) output_network: Option<String>,
    /// The mandate drafted with it, if any (it waits for that one's approval).
    pub(crate) planned_mandate: Option<String>,
    pub(crate) mandate_id: Option<String>,
    pub(crate) wallet_transaction_id: Option<String>,
    pub(crate) status: types::ScheduledPaymentResponseStatus,
    pub(crate) failure_reason: Option<String>,
    pub(crate) scheduled_at: i64,
    pub(crate) executed_at: Option<i64>,
    /// How long its wallet transaction takes to confirm (the sandbox's setting when it was
    /// scheduled).
    pub(crate) confirm_after: chrono::Duration,
}

impl Record for ScheduledRec {
    const KIND: &'static str = "scheduled_payment";
    fn id(&self) -> &str {
        &self.id
    }
}

// ----- views -----

/// Wallets whose signer groups hold this signer.
pub(crate) fn agent_wallets(t: &Tables, signer_id: &str) -> Vec<String> {
    custody::wallets_of_signer(t, signer_id)
}

/// The spec's `PaymentAgentResponse` (`cleanup`: after a revoke, the groups still listing the
/// signer).
pub(crate) fn agent_view(
    t: &Tables,
    a: &AgentRec,
    cleanup: bool,
) -> Result<types::PaymentAgentResponse, ApiError> {
    let wallets = agent_wallets(t, &a.signer_id);
    let state = if a.revoked_at.is_some() {
        types::PaymentAgentResponseState::Revoked
    } else if wallets.is_empty() {
        types::PaymentAgentResponseState::Pending
    } else {
        types::PaymentAgentResponseState::Active
    };
    let refs = if cleanup {
        t.scan::<GroupRec>()
            .filter(|g| g.members.contains(&a.signer_id))
            .map(|g| {
                build::<types::PaymentAgentSignerGroupRef, _>(
                    types::builder::PaymentAgentSignerGroupRef::default()
                        .name(g.name.clone())
                        .signer_group_id(g.id.clone()),
                )
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let key = t
        .get::<SignerRec>(&a.signer_id)
        .map(|s| s.public_key.clone());
    build(
        types::builder::PaymentAgentResponse::default()
            .customer_id(Some(a.customer_id.clone()))
            .hosted(Some(true))
            .id(Some(a.id.clone()))
            .name(Some(a.name.clone()))
            .signer_group_cleanup(refs)
            .signer_id(Some(a.signer_id.clone()))
            .signer_public_key(key)
            .state(Some(state))
            .wallet_ids(wallets),
    )
}

/// The spec's `Mandate` as read at `now`.
pub(crate) fn mandate_view(
    t: &Tables,
    m: &MandateRec,
    now: DateTime<Utc>,
) -> Result<types::Mandate, ApiError> {
    let names: Vec<String> =
        if matches!(m.rule.target_type, types::MandateRuleTargetType::Recipient) {
            m.rule
                .targets
                .iter()
                .map(|id| {
                    t.get::<PayeeRec>(id)
                        .map_or_else(|| id.clone(), |p| p.name.clone())
                })
                .collect()
        } else {
            Vec::new()
        };
    build(
        types::builder::Mandate::default()
            .approved_at(m.approved_at)
            .approved_by_signer_id(m.approved_by.clone())
            .bound_signer_id(Some(m.bound_signer_id.clone()))
            .id(Some(m.id.clone()))
            .instruction_id(m.instruction_id.clone())
            .rejected_by_signer_id(m.rejected_by.clone())
            .revoked_by_signer_id(m.revoked_by.clone())
            .rule(Some(m.rule.clone()))
            .status(Some(m.status_at(now)))
            .target_names(names)
            .valid_from(Some(m.valid_from))
            .valid_until(m.valid_until),
    )
}

/// The spec's `ScheduledPaymentResponse`.
pub(crate) fn payment_view(p: &ScheduledRec) -> Result<types::ScheduledPaymentResponse, ApiError> {
    build(
        types::builder::ScheduledPaymentResponse::default()
            .address(Some(p.address.clone()))
            .amount(Some(chain::fmt_amount(p.amount)))
            .asset(Some(p.asset.clone()))
            .destination_id(p.destination_id.clone())
            .destination_label(p.destination_label.clone())
            .destination_rail(p.destination_rail.clone())
            .destination_type(p.destination_type.clone())
            .executed_at(p.executed_at)
            .failure_reason(p.failure_reason.clone())
            .id(Some(p.id.clone()))
            .mandate_id(p.mandate_id.clone())
            .network_id(Some(p.network.as_str().to_owned()))
            .output_asset(p.output_asset.clone())
            .output_network(p.output_network.clone())
            .recipient_id(p.recipient_id.clone())
            .scheduled_at(Some(p.scheduled_at))
            .signer_id(Some(p.signer_id.clone()))
            .status(Some(p.status.clone()))
            .wallet_id(Some(p.wallet_id.clone()))
            .wallet_transaction_id(p.wallet_transaction_id.clone()),
    )
}

// ----- lookups and checks -----

/// The agent of the path or body: `404` when unknown.
pub(crate) fn agent<'t>(t: &'t Tables, id: &str) -> Result<&'t AgentRec, ApiError> {
    t.get::<AgentRec>(id)
        .ok_or_else(|| ApiError::not_found("Payment agent", id))
}

/// An agent that may still act: `400` once revoked.
pub(crate) fn live_agent<'t>(t: &'t Tables, id: &str) -> Result<&'t AgentRec, ApiError> {
    let a = agent(t, id)?;
    if a.revoked_at.is_some() {
        return Err(ApiError::bad_request(format!(
            "Payment agent {id} is revoked and takes no further instructions"
        )));
    }
    Ok(a)
}

/// The customer of a filter or path: `404` when unknown.
pub(crate) fn customer_exists(t: &Tables, id: &str) -> Result<(), ApiError> {
    if t.contains::<CustomerRec>(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("Customer", id))
    }
}

/// A payee of `customer_id` by id or by name (case-insensitive).
pub(crate) fn find_payee<'t>(t: &'t Tables, customer_id: &str, key: &str) -> Option<&'t PayeeRec> {
    if let Some(p) = t
        .get::<PayeeRec>(key)
        .filter(|p| p.customer_id == customer_id)
    {
        return Some(p);
    }
    let mut by_name = t
        .scan::<PayeeRec>()
        .filter(|p| p.customer_id == customer_id && p.name.eq_ignore_ascii_case(key.trim()));
    let first = by_name.next();
    // A name two payees share names neither.
    if by_name.next().is_some() {
        return None;
    }
    first
}

/// Destinations of a payee, oldest first.
pub(crate) fn destinations_of<'t>(t: &'t Tables, payee_id: &str) -> Vec<&'t DestRec> {
    t.scan::<DestRec>()
        .filter(|d| d.payee_id == payee_id)
        .collect()
}

/// Checks a mandate rule and resolves recipient targets (ids or names) to payee ids.
pub(crate) fn check_rule(
    t: &Tables,
    customer_id: &str,
    rule: &types::MandateRule,
    field: &str,
) -> Result<types::MandateRule, ApiError> {
    let mut errs = crate::pipeline::validate::Errors::default();
    let mut rule = rule.clone();
    if rule.targets.len() > 32 {
        errs.push(format!("{field}.targets"), "too_many", "at most 32 targets");
    }
    match &rule.target_type {
        types::MandateRuleTargetType::Any => {
            if !rule.targets.is_empty() {
                errs.push(
                    format!("{field}.targets"),
                    "invalid_value",
                    "targets must be empty for target_type any",
                );
            }
        }
        types::MandateRuleTargetType::Recipient => {
            if rule.targets.is_empty() {
                errs.push(
                    format!("{field}.targets"),
                    "required",
                    "name at least one recipient",
                );
            }
            let mut ids = Vec::new();
            for (i, tgt) in rule.targets.iter().enumerate() {
                match find_payee(t, customer_id, tgt) {
                    Some(p) => ids.push(p.id.clone()),
                    None => errs.push(
                        format!("{field}.targets[{i}]"),
                        "unresolved",
                        format!("'{tgt}' is not a recipient of this customer (by id or name)"),
                    ),
                }
            }
            rule.targets = ids;
        }
        types::MandateRuleTargetType::Address => {
            if rule.targets.is_empty() {
                errs.push(
                    format!("{field}.targets"),
                    "required",
                    "name at least one address",
                );
            }
            for (i, tgt) in rule.targets.iter().enumerate() {
                if chain::address_family(tgt).is_none() {
                    errs.push(
                        format!("{field}.targets[{i}]"),
                        "invalid_format",
                        "not an EVM or Solana address",
                    );
                }
            }
        }
        other => errs.push(
            format!("{field}.target_type"),
            "invalid_enum",
            format!("'{}' is not any, recipient or address", other.as_str()),
        ),
    }
    if !chain::token_symbols()
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&rule.asset))
    {
        errs.push(
            format!("{field}.asset"),
            "invalid_value",
            format!("expected one of {}", chain::token_symbols().join(", ")),
        );
    }
    if let Some(n) = &rule.network_id {
        if chain::network(n).is_none() {
            errs.push(
                format!("{field}.network_id"),
                "invalid_value",
                "not a network the spec lists",
            );
        }
    }
    for (name, v) in [
        ("max_per_tx", &rule.max_per_tx),
        (
            "max_amount_per_target_in_window",
            &rule.max_amount_per_target_in_window,
        ),
    ] {
        if let Some(v) = v {
            if chain::parse_amount(v).is_none_or(|d| d <= Decimal::ZERO) {
                errs.push(
                    format!("{field}.{name}"),
                    "invalid_value",
                    "must be a positive decimal string",
                );
            }
        }
    }
    if rule.max_count_per_target_in_window.is_some_and(|n| n < 1) {
        errs.push(
            format!("{field}.max_count_per_target_in_window"),
            "invalid_value",
            "must be at least 1",
        );
    }
    if let Some(w) = &rule.window {
        if w.is_unknown() {
            errs.push(
                format!("{field}.window"),
                "invalid_enum",
                "expected NONE, WEEKLY or MONTHLY",
            );
        }
    }
    errs.finish()?;
    Ok(rule)
}

/// Checks a validity window (`valid_from` defaults to now).
pub(crate) fn validity(
    now: DateTime<Utc>,
    from: Option<i64>,
    until: Option<i64>,
    field: &str,
) -> Result<(i64, Option<i64>), ApiError> {
    let from = from.unwrap_or_else(|| now.timestamp());
    if let Some(u) = until {
        if u <= from {
            return Err(ApiError::field(
                format!("{field}valid_until"),
                "invalid_value",
                "valid_until must come after valid_from",
            ));
        }
    }
    Ok((from, until))
}

/// Drafts a pending mandate for the agent's signer.
pub(crate) fn new_mandate(
    tx: &mut Tx<'_>,
    a: &AgentRec,
    rule: types::MandateRule,
    valid: (i64, Option<i64>),
    instruction_id: Option<String>,
) -> MandateRec {
    MandateRec {
        id: tx.next_id(),
        customer_id: a.customer_id.clone(),
        bound_signer_id: a.signer_id.clone(),
        rule,
        valid_from: valid.0,
        valid_until: valid.1,
        status: types::MandateStatus::Pending,
        approved_by: None,
        approved_at: None,
        rejected_by: None,
        revoked_by: None,
        instruction_id,
    }
}

// ----- allowances -----

/// Turns counted per customer and purpose in the current hour and day.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AllowanceRec {
    pub(crate) id: String,
    pub(crate) hour: i64,
    pub(crate) in_hour: u32,
    pub(crate) day: i64,
    pub(crate) in_day: u32,
}

impl Record for AllowanceRec {
    const KIND: &'static str = "agentic_allowance";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Turns allowed per customer per hour and per day.
pub(crate) const TURNS_PER_HOUR: u32 = 30;
pub(crate) const TURNS_PER_DAY: u32 = 200;

/// Counts one turn of `purpose` for `customer_id`; `429` with `Retry-After` past the
/// allowance.
pub(crate) fn count_turn(
    tx: &mut Tx<'_>,
    purpose: &str,
    customer_id: &str,
) -> Result<(), ApiError> {
    let now = tx.now.timestamp();
    let (hour, day) = (now / 3600, now / 86_400);
    let id = format!("{purpose}:{customer_id}");
    let mut a = tx
        .get::<AllowanceRec>(&id)
        .cloned()
        .unwrap_or(AllowanceRec {
            id,
            hour,
            in_hour: 0,
            day,
            in_day: 0,
        });
    if a.hour != hour {
        a.hour = hour;
        a.in_hour = 0;
    }
    if a.day != day {
        a.day = day;
        a.in_day = 0;
    }
    let wait = if a.in_day >= TURNS_PER_DAY {
        Some((day + 1) * 86_400 - now)
    } else if a.in_hour >= TURNS_PER_HOUR {
        Some((hour + 1) * 3600 - now)
    } else {
        None
    };
    if let Some(w) = wait {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!(
                "This customer used its allowance ({TURNS_PER_HOUR} an hour, {TURNS_PER_DAY} a day); retry in {w} s"
            ),
        )
        .with_header(axum::http::header::RETRY_AFTER, w.max(1)));
    }
    a.in_hour += 1;
    a.in_day += 1;
    tx.put(a);
    Ok(())
}

/// A path id that the spec types as a plain string: `400` when it cannot be one of ours
/// (operations that document a malformed-id `400`).
pub(crate) fn well_formed_id<'a>(
    call: &'a Call<'_>,
    i: usize,
    name: &str,
) -> Result<&'a str, ApiError> {
    call.id_param(i, name)
}

/// Registers the agentic records and timers (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<AgentRec>()
        .record::<PayeeRec>()
        .record::<DestRec>()
        .record::<AutoAccountRec>()
        .record::<MandateRec>()
        .record::<InstructionRec>()
        .record::<ScheduledRec>()
        .record::<AllowanceRec>()
        .timer(&payments::SCHEDULED);
}
