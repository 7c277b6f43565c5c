//! What the sandbox knows of chains: networks and their CAIP-2 ids, chain families, the
//! tokens a wallet can hold (with their sandbox deployments and USD prices), addresses and
//! amounts.

use std::str::FromStr;

use dakota_api::types;
use rand::Rng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Networks with their CAIP-2 chain ids (`namespace:reference`).
const CAIP2: &[(&str, &str)] = &[
    ("ethereum-mainnet", "eip155:1"),
    ("ethereum-sepolia", "eip155:11155111"),
    ("ethereum-goerli", "eip155:5"),
    ("ethereum-holesky", "eip155:17000"),
    ("base-mainnet", "eip155:8453"),
    ("base-sepolia", "eip155:84532"),
    ("arbitrum-mainnet", "eip155:42161"),
    ("arbitrum-sepolia", "eip155:421614"),
    ("optimism-mainnet", "eip155:10"),
    ("optimism-sepolia", "eip155:11155420"),
    ("polygon-mainnet", "eip155:137"),
    ("polygon-amoy", "eip155:80002"),
    ("solana-mainnet", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    ("solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ("solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
];

/// The network of a CAIP-2 chain id, if the sandbox knows it.
pub(crate) fn network_of_caip2(caip2: &str) -> Option<types::NetworkId> {
    CAIP2
        .iter()
        .find(|(_, c)| *c == caip2)
        .map(|(n, _)| types::NetworkId::from(*n))
        .filter(|n| !n.is_unknown())
}

/// The CAIP-2 id of a network.
#[cfg(test)]
pub(crate) fn caip2_of(network: &types::NetworkId) -> Option<&'static str> {
    CAIP2
        .iter()
        .find(|(n, _)| *n == network.as_str())
        .map(|(_, c)| *c)
}

/// A listed network id, or `None`.
pub(crate) fn network(s: &str) -> Option<types::NetworkId> {
    let n = types::NetworkId::from(s);
    (!n.is_unknown()).then_some(n)
}

/// The chain family of a network.
pub(crate) fn family_of(n: &types::NetworkId) -> types::Family {
    if n.as_str().starts_with("solana-") {
        types::Family::Solana
    } else {
        types::Family::Evm
    }
}

/// One token the sandbox's wallets can hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// Symbol, as in `asset_id` (`USDC`).
    pub(crate) symbol: &'static str,
    pub(crate) name: &'static str,
    /// The three-letter `Asset` a wallet transaction reports (`USD` for a dollar stablecoin).
    pub(crate) asset: &'static str,
    /// Price in USD, as a decimal string (stablecoins at par; the native coins at a fixed
    /// sandbox price).
    pub(crate) usd: &'static str,
    pub(crate) native: bool,
    pub(crate) families: &'static [&'static str],
}

const TOKENS: &[Token] = &[
    Token {
        symbol: "USDC",
        name: "USD Coin",
        asset: "USD",
        usd: "1",
        native: false,
        families: &["evm", "solana"],
    },
    Token {
        symbol: "USDT",
        name: "Tether USD",
        asset: "USD",
        usd: "1",
        native: false,
        families: &["evm", "solana"],
    },
    Token {
        symbol: "EURC",
        name: "Euro Coin",
        asset: "EUR",
        usd: "1.08",
        native: false,
        families: &["evm", "solana"],
    },
    Token {
        symbol: "ETH",
        name: "Ether",
        asset: "ETH",
        usd: "3000",
        native: true,
        families: &["evm"],
    },
    Token {
        symbol: "SOL",
        name: "Solana",
        asset: "SOL",
        usd: "150",
        native: true,
        families: &["solana"],
    },
];

/// The token with this symbol on this network, if the sandbox deploys it there (the native
/// coin of Polygon is counted as `ETH`-like only on the other EVM chains).
pub(crate) fn token(symbol: &str, network: &types::NetworkId) -> Option<Token> {
    let family = family_of(network);
    let polygon = network.as_str().starts_with("polygon-");
    TOKENS
        .iter()
        .find(|t| t.symbol.eq_ignore_ascii_case(symbol))
        .filter(|t| t.families.contains(&family.as_str()))
        .filter(|t| !(polygon && t.symbol == "ETH"))
        .copied()
}

/// Every token symbol the sandbox knows.
pub(crate) fn token_symbols() -> Vec<&'static str> {
    TOKENS.iter().map(|t| t.symbol).collect()
}

impl Token {
    /// The USD value of `amount` of this token, rounded to cents.
    pub(crate) fn usd_value(&self, amount: Decimal) -> Decimal {
        let price = Decimal::from_str(self.usd).unwrap_or(Decimal::ONE);
        (amount * price).round_dp(2)
    }

    /// Decimal places of the smallest unit.
    pub(crate) fn decimals(&self, family: &types::Family) -> i64 {
        match (self.native, family) {
            (true, types::Family::Solana) => 9,
            (true, _) => 18,
            _ => 6,
        }
    }

