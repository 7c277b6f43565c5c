//! `POST /instructions` and `GET /instructions/{instruction_id}`: accepted proposals carried
//! out action by action.
//!
//! A batch is all or nothing: every proposal is checked and carried out in one store
//! transaction, so a `400` for proposal 3 leaves nothing of proposals 1 and 2 behind. Inside
//! a proposal, an `*_id` left empty names what an earlier action of the same proposal
//! created (the last recipient, destination or auto-account); a mandate rule of
//! `target_type: recipient` with no targets covers the proposal's recipient. A proposal must
//! draft a mandate or schedule payments (`400` "does not pay anyone" otherwise).

use chrono::Duration;
use dakota_api::types;
use rust_decimal::Decimal;

use super::{
    agent_wallets, check_rule, find_payee, live_agent, mandate_view, new_mandate, payments,
    validity, well_formed_id, AgentRec, AutoAccountRec, DestKind, DestRec, InstructionRec,
    MandateRec, PayeeRec, ScheduledRec,
};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::resources::custody::{chain, WalletRec};
use crate::store::Tx;

/// Most proposals per batch and actions per proposal.
const MAX_PROPOSALS: usize = 20;
const MAX_ACTIONS: usize = 20;
/// Most payments one `create_scheduled_payments` action schedules (the spec's `maxItems`).
const MAX_PAYMENTS: i64 = 366;

pub(super) fn routes(r: &mut Registry) {
    r.add("createInstructions", create)
        .add("getInstruction", get);
}

/// What the actions of one proposal created so far.
#[derive(Default)]
struct Made {
    recipient: Option<String>,
    destination: Option<String>,
    auto_account: Option<String>,
    mandate: Option<String>,
    pays: bool,
}

/// A `400` naming the proposal and action.
fn bad(p: usize, a: usize, detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Proposal {}, action {}: {detail}", p + 1, a + 1))
}

/// `POST /instructions`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreateInstructionsRequest = call.body_as()?;
    if req.proposals.is_empty() {
        return Err(ApiError::field(
            "proposals",
            "required",
            "send at least one proposal",
        ));
    }
    if req.proposals.len() > MAX_PROPOSALS {
        return Err(ApiError::field(
            "proposals",
            "too_many",
            format!("at most {MAX_PROPOSALS} proposals per batch"),
        ));
    }
    let confirm_after = Duration::from_std(call.state.config().wallet_confirmation_delay)
        .unwrap_or_else(|_| Duration::zero());
    call.write(|tx| {
        let a = live_agent(tx, &req.payment_agent_id)?.clone();
        let mut ids = Vec::new();
        let mut mandates = Vec::new();
        for (pi, proposal) in req.proposals.iter().enumerate() {
            if proposal.actions.len() > MAX_ACTIONS {
                return Err(ApiError::bad_request(format!(
                    "Proposal {} has more than {MAX_ACTIONS} actions",
                    pi + 1
                )));
            }
            let instruction_id = tx.next_id();
            let mut made = Made::default();
            let mut downstream = Vec::new();
            for (ai, action) in proposal.actions.iter().enumerate() {
                let d = carry_out(tx, &a, &instruction_id, action, &mut made, confirm_after)
                    .map_err(|e| match e {
                        Step::Bad(why) => bad(pi, ai, why),
                        Step::Api(e) => e,
                    })?;
                downstream.push(d);
            }
            if made.mandate.is_none() && !made.pays {
                return Err(ApiError::bad_request(format!(
                    "Proposal {} does not pay anyone: it neither drafts a mandate nor schedules a payment",
                    pi + 1
                )));
            }
            if let Some(m) = made.mandate.as_ref().and_then(|m| tx.get::<MandateRec>(m)) {
                mandates.push(mandate_view(tx, m, call.now)?);
            }
            tx.put(InstructionRec {
                id: instruction_id.clone(),
                agent_id: a.id.clone(),
                actions: proposal.actions.clone(),
                downstream,
            });
            ids.push(instruction_id);
        }
        // Payments due now run under mandates already in force.
        payments::run_due(tx)?;
        let result: types::AgenticInstructionsResult = build(
            types::builder::AgenticInstructionsResult::default()
                .instruction_ids(ids)
                .mandates(mandates),
        )?;
        Reply::created(&result)
    })
}

