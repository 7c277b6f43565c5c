//! Checks of onboarding request bodies beyond what deserializing into the generated types
//! checks: enum values the spec lists, and the documented cross-field rules.

use chrono::{DateTime, Months, NaiveDate, Utc};
use dakota_api::types;
use serde_json::Value;

use crate::pipeline::typed;
use crate::pipeline::validate::{is_email, is_uri, known, object, Errors};
use crate::problem::ApiError;

known!(
    IndividualRequestEmploymentStatus,
    IndividualRequestPurposeOfAccountItem,
    IndividualRequestRolesItem,
    IndividualRequestSourceOfWealthItem,
    IndividualRequestTitle,
    BusinessApplicationCreateRequestAverageMonthlyRevenue,
    BusinessApplicationCreateRequestExpectedMonthlyDeposit,
    BusinessApplicationCreateRequestExpectedMonthlyTransactionVolume,
    BusinessApplicationCreateRequestLegalStructure,
    BusinessApplicationCreateRequestPurposeOfAccountItem,
    BusinessApplicationCreateRequestSourceOfFundsItem,
    AttestationType,
    ApplicationDocumentType,
    IndividualDocumentType,
    FileType,
);

/// Domains the spec forbids for applicant e-mail ("cannot use example or test domains").
fn is_reserved_domain(email: &str) -> bool {
    let domain = email
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    ["example.com", "example.org", "example.net"].contains(&domain.as_str())
        || domain.ends_with(".test")
        || domain.ends_with(".example")
        || domain.ends_with(".invalid")
}

/// Where an `IndividualRequest` is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonUse {
    /// The primary individual of an individual application.
    Primary,
    /// A person associated with a business application.
    Associated,
}

/// `IndividualRequest` with the spec's documented cross-field rules.
pub(crate) fn individual(
    v: Value,
    usage: PersonUse,
    now: DateTime<Utc>,
) -> Result<types::IndividualRequest, ApiError> {
    object(&v)?;
    let req: types::IndividualRequest = typed(v)?;
    let mut errs = Errors::default();
    use types::IndividualRequestRolesItem as R;
    errs.known_all("roles", &req.roles);
    errs.known_all("purpose_of_account", &req.purpose_of_account);
    errs.known_all("source_of_wealth", &req.source_of_wealth);
    if let Some(e) = &req.employment_status {
        errs.known("employment_status", e);
    }
    if let Some(t) = &req.title {
        errs.known("title", t);
    }
    if req.roles.is_empty() {
        errs.push("roles", "min_items", "at least one role is required");
    }
    if req.nationalities.is_empty() {
        errs.push(
            "nationalities",
            "min_items",
            "at least one nationality is required",
        );
    }
    // Names and address lines have no minimum length in the spec: blank ones are kept as sent.
    if !is_email(&req.email_address) {
        errs.push(
            "email_address",
            "invalid_format",
            "must be an e-mail address",
        );
    } else if is_reserved_domain(&req.email_address) {
        errs.push(
            "email_address",
            "invalid_domain",
            "example and test domains are not accepted",
        );
    }
    let today = now.date_naive();
    let adult_before = today
        .checked_sub_months(Months::new(18 * 12))
        .unwrap_or(NaiveDate::MIN);
    if req.date_of_birth > adult_before {
        errs.push(
            "date_of_birth",
            "too_young",
            "the person must be at least 18 years old",
        );
    }
    let has = |r: &R| req.roles.contains(r);
    let is_individual = has(&R::Individual);
    if is_individual && req.roles.len() > 1 {
        errs.push(
            "roles",
            "invalid_combination",
            "'individual' cannot be combined with other roles",
        );
    }
    match usage {
        PersonUse::Associated if is_individual => errs.push(
            "roles",
            "invalid_value",
            "'individual' is only valid on individual applications",
        ),
        PersonUse::Primary if !is_individual => errs.push(
            "roles",
            "invalid_value",
            "the person on an individual application must have the role 'individual'",
        ),
        _ => {}
    }
    if is_individual {
        if req.employment_status.is_none() {
            errs.push(
                "employment_status",
                "required",
                "required when roles include 'individual'",
            );
        }
        if req.purpose_of_account.is_empty() {
            errs.push(
                "purpose_of_account",
                "required",
                "required when roles include 'individual'",
            );
        }
        if req.source_of_wealth.is_empty() {
            errs.push(
                "source_of_wealth",
                "required",
                "required when roles include 'individual'",
            );
        }
        if req.title.is_some() {
            errs.push(
                "title",
                "invalid_value",
                "title is not valid for the role 'individual'",
            );
        }
    }
    if (has(&R::Ubo) || has(&R::ControlPerson)) && req.title.is_none() {
        errs.push("title", "required", "required for UBOs and control persons");
    }
    if has(&R::Ubo) && req.ownership_percentage.is_none() {
        errs.push("ownership_percentage", "required", "required for UBOs");
    }
    if let Some(p) = req.ownership_percentage {
        if !(0.01..=100.0).contains(&p) {
            errs.push(
                "ownership_percentage",
                "out_of_range",
                "must be greater than 0 and at most 100",
            );
        }
    }
    errs.finish()?;
    Ok(req)
}

/// `BusinessApplicationCreateRequest`.
pub(crate) fn business(
    v: Value,
    now: DateTime<Utc>,
) -> Result<types::BusinessApplicationCreateRequest, ApiError> {
    object(&v)?;
    let req: types::BusinessApplicationCreateRequest = typed(v)?;
    let mut errs = Errors::default();
    errs.known("average_monthly_revenue", &req.average_monthly_revenue);
    errs.known("expected_monthly_deposit", &req.expected_monthly_deposit);
    errs.known(
        "expected_monthly_transaction_volume",
        &req.expected_monthly_transaction_volume,
    );
    errs.known("legal_structure", &req.legal_structure);
    errs.known_all("purpose_of_account", &req.purpose_of_account);
    errs.known_all("source_of_funds", &req.source_of_funds);
    if req.date_of_incorporation > now.date_naive() {
        errs.push(
            "date_of_incorporation",
            "invalid_value",
            "must not be in the future",
        );
    }
    if let Some(e) = &req.business_email {
        if !is_email(e) {
            errs.push(
                "business_email",
                "invalid_format",
                "must be an e-mail address",
            );
        }
    }
    if req.purpose_of_account.is_empty() {
        errs.push(
            "purpose_of_account",
            "min_items",
            "at least one purpose is required",
        );
    }
    if req.source_of_funds.is_empty() {
        errs.push(
            "source_of_funds",
            "min_items",
            "at least one source of funds is required",
        );
    }
    if let Some(w) = &req.website {
        if !is_uri(w) {
            errs.push(
                "website",
                "invalid_format",
                "must be an absolute URL, e.g. https://example.com",
            );
        }
    }
    errs.finish()?;
    Ok(req)
}
