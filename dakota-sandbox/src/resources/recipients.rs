//! Recipients (`/customers/{id}/recipients`, `/recipients/{id}`) and their destinations
//! (`/recipients/{id}/destinations`): crypto addresses, US bank accounts and IBAN accounts.
//!
//! Deletion rules: a destination an account or an unfinished transaction still uses cannot be
//! deleted (`409`), nor can a recipient one of whose destinations is in use; deleting a
//! recipient deletes its destinations. A recipient is `unused` until its first payment,
//! `active` after.

use axum::http::StatusCode;
use dakota_api::types;
use serde_json::{json, Value};

use super::money;
use super::onboarding::CustomerRec;
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::query;
use crate::pipeline::validate::{known, object, Errors};
use crate::pipeline::{typed, Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

known!(
    FiatUsDestinationRequestAccountType,
    FiatIbanDestinationRequestAssetsItem
);

/// Registers the recipients and destinations operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createRecipient", create)
        .add("listRecipients", list)
        .add("getRecipient", get)
        .add("updateRecipient", update)
        .add("deleteRecipient", delete)
        .add("createDestination", create_destination)
        .add("listDestinations", list_destinations)
        .add("deleteDestination", delete_destination);
}

/// A payee of a customer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RecipientRec {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) name: String,
    pub(crate) address: Option<types::Address>,
    /// `false` while `unused` (no payment yet).
    pub(crate) paid: bool,
    /// Its destinations, oldest first.
    pub(crate) destinations: Vec<String>,
}

impl Record for RecipientRec {
    const KIND: &'static str = "recipient";
    fn id(&self) -> &str {
        &self.id
    }
}

/// What kind of destination, with what the other areas need to know of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) enum DestKind {
    /// A blockchain address.
    Crypto {
        family: types::Family,
        network: Option<types::NetworkId>,
        address: String,
    },
    /// A US bank account.
    FiatUs {
        capabilities: Vec<types::PaymentCapability>,
    },
    /// An IBAN account.
    FiatIban {
        capabilities: Vec<types::PaymentCapability>,
        assets: Vec<String>,
    },
}

impl DestKind {
    /// `crypto`, `fiat_us` or `fiat_iban`.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            DestKind::Crypto { .. } => "crypto",
            DestKind::FiatUs { .. } => "fiat_us",
            DestKind::FiatIban { .. } => "fiat_iban",
        }
    }

    /// The rails a bank destination can be paid by (none for crypto).
    pub(crate) fn rails(&self) -> &[types::PaymentCapability] {
        match self {
            DestKind::Crypto { .. } => &[],
            DestKind::FiatUs { capabilities } | DestKind::FiatIban { capabilities, .. } => {
                capabilities
            }
        }
    }

    /// The currency a bank destination receives by default.
    pub(crate) fn default_fiat(&self) -> &'static str {
        match self {
            DestKind::FiatIban { assets, .. } if !assets.iter().any(|a| a == "USD") => "EUR",
            _ => "USD",
        }
    }
}

/// A stored destination.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DestinationRec {
    pub(crate) id: String,
    pub(crate) recipient_id: String,
    pub(crate) customer_id: String,
    pub(crate) kind: DestKind,
    /// The response view, built once at creation.
    pub(crate) view: types::DestinationResponseUnion,
    /// Accounts and unfinished transactions using it (it cannot be deleted while > 0).
    pub(crate) users: u32,
}