    /// The deployment of this token on `network`: its sandbox contract (mint) address is
    /// derived from the symbol and network, the same in every sandbox.
    pub(crate) fn deployment(
        &self,
        network: &types::NetworkId,
    ) -> Result<types::AssetDeployment, crate::problem::ApiError> {
        let family = family_of(network);
        let (contract, standard) = match (&family, self.native) {
            (types::Family::Solana, true) => (
                "So11111111111111111111111111111111111111112".to_owned(),
                "native",
            ),
            (_, true) => (
                "0x0000000000000000000000000000000000000000".to_owned(),
                "native",
            ),
            (types::Family::Solana, false) => (
                derived_address(&family, &format!("{}/{}", self.symbol, network.as_str())),
                "spl",
            ),
            (_, false) => (
                derived_address(&family, &format!("{}/{}", self.symbol, network.as_str())),
                "erc20",
            ),
        };
        crate::problem::build(
            types::builder::AssetDeployment::default()
                .contract_address(contract)
                .decimals(self.decimals(&family))
                .id(self.symbol.to_owned())
                .name(self.name.to_owned())
                .network_id(network.clone())
                .token_standard(standard.to_owned()),
        )
    }
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58_from(bytes: &[u8], len: usize) -> String {
    bytes
        .iter()
        .cycle()
        .take(len)
        .map(|b| char::from(BASE58[usize::from(*b) % BASE58.len()]))
        .collect()
}

/// A fresh address of the family (EVM: `0x` and 40 hex digits; Solana: 44 base58 letters).
pub(crate) fn new_address(family: &types::Family) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    address_from(family, &bytes)
}

fn address_from(family: &types::Family, bytes: &[u8]) -> String {
    match family {
        types::Family::Solana => base58_from(bytes, 44),
        _ => format!("0x{}", hex::encode(&bytes[..20.min(bytes.len())])),
    }
}

/// An address of the family derived from `seed` (the same seed gives the same address).
pub(crate) fn derived_address(family: &types::Family, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    address_from(family, &digest)
}

/// A fresh transaction hash of the family.
pub(crate) fn transaction_hash(family: &types::Family) -> String {
    let mut bytes = [0u8; 64];
    rand::rng().fill(&mut bytes);
    match family {
        types::Family::Solana => base58_from(&bytes, 88),
        _ => format!("0x{}", hex::encode(&bytes[..32])),
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

/// The same address in the form used to compare and index (EVM addresses are case-blind).
pub(crate) fn address_key(a: &str) -> String {
    if a.starts_with("0x") {
        a.to_ascii_lowercase()
    } else {
        a.to_owned()
    }
}

/// A decimal amount as the spec writes them (`^(0|[1-9][0-9]*)(\.[0-9]+)?$`), at most 28
/// significant digits.
pub(crate) fn parse_amount(s: &str) -> Option<Decimal> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_ok = int == "0"
        || (!int.is_empty() && !int.starts_with('0') && int.bytes().all(|b| b.is_ascii_digit()));
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !int_ok || !frac_ok || s.len() > 40 {
        return None;
    }
    Decimal::from_str(s).ok()
}

/// An amount as a decimal string without trailing zeros (at least two decimals for values
/// with a fractional part in cents, e.g. `18250.00` stays `18250.00`).
pub(crate) fn fmt_amount(d: Decimal) -> String {
    let d = d.normalize();
    if d.scale() < 2 {
        let mut r = d;
        r.rescale(2);
        r.to_string()
    } else {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caip2_round_trips() {
        for (n, c) in CAIP2 {
            let net = network(n).expect("listed");
            assert_eq!(caip2_of(&net), Some(*c));
            assert_eq!(
                network_of_caip2(c).map(|x| x.as_str().to_owned()),
                Some((*n).to_owned())
            );
        }
        assert!(network_of_caip2("eip155:999999").is_none());
    }

    #[test]
    fn amounts_follow_the_spec_pattern() {
        assert_eq!(parse_amount("18250"), Decimal::from_str("18250").ok());
        assert!(parse_amount("0.5").is_some());
        assert!(parse_amount("01").is_none());
        assert!(parse_amount("1.").is_none());
        assert!(parse_amount("-1").is_none());
        assert!(parse_amount("").is_none());
        assert_eq!(fmt_amount(Decimal::from(18250)), "18250.00");
        assert_eq!(
            fmt_amount(Decimal::from_str("1.2345").unwrap_or_default()),
            "1.2345"
        );
    }

    #[test]
    fn addresses() {
        let evm = new_address(&types::Family::Evm);
        assert_eq!(address_family(&evm), Some(types::Family::Evm));
        let sol = new_address(&types::Family::Solana);
        assert_eq!(address_family(&sol), Some(types::Family::Solana));
        assert_eq!(
            derived_address(&types::Family::Evm, "x"),
            derived_address(&types::Family::Evm, "x")
        );
    }

    #[test]
    fn tokens_by_network() {
        let base = network("base-mainnet").expect("listed");
        let sol = network("solana-devnet").expect("listed");
        assert!(token("usdc", &base).is_some());
        assert!(token("ETH", &base).is_some());
        assert!(token("ETH", &sol).is_none());
        assert!(token("SOL", &sol).is_some());
        assert!(token("DOGE", &base).is_none());
    }
}
