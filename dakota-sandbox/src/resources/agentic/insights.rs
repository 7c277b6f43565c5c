//! `GET /customers/{customer_id}/insights` and `POST /customers/{customer_id}/insights/chat`.
//!
//! The report is computed on request from the customer's agentic records and changes
//! nothing (due payments are applied first, as every read does):
//!
//! * `snapshot`: the holdings of the wallets that fund open payments (priced in USD at the
//!   sandbox's fixed prices), the open payments due in the next [`UPCOMING_DAYS`] days with
//!   their totals per asset, the number of open payments and of mandates in force;
//! * `insights`: `upcoming_payments` when some are due in the window, `mandate_expiring`
//!   for a mandate in force that ends within [`EXPIRING_DAYS`] days, `failed_payments` for
//!   the payments that failed in the last 30 days;
//! * `suggestions`: `funding_shortfall` for a wallet holding less of an asset than is due
//!   from it in the window.
//!
//! The chat (no language model) answers from that report: funding questions with the
//! shortfall figures, questions about payments with the upcoming ones, about mandates with
//! those in force; a turn about something else is `warned`, three in a row `blocked`. It is
//! counted against the same kind of allowance as drafting (`429` with `Retry-After`).

use std::collections::BTreeMap;

use dakota_api::types;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::{count_turn, customer_exists, payments, well_formed_id, MandateRec, ScheduledRec};
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};

known!(InsightChatMessageRole);
use crate::problem::{build, ApiError};
use crate::resources::custody::{chain, WalletRec};
use crate::store::Tables;

/// Length of the upcoming window.
pub(crate) const UPCOMING_DAYS: i64 = 14;
/// A mandate ending within this many days is reported.
pub(crate) const EXPIRING_DAYS: i64 = 7;
/// Most evidence items per insight.
const MAX_EVIDENCE: usize = 10;

pub(super) fn routes(r: &mut Registry) {
    r.add("getCustomerInsights", get)
        .add("chatCustomerInsights", chat);
}

fn evidence(
    kind: &str,
    ids: impl IntoIterator<Item = String>,
) -> Result<Vec<types::InsightEvidence>, ApiError> {
    ids.into_iter()
        .take(MAX_EVIDENCE)
        .map(|id| {
            build(
                types::builder::InsightEvidence::default()
                    .type_(kind.to_owned())
                    .id(id),
            )
        })
        .collect()
}

