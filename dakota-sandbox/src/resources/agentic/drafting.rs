//! The sandbox's proposal drafter: a deterministic reading of the user's turns (no language
//! model), enough to try the drafting flow end to end. It reads, the newest mention winning:
//!
//! * an amount and an asset: `25 USDC`, `USDC 25` (a bare `$25` names no asset);
//! * the payee: a recipient of the customer named in the text, or an address (`0x...`,
//!   Solana base58) with a name after `to` (`to Alice at 0x...`);
//! * the network: a network id (`base-mainnet`) or a chain (`base`, `ethereum`, `arbitrum`,
//!   `optimism`, `polygon`, `solana`: its mainnet); a payee with one crypto destination
//!   needs none;
//! * the schedule: `daily`/`every day`, `weekly`/`every week`, `monthly`/`every month`, with
//!   `N times` or `for N days|weeks|months|payments` (one payment, now, without one).
//!
//! It never makes up an amount, asset, network, address or name: whatever is missing is asked
//! for in `reply`, with no proposal. A complete request gives one proposal: payee and
//! destination when new, a mandate covering the schedule, and the scheduled payments. A turn
//! about something else is answered `warned`; three in a row end the conversation
//! (`blocked`).

use dakota_api::types;
use rust_decimal::Decimal;

use super::{agent_wallets, destinations_of, AgentRec, DestKind, PayeeRec};
use crate::pipeline::typed;
use crate::problem::{build, ApiError};
use crate::resources::custody::{chain, WalletRec};
use crate::store::Tx;

/// Most turns and characters per turn read.
const MAX_TURNS: usize = 40;
const MAX_TURN_CHARS: usize = 4000;

/// The user turns of a request, oldest first (`prompt` last); `400` without any, or with
/// attachments (not processed yet).
pub(crate) fn user_turns(req: &types::CreateProposalsRequest) -> Result<Vec<String>, ApiError> {
    if req.messages.iter().any(|m| !m.attachments.is_empty()) {
        return Err(ApiError::field(
            "messages",
            "unsupported",
            "attachments are not processed yet",
        ));
    }
    if req.messages.len() > MAX_TURNS {
        return Err(ApiError::field(
            "messages",
            "too_many",
            format!("at most {MAX_TURNS} turns"),
        ));
    }
    let prompt = req.prompt.as_ref().filter(|p| !p.trim().is_empty());
    let mut roles: Vec<bool> = req
        .messages
        .iter()
        .map(|m| matches!(m.role, types::AgenticChatMessageRole::User))
        .collect();
    if prompt.is_some() {
        roles.push(true);
    }
    if roles.windows(2).any(|w| w[0] && w[1]) {
        return Err(ApiError::field(
            "messages",
            "invalid_value",
            "two user turns in a row: answer the assistant's turn in between, or send the newest user turn only once (in messages or prompt)",
        ));
    }
    let mut turns: Vec<String> = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, types::AgenticChatMessageRole::User))
        .map(|m| m.content.clone())
        .collect();
    if let Some(p) = prompt {
        turns.push(p.clone());
    }
    if turns.iter().all(|t| t.trim().is_empty()) {
        return Err(ApiError::field(
            "prompt",
            "required",
            "send at least one user turn, in messages or prompt",
        ));
    }
    if turns.iter().any(|t| t.chars().count() > MAX_TURN_CHARS) {
        return Err(ApiError::field(
            "messages",
            "too_long",
            format!("a turn is at most {MAX_TURN_CHARS} characters"),
        ));
    }
    Ok(turns)
}

const CHAINS: [(&str, &str); 6] = [
    ("base", "base-mainnet"),
    ("ethereum", "ethereum-mainnet"),
    ("arbitrum", "arbitrum-mainnet"),
    ("optimism", "optimism-mainnet"),
    ("polygon", "polygon-mainnet"),
    ("solana", "solana-mainnet"),
];

