//! Every list endpoint of the spec as a `Stream` of items, one page in memory at a time.
//!
//! [`Dakota::paginate`] takes the generated list builder, configured with any of its filters,
//! and follows the operation's cursor until the last page:
//!
//! ```no_run
//! # async fn f(dakota: dakota_ext::Dakota) -> Result<(), dakota_ext::Error> {
//! use dakota_api::types::AccountType;
//! use futures::TryStreamExt;
//!
//! let api = dakota.api();
//! let accounts = dakota.paginate(api.list_accounts().account_type(AccountType::Offramp).limit(100));
//! let mut accounts = std::pin::pin!(accounts);
//! while let Some(account) = accounts.try_next().await? {
//!     println!("{} {:?}", account.id.as_str(), account.source_crypto_address);
//! }
//! # Ok(()) }
//! ```
//!
//! Two cursor styles exist. Most operations take `starting_after` = the id of the last item
//! seen and answer `meta.has_more_after`; `listWebhookHistory` answers the next `cursor`
//! itself, and `listSelfServeCreditsLedger` continues from the `created_at` of the last entry.
//! A few newer operations (`listMandates`, `listScheduledPayments`) answer the whole
//! collection as one JSON array: their stream is that one response, so code written against
//! streams keeps working if Dakota pages them later. [`ListOperation`] hides the difference;
//! [`LIST_OPERATIONS`] names every operation covered.
//!
//! A stream ends after a page without `has_more`, an empty page, or a page whose cursor was
//! seen before (a server that repeats itself cannot make it loop), and it ends with the first
//! [`Error`] after yielding the items of the pages before it. Every page goes through
//! [`Dakota::call`], so errors carry the problem, status and request id.

use crate::client::{CallOptions, Dakota};
use crate::error::Error;
use dakota_api::{builder, types};
use futures::stream::{self, Stream, TryStreamExt};
use progenitor_client::ResponseValue;
use std::future::Future;
use std::num::NonZeroU64;

/// Default page size (the API's maximum is 100).
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// One page of a `starting_after` list endpoint, for [`paginate`].
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items in server order.
    pub items: Vec<T>,
    /// `meta.has_more_after`.
    pub has_more_after: bool,
}

/// One page of any list endpoint with the cursor that continues it, for [`paginate_pages`].
#[derive(Debug, Clone)]
pub struct CursorPage<T, C> {
    /// Items in server order.
    pub items: Vec<T>,
    /// The server says more items follow.
    pub has_more: bool,
    /// Cursor for the next page (`None`: nothing to continue from).
    pub next: Option<C>,
}

/// An item that can serve as the cursor for the next page.
pub trait Cursor {
    /// The id to pass as `starting_after`.
    fn cursor(&self) -> String;
}

/// A generated list builder that [`Dakota::paginate`] can follow page by page.
///
/// Implemented for the builder of every operation in [`LIST_OPERATIONS`]; adding an operation
/// of the usual shape is one line in this module's `list_operations!` table.
pub trait ListOperation: Clone + Send {
    /// The spec's operationId.
    const OPERATION_ID: &'static str;
    /// One element of a page.
    type Item: Send;
    /// What continues the list (`starting_after`, `cursor`).
    type Cursor: Clone + PartialEq + Send + Sync;
    /// The page as generated.
    type Response: Send;
    /// The operation's error body as generated.
    type ErrorBody: serde::Serialize + Send;

    /// This request, continued after `cursor`.
    fn after(self, cursor: Self::Cursor) -> Self;

    /// Send the request (the generated `send()`).
    fn fetch(
        self,
    ) -> impl Future<
        Output = Result<ResponseValue<Self::Response>, progenitor_client::Error<Self::ErrorBody>>,
    > + Send;

    /// Split a page into its items and the cursor of the next page (an error when the page
    /// has a shape this version cannot read).
    fn page(response: Self::Response) -> Result<CursorPage<Self::Item, Self::Cursor>, Error>;
}

/// Remembers cursors in constant memory to notice a server that sends us in circles: the
/// previous cursor plus a checkpoint moved at growing distances (Brent's cycle detection), so
/// a cycle of any length is noticed after at most about twice its length.
struct CycleGuard<C> {
    previous: Option<C>,
    checkpoint: Option<C>,
    steps: u64,
    distance: u64,
}

