//! Accounts (`/accounts...`): standing onramp, offramp and swap accounts. An onramp hands out
//! bank coordinates to pay fiat into and delivers crypto to a crypto destination; an offramp
//! hands out a deposit address and pays a bank destination; a swap takes one asset at its
//! deposit address and delivers another to a crypto destination. Deposits (see
//! `POST /sandbox/simulate/inbound`) become auto transactions
//! ([`super::transactions`]).

use axum::http::StatusCode;
use dakota_api::types;
use serde_json::json;

use super::money;
use super::recipients::{self, DestKind, DestinationRec};
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::query;
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

/// Registers the accounts operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createAccount", create)
        .add("listAccounts", list)
        .add("getAccount", get)
        .add("updateAccount", update)
        .add("deleteAccount", delete);
}

/// The kind of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum AccountKind {
    Onramp,
    Offramp,
    Swap,
}

impl AccountKind {
    fn from_type(t: &types::AccountType) -> Option<Self> {
        match t.as_str() {
            "onramp" => Some(Self::Onramp),
            "offramp" => Some(Self::Offramp),
            "swap" => Some(Self::Swap),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Onramp => "onramp",
            Self::Offramp => "offramp",
            Self::Swap => "swap",
        }
    }

    /// Whether the account pays a bank destination (else a crypto one).
    fn pays_fiat(self) -> bool {
        self == Self::Offramp
    }
}

/// Where deposits into an account go in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum Deposit {
    /// Onramp: bank coordinates (the spec's `BankAccount`).
    Bank(Box<types::BankAccount>),
    /// Offramp and swap: an address on a network (`None`: any supported network).
    Crypto {
        address: String,
        family: types::Family,
        network: Option<types::NetworkId>,
    },
}

/// One account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AccountRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) kind: AccountKind,
    pub(crate) destination_id: String,
    pub(crate) deposit: Deposit,
    pub(crate) source_asset: String,
    pub(crate) destination_asset: String,
    pub(crate) destination_network: Option<types::NetworkId>,
    /// Offramp: the rail paying the bank destination.
    pub(crate) rail: Option<types::PaymentCapability>,
    pub(crate) developer_fee_bps: u32,
    /// Auto transactions not yet final (the account cannot be closed while > 0).
    pub(crate) in_flight: u32,
}

impl Record for AccountRec {
    const KIND: &'static str = "account";
    fn id(&self) -> &str {
        &self.id
    }
}

impl AccountRec {
    /// The network deposits arrive on (crypto deposits).
    pub(crate) fn source_network(&self) -> Option<&types::NetworkId> {
        match &self.deposit {
            Deposit::Crypto { network, .. } => network.as_ref(),
            Deposit::Bank(_) => None,
        }
    }

    /// The deposit address (offramp and swap).
    pub(crate) fn deposit_address(&self) -> Option<&str> {
        match &self.deposit {
            Deposit::Crypto { address, .. } => Some(address),
            Deposit::Bank(_) => None,
        }
    }
}

/// Counts one more (`+1`) or one fewer (`-1`) movement in flight on an account.
pub(crate) fn in_flight(tx: &mut Tx<'_>, id: &str, delta: i32) {
    if let Some(mut a) = tx.get::<AccountRec>(id).cloned() {
        a.in_flight = if delta >= 0 {
            a.in_flight.saturating_add(delta.unsigned_abs())
        } else {
            a.in_flight.saturating_sub(delta.unsigned_abs())
        };
        tx.put(a);
    }
}

/// The spec's `AccountResponse`.
pub(crate) fn view(t: &Tables, a: &AccountRec) -> Result<types::AccountResponse, ApiError> {
    let mut b = types::builder::AccountResponse::default()
        .id(ids::ksuid(&a.id))
        .account_type(a.kind.as_str())
        .destination(
            t.get::<DestinationRec>(&a.destination_id)
                .map(|d| d.view.clone()),
        )
        .source_asset(Some(a.source_asset.clone()))
        .destination_asset(Some(a.destination_asset.clone()));
    match &a.deposit {
        Deposit::Bank(bank) => {
            b = b
                .bank_account(Some(bank.as_ref().clone()))
                .rail(bank.capabilities.first().cloned());
        }
        Deposit::Crypto {
            address,
            family,
            network,
        } => {
            b = b
                .source_crypto_address(Some(address.clone()))
                .source_family(Some(family.clone()))
                .source_network_id(network.clone());
        }
    }
    if let Some(r) = &a.rail {
        b = b.rail(Some(r.clone())).destination_rail(Some(r.clone()));
    }
    build(b)
}

