//! Wallets (`/wallets...`): creation, reads, balances and signed transactions.
//!
//! A wallet gets a fresh address of its family and starts empty; funds arrive as deposits
//! (a transfer from another sandbox wallet, or [`SandboxState::fund_wallet`]), each announced
//! as `wallet.deposit`. `POST /wallets/{wallet_id}/transactions` relays a signed
//! `SendTransactionIntent` (see [`super::custody`] for signatures and policies): the answer is
//! the transaction `broadcasted` (`wallet.transaction.created`); it is confirmed
//! [`crate::SandboxBuilder::wallet_confirmation_delay`] later (`wallet.transaction.updated`):
//! `completed` when the wallet holds the amount (the funds leave it and reach the receiving
//! sandbox wallet, if any), `failed` otherwise. A wallet held for a customer moves money only
//! once the customer is approved (`403` before).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::Utc;
use dakota_api::types;
use rust_decimal::Decimal;

use super::custody::{
    self, chain, GroupRec, IntentKind, PolicyRec, WalletAddress, WalletRec, WalletTxRec,
};
use super::onboarding::CustomerRec;
use super::organization;
use crate::events::{self, PendingEvent};
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::state::SandboxState;

known!(Family);

/// Most signer groups and policies named at creation.
const MAX_RELATIONS: usize = 50;

/// Registers the wallet operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createWallet", create)
        .add("getWallet", get)
        .add("getPoliciesForWallet", policies)
        .add("getWalletBalances", balances)
        .add("createWalletTransaction", send);
}

/// Why [`SandboxState::fund_wallet`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FundWalletError {
    /// No wallet has this id.
    #[error("no wallet {0}")]
    UnknownWallet(String),
    /// The network is not one the spec lists, or not of the wallet's family.
    #[error("network {0} is not a network of this wallet's family")]
    Network(String),
    /// The sandbox does not deploy this token on that network.
    #[error("the sandbox has no token {0} on that network")]
    Asset(String),
    /// The amount is not a positive decimal string.
    #[error("invalid amount '{0}': expected a positive decimal such as \"100.50\"")]
    Amount(String),
    /// The store refused the change.
    #[error("the deposit failed: {0}")]
    Failed(String),
}

impl SandboxState {
    /// Deposits `amount` of `asset` (a token symbol such as `USDC`, `USDT`, `EURC`, `ETH`,
    /// `SOL`) on `network_id` into a wallet, as if it arrived on chain (announced as
    /// `wallet.deposit`), so tests can fund wallets.
    pub fn fund_wallet(
        &self,
        wallet_id: &str,
        network_id: &str,
        asset: &str,
        amount: &str,
    ) -> Result<(), FundWalletError> {
        let amount_dec = chain::parse_amount(amount)
            .filter(|a| *a > Decimal::ZERO)
            .ok_or_else(|| FundWalletError::Amount(amount.to_owned()))?;
        let network = chain::network(network_id)
            .ok_or_else(|| FundWalletError::Network(network_id.to_owned()))?;
        let token = chain::token(asset, &network)
            .ok_or_else(|| FundWalletError::Asset(asset.to_owned()))?;
        let address = self
            .read(|t| t.get::<WalletRec>(wallet_id).cloned())
            .ok_or_else(|| FundWalletError::UnknownWallet(wallet_id.to_owned()))?;
        if chain::family_of(&network) != address.family {
            return Err(FundWalletError::Network(network_id.to_owned()));
        }
        self.write(Utc::now(), None, |tx| {
            custody::deposit(
                tx,
                &address.address,
                &network,
                token.symbol,
                amount_dec,
                None,
                None,
            )
        })
        .map_err(|e| FundWalletError::Failed(e.detail))?
        .map(|_| ())
        .ok_or_else(|| FundWalletError::UnknownWallet(wallet_id.to_owned()))
    }
}

fn check_ids(errs: &mut Errors, field: &str, ids: &[String]) {
    if ids.len() > MAX_RELATIONS {
        errs.push(field, "too_many", format!("at most {MAX_RELATIONS} ids"));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            errs.push(
                format!("{field}[{i}]"),
                "duplicate",
                "listed more than once",
            );
        }
    }
}

