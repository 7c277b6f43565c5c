//! Transactions: one-off transactions (`/transactions...`, with cancellation) and the auto
//! transactions deposits into accounts create (`/auto-transactions...`), with their lifecycle.
//!
//! A movement goes `pending` → `processing` → `completed`, one step per
//! [`crate::SandboxConfig::transaction_step`], driven by a lifecycle timer (and applied on any
//! read once due). A one-off transaction is `pending` until its deposit arrives (by itself
//! after one step, or at once with `POST /sandbox/simulate/inbound`); `X-Sandbox-Scenario`
//! picks the ending (`insufficient_funds`, `compliance_block`, `invalid_account`,
//! `account_frozen`, `invalid_swift` fail it; `delayed_settlement` and `network_congestion`
//! take ten times longer). Returns and reversals come from simulations; a `pending` one-off
//! transaction can be cancelled. Every change is announced as `transaction.one_off.*` or
//! `transaction.auto.*`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;
use rust_decimal::Decimal;
use serde_json::json;

use super::accounts::{self, AccountKind, AccountRec};
use super::money::{self, Lifecycle, Outcome, Quote, Stage};
use super::onboarding::CustomerRec;
use super::recipients::{self, DestKind, DestinationRec};
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::query::{self, Order, Page};
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, TimerDef, Tx};

known!(OneOffTransactionStatus, TransactionStatus, TransactionType);

/// Registers the transactions and auto-transactions operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createTransaction", create)
        .add("listTransactions", list)
        .add("getTransaction", get)
        .add("createTransactionCancellation", cancel)
        .add("listAutoTransactions", list_auto)
        .add("getAutoTransaction", get_auto);
}

/// The id the sandbox's organization has (`client_id` of auto transactions).
pub(crate) const ORGANIZATION_ID: &str = "2ZsandboxOrganization000001";
/// The provider carrying the sandbox's movements.
const PROVIDER: &str = "sandbox";
/// Amount deposited when a one-off transaction without an amount is funded by itself.
const DEFAULT_DEPOSIT: i64 = 100;

/// A return or reversal of a payout.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Unwind {
    pub(crate) return_code: Option<String>,
    pub(crate) return_reason: Option<String>,
    pub(crate) return_initiated_at: Option<i64>,
    pub(crate) return_deadline: Option<i64>,
    pub(crate) reversal_reason: Option<String>,
    pub(crate) reversal_initiated_at: Option<i64>,
}

/// What the movement pays into, as the one-off view shows it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Payee {
    holder: Option<String>,
    last_four: Option<String>,
    bank: Option<String>,
    bic: Option<String>,
    iban: Option<String>,
    routing: Option<String>,
    address: Option<String>,
}

impl Payee {
    fn of(d: &DestinationRec) -> Self {
        match &d.view {
            types::DestinationResponseUnion::FiatUsDestinationResponse(v) => Self {
                holder: Some(v.account_holder_name.clone()),
                last_four: Some(last_four(&v.account_number)),
                bank: Some(v.bank_name.clone()),
                routing: Some(v.aba_routing_number.clone()),
                ..Self::default()
            },
            types::DestinationResponseUnion::FiatIbanDestinationResponse(v) => Self {
                holder: Some(v.account_holder_name.clone()),
                last_four: Some(last_four(&v.iban)),
                bank: v.bank_name.clone(),
                bic: v.bic.clone(),
                iban: Some(v.iban.clone()),
                ..Self::default()
            },
            _ => Self {
                address: match &d.kind {
                    DestKind::Crypto { address, .. } => Some(address.clone()),
                    _ => None,
                },
                ..Self::default()
            },
        }
    }
}

fn last_four(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// What every movement has.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Movement {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) destination_id: String,
    pub(crate) source_asset: String,
    pub(crate) destination_asset: String,
    pub(crate) source_network: Option<types::NetworkId>,
    pub(crate) destination_network: Option<types::NetworkId>,
    pub(crate) rail: Option<types::PaymentCapability>,
    pub(crate) developer_fee_bps: u32,
    pub(crate) life: Lifecycle,
    /// The amounts, once the deposit is known.
    pub(crate) quote: Option<Quote>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) deposit_hash: Option<String>,
    pub(crate) payout_hash: Option<String>,
    pub(crate) sender: Option<Box<types::SenderDetails>>,
    pub(crate) unwind: Option<Box<Unwind>>,
    /// The simulation behind the latest change, named on its events.
    pub(crate) simulation: Option<String>,
    /// Whether the destination (and account) were released when it became final.
    pub(crate) released: bool,
}

/// A one-off transaction.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct OneOffRec {
    pub(crate) m: Movement,
    pub(crate) amount: Option<Decimal>,
    pub(crate) payment_reference: Option<String>,
    pub(crate) deposit_address: String,
    pub(crate) payee: Box<Payee>,
}

impl Record for OneOffRec {
    const KIND: &'static str = "one_off_transaction";
    fn id(&self) -> &str {
        &self.m.id
    }
}

/// A movement through an account, created by a deposit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AutoRec {
    pub(crate) m: Movement,
    pub(crate) account_id: String,
    pub(crate) kind: AccountKind,
    pub(crate) provider_external_id: String,
}

impl Record for AutoRec {
    const KIND: &'static str = "auto_transaction";
    fn id(&self) -> &str {
        &self.m.id
    }
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn family(n: Option<&types::NetworkId>) -> types::Family {
    n.map_or(types::Family::Evm, money::family_of)
}

impl Movement {
    fn crypto_details(
        &self,
        deposit_to: Option<&str>,
        payee: Option<&str>,
    ) -> Option<types::TransactionCryptoDetails> {
        let b = types::builder::TransactionCryptoDetails::default()
            .deposit_transaction_hash(self.deposit_hash.clone())
            .transaction_hash(self.payout_hash.clone())
            .source_network_id(self.source_network.clone())
            .destination_network_id(self.destination_network.clone())
            .source_crypto_address(
                self.sender
                    .as_ref()
                    .and_then(|s| s.sender_wallet_address.clone())
                    .or_else(|| deposit_to.map(str::to_owned)),
            )
            .destination_crypto_address(payee.map(str::to_owned));
        build(b).ok()
    }

