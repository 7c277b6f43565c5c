//! The hook through which every generated operation sends its request.
//!
//! [`Client::new`](crate::Client::new) sends with plain reqwest; give
//! [`Client::new_with_client`](crate::Client::new_with_client) an [`Inner`] holding a
//! [`Transport`] to put your own pipeline (auth, retries, idempotency, tracing) under every
//! operation without wrapping each one.

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future returned by [`Transport::execute`].
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send + 'a>>;

/// Sends one request for one operation. Implementations may retry, add headers, pace, log.
pub trait Transport: Send + Sync + 'static {
    /// Execute `request` (for `info.operation_id`) with `client`.
    fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        info: &'a OperationInfo,
    ) -> TransportFuture<'a>;
}

/// Per-client state of the generated [`Client`](crate::Client): an optional [`Transport`].
#[derive(Clone, Default)]
pub struct Inner {
    transport: Option<Arc<dyn Transport>>,
}

impl Inner {
    /// Route every request through `transport`.
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport: Some(transport),
        }
    }

    /// The configured transport, if any.
    pub fn transport(&self) -> Option<&Arc<dyn Transport>> {
        self.transport.as_ref()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("transport", &self.transport.is_some())
            .finish()
    }
}

impl ClientHooks<Inner> for crate::Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        match self.inner().transport() {
            Some(t) => t.execute(self.client(), request, info).await,
            None => self.client().execute(request).await,
        }
    }
}
