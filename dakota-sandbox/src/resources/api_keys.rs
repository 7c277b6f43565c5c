//! API keys (`/api-keys...`). The organization starts with the configured key
//! ([`crate::SandboxBuilder::api_key`]), listed under a stable id; keys issued through
//! `POST /api-keys` (and `POST /api-keys/admin`, for the organization itself or one of its
//! sub-clients) authenticate too, until revoked. Revoking a key (or all of them, the calling
//! one included) makes every later call with it `401`. Only a SHA-256 of each secret is kept,
//! and the secret is shown once. Changes are announced as `api_key.created` and
//! `api_key.deleted` (never with the secret).
//!
//! The sandbox serves one organization: a key issued for a sub-client sees the same records.

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use dakota_api::types;
use serde_json::{json, Map};
use sha2::{Digest, Sha256};

use super::listing;
use super::onboarding::CustomerRec;
use super::organization;
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::auth::constant_time_eq;
use crate::pipeline::query::{self, Order};
use crate::pipeline::validate::Errors;
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::state::SandboxState;
use crate::store::{Record, Schema, Tables, Tx};

/// Characters of a key shown again in lists.
const SUFFIX_LEN: usize = 6;
/// Most keys an organization holds at once.
const MAX_KEYS: usize = 10_000;

/// Registers the API key operations and the check the pipeline authenticates with.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createApiKey", create)
        .add("createApiKeyForClient", create_for_client)
        .add("listApiKeys", list)
        .add("deleteApiKey", delete)
        .add("deleteAllApiKeys", delete_all)
        .key_check(check);
}

/// An issued key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ApiKeyRec {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) client_id: String,
    /// SHA-256 (hex) of the secret.
    pub(crate) hash: String,
    pub(crate) suffix: String,
    pub(crate) created_at: DateTime<Utc>,
}

impl Record for ApiKeyRec {
    const KIND: &'static str = "api_key";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Index of issued keys by hash (the record id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ApiKeyHash {
    pub(crate) hash: String,
}

impl Record for ApiKeyHash {
    const KIND: &'static str = "api_key_hash";
    fn id(&self) -> &str {
        &self.hash
    }
}

/// Present once the configured key is revoked (record id [`ROOT`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RootRevoked {
    pub(crate) id: String,
}

impl Record for RootRevoked {
    const KIND: &'static str = "api_key_root_revoked";
    fn id(&self) -> &str {
        &self.id
    }
}

const ROOT: &str = "root";

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn suffix(secret: &str) -> String {
    let n = secret.chars().count();
    secret.chars().skip(n.saturating_sub(SUFFIX_LEN)).collect()
}

/// Whether `presented` is a live key of the organization.
fn check(state: &SandboxState, presented: &str) -> bool {
    if constant_time_eq(presented.as_bytes(), state.api_key().as_bytes()) {
        return state.read(|t| !t.contains::<RootRevoked>(ROOT));
    }
    let h = digest(presented);
    state.read(|t| t.contains::<ApiKeyHash>(&h))
}

/// The configured key as a record (never stored; its id is derived like the organization's).
fn root(state: &SandboxState) -> ApiKeyRec {
    let key = state.api_key();
    ApiKeyRec {
        id: organization::derived_id(state, "configured-api-key"),
        user_id: organization::owner_user_id(state),
        client_id: organization::client_id(state),
        hash: digest(key),
        suffix: suffix(key),
        created_at: Utc
            .timestamp_opt(organization::DERIVED_ID_UNIX, 0)
            .single()
            .unwrap_or_default(),
    }
}

fn item(k: &ApiKeyRec) -> Result<types::ApiKeyListItem, ApiError> {
    build(
        types::builder::ApiKeyListItem::default()
            .created_at(k.created_at.timestamp())
            .id(ids::ksuid(&k.id))
            .key_suffix(k.suffix.clone())
            .user_id(ids::ksuid(&k.user_id)),
    )
}

fn event_object(k: &ApiKeyRec) -> Map<String, serde_json::Value> {
    let mut o = Map::new();
    o.insert("id".into(), json!(k.id));
    o.insert("user_id".into(), json!(k.user_id));
    o.insert("client_id".into(), json!(k.client_id));
    o.insert("key_suffix".into(), json!(k.suffix));
    o.insert("created_at".into(), json!(k.created_at.timestamp()));
    o
}