    fn receipt(
        &self,
        reference: Option<&str>,
    ) -> Result<Option<types::TransactionReceipt>, ApiError> {
        match (&self.quote, self.life.stage) {
            (
                Some(q),
                Stage::Completed
                | Stage::PendingReturn
                | Stage::Returned
                | Stage::PendingReversal
                | Stage::Reversed,
            ) => {
                let network = self
                    .destination_network
                    .as_ref()
                    .or(self.source_network.as_ref())
                    .map(types::NetworkId::as_str);
                Ok(Some(q.receipt(
                    &self.source_asset,
                    &self.destination_asset,
                    network,
                    reference,
                )?))
            }
            _ => Ok(None),
        }
    }

    fn unwind_field<T>(&self, f: impl Fn(&Unwind) -> Option<T>) -> Option<T> {
        self.unwind.as_deref().and_then(f)
    }
}

/// The spec's `OneOffTransaction`.
pub(crate) fn one_off_view(
    t: &Tables,
    r: &OneOffRec,
) -> Result<types::OneOffTransaction, ApiError> {
    let m = &r.m;
    let send = r
        .amount
        .map(|a| Quote::for_output(a, m.developer_fee_bps).input)
        .or(m.quote.map(|q| q.input));
    build(
        types::builder::OneOffTransaction::default()
            .id(ids::ksuid(&m.id))
            .resource_type("one_off")
            .customer_id(ids::ksuid(&m.customer_id))
            .customer_name(t.get::<CustomerRec>(&m.customer_id).map(|c| c.name.clone()))
            .crypto_address(r.deposit_address.clone())
            .source_asset(m.source_asset.clone())
            .source_network_id(
                m.source_network
                    .clone()
                    .unwrap_or(types::NetworkId::EthereumMainnet),
            )
            .destination_id(ids::ksuid(&m.destination_id))
            .destination_asset(m.destination_asset.as_str())
            .destination_payment_rail(m.rail.clone())
            .destination_account_holder_name(r.payee.holder.clone())
            .destination_account_number_last_four(r.payee.last_four.clone())
            .destination_bank_name(r.payee.bank.clone())
            .destination_bic(r.payee.bic.clone())
            .destination_iban(r.payee.iban.clone())
            .destination_routing_number(r.payee.routing.clone())
            .amount(r.amount.map(money::fmt_amount))
            .send_amount(send.map(money::fmt_amount))
            .payment_reference(r.payment_reference.clone())
            .status(m.life.stage.one_off())
            .failure_reason(m.life.failure_reason())
            .created_at(ts(m.created_at))
            .updated_at(ts(m.updated_at))
            .completed_at(m.completed_at.map(ts))
            .crypto_details(m.crypto_details(Some(&r.deposit_address), r.payee.address.as_deref()))
            .receipt(m.receipt(r.payment_reference.as_deref())?)
            .sender_details(m.sender.as_deref().cloned())
            .return_code(m.unwind_field(|u| u.return_code.clone()))
            .return_reason(m.unwind_field(|u| u.return_reason.clone()))
            .return_initiated_at(m.unwind_field(|u| u.return_initiated_at))
            .return_deadline(m.unwind_field(|u| u.return_deadline))
            .reversal_reason(m.unwind_field(|u| u.reversal_reason.clone()))
            .reversal_initiated_at(m.unwind_field(|u| u.reversal_initiated_at)),
    )
}

/// The spec's `AutoAccountTransaction`.
pub(crate) fn auto_view(
    t: &Tables,
    r: &AutoRec,
) -> Result<types::AutoAccountTransaction, ApiError> {
    let m = &r.m;
    let deposit_to = t
        .get::<AccountRec>(&r.account_id)
        .and_then(|a| a.deposit_address().map(str::to_owned));
    let payee = t
        .get::<DestinationRec>(&m.destination_id)
        .and_then(|d| match &d.kind {
            DestKind::Crypto { address, .. } => Some(address.clone()),
            _ => None,
        });
    build(
        types::builder::AutoAccountTransaction::default()
            .id(ids::ksuid(&m.id))
            .auto_account_id(ids::ksuid(&r.account_id))
            .client_id(ids::ksuid(ORGANIZATION_ID))
            .destination_id(ids::ksuid(&m.destination_id))
            .type_(r.kind.as_str())
            .status(m.life.stage.account())
            .provider_id(PROVIDER.to_owned())
            .provider_external_id(r.provider_external_id.clone())
            .provider_status(m.life.stage.account().as_str().to_owned())
            .failure_reason(m.life.failure_reason())
            .created_at(ts(m.created_at))
            .updated_at(ts(m.updated_at))
            .completed_at(m.completed_at.map(ts))
            .crypto_details(m.crypto_details(deposit_to.as_deref(), payee.as_deref()))
            .receipt(m.receipt(None)?)
            .sender_details(m.sender.as_deref().cloned())
            .return_code(m.unwind_field(|u| u.return_code.clone()))
            .return_reason(m.unwind_field(|u| u.return_reason.clone()))
            .return_initiated_at(m.unwind_field(|u| u.return_initiated_at))
            .return_deadline(m.unwind_field(|u| u.return_deadline))
            .reversal_reason(m.unwind_field(|u| u.reversal_reason.clone()))
            .reversal_initiated_at(m.unwind_field(|u| u.reversal_initiated_at)),
    )
}

/// The unified `Transaction` view of an auto transaction (`getTransaction`, lists).
pub(crate) fn unified_view(r: &AutoRec) -> Result<types::Transaction, ApiError> {
    let m = &r.m;
    let q = m
        .quote
        .unwrap_or_else(|| Quote::of(Decimal::ZERO, m.developer_fee_bps));
    let amount = |v: Decimal, asset: &str| {
        build::<types::TransactionAmount, _>(
            types::builder::TransactionAmount::default()
                .amount(money::fmt_amount(v))
                .asset(asset.to_owned()),
        )
    };
    let settlement: Option<types::TransactionSettlement> = if m.payout_hash.is_some() {
        Some(build(
            types::builder::TransactionSettlement::default().txn_hash(m.payout_hash.clone()),
        )?)
    } else {
        None
    };
    build(
        types::builder::Transaction::default()
            .id(ids::ksuid(&m.id))
            .resource_type("auto_account")
            .type_(r.kind.as_str())
            .status(m.life.stage.account())
            .description(format!(
                "{} {} to {}",
                r.kind.as_str(),
                m.source_asset,
                m.destination_asset
            ))
            .input_amount(amount(q.input, &m.source_asset)?)
            .subtotal_amount(amount(
                q.input - q.platform_fee - q.developer_fee,
                &m.source_asset,
            )?)
            .converted_amount(amount(q.output, &m.destination_asset)?)
            .output_amount(amount(q.output, &m.destination_asset)?)
            .sender_details(m.sender.as_deref().cloned())
            .settlement(settlement)
            .created_at(ts(m.created_at))
            .updated_at(ts(m.updated_at))
            .completed_at(m.completed_at.map(ts)),
    )
}

// ----------------------------------------- lifecycle -----------------------------------------

/// What happens to a movement when it enters a stage at `at`.
fn entered(tx: &mut Tx<'_>, m: &mut Movement, at: DateTime<Utc>, deposit_to: Option<&str>) {
    m.updated_at = m.updated_at.max(at);
    match m.life.stage {
        Stage::Processing if m.quote.is_none() || m.deposit_hash.is_none() => {
            // The deposit arrived by itself.
            if m.quote.is_none() {
                m.quote = Some(Quote::of(
                    Decimal::from(DEFAULT_DEPOSIT),
                    m.developer_fee_bps,
                ));
            }
            if deposit_to.is_some() {
                let fam = family(m.source_network.as_ref());
                m.deposit_hash = Some(money::transaction_hash(&fam));
                if m.sender.is_none() {
                    m.sender = build(
                        types::builder::SenderDetails::default()
                            .sender_type(Some("wallet".to_owned()))
                            .sender_wallet_address(Some(money::deposit_address(&fam)))
                            .sender_network(
                                m.source_network.as_ref().map(|n| n.as_str().to_owned()),
                            ),
                    )
                    .ok()
                    .map(Box::new);
                }
            }
        }
        Stage::Completed => {
            m.completed_at = Some(at);
            if m.destination_network.is_some() {
                m.payout_hash = Some(money::transaction_hash(&family(
                    m.destination_network.as_ref(),
                )));
            }
        }
        _ => {}
    }
    if m.life.stage.is_final() && !m.released {
        m.released = true;
        recipients::use_destination(tx, &m.destination_id, -1);
    }
}

/// Applies the due steps of a one-off transaction, announcing each; `None` if unknown.
pub(crate) fn advance_one_off(tx: &mut Tx<'_>, id: &str) -> Result<Option<OneOffRec>, ApiError> {
    let Some(mut r) = tx.get::<OneOffRec>(id).cloned() else {
        return Ok(None);
    };
    let now = tx.now;
    let mut changed = false;
    while let Some(before) = r.m.life.due(now).then_some(r.m.life.stage) {
        let Some(at) = r.m.life.step_once(now) else {
            break;
        };
        let address = r.deposit_address.clone();
        entered(tx, &mut r.m, at, Some(&address));
        changed = true;
        if r.m.life.stage != before {
            announce_one_off(tx, &r, Some(before))?;
            if r.m.life.stage == Stage::Completed {
                recipients::mark_paid(tx, &r.m.destination_id)?;
            }
        }
    }
    if changed {
        tx.put(r.clone());
        schedule_one_off(tx, &r);
    }
    Ok(Some(r))
}

fn schedule_one_off(tx: &mut Tx<'_>, r: &OneOffRec) {
    if let Some(at) = r.m.life.next_at {
        tx.schedule(at, &r.m.id, &ONE_OFF);
    }
}

fn fire_one_off(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
    advance_one_off(tx, id).map(|_| ())
}

/// Applies the due steps of an auto transaction, announcing each; `None` if unknown.
pub(crate) fn advance_auto(tx: &mut Tx<'_>, id: &str) -> Result<Option<AutoRec>, ApiError> {
    let Some(mut r) = tx.get::<AutoRec>(id).cloned() else {
        return Ok(None);
    };
    let now = tx.now;
    let mut changed = false;
    while let Some(before) = r.m.life.due(now).then_some(r.m.life.stage) {
        let Some(at) = r.m.life.step_once(now) else {
            break;
        };
        let was_released = r.m.released;
        entered(tx, &mut r.m, at, None);
        if r.m.released && !was_released {
            accounts::in_flight(tx, &r.account_id, -1);
        }
        changed = true;
        if r.m.life.stage != before {
            announce_auto(tx, &r, Some(before))?;
            if r.m.life.stage == Stage::Completed {
                recipients::mark_paid(tx, &r.m.destination_id)?;
            }
        }
    }
    if changed {
        tx.put(r.clone());
        schedule_auto(tx, &r);
    }
    Ok(Some(r))
}

fn schedule_auto(tx: &mut Tx<'_>, r: &AutoRec) {
    if let Some(at) = r.m.life.next_at {
        tx.schedule(at, &r.m.id, &AUTO);
    }
}

fn fire_auto(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
    advance_auto(tx, id).map(|_| ())
}

fn announce_one_off(tx: &mut Tx<'_>, r: &OneOffRec, before: Option<Stage>) -> Result<(), ApiError> {
    let object = money::object(&one_off_view(tx, r)?)?;
    let e = match before {
        None => PendingEvent::new(types::EventType::TransactionOneOffCreated, object),
        Some(b) => PendingEvent::new(types::EventType::TransactionOneOffUpdated, object)
            .previous("status", b.one_off().as_str()),
    };
    events::emit(tx, e.simulation(r.m.simulation.clone()))
}

fn announce_auto(tx: &mut Tx<'_>, r: &AutoRec, before: Option<Stage>) -> Result<(), ApiError> {
    let mut object = money::object(&auto_view(tx, r)?)?;
    object.insert("customer_id".into(), json!(r.m.customer_id));
    let e = match before {
        None => PendingEvent::new(types::EventType::TransactionAutoCreated, object),
        Some(b) => PendingEvent::new(types::EventType::TransactionAutoUpdated, object)
            .previous("status", b.account().as_str()),
    };
    events::emit(tx, e.simulation(r.m.simulation.clone()))
}

/// Moves a movement to `stage` now (a simulation or a cancellation), then announces it.
/// `follows`: the next stage comes one step later by itself (returns and reversals).
pub(crate) fn force(
    tx: &mut Tx<'_>,
    target: &Target,
    stage: Stage,
    follows: bool,
    edit: impl FnOnce(&mut Movement),
) -> Result<(), ApiError> {
    let now = tx.now;
    match target {
        Target::OneOff(id) => {
            let Some(mut r) = advance_one_off(tx, id)? else {
                return Err(ApiError::not_found("Transaction", id));
            };
            let before = r.m.life.stage;
            edit(&mut r.m);
            r.m.life.jump(stage, now, follows);
            let address = r.deposit_address.clone();
            entered(tx, &mut r.m, now, Some(&address));
            tx.put(r.clone());
            announce_one_off(tx, &r, Some(before))?;
            if stage == Stage::Completed {
                recipients::mark_paid(tx, &r.m.destination_id)?;
            }
            schedule_one_off(tx, &r);
        }
        Target::Auto(id) => {
            let Some(mut r) = advance_auto(tx, id)? else {
                return Err(ApiError::not_found("Transaction", id));
            };
            let before = r.m.life.stage;
            edit(&mut r.m);
            r.m.life.jump(stage, now, follows);
            let was_released = r.m.released;
            entered(tx, &mut r.m, now, None);
            if r.m.released && !was_released {
                accounts::in_flight(tx, &r.account_id, -1);
            }
            tx.put(r.clone());
            announce_auto(tx, &r, Some(before))?;
            if stage == Stage::Completed {
                recipients::mark_paid(tx, &r.m.destination_id)?;
            }
            schedule_auto(tx, &r);
        }
    }
    Ok(())
}

/// A movement named by a simulation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Target {
    OneOff(String),
    Auto(String),
}