impl<C: Clone + PartialEq> CycleGuard<C> {
    fn new() -> Self {
        CycleGuard {
            previous: None,
            checkpoint: None,
            steps: 0,
            distance: 1,
        }
    }

    /// `false` when `c` was seen before (so the list is going round in circles).
    fn first_visit(&mut self, c: &C) -> bool {
        if self.previous.as_ref() == Some(c) || self.checkpoint.as_ref() == Some(c) {
            return false;
        }
        self.steps += 1;
        if self.steps >= self.distance {
            self.checkpoint = Some(c.clone());
            self.distance = self.distance.saturating_mul(2);
            self.steps = 0;
        }
        self.previous = Some(c.clone());
        true
    }
}

/// Stream every item of a cursor-paginated list. `fetch(cursor)` loads the page after
/// `cursor` (`None` = first page) and says how to continue. The stream ends after a page
/// without `has_more` or without a next cursor, an empty page, a cursor seen before, or the
/// first error.
pub fn paginate_pages<T, C, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, Error>>
where
    C: Clone + PartialEq,
    F: FnMut(Option<C>) -> Fut,
    Fut: Future<Output = Result<CursorPage<T, C>, Error>>,
{
    struct State<F, C> {
        fetch: F,
        cursor: Option<C>,
        guard: CycleGuard<C>,
        done: bool,
    }
    stream::try_unfold(
        State {
            fetch,
            cursor: None,
            guard: CycleGuard::new(),
            done: false,
        },
        |mut st| async move {
            if st.done {
                return Ok::<_, Error>(None);
            }
            let page = (st.fetch)(st.cursor.clone()).await?;
            // An empty page ends the list too, so a server that keeps saying has_more cannot
            // loop us.
            let next = match page.next {
                Some(c) if page.has_more && !page.items.is_empty() => Some(c),
                _ => None,
            };
            match next {
                Some(c) if st.cursor.as_ref() != Some(&c) && st.guard.first_visit(&c) => {
                    st.cursor = Some(c)
                }
                _ => st.done = true,
            }
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), st)))
        },
    )
    .try_flatten()
}

/// Stream every item of a `starting_after` list. `fetch(cursor)` loads the page after
/// `cursor` (`None` = first page); the last item's [`Cursor`] continues it.
pub fn paginate<T, F, Fut>(mut fetch: F) -> impl Stream<Item = Result<T, Error>>
where
    T: Cursor,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, Error>>,
{
    paginate_pages(move |cursor| {
        let page = fetch(cursor);
        async move {
            let page = page.await?;
            Ok(CursorPage {
                next: page.items.last().map(Cursor::cursor),
                has_more: page.has_more_after,
                items: page.items,
            })
        }
    })
}

impl Dakota {
    /// Every item of a list operation, page by page. `list` is the generated builder with
    /// any filters and page size set (e.g. `dakota.api().list_accounts().limit(100)`); the
    /// stream sets the cursor itself. See the [module docs](crate::pagination).
    pub fn paginate<'a, L>(
        &'a self,
        list: L,
    ) -> impl Stream<Item = Result<L::Item, Error>> + Send + 'a
    where
        L: ListOperation + 'a,
    {
        self.paginate_with(CallOptions::default(), list)
    }

    /// [`Dakota::paginate`] with per-call options for every page, e.g. the application
    /// token `listDocuments` accepts.
    pub fn paginate_with<'a, L>(
        &'a self,
        opts: CallOptions,
        list: L,
    ) -> impl Stream<Item = Result<L::Item, Error>> + Send + 'a
    where
        L: ListOperation + 'a,
    {
        paginate_pages(move |cursor: Option<L::Cursor>| {
            let request = match cursor {
                Some(c) => list.clone().after(c),
                None => list.clone(),
            };
            let opts = opts.clone();
            async move {
                let response = self.call_with(opts, request.fetch()).await?;
                L::page(response.into_inner())
            }
        })
    }
}