/// Why an action cannot be carried out.
enum Step {
    /// The proposal is wrong: a `400` naming proposal and action.
    Bad(String),
    /// Anything else, as it is.
    Api(ApiError),
}

impl From<ApiError> for Step {
    fn from(e: ApiError) -> Self {
        Step::Api(e)
    }
}

fn downstream(
    b: types::builder::AgenticActionDownstream,
) -> Result<types::AgenticActionDownstream, Step> {
    Ok(build(b)?)
}

/// The recipient an action names: empty for the proposal's own, else an id or a name.
fn recipient_of(
    tx: &Tx<'_>,
    a: &AgentRec,
    given: Option<&str>,
    made: &Made,
) -> Result<String, Step> {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        None => made.recipient.clone().ok_or_else(|| {
            Step::Bad(
                "recipient_id is empty and no earlier action of this proposal creates a recipient"
                    .into(),
            )
        }),
        Some(key) => find_payee(tx, &a.customer_id, key)
            .map(|p| p.id.clone())
            .ok_or_else(|| Step::Bad(format!("'{key}' is not a recipient of this customer"))),
    }
}

/// Where a payment goes: the address paid, its network, and what it shows of the payee.
struct Target {
    address: String,
    /// The asset an auto-account takes (`None`: any).
    takes: Option<String>,
    network: types::NetworkId,
    recipient_id: Option<String>,
    destination_id: Option<String>,
    destination_type: types::ScheduledPaymentResponseDestinationType,
    label: Option<String>,
    rail: Option<String>,
    output_asset: Option<String>,
    output_network: Option<String>,
}

fn target_of(tx: &Tx<'_>, a: &AgentRec, given: Option<&str>, made: &Made) -> Result<Target, Step> {
    let id = match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => made.auto_account.clone().or_else(|| made.destination.clone()).ok_or_else(|| {
            Step::Bad("destination_id is empty and no earlier action of this proposal creates a destination or auto-account".into())
        })?,
    };
    if let Some(acc) = tx
        .get::<AutoAccountRec>(&id)
        .filter(|x| x.customer_id == a.customer_id)
    {
        let dest = tx.get::<DestRec>(&acc.destination_id);
        let payee = dest.map(|d| d.payee_id.clone());
        let (dtype, label, out_net) = match dest.map(|d| &d.kind) {
            Some(DestKind::Bank { label, .. }) => (
                types::ScheduledPaymentResponseDestinationType::Bank,
                Some(label.clone()),
                None,
            ),
            Some(DestKind::Crypto { address, network }) => (
                types::ScheduledPaymentResponseDestinationType::Crypto,
                Some(address.clone()),
                Some(network.as_str().to_owned()),
            ),
            None => (
                types::ScheduledPaymentResponseDestinationType::Crypto,
                None,
                None,
            ),
        };
        return Ok(Target {
            address: acc.deposit_address.clone(),
            takes: (acc.source_asset != "ANY").then(|| acc.source_asset.clone()),
            network: acc.source_network.clone(),
            recipient_id: payee,
            destination_id: Some(acc.destination_id.clone()),
            destination_type: dtype,
            label,
            rail: acc.rail.clone(),
            output_asset: Some(acc.output_asset.clone()),
            output_network: out_net,
        });
    }
    let Some(d) = tx.get::<DestRec>(&id) else {
        return Err(Step::Bad(format!(
            "'{id}' is not a destination or auto-account of this customer"
        )));
    };
    let owned = tx
        .get::<PayeeRec>(&d.payee_id)
        .is_some_and(|p| p.customer_id == a.customer_id);
    if !owned {
        return Err(Step::Bad(format!(
            "'{id}' is not a destination or auto-account of this customer"
        )));
    }
    match &d.kind {
        DestKind::Crypto { address, network } => Ok(Target {
            address: address.clone(),
            takes: None,
            network: network.clone(),
            recipient_id: Some(d.payee_id.clone()),
            destination_id: Some(d.id.clone()),
            destination_type: types::ScheduledPaymentResponseDestinationType::Crypto,
            label: Some(address.clone()),
            rail: None,
            output_asset: None,
            output_network: None,
        }),
        DestKind::Bank { .. } => Err(Step::Bad(format!(
            "destination {id} is a bank account: pay it through a create_auto_account action (an offramp)"
        ))),
    }
}

