//! Self-serve credits (`/self-serve/credits/...`): the price list, the credit packs, the
//! balance, purchases and the ledger.
//!
//! The ledger follows what happens elsewhere in the sandbox: it opens with a starting credit
//! ([`STARTING_CREDIT_CENTS`], category `adjustment`); each submitted application costs the
//! KYC or KYB fee (`deduction`, `compliance_fee`); each wallet transfer costs
//! `transferFeeBps` of its USD value when broadcast (`deduction`, `transaction_fee`), given
//! back if it fails on chain (`refund`, `transaction_refund`). A purchase names a pack by its
//! price; the sandbox settles the payment at once (`purchase`), and its `checkout_url` is a
//! sandbox address that nothing serves. The balance may go below zero; nothing is blocked.
//! `balance_after_cents` is the running balance in time order.

use chrono::{DateTime, TimeZone, Utc};
use dakota_api::types;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::custody::{chain, WalletTxRec};
use super::onboarding::{AppRec, Kind};
use super::organization;
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

/// Credit every organization starts with.
pub(crate) const STARTING_CREDIT_CENTS: i64 = 10_000;

/// The sandbox's price list.
const TRANSFER_FEE_BPS: i64 = 20;
const KYC_FEE_CENTS: i64 = 150;
const KYB_FEE_CENTS: i64 = 500;
const ACH_FEE_CENTS: u64 = 25;
const WIRE_FEE_CENTS: u64 = 1_500;
const SEPA_FEE_CENTS: u64 = 50;
const SWIFT_FEE_CENTS: u64 = 2_500;

/// The packs on sale, by price in cents.
const TIERS: [i64; 4] = [5_000, 25_000, 100_000, 500_000];

/// Registers the self-serve credits operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("getSelfServeCreditsPricing", pricing)
        .add("listSelfServeCreditTiers", tiers)
        .add("getSelfServeCreditsBalance", balance)
        .add("listSelfServeCreditsLedger", ledger)
        .add("createSelfServeCreditsPurchase", purchase);
}

/// Transfer volume (cents) that `cents` of credit pays for.
fn capacity(cents: i64) -> i64 {
    cents.max(0).saturating_mul(10_000) / TRANSFER_FEE_BPS
}

/// One ledger entry (`balance_after_cents` is computed when read).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LedgerRec {
    pub(crate) id: String,
    pub(crate) entry_type: String,
    pub(crate) category: String,
    pub(crate) amount_cents: i64,
    pub(crate) transaction_id: Option<String>,
    pub(crate) stripe_payment_intent_id: Option<String>,
    pub(crate) description: String,
    pub(crate) created_at: DateTime<Utc>,
}

impl Record for LedgerRec {
    const KIND: &'static str = "credit_ledger_entry";
    fn id(&self) -> &str {
        &self.id
    }
}

fn org_time() -> DateTime<Utc> {
    Utc.timestamp_opt(organization::DERIVED_ID_UNIX, 0)
        .single()
        .unwrap_or_default()
}

/// The starting credit (not stored: every sandbox has it).
fn starting_credit() -> LedgerRec {
    LedgerRec {
        id: "sandbox-starting-credit".into(),
        entry_type: "purchase".into(),
        category: "adjustment".into(),
        amount_cents: STARTING_CREDIT_CENTS,
        transaction_id: None,
        stripe_payment_intent_id: None,
        description: "Sandbox starting credit".into(),
        created_at: org_time(),
    }
}

/// The fee (cents) of a transfer of `amount` of `symbol` on `network`.
fn transfer_fee(w: &WalletTxRec) -> i64 {
    let (Some(amount), Some(symbol)) = (w.amount, w.symbol.as_deref()) else {
        return 0;
    };
    let Some(token) = chain::token(symbol, &w.network) else {
        return 0;
    };
    let cents = token.usd_value(amount) * Decimal::from(100) * Decimal::from(TRANSFER_FEE_BPS)
        / Decimal::from(10_000);
    cents.round().to_i64().unwrap_or(0)
}