impl Target {
    /// The movement's current state, after applying due steps.
    pub(crate) fn movement(&self, tx: &mut Tx<'_>) -> Result<Option<Movement>, ApiError> {
        Ok(match self {
            Target::OneOff(id) => advance_one_off(tx, id)?.map(|r| r.m),
            Target::Auto(id) => advance_auto(tx, id)?.map(|r| r.m),
        })
    }
}

/// Records a deposit into a one-off transaction (a simulated inbound payment): it goes to
/// `processing` at once with these amounts.
pub(crate) fn deposit_one_off(
    tx: &mut Tx<'_>,
    id: &str,
    amount: Decimal,
    simulation: &str,
    outcome: Option<Outcome>,
) -> Result<(), ApiError> {
    let Some(r) = advance_one_off(tx, id)? else {
        return Err(ApiError::not_found("One-off transaction", id));
    };
    if r.m.life.stage != Stage::Pending {
        return Err(ApiError::field(
            "one_off_transaction_id",
            "invalid_state",
            format!(
                "the transaction is {} and takes no deposit",
                r.m.life.stage.one_off().as_str()
            ),
        ));
    }
    force(
        tx,
        &Target::OneOff(id.to_owned()),
        Stage::Processing,
        true,
        |m| {
            m.quote = Some(Quote::of(amount, m.developer_fee_bps));
            m.simulation = Some(simulation.to_owned());
            if let Some(o) = outcome {
                m.life.outcome = o;
            }
        },
    )?;
    // A held movement waits in `processing` for `advanceSimulation`.
    if let Some(mut r) = tx.get::<OneOffRec>(id).cloned() {
        if r.m.life.outcome == Outcome::Hold {
            r.m.life.next_at = None;
            tx.put(r);
        }
    }
    Ok(())
}

