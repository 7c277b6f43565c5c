//! `GET /events`: the event log, newest first; the same envelopes webhook targets receive.

use dakota_api::types;

use crate::events::EventRec;
use crate::pipeline::query;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};

/// Registers the events operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("listEvents", list);
}

fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let page = call.query()?.page()?;
    let body: types::PaginatedEventResponse = call.read(|t| {
        let (rows, meta) = query::records_newest_first::<EventRec>(t, &page, |_| true)?;
        let data = rows
            .into_iter()
            .map(EventRec::view)
            .collect::<Result<Vec<_>, ApiError>>()?;
        build(
            types::builder::PaginatedEventResponse::default()
                .data(data)
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}
