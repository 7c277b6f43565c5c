//! Cursor pagination as a `Stream` of items: `starting_after` = id of the last item seen,
//! continue while `meta.has_more_after`. One page is held at a time, so memory stays constant
//! however long the list is.

use crate::client::Dakota;
use crate::error::Error;
use dakota_api::types;
use futures::stream::{self, Stream, TryStreamExt};
use std::future::Future;
use std::num::NonZeroU64;

/// Default page size (the API's maximum is 100).
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// One page of a list endpoint.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items in server order.
    pub items: Vec<T>,
    /// `meta.has_more_after`.
    pub has_more_after: bool,
}

/// An item that can serve as the cursor for the next page.
pub trait Cursor {
    /// The id to pass as `starting_after`.
    fn cursor(&self) -> String;
}

impl Cursor for types::Customer {
    fn cursor(&self) -> String {
        self.id.to_string()
    }
}

impl Cursor for types::ApplicationListItem {
    fn cursor(&self) -> String {
        self.application_id.clone()
    }
}

impl Cursor for types::Event {
    fn cursor(&self) -> String {
        self.id.to_string()
    }
}

/// Stream every item of a cursor-paginated list. `fetch(cursor)` loads the page after
/// `cursor` (`None` = first page).
pub fn paginate<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, Error>>
where
    T: Cursor,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, Error>>,
{
    struct State<F> {
        fetch: F,
        cursor: Option<String>,
        done: bool,
    }
    stream::try_unfold(
        State {
            fetch,
            cursor: None,
            done: false,
        },
        |mut st| async move {
            if st.done {
                return Ok(None);
            }
            let page = (st.fetch)(st.cursor.clone()).await?;
            let next = page.items.last().map(Cursor::cursor);
            // Stop on an empty page too, so a server that keeps saying has_more cannot loop us.
            st.done = !page.has_more_after || next.is_none() || next == st.cursor;
            st.cursor = next;
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), st)))
        },
    )
    .try_flatten()
}

fn page_size(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n.clamp(1, 100)).unwrap_or(NonZeroU64::MIN)
}

/// Filters for [`Dakota::customers`].
#[derive(Debug, Clone, Default)]
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

impl Dakota {
    /// Every customer matching `filter`, oldest first, fetched page by page.
    pub fn customers(
        &self,
        filter: CustomerFilter,
    ) -> impl Stream<Item = Result<types::Customer, Error>> + '_ {
        paginate(move |cursor| {
            let filter = filter.clone();
            async move {
                let mut b = self
                    .api()
                    .list_customers()
                    .limit(page_size(filter.page_size.unwrap_or(DEFAULT_PAGE_SIZE)));
                if let Some(c) = cursor {
                    b = b.starting_after(c);
                }
                if let Some(x) = filter.external_id {
                    b = b.external_id(x);
                }
                if let Some(x) = filter.search {
                    b = b.search(x);
                }
                if let Some(x) = filter.kyb_status {
                    b = b.kyb_status(x);
                }
                let r = self.call(b.send()).await?.into_inner();
                Ok(Page {
                    items: r.data,
                    has_more_after: r.meta.has_more_after,
                })
            }
        })
    }

    /// Every onboarding application, page by page.
    pub fn applications(
        &self,
        page: u64,
    ) -> impl Stream<Item = Result<types::ApplicationListItem, Error>> + '_ {
        paginate(move |cursor| async move {
            let mut b = self.api().list_applications().limit(page_size(page));
            if let Some(c) = cursor {
                b = b.starting_after(c);
            }
            let r = self.call(b.send()).await?.into_inner();
            Ok(Page {
                items: r.data,
                has_more_after: r.meta.has_more_after,
            })
        })
    }

    /// Every event, page by page.
    pub fn events(&self, page: u64) -> impl Stream<Item = Result<types::Event, Error>> + '_ {
        paginate(move |cursor| async move {
            let mut b = self.api().list_events().limit(page_size(page));
            if let Some(c) = cursor {
                b = b.starting_after(c);
            }
            let r = self.call(b.send()).await?.into_inner();
            Ok(Page {
                items: r.data,
                has_more_after: r.meta.has_more_after,
            })
        })
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
}
