//! Offramp: a business customer pays stablecoins out to a supplier's US bank account.
//!
//!   cargo run -p dakota-ext --example offramp
//!
//! Steps, each a generated builder sent through `Dakota::call` with a typed body:
//!
//! 1. `POST /customers` (createCustomer): business customer "Harbor & Pine Trading LLC".
//! 2. `POST /customers/{customer_id}/recipients` (createRecipient): the payee, "Andes Coffee
//!    Exporters SAS".
//! 3. `POST /recipients/{recipient_id}/destinations` (createDestination): the payee's US bank
//!    account, a `DestinationRequestUnion::FiatUsDestinationRequest`.
//! 4. `POST /accounts` (createAccount): an offramp account; USDC sent on Base to its deposit
//!    address arrives as USD over ACH at that bank account.
//!
//! With `DAKOTA_API_KEY` set it runs against Dakota (`Dakota::from_env`: `DAKOTA_ENVIRONMENT`,
//! `DAKOTA_BASE_URL`); `DAKOTA_CUSTOMER_ID` reuses an existing, onboarded customer instead of
//! creating one. Without a key it uses the local sandbox if that implements these operations;
//! today it does not (they answer 501), so the example prints the requests it would send and
//! exits 0.

mod common;

use common::{BoxError, Flow};
use dakota_api::types;
use std::process::ExitCode;

fn main() -> ExitCode {
    common::main(|| {
        Ok(Flow {
            kind: "offramp",
            customer: common::business_customer()?,
            recipient: recipient()?,
            destination: us_bank_account()?,
            account: offramp_account,
            report,
        })
    })
}

fn recipient() -> Result<types::RecipientRequest, BoxError> {
    Ok(types::RecipientRequest {
        name: "Andes Coffee Exporters SAS".into(),
        address: Some(types::Address {
            street1: "Carrera 43A 1-50".into(),
            street2: Some("Torre 2, Oficina 804".into()),
            street3: None,
            city: "Medellin".into(),
            region: Some("Antioquia".into()),
            postal_code: Some("050021".into()),
            country: "CO".parse()?,
        }),
    })
}

fn us_bank_account() -> Result<types::DestinationRequestUnion, BoxError> {
    let holder_address = types::FiatUsDestinationAddress {
        street1: "Carrera 43A 1-50".parse()?,
        street2: Some("Torre 2, Oficina 804".parse()?),
        street3: None,
        city: "Medellin".into(),
        region: Some("Antioquia".into()),
        postal_code: Some("050021".into()),
        country: "CO".parse()?,
    };
    let bank_address = types::FiatUsDestinationAddress {
        street1: "1 Market Plaza".parse()?,
        street2: None,
        street3: None,
        city: "San Francisco".into(),
        region: Some("CA".into()),
        postal_code: Some("94105".into()),
        country: "US".parse()?,
    };
    Ok(types::DestinationRequestUnion::FiatUsDestinationRequest(
        types::FiatUsDestinationRequest {
            destination_type: types::FiatUsDestinationRequestDestinationType::FiatUs,
            name: "Andes operating account (US)".into(),
            aba_routing_number: "121000358".into(),
            aba_wire_routing_number: None,
            account_number: "004417392210".into(),
            account_type: types::FiatUsDestinationRequestAccountType::Checking,
            account_holder_name: "Andes Coffee Exporters SAS".parse()?,
            account_holder_address: Some(holder_address),
            account_holder_phone: None,
            bank_name: "Bank of America".parse()?,
            bank_address: Some(bank_address),
            bank_phone: None,
        },
    ))
}

fn offramp_account(destination: types::Ksuid) -> Result<types::AccountCreateRequest, BoxError> {
    Ok(types::AccountCreateRequest {
        account_type: types::AccountType::Offramp,
        fiat_destination_id: Some(destination),
        rail: Some(types::PaymentCapability::Ach),
        source_network_id: Some("base-mainnet".into()),
        source_asset: Some("USDC".parse()?),
        destination_asset: Some("USD".parse()?),
        // Where deposits Dakota cannot process are sent back.
        return_address: Some(types::Cri {
            network_id: types::NetworkId::BaseMainnet,
            crypto_address: "0xb81d59858f0d4df6a80f543b809771f084441517".into(),
        }),
        developer_fee_bps: Some(25),
        capabilities: None,
        crypto_destination_id: None,
        destination_network_id: None,
        return_crypto_address: None,
    })
}

/// What to do with the new account.
fn report(account: &types::AccountResponse) {
    match (&account.source_crypto_address, &account.source_network_id) {
        (Some(address), Some(network)) => println!(
            "   send {} on {network} to {address}; it arrives as {} over {}",
            account.source_asset.as_deref().unwrap_or("USDC"),
            account.destination_asset.as_deref().unwrap_or("USD"),
            account
                .rail
                .as_ref()
                .map_or_else(|| "the bank rail".to_string(), ToString::to_string),
        ),
        _ => println!("   (no deposit address yet; read it later with getAccount)"),
    }
}