/// `POST /wallets`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::WalletCreateRequest = call.body_as()?;
    let mut errs = Errors::default();
    // `name` is any string (the spec sets no length): blank ones are kept as sent.
    errs.known("family", &req.family);
    if req.signer_groups.is_empty() {
        errs.push(
            "signer_groups",
            "required",
            "a wallet needs at least one signer group to approve its operations",
        );
    }
    check_ids(&mut errs, "signer_groups", &req.signer_groups);
    check_ids(&mut errs, "policies", &req.policies);
    errs.finish()?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        let customer = req.customer_id.as_ref().map(|c| c.to_string());
        if let Some(c) = &customer {
            if !tx.contains::<CustomerRec>(c) {
                return Err(ApiError::not_found("Customer", c));
            }
        }
        for g in &req.signer_groups {
            if !tx.contains::<GroupRec>(g) {
                return Err(ApiError::not_found("Signer group", g));
            }
        }
        for p in &req.policies {
            if !tx.contains::<PolicyRec>(p) {
                return Err(ApiError::not_found("Policy", p));
            }
        }
        if tx
            .scan::<WalletRec>()
            .any(|w| w.customer_id == customer && w.name == req.name)
        {
            return Err(ApiError::conflict(
                "A wallet with this name already exists for the owner",
            ));
        }
        let mut address = chain::new_address(&req.family);
        while tx.contains::<WalletAddress>(&chain::address_key(&address)) {
            address = chain::new_address(&req.family);
        }
        let rec = WalletRec {
            id: tx.next_id(),
            client_id,
            name: req.name.clone(),
            family: req.family.clone(),
            address: address.clone(),
            customer_id: customer,
            groups: req.signer_groups.clone(),
            policies: req.policies.clone(),
            created_at: call.now,
            balances: BTreeMap::new(),
        };
        let view = custody::wallet_view(tx, &rec)?;
        let snapshot = custody::wallet_snapshot(tx, &rec)?;
        tx.put(WalletAddress {
            address: chain::address_key(&address),
            wallet_id: rec.id.clone(),
        });
        tx.put(rec);
        events::emit(
            tx,
            PendingEvent::new(types::EventType::WalletCreated, snapshot),
        )?;
        Reply::created(&view)
    })
}

fn wallet_id<'a>(call: &'a Call<'_>) -> Result<&'a str, ApiError> {
    call.id_param(0, "wallet_id")
}

/// `GET /wallets/{wallet_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = wallet_id(call)?;
    let view = call.read(|t| {
        t.get::<WalletRec>(id)
            .map(|w| custody::wallet_view(t, w))
            .ok_or_else(|| ApiError::not_found("Wallet", id))?
    })?;
    Reply::ok(&view)
}