/// Creates the auto transaction a deposit into an account causes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_auto(
    tx: &mut Tx<'_>,
    account: &AccountRec,
    amount: Decimal,
    sender: types::SenderDetails,
    outcome: Outcome,
    step: chrono::Duration,
    simulation: &str,
) -> Result<String, ApiError> {
    let now = tx.now;
    let id = tx.next_id();
    let mut life = Lifecycle::start(Stage::Pending, outcome, step, now);
    if life.outcome == Outcome::Hold {
        // Straight to `processing`, where it waits for `advanceSimulation`.
        life.stage = Stage::Processing;
        life.next_at = None;
    }
    let deposit_hash = account
        .source_network()
        .map(|n| money::transaction_hash(&money::family_of(n)));
    let r = AutoRec {
        m: Movement {
            id: id.clone(),
            customer_id: account.customer_id.clone(),
            destination_id: account.destination_id.clone(),
            source_asset: account.source_asset.clone(),
            destination_asset: account.destination_asset.clone(),
            source_network: account.source_network().cloned(),
            destination_network: account.destination_network.clone(),
            rail: account.rail.clone(),
            developer_fee_bps: account.developer_fee_bps,
            life,
            quote: Some(Quote::of(amount, account.developer_fee_bps)),
            created_at: now,
            updated_at: now,
            completed_at: None,
            deposit_hash,
            payout_hash: None,
            sender: Some(Box::new(sender)),
            unwind: None,
            simulation: Some(simulation.to_owned()),
            released: false,
        },
        account_id: account.id.clone(),
        kind: account.kind,
        provider_external_id: format!("sbx_{}", ids::random_alnum(20).to_ascii_lowercase()),
    };
    tx.put(r.clone());
    accounts::in_flight(tx, &account.id, 1);
    recipients::use_destination(tx, &account.destination_id, 1);
    announce_auto(tx, &r, None)?;
    schedule_auto(tx, &r);
    Ok(id)
}