/// The funding wallet: the one given (the agent must be able to use it) or the only usable
/// one of the network's family.
fn wallet_of(
    tx: &Tx<'_>,
    a: &AgentRec,
    given: Option<&str>,
    network: &types::NetworkId,
) -> Result<String, Step> {
    let family = chain::family_of(network);
    let usable: Vec<&WalletRec> = agent_wallets(tx, &a.signer_id)
        .iter()
        .filter_map(|w| tx.get::<WalletRec>(w))
        .collect();
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => {
            let Some(w) = usable.iter().find(|w| w.id == id) else {
                return Err(Step::Bad(format!(
                    "wallet {id} is not one the agent can use (its signer is in none of the wallet's signer groups)"
                )));
            };
            if w.family != family {
                return Err(Step::Bad(format!(
                    "wallet {id} is a {} wallet; {} needs a {} one",
                    w.family.as_str(),
                    network.as_str(),
                    family.as_str()
                )));
            }
            Ok(w.id.clone())
        }
        None => {
            let fitting: Vec<&&WalletRec> = usable.iter().filter(|w| w.family == family).collect();
            match fitting.as_slice() {
                [one] => Ok(one.id.clone()),
                [] => Err(Step::Bad(format!(
                    "the agent can use no {} wallet",
                    family.as_str()
                ))),
                _ => Err(Step::Bad(
                    "the agent can use several wallets: name one in wallet_id".into(),
                )),
            }
        }
    }
}

/// The dates of a `create_scheduled_payments` action.
fn dates_of(s: &types::CreateScheduledPaymentsAction, now: i64) -> Result<Vec<i64>, Step> {
    let by_count = s.count.is_some() || s.interval_seconds.is_some() || s.start_at.is_some();
    if !s.dates.is_empty() && by_count {
        return Err(Step::Bad(
            "give either dates or count with interval_seconds, not both".into(),
        ));
    }
    if !s.dates.is_empty() {
        if s.dates.len() > MAX_PAYMENTS as usize {
            return Err(Step::Bad(format!("at most {MAX_PAYMENTS} dates")));
        }
        if s.dates.iter().any(|d| *d < 0) {
            return Err(Step::Bad("dates are Unix seconds, not negative".into()));
        }
        return Ok(s.dates.clone());
    }
    let count = s.count.unwrap_or(1);
    if !(1..=MAX_PAYMENTS).contains(&count) {
        return Err(Step::Bad(format!("count must be 1 to {MAX_PAYMENTS}")));
    }
    let interval = s.interval_seconds.unwrap_or(0);
    if count > 1 && interval <= 0 {
        return Err(Step::Bad(
            "interval_seconds must be positive for more than one payment".into(),
        ));
    }
    if !(0..=366 * 86_400).contains(&interval) {
        return Err(Step::Bad(
            "interval_seconds must be between 0 and a year".into(),
        ));
    }
    let start = s.start_at.unwrap_or(now);
    if start < 0 {
        return Err(Step::Bad("start_at is Unix seconds, not negative".into()));
    }
    Ok((0..count).map(|i| start + i * interval).collect())
}