/// `GET /wallets/{wallet_id}/policies`.
fn policies(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = wallet_id(call)?;
    let list = call.read(|t| {
        let Some(w) = t.get::<WalletRec>(id) else {
            return Err(ApiError::not_found("Wallet", id));
        };
        w.policies
            .iter()
            .filter_map(|p| t.get::<PolicyRec>(p))
            .map(|p| {
                build::<types::AttachedPolicy, _>(
                    types::builder::AttachedPolicy::default()
                        .id(p.id.clone())
                        .name(p.name.clone()),
                )
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// `GET /wallets/{wallet_id}/balances`: every holding above zero, valued in USD.
fn balances(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = wallet_id(call)?;
    let body = call.write(|tx| {
        custody::confirm_due(tx)?;
        let Some(w) = tx.get::<WalletRec>(id) else {
            return Err(ApiError::not_found("Wallet", id));
        };
        let mut total = Decimal::ZERO;
        let mut items = Vec::new();
        for (key, amount) in w.balances.iter().filter(|(_, a)| **a > Decimal::ZERO) {
            let Some((net, symbol)) = key.split_once('|') else {
                continue;
            };
            let Some(network) = chain::network(net) else {
                continue;
            };
            let Some(token) = chain::token(symbol, &network) else {
                continue;
            };
            let usd = token.usd_value(*amount);
            total += usd;
            items.push(build::<types::AssetBalance, _>(
                types::builder::AssetBalance::default()
                    .amount_usd(chain::fmt_amount(usd))
                    .asset(token.deployment(&network)?),
            )?);
        }
        build::<types::WalletBalances, _>(
            types::builder::WalletBalances::default()
                .address(w.address.clone())
                .balances(items)
                .total_amount_usd(chain::fmt_amount(total))
                .wallet_id(crate::ids::ksuid(&w.id)),
        )
    })?;
    Reply::ok(&body)
}

/// A checked `TransactionOperation`.
struct Operation {
    network: types::NetworkId,
    kind: types::WalletTransactionType,
    to: String,
    amount: Option<Decimal>,
    token: Option<chain::Token>,
}

fn check_operation(
    w: &WalletRec,
    intent: &types::SendTransactionIntent,
) -> Result<Operation, ApiError> {
    let mut errs = Errors::default();
    let network = chain::network_of_caip2(&intent.caip2);
    match &network {
        None => errs.push(
            "intent.caip2",
            "invalid_value",
            format!(
                "'{}' is not a CAIP-2 id of a supported network",
                intent.caip2
            ),
        ),
        Some(n) if chain::family_of(n) != w.family => errs.push(
            "intent.caip2",
            "invalid_value",
            format!(
                "{} is not a network of this {} wallet",
                n.as_str(),
                w.family.as_str()
            ),
        ),
        Some(_) => {}
    }
    let op = &intent.operation;
    let kind = match op.kind.as_str() {
        "transfer" => Some(types::WalletTransactionType::Transfer),
        "contract_call" if w.family == types::Family::Evm => {
            Some(types::WalletTransactionType::EvmContractCall)
        }
        "contract_call" => {
            errs.push(
                "intent.operation.kind",
                "invalid_value",
                "contract calls are only relayed on EVM networks",
            );
            None
        }
        _ => {
            errs.push(
                "intent.operation.kind",
                "invalid_enum",
                "expected transfer or contract_call",
            );
            None
        }
    };
    if chain::address_key(&op.from) != chain::address_key(&w.address) {
        errs.push(
            "intent.operation.from",
            "mismatch",
            format!("from must be the wallet's address {}", w.address),
        );
    }
    if chain::address_family(&op.to).as_ref() != Some(&w.family) {
        errs.push(
            "intent.operation.to",
            "invalid_format",
            format!("to must be a {} address", w.family.as_str()),
        );
    }
    let amount = op.amount.as_ref().map(|a| a.to_string());
    let amount = match (amount, &kind) {
        (Some(a), _) => match chain::parse_amount(&a) {
            Some(d)
                if d > Decimal::ZERO || kind != Some(types::WalletTransactionType::Transfer) =>
            {
                Some(d)
            }
            _ => {
                errs.push(
                    "intent.operation.amount",
                    "invalid_value",
                    "amount must be a positive decimal string",
                );
                None
            }
        },
        (None, Some(types::WalletTransactionType::Transfer)) => {
            errs.push(
                "intent.operation.amount",
                "required",
                "amount is required for transfers",
            );
            None
        }
        (None, _) => None,
    };
    let token = network.as_ref().and_then(|n| chain::token(&op.asset_id, n));
    if network.is_some() && token.is_none() && kind == Some(types::WalletTransactionType::Transfer)
    {
        errs.push(
            "intent.operation.asset_id",
            "invalid_value",
            format!(
                "'{}' is not a token on this network (the sandbox knows {})",
                op.asset_id,
                chain::token_symbols().join(", ")
            ),
        );
    }
    if kind == Some(types::WalletTransactionType::EvmContractCall)
        && op.method.as_deref().is_none_or(str::is_empty)
        && op.data.as_deref().is_none_or(str::is_empty)
    {
        errs.push(
            "intent.operation.method",
            "required",
            "a contract call needs method (with args) or data",
        );
    }
    errs.finish()?;
    match (network, kind) {
        (Some(network), Some(kind)) => Ok(Operation {
            network,
            kind,
            to: op.to.clone(),
            amount,
            token,
        }),
        _ => Err(ApiError::bad_request("the operation is not valid")),
    }
}

/// `POST /wallets/{wallet_id}/transactions` (a signed `SendTransactionIntent`).
fn send(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = wallet_id(call)?;
    let e = custody::endorsed::<types::SendTransactionIntent>(call, IntentKind::SendTransaction)?;
    custody::must_match("wallet_id", &e.intent.wallet_id, id)?;
    let delay = chrono::Duration::from_std(call.state.config().wallet_confirmation_delay)
        .unwrap_or_else(|_| chrono::Duration::seconds(2));
    call.write(|tx| {
        let Some(w) = tx.get::<WalletRec>(id).cloned() else {
            return Err(ApiError::not_found("Wallet", id));
        };
        if let Some(prev) = e.applied_before(tx, StatusCode::CONFLICT)? {
            let view = tx
                .get::<WalletTxRec>(&prev)
                .map(custody::wallet_tx_view)
                .ok_or_else(|| ApiError::not_found("Wallet transaction", &prev))??;
            return Reply::ok(&view);
        }
        let op = check_operation(&w, &e.intent)?;
        e.require(
            tx,
            &custody::wallet_signers(tx, &w),
            custody::wallet_min_approvals(tx, &w),
            "the wallet's signer groups",
        )?;
        if let Some(c) = &w.customer_id {
            custody::require_active_customer(tx, c)?;
        }
        custody::evaluate(
            tx,
            &w,
            &custody::OpFacts {
                to: op.to.clone(),
                amount: op.amount,
                token: op.token,
            },
        )?;
        let wtx = WalletTxRec {
            id: tx.next_id(),
            wallet_id: w.id.clone(),
            network: op.network.clone(),
            from: w.address.clone(),
            to: op.to,
            hash: chain::transaction_hash(&w.family),
            kind: op.kind,
            amount: op.amount,
            symbol: op.token.map(|t| t.symbol.to_owned()),
            status: types::TransactionStatus::Broadcasted,
            created_at: call.now,
            confirmed_at: None,
            due: call.now + delay,
            failure: None,
        };
        e.mark_applied(tx, &wtx.id);
        let view = custody::broadcast(tx, wtx)?;
        Reply::ok(&view)
    })
}