/// The latest auto transaction of an account.
pub(crate) fn latest_of_account(t: &Tables, account_id: &str) -> Option<String> {
    t.scan::<AutoRec>()
        .rev()
        .find(|r| r.account_id == account_id)
        .map(|r| r.m.id.clone())
}

/// The one-off transaction funded at this deposit address.
pub(crate) fn one_off_by_address(t: &Tables, address: &str) -> Option<String> {
    t.scan::<OneOffRec>()
        .rev()
        .find(|r| r.deposit_address == address)
        .map(|r| r.m.id.clone())
}

// ------------------------------------------ handlers ------------------------------------------

/// `POST /transactions`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::OneOffTransactionRequest = call.body_as()?;
    let mut errs = Errors::default();
    errs.known("source_network_id", &req.source_network_id);
    if let Some(n) = &req.destination_network_id {
        errs.known("destination_network_id", n);
    }
    if let Some(r) = &req.destination_payment_rail {
        errs.known("destination_payment_rail", r);
    }
    if let Some(b) = req.developer_fee_bps {
        if !(0..=10_000).contains(&b) {
            errs.push(
                "developer_fee_bps",
                "out_of_range",
                "must be between 0 and 10000",
            );
        }
    }
    errs.finish()?;
    let amount = match &req.amount {
        Some(a) => Some(money::parse_amount(a.as_str()).ok_or_else(|| {
            ApiError::field("amount", "invalid_format", "must be a decimal amount")
        })?),
        None => None,
    };
    let step_cfg = call.state.config().transaction_step;
    let instant = call.flag("x-sandbox-instant-completion");
    let (outcome, factor) = money::scenario_outcome(call.scenario());
    let step = if instant {
        chrono::Duration::zero()
    } else {
        money::step_of(step_cfg, factor)
    };
    call.write(|tx| {
        match money::customer_active(tx, req.customer_id.as_str())? {
            None => return Err(ApiError::not_found("Customer", &req.customer_id)),
            Some(false) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "customer-not-active",
                    "Customer not active",
                    "The customer is not approved to move money: finish onboarding first",
                ))
            }
            Some(true) => {}
        }
        let Some(dest) = tx
            .get::<DestinationRec>(req.destination_id.as_str())
            .filter(|d| d.customer_id == req.customer_id.as_str())
            .cloned()
        else {
            return Err(ApiError::not_found("Destination", &req.destination_id));
        };
        let unprocessable = |detail: String| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable-combination",
                "Cannot be combined",
                detail,
            )
        };
        if !money::STABLECOINS.contains(&req.source_asset.as_str()) {
            return Err(unprocessable(format!(
                "source_asset '{}' is not deposited here; use one of {}",
                req.source_asset,
                money::STABLECOINS.join(", ")
            )));
        }
        // The one-off view states the delivered asset as a three-letter code.
        let three_letters = req.destination_asset.len() == 3
            && req.destination_asset.bytes().all(|b| b.is_ascii_uppercase());
        let (rail, destination_network) = match &dest.kind {
            DestKind::Crypto { network, .. } => {
                if !three_letters || !money::is_asset(&req.destination_asset) {
                    return Err(unprocessable(format!(
                        "destination_asset '{}' cannot be delivered to a crypto destination by a one-off transaction",
                        req.destination_asset
                    )));
                }
                (
                    None,
                    req.destination_network_id.clone().or(network.clone()),
                )
            }
            kind => {
                if !money::is_fiat(&req.destination_asset) {
                    return Err(unprocessable(format!(
                        "destination_asset '{}' is not paid to bank accounts; use {}",
                        req.destination_asset,
                        money::FIAT.join(" or ")
                    )));
                }
                let rails = kind.rails();
                let rail = req
                    .destination_payment_rail
                    .clone()
                    .or_else(|| rails.first().cloned());
                match rail {
                    Some(r) if rails.contains(&r) => (Some(r), None),
                    _ => {
                        return Err(unprocessable(format!(
                            "the destination is paid by {}",
                            rails.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                        )))
                    }
                }
            }
        };
        let now = tx.now;
        let id = tx.next_id();
        let r = OneOffRec {
            m: Movement {
                id: id.clone(),
                customer_id: req.customer_id.to_string(),
                destination_id: dest.id.clone(),
                source_asset: req.source_asset.clone(),
                destination_asset: req.destination_asset.clone(),
                source_network: Some(req.source_network_id.clone()),
                destination_network,
                rail,
                developer_fee_bps: req
                    .developer_fee_bps
                    .and_then(|b| u32::try_from(b).ok())
                    .unwrap_or(0),
                life: Lifecycle::start(Stage::Pending, outcome.clone(), step, now),
                quote: amount.map(|a| Quote::for_output(a, req.developer_fee_bps.and_then(|b| u32::try_from(b).ok()).unwrap_or(0))),
                created_at: now,
                updated_at: now,
                completed_at: None,
                deposit_hash: None,
                payout_hash: None,
                sender: None,
                unwind: None,
                simulation: None,
                released: false,
            },
            amount,
            payment_reference: req.payment_reference.as_ref().map(|p| p.to_string()),
            deposit_address: money::deposit_address(&money::family_of(&req.source_network_id)),
            payee: Box::new(Payee::of(&dest)),
        };
        tx.put(r.clone());
        recipients::use_destination(tx, &dest.id, 1);
        announce_one_off(tx, &r, None)?;
        schedule_one_off(tx, &r);
        let r = advance_one_off(tx, &id)?.unwrap_or(r);
        Reply::created(&one_off_view(tx, &r)?)
    })
}