fn item(
    kind: &str,
    severity: types::InsightItemSeverity,
    message: String,
    detail: Value,
    evidence: Vec<types::InsightEvidence>,
) -> Result<types::InsightItem, ApiError> {
    let detail = match detail {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    build(
        types::builder::InsightItem::default()
            .kind(kind.to_owned())
            .severity(severity)
            .message(message)
            .detail(detail)
            .evidence(evidence),
    )
}

/// A figure as a decimal string.
fn dec(d: Decimal) -> String {
    chain::fmt_amount(d)
}

/// The report on `customer_id` at `now` (Unix seconds).
pub(crate) fn report(
    t: &Tables,
    customer_id: &str,
    now: i64,
) -> Result<types::InsightReport, ApiError> {
    let open: Vec<&ScheduledRec> = t
        .scan::<ScheduledRec>()
        .filter(|p| p.customer_id == customer_id)
        .filter(|p| matches!(p.status, types::ScheduledPaymentResponseStatus::Scheduled))
        .collect();
    let horizon = now + UPCOMING_DAYS * 86_400;
    let mut upcoming: Vec<&ScheduledRec> = open
        .iter()
        .copied()
        .filter(|p| p.scheduled_at <= horizon)
        .collect();
    upcoming.sort_by(|a, b| a.scheduled_at.cmp(&b.scheduled_at).then(a.id.cmp(&b.id)));
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for p in &upcoming {
        *totals.entry(p.asset.clone()).or_default() += p.amount;
    }
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let mandates: Vec<&MandateRec> = t
        .scan::<MandateRec>()
        .filter(|m| m.customer_id == customer_id && m.in_force(at))
        .collect();

    // Holdings of the wallets that fund open payments.
    let mut wallet_ids: Vec<&str> = open.iter().map(|p| p.wallet_id.as_str()).collect();
    wallet_ids.sort_unstable();
    wallet_ids.dedup();
    let wallets: Vec<&WalletRec> = wallet_ids
        .iter()
        .filter_map(|w| t.get::<WalletRec>(w))
        .collect();
    let mut balances = Vec::new();
    let mut total_usd = Decimal::ZERO;
    for w in &wallets {
        for (key, amount) in &w.balances {
            let Some((net, symbol)) = key.split_once('|') else {
                continue;
            };
            let Some(token) = chain::network(net).and_then(|n| chain::token(symbol, &n)) else {
                continue;
            };
            let usd = token.usd_value(*amount);
            total_usd += usd;
            balances.push(build::<types::InsightSnapshotBalance, _>(
                types::builder::InsightSnapshotBalance::default()
                    .wallet_id(w.id.clone())
                    .name(Some(w.name.clone()))
                    .network_id(net.to_owned())
                    .asset(token.symbol.to_owned())
                    .amount_usd(format!("{usd:.2}")),
            )?);
        }
    }
    let upcoming_view: types::InsightSnapshotUpcoming = build(
        types::builder::InsightSnapshotUpcoming::default()
            .days(UPCOMING_DAYS)
            .count(i64::try_from(upcoming.len()).unwrap_or(i64::MAX))
            .totals(
                totals
                    .iter()
                    .map(|(k, v)| (k.clone(), dec(*v)))
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
    )?;
    let snapshot: types::InsightSnapshot = build(
        types::builder::InsightSnapshot::default()
            .active_mandates(i64::try_from(mandates.len()).unwrap_or(i64::MAX))
            .open_scheduled_payments(i64::try_from(open.len()).unwrap_or(i64::MAX))
            .total_usd((!wallets.is_empty()).then(|| format!("{total_usd:.2}")))
            .balances(balances)
            .upcoming(upcoming_view),
    )?;

    let mut insights = Vec::new();
    if !upcoming.is_empty() {
        let sums: Vec<String> = totals
            .iter()
            .map(|(k, v)| format!("{} {k}", dec(*v)))
            .collect();
        insights.push(item(
            "upcoming_payments",
            types::InsightItemSeverity::Info,
            format!(
                "{} payment(s) totalling {} are due in the next {UPCOMING_DAYS} days.",
                upcoming.len(),
                sums.join(" and ")
            ),
            json!({"count": upcoming.len(), "window_days": UPCOMING_DAYS}),
            evidence("scheduled_payment", upcoming.iter().map(|p| p.id.clone()))?,
        )?);
    }
    for m in &mandates {
        if let Some(until) = m.valid_until.filter(|u| *u <= now + EXPIRING_DAYS * 86_400) {
            let days = (until - now).max(0) / 86_400;
            insights.push(item(
                "mandate_expiring",
                types::InsightItemSeverity::Warn,
                format!(
                    "Mandate {} for {} ends in {days} day(s) ({}); payments after that need a new one.",
                    m.id,
                    m.rule.asset,
                    chrono::DateTime::from_timestamp(until, 0)
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                ),
                json!({"valid_until": until, "days_left": days}),
                evidence("mandate", [m.id.clone()])?,
            )?);
        }
    }
    let failed: Vec<&ScheduledRec> = t
        .scan::<ScheduledRec>()
        .filter(|p| p.customer_id == customer_id)
        .filter(|p| matches!(p.status, types::ScheduledPaymentResponseStatus::Failed))
        .filter(|p| p.executed_at.is_some_and(|e| e >= now - 30 * 86_400))
        .collect();
    if !failed.is_empty() {
        let reason = failed
            .last()
            .and_then(|p| p.failure_reason.clone())
            .unwrap_or_default();
        insights.push(item(
            "failed_payments",
            types::InsightItemSeverity::Warn,
            format!(
                "{} payment(s) failed in the last 30 days; the latest because {reason}.",
                failed.len()
            ),
            json!({"count": failed.len()}),
            evidence(
                "scheduled_payment",
                failed.iter().rev().map(|p| p.id.clone()),
            )?,
        )?);
    }

    let mut suggestions = Vec::new();
    for w in &wallets {
        let mut due: BTreeMap<(String, String), (Decimal, Vec<String>)> = BTreeMap::new();
        for p in upcoming.iter().filter(|p| p.wallet_id == w.id) {
            let e = due
                .entry((p.network.as_str().to_owned(), p.asset.clone()))
                .or_default();
            e.0 += p.amount;
            e.1.push(p.id.clone());
        }
        for ((net, asset), (amount, ids)) in due {
            let held = w
                .balances
                .get(&format!("{net}|{asset}"))
                .copied()
                .unwrap_or_default();
            if held >= amount {
                continue;
            }
            let short = amount - held;
            let by = ids
                .last()
                .and_then(|id| t.get::<ScheduledRec>(id))
                .and_then(|p| chrono::DateTime::from_timestamp(p.scheduled_at, 0))
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let mut ev = evidence("wallet", [w.id.clone()])?;
            ev.extend(evidence("scheduled_payment", ids)?);
            ev.truncate(MAX_EVIDENCE);
            suggestions.push(item(
                "funding_shortfall",
                types::InsightItemSeverity::Warn,
                format!(
                    "Wallet {} holds {} {asset} on {net} but {} {asset} is due from it by {by}; add {} {asset}.",
                    w.name,
                    dec(held),
                    dec(amount),
                    dec(short)
                ),
                json!({"wallet_id": w.id, "network_id": net, "asset": asset,
                       "due": dec(amount), "held": dec(held), "shortfall_estimate": dec(short)}),
                ev,
            )?);
        }
    }
    build(
        types::builder::InsightReport::default()
            .customer_id(customer_id.to_owned())
            .generated_at(now)
            .snapshot(snapshot)
            .insights(insights)
            .suggestions(suggestions),
    )
}

/// `GET /customers/{customer_id}/insights`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = well_formed_id(call, 0, "customer_id")?;
    let r = call.write(|tx| {
        customer_exists(tx, id)?;
        payments::run_due(tx)?;
        report(tx, id, call.now.timestamp())
    })?;
    Reply::ok(&r)
}

const FUNDING_WORDS: [&str; 8] = [
    "enough",
    "fund",
    "balance",
    "shortfall",
    "cover",
    "afford",
    "money",
    "top up",
];
const PAYMENT_WORDS: [&str; 7] = [
    "payment", "pay", "due", "upcoming", "schedule", "next", "owe",
];
const MANDATE_WORDS: [&str; 4] = ["mandate", "permission", "allow", "expire"];
const OTHER_WORDS: [&str; 6] = ["wallet", "account", "insight", "report", "fail", "usdc"];

fn topic(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| lower.contains(w));
    if has(&FUNDING_WORDS) {
        Some("funding")
    } else if has(&MANDATE_WORDS) {
        Some("mandates")
    } else if has(&PAYMENT_WORDS) {
        Some("payments")
    } else if has(&OTHER_WORDS) {
        Some("overview")
    } else {
        None
    }
}