/// The `after` and `fetch` of a generated list builder whose pages are `$response`: continue
/// with the builder's `$after(cursor)` setter, send with its `send()`.
macro_rules! list_plumbing {
    ($response:ty, $after:ident, $cursor:ty) => {
        fn after(self, cursor: $cursor) -> Self {
            self.$after(cursor)
        }

        fn fetch(
            self,
        ) -> impl Future<
            Output = Result<
                ResponseValue<$response>,
                progenitor_client::Error<types::ProblemDetails>,
            >,
        > + Send {
            self.send()
        }
    };
}

macro_rules! list_operations {
    (
        starting_after {
            $( $feature:literal $builder:ident $op:literal : $response:ident [ $item:ident $(. $field:ident)? ], )*
        }
        whole_collection {
            $( $whole_feature:literal $whole:ident $whole_op:literal : [ $whole_item:ident ], )*
        }
        by_hand { $( $hand_feature:literal $hand:ident ),* $(,)? }
    ) => {
        /// The operationId of every list operation [`Dakota::paginate`] can follow (in this
        /// build: each needs the cargo feature of its spec tag).
        pub const LIST_OPERATIONS: &[&str] = &[
            $( #[cfg(feature = $feature)] $op, )*
            $( #[cfg(feature = $whole_feature)] $whole_op, )*
            $( #[cfg(feature = $hand_feature)] <builder::$hand<'static> as ListOperation>::OPERATION_ID, )*
        ];

        /// (operationId, cargo feature) of every entry, to check the features against the spec.
        #[cfg(test)]
        const LIST_FEATURES: &[(&str, &str)] = &[
            $( ($op, $feature), )*
            $( ($whole_op, $whole_feature), )*
            $( (<builder::$hand<'static> as ListOperation>::OPERATION_ID, $hand_feature), )*
        ];

        /// (builder type name, operationId) of every entry, for the naming check.
        #[cfg(all(test, feature = "full"))]
        fn list_builders() -> Vec<(&'static str, &'static str)> {
            vec![
                $( (std::any::type_name::<builder::$builder<'static>>(), $op), )*
                $( (std::any::type_name::<builder::$whole<'static>>(), $whole_op), )*
                $( (
                    std::any::type_name::<builder::$hand<'static>>(),
                    <builder::$hand<'static> as ListOperation>::OPERATION_ID,
                ), )*
            ]
        }

        $(
            $(
                #[cfg(feature = $feature)]
                impl Cursor for types::$item {
                    fn cursor(&self) -> String {
                        self.$field.to_string()
                    }
                }
            )?

            #[cfg(feature = $feature)]
            impl ListOperation for builder::$builder<'_> {
                const OPERATION_ID: &'static str = $op;
                type Item = types::$item;
                type Cursor = String;
                type Response = types::$response;
                type ErrorBody = types::ProblemDetails;

                list_plumbing!(types::$response, starting_after, String);

                fn page(r: types::$response) -> Result<CursorPage<types::$item, String>, Error> {
                    Ok(CursorPage {
                        next: r.data.last().map(Cursor::cursor),
                        has_more: r.meta.has_more_after,
                        items: r.data,
                    })
                }
            }
        )*

        $(
            /// The whole collection in one response: the stream ends after it.
            #[cfg(feature = $whole_feature)]
            impl ListOperation for builder::$whole<'_> {
                const OPERATION_ID: &'static str = $whole_op;
                type Item = types::$whole_item;
                type Cursor = ();
                type Response = Vec<types::$whole_item>;
                type ErrorBody = types::ProblemDetails;

                fn after(self, _: ()) -> Self {
                    self
                }

                fn fetch(
                    self,
                ) -> impl Future<
                    Output = Result<
                        ResponseValue<Vec<types::$whole_item>>,
                        progenitor_client::Error<types::ProblemDetails>,
                    >,
                > + Send {
                    self.send()
                }

                fn page(
                    items: Vec<types::$whole_item>,
                ) -> Result<CursorPage<types::$whole_item, ()>, Error> {
                    Ok(CursorPage {
                        items,
                        has_more: false,
                        next: None,
                    })
                }
            }
        )*
    };
}

list_operations! {
    // cargo feature     builder             operationId             page type                        item.cursor field
    starting_after {
        "customers"         ListCustomers        "listCustomers":        ListCustomersResponse[Customer.id],
        "onboarding"        ListApplications     "listApplications":     ListApplicationsResponse[ApplicationListItem.application_id],
        "onboarding"        ListDocuments        "listDocuments":        ListDocumentsResponse[UploadedDocumentMetadata.id],
        "policies"          ListPolicies         "listPolicies":         ListPoliciesResponse[Policy.id],
        "signer-groups"     ListSignerGroups     "listSignerGroups":     ListSignerGroupsResponse[SignerGroup.id],
        "authentication"    ListApiKeys          "listApiKeys":          ListApiKeysResponse[ApiKeyListItem.id],
        "users"             ListClientUsers      "listClientUsers":      ListClientUsersResponse[ClientUser.id],
        "recipients"        ListRecipients       "listRecipients":       ListRecipientsResponse[RecipientResponse.id],
        "recipients"        ListDestinations     "listDestinations":     ListDestinationsResponse[DestinationResponseUnion],
        "accounts"          ListAccounts         "listAccounts":         PaginatedAccountResponse[AccountResponse.id],
        "auto-transactions" ListAutoTransactions "listAutoTransactions": PaginatedAutoTransactionResponse[AutoAccountTransaction.id],
        "webhooks"          ListWebhookTargets   "listWebhookTargets":   ListWebhookTargetsResponse[WebhookTarget.id],
    }
    // cargo feature     builder                 operationId                item (the response is a JSON array)
    whole_collection {
        "mandates"          ListMandates          "listMandates":          [Mandate],
        "agentic-payments"  ListScheduledPayments "listScheduledPayments": [ScheduledPaymentResponse],
    }
    // Other shapes, implemented below.
    // (`listEvents` yields the typed `dakota_ext::Event`: feature `webhook`, which turns on `events`.)
    by_hand { "webhook" ListEvents, "transactions" ListTransactions, "webhooks" ListWebhookHistory, "self-serve" ListSelfServeCreditsLedger }
}

/// The string at `key` of `value` as JSON ("" when there is none, which the next request
/// then rejects as an invalid cursor instead of ending the list quietly).
#[cfg(any(feature = "recipients", feature = "transactions"))]
fn json_string(value: &impl serde::Serialize, key: &str) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.get(key).and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default()
}

#[cfg(feature = "recipients")]
impl Cursor for types::DestinationResponseUnion {
    fn cursor(&self) -> String {
        use types::DestinationResponseUnion as D;
        match self {
            D::CryptoDestinationResponse(d) => d.destination_id.to_string(),
            D::FiatUsDestinationResponse(d) => d.destination_id.to_string(),
            D::FiatIbanDestinationResponse(d) => d.destination_id.to_string(),
            other => json_string(other, "destination_id"),
        }
    }
}

#[cfg(feature = "transactions")]
impl Cursor for types::TransactionResource {
    fn cursor(&self) -> String {
        use types::TransactionResource as T;
        match self {
            T::OneOffTransaction(t) => t.id.to_string(),
            T::WalletTransaction(t) => t.id.to_string(),
            T::Transaction(t) => t.id.to_string(),
            other => json_string(other, "id"),
        }
    }
}

#[cfg(feature = "webhook")]
impl Cursor for crate::webhook::Event {
    fn cursor(&self) -> String {
        self.id.clone()
    }
}

/// `listEvents`: the events feed, as the same typed [`crate::Event`] a webhook delivers, so
/// one handler (or [`crate::webhook::EventRouter`]) serves the feed and live deliveries.
#[cfg(feature = "webhook")]
impl ListOperation for builder::ListEvents<'_> {
    const OPERATION_ID: &'static str = "listEvents";
    type Item = crate::webhook::Event;
    type Cursor = String;
    type Response = types::PaginatedEventResponse;
    type ErrorBody = types::ProblemDetails;

    list_plumbing!(types::PaginatedEventResponse, starting_after, String);

    fn page(
        r: types::PaginatedEventResponse,
    ) -> Result<CursorPage<crate::webhook::Event, String>, Error> {
        let items: Vec<crate::webhook::Event> = r
            .data
            .into_iter()
            .map(crate::webhook::Event::from)
            .collect();
        Ok(CursorPage {
            next: items.last().map(Cursor::cursor),
            has_more: r.meta.has_more_after,
            items,
        })
    }
}

/// `listTransactions`: the page's shape depends on `transaction_type`; every shape's items
/// become [`types::TransactionResource`].
#[cfg(feature = "transactions")]
impl ListOperation for builder::ListTransactions<'_> {
    const OPERATION_ID: &'static str = "listTransactions";
    type Item = types::TransactionResource;
    type Cursor = String;
    type Response = types::PaginatedTransactionResourceResponse;
    type ErrorBody = types::ProblemDetails;

    list_plumbing!(
        types::PaginatedTransactionResourceResponse,
        starting_after,
        String
    );

    fn page(
        r: types::PaginatedTransactionResourceResponse,
    ) -> Result<CursorPage<types::TransactionResource, String>, Error> {
        use types::PaginatedTransactionResourceResponse as R;
        use types::TransactionResource as T;
        let (items, meta): (Vec<T>, _) = match r {
            R::OneOffTransactionResponse(p) => (
                p.data.into_iter().map(T::OneOffTransaction).collect(),
                p.meta,
            ),
            R::CustomerTransactionResponse(p) => {
                (p.data.into_iter().map(T::Transaction).collect(), p.meta)
            }
            R::WalletTransactionResponse(p) => (
                p.data.into_iter().map(T::WalletTransaction).collect(),
                p.meta,
            ),
            // A page shape this version does not know: read it as `data` + `meta`.
            other => {
                #[derive(serde::Deserialize)]
                struct AnyPage {
                    data: Vec<types::TransactionResource>,
                    meta: types::Meta,
                }
                let raw = serde_json::to_value(&other).unwrap_or_default();
                let page: AnyPage =
                    serde_json::from_value(raw.clone()).map_err(|e| Error::Decode {
                        status: 200,
                        content_type: None,
                        snippet: crate::error::snippet(raw.to_string().as_bytes(), 200),
                        message: format!("listTransactions page of an unknown shape: {e}"),
                        source: Some(Box::new(e)),
                    })?;
                (page.data, page.meta)
            }
        };
        Ok(CursorPage {
            next: items.last().map(Cursor::cursor),
            has_more: meta.has_more_after,
            items,
        })
    }
}

/// `listWebhookHistory`: the server hands out the next `cursor`.
#[cfg(feature = "webhooks")]
impl ListOperation for builder::ListWebhookHistory<'_> {
    const OPERATION_ID: &'static str = "listWebhookHistory";
    type Item = types::WebhookDelivery;
    type Cursor = String;
    type Response = types::WebhookHistoryList;
    type ErrorBody = types::ProblemDetails;

    list_plumbing!(types::WebhookHistoryList, cursor, String);

    fn page(
        r: types::WebhookHistoryList,
    ) -> Result<CursorPage<types::WebhookDelivery, String>, Error> {
        Ok(CursorPage {
            items: r.data,
            has_more: r.has_more,
            next: r.cursor,
        })
    }
}

/// `listSelfServeCreditsLedger`: newest first; the next page holds the entries older than
/// the last entry's `created_at` (the response carries no cursor of its own).
#[cfg(feature = "self-serve")]
impl ListOperation for builder::ListSelfServeCreditsLedger<'_> {
    const OPERATION_ID: &'static str = "listSelfServeCreditsLedger";
    type Item = types::SelfServeCreditsLedgerEntry;
    type Cursor = chrono::DateTime<chrono::Utc>;
    type Response = types::SelfServeCreditsLedgerResponse;
    type ErrorBody = types::ProblemDetails;

    list_plumbing!(
        types::SelfServeCreditsLedgerResponse,
        cursor,
        chrono::DateTime<chrono::Utc>
    );

    fn page(
        r: types::SelfServeCreditsLedgerResponse,
    ) -> Result<CursorPage<types::SelfServeCreditsLedgerEntry, chrono::DateTime<chrono::Utc>>, Error>
    {
        Ok(CursorPage {
            next: r.entries.last().map(|e| e.created_at),
            has_more: r.has_more,
            items: r.entries,
        })
    }
}

fn page_size(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n.clamp(1, 100)).unwrap_or(NonZeroU64::MIN)
}

#[cfg(feature = "customers")]
/// Filters for [`Dakota::all_customers`]. For every other filter of `listCustomers`, pass
/// `dakota.api().list_customers()` configured as needed to [`Dakota::paginate`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CustomerFilter {
    /// Only the customer with this external id.
    pub external_id: Option<String>,
    /// Free-text search.
    pub search: Option<String>,
    /// Only customers in this KYB status.
    pub kyb_status: Option<types::KybStatus>,
    /// Page size, 1..=100 (default 100).
    pub page_size: Option<u64>,
}

