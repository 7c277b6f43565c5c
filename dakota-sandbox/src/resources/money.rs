//! What the money-movement areas share: the networks and assets the sandbox accepts (the
//! same lists `GET /capabilities/...` publishes), amounts, deposit coordinates, the
//! transaction lifecycle stages, and the customer check before money moves.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use dakota_api::types;
use rand::Rng;
use rust_decimal::Decimal;
use schemars::schema::{Schema, SchemaObject};
use serde_json::{Map, Value};

use super::onboarding::{self, AppRec, CustomerRec};
use crate::pipeline::validate::known;
use crate::problem::{build, ApiError};
use crate::store::Tx;

known!(PaymentCapability, NetworkId, AccountType);

/// The values a generated enum lists (read from its JSON schema, so the sandbox follows the
/// spec: a value added to the spec is accepted without a code change).
pub(crate) fn listed_values<T: schemars::JsonSchema>() -> Vec<String> {
    let mut gen = schemars::gen::SchemaGenerator::default();
    let schema = T::json_schema(&mut gen);
    let mut out = Vec::new();
    collect_enum(&schema, &mut out);
    out
}

fn collect_enum(schema: &Schema, out: &mut Vec<String>) {
    let Schema::Object(o) = schema else {
        return;
    };
    collect_object(o, out);
}

fn collect_object(o: &SchemaObject, out: &mut Vec<String>) {
    for v in o.enum_values.iter().flatten() {
        if let Some(s) = v.as_str() {
            if !out.iter().any(|x| x == s) {
                out.push(s.to_owned());
            }
        }
    }
    if let Some(sub) = &o.subschemas {
        for list in [&sub.one_of, &sub.any_of, &sub.all_of]
            .into_iter()
            .flatten()
        {
            for s in list {
                collect_enum(s, out);
            }
        }
    }
}

/// Every network id the spec lists: what accounts, destinations and transactions accept
/// and `GET /capabilities/networks` publishes.
pub(crate) fn networks() -> Vec<String> {
    listed_values::<types::NetworkId>()
}

/// A listed network, or `None`.
pub(crate) fn network(s: &str) -> Option<types::NetworkId> {
    let n = types::NetworkId::from(s);
    (!n.is_unknown()).then_some(n)
}

/// The address family of a network (`solana-*` is Solana, every other chain is EVM).
pub(crate) fn family_of(n: &types::NetworkId) -> types::Family {
    if n.as_str().starts_with("solana-") {
        types::Family::Solana
    } else {
        types::Family::Evm
    }
}

/// The family an address is written in, if it is a well-formed address of one.
pub(crate) fn address_family(a: &str) -> Option<types::Family> {
    let evm =
        a.len() == 42 && a.starts_with("0x") && a.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    if evm {
        return Some(types::Family::Evm);
    }
    let solana = (32..=44).contains(&a.len()) && a.bytes().all(|b| BASE58.contains(&b));
    solana.then_some(types::Family::Solana)
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(BASE58[rng.random_range(0..BASE58.len())]))
        .collect()
}

/// A fresh deposit address of `family`.
pub(crate) fn deposit_address(family: &types::Family) -> String {
    match family {
        types::Family::Solana => base58(44),
        _ => format!("0x{}", hex::encode(rand::rng().random::<[u8; 20]>())),
    }
}

/// A fresh on-chain transaction hash written as `family` writes them.
pub(crate) fn transaction_hash(family: &types::Family) -> String {
    match family {
        types::Family::Solana => base58(88),
        _ => format!("0x{}", hex::encode(rand::rng().random::<[u8; 32]>())),
    }
}

/// `n` random decimal digits.
pub(crate) fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// Fiat currencies the sandbox pays out and takes in.
pub(crate) const FIAT: [&str; 2] = ["USD", "EUR"];
/// Stablecoins the sandbox converts.
pub(crate) const STABLECOINS: [&str; 3] = ["USDC", "USDT", "EURC"];

/// Whether `s` is an asset symbol the sandbox moves.
pub(crate) fn is_asset(s: &str) -> bool {
    FIAT.contains(&s) || STABLECOINS.contains(&s)
}

/// Whether `s` is a fiat currency.
pub(crate) fn is_fiat(s: &str) -> bool {
    FIAT.contains(&s)
}

/// A decimal amount (`^[0-9]+(\.[0-9]+)?$`), or `None`.
pub(crate) fn parse_amount(s: &str) -> Option<Decimal> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    Decimal::from_str(s).ok().filter(|d| !d.is_sign_negative())
}

/// An amount as a decimal string with at least two decimals (`1250.00`, `0.123456`).
pub(crate) fn fmt_amount(d: Decimal) -> String {
    let d = d.round_dp(6).normalize();
    if d.scale() < 2 {
        format!("{d:.2}")
    } else {
        d.to_string()
    }
}

