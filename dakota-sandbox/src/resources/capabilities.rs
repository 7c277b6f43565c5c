//! Capabilities: `GET /capabilities/countries` (every ISO 3166-1 code with its English name)
//! and `GET /capabilities/networks` (the networks accounts, destinations and transactions
//! accept: exactly the spec's `NetworkId` values, see [`super::money::networks`]).

use dakota_api::types;

use super::money;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};

/// Registers the capabilities operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("getCountries", countries)
        .add("getSupportedNetworks", networks);
}

fn countries(_call: &Call<'_>) -> Result<Reply, ApiError> {
    let mut list = celes::Country::get_countries().to_vec();
    list.sort_by(|a, b| a.alpha2.cmp(b.alpha2));
    let body = list
        .iter()
        .map(|c| {
            build::<types::Country, _>(
                types::builder::Country::default()
                    .code(c.alpha2)
                    .name(c.long_name.to_owned()),
            )
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Reply::ok(&body)
}

fn networks(_call: &Call<'_>) -> Result<Reply, ApiError> {
    Reply::ok(&money::networks())
}