fn emit(tx: &mut Tx<'_>, kind: types::EventType, a: &AccountRec) -> Result<(), ApiError> {
    let mut object = money::object(&view(tx, a)?)?;
    object.insert("customer_id".into(), json!(a.customer_id));
    events::emit(tx, PendingEvent::new(kind, object))
}

/// The onramp deposit account: fresh bank coordinates at the sandbox's bank.
fn bank_account(
    tx: &mut Tx<'_>,
    holder: &str,
    rails: Vec<types::PaymentCapability>,
) -> Result<types::BankAccount, ApiError> {
    let bank_address: types::Address = build(
        types::builder::Address::default()
            .street1("1 Sandbox Plaza".to_owned())
            .city("New York".to_owned())
            .region(Some("NY".to_owned()))
            .postal_code(Some("10004".to_owned()))
            .country("US"),
    )?;
    let id = tx.next_id();
    build(
        types::builder::BankAccount::default()
            .id(ids::ksuid(&id))
            .capabilities(types::Capabilities(rails))
            .aba_routing_number(Some("021000021".to_owned()))
            .account_number(Some(money::digits(12)))
            .account_type(Some(types::BankAccountAccountType::Checking))
            .account_holder_name(holder.to_owned())
            .bank_name("Dakota Sandbox Bank".to_owned())
            .bank_address(bank_address),
    )
}

/// Checks an asset symbol; unknown ones are the documented `501` (not offered yet).
fn offered(asset: &str, field: &str, fiat: bool) -> Result<(), ApiError> {
    // A blank value names no asset at all: a malformed request, not an asset not offered.
    if asset.trim().is_empty() {
        return Err(ApiError::field(
            field,
            "invalid_value",
            format!("{field} must name an asset"),
        ));
    }
    let ok = money::is_asset(asset) && money::is_fiat(asset) == fiat;
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not-implemented",
            "Not offered",
            format!(
                "{field} '{asset}' is not offered for this account type (the sandbox moves {} here)",
                if fiat {
                    money::FIAT.join(", ")
                } else {
                    money::STABLECOINS.join(", ")
                }
            ),
        ))
    }
}

/// The destination an account request names, checked for its kind and owner.
fn destination<'t>(
    t: &'t Tables,
    kind: AccountKind,
    crypto: Option<&types::Ksuid>,
    fiat: Option<&types::Ksuid>,
) -> Result<&'t DestinationRec, ApiError> {
    let (field, id) = if kind.pays_fiat() {
        ("fiat_destination_id", fiat)
    } else {
        ("crypto_destination_id", crypto)
    };
    let Some(id) = id else {
        return Err(ApiError::field(
            field,
            "required",
            format!("{field} is required for an {} account", kind.as_str()),
        ));
    };
    let d = t
        .get::<DestinationRec>(id.as_str())
        .ok_or_else(|| ApiError::not_found("Destination", id))?;
    let right_kind = matches!(d.kind, DestKind::Crypto { .. }) != kind.pays_fiat();
    if !right_kind {
        return Err(ApiError::field(
            field,
            "wrong_destination_type",
            format!(
                "an {} account pays a {} destination; this one is {}",
                kind.as_str(),
                if kind.pays_fiat() { "bank" } else { "crypto" },
                d.kind.as_str()
            ),
        ));
    }
    Ok(d)
}

