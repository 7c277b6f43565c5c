//! Scheduled payments (`/scheduled-payments...`) and their execution when due (see
//! [`super`] for the rules).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use dakota_api::types;
use rust_decimal::Decimal;

use super::{customer_exists, payment_view, AgentRec, MandateRec, ScheduledRec};
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::ApiError;
use crate::resources::custody::{self, chain, WalletRec, WalletTxRec};
use crate::resources::listing;
use crate::store::{TimerDef, Tx};

pub(super) fn routes(r: &mut Registry) {
    r.add("listScheduledPayments", list)
        .add("cancelScheduledPayment", cancel);
}

/// Schedules a new payment: stored, with its timer.
pub(crate) fn schedule(tx: &mut Tx<'_>, p: ScheduledRec) {
    let at = Utc
        .timestamp_opt(p.scheduled_at, 0)
        .single()
        .unwrap_or(tx.now);
    tx.schedule(at, &p.id, &SCHEDULED);
    tx.put(p);
}

/// The lifecycle timer of a scheduled payment.
pub(crate) fn run_timer(tx: &mut Tx<'_>, id: &str, _at: DateTime<Utc>) -> Result<(), ApiError> {
    run(tx, id)
}

/// Runs every payment that is due (reads call this so they see current state).
pub(crate) fn run_due(tx: &mut Tx<'_>) -> Result<(), ApiError> {
    let now = tx.now.timestamp();
    let due: Vec<String> = tx
        .scan::<ScheduledRec>()
        .filter(|p| {
            matches!(p.status, types::ScheduledPaymentResponseStatus::Scheduled)
                && p.scheduled_at <= now
        })
        .map(|p| p.id.clone())
        .collect();
    for id in due {
        run(tx, &id)?;
    }
    custody::confirm_due(tx)
}

fn window_start(window: Option<&types::MandateRuleWindow>, now: DateTime<Utc>) -> i64 {
    let day = now.date_naive();
    let start = match window {
        Some(types::MandateRuleWindow::Weekly) => {
            day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
        }
        Some(types::MandateRuleWindow::Monthly) => day.with_day(1).unwrap_or(day),
        _ => return i64::MIN,
    };
    start
        .and_hms_opt(0, 0, 0)
        .map_or(i64::MIN, |t| t.and_utc().timestamp())
}

/// Whether the mandate's rule covers the payment at `now` (with what it already paid).
fn covers(tx: &Tx<'_>, m: &MandateRec, p: &ScheduledRec) -> Result<(), String> {
    let r = &m.rule;
    if !r.asset.eq_ignore_ascii_case(&p.asset) {
        return Err(format!("its mandate covers {}, not {}", r.asset, p.asset));
    }
    if r.network_id
        .as_deref()
        .is_some_and(|n| n != p.network.as_str())
    {
        return Err(format!(
            "its mandate covers network {}, not {}",
            r.network_id.as_deref().unwrap_or_default(),
            p.network.as_str()
        ));
    }
    let target = match r.target_type {
        types::MandateRuleTargetType::Any => None,
        types::MandateRuleTargetType::Recipient => {
            let Some(rid) = p
                .recipient_id
                .as_ref()
                .filter(|r| m.rule.targets.contains(r))
            else {
                return Err("its mandate does not cover this recipient".into());
            };
            Some(rid.clone())
        }
        _ => {
            let a = chain::address_key(&p.address);
            if !r.targets.iter().any(|t| chain::address_key(t) == a) {
                return Err("its mandate does not cover this address".into());
            }
            Some(a)
        }
    };
    if let Some(max) = r.max_per_tx.as_deref().and_then(chain::parse_amount) {
        if p.amount > max {
            return Err(format!(
                "the amount exceeds the mandate's max_per_tx of {max}"
            ));
        }
    }
    let since = window_start(r.window.as_ref(), tx.now);
    let same_target = |q: &&ScheduledRec| match &target {
        None => true,
        Some(t) => q.recipient_id.as_ref() == Some(t) || chain::address_key(&q.address) == *t,
    };
    let paid: Vec<&ScheduledRec> = tx
        .scan::<ScheduledRec>()
        .filter(|q| q.mandate_id.as_deref() == Some(m.id.as_str()))
        .filter(|q| matches!(q.status, types::ScheduledPaymentResponseStatus::Executed))
        .filter(|q| q.executed_at.is_some_and(|e| e >= since))
        .filter(same_target)
        .collect();
    if let Some(n) = r.max_count_per_target_in_window {
        if i64::try_from(paid.len()).unwrap_or(i64::MAX) >= n {
            return Err(format!(
                "the mandate allows {n} payment(s) per target in its window"
            ));
        }
    }
    if let Some(max) = r
        .max_amount_per_target_in_window
        .as_deref()
        .and_then(chain::parse_amount)
    {
        let total: Decimal = paid.iter().map(|q| q.amount).sum();
        if total + p.amount > max {
            return Err(format!(
                "the mandate allows {max} per target in its window ({total} paid)"
            ));
        }
    }
    Ok(())
}