/// Carries out one action; returns what it created.
fn carry_out(
    tx: &mut Tx<'_>,
    a: &AgentRec,
    instruction_id: &str,
    action: &types::AgenticAction,
    made: &mut Made,
    confirm_after: Duration,
) -> Result<types::AgenticActionDownstream, Step> {
    let missing = || {
        Step::Bad(format!(
            "type {} needs its input in the field of the same name",
            action.type_.as_str()
        ))
    };
    let b = types::builder::AgenticActionDownstream::default();
    match &action.type_ {
        types::AgenticActionType::CreateRecipient => {
            let r = action.create_recipient.as_ref().ok_or_else(missing)?;
            let name = r.name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(Step::Bad(
                    "the recipient's name must be 1-200 characters".into(),
                ));
            }
            let p = PayeeRec {
                id: tx.next_id(),
                customer_id: a.customer_id.clone(),
                name: name.to_owned(),
            };
            made.recipient = Some(p.id.clone());
            let d = downstream(b.recipient_id(Some(p.id.clone())))?;
            tx.put(p);
            Ok(d)
        }
        types::AgenticActionType::CreateCryptoDestination => {
            let c = action
                .create_crypto_destination
                .as_ref()
                .ok_or_else(missing)?;
            let payee = recipient_of(tx, a, c.recipient_id.as_deref(), made)?;
            if c.network_id.is_unknown() {
                return Err(Step::Bad(format!(
                    "'{}' is not a network the spec lists",
                    c.network_id.as_str()
                )));
            }
            let family = chain::family_of(&c.network_id);
            let address = c.address.trim();
            if chain::address_family(address).as_ref() != Some(&family) {
                return Err(Step::Bad(format!(
                    "'{address}' is not a {} address",
                    c.network_id.as_str()
                )));
            }
            let d = DestRec {
                id: tx.next_id(),
                payee_id: payee,
                kind: DestKind::Crypto {
                    address: address.to_owned(),
                    network: c.network_id.clone(),
                },
            };
            made.destination = Some(d.id.clone());
            made.auto_account = None;
            let out = downstream(b.destination_id(Some(d.id.clone())))?;
            tx.put(d);
            Ok(out)
        }
        types::AgenticActionType::CreateBankDestination => {
            let c = action
                .create_bank_destination
                .as_ref()
                .ok_or_else(missing)?;
            let payee = recipient_of(tx, a, c.recipient_id.as_deref(), made)?;
            let given = |v: &Option<String>| {
                v.as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let (label, rail) = match (
                given(&c.iban),
                given(&c.account_number),
                given(&c.routing_number),
            ) {
                (Some(iban), None, None) => {
                    let ok = (15..=34).contains(&iban.len())
                        && iban.chars().all(|ch| ch.is_ascii_alphanumeric())
                        && iban.chars().take(2).all(|ch| ch.is_ascii_alphabetic());
                    if !ok {
                        return Err(Step::Bad("iban is not a well-formed IBAN".into()));
                    }
                    (format!("IBAN ...{}", &iban[iban.len() - 4..]), "sepa")
                }
                (None, Some(number), Some(routing)) => {
                    if routing.len() != 9 || !routing.bytes().all(|x| x.is_ascii_digit()) {
                        return Err(Step::Bad("routing_number must be 9 digits".into()));
                    }
                    if !(4..=17).contains(&number.len())
                        || !number.bytes().all(|x| x.is_ascii_digit())
                    {
                        return Err(Step::Bad("account_number must be 4-17 digits".into()));
                    }
                    (format!("account ...{}", &number[number.len() - 4..]), "ach")
                }
                _ => {
                    return Err(Step::Bad(
                        "give either iban, or account_number with routing_number".into(),
                    ))
                }
            };
            let label = match given(&c.bank_name) {
                Some(bank) => format!("{bank} {label}"),
                None => label,
            };
            let d = DestRec {
                id: tx.next_id(),
                payee_id: payee,
                kind: DestKind::Bank {
                    label,
                    rail: rail.to_owned(),
                },
            };
            made.destination = Some(d.id.clone());
            made.auto_account = None;
            let out = downstream(b.destination_id(Some(d.id.clone())))?;
            tx.put(d);
            Ok(out)
        }
        types::AgenticActionType::CreateAutoAccount => {
            let c = action.create_auto_account.as_ref().ok_or_else(missing)?;
            let dest_id = match c.destination_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(id) => id.to_owned(),
                None => made.destination.clone().ok_or_else(|| {
                    Step::Bad("destination_id is empty and no earlier action of this proposal creates a destination".into())
                })?,
            };
            let Some(dest) = tx.get::<DestRec>(&dest_id).cloned().filter(|d| {
                tx.get::<PayeeRec>(&d.payee_id)
                    .is_some_and(|p| p.customer_id == a.customer_id)
            }) else {
                return Err(Step::Bad(format!(
                    "'{dest_id}' is not a destination of this customer"
                )));
            };
            if c.source_network_id.is_unknown() {
                return Err(Step::Bad(format!(
                    "'{}' is not a network the spec lists",
                    c.source_network_id.as_str()
                )));
            }
            let any = c.source_asset.eq_ignore_ascii_case("ANY");
            if !any && chain::token(&c.source_asset, &c.source_network_id).is_none() {
                return Err(Step::Bad(format!(
                    "{} is not available on {}",
                    c.source_asset,
                    c.source_network_id.as_str()
                )));
            }
            if c.fee_bps.is_some_and(|f| !(0..=10_000).contains(&f)) {
                return Err(Step::Bad("fee_bps must be 0 to 10000".into()));
            }
            let output = c.output_asset.trim().to_ascii_uppercase();
            let rail = match &dest.kind {
                DestKind::Bank { rail, .. } => {
                    if !["USD", "EUR"].contains(&output.as_str()) {
                        return Err(Step::Bad(
                            "an offramp to a bank destination outputs USD or EUR".into(),
                        ));
                    }
                    let chosen = c
                        .rail
                        .as_deref()
                        .map(|r| r.trim().to_ascii_lowercase())
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| rail.clone());
                    let fits = match rail.as_str() {
                        "sepa" => ["sepa", "swift"].contains(&chosen.as_str()),
                        _ => ["ach", "fedwire", "wire", "swift"].contains(&chosen.as_str()),
                    };
                    if !fits {
                        return Err(Step::Bad(format!(
                            "rail {chosen} does not reach this bank destination"
                        )));
                    }
                    Some(chosen)
                }
                DestKind::Crypto { network, .. } => {
                    if c.rail.as_deref().is_some_and(|r| !r.trim().is_empty()) {
                        return Err(Step::Bad(
                            "a swap to a crypto destination takes no rail".into(),
                        ));
                    }
                    if chain::token(&output, network).is_none() {
                        return Err(Step::Bad(format!(
                            "{output} is not available on {}",
                            network.as_str()
                        )));
                    }
                    None
                }
            };
            let acc = AutoAccountRec {
                id: tx.next_id(),
                customer_id: a.customer_id.clone(),
                destination_id: dest.id.clone(),
                source_asset: c.source_asset.to_ascii_uppercase(),
                source_network: c.source_network_id.clone(),
                output_asset: output,
                rail,
                deposit_address: chain::new_address(&chain::family_of(&c.source_network_id)),
            };
            made.auto_account = Some(acc.id.clone());
            let out = downstream(b.auto_account_id(Some(acc.id.clone())))?;
            tx.put(acc);
            Ok(out)
        }
        types::AgenticActionType::CreateMandate => {
            let c = action.create_mandate.as_ref().ok_or_else(missing)?;
            if made.mandate.is_some() {
                return Err(Step::Bad("a proposal drafts at most one mandate".into()));
            }
            let mut rule = c.rule.clone();
            if matches!(rule.target_type, types::MandateRuleTargetType::Recipient)
                && rule.targets.is_empty()
            {
                let Some(r) = made.recipient.clone().or_else(|| {
                    made.destination
                        .as_ref()
                        .and_then(|d| tx.get::<DestRec>(d))
                        .map(|d| d.payee_id.clone())
                }) else {
                    return Err(Step::Bad(
                        "the rule names no recipient and no earlier action of this proposal creates one".into(),
                    ));
                };
                rule.targets = vec![r];
            }
            let rule =
                check_rule(tx, &a.customer_id, &rule, "rule").map_err(|e| Step::Bad(e.detail))?;
            let valid = validity(tx.now, c.valid_from, c.valid_until, "")
                .map_err(|e| Step::Bad(e.detail))?;
            let m = new_mandate(tx, a, rule, valid, Some(instruction_id.to_owned()));
            made.mandate = Some(m.id.clone());
            let out = downstream(b.mandate_id(Some(m.id.clone())))?;
            tx.put(m);
            Ok(out)
        }
        types::AgenticActionType::CreateScheduledPayments => {
            let s = action
                .create_scheduled_payments
                .as_ref()
                .ok_or_else(missing)?;
            let amount = chain::parse_amount(s.amount.trim())
                .filter(|d| *d > Decimal::ZERO)
                .ok_or_else(|| Step::Bad("amount must be a positive decimal string".into()))?;
            let t = target_of(tx, a, s.destination_id.as_deref(), made)?;
            let Some(token) = chain::token(&s.asset, &t.network) else {
                return Err(Step::Bad(format!(
                    "{} is not available on {}",
                    s.asset,
                    t.network.as_str()
                )));
            };
            if let Some(takes) = t
                .takes
                .as_ref()
                .filter(|x| !x.eq_ignore_ascii_case(token.symbol))
            {
                return Err(Step::Bad(format!(
                    "the auto-account takes {takes}, not {}",
                    token.symbol
                )));
            }
            let wallet = wallet_of(tx, a, s.wallet_id.as_deref(), &t.network)?;
            let dates = dates_of(s, tx.now.timestamp())?;
            let mut ids = Vec::with_capacity(dates.len());
            for at in dates {
                let p = ScheduledRec {
                    id: tx.next_id(),
                    agent_id: a.id.clone(),
                    customer_id: a.customer_id.clone(),
                    signer_id: a.signer_id.clone(),
                    wallet_id: wallet.clone(),
                    amount,
                    asset: token.symbol.to_owned(),
                    network: t.network.clone(),
                    address: t.address.clone(),
                    recipient_id: t.recipient_id.clone(),
                    destination_id: t.destination_id.clone(),
                    destination_type: Some(t.destination_type.clone()),
                    destination_label: t.label.clone(),
                    destination_rail: t.rail.clone(),
                    output_asset: t.output_asset.clone(),
                    output_network: t.output_network.clone(),
                    planned_mandate: made.mandate.clone(),
                    mandate_id: None,
                    wallet_transaction_id: None,
                    status: types::ScheduledPaymentResponseStatus::Scheduled,
                    failure_reason: None,
                    scheduled_at: at,
                    executed_at: None,
                    confirm_after,
                };
                ids.push(p.id.clone());
                payments::schedule(tx, p);
            }
            made.pays = true;
            Ok(downstream(b.scheduled_payment_ids(ids))?)
        }
        other => Err(Step::Bad(format!(
            "'{}' is not an action type the sandbox knows",
            other.as_str()
        ))),
    }
}

/// `GET /instructions/{instruction_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = well_formed_id(call, 0, "instruction_id")?;
    let view = call.read(|t| {
        let i = t
            .get::<InstructionRec>(id)
            .ok_or_else(|| ApiError::not_found("Instruction", id))?;
        build::<types::AgenticInstruction, _>(
            types::builder::AgenticInstruction::default()
                .actions(i.actions.clone())
                .downstream(i.downstream.clone())
                .id(Some(i.id.clone()))
                .payment_agent_id(Some(i.agent_id.clone()))
                .status(Some(types::AgenticInstructionStatus::Executed)),
        )
    })?;
    Reply::ok(&view)
}