/// `amount × bps / 10 000`, rounded to cents' precision of six decimals.
pub(crate) fn fee(amount: Decimal, bps: u32) -> Decimal {
    (amount * Decimal::from(bps) / Decimal::from(10_000u32)).round_dp(6)
}

/// Dakota's own fee on a movement in the sandbox, in basis points.
pub(crate) const PLATFORM_FEE_BPS: u32 = 10;

/// The amounts of a movement of `input` with a developer fee of `developer_bps`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct Quote {
    pub(crate) input: Decimal,
    pub(crate) platform_fee: Decimal,
    pub(crate) developer_fee: Decimal,
    pub(crate) output: Decimal,
}

impl Quote {
    /// Fees come out of the input; assets convert one to one in the sandbox.
    pub(crate) fn of(input: Decimal, developer_bps: u32) -> Self {
        let platform_fee = fee(input, PLATFORM_FEE_BPS);
        let developer_fee = fee(input, developer_bps);
        let output = (input - platform_fee - developer_fee).max(Decimal::ZERO);
        Self {
            input,
            platform_fee,
            developer_fee,
            output,
        }
    }

    /// The input needed so that `output` arrives.
    pub(crate) fn for_output(output: Decimal, developer_bps: u32) -> Self {
        let kept = Decimal::from(10_000u32 - (PLATFORM_FEE_BPS + developer_bps).min(9_999));
        let input = (output * Decimal::from(10_000u32) / kept).round_dp(6);
        Self::of(input, developer_bps)
    }

    /// The spec's receipt of the movement.
    pub(crate) fn receipt(
        &self,
        source_asset: &str,
        destination_asset: &str,
        network: Option<&str>,
        reference: Option<&str>,
    ) -> Result<types::TransactionReceipt, ApiError> {
        let amount = |v: Decimal, asset: &str| {
            build::<types::AmountDetails, _>(
                types::builder::AmountDetails::default()
                    .amount(fmt_amount(v))
                    .asset(asset.to_owned())
                    .network(network.map(str::to_owned)),
            )
        };
        let mut r = types::builder::TransactionReceipt::default()
            .input(amount(self.input, source_asset)?)
            .output(amount(self.output, destination_asset)?)
            .exchange_rate("1.00".to_owned())
            .dakota_fee(Some(amount(self.platform_fee, source_asset)?))
            .client_fee(Some(amount(self.developer_fee, source_asset)?))
            .subtotal(Some(amount(
                self.input - self.platform_fee - self.developer_fee,
                source_asset,
            )?))
            .converted(Some(amount(self.output, destination_asset)?));
        if let Some(r2) = reference {
            r = r.payment_reference(Some(r2.to_owned()));
        }
        build(r)
    }
}

/// Where a movement stands (the union of the one-off and account transaction states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Stage {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    PendingReturn,
    Returned,
    PendingReversal,
    Reversed,
}

impl Stage {
    /// The wire value of a one-off transaction's status.
    pub(crate) fn one_off(self) -> types::OneOffTransactionStatus {
        use types::OneOffTransactionStatus as S;
        match self {
            Stage::Pending => S::Pending,
            Stage::Processing => S::Processing,
            Stage::Completed => S::Completed,
            Stage::Failed => S::Failed,
            Stage::Cancelled => S::Cancelled,
            Stage::PendingReturn => S::PendingReturn,
            Stage::Returned => S::Returned,
            Stage::PendingReversal => S::PendingReversal,
            Stage::Reversed => S::Reversed,
        }
    }

    /// The wire value of an account or wallet transaction's status.
    pub(crate) fn account(self) -> types::TransactionStatus {
        use types::TransactionStatus as S;
        match self {
            Stage::Pending => S::Pending,
            Stage::Processing => S::Processing,
            Stage::Completed => S::Completed,
            Stage::Failed => S::Failed,
            Stage::Cancelled => S::Canceled,
            Stage::PendingReturn => S::PendingReturn,
            Stage::Returned => S::Returned,
            Stage::PendingReversal => S::PendingReversal,
            Stage::Reversed => S::Reversed,
        }
    }

    /// Whether nothing happens to the movement any more by itself.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            Stage::Completed | Stage::Failed | Stage::Cancelled | Stage::Returned | Stage::Reversed
        )
    }
}

/// How a movement ends when left alone (chosen by `X-Sandbox-Scenario` or the simulation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Outcome {
    /// Completes.
    Complete,
    /// Fails while processing, with this reason.
    Fail(String),
    /// Waits in `processing` until `advanceSimulation` approves or rejects it.
    Hold,
}

/// The automatic progress of a movement: its stage, where it is headed, and when the next
/// step is due.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Lifecycle {
    pub(crate) stage: Stage,
    pub(crate) outcome: Outcome,
    /// Time per step.
    pub(crate) step: chrono::Duration,
    /// When the next automatic step is due (`None`: nothing happens by itself).
    pub(crate) next_at: Option<DateTime<Utc>>,
}

