//! TS-SDK-style resource accessors on [`Dakota`]: `dakota.recipients().create(customer, body)`.
//!
//! The accessors are generated with the client (`dakota_api::resources`, one method per
//! operation, grouped by resource; the naming rule is in `xtask/src/resources.rs`). This module
//! only implements their [`Dispatch`] trait for [`Dakota`], so every accessor runs through the
//! same pipeline as [`SendWith`](crate::SendWith): auth, idempotency keys, retries, pacing and
//! tracing, returning [`Response`] / [`Error`].
//!
//! ```no_run
//! use dakota_ext::{types, Dakota, Resources as _};
//! # async fn f(dakota: Dakota, customer: types::Ksuid) -> Result<(), dakota_ext::Error> {
//! let recipient = dakota
//!     .recipients()
//!     .create(customer, types::RecipientRequest::builder().name("Andes Coffee Exporters SAS"))
//!     .await?;
//! let fetched = dakota.recipients().get(recipient.id.clone()).await?;
//! println!("{} (request {:?})", fetched.name, fetched.request_id());
//! # Ok(()) }
//! ```
//!
//! An accessor takes the operation's path parameters, its other required parameters and its
//! body. For optional parameters or per-call options (an idempotency key of your own, an
//! application token), use the operation's builder from [`Dakota::api`] with
//! [`send_with_options`](crate::SendWith::send_with_options).

use crate::client::{Dakota, Response};
use crate::error::Error;
use crate::send::SendWith as _;
use dakota_api::operation::Operation;
pub use dakota_api::resources::*;
use std::future::Future;

impl Dispatch for Dakota {
    type Response<T> = Response<T>;
    type Error = Error;

    fn client(&self) -> &dakota_api::Client {
        self.api()
    }

    fn dispatch<O>(&self, op: O) -> impl Future<Output = Result<Response<O::Success>, Error>> + Send
    where
        O: Operation,
        O::Success: Send,
        O::ErrorBody: serde::Serialize + Send,
    {
        op.send_with(self)
    }
}