impl Record for DestinationRec {
    const KIND: &'static str = "destination";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Counts one more (`+1`) or one fewer (`-1`) user of a destination.
pub(crate) fn use_destination(tx: &mut Tx<'_>, id: &str, delta: i32) {
    if let Some(mut d) = tx.get::<DestinationRec>(id).cloned() {
        d.users = if delta >= 0 {
            d.users.saturating_add(delta.unsigned_abs())
        } else {
            d.users.saturating_sub(delta.unsigned_abs())
        };
        tx.put(d);
    }
}

/// Marks the recipient of a destination `active` (its first payment); announces the change.
pub(crate) fn mark_paid(tx: &mut Tx<'_>, destination_id: &str) -> Result<(), ApiError> {
    let Some(rid) = tx
        .get::<DestinationRec>(destination_id)
        .map(|d| d.recipient_id.clone())
    else {
        return Ok(());
    };
    let Some(mut r) = tx.get::<RecipientRec>(&rid).cloned() else {
        return Ok(());
    };
    if r.paid {
        return Ok(());
    }
    r.paid = true;
    tx.put(r.clone());
    let object = money::object(&view(tx, &r)?)?;
    events::emit(
        tx,
        PendingEvent::new(types::EventType::RecipientUpdated, object).previous("status", "unused"),
    )
}

fn status(r: &RecipientRec) -> types::RecipientResponseStatus {
    if r.paid {
        types::RecipientResponseStatus::Active
    } else {
        types::RecipientResponseStatus::Unused
    }
}

/// The spec's `RecipientResponse`.
pub(crate) fn view(t: &Tables, r: &RecipientRec) -> Result<types::RecipientResponse, ApiError> {
    let destinations: Vec<types::DestinationResponseUnion> = r
        .destinations
        .iter()
        .filter_map(|d| t.get::<DestinationRec>(d))
        .map(|d| d.view.clone())
        .collect();
    build(
        types::builder::RecipientResponse::default()
            .id(ids::ksuid(&r.id))
            .name(r.name.clone())
            .address(r.address.clone())
            .status(status(r))
            .destinations(destinations),
    )
}

fn customer_exists(t: &Tables, call: &Call<'_>) -> Result<String, ApiError> {
    let id = call.id_or_404(0, "Customer")?;
    if t.contains::<CustomerRec>(id) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::not_found("Customer", id))
    }
}

fn recipient_of(t: &Tables, call: &Call<'_>) -> Result<RecipientRec, ApiError> {
    let id = call.id_or_404(0, "Recipient")?;
    t.get::<RecipientRec>(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Recipient", id))
}

fn recipient_request(call: &Call<'_>) -> Result<types::RecipientRequest, ApiError> {
    call.body_as::<types::RecipientRequest>()
}

/// `POST /customers/{customer_id}/recipients`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Customer")?;
    let req = recipient_request(call)?;
    call.write(|tx| {
        let customer_id = customer_exists(tx, call)?;
        let rec = RecipientRec {
            id: tx.next_id(),
            customer_id: customer_id.clone(),
            name: req.name.clone(),
            address: req.address.clone(),
            paid: false,
            destinations: Vec::new(),
        };
        tx.put(rec.clone());
        let body = view(tx, &rec)?;
        let mut object = money::object(&body)?;
        object.insert("customer_id".into(), json!(customer_id));
        events::emit(
            tx,
            PendingEvent::new(types::EventType::RecipientCreated, object),
        )?;
        Reply::created(&body)
    })
}