fn fail(tx: &mut Tx<'_>, mut p: ScheduledRec, why: String) {
    p.status = types::ScheduledPaymentResponseStatus::Failed;
    p.failure_reason = Some(why);
    p.executed_at = Some(tx.now.timestamp());
    let planned = p.planned_mandate.clone();
    tx.put(p);
    if let Some(m) = planned {
        settle_mandate(tx, &m);
    }
}

/// A mandate whose drafted payments have all ended reads `done`.
fn settle_mandate(tx: &mut Tx<'_>, mandate_id: &str) {
    let open = tx.scan::<ScheduledRec>().any(|q| {
        q.planned_mandate.as_deref() == Some(mandate_id)
            && matches!(q.status, types::ScheduledPaymentResponseStatus::Scheduled)
    });
    if open {
        return;
    }
    if let Some(mut m) = tx.get::<MandateRec>(mandate_id).cloned() {
        if matches!(m.status, types::MandateStatus::Active) {
            m.status = types::MandateStatus::Done;
            tx.put(m);
        }
    }
}

/// Runs one payment if it is still scheduled and due.
fn run(tx: &mut Tx<'_>, id: &str) -> Result<(), ApiError> {
    let Some(p) = tx.get::<ScheduledRec>(id).cloned() else {
        return Ok(());
    };
    let now = tx.now;
    if !matches!(p.status, types::ScheduledPaymentResponseStatus::Scheduled)
        || p.scheduled_at > now.timestamp()
    {
        return Ok(());
    }
    let Some(agent) = tx.get::<AgentRec>(&p.agent_id).cloned() else {
        fail(tx, p, "its payment agent no longer exists".into());
        return Ok(());
    };
    if agent.revoked_at.is_some() {
        fail(tx, p, "its payment agent was revoked".into());
        return Ok(());
    }
    if let Err(e) = custody::require_active_customer(tx, &p.customer_id) {
        fail(tx, p, e.detail);
        return Ok(());
    }
    // The mandate drafted with it: wait while it is pending.
    let mandate = match p
        .planned_mandate
        .as_ref()
        .and_then(|m| tx.get::<MandateRec>(m))
    {
        Some(m) if matches!(m.status_at(now), types::MandateStatus::Pending) => return Ok(()),
        Some(m) if m.in_force(now) => Some(m.clone()),
        Some(m) => {
            let why = format!("its mandate {} is {}", m.id, m.status_at(now).as_str());
            fail(tx, p, why);
            return Ok(());
        }
        None => None,
    };
    let mandate = match mandate {
        Some(m) => match covers(tx, &m, &p) {
            Ok(()) => m,
            Err(why) => {
                fail(tx, p, why);
                return Ok(());
            }
        },
        None => {
            let found = tx
                .scan::<MandateRec>()
                .filter(|m| m.bound_signer_id == p.signer_id && m.in_force(now))
                .find(|m| covers(tx, m, &p).is_ok())
                .cloned();
            match found {
                Some(m) => m,
                None => {
                    fail(tx, p, "no active mandate covers this payment".into());
                    return Ok(());
                }
            }
        }
    };
    let Some(w) = tx.get::<WalletRec>(&p.wallet_id).cloned() else {
        fail(tx, p, "its funding wallet no longer exists".into());
        return Ok(());
    };
    if !custody::wallet_signers(tx, &w).contains(&p.signer_id) {
        fail(
            tx,
            p,
            "the agent's signer no longer governs the funding wallet".into(),
        );
        return Ok(());
    }
    let Some(token) = chain::token(&p.asset, &p.network) else {
        let why = format!("{} is not available on {}", p.asset, p.network.as_str());
        fail(tx, p, why);
        return Ok(());
    };
    let held = w
        .balances
        .get(&custody::balance_key(&p.network, token.symbol))
        .copied()
        .unwrap_or_default();
    if held < p.amount {
        let why = format!(
            "insufficient funds: the wallet holds {} {} on {}",
            chain::fmt_amount(held),
            token.symbol,
            p.network.as_str()
        );
        fail(tx, p, why);
        return Ok(());
    }
    let facts = custody::OpFacts {
        to: p.address.clone(),
        amount: Some(p.amount),
        token: Some(token),
    };
    if let Err(e) = custody::evaluate(tx, &w, &facts) {
        fail(tx, p, e.detail);
        return Ok(());
    }
    let wtx = WalletTxRec {
        id: tx.next_id(),
        wallet_id: w.id.clone(),
        network: p.network.clone(),
        from: w.address.clone(),
        to: p.address.clone(),
        hash: chain::transaction_hash(&w.family),
        kind: types::WalletTransactionType::Transfer,
        amount: Some(p.amount),
        symbol: Some(token.symbol.to_owned()),
        status: types::TransactionStatus::Broadcasted,
        created_at: now,
        confirmed_at: None,
        due: now + p.confirm_after,
        failure: None,
    };
    let mut p = p;
    p.wallet_transaction_id = Some(wtx.id.clone());
    custody::broadcast(tx, wtx)?;
    p.status = types::ScheduledPaymentResponseStatus::Executed;
    p.mandate_id = Some(mandate.id.clone());
    p.executed_at = Some(now.timestamp());
    let planned = p.planned_mandate.clone();
    tx.put(p);
    if let Some(m) = planned {
        settle_mandate(tx, &m);
    }
    Ok(())
}

