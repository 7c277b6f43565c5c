//! Onramp: a business customer turns US dollars into USDC delivered to its own wallet on Base.
//!
//!   cargo run -p dakota-ext --example onramp
//!
//! Steps, each a generated builder sent through `Dakota::call` with a typed body:
//!
//! 1. `POST /customers` (createCustomer): business customer "Harbor & Pine Trading LLC".
//! 2. `POST /customers/{customer_id}/recipients` (createRecipient): the customer itself as the
//!    holder of the receiving wallet (every destination belongs to a recipient).
//! 3. `POST /recipients/{recipient_id}/destinations` (createDestination): the wallet, a
//!    `DestinationRequestUnion::crypto(..)` on `base-mainnet`.
//! 4. `POST /accounts` (createAccount): an onramp account; USD paid by ACH or wire into its
//!    bank account arrives as USDC at the wallet.
//! 5. An ACH payment of 5,000.00 USD into that bank account (against the sandbox:
//!    `POST /sandbox/simulate/inbound`), which becomes an auto transaction.
//!
//! Without `DAKOTA_API_KEY` it runs against the local sandbox (started in-process, onboarding
//! approved at once, money moving one step every 300 ms) and goes on: the auto transaction is
//! followed through `pending` → `processing` → `completed`, then `GET /events` lists what
//! happened and `GET /webhooks` the deliveries a local endpoint received and verified. With
//! `DAKOTA_API_KEY` set it runs against Dakota (`Dakota::from_env`: `DAKOTA_ENVIRONMENT`,
//! `DAKOTA_BASE_URL`) and stops after step 4; `DAKOTA_CUSTOMER_ID` reuses an existing,
//! onboarded customer.

mod common;

use common::{BoxError, Flow, Movement};
use dakota_api::types;
use std::process::ExitCode;

fn main() -> ExitCode {
    common::main(|| {
        Ok(Flow {
            kind: "onramp",
            customer: common::business_customer()?,
            recipient: wallet_holder()?,
            destination: wallet()?,
            account: onramp_account,
            report,
            movement: Movement::Deposit(ach_deposit),
        })
    })
}

fn wallet_holder() -> Result<types::RecipientRequest, BoxError> {
    let address = types::Address::builder()
        .street1("410 Terminal Street")
        .street2(Some("Suite 12".to_string()))
        .city("Oakland")
        .region(Some("CA".to_string()))
        .postal_code(Some("94607".to_string()))
        .country("US");
    Ok(types::RecipientRequest::builder()
        .name("Harbor & Pine Trading LLC")
        .address(Some(address.try_into()?))
        .try_into()?)
}

fn wallet() -> Result<types::DestinationRequestUnion, BoxError> {
    let wallet = types::CryptoDestinationRequest::builder()
        .name("Harbor & Pine treasury (Base)")
        .crypto_address("0xb81d59858f0d4df6a80f543b809771f084441517")
        .network_id(Some(types::NetworkId::BaseMainnet));
    Ok(types::DestinationRequestUnion::crypto(wallet)?)
}

fn onramp_account(destination: types::Ksuid) -> Result<types::AccountCreateRequest, BoxError> {
    Ok(types::AccountCreateRequest::builder()
        .account_type(types::AccountType::Onramp)
        .crypto_destination_id(Some(destination))
        .capabilities(Some(types::Capabilities(vec![
            types::PaymentCapability::Ach,
            types::PaymentCapability::Fedwire,
        ])))
        .rail(Some(types::PaymentCapability::Ach))
        .source_asset(Some(
            "USD".parse::<types::AccountCreateRequestSourceAsset>()?,
        ))
        .destination_asset(Some(
            "USDC".parse::<types::AccountCreateRequestDestinationAsset>()?,
        ))
        .destination_network_id(Some(types::NetworkId::BaseMainnet))
        .try_into()?)
}

/// What to do with the new account.
fn report(account: &types::AccountResponse) {
    match &account.bank_account {
        Some(bank) => {
            println!(
                "   pay {} into {} at {}:",
                account.source_asset.as_deref().unwrap_or("USD"),
                bank.account_holder_name,
                bank.bank_name
            );
            if let Some(routing) = &bank.aba_routing_number {
                println!("   routing number {routing}");
            }
            if let Some(number) = &bank.account_number {
                println!("   account number {number}");
            }
            println!(
                "   it arrives as {} at the wallet",
                account.destination_asset.as_deref().unwrap_or("USDC")
            );
        }
        None => println!("   (no bank details yet; read them later with getAccount)"),
    }
}

/// Step 5 against the sandbox: 5,000.00 USD arrive by ACH at the account's bank coordinates.
fn ach_deposit(account: &types::AccountResponse) -> Result<types::SimulateInboundBody, BoxError> {
    Ok(types::SimulateInboundBody::builder()
        .simulation_id("onramp-example-ach-1".parse::<types::SimulateInboundBodySimulationId>()?)
        .type_(types::SimulateInboundBodyType::AchInbound)
        .account_id(Some(account.id.to_string()))
        .amount("5000.00")
        .currency("USD")
        .trace_id(Some("onramp-example".to_string()))
        .try_into()?)
}
