//! `POST /customers/bulk-import-sumsub-tokens`: one customer per Sumsub share token, each
//! token on its own. The sandbox reads a token as follows: 8 to 512 visible ASCII characters;
//! one starting with `kyb_` (or `business_`) is a company, any other a person; the applicant's
//! checks count as done, so the customer is approved at once (the usual `customer.*` events).
//! A token fails when it is malformed, repeated in the call, or imported before.

use std::collections::HashSet;

use dakota_api::types;

use super::customers::{self, NewCustomer};
use super::onboarding::{self, Kind, Outcome};
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema};

/// Tokens accepted per call.
const MAX_TOKENS: usize = 100;

/// Registers the import operation.
pub(crate) fn routes(r: &mut Registry) {
    r.add("bulkImportFromSumsubTokens", import);
}

/// A token already imported (the record id is the token).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ImportedToken {
    pub(crate) token: String,
}

impl Record for ImportedToken {
    const KIND: &'static str = "sumsub_token";
    fn id(&self) -> &str {
        &self.token
    }
}

fn well_formed(token: &str) -> bool {
    (8..=512).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

fn item(
    name: Option<String>,
    ok: Result<(String, String), String>,
) -> Result<types::BulkImportFromSumsubTokensResponseResultsItem, ApiError> {
    let b = types::builder::BulkImportFromSumsubTokensResponseResultsItem::default().name(name);
    build(match ok {
        Ok((customer, application)) => b
            .success(Some(true))
            .customer_id(Some(customer))
            .application_id(Some(application)),
        Err(e) => b.success(Some(false)).error(Some(e)),
    })
}

/// `POST /customers/bulk-import-sumsub-tokens`.
fn import(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::BulkImportFromSumsubTokensBody = call.body_as()?;
    let mut errs = Errors::default();
    if req.tokens.is_empty() || req.tokens.len() > MAX_TOKENS {
        errs.push(
            "tokens",
            "invalid_length",
            format!("tokens must hold 1 to {MAX_TOKENS} share tokens"),
        );
    }
    errs.finish()?;
    call.write(|tx| {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut results = Vec::new();
        let mut succeeded = 0i64;
        for token in &req.tokens {
            let token = token.as_str();
            if !well_formed(token) {
                results.push(item(
                    None,
                    Err("malformed share token: expected 8-512 visible ASCII characters".into()),
                )?);
                continue;
            }
            if !seen.insert(token) || tx.contains::<ImportedToken>(token) {
                results.push(item(
                    None,
                    Err("this share token was already imported".into()),
                )?);
                continue;
            }
            let business = token.starts_with("kyb_") || token.starts_with("business_");
            let tail: String = token
                .chars()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let name = if business {
                format!("Sumsub Company {tail}")
            } else {
                format!("Sumsub Applicant {tail}")
            };
            let (customer, app) = customers::insert(
                tx,
                NewCustomer {
                    name: name.clone(),
                    kind: if business {
                        Kind::Business
                    } else {
                        Kind::Individual
                    },
                    external_id: None,
                    is_sub_client: false,
                    sub_client_id: None,
                    plan: Some((tx.now, Outcome::Approve)),
                    expired: false,
                },
            )?;
            onboarding::advance(tx, &app.id)?;
            tx.put(ImportedToken {
                token: token.to_owned(),
            });
            succeeded += 1;
            results.push(item(Some(name), Ok((customer.id, app.id)))?);
        }
        let total = i64::try_from(req.tokens.len()).unwrap_or(i64::MAX);
        let body: types::BulkImportFromSumsubTokensResponse = build(
            types::builder::BulkImportFromSumsubTokensResponse::default()
                .failed(Some(total - succeeded))
                .results(results)
                .succeeded(Some(succeeded))
                .total(Some(total)),
        )?;
        Reply::ok(&body)
    })
}

/// Registers the Sumsub import records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<ImportedToken>();
}