/// Books the fees and refunds of what happened since the ledger was last read.
fn sync(tx: &mut Tx<'_>) {
    let mut new: Vec<LedgerRec> = Vec::new();
    for a in tx.scan::<AppRec>() {
        let Some(at) = a.submitted_at else { continue };
        let id = format!("compliance-fee-{}", a.id);
        if tx.contains::<LedgerRec>(&id) {
            continue;
        }
        let (fee, what) = match a.kind {
            Kind::Business => (KYB_FEE_CENTS, "KYB"),
            Kind::Individual => (KYC_FEE_CENTS, "KYC"),
        };
        new.push(LedgerRec {
            id,
            entry_type: "deduction".into(),
            category: "compliance_fee".into(),
            amount_cents: -fee,
            transaction_id: None,
            stripe_payment_intent_id: None,
            description: format!("{what} review of application {}", a.id),
            created_at: at,
        });
    }
    for w in tx.scan::<WalletTxRec>() {
        let fee = transfer_fee(w);
        if fee == 0 {
            continue;
        }
        let id = format!("transaction-fee-{}", w.id);
        if !tx.contains::<LedgerRec>(&id) {
            new.push(LedgerRec {
                id,
                entry_type: "deduction".into(),
                category: "transaction_fee".into(),
                amount_cents: -fee,
                transaction_id: Some(w.id.clone()),
                stripe_payment_intent_id: None,
                description: format!("Transfer fee, wallet transaction {}", w.id),
                created_at: w.created_at,
            });
        }
        let refund = format!("transaction-refund-{}", w.id);
        if matches!(w.status, types::TransactionStatus::Failed)
            && !tx.contains::<LedgerRec>(&refund)
        {
            new.push(LedgerRec {
                id: refund,
                entry_type: "refund".into(),
                category: "transaction_refund".into(),
                amount_cents: fee,
                transaction_id: Some(w.id.clone()),
                stripe_payment_intent_id: None,
                description: format!("Refund of the fee of failed transaction {}", w.id),
                created_at: w.due.max(w.created_at),
            });
        }
    }
    for e in new {
        tx.put(e);
    }
}

/// Every entry in time order (oldest first), with the running balance after each.
fn entries(t: &Tables) -> Vec<(LedgerRec, i64)> {
    let mut all: Vec<LedgerRec> = std::iter::once(starting_credit())
        .chain(t.scan::<LedgerRec>().cloned())
        .collect();
    all.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut running = 0i64;
    all.into_iter()
        .map(|e| {
            running = running.saturating_add(e.amount_cents);
            (e, running)
        })
        .collect()
}

fn current_balance(t: &Tables) -> i64 {
    entries(t).last().map_or(0, |(_, b)| *b)
}

/// `GET /self-serve/credits/pricing`.
fn pricing(_call: &Call<'_>) -> Result<Reply, ApiError> {
    let since = org_time();
    let body: types::ClientPricingConfig = build(
        types::builder::ClientPricingConfig::default()
            .ach_fee_cents(ACH_FEE_CENTS)
            .created_at(since)
            .effective_from(since)
            .kyb_fee_cents(KYB_FEE_CENTS.unsigned_abs())
            .kyc_fee_cents(KYC_FEE_CENTS.unsigned_abs())
            .monthly_minimum_cents(0u64)
            .sepa_fee_cents(SEPA_FEE_CENTS)
            .swift_fee_cents(SWIFT_FEE_CENTS)
            .transfer_fee_bps(TRANSFER_FEE_BPS as f64)
            .updated_at(since)
            .wire_fee_cents(WIRE_FEE_CENTS),
    )?;
    Reply::ok(&body)
}