/// `POST /transactions/{transaction_id}/cancellations`: only before the deposit.
fn cancel(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_or_404(0, "Transaction")?.to_owned();
    call.write(|tx| {
        let Some(r) = advance_one_off(tx, &id)? else {
            return Err(ApiError::not_found("Transaction", &id));
        };
        if r.m.life.stage != Stage::Pending {
            return Err(ApiError::field(
                "transaction_id",
                "not_cancellable",
                format!(
                    "the transaction is {} and can no longer be cancelled",
                    r.m.life.stage.one_off().as_str()
                ),
            ));
        }
        force(
            tx,
            &Target::OneOff(id.clone()),
            Stage::Cancelled,
            false,
            |_| {},
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// `GET /transactions/{transaction_id}`: a one-off or an auto transaction.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "transaction_id")?.to_owned();
    let body = call.write(|tx| {
        if let Some(r) = advance_one_off(tx, &id)? {
            return Ok(types::TransactionResource::OneOffTransaction(one_off_view(
                tx, &r,
            )?));
        }
        if let Some(r) = advance_auto(tx, &id)? {
            return Ok(types::TransactionResource::Transaction(unified_view(&r)?));
        }
        Err(ApiError::not_found("Transaction", &id))
    })?;
    Reply::ok(&body)
}

/// `GET /auto-transactions/{auto_transaction_id}`.
fn get_auto(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "auto_transaction_id")?.to_owned();
    let body = call.write(|tx| match advance_auto(tx, &id)? {
        Some(r) => auto_view(tx, &r),
        None => Err(ApiError::not_found("Account transaction", &id)),
    })?;
    Reply::ok(&body)
}

/// Applies every due step (before listing).
fn advance_all(tx: &mut Tx<'_>) -> Result<(), ApiError> {
    let now = tx.now;
    let due: Vec<String> = tx
        .scan::<OneOffRec>()
        .filter(|r| r.m.life.due(now))
        .map(|r| r.m.id.clone())
        .collect();
    for id in due {
        advance_one_off(tx, &id)?;
    }
    let due: Vec<String> = tx
        .scan::<AutoRec>()
        .filter(|r| r.m.life.due(now))
        .map(|r| r.m.id.clone())
        .collect();
    for id in due {
        advance_auto(tx, &id)?;
    }
    Ok(())
}

fn id_filter(errs: &mut Errors, q: &query::Query, name: &str) -> Option<String> {
    let v = q.filter(name)?;
    if ids::is_ksuid(v) {
        Some(v.to_owned())
    } else {
        errs.push(
            name,
            "invalid_format",
            "must be a KSUID (27 letters and digits)",
        );
        None
    }
}

fn date_filter(errs: &mut Errors, q: &query::Query, name: &str) -> Option<DateTime<Utc>> {
    let v = q.filter(name)?;
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errs.push(
                name,
                "invalid_format",
                format!("must be an RFC 3339 date-time ({e})"),
            );
            None
        }
    }
}

fn amount_filter(errs: &mut Errors, q: &query::Query, name: &str) -> Option<Decimal> {
    let v = q.filter(name)?;
    let d = money::parse_amount(v);
    if d.is_none() {
        errs.push(name, "invalid_format", "must be a decimal amount");
    }
    d
}

/// A comma-separated list of states; every entry must be one `T` lists.
fn states<T: crate::pipeline::validate::Known + for<'a> From<&'a str>>(
    errs: &mut Errors,
    q: &query::Query,
    name: &str,
) -> Option<Vec<String>> {
    let raw = q.filter(name)?;
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if T::from(part).unknown().is_some() {
            errs.push(name, "invalid_enum", format!("'{part}' is not a state"));
        } else {
            out.push(part.to_owned());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Common filters of the movement lists.
struct Filters {
    page: Page,
    customer: Option<String>,
    destination: Option<String>,
    status: Option<Vec<String>>,
    source_network: Option<String>,
    source_asset: Option<String>,
    destination_asset: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    min: Option<Decimal>,
    max: Option<Decimal>,
    search: Option<String>,
    desc: bool,
    sort_by: Option<String>,
}

impl Filters {
    fn keeps(&self, m: &Movement, status: &str, amount: Decimal, extra: &str) -> bool {
        self.customer.as_ref().is_none_or(|c| &m.customer_id == c)
            && self
                .destination
                .as_ref()
                .is_none_or(|d| &m.destination_id == d)
            && self
                .status
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == status))
            && self
                .source_network
                .as_ref()
                .is_none_or(|n| m.source_network.as_ref().is_some_and(|s| s.as_str() == n))
            && self
                .source_asset
                .as_ref()
                .is_none_or(|a| &m.source_asset == a)
            && self
                .destination_asset
                .as_ref()
                .is_none_or(|a| &m.destination_asset == a)
            && self.from.is_none_or(|f| m.created_at >= f)
            && self.to.is_none_or(|t| m.created_at <= t)
            && self.min.is_none_or(|v| amount >= v)
            && self.max.is_none_or(|v| amount <= v)
            && self.search.as_ref().is_none_or(|s| {
                m.id.to_lowercase().contains(s)
                    || m.destination_id.to_lowercase().contains(s)
                    || extra.contains(s.as_str())
            })
    }
}

fn amount_of(m: &Movement, asked: Option<Decimal>) -> Decimal {
    asked.or(m.quote.map(|q| q.output)).unwrap_or(Decimal::ZERO)
}

/// Orders `rows` as asked (newest first by default) and pages them.
fn sort_page<T>(
    mut rows: Vec<T>,
    m: impl Fn(&T) -> &Movement,
    key: impl Fn(&T) -> (String, Decimal),
    f: &Filters,
) -> Result<(Vec<T>, types::Meta), ApiError> {
    let order = match f.sort_by.as_deref() {
        None | Some("created_at") => {
            if f.desc {
                rows.reverse();
                Order::Newest
            } else {
                Order::Oldest
            }
        }
        Some(by) => {
            let by = by.to_owned();
            rows.sort_by(|a, b| {
                let (ka, va) = key(a);
                let (kb, vb) = key(b);
                let ord = if by == "amount" {
                    va.cmp(&vb)
                } else {
                    ka.cmp(&kb)
                };
                ord.then_with(|| m(a).id.cmp(&m(b).id))
            });
            if f.desc {
                rows.reverse();
            }
            Order::Other
        }
    };
    query::paginate(rows, |r| m(r).id.as_str(), &f.page, order)
}