impl Lifecycle {
    /// A movement starting in `stage` at `now`, advancing one step per `step`.
    pub(crate) fn start(
        stage: Stage,
        outcome: Outcome,
        step: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            stage,
            outcome,
            step,
            next_at: Some(now + step),
        }
    }

    /// Whether a step is due at `now`.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_at.is_some_and(|at| at <= now)
    }

    /// Moves one step (when due); returns the time it was due at.
    pub(crate) fn step_once(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = self.next_at.filter(|at| *at <= now)?;
        self.next_at = None;
        match (self.stage, &self.outcome) {
            (Stage::Pending, _) => {
                self.stage = Stage::Processing;
                if self.outcome != Outcome::Hold {
                    self.next_at = Some(at + self.step);
                }
            }
            (Stage::Processing, Outcome::Complete) => self.stage = Stage::Completed,
            (Stage::Processing, Outcome::Fail(_)) => self.stage = Stage::Failed,
            (Stage::PendingReturn, _) => self.stage = Stage::Returned,
            (Stage::PendingReversal, _) => self.stage = Stage::Reversed,
            _ => {}
        }
        Some(at)
    }

    /// Goes to `stage` now; `then` (if any) follows one step later.
    pub(crate) fn jump(&mut self, stage: Stage, now: DateTime<Utc>, follows: bool) {
        self.stage = stage;
        self.next_at = follows.then(|| now + self.step);
    }

    /// The failure reason, once failed.
    pub(crate) fn failure_reason(&self) -> Option<String> {
        match (&self.stage, &self.outcome) {
            (Stage::Failed, Outcome::Fail(r)) => Some(r.clone()),
            (Stage::Failed, _) => Some("payment_failed".to_owned()),
            _ => None,
        }
    }
}

/// The outcome an `X-Sandbox-Scenario` value gives a movement, and its step time factor.
pub(crate) fn scenario_outcome(scenario: Option<&str>) -> (Outcome, i32) {
    match scenario {
        Some(
            s @ ("insufficient_funds" | "compliance_block" | "invalid_account" | "account_frozen"
            | "invalid_swift"),
        ) => (Outcome::Fail(s.to_owned()), 1),
        Some("delayed_settlement" | "network_congestion") => (Outcome::Complete, 10),
        _ => (Outcome::Complete, 1),
    }
}

/// A step time from the configured one, times `factor`.
pub(crate) fn step_of(step: std::time::Duration, factor: i32) -> chrono::Duration {
    chrono::Duration::from_std(step).unwrap_or(chrono::Duration::seconds(5)) * factor
}

/// Whether the customer may move money: it exists and its onboarding made it `active`.
/// `None` when there is no such customer.
pub(crate) fn customer_active(
    tx: &mut Tx<'_>,
    customer_id: &str,
) -> Result<Option<bool>, ApiError> {
    let Some(app_id) = tx
        .get::<CustomerRec>(customer_id)
        .map(|c| c.application_id.clone())
    else {
        return Ok(None);
    };
    let app: Option<AppRec> = onboarding::advance(tx, &app_id)?;
    Ok(Some(app.is_some_and(|a| {
        matches!(a.kyb_status, types::KybStatus::Active)
    })))
}

/// A serializable view as the `data.object` of an event.
pub(crate) fn object<T: serde::Serialize>(v: &T) -> Result<Map<String, Value>, ApiError> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::internal(
            "an event object did not encode as an object",
        )),
        Err(e) => Err(ApiError::internal(format!(
            "could not encode an event object: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_come_from_the_spec() {
        let n = networks();
        assert!(n.iter().any(|x| x == "ethereum-mainnet"));
        assert!(n.iter().any(|x| x == "solana-devnet"));
        assert!(n.iter().all(|x| network(x).is_some()));
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("10").map(fmt_amount).as_deref(), Some("10.00"));
        assert_eq!(
            parse_amount("0.123456").map(fmt_amount).as_deref(),
            Some("0.123456")
        );
        assert!(parse_amount("1.").is_none());
        assert!(parse_amount(".5").is_none());
        assert!(parse_amount("-1").is_none());
        assert!(parse_amount("1e5").is_none());
        let q = Quote::of(Decimal::from(1000), 50);
        assert_eq!(fmt_amount(q.output), "994.00");
        let back = Quote::for_output(q.output, 50);
        assert_eq!(fmt_amount(back.input), "1000.00");
    }

    #[test]
    fn addresses() {
        let evm = deposit_address(&types::Family::Evm);
        assert_eq!(address_family(&evm), Some(types::Family::Evm));
        let sol = deposit_address(&types::Family::Solana);
        assert_eq!(address_family(&sol), Some(types::Family::Solana));
        assert_eq!(address_family("nope"), None);
    }
}