fn answer(r: &types::InsightReport, topic: &str) -> String {
    let s = &r.snapshot;
    let due: Vec<String> = s
        .upcoming
        .totals
        .iter()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let upcoming = if s.upcoming.count == 0 {
        format!("No payment is due in the next {} days.", s.upcoming.days)
    } else {
        format!(
            "{} payment(s) totalling {} are due in the next {} days.",
            s.upcoming.count,
            due.join(" and "),
            s.upcoming.days
        )
    };
    match topic {
        "funding" => {
            let held = s
                .total_usd
                .as_ref()
                .map(|t| format!(" The wallets that fund open payments hold ${t}."))
                .unwrap_or_default();
            if r.suggestions.is_empty() {
                format!("{upcoming}{held} That covers everything due in the window.")
            } else {
                let gaps: Vec<&str> = r.suggestions.iter().map(|i| i.message.as_str()).collect();
                format!("Not quite. {upcoming}{held} {}", gaps.join(" "))
            }
        }
        "mandates" => {
            let expiring: Vec<&str> = r
                .insights
                .iter()
                .filter(|i| i.kind == "mandate_expiring")
                .map(|i| i.message.as_str())
                .collect();
            format!(
                "{} mandate(s) are in force. {}",
                s.active_mandates,
                if expiring.is_empty() {
                    "None ends within a week.".to_owned()
                } else {
                    expiring.join(" ")
                }
            )
        }
        "payments" => format!(
            "{upcoming} {} payment(s) are scheduled in all.",
            s.open_scheduled_payments
        ),
        _ => {
            let all: Vec<&str> = r
                .insights
                .iter()
                .chain(&r.suggestions)
                .map(|i| i.message.as_str())
                .collect();
            if all.is_empty() {
                format!("{upcoming} Nothing needs attention.")
            } else {
                all.join(" ")
            }
        }
    }
}

/// `POST /customers/{customer_id}/insights/chat`.
fn chat(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = well_formed_id(call, 0, "customer_id")?;
    let req: types::InsightChatRequest = call.body_as()?;
    let mut errs = Errors::default();
    for (i, m) in req.messages.iter().enumerate() {
        errs.known(&format!("messages[{i}].role"), &m.role);
    }
    errs.finish()?;
    if req.messages.is_empty() || req.messages.len() > 40 {
        return Err(ApiError::field(
            "messages",
            "invalid_length",
            "send 1 to 40 turns",
        ));
    }
    let Some(last) = req.messages.last().filter(|m| {
        matches!(m.role, types::InsightChatMessageRole::User) && !m.content.trim().is_empty()
    }) else {
        return Err(ApiError::field(
            "messages",
            "invalid_value",
            "the last turn must be the user's, and not empty",
        ));
    };
    let user: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, types::InsightChatMessageRole::User))
        .map(|m| m.content.as_str())
        .collect();
    let off_topic_run = user.iter().rev().take_while(|t| topic(t).is_none()).count();
    let last_topic = topic(&last.content);
    let (reply, status) = call.write(|tx| {
        customer_exists(tx, id)?;
        count_turn(tx, "chat", id)?;
        if off_topic_run >= 3 {
            return Ok((
                "This chat has strayed from the account three times in a row and is closed; start a new one.".to_owned(),
                types::InsightChatResponseConversationStatus::Blocked,
            ));
        }
        let Some(topic) = last_topic else {
            return Ok((
                "I can only talk about this customer's wallets, payments and mandates.".to_owned(),
                types::InsightChatResponseConversationStatus::Warned,
            ));
        };
        payments::run_due(tx)?;
        let r = report(tx, id, call.now.timestamp())?;
        Ok((answer(&r, topic), types::InsightChatResponseConversationStatus::Ok))
    })?;
    let out: types::InsightChatResponse = build(
        types::builder::InsightChatResponse::default()
            .reply(reply)
            .conversation_status(Some(status)),
    )?;
    Reply::ok(&out)
}