#[cfg(feature = "customers")]
impl Dakota {
    /// Every customer matching `filter`, oldest first, fetched page by page. (The `all_`
    /// prefix leaves `dakota.customers()` to the generated resource accessors.)
    pub fn all_customers(
        &self,
        filter: CustomerFilter,
    ) -> impl Stream<Item = Result<types::Customer, Error>> + Send + '_ {
        let mut b = self
            .api()
            .list_customers()
            .limit(page_size(filter.page_size.unwrap_or(DEFAULT_PAGE_SIZE)));
        if let Some(x) = filter.external_id {
            b = b.external_id(x);
        }
        if let Some(x) = filter.search {
            b = b.search(x);
        }
        if let Some(x) = filter.kyb_status {
            b = b.kyb_status(x);
        }
        self.paginate(b)
    }
}

impl Dakota {
    /// Every onboarding application, `page` (1..=100) at a time.
    #[cfg(feature = "onboarding")]
    pub fn all_applications(
        &self,
        page: u64,
    ) -> impl Stream<Item = Result<types::ApplicationListItem, Error>> + Send + '_ {
        self.paginate(self.api().list_applications().limit(page_size(page)))
    }

    /// Every event, `page` (1..=100) at a time, as the same [`crate::Event`] a webhook
    /// delivers (typed payload), so one handler or [`crate::webhook::EventRouter`] serves both
    /// a catch-up poll and live deliveries. The same as
    /// `dakota.paginate(dakota.api().list_events().limit(..))`.
    #[cfg(feature = "webhook")]
    pub fn all_events(
        &self,
        page: u64,
    ) -> impl Stream<Item = Result<crate::Event, Error>> + Send + '_ {
        self.paginate(self.api().list_events().limit(page_size(page)))
    }
}

