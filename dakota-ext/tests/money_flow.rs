//! Dakota's documented money flow through dakota-ext against the local sandbox, step by
//! step: recipient → destination → account → one-off transaction → list transactions →
//! events, with typed requests and responses only.

use std::num::NonZeroU64;
use std::time::Duration;

use dakota_api::types;
use dakota_ext::{Dakota, SendWith as _};
use dakota_sandbox::Sandbox;

fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn recipient_destination_account_transaction_events() {
    let sandbox = Sandbox::builder()
        .auto_approve_after(Duration::ZERO)
        .transaction_step(Duration::ZERO)
        .rate_limit_per_minute(10_000)
        .start()
        .await
        .expect("sandbox starts");
    let dakota = Dakota::builder()
        .base_url(sandbox.base_url())
        .expect("local URL")
        .api_key(sandbox.api_key())
        .build()
        .expect("client");
    let api = dakota.api();

    let customer: types::CustomerCreateRequest = types::CustomerCreateRequest::builder()
        .name("Harbor & Pine Trading LLC")
        .customer_type(types::CustomerCreateRequestCustomerType::Business)
        .try_into()
        .expect("request");
    let customer = dakota
        .call(api.create_customer().body(customer).send())
        .await
        .expect("createCustomer")
        .into_inner();

    // 1. Recipient.
    let recipient = api
        .create_recipient()
        .customer_id(customer.id)
        .body(types::RecipientRequest::builder().name("Andes Coffee Exporters SAS"))
        .send_with(&dakota)
        .await
        .expect("createRecipient")
        .into_inner();
    assert_eq!(recipient.status.to_string(), "unused");

    // 2. US bank destination: the variant's builder converts into the union with its tag set.
    let bank = types::FiatUsDestinationRequest::builder()
        .name("Andes operating account")
        .aba_routing_number("121000358")
        .account_number("004417392210")
        .account_type(types::FiatUsDestinationRequestAccountType::Checking)
        .account_holder_name("Andes Coffee Exporters SAS")
        .bank_name("Bank of America");
    let destination = api
        .create_destination()
        .recipient_id(recipient.id)
        .body(bank)
        .send_with(&dakota)
        .await
        .expect("createDestination")
        .into_inner();
    let got = dakota
        .call(api.get_recipient().recipient_id(recipient.id).send())
        .await
        .expect("getRecipient")
        .into_inner();
    assert_eq!(got.destinations.len(), 1);

    // 3. Offramp account with its deposit address.
    let account: types::AccountCreateRequest = types::AccountCreateRequest::builder()
        .account_type(types::AccountType::Offramp)
        .fiat_destination_id(Some(destination.id))
        .rail(Some(types::PaymentCapability::Ach))
        .source_network_id(Some("base-mainnet".to_owned()))
        .try_into()
        .expect("request");
    let account = dakota
        .call(api.create_account().body(account).send())
        .await
        .expect("createAccount")
        .into_inner();
    assert!(account
        .source_crypto_address
        .as_deref()
        .is_some_and(|a| a.starts_with("0x")));
    assert_eq!(
        account.source_network_id.as_ref().map(|n| n.to_string()),
        Some("base-mainnet".to_owned())
    );

    // 4. One-off transaction, completed by the sandbox's lifecycle.
    let tx: types::OneOffTransactionRequest = types::OneOffTransactionRequest::builder()
        .customer_id(customer.id)
        .destination_id(destination.id)
        .source_network_id(types::NetworkId::BaseMainnet)
        .source_asset("USDC")
        .destination_asset("USD")
        .amount(Some(
            "1250.00"
                .parse::<types::OneOffTransactionRequestAmount>()
                .expect("amount"),
        ))
        .try_into()
        .expect("request");
    let created = dakota
        .call(api.create_transaction().body(tx).send())
        .await
        .expect("createTransaction")
        .into_inner();
    let mut status = String::new();
    for _ in 0..100 {
        let t = dakota
            .call(api.get_transaction().transaction_id(created.id).send())
            .await
            .expect("getTransaction")
            .into_inner();
        status = serde_json::to_value(&t).expect("json")["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "completed");

    // 5. Listed for the customer.
    let page = dakota
        .call(api.list_transactions().customer_id(customer.id).send())
        .await
        .expect("listTransactions")
        .into_inner();
    let page = serde_json::to_value(&page).expect("json");
    assert_eq!(id_of(&page["data"][0]), created.id.to_string());
    assert_eq!(page["data"][0]["status"], "completed");

    // 6. Every step is an event, newest first.
    let events = dakota
        .call(
            api.list_events()
                .limit(NonZeroU64::new(100).expect("limit"))
                .send(),
        )
        .await
        .expect("listEvents")
        .into_inner();
    let kinds: Vec<String> = events
        .data
        .iter()
        .rev()
        .map(|e| e.type_.to_string())
        .filter(|t| !t.starts_with("customer."))
        .collect();
    assert_eq!(
        kinds,
        [
            "recipient.created",
            "destination.created",
            "auto_account.created",
            "transaction.one_off.created",
            "transaction.one_off.updated",
            "transaction.one_off.updated",
            "recipient.updated",
        ]
    );
    let last = events
        .data
        .iter()
        .find(|e| e.type_.to_string() == "transaction.one_off.updated")
        .expect("update");
    assert_eq!(last.data.object["status"], "completed");
    assert_eq!(last.data.object["id"], created.id.to_string());
}
