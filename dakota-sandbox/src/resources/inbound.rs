//! Payment simulations: `POST /sandbox/simulate/inbound` (a bank or crypto payment arrives
//! at an account or one-off transaction, or an outgoing payment settles, fails, is rejected,
//! returned or reversed). Each opens a simulation run ([`super::simulations`]) that
//! `GET /sandbox/simulations/{id}` reads (state, the movement's position, the webhooks it
//! caused) and `POST /sandbox/simulations/{id}/advance` resolves: `scenario:
//! compliance_block` holds the movement in `processing` until `approve` or `reject`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dakota_api::types;
use rust_decimal::Decimal;

use super::accounts::{AccountKind, AccountRec};
use super::money::{self, Outcome, Stage};
use super::simulations::{self, RunDef, RunRec};
use super::transactions::{self, Target, Unwind};
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, TimerDef, Tx};

known!(SimulateInboundBodyType);

/// Registers the payment simulation operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("simulateInbound", simulate);
}

/// Actions a held run accepts.
const HOLD_ACTIONS: [&str; 2] = ["approve", "reject"];

/// One simulation run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SimRec {
    id: String,
    operation: String,
    rail: String,
    account_id: Option<String>,
    wallet_address: Option<String>,
    amount: String,
    currency: String,
    scenario: String,
    trace_id: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    /// The movement it created or acted on, once it fired.
    target: Option<Target>,
    /// Waiting for `advanceSimulation`.
    held: bool,
    state: String,
    /// When a delayed run fires.
    fire_at: Option<DateTime<Utc>>,
    partial_amount: Option<String>,
    step: chrono::Duration,
    /// The movement's lifecycle stage when the run was last read.
    position: Option<String>,
}

impl Record for SimRec {
    const KIND: &'static str = "payment_simulation";
    fn id(&self) -> &str {
        &self.id
    }
}

fn rail_of(op: &str) -> &'static str {
    if op.starts_with("ach") {
        "ach"
    } else if op.starts_with("fedwire") {
        "fedwire"
    } else if op.starts_with("wire") {
        "wire"
    } else {
        "crypto"
    }
}

