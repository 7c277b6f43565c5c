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
//!    account, `DestinationRequestUnion::fiat_us(..)` (the constructor sets `destination_type`).
//! 4. `POST /accounts` (createAccount): an offramp account; USDC sent on Base to its deposit
//!    address arrives as USD over ACH at that bank account.
//! 5. `POST /transactions` (createTransaction): a one-off payout of 1,250.00 USD to the same
//!    bank account, funded with USDC on Base at the deposit address it returns.
//!
//! Without `DAKOTA_API_KEY` it runs against the local sandbox (started in-process, onboarding
//! approved at once, money moving one step every 300 ms) and goes on: the transaction is
//! followed through `pending` → `processing` → `completed`, then `GET /events` lists what
//! happened and `GET /webhooks` the deliveries a local endpoint received and verified. With
//! `DAKOTA_API_KEY` set it runs against Dakota (`Dakota::from_env`: `DAKOTA_ENVIRONMENT`,
//! `DAKOTA_BASE_URL`) and stops after step 5 (the deposit is yours to make);
//! `DAKOTA_CUSTOMER_ID` reuses an existing, onboarded customer.

mod common;

use common::{BoxError, Flow, Movement};
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
            movement: Movement::OneOff(payout),
        })
    })
}

fn recipient() -> Result<types::RecipientRequest, BoxError> {
    let address = types::Address::builder()
        .street1("Carrera 43A 1-50")
        .street2(Some("Torre 2, Oficina 804".to_string()))
        .city("Medellin")
        .region(Some("Antioquia".to_string()))
        .postal_code(Some("050021".to_string()))
        .country("CO");
    Ok(types::RecipientRequest::builder()
        .name("Andes Coffee Exporters SAS")
        .address(Some(address.try_into()?))
        .try_into()?)
}

fn us_bank_account() -> Result<types::DestinationRequestUnion, BoxError> {
    let holder_address = types::FiatUsDestinationAddress::builder()
        .street1("Carrera 43A 1-50")
        .street2(Some(
            "Torre 2, Oficina 804".parse::<types::FiatUsDestinationAddressStreet2>()?,
        ))
        .city("Medellin")
        .region(Some("Antioquia".to_string()))
        .postal_code(Some("050021".to_string()))
        .country("CO");
    let bank_address = types::FiatUsDestinationAddress::builder()
        .street1("1 Market Plaza")
        .city("San Francisco")
        .region(Some("CA".to_string()))
        .postal_code(Some("94105".to_string()))
        .country("US");
    let account = types::FiatUsDestinationRequest::builder()
        .name("Andes operating account (US)")
        .aba_routing_number("121000358")
        .account_number("004417392210")
        .account_type(types::FiatUsDestinationRequestAccountType::Checking)
        .account_holder_name("Andes Coffee Exporters SAS")
        .account_holder_address(Some(holder_address.try_into()?))
        .bank_name("Bank of America")
        .bank_address(Some(bank_address.try_into()?));
    Ok(types::DestinationRequestUnion::fiat_us(account)?)
}

fn offramp_account(destination: types::Ksuid) -> Result<types::AccountCreateRequest, BoxError> {
    // Where deposits Dakota cannot process are sent back.
    let return_address = types::Cri::builder()
        .network_id(types::NetworkId::BaseMainnet)
        .crypto_address("0xb81d59858f0d4df6a80f543b809771f084441517");
    Ok(types::AccountCreateRequest::builder()
        .account_type(types::AccountType::Offramp)
        .fiat_destination_id(Some(destination))
        .rail(Some(types::PaymentCapability::Ach))
        .source_network_id(Some("base-mainnet".to_string()))
        .source_asset(Some(
            "USDC".parse::<types::AccountCreateRequestSourceAsset>()?,
        ))
        .destination_asset(Some(
            "USD".parse::<types::AccountCreateRequestDestinationAsset>()?,
        ))
        .return_address(Some(return_address.try_into()?))
        .developer_fee_bps(Some(25))
        .try_into()?)
}

/// Step 5: 1,250.00 USD to the supplier's bank account, funded with USDC on Base.
fn payout(
    customer: types::Ksuid,
    destination: types::Ksuid,
) -> Result<types::OneOffTransactionRequest, BoxError> {
    Ok(types::OneOffTransactionRequest::builder()
        .customer_id(customer)
        .destination_id(destination)
        .source_network_id(types::NetworkId::BaseMainnet)
        .source_asset("USDC")
        .destination_asset("USD")
        .destination_payment_rail(Some(types::PaymentCapability::Ach))
        .amount(Some(
            "1250.00".parse::<types::OneOffTransactionRequestAmount>()?,
        ))
        .payment_reference(Some(
            "INV-2291".parse::<types::OneOffTransactionRequestPaymentReference>()?,
        ))
        .try_into()?)
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