/// Collect a stream of results into a `Vec` (convenience for small lists).
pub async fn collect<T>(s: impl Stream<Item = Result<T, Error>>) -> Result<Vec<T>, Error> {
    s.try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Item(u32);
    impl Cursor for Item {
        fn cursor(&self) -> String {
            format!("{:05}", self.0)
        }
    }

    #[tokio::test]
    async fn walks_every_page_once() {
        let calls = AtomicUsize::new(0);
        let total = 1_234u32;
        let s = paginate(|cursor: Option<String>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let start = cursor
                    .map(|c| c.parse::<u32>().unwrap_or(0) + 1)
                    .unwrap_or(0);
                let end = (start + 100).min(total);
                Ok(Page {
                    items: (start..end).map(Item).collect(),
                    has_more_after: end < total,
                })
            }
        });
        let ids: Vec<u32> = s
            .map(|r| r.map(|i| i.0))
            .try_collect()
            .await
            .unwrap_or_default();
        assert_eq!(ids, (0..total).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::SeqCst), 13);
    }

    #[tokio::test]
    async fn stops_on_empty_page_and_surfaces_errors() {
        let s = paginate(|_c: Option<String>| async {
            Ok(Page::<Item> {
                items: vec![],
                has_more_after: true,
            })
        });
        assert_eq!(s.count().await, 0);
        let s = paginate(|_c: Option<String>| async {
            Err::<Page<Item>, _>(Error::InvalidInput("boom".into()))
        });
        let all: Vec<_> = s.collect().await;
        assert_eq!(all.len(), 1);
        assert!(all[0].is_err());
    }

    /// A server that ignores the cursor and sends the same page forever: one page, then stop.
    #[tokio::test]
    async fn stops_when_the_cursor_repeats() {
        let calls = AtomicUsize::new(0);
        let s = paginate(|_c: Option<String>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(Page {
                    items: vec![Item(1), Item(2)],
                    has_more_after: true,
                })
            }
        });
        assert_eq!(s.count().await, 4);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// Cursors going round a cycle of any length end the stream after a bounded number of
    /// pages, while a long list of distinct cursors is followed to its end.
    #[tokio::test]
    async fn stops_on_cursor_cycles_of_any_length() {
        for cycle in [2u64, 3, 7, 50] {
            let calls = AtomicUsize::new(0);
            let s = paginate_pages(|c: Option<u64>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let next = (c.unwrap_or(0) + 1) % cycle;
                    Ok(CursorPage {
                        items: vec![next],
                        has_more: true,
                        next: Some(next),
                    })
                }
            });
            let _ = s.count().await;
            let n = calls.load(Ordering::SeqCst) as u64;
            assert!(n <= 3 * cycle + 2, "cycle {cycle}: {n} pages");
        }
        let s = paginate_pages(|c: Option<u64>| async move {
            let next = c.unwrap_or(0) + 1;
            Ok(CursorPage {
                items: vec![next],
                has_more: next < 5_000,
                next: Some(next),
            })
        });
        assert_eq!(s.count().await, 5_000);
    }

    #[tokio::test]
    async fn stops_without_a_next_cursor() {
        let s = paginate_pages(|_c: Option<String>| async {
            Ok(CursorPage {
                items: vec![1, 2, 3],
                has_more: true,
                next: None,
            })
        });
        assert_eq!(s.count().await, 3);
    }

    #[cfg(feature = "full")]
    #[test]
    fn streams_are_send() {
        fn send<T: Send>(_: &T) {}
        let dakota = Dakota::builder().api_key("k").build();
        if let Ok(d) = dakota {
            send(&d.all_customers(CustomerFilter::default()));
            send(&d.paginate(d.api().list_webhook_history()));
            send(&d.paginate(d.api().list_self_serve_credits_ledger()));
            send(&d.paginate(d.api().list_mandates()));
        }
    }

    /// Each entry's cargo feature is the feature of its operation's tag in the spec (the
    /// generated `dakota-api` gates the builder by exactly that feature).
    #[test]
    fn list_features_follow_the_spec_tags() {
        let spec: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../openapi/dakota.yaml"))
                .unwrap_or(serde_yaml::Value::Null);
        let mut tags_of = std::collections::BTreeMap::new();
        for (_, item) in spec["paths"].as_mapping().into_iter().flatten() {
            for (_, op) in item.as_mapping().into_iter().flatten() {
                let (Some(id), Some(tags)) = (op["operationId"].as_str(), op["tags"].as_sequence())
                else {
                    continue;
                };
                let features: Vec<String> = tags
                    .iter()
                    .filter_map(|t| t.as_str())
                    .map(|t| t.to_lowercase().replace(' ', "-"))
                    .collect();
                tags_of.insert(id.to_string(), features);
            }
        }
        assert!(tags_of.len() > 100, "the spec's operations were read");
        for (op, feature) in LIST_FEATURES {
            let tags = tags_of.get(*op);
            // `webhook` turns on `events` (Cargo.toml): listEvents yields the typed Event.
            let feature = if *feature == "webhook" {
                "events"
            } else {
                feature
            };
            assert!(
                tags.is_some_and(|t| t.iter().any(|f| f == feature)),
                "{op}: feature {feature:?}, spec tags {tags:?}"
            );
        }
    }

    /// Each `OPERATION_ID` belongs to the builder it is declared on (builders are named after
    /// their operationId).
    #[cfg(feature = "full")]
    #[test]
    fn operation_ids_match_builders() {
        let all = list_builders();
        assert_eq!(all.len(), LIST_OPERATIONS.len());
        for (name, op) in all {
            let short = name.split('<').next().unwrap_or(name);
            let short = short.rsplit("::").next().unwrap_or(short);
            let mut expected = op.to_string();
            if let Some(first) = expected.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            assert_eq!(short, expected, "{name}");
        }
    }
}