/// Where a run acts, resolved from the request.
fn resolve(
    t: &Tables,
    req: &types::SimulateInboundBody,
    op: &str,
) -> Result<(Target, Option<AccountRec>), ApiError> {
    let one_off = req
        .one_off_transaction_id
        .as_deref()
        .or(req.movement_id.as_deref());
    let address = req.wallet_address.as_deref().or(req.wallet_id.as_deref());
    let inbound = op.ends_with("_inbound");
    if let Some(id) = one_off {
        if !t.contains::<transactions::OneOffRec>(id) {
            return Err(ApiError::not_found("One-off transaction", id));
        }
        if inbound && op != "crypto_inbound" {
            return Err(ApiError::field(
                "type",
                "wrong_rail",
                "a one-off transaction is funded on chain: use crypto_inbound",
            ));
        }
        return Ok((Target::OneOff(id.to_owned()), None));
    }
    let account = if let Some(id) = req.account_id.as_deref() {
        Some(
            t.get::<AccountRec>(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Account", id))?,
        )
    } else if let Some(a) = address {
        match t
            .scan::<AccountRec>()
            .find(|acc| acc.deposit_address() == Some(a))
        {
            Some(acc) => Some(acc.clone()),
            None => match transactions::one_off_by_address(t, a) {
                Some(id) if op == "crypto_inbound" || !inbound => {
                    return Ok((Target::OneOff(id), None));
                }
                _ => return Err(ApiError::not_found("Deposit address", a)),
            },
        }
    } else {
        None
    };
    let Some(account) = account else {
        return Err(ApiError::field(
            "account_id",
            "required",
            "name an account_id, a wallet_address or a one_off_transaction_id",
        ));
    };
    if inbound {
        let fits = match account.kind {
            AccountKind::Onramp => op != "crypto_inbound",
            AccountKind::Offramp | AccountKind::Swap => op == "crypto_inbound",
        };
        if !fits {
            return Err(ApiError::field(
                "type",
                "wrong_rail",
                format!(
                    "an {} account is funded {}",
                    account.kind.as_str(),
                    if account.kind == AccountKind::Onramp {
                        "by bank payment (ach_inbound, fedwire_inbound, wire_inbound)"
                    } else {
                        "on chain (crypto_inbound)"
                    }
                ),
            ));
        }
        // The movement is created when the run fires.
        return Ok((Target::Auto(String::new()), Some(account)));
    }
    match transactions::latest_of_account(t, &account.id) {
        Some(id) => Ok((Target::Auto(id), Some(account))),
        None => Err(ApiError::not_found(
            "Account transaction for account",
            &account.id,
        )),
    }
}

/// Fires a run: applies its payment event.
fn fire(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(mut sim) = tx.get::<SimRec>(id).cloned() else {
        return Ok(());
    };
    if sim.fire_at.is_none_or(|at| at > tx.now) || sim.state != "scheduled" {
        return Ok(());
    }
    sim.fire_at = None;
    let amount = money::parse_amount(&sim.amount).unwrap_or(Decimal::ZERO);
    let op = sim.operation.clone();
    let now = tx.now;
    let outcome = if sim.scenario == "compliance_block" {
        Outcome::Hold
    } else {
        money::scenario_outcome(Some(sim.scenario.as_str())).0
    };
    let code = match rail_of(&op) {
        "ach" => "R01",
        _ => "RT01",
    };
    let partial = sim.partial_amount.clone();
    let mut held = outcome == Outcome::Hold;
    match (op.as_str(), sim.target.clone()) {
        ("crypto_inbound", Some(Target::OneOff(oid))) => {
            transactions::deposit_one_off(tx, &oid, amount, &sim.id, Some(outcome))?;
        }
        (o, Some(Target::Auto(_))) if o.ends_with("_inbound") => {
            let Some(account) = sim
                .account_id
                .as_deref()
                .and_then(|a| tx.get::<AccountRec>(a).cloned())
            else {
                return Err(ApiError::not_found(
                    "Account",
                    sim.account_id.as_deref().unwrap_or_default(),
                ));
            };
            let sender = sender(&op, &account, sim.wallet_address.as_deref())?;
            let created = transactions::create_auto(
                tx, &account, amount, sender, outcome, sim.step, &sim.id,
            )?;
            sim.target = Some(Target::Auto(created));
        }
        (o, Some(target)) => {
            held = false;
            let (stage, follows) = if o.ends_with("_settled") {
                (Stage::Completed, false)
            } else if o.ends_with("_failed") || o.ends_with("_rejected") {
                (Stage::Failed, false)
            } else if o.ends_with("_returned") {
                (Stage::PendingReturn, true)
            } else {
                (Stage::PendingReversal, true)
            };
            let sim_id = sim.id.clone();
            let reason = o.to_owned();
            transactions::force(tx, &target, stage, follows, move |m| {
                m.simulation = Some(sim_id);
                match stage {
                    Stage::Failed => m.life.outcome = Outcome::Fail(reason),
                    Stage::PendingReturn => {
                        let u = m.unwind.get_or_insert_with(Box::default);
                        *u.as_mut() = Unwind {
                            return_code: Some(code.to_owned()),
                            return_reason: Some(match &partial {
                                Some(p) => {
                                    format!("Returned by the receiving bank ({p} sent back)")
                                }
                                None => "Returned by the receiving bank".to_owned(),
                            }),
                            return_initiated_at: Some(now.timestamp()),
                            return_deadline: Some((now + chrono::Duration::days(2)).timestamp()),
                            ..Unwind::default()
                        };
                    }
                    Stage::PendingReversal => {
                        let u = m.unwind.get_or_insert_with(Box::default);
                        u.reversal_reason = Some("Reversed by the originator".to_owned());
                        u.reversal_initiated_at = Some(now.timestamp());
                    }
                    _ => {}
                }
            })?;
        }
        (_, None) => {}
    }
    sim.held = held;
    sim.state = if held {
        "awaiting_advance"
    } else {
        "completed"
    }
    .to_owned();
    if !held {
        sim.completed_at = Some(now);
    }
    tx.put(sim);
    Ok(())
}

fn sender(
    op: &str,
    account: &AccountRec,
    address: Option<&str>,
) -> Result<types::SenderDetails, ApiError> {
    let b = types::builder::SenderDetails::default();
    let b = if op == "crypto_inbound" {
        let family = account
            .source_network()
            .map_or(types::Family::Evm, money::family_of);
        b.sender_type(Some("wallet".to_owned()))
            .sender_wallet_address(Some(
                address
                    .filter(|a| Some(*a) != account.deposit_address())
                    .map_or_else(|| money::deposit_address(&family), str::to_owned),
            ))
            .sender_network(account.source_network().map(|n| n.as_str().to_owned()))
    } else {
        b.sender_type(Some("bank".to_owned()))
            .sender_account_holder_name(Some("Sandbox Sender LLC".to_owned()))
            .sender_bank_name(Some("First Sandbox Bank".to_owned()))
            .sender_routing_number(Some("011000015".to_owned()))
            .sender_account_number(Some(money::digits(10)))
            .sender_account_type(Some("checking".to_owned()))
    };
    build(b)
}

/// `POST /sandbox/simulate/inbound`.
fn simulate(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::SimulateInboundBody = call.body_as()?;
    let mut errs = Errors::default();
    errs.known("type", &req.type_);
    let amount = money::parse_amount(&req.amount);
    if amount.is_none() {
        errs.push("amount", "invalid_format", "must be a decimal amount");
    }
    if let Some(p) = &req.partial_amount {
        if money::parse_amount(p).is_none() {
            errs.push(
                "partial_amount",
                "invalid_format",
                "must be a decimal amount",
            );
        }
    }
    errs.finish()?;
    let op = req.type_.as_str().to_owned();
    let scenario = req
        .scenario
        .clone()
        .or_else(|| call.scenario().map(str::to_owned))
        .unwrap_or_else(|| "happy_path".to_owned());
    let instant = call.flag("x-sandbox-instant-completion");
    let step = if instant {
        chrono::Duration::zero()
    } else {
        money::step_of(
            call.state.config().transaction_step,
            money::scenario_outcome(Some(&scenario)).1,
        )
    };
    call.write(|tx| {
        let id = req.simulation_id.to_string();
        if simulations::exists(tx, &id) {
            return Err(ApiError::conflict(format!(
                "A simulation with id '{id}' already exists"
            )));
        }
        let (target, account) = resolve(tx, &req, &op)?;
        let delay = req
            .delay_seconds
            .map(|d| chrono::Duration::seconds(i64::try_from(d.get()).unwrap_or(86_400)));
        let fire_at = tx.now + delay.unwrap_or_else(chrono::Duration::zero);
        let sim = SimRec {
            id: id.clone(),
            rail: rail_of(&op).to_owned(),
            operation: op.clone(),
            account_id: account.as_ref().map(|a| a.id.clone()),
            wallet_address: req.wallet_address.clone().or(req.wallet_id.clone()),
            amount: money::fmt_amount(amount.unwrap_or(Decimal::ZERO)),
            currency: req.currency.clone(),
            scenario,
            trace_id: req.trace_id.clone(),
            created_at: tx.now,
            completed_at: None,
            target: Some(target),
            held: false,
            state: "scheduled".to_owned(),
            fire_at: Some(fire_at),
            partial_amount: req.partial_amount.clone(),
            step,
            position: None,
        };
        simulations::register(tx, run_of(&sim));
        tx.put(sim);
        if delay.is_some() {
            tx.schedule(fire_at, &id, &FIRE);
        } else {
            fire(tx, &id, fire_at)?;
        }
        let body: types::SimulateInboundResponse = build(
            types::builder::SimulateInboundResponse::default()
                .simulation_id(Some(id))
                .state(Some(types::SimulationState::Accepted))
                .trace_id(req.trace_id.clone()),
        )?;
        Reply::ok(&body)
    })
}

// ----- the run of a payment simulation -----

/// The run `GET /sandbox/simulations/{id}` shows for a payment simulation.
fn run_of(sim: &SimRec) -> RunRec {
    let mut metadata = HashMap::new();
    if let Some(p) = &sim.partial_amount {
        metadata.insert("partial_amount".to_owned(), p.clone());
    }
    RunRec {
        id: sim.id.clone(),
        rail: sim.rail.clone(),
        operation: sim.operation.clone(),
        scenario: sim.scenario.clone(),
        amount: sim.amount.clone(),
        currency: sim.currency.clone(),
        account_id: sim.account_id.clone(),
        wallet_id: sim.wallet_address.clone(),
        trace_id: sim.trace_id.clone(),
        metadata,
        created_at: sim.created_at,
        subject: sim.id.clone(),
        actions: HOLD_ACTIONS.iter().map(|s| (*s).to_owned()).collect(),
        def: &PAYMENT_RUN,
    }
}

/// The run of a simulated payment (see [`super::simulations::RunDef`]).
pub(crate) static PAYMENT_RUN: RunDef = RunDef {
    name: "simulation.payment",
    state: payment_state,
    on_advance: Some(payment_advance),
    refresh: Some(payment_refresh),
};

/// Fires a due delayed run and lets its movement take its due steps.
fn payment_refresh(tx: &mut Tx<'_>, run: &RunRec) -> Result<(), ApiError> {
    let Some(sim) = tx.get::<SimRec>(&run.subject).cloned() else {
        return Ok(());
    };
    if sim.fire_at.is_some_and(|at| at <= tx.now) {
        fire(tx, &sim.id, tx.now)?;
    }
    let Some(mut sim) = tx.get::<SimRec>(&run.subject).cloned() else {
        return Ok(());
    };
    let position = match &sim.target {
        Some(t @ (Target::OneOff(id) | Target::Auto(id))) if !id.is_empty() => t
            .movement(tx)?
            .map(|m| m.life.stage.account().as_str().to_owned()),
        _ => None,
    };
    if position != sim.position {
        sim.position = position;
        tx.put(sim);
    }
    Ok(())
}

fn payment_state(
    t: &Tables,
    run: &RunRec,
) -> (String, Option<String>, bool, Option<DateTime<Utc>>) {
    match t.get::<SimRec>(&run.subject) {
        Some(sim) => (
            sim.state.clone(),
            sim.position.clone(),
            sim.held,
            sim.completed_at,
        ),
        None => ("canceled".into(), None, false, None),
    }
}

/// Approves (the movement completes) or rejects (it fails) a held payment run.
fn payment_advance(
    tx: &mut Tx<'_>,
    run: &RunRec,
    action: &str,
    reason: Option<&str>,
) -> Result<String, ApiError> {
    let Some(mut sim) = tx.get::<SimRec>(&run.subject).cloned() else {
        return Err(ApiError::not_found("Simulation", &run.subject));
    };
    let Some(target) = sim.target.clone() else {
        return Err(ApiError::conflict(
            "The simulation has no movement to resolve",
        ));
    };
    let sim_id = sim.id.clone();
    match action {
        "approve" => transactions::force(tx, &target, Stage::Completed, false, |m| {
            m.simulation = Some(sim_id);
        })?,
        "reject" => {
            let reason = reason.unwrap_or("compliance_rejected").to_owned();
            transactions::force(tx, &target, Stage::Failed, false, move |m| {
                m.simulation = Some(sim_id);
                m.life.outcome = Outcome::Fail(reason);
            })?;
        }
        other => {
            return Err(ApiError::field(
                "action",
                "invalid_value",
                format!(
                    "'{other}' does not fit this run; it offers {}",
                    HOLD_ACTIONS.join(", ")
                ),
            ))
        }
    }
    sim.held = false;
    sim.state = if action == "approve" {
        "completed"
    } else {
        "rejected"
    }
    .to_owned();
    sim.completed_at = Some(tx.now);
    let state = sim.state.clone();
    tx.put(sim);
    payment_refresh(tx, run)?;
    Ok(state)
}

/// The timer that starts a delayed simulated payment.
pub(crate) static FIRE: TimerDef = TimerDef {
    name: "inbound_simulation.fire",
    run: fire,
};

/// Registers the simulated-payment records and timer (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<SimRec>().timer(&FIRE);
}