/// `GET /transactions`: one kind of transactions, filtered and sorted.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let kind = q.filter("transaction_type").unwrap_or("one_off").to_owned();
    if !["one_off", "wallet", "auto_account"].contains(&kind.as_str()) {
        errs.push(
            "transaction_type",
            "invalid_enum",
            "expected one_off, wallet or auto_account",
        );
    }
    let customer = id_filter(&mut errs, &q, "customer_id");
    let wallet = id_filter(&mut errs, &q, "wallet_id");
    let destination = id_filter(&mut errs, &q, "destination_id");
    let mut status = states::<types::OneOffTransactionStatus>(&mut errs, &q, "status");
    if let Some(more) = states::<types::OneOffTransactionStatus>(&mut errs, &q, "statuses") {
        status = Some(match status {
            // Both given: keep what both allow.
            Some(s) => s.into_iter().filter(|x| more.contains(x)).collect(),
            None => more,
        });
    }
    let source_network = q.filter("source_network_id").map(str::to_owned);
    if let Some(n) = &source_network {
        if money::network(n).is_none() {
            errs.push(
                "source_network_id",
                "invalid_enum",
                "not a supported network",
            );
        }
    }
    if let Some(d) = q.filter("direction") {
        if d != "in" && d != "out" {
            errs.push("direction", "invalid_enum", "expected in or out");
        }
    }
    let sort_by = q.filter("sort_by").map(str::to_owned);
    if let Some(s) = &sort_by {
        if !["amount", "created_at", "customer_name", "status"].contains(&s.as_str()) {
            errs.push(
                "sort_by",
                "invalid_enum",
                "expected amount, created_at, customer_name or status",
            );
        }
    }
    let desc = match q.filter("sort_dir") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            errs.push("sort_dir", "invalid_enum", "expected asc or desc");
            true
        }
    };
    let f = Filters {
        page,
        customer,
        destination,
        status,
        source_network,
        source_asset: q.filter("source_asset").map(str::to_owned),
        destination_asset: q.filter("destination_asset").map(str::to_owned),
        from: date_filter(&mut errs, &q, "created_at_from"),
        to: date_filter(&mut errs, &q, "created_at_to"),
        min: amount_filter(&mut errs, &q, "amount_min"),
        max: amount_filter(&mut errs, &q, "amount_max"),
        search: q.filter("search").map(str::to_lowercase),
        desc,
        sort_by,
    };
    errs.finish()?;
    let body = call.write(|tx| {
        if let Some(c) = &f.customer {
            if !tx.contains::<CustomerRec>(c) {
                return Err(ApiError::not_found("Customer", c));
            }
        }
        if let Some(d) = &f.destination {
            if !tx.contains::<DestinationRec>(d) {
                return Err(ApiError::not_found("Destination", d));
            }
        }
        if let Some(w) = &wallet {
            // No wallet of this organization has that id (wallets are their own area).
            return Err(ApiError::not_found("Wallet", w));
        }
        advance_all(tx)?;
        let t: &Tables = tx;
        let name = |c: &str| {
            t.get::<CustomerRec>(c)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        match kind.as_str() {
            "one_off" => {
                let rows: Vec<&OneOffRec> = t
                    .scan::<OneOffRec>()
                    .filter(|r| {
                        let extra = format!(
                            "{} {}",
                            name(&r.m.customer_id).to_lowercase(),
                            r.payment_reference
                                .as_deref()
                                .unwrap_or_default()
                                .to_lowercase()
                        );
                        f.keeps(
                            &r.m,
                            r.m.life.stage.one_off().as_str(),
                            amount_of(&r.m, r.amount),
                            &extra,
                        )
                    })
                    .collect();
                let (rows, meta) = sort_page(
                    rows,
                    |r| &r.m,
                    |r| match f.sort_by.as_deref() {
                        Some("customer_name") => {
                            (name(&r.m.customer_id).to_lowercase(), Decimal::ZERO)
                        }
                        Some("status") => {
                            (r.m.life.stage.one_off().as_str().to_owned(), Decimal::ZERO)
                        }
                        _ => (String::new(), amount_of(&r.m, r.amount)),
                    },
                    &f,
                )?;
                let data = rows
                    .into_iter()
                    .map(|r| one_off_view(t, r))
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let page: types::PaginatedOneOffTransactionResponse = build(
                    types::builder::PaginatedOneOffTransactionResponse::default()
                        .data(data)
                        .meta(meta),
                )?;
                Ok(types::PaginatedTransactionResourceResponse::OneOffTransactionResponse(page))
            }
            "auto_account" => {
                let rows: Vec<&AutoRec> = t
                    .scan::<AutoRec>()
                    .filter(|r| {
                        f.keeps(
                            &r.m,
                            r.m.life.stage.one_off().as_str(),
                            amount_of(&r.m, None),
                            &name(&r.m.customer_id).to_lowercase(),
                        )
                    })
                    .collect();
                let (rows, meta) = sort_page(
                    rows,
                    |r| &r.m,
                    |r| match f.sort_by.as_deref() {
                        Some("customer_name") => {
                            (name(&r.m.customer_id).to_lowercase(), Decimal::ZERO)
                        }
                        Some("status") => {
                            (r.m.life.stage.account().as_str().to_owned(), Decimal::ZERO)
                        }
                        _ => (String::new(), amount_of(&r.m, None)),
                    },
                    &f,
                )?;
                let data = rows
                    .into_iter()
                    .map(unified_view)
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let page: types::PaginatedCustomerTransactionResponse = build(
                    types::builder::PaginatedCustomerTransactionResponse::default()
                        .data(data)
                        .meta(meta),
                )?;
                Ok(types::PaginatedTransactionResourceResponse::CustomerTransactionResponse(page))
            }
            _ => {
                // Wallet transactions belong to wallets; none exist without one.
                let (data, meta) = query::paginate(
                    Vec::<types::WalletTransaction>::new(),
                    |w| w.id.as_str(),
                    &f.page,
                    Order::Newest,
                )?;
                let page: types::PaginatedWalletTransactionResponse = build(
                    types::builder::PaginatedWalletTransactionResponse::default()
                        .data(data)
                        .meta(meta),
                )?;
                Ok(types::PaginatedTransactionResourceResponse::WalletTransactionResponse(page))
            }
        }
    })?;
    Reply::ok(&body)
}