const STATUSES: [&str; 4] = ["scheduled", "cancelled", "executed", "failed"];

/// `GET /scheduled-payments`: the earliest due first.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let statuses = listing::list_of(&mut errs, &q, "status", &STATUSES);
    errs.finish()?;
    let customer = q.filter("customer_id");
    let signer = q.filter("signer_id");
    let wallet = q.filter("wallet_id");
    let mandate = q.filter("mandate_id");
    let list = call.write(|tx| {
        if let Some(c) = customer {
            customer_exists(tx, c)?;
        }
        run_due(tx)?;
        let mut rows: Vec<&ScheduledRec> = tx
            .scan::<ScheduledRec>()
            .filter(|p| customer.is_none_or(|c| p.customer_id == c))
            .filter(|p| signer.is_none_or(|s| p.signer_id == s))
            .filter(|p| wallet.is_none_or(|w| p.wallet_id == w))
            .filter(|p| mandate.is_none_or(|m| p.mandate_id.as_deref() == Some(m)))
            .filter(|p| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == p.status.as_str()))
            })
            .collect();
        rows.sort_by(|a, b| a.scheduled_at.cmp(&b.scheduled_at).then(a.id.cmp(&b.id)));
        rows.into_iter()
            .map(payment_view)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// `POST /scheduled-payments/{scheduled_payment_id}/cancel`: only while it is scheduled (a
/// due one runs first: the payment wins).
fn cancel(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param(0);
    call.write(|tx| {
        if !tx.contains::<ScheduledRec>(id) {
            return Err(ApiError::not_found("Scheduled payment", id));
        }
        run(tx, id)?;
        let Some(mut p) = tx.get::<ScheduledRec>(id).cloned() else {
            return Err(ApiError::not_found("Scheduled payment", id));
        };
        if !matches!(p.status, types::ScheduledPaymentResponseStatus::Scheduled) {
            return Err(ApiError::bad_request(format!(
                "The payment can no longer be cancelled: it is {}",
                p.status.as_str()
            )));
        }
        p.status = types::ScheduledPaymentResponseStatus::Cancelled;
        let planned = p.planned_mandate.clone();
        tx.put(p.clone());
        if let Some(m) = planned {
            settle_mandate(tx, &m);
        }
        Reply::ok(&payment_view(&p)?)
    })
}

/// The timer of a scheduled agentic payment (runs it when due).
pub(crate) static SCHEDULED: TimerDef = TimerDef {
    name: "agentic.scheduled_payment",
    run: run_timer,
};
