//! `send_with(&dakota)`: every generated operation as one expression through the pipeline.
//!
//! The generator implements `dakota_api::operation::Operation` for every operation builder;
//! [`SendWith`] adds one method to all of them, so no operation needs a hand-written wrapper
//! and a new operation in the spec gets it too.
//!
//! ```no_run
//! use dakota_ext::{Dakota, SendWith as _};
//! # async fn f(dakota: Dakota) -> Result<(), dakota_ext::Error> {
//! let customer = dakota
//!     .api()
//!     .get_customer()
//!     .customer_id("2s9bU0pOvqtK3r8aCzn0ZkYvGxW")
//!     .send_with(&dakota)
//!     .await?;
//! println!("{} (request {:?})", customer.name, customer.request_id());
//! # Ok(()) }
//! ```

use crate::client::{CallOptions, Dakota, Response};
use crate::error::Error;
use dakota_api::operation::Operation;
use std::future::Future;

/// Send any generated operation through a [`Dakota`] client's pipeline (auth, idempotency
/// keys, retries, pacing, tracing) and get [`Response`] / [`Error`]: the same as wrapping its
/// `send()` in [`Dakota::call`], written as one chain.
pub trait SendWith: Operation {
    /// [`Dakota::call`] on this operation.
    fn send_with(
        self,
        dakota: &Dakota,
    ) -> impl Future<Output = Result<Response<Self::Success>, Error>> + Send;

    /// [`Dakota::call_with`] on this operation (an idempotency key or application token for
    /// this call).
    fn send_with_options(
        self,
        dakota: &Dakota,
        options: CallOptions,
    ) -> impl Future<Output = Result<Response<Self::Success>, Error>> + Send;
}

impl<O> SendWith for O
where
    O: Operation,
    O::Success: Send,
    O::ErrorBody: serde::Serialize + Send,
{
    fn send_with(
        self,
        dakota: &Dakota,
    ) -> impl Future<Output = Result<Response<Self::Success>, Error>> + Send {
        self.send_with_options(dakota, CallOptions::default())
    }

    fn send_with_options(
        self,
        dakota: &Dakota,
        options: CallOptions,
    ) -> impl Future<Output = Result<Response<Self::Success>, Error>> + Send {
        let dakota = dakota.clone();
        async move { dakota.call_with(options, self.send()).await }
    }
}