/// Issues a key for `client_id` and announces it.
fn issue(call: &Call<'_>, client_id: String) -> Result<Reply, ApiError> {
    let user_id = organization::owner_user_id(call.state);
    call.write(|tx| {
        if tx.count::<ApiKeyRec>() >= MAX_KEYS {
            return Err(ApiError::forbidden(format!(
                "An organization holds at most {MAX_KEYS} keys; revoke some first"
            )));
        }
        let secret = ids::api_key();
        let rec = ApiKeyRec {
            id: tx.next_id(),
            user_id,
            client_id,
            hash: digest(&secret),
            suffix: suffix(&secret),
            created_at: call.now,
        };
        let body: types::ApiKeyResponse = build(
            types::builder::ApiKeyResponse::default()
                .id(ids::ksuid(&rec.id))
                .key(secret),
        )?;
        tx.put(ApiKeyHash {
            hash: rec.hash.clone(),
        });
        events::emit(
            tx,
            PendingEvent::new(types::EventType::ApiKeyCreated, event_object(&rec)),
        )?;
        tx.put(rec);
        Reply::created(&body)
    })
}

/// `POST /api-keys`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    issue(call, organization::client_id(call.state))
}

/// `POST /api-keys/admin`: for the organization itself or one of its sub-clients.
fn create_for_client(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreateApiKeyForClientRequest = call.body_as()?;
    let client = req.client_id.to_string();
    let own = organization::client_id(call.state);
    let managed = client == own
        || call.read(|t| {
            t.get::<CustomerRec>(&client)
                .is_some_and(|c| c.is_sub_client)
        });
    if !managed {
        return Err(ApiError::forbidden(format!(
            "You may not manage keys of organization {client}: it is neither yours nor one of your sub-clients"
        )));
    }
    issue(call, client)
}

/// Every live key, the configured one first.
fn live_keys(state: &SandboxState, t: &Tables) -> Vec<ApiKeyRec> {
    let mut out = Vec::new();
    if !t.contains::<RootRevoked>(ROOT) {
        out.push(root(state));
    }
    out.extend(t.scan::<ApiKeyRec>().cloned());
    out
}

/// `GET /api-keys`: newest first unless `sort_dir=asc`.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    listing::one_of(&mut errs, &q, "sort_by", &["created_at"]);
    let desc = listing::descending(&mut errs, &q, true);
    let from = listing::datetime(&mut errs, &q, "created_at_from");
    let to = listing::datetime(&mut errs, &q, "created_at_to");
    errs.finish()?;
    let mut rows: Vec<ApiKeyRec> = call.read(|t| live_keys(call.state, t));
    rows.retain(|k| listing::within(k.created_at, from, to));
    // Ids are time-ordered: id order is creation order.
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    if desc {
        rows.reverse();
    }
    let order = if desc { Order::Newest } else { Order::Oldest };
    let (rows, meta) = query::paginate(rows, |k| k.id.as_str(), &page, order)?;
    let data = rows.iter().map(item).collect::<Result<Vec<_>, _>>()?;
    let body: types::ListApiKeysResponse = build(
        types::builder::ListApiKeysResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::ok(&body)
}

fn revoke(tx: &mut Tx<'_>, k: &ApiKeyRec, root_key: bool) -> Result<(), ApiError> {
    if root_key {
        tx.put(RootRevoked {
            id: ROOT.to_owned(),
        });
    } else {
        tx.delete::<ApiKeyHash>(&k.hash);
        tx.delete::<ApiKeyRec>(&k.id);
    }
    events::emit(
        tx,
        PendingEvent::new(types::EventType::ApiKeyDeleted, event_object(k)),
    )
}

/// `DELETE /api-keys/{api_key_id}`.
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "api_key_id")?;
    let root_key = root(call.state);
    call.write(|tx| {
        if id == root_key.id && !tx.contains::<RootRevoked>(ROOT) {
            revoke(tx, &root_key, true)?;
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let Some(k) = tx.get::<ApiKeyRec>(id).cloned() else {
            return Err(ApiError::not_found("API key", id));
        };
        revoke(tx, &k, false)?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// `DELETE /api-keys`: every key, the calling one included.
fn delete_all(call: &Call<'_>) -> Result<Reply, ApiError> {
    let root_key = root(call.state);
    call.write(|tx| {
        if !tx.contains::<RootRevoked>(ROOT) {
            revoke(tx, &root_key, true)?;
        }
        let all: Vec<ApiKeyRec> = tx.scan::<ApiKeyRec>().cloned().collect();
        for k in &all {
            revoke(tx, k, false)?;
        }
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Registers the API key records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<ApiKeyRec>()
        .record::<ApiKeyHash>()
        .record::<RootRevoked>();
}