/// `GET /customers/{customer_id}/recipients`.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Customer")?;
    let page = call.query()?.page()?;
    let body: types::ListRecipientsResponse = call.read(|t| {
        let customer_id = customer_exists(t, call)?;
        let (rows, meta) =
            query::records::<RecipientRec>(t, &page, |r| r.customer_id == customer_id)?;
        let data = rows
            .into_iter()
            .map(|r| view(t, r))
            .collect::<Result<Vec<_>, ApiError>>()?;
        build(
            types::builder::ListRecipientsResponse::default()
                .data(data)
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

/// `GET /recipients/{recipient_id}`.
fn get(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.read(|t| view(t, &recipient_of(t, call)?))?;
    Reply::ok(&body)
}

/// `PUT /recipients/{recipient_id}`: replaces the name and the address.
fn update(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Recipient")?;
    let req = recipient_request(call)?;
    call.write(|tx| {
        let mut rec = recipient_of(tx, call)?;
        let mut previous = serde_json::Map::new();
        if rec.name != req.name {
            previous.insert("name".into(), json!(rec.name));
        }
        let address_json =
            |a: &Option<types::Address>| serde_json::to_value(a).unwrap_or(Value::Null);
        if address_json(&rec.address) != address_json(&req.address) {
            previous.insert(
                "address".into(),
                serde_json::to_value(&rec.address).unwrap_or(Value::Null),
            );
        }
        rec.name = req.name.clone();
        rec.address = req.address.clone();
        tx.put(rec.clone());
        let body = view(tx, &rec)?;
        if !previous.is_empty() {
            let mut e =
                PendingEvent::new(types::EventType::RecipientUpdated, money::object(&body)?);
            e.previous = previous;
            events::emit(tx, e)?;
        }
        Reply::ok(&body)
    })
}

/// `DELETE /recipients/{recipient_id}`: with its destinations, unless one is in use.
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.write(|tx| {
        let rec = recipient_of(tx, call)?;
        if rec
            .destinations
            .iter()
            .filter_map(|d| tx.get::<DestinationRec>(d))
            .any(|d| d.users > 0)
        {
            return Err(ApiError::conflict(
                "An account or an unfinished transaction still uses one of this recipient's destinations",
            ));
        }
        let object = money::object(&view(tx, &rec)?)?;
        for d in &rec.destinations {
            if let Some(dest) = tx.delete::<DestinationRec>(d) {
                emit_destination(tx, types::EventType::DestinationDeleted, &dest)?;
            }
        }
        tx.delete::<RecipientRec>(&rec.id);
        events::emit(
            tx,
            PendingEvent::new(types::EventType::RecipientDeleted, object),
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

fn emit_destination(
    tx: &mut Tx<'_>,
    kind: types::EventType,
    d: &DestinationRec,
) -> Result<(), ApiError> {
    let mut object = money::object(&d.view)?;
    object.insert("recipient_id".into(), json!(d.recipient_id));
    object.insert("customer_id".into(), json!(d.customer_id));
    events::emit(tx, PendingEvent::new(kind, object))
}

/// Converts between two generated types of the same JSON shape (e.g. the US-rails address
/// of a request to the `Address` of a response).
fn convert<A: serde::Serialize, B: serde::de::DeserializeOwned>(a: &A) -> Result<B, ApiError> {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::internal(format!("could not convert a record: {e}")))
}

/// The destination a request describes, as its kind and response view.
fn destination_from(
    body: Value,
    id: &str,
) -> Result<(DestKind, types::DestinationResponseUnion), ApiError> {
    let obj = object(&body)?;
    let kind = match obj.get("destination_type") {
        None => {
            return Err(ApiError::field(
                "destination_type",
                "required",
                "destination_type is required (crypto, fiat_us or fiat_iban)",
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::field(
                "destination_type",
                "invalid_type",
                "destination_type must be a string",
            ))
        }
    };
    let mut errs = Errors::default();
    let out = match kind.as_str() {
        "crypto" => {
            let req: types::CryptoDestinationRequest = typed(body)?;
            if let Some(n) = &req.network_id {
                errs.known("network_id", n);
            }
            errs.finish()?;
            // The network decides the family; without one, the address's own form does.
            let family = req
                .network_id
                .as_ref()
                .map(money::family_of)
                .or_else(|| money::address_family(&req.crypto_address))
                .unwrap_or(types::Family::Evm);
            let view = build(
                types::builder::CryptoDestinationResponse::default()
                    .destination_id(ids::ksuid(id))
                    .destination_type("crypto")
                    .name(req.name.clone())
                    .crypto_address(req.crypto_address.clone())
                    .family(family.clone())
                    .network_id(req.network_id.clone()),
            )?;
            (
                DestKind::Crypto {
                    family,
                    network: req.network_id.clone(),
                    address: req.crypto_address.clone(),
                },
                types::DestinationResponseUnion::CryptoDestinationResponse(view),
            )
        }
        "fiat_us" => {
            let req: types::FiatUsDestinationRequest = typed(body)?;
            errs.known("account_type", &req.account_type);
            errs.finish()?;
            let capabilities = vec![
                types::PaymentCapability::Ach,
                types::PaymentCapability::Fedwire,
            ];
            let holder_address: Option<types::Address> = match &req.account_holder_address {
                Some(a) => Some(convert(a)?),
                None => None,
            };
            let bank_address: types::Address = match &req.bank_address {
                Some(a) => convert(a)?,
                // The response requires one; a request may leave it out.
                None => build(
                    types::builder::Address::default()
                        .street1("Address not provided".to_owned())
                        .city("Unknown".to_owned())
                        .country("US"),
                )?,
            };
            let view = build(
                types::builder::FiatUsDestinationResponse::default()
                    .destination_id(ids::ksuid(id))
                    .destination_type("fiat_us")
                    .name(Some(req.name.clone()))
                    .aba_routing_number(req.aba_routing_number.clone())
                    .aba_wire_routing_number(req.aba_wire_routing_number.clone())
                    .account_number(req.account_number.clone())
                    .account_type(req.account_type.as_str())
                    .account_holder_name(req.account_holder_name.to_string())
                    .account_holder_address(holder_address)
                    .account_holder_phone(req.account_holder_phone.clone())
                    .bank_name(req.bank_name.to_string())
                    .bank_address(bank_address)
                    .bank_phone(req.bank_phone.clone())
                    .capabilities(types::Capabilities(capabilities.clone())),
            )?;
            (
                DestKind::FiatUs { capabilities },
                types::DestinationResponseUnion::FiatUsDestinationResponse(view),
            )
        }
        "fiat_iban" => {
            let req: types::FiatIbanDestinationRequest = typed(body)?;
            errs.known_all("assets", &req.assets);
            errs.known_all("capabilities", &req.capabilities);
            if req.capabilities.is_empty() {
                errs.push(
                    "capabilities",
                    "min_items",
                    "name at least one payment rail",
                );
            }
            errs.finish()?;
            let capabilities: Vec<types::PaymentCapability> = req.capabilities.to_vec();
            let view = build(
                types::builder::FiatIbanDestinationResponse::default()
                    .destination_id(ids::ksuid(id))
                    .destination_type("fiat_iban")
                    .name(Some(req.name.clone()))
                    .iban(req.iban.clone())
                    .bic(req.bic.clone())
                    .account_holder_name(req.account_holder_name.clone())
                    .account_holder_address(Some(req.account_holder_address.clone()))
                    .account_holder_phone(req.account_holder_phone.clone())
                    .bank_name(Some(req.bank_name.clone()))
                    .bank_address(req.bank_address.clone())
                    .capabilities(req.capabilities.clone()),
            )?;
            (
                DestKind::FiatIban {
                    capabilities,
                    assets: req.assets.iter().map(|a| a.as_str().to_owned()).collect(),
                },
                types::DestinationResponseUnion::FiatIbanDestinationResponse(view),
            )
        }
        other => {
            return Err(ApiError::field(
                "destination_type",
                "invalid_enum",
                format!("'{other}' is not one of crypto, fiat_us, fiat_iban"),
            ))
        }
    };
    Ok(out)
}

/// `POST /recipients/{recipient_id}/destinations`.
fn create_destination(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Recipient")?;
    let body = call.json()?;
    call.write(|tx| {
        let mut rec = recipient_of(tx, call)?;
        let id = tx.next_id();
        let (kind, view) = destination_from(body, &id)?;
        let dest = DestinationRec {
            id: id.clone(),
            recipient_id: rec.id.clone(),
            customer_id: rec.customer_id.clone(),
            kind,
            view,
            users: 0,
        };
        rec.destinations.push(id.clone());
        tx.put(rec);
        tx.put(dest.clone());
        emit_destination(tx, types::EventType::DestinationCreated, &dest)?;
        let body: types::IdResponse =
            build(types::builder::IdResponse::default().id(ids::ksuid(&id)))?;
        Reply::created(&body)
    })
}

/// `GET /recipients/{recipient_id}/destinations`.
fn list_destinations(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.id_or_404(0, "Recipient")?;
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let kind = q.filter("destination_type");
    if let Some(k) = kind {
        if !["crypto", "fiat_us", "fiat_iban"].contains(&k) {
            errs.push(
                "destination_type",
                "invalid_enum",
                "expected crypto, fiat_us or fiat_iban",
            );
        }
    }
    errs.finish()?;
    let body: types::ListDestinationsResponse = call.read(|t| {
        let rec = recipient_of(t, call)?;
        let rows: Vec<&DestinationRec> = rec
            .destinations
            .iter()
            .filter_map(|d| t.get::<DestinationRec>(d))
            .filter(|d| kind.is_none_or(|k| d.kind.as_str() == k))
            .collect();
        let (rows, meta) = query::paginate(rows, |d| d.id.as_str(), &page, true)?;
        build(
            types::builder::ListDestinationsResponse::default()
                .data(rows.into_iter().map(|d| d.view.clone()).collect::<Vec<_>>())
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

/// `DELETE /recipients/{recipient_id}/destinations/{destination_id}`.
fn delete_destination(call: &Call<'_>) -> Result<Reply, ApiError> {
    call.write(|tx| {
        let mut rec = recipient_of(tx, call)?;
        let did = call.id_or_404(1, "Destination")?;
        let Some(dest) = tx
            .get::<DestinationRec>(did)
            .filter(|d| d.recipient_id == rec.id)
            .cloned()
        else {
            return Err(ApiError::not_found("Destination", did));
        };
        if dest.users > 0 {
            return Err(ApiError::conflict(
                "An account or an unfinished transaction still uses this destination",
            ));
        }
        tx.delete::<DestinationRec>(did);
        rec.destinations.retain(|d| d != did);
        tx.put(rec);
        emit_destination(tx, types::EventType::DestinationDeleted, &dest)?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Registers the recipient and destination records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<RecipientRec>().record::<DestinationRec>();
}