const TOPIC_WORDS: [&str; 12] = [
    "pay",
    "send",
    "transfer",
    "payment",
    "schedule",
    "mandate",
    "every",
    "weekly",
    "monthly",
    "daily",
    "recipient",
    "wallet",
];

fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '!' | '?' | '(' | ')' | '"'))
                .trim_end_matches('.')
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn is_symbol(w: &str) -> Option<&'static str> {
    chain::token_symbols()
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(w))
}

/// What the turns say.
#[derive(Debug, Default)]
struct Facts {
    amount: Option<(Decimal, &'static str)>,
    bare_amount: bool,
    network: Option<types::NetworkId>,
    address: Option<String>,
    name_after_to: Option<String>,
    payee: Option<PayeeRec>,
    interval: Option<i64>,
    count: Option<i64>,
}

fn read_turn(facts: &mut Facts, text: &str, payees: &[PayeeRec]) {
    let w = words(text);
    let lower: Vec<String> = w.iter().map(|x| x.to_lowercase()).collect();
    for i in 0..w.len() {
        if let Some(d) = chain::parse_amount(&w[i]).filter(|d| *d > Decimal::ZERO) {
            let next = w.get(i + 1).and_then(|n| is_symbol(n));
            let prev = i.checked_sub(1).and_then(|p| is_symbol(&w[p]));
            if let Some(sym) = next.or(prev) {
                facts.amount = Some((d, sym));
            }
        }
        if w[i].starts_with('$') && chain::parse_amount(&w[i][1..]).is_some() {
            facts.bare_amount = true;
        }
        if let Some(n) = chain::network(&lower[i]) {
            facts.network = Some(n);
        } else if let Some((_, n)) = CHAINS.iter().find(|(c, _)| *c == lower[i]) {
            facts.network = chain::network(n);
        }
        if chain::address_family(&w[i]).is_some() && w[i].len() >= 32 {
            facts.address = Some(w[i].clone());
        }
        if lower[i] == "to" {
            if let Some(n) = w.get(i + 1) {
                let capital = n.chars().next().is_some_and(char::is_uppercase);
                if capital && chain::address_family(n).is_none() {
                    facts.name_after_to = Some(n.clone());
                }
            }
        }
        let unit = |s: &str| match s.trim_end_matches('s') {
            "day" => Some(86_400),
            "week" => Some(604_800),
            "month" => Some(2_592_000),
            _ => None,
        };
        match lower[i].as_str() {
            "daily" => facts.interval = Some(86_400),
            "weekly" => facts.interval = Some(604_800),
            "monthly" => facts.interval = Some(2_592_000),
            "every" => {
                if let Some(u) = lower.get(i + 1).and_then(|n| unit(n)) {
                    facts.interval = Some(u);
                }
            }
            "times" | "payments" => {
                if let Some(n) = i
                    .checked_sub(1)
                    .and_then(|p| lower[p].parse::<i64>().ok())
                    .filter(|n| (1..=366).contains(n))
                {
                    facts.count = Some(n);
                }
            }
            "for" => {
                let n = lower.get(i + 1).and_then(|n| n.parse::<i64>().ok());
                let u = lower.get(i + 2).map(String::as_str);
                if let (Some(n), Some(u)) = (n.filter(|n| (1..=366).contains(n)), u) {
                    if unit(u).is_some() || u.starts_with("payment") {
                        facts.count = Some(n);
                    }
                }
            }
            _ => {}
        }
    }
    let text_lower = text.to_lowercase();
    let mut best: Option<(usize, &PayeeRec)> = None;
    for p in payees {
        if let Some(pos) = text_lower.rfind(&p.name.to_lowercase()) {
            if best.is_none_or(|(b, _)| pos >= b) {
                best = Some((pos, p));
            }
        }
    }
    if let Some((_, p)) = best {
        facts.payee = Some(p.clone());
    }
}

fn on_topic(text: &str, payees: &[PayeeRec]) -> bool {
    let lower = text.to_lowercase();
    let w = words(text);
    TOPIC_WORDS.iter().any(|t| lower.contains(t))
        || w.iter()
            .any(|x| is_symbol(x).is_some() || chain::parse_amount(x).is_some())
        || payees
            .iter()
            .any(|p| lower.contains(&p.name.to_lowercase()))
}

fn answer(
    reply: String,
    status: &str,
    proposals: Vec<types::AgenticProposal>,
) -> Result<types::AgenticProposalsResult, ApiError> {
    build(
        types::builder::AgenticProposalsResult::default()
            .conversation_status(Some(status.to_owned()))
            .proposals(proposals)
            .reply(Some(reply)),
    )
}

fn action(v: serde_json::Value) -> Result<types::AgenticAction, ApiError> {
    typed(v).map_err(|e| ApiError::internal(format!("could not draft an action: {}", e.detail)))
}

/// Drafts from the user turns.
pub(crate) fn draft(
    tx: &mut Tx<'_>,
    agent: &AgentRec,
    turns: &[String],
) -> Result<types::AgenticProposalsResult, ApiError> {
    let payees: Vec<PayeeRec> = tx
        .scan::<PayeeRec>()
        .filter(|p| p.customer_id == agent.customer_id)
        .cloned()
        .collect();
    let off_topic_run = turns
        .iter()
        .rev()
        .take_while(|t| !on_topic(t, &payees))
        .count();
    if off_topic_run >= 3 {
        return answer(
            "This conversation has strayed from payments three times in a row and is closed. Start a new one to set up a payment.".into(),
            "blocked",
            Vec::new(),
        );
    }
    if off_topic_run > 0 {
        return answer(
            "I can only help set up payments: tell me whom to pay, how much of which asset, and when.".into(),
            "warned",
            Vec::new(),
        );
    }
    let mut facts = Facts::default();
    for t in turns {
        read_turn(&mut facts, t, &payees);
    }
    let ask = |q: &str| answer(q.to_owned(), "ok", Vec::new());

    let Some((amount, symbol)) = facts.amount else {
        return ask(if facts.bare_amount {
            "Which asset should the payment be in (for example USDC)?"
        } else {
            "How much should be paid, and in which asset (for example 25 USDC)?"
        });
    };
    // The destination: a known payee's, or a new one at the given address.
    let known_dest = facts.payee.as_ref().and_then(|p| {
        let dests = destinations_of(tx, &p.id);
        let crypto: Vec<_> = dests
            .into_iter()
            .filter_map(|d| match &d.kind {
                DestKind::Crypto { address, network } => {
                    Some((d.id.clone(), address.clone(), network.clone()))
                }
                DestKind::Bank { .. } => None,
            })
            .filter(|(_, _, n)| facts.network.as_ref().is_none_or(|f| f == n))
            .collect();
        (crypto.len() == 1).then(|| crypto[0].clone())
    });
    let network = match (&known_dest, &facts.network) {
        (Some((_, _, n)), _) => n.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => {
            return ask("On which network should the payment go (for example base-mainnet)?")
        }
    };
    if chain::token(symbol, &network).is_none() {
        return ask(&format!(
            "{symbol} is not available on {}; which asset or network should I use?",
            network.as_str()
        ));
    }
    let family = chain::family_of(&network);
    let usable: Vec<WalletRec> = agent_wallets(tx, &agent.signer_id)
        .iter()
        .filter_map(|w| tx.get::<WalletRec>(w).cloned())
        .filter(|w| w.family == family)
        .collect();
    let wallet = match usable.as_slice() {
        [] => {
            return ask(&format!(
                "This agent cannot use any {} wallet yet: add its signer to a signer group of one, then ask again.",
                family.as_str()
            ))
        }
        [one] => one.id.clone(),
        _ => {
            return ask("The agent can use several wallets; which one should fund the payments?")
        }
    };
    let mut actions = Vec::new();
    let (recipient_ref, dest_ref, payee_name) = match (&facts.payee, &known_dest) {
        (Some(p), Some((dest_id, _, _))) => (p.id.clone(), dest_id.clone(), p.name.clone()),
        (Some(p), None) => {
            let Some(addr) = facts.address.clone() else {
                return ask(&format!(
                    "To which {} address should {} be paid?",
                    network.as_str(),
                    p.name
                ));
            };
            actions.push(action(serde_json::json!({
                "type": "create_crypto_destination",
                "create_crypto_destination": {"recipient_id": p.id, "address": addr, "network_id": network.as_str()}
            }))?);
            (p.id.clone(), String::new(), p.name.clone())
        }
        (None, _) => {
            let Some(addr) = facts.address.clone() else {
                return ask("Whom should I pay? Name one of the customer's recipients, or give an address and a name.");
            };
            let Some(name) = facts.name_after_to.clone() else {
                return ask("What is the name of the payee at that address?");
            };
            actions.push(action(serde_json::json!({
                "type": "create_recipient", "create_recipient": {"name": name}
            }))?);
            actions.push(action(serde_json::json!({
                "type": "create_crypto_destination",
                "create_crypto_destination": {"address": addr, "network_id": network.as_str()}
            }))?);
            (String::new(), String::new(), name)
        }
    };
    if let Some(addr) = &facts.address {
        if chain::address_family(addr).as_ref() != Some(&family) {
            return ask(&format!(
                "The address {addr} is not a {} address; which address should I use?",
                network.as_str()
            ));
        }
    }
    let count = facts.count.unwrap_or(1);
    let interval = facts.interval.unwrap_or(0);
    let start = tx.now.timestamp();
    let (window, per_window) = match interval {
        604_800 => ("WEEKLY", 1),
        2_592_000 => ("MONTHLY", 1),
        _ => ("NONE", count),
    };
    let last = start + interval * (count - 1);
    let targets: Vec<String> = if recipient_ref.is_empty() {
        Vec::new()
    } else {
        vec![recipient_ref]
    };
    let amount_s = chain::fmt_amount(amount);
    actions.push(action(serde_json::json!({
        "type": "create_mandate",
        "create_mandate": {
            "rule": {
                "target_type": "recipient", "targets": targets, "asset": symbol,
                "network_id": network.as_str(), "max_per_tx": amount_s, "window": window,
                "max_count_per_target_in_window": per_window,
                "max_amount_per_target_in_window": chain::fmt_amount(amount * Decimal::from(per_window))
            },
            "valid_from": start,
            "valid_until": last + 7 * 86_400
        }
    }))?);
    let mut pay = serde_json::json!({
        "amount": amount_s, "asset": symbol, "wallet_id": wallet
    });
    if !dest_ref.is_empty() {
        pay["destination_id"] = serde_json::json!(dest_ref);
    }
    if count > 1 && interval > 0 {
        pay["count"] = serde_json::json!(count);
        pay["interval_seconds"] = serde_json::json!(interval);
        pay["start_at"] = serde_json::json!(start);
    } else {
        pay["dates"] = serde_json::json!([start]);
    }
    actions.push(action(serde_json::json!({
        "type": "create_scheduled_payments", "create_scheduled_payments": pay
    }))?);
    let schedule = if count > 1 && interval > 0 {
        format!("{count} payments, one every {} days", interval / 86_400)
    } else {
        "one payment, now".to_owned()
    };
    let summary = format!(
        "Pay {payee_name} {amount_s} {symbol} on {}: {schedule}",
        network.as_str()
    );
    let proposal: types::AgenticProposal = build(
        types::builder::AgenticProposal::default()
            .actions(actions)
            .summary(Some(summary.clone())),
    )?;
    answer(
        format!(
            "{summary}. Accept it to create the instruction; the mandate then needs an approval."
        ),
        "ok",
        vec![proposal],
    )
}
