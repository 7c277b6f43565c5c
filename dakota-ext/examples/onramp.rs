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
//!    `DestinationRequestUnion::CryptoDestinationRequest` on `base-mainnet`.
//! 4. `POST /accounts` (createAccount): an onramp account; USD paid by ACH or wire into its
//!    bank account arrives as USDC at the wallet.
//!
//! With `DAKOTA_API_KEY` set it runs against Dakota (`Dakota::from_env`: `DAKOTA_ENVIRONMENT`,
//! `DAKOTA_BASE_URL`); `DAKOTA_CUSTOMER_ID` reuses an existing, onboarded customer instead of
//! creating one. Without a key it uses the local sandbox if that implements these operations;
//! today it does not (they answer 501), so the example prints the requests it would send and
//! exits 0.

use dakota_api::types;
use dakota_ext::Dakota;
use std::error::Error as StdError;
use std::process::ExitCode;

type BoxError = Box<dyn StdError>;

/// The operations this flow calls.
const OPERATIONS: &[&str] = &[
    "createCustomer",
    "createRecipient",
    "createDestination",
    "createAccount",
];

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(id) = e
                .downcast_ref::<dakota_ext::Error>()
                .and_then(dakota_ext::Error::request_id)
            {
                eprintln!("(request id {id})");
            }
            ExitCode::FAILURE
        }
    }
}

fn customer() -> Result<types::CustomerCreateRequest, BoxError> {
    Ok(types::CustomerCreateRequest {
        name: "Harbor & Pine Trading LLC".parse()?,
        customer_type: types::CustomerCreateRequestCustomerType::Business,
        external_id: Some("crm-acct-40721".into()),
        is_sub_client: false,
        sub_client_id: None,
    })
}

fn wallet_holder() -> Result<types::RecipientRequest, BoxError> {
    Ok(types::RecipientRequest {
        name: "Harbor & Pine Trading LLC".into(),
        address: Some(types::Address {
            street1: "410 Terminal Street".into(),
            street2: Some("Suite 12".into()),
            street3: None,
            city: "Oakland".into(),
            region: Some("CA".into()),
            postal_code: Some("94607".into()),
            country: "US".parse()?,
        }),
    })
}

fn wallet() -> types::DestinationRequestUnion {
    types::DestinationRequestUnion::CryptoDestinationRequest(types::CryptoDestinationRequest {
        destination_type: types::CryptoDestinationRequestDestinationType::Crypto,
        name: "Harbor & Pine treasury (Base)".into(),
        crypto_address: "0xb81d59858f0d4df6a80f543b809771f084441517".into(),
        network_id: Some(types::NetworkId::BaseMainnet),
    })
}

fn onramp_account(destination: types::Ksuid) -> Result<types::AccountCreateRequest, BoxError> {
    Ok(types::AccountCreateRequest {
        account_type: types::AccountType::Onramp,
        crypto_destination_id: Some(destination),
        capabilities: Some(types::Capabilities(vec![
            types::PaymentCapability::Ach,
            types::PaymentCapability::Fedwire,
        ])),
        rail: Some(types::PaymentCapability::Ach),
        source_asset: Some("USD".parse()?),
        destination_asset: Some("USDC".parse()?),
        destination_network_id: Some(types::NetworkId::BaseMainnet),
        developer_fee_bps: None,
        fiat_destination_id: None,
        return_address: None,
        return_crypto_address: None,
        source_network_id: None,
    })
}

fn json(body: &impl serde::Serialize) -> Result<String, BoxError> {
    Ok(serde_json::to_string_pretty(body)?.replace('\n', "\n   "))
}

async fn run() -> Result<(), BoxError> {
    // Keep the sandbox alive for the whole run; dropping it shuts it down.
    let (dakota, _sandbox) = if std::env::var_os("DAKOTA_API_KEY").is_some() {
        let d = Dakota::from_env()?;
        println!("target: {}", d.environment().base_url());
        (d, None)
    } else {
        let missing: Vec<&str> = OPERATIONS
            .iter()
            .copied()
            .filter(|op| !dakota_sandbox::IMPLEMENTED_OPERATIONS.contains(op))
            .collect();
        if !missing.is_empty() {
            return dry_run(&missing);
        }
        let sandbox = dakota_sandbox::Sandbox::builder().start().await?;
        println!("target: local Dakota sandbox at {}", sandbox.base_url());
        let d = Dakota::builder()
            .base_url(sandbox.base_url())?
            .api_key(sandbox.api_key())
            .build()?;
        (d, Some(sandbox))
    };
    let api = dakota.api();

    let customer_id: types::Ksuid = match std::env::var("DAKOTA_CUSTOMER_ID") {
        Ok(id) => {
            println!("1. customer {id} (from DAKOTA_CUSTOMER_ID)");
            id.parse()?
        }
        Err(_) => {
            let body = customer()?;
            println!("1. POST /customers\n   {}", json(&body)?);
            let created = dakota.call(api.create_customer().body(body).send()).await?;
            println!(
                "   customer {}; onboarding application {} at {}",
                created.id.as_str(),
                created.application_id.as_str(),
                created.application_url
            );
            println!("   (the customer must pass onboarding before money moves)");
            created.into_inner().id
        }
    };

    let body = wallet_holder()?;
    println!(
        "2. POST /customers/{}/recipients\n   {}",
        customer_id.as_str(),
        json(&body)?
    );
    let recipient = dakota
        .call(
            api.create_recipient()
                .customer_id(customer_id.clone())
                .body(body)
                .send(),
        )
        .await?
        .into_inner();
    println!(
        "   recipient {} ({})",
        recipient.id.as_str(),
        recipient.status
    );

    let body = wallet();
    println!(
        "3. POST /recipients/{}/destinations\n   {}",
        recipient.id.as_str(),
        json(&body)?
    );
    let destination = dakota
        .call(
            api.create_destination()
                .recipient_id(recipient.id.clone())
                .body(body)
                .send(),
        )
        .await?
        .into_inner();
    println!("   destination {}", destination.id.as_str());

    let body = onramp_account(destination.id)?;
    println!("4. POST /accounts\n   {}", json(&body)?);
    let account = dakota
        .call(api.create_account().body(body).send())
        .await?
        .into_inner();
    println!("   onramp account {}", account.id.as_str());
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
    Ok(())
}

/// No key and no local implementation: show the typed requests instead.
fn dry_run(missing: &[&str]) -> Result<(), BoxError> {
    println!(
        "DAKOTA_API_KEY is not set, and the local sandbox (dakota-sandbox) does not implement \
         {} yet (it answers 501 for them), so nothing is sent.",
        missing.join(", ")
    );
    println!(
        "Set DAKOTA_API_KEY (and optionally DAKOTA_ENVIRONMENT, DAKOTA_CUSTOMER_ID) to run this \
         flow against Dakota. The requests it would send:\n"
    );
    println!(
        "1. POST /customers  (createCustomer)\n   {}",
        json(&customer()?)?
    );
    println!(
        "2. POST /customers/{{customer_id from step 1}}/recipients  (createRecipient)\n   {}",
        json(&wallet_holder()?)?
    );
    println!(
        "3. POST /recipients/{{recipient_id from step 2}}/destinations  (createDestination)\n   {}",
        json(&wallet())?
    );
    // Any valid id stands in for the one step 3 returns; it is shown as a placeholder.
    let account = onramp_account("000000000000000000000000000".parse()?)?;
    println!(
        "4. POST /accounts  (createAccount)\n   {}",
        json(&account)?.replace(
            "\"000000000000000000000000000\"",
            "\"<destination id from step 3>\""
        )
    );
    Ok(())
}
