//! Request validation beyond what deserializing into the generated types checks.
//!
//! The generated enums accept any string (their `Unknown` variant keeps forward compatibility
//! for responses); a request must use a value the spec lists, so every enum in a request body
//! is checked here, along with the documented rules the schema cannot express.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use dakota_api::types;
use serde_json::Value;

use crate::ids;
use crate::problem::{ApiError, FieldError};
use crate::server::typed;

/// Enums with an `Unknown(String)` catch-all.
pub(crate) trait Known {
    /// The unlisted value, if this is one.
    fn unknown(&self) -> Option<&str>;
}

macro_rules! known {
    ($($t:ident),* $(,)?) => {
        $(impl Known for types::$t {
            fn unknown(&self) -> Option<&str> {
                match self {
                    types::$t::Unknown(s) => Some(s.as_str()),
                    _ => None,
                }
            }
        })*
    };
}

known!(
    CustomerCreateRequestCustomerType,
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
    SimulateOnboardingBodyType,
    KybStatus,
    KybLinkStatus,
    ApplicationStatus,
);

/// Collects field errors.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    pub(crate) fn push(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Flags an unlisted enum value.
    pub(crate) fn known<T: Known>(&mut self, field: &str, v: &T) {
        if let Some(s) = v.unknown() {
            self.push(
                field,
                "invalid_enum",
                format!("'{s}' is not an allowed value"),
            );
        }
    }

    /// Flags unlisted values in a list.
    pub(crate) fn known_all<T: Known>(&mut self, field: &str, vs: &[T]) {
        for (i, v) in vs.iter().enumerate() {
            self.known(&format!("{field}[{i}]"), v);
        }
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// The body must be a JSON object.
pub(crate) fn object(v: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        ApiError::field(
            "body",
            "invalid_type",
            "the request body must be a JSON object",
        )
    })
}

/// `CustomerCreateRequest`, every field checked so that all problems are reported at once.
pub(crate) fn customer_create(v: Value) -> Result<types::CustomerCreateRequest, ApiError> {
    let obj = object(&v)?;
    let mut errs = Errors::default();
    match obj.get("name") {
        None => errs.push("name", "required", "name is required"),
        Some(Value::String(s)) => {
            if let Err(e) = types::CustomerCreateRequestName::try_from(s.as_str()) {
                let code = if s.trim().is_empty() {
                    "blank"
                } else {
                    "invalid_length"
                };
                errs.push(
                    "name",
                    code,
                    format!(
                        "name must be 3-100 characters with at least one non-space character ({e})"
                    ),
                );
            }
        }
        Some(_) => errs.push("name", "invalid_type", "name must be a string"),
    }
    match obj.get("customer_type") {
        None => errs.push("customer_type", "required", "customer_type is required"),
        Some(Value::String(s)) if s == "individual" || s == "business" => {}
        Some(Value::String(s)) => errs.push(
            "customer_type",
            "invalid_enum",
            format!("'{s}' is not an allowed value; expected individual or business"),
        ),
        Some(_) => errs.push(
            "customer_type",
            "invalid_type",
            "customer_type must be a string",
        ),
    }
    match obj.get("external_id") {
        None | Some(Value::String(_)) => {}
        Some(_) => errs.push(
            "external_id",
            "invalid_type",
            "external_id must be a string",
        ),
    }
    let is_sub = match obj.get("is_sub_client") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errs.push(
                "is_sub_client",
                "invalid_type",
                "is_sub_client must be a boolean",
            );
            false
        }
    };
    match obj.get("sub_client_id") {
        None => {}
        Some(Value::String(s)) => {
            if !ids::is_ksuid(s) {
                errs.push(
                    "sub_client_id",
                    "invalid_format",
                    "sub_client_id must be a KSUID (27 letters and digits)",
                );
            } else if is_sub {
                errs.push(
                    "sub_client_id",
                    "mutually_exclusive",
                    "sub_client_id cannot be combined with is_sub_client: true",
                );
            }
        }
        Some(_) => errs.push(
            "sub_client_id",
            "invalid_type",
            "sub_client_id must be a string",
        ),
    }
    errs.finish()?;
    typed(v)
}

/// A conservative e-mail check (ASCII `local@domain.tld`), strict enough that whatever it
/// accepts also passes JSON Schema's `email` format when echoed back.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    const LOCAL_EXTRA: &str = "!#$%&'*+/=?^_`{|}~-";
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || LOCAL_EXTRA.contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// An absolute URI (`scheme:rest`, ASCII, no spaces or characters URIs exclude).
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest_ok = !rest.is_empty()
        && rest.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        });
    let pct_ok = {
        let b = rest.as_bytes();
        b.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        })
    };
    scheme_ok && rest_ok && pct_ok
}

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
    if req.name.first.trim().is_empty() {
        errs.push("name.first", "blank", "first name must not be blank");
    }
    if req.name.last.trim().is_empty() {
        errs.push("name.last", "blank", "last name must not be blank");
    }
    if req.address.street1.trim().is_empty() {
        errs.push("address.street1", "blank", "street1 must not be blank");
    }
    if req.address.city.trim().is_empty() {
        errs.push("address.city", "blank", "city must not be blank");
    }
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
    } else if req.date_of_birth.year() < 1900 {
        errs.push(
            "date_of_birth",
            "invalid_value",
            "date of birth must be after 1900",
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
    if req.legal_name.trim().is_empty() {
        errs.push("legal_name", "blank", "legal_name must not be blank");
    }
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