/// `GET /self-serve/credits/tiers`.
fn tiers(_call: &Call<'_>) -> Result<Reply, ApiError> {
    let tiers = TIERS
        .iter()
        .map(|p| {
            build::<types::SelfServeCreditTier, _>(
                types::builder::SelfServeCreditTier::default()
                    .price_cents(*p)
                    .transfer_capacity_cents(capacity(*p)),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body: types::SelfServeCreditTiersResponse =
        build(types::builder::SelfServeCreditTiersResponse::default().tiers(tiers))?;
    Reply::ok(&body)
}

/// `GET /self-serve/credits/balance`.
fn balance(call: &Call<'_>) -> Result<Reply, ApiError> {
    let cents = call.write(|tx| {
        sync(tx);
        Ok(current_balance(tx))
    })?;
    let body: types::SelfServeCreditsBalanceResponse = build(
        types::builder::SelfServeCreditsBalanceResponse::default()
            .balance_cents(cents)
            .transfer_capacity_cents(capacity(cents)),
    )?;
    Reply::ok(&body)
}

/// `GET /self-serve/credits/ledger`: newest first; `cursor` is the `created_at` of the last
/// entry seen (entries strictly older come next).
fn ledger(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let limit = match q.get("limit") {
        None => 20,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errs.push(
                    "limit",
                    "out_of_range",
                    "limit must be an integer between 1 and 100",
                );
                20
            }
        },
    };
    let cursor = super::listing::datetime(&mut errs, &q, "cursor");
    let kind = super::listing::one_of(&mut errs, &q, "type", &["purchase", "deduction", "refund"]);
    errs.finish()?;
    let all = call.write(|tx| {
        sync(tx);
        Ok(entries(tx))
    })?;
    let mut rows: Vec<(LedgerRec, i64)> = all
        .into_iter()
        .rev()
        .filter(|(e, _)| kind.is_none_or(|k| e.entry_type == k))
        .filter(|(e, _)| cursor.is_none_or(|c| e.created_at < c))
        .collect();
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let entries = rows
        .into_iter()
        .map(|(e, after)| {
            build::<types::SelfServeCreditsLedgerEntry, _>(
                types::builder::SelfServeCreditsLedgerEntry::default()
                    .amount_cents(e.amount_cents)
                    .balance_after_cents(after)
                    .category(types::SelfServeCreditsLedgerEntryCategory::from(e.category))
                    .created_at(e.created_at)
                    .description(e.description)
                    .entry_type(types::SelfServeCreditsLedgerEntryEntryType::from(
                        e.entry_type,
                    ))
                    .id(e.id)
                    .stripe_payment_intent_id(e.stripe_payment_intent_id)
                    .transaction_id(e.transaction_id),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body: types::SelfServeCreditsLedgerResponse = build(
        types::builder::SelfServeCreditsLedgerResponse::default()
            .entries(entries)
            .has_more(has_more),
    )?;
    Reply::ok(&body)
}

/// `POST /self-serve/credits/purchase`: the pack with this price, paid at once.
fn purchase(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::SelfServeCreditsPurchaseRequest = call.body_as()?;
    if !TIERS.contains(&req.tier_price_cents) {
        return Err(ApiError::field(
            "tier_price_cents",
            "unknown_tier",
            format!(
                "no credit pack costs {} cents; the packs cost {}",
                req.tier_price_cents,
                TIERS.map(|t| t.to_string()).join(", ")
            ),
        ));
    }
    let base = call.state.base_url().to_owned();
    call.write(|tx| {
        let id = tx.next_id();
        tx.put(LedgerRec {
            id: id.clone(),
            entry_type: "purchase".into(),
            category: "purchase".into(),
            amount_cents: req.tier_price_cents,
            transaction_id: None,
            stripe_payment_intent_id: Some(format!("pi_sandbox_{id}")),
            description: format!(
                "Credit pack of {} cents (covers {} cents of transfers)",
                req.tier_price_cents,
                capacity(req.tier_price_cents)
            ),
            created_at: call.now,
        });
        let body: types::SelfServeCreditsPurchaseResponse = build(
            types::builder::SelfServeCreditsPurchaseResponse::default()
                .checkout_url(format!("{base}/sandbox/checkout/{id}")),
        )?;
        Reply::ok(&body)
    })
}

/// Registers the credit ledger's records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<LedgerRec>();
}