/// `GET /auto-transactions`.
fn list_auto(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let account = id_filter(&mut errs, &q, "auto_account_id");
    let destination = id_filter(&mut errs, &q, "destination_id");
    let mut status = states::<types::TransactionStatus>(&mut errs, &q, "status");
    if let Some(more) = states::<types::TransactionStatus>(&mut errs, &q, "statuses") {
        status = Some(match status {
            Some(s) => s.into_iter().filter(|x| more.contains(x)).collect(),
            None => more,
        });
    }
    let mut kinds = states::<types::TransactionType>(&mut errs, &q, "type");
    if let Some(more) = states::<types::TransactionType>(&mut errs, &q, "types") {
        kinds = Some(match kinds {
            Some(s) => s.into_iter().filter(|x| more.contains(x)).collect(),
            None => more,
        });
    }
    let unix = |errs: &mut Errors, name: &str| -> Option<DateTime<Utc>> {
        let v = q.filter(name)?;
        match v
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
        {
            Some(t) => Some(t),
            None => {
                errs.push(name, "invalid_type", "must be a Unix time in seconds");
                None
            }
        }
    };
    let from = unix(&mut errs, "start_date");
    let to = unix(&mut errs, "end_date");
    if let Some(s) = q.filter("sort_by") {
        if s != "created_at" {
            errs.push("sort_by", "invalid_enum", "expected created_at");
        }
    }
    let desc = match q.filter("sort_dir") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            errs.push("sort_dir", "invalid_enum", "expected asc or desc");
            true
        }
    };
    let f = Filters {
        page,
        customer: None,
        destination,
        status: None,
        source_network: None,
        source_asset: q.filter("input_asset").map(str::to_owned),
        destination_asset: q.filter("destination_asset").map(str::to_owned),
        from,
        to,
        min: amount_filter(&mut errs, &q, "outgoing_amount_min"),
        max: amount_filter(&mut errs, &q, "outgoing_amount_max"),
        search: None,
        desc,
        sort_by: None,
    };
    errs.finish()?;
    let provider = q.filter("provider_id");
    let source_address = q.filter("source_crypto_address");
    let destination_address = q.filter("destination_crypto_address");
    let source_network = q.filter("source_network_id");
    let destination_network = q.filter("destination_network_id");
    let hash = q.filter("transaction_hash");
    let body = call.write(|tx| {
        if let Some(a) = &account {
            if !tx.contains::<AccountRec>(a) {
                return Err(ApiError::not_found("Account", a));
            }
        }
        if let Some(d) = &f.destination {
            if !tx.contains::<DestinationRec>(d) {
                return Err(ApiError::not_found("Destination", d));
            }
        }
        advance_all(tx)?;
        let t: &Tables = tx;
        let rows: Vec<(&AutoRec, types::AutoAccountTransaction)> =
            t.scan::<AutoRec>()
                .filter(|r| {
                    account.as_ref().is_none_or(|a| &r.account_id == a)
                        && status.as_ref().is_none_or(|s| {
                            s.iter().any(|x| x == r.m.life.stage.account().as_str())
                        })
                        && kinds
                            .as_ref()
                            .is_none_or(|k| k.iter().any(|x| x == r.kind.as_str()))
                        && provider.is_none_or(|p| p == PROVIDER)
                        && f.keeps(&r.m, "", amount_of(&r.m, None), "")
                })
                .map(|r| auto_view(t, r).map(|v| (r, v)))
                .filter(|row| {
                    let Ok((_, v)) = row else {
                        return true;
                    };
                    let d = v.crypto_details.as_ref();
                    source_address.is_none_or(|a| {
                        d.and_then(|d| d.source_crypto_address.as_deref()) == Some(a)
                    }) && destination_address.is_none_or(|a| {
                        d.and_then(|d| d.destination_crypto_address.as_deref()) == Some(a)
                    }) && source_network.is_none_or(|n| {
                        d.and_then(|d| d.source_network_id.as_ref())
                            .map(|x| x.as_str())
                            == Some(n)
                    }) && destination_network.is_none_or(|n| {
                        d.and_then(|d| d.destination_network_id.as_ref())
                            .map(|x| x.as_str())
                            == Some(n)
                    }) && hash.is_none_or(|h| {
                        d.is_some_and(|d| {
                            d.transaction_hash.as_deref() == Some(h)
                                || d.deposit_transaction_hash.as_deref() == Some(h)
                        })
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
        let (rows, meta) = sort_page(rows, |r| &r.0.m, |_| (String::new(), Decimal::ZERO), &f)?;
        build::<types::PaginatedAutoTransactionResponse, _>(
            types::builder::PaginatedAutoTransactionResponse::default()
                .data(rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

/// The lifecycle timer of one-off transactions (their next due step).
pub(crate) static ONE_OFF: TimerDef = TimerDef {
    name: "transaction.one_off",
    run: fire_one_off,
};

/// The lifecycle timer of auto transactions (their next due step).
pub(crate) static AUTO: TimerDef = TimerDef {
    name: "transaction.auto",
    run: fire_auto,
};

/// Registers the transaction records and timers (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<OneOffRec>()
        .record::<AutoRec>()
        .timer(&ONE_OFF)
        .timer(&AUTO);
}