/// `POST /accounts`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::AccountCreateRequest = call.body_as()?;
    let mut errs = Errors::default();
    errs.known("account_type", &req.account_type);
    if let Some(r) = &req.rail {
        errs.known("rail", r);
    }
    if let Some(c) = &req.capabilities {
        errs.known_all("capabilities", c);
    }
    if let Some(n) = &req.destination_network_id {
        errs.known("destination_network_id", n);
    }
    errs.finish()?;
    let Some(kind) = AccountKind::from_type(&req.account_type) else {
        return Err(ApiError::field(
            "account_type",
            "invalid_enum",
            "expected onramp, offramp or swap",
        ));
    };
    // `*` (or no value) accepts deposits on any supported network.
    let source_network = match req.source_network_id.as_deref().map(str::trim) {
        None | Some("" | "*" | "any") => None,
        Some(s) => Some(money::network(s).ok_or_else(|| {
            ApiError::field(
                "source_network_id",
                "unsupported_network",
                format!("'{s}' is not a supported network (see GET /capabilities/networks)"),
            )
        })?),
    };
    call.write(|tx| {
        let dest = destination(
            tx,
            kind,
            req.crypto_destination_id.as_ref(),
            req.fiat_destination_id.as_ref(),
        )?
        .clone();
        match money::customer_active(tx, &dest.customer_id)? {
            Some(true) => {}
            _ => {
                return Err(ApiError::forbidden(
                    "The destination's customer is not approved: finish onboarding before opening accounts",
                ))
            }
        }
        let (source_default, destination_default) = match kind {
            AccountKind::Onramp => ("USD", "USDC"),
            AccountKind::Offramp => ("USDC", dest.kind.default_fiat()),
            AccountKind::Swap => ("USDT", "USDC"),
        };
        let source_asset = req
            .source_asset
            .as_ref()
            .map_or(source_default.to_owned(), |a| a.to_string());
        let destination_asset = req
            .destination_asset
            .as_ref()
            .map_or(destination_default.to_owned(), |a| a.to_string());
        offered(&source_asset, "source_asset", kind == AccountKind::Onramp)?;
        offered(&destination_asset, "destination_asset", kind.pays_fiat())?;
        let dest_network = match &dest.kind {
            DestKind::Crypto { network, .. } => req
                .destination_network_id
                .clone()
                .or_else(|| network.clone())
                .or(Some(types::NetworkId::EthereumMainnet)),
            _ => None,
        };
        let rail = if kind.pays_fiat() {
            let rails = dest.kind.rails();
            let rail = req
                .rail
                .clone()
                .or_else(|| rails.first().cloned())
                .ok_or_else(|| ApiError::bad_request("the destination has no payment rail"))?;
            if !rails.contains(&rail) {
                return Err(ApiError::field(
                    "rail",
                    "unsupported_rail",
                    format!(
                        "the destination is paid by {}; not by {rail}",
                        rails
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Some(rail)
        } else {
            None
        };
        let duplicate = tx.scan::<AccountRec>().any(|a| {
            a.kind == kind
                && a.destination_id == dest.id
                && a.source_asset == source_asset
                && a.destination_asset == destination_asset
                && a.source_network() == source_network.as_ref()
                && a.destination_network == dest_network
        });
        if duplicate {
            return Err(ApiError::conflict(
                "An account with the same source and destination already exists",
            ));
        }
        let holder = tx
            .get::<super::onboarding::CustomerRec>(&dest.customer_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let deposit = match kind {
            AccountKind::Onramp => {
                let rails = req
                    .capabilities
                    .as_ref()
                    .map(|c| c.to_vec())
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| {
                        vec![
                            types::PaymentCapability::Ach,
                            types::PaymentCapability::Fedwire,
                        ]
                    });
                Deposit::Bank(Box::new(bank_account(tx, &holder, rails)?))
            }
            AccountKind::Offramp | AccountKind::Swap => {
                let family = source_network
                    .as_ref()
                    .map_or(types::Family::Evm, money::family_of);
                Deposit::Crypto {
                    address: money::deposit_address(&family),
                    family,
                    network: source_network.clone(),
                }
            }
        };
        let rec = AccountRec {
            id: tx.next_id(),
            customer_id: dest.customer_id.clone(),
            kind,
            destination_id: dest.id.clone(),
            deposit,
            source_asset,
            destination_asset,
            destination_network: dest_network,
            rail,
            developer_fee_bps: req
                .developer_fee_bps
                .and_then(|b| u32::try_from(b).ok())
                .unwrap_or(0)
                .min(10_000),
            in_flight: 0,
        };
        tx.put(rec.clone());
        recipients::use_destination(tx, &dest.id, 1);
        emit(tx, types::EventType::AutoAccountCreated, &rec)?;
        Reply::created(&view(tx, &rec)?)
    })
}

fn account_of(t: &Tables, call: &Call<'_>) -> Result<AccountRec, ApiError> {
    let id = call.id_or_404(0, "Account")?;
    t.get::<AccountRec>(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Account", id))
}

/// `GET /accounts/{account_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.read(|t| view(t, &account_of(t, call)?))?;
    Reply::ok(&body)
}

/// `GET /accounts`: one account type, with the documented filters.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let kind = match q.get("account_type") {
        None => {
            errs.push("account_type", "required", "account_type is required");
            None
        }
        Some(s) => {
            let k = AccountKind::from_type(&types::AccountType::from(s));
            if k.is_none() {
                errs.push(
                    "account_type",
                    "invalid_enum",
                    "expected onramp, offramp or swap",
                );
            }
            k
        }
    };
    let id_filter = |errs: &mut Errors, name: &str| -> Option<String> {
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
    };
    let customer = id_filter(&mut errs, "customer_id");
    let crypto_dest = id_filter(&mut errs, "crypto_destination_id");
    let fiat_dest = id_filter(&mut errs, "fiat_destination_id");
    errs.finish()?;
    let source_network = q.filter("source_network_id");
    let destination_network = q.filter("destination_network_id");
    let destination_asset = q.filter("destination_asset");
    let body: types::PaginatedAccountResponse = call.read(|t| {
        if let Some(c) = &customer {
            if !t.contains::<super::onboarding::CustomerRec>(c) {
                return Err(ApiError::not_found("Customer", c));
            }
        }
        for d in [&crypto_dest, &fiat_dest].into_iter().flatten() {
            if !t.contains::<DestinationRec>(d) {
                return Err(ApiError::not_found("Destination", d));
            }
        }
        let (rows, meta) = query::records::<AccountRec>(t, &page, |a| {
            Some(a.kind) == kind
                && customer.as_ref().is_none_or(|c| &a.customer_id == c)
                && crypto_dest.as_ref().is_none_or(|d| &a.destination_id == d)
                && fiat_dest.as_ref().is_none_or(|d| &a.destination_id == d)
                && source_network
                    .is_none_or(|n| a.source_network().is_some_and(|s| s.as_str() == n))
                && destination_network.is_none_or(|n| {
                    a.destination_network
                        .as_ref()
                        .is_some_and(|s| s.as_str() == n)
                })
                && destination_asset.is_none_or(|x| a.destination_asset == x)
        })?;
        let data = rows
            .into_iter()
            .map(|a| view(t, a))
            .collect::<Result<Vec<_>, ApiError>>()?;
        build(
            types::builder::PaginatedAccountResponse::default()
                .data(data)
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

/// `PATCH /accounts/{account_id}`: another destination, destination network or asset.
fn update(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Account")?;
    let req: types::AccountUpdateRequest = call.body_as()?;
    let mut errs = Errors::default();
    errs.known("account_type", &req.account_type);
    if let Some(n) = &req.destination_network_id {
        errs.known("destination_network_id", n);
    }
    errs.finish()?;
    call.write(|tx| {
        let mut rec = account_of(tx, call)?;
        if AccountKind::from_type(&req.account_type) != Some(rec.kind) {
            return Err(ApiError::field(
                "account_type",
                "mismatch",
                format!(
                    "account_type must match the account ({})",
                    rec.kind.as_str()
                ),
            ));
        }
        let before = view(tx, &rec)?;
        if req.crypto_destination_id.is_some() || req.fiat_destination_id.is_some() {
            let d = destination(
                tx,
                rec.kind,
                req.crypto_destination_id.as_ref(),
                req.fiat_destination_id.as_ref(),
            )?
            .clone();
            if d.customer_id != rec.customer_id {
                return Err(ApiError::not_found("Destination", &d.id));
            }
            if d.id != rec.destination_id {
                recipients::use_destination(tx, &rec.destination_id, -1);
                recipients::use_destination(tx, &d.id, 1);
                rec.destination_id = d.id.clone();
                if let (DestKind::Crypto { network, .. }, None) =
                    (&d.kind, &req.destination_network_id)
                {
                    if network.is_some() {
                        rec.destination_network.clone_from(network);
                    }
                }
                if let Some(r) = &rec.rail {
                    if !d.kind.rails().contains(r) {
                        rec.rail = d.kind.rails().first().cloned();
                    }
                }
            }
        }
        if let Some(n) = &req.destination_network_id {
            if rec.kind.pays_fiat() {
                return Err(ApiError::field(
                    "destination_network_id",
                    "not_applicable",
                    "an offramp delivers to a bank account, not to a network",
                ));
            }
            rec.destination_network = Some(n.clone());
        }
        if let Some(a) = &req.destination_asset {
            offered(a, "destination_asset", rec.kind.pays_fiat())?;
            rec.destination_asset.clone_from(a);
        }
        tx.put(rec.clone());
        let after = view(tx, &rec)?;
        let (b, a) = (money::object(&before)?, money::object(&after)?);
        let mut e = PendingEvent::new(types::EventType::AutoAccountUpdated, a.clone());
        for (k, v) in b {
            if a.get(&k) != Some(&v) {
                e.previous.insert(k, v);
            }
        }
        e.object
            .insert("customer_id".into(), json!(rec.customer_id));
        if !e.previous.is_empty() {
            events::emit(tx, e)?;
        }
        Reply::ok(&after)
    })
}

/// `DELETE /accounts/{account_id}`: refused while movements are in flight.
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.write(|tx| {
        let rec = account_of(tx, call)?;
        // Movements leave `in_flight` when their lifecycle timer makes them final.
        if rec.in_flight > 0 {
            return Err(ApiError::conflict(
                "The account still has movements in progress",
            ));
        }
        emit(tx, types::EventType::AutoAccountDeleted, &rec)?;
        tx.delete::<AccountRec>(&rec.id);
        recipients::use_destination(tx, &rec.destination_id, -1);
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Registers the account records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<AccountRec>();
}
