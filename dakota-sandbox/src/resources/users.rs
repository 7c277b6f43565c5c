//! Dashboard users of the organization (`/users...`): create (one per e-mail address,
//! case-insensitive), list with search, role and time filters and sorting, change name or
//! role, delete. Changes are announced as `user.created`, `user.updated` (with the previous
//! values) and `user.deleted`; the object is the `ClientUser`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dakota_api::types;

use super::custody::object;
use super::listing;
use super::organization;
use crate::events::{self, PendingEvent};
use crate::ids;
use crate::pipeline::query::{self, Order};
use crate::pipeline::validate::{is_email, known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema};

known!(ClientUserRole);

/// Longest e-mail address.
const MAX_EMAIL: usize = 254;
const ROLES: [&str; 2] = ["admin", "viewer"];

/// Registers the user operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createClientUser", create)
        .add("listClientUsers", list)
        .add("updateClientUser", update)
        .add("deleteClientUser", delete);
}

/// A dashboard user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct UserRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) email: String,
    pub(crate) role: types::ClientUserRole,
    pub(crate) created_at: DateTime<Utc>,
}

impl Record for UserRec {
    const KIND: &'static str = "client_user";
    fn id(&self) -> &str {
        &self.id
    }
}

fn view(u: &UserRec) -> Result<types::ClientUser, ApiError> {
    build(
        types::builder::ClientUser::default()
            .client_id(Some(ids::ksuid(&u.client_id)))
            .client_name(Some(organization::NAME.to_owned()))
            .created_at(u.created_at.timestamp())
            .email(u.email.clone())
            .first_name(u.first_name.clone())
            .id(ids::ksuid(&u.id))
            .last_name(u.last_name.clone())
            .role(u.role.clone())
            .swift_enabled(Some(false)),
    )
}

/// `POST /users`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::CreateClientUserRequest = call.body_as()?;
    let mut errs = Errors::default();
    // Names: at least one character (the generated types check the spec's minLength), no
    // other rule.
    if req.email.len() > MAX_EMAIL || !is_email(&req.email) {
        errs.push("email", "invalid_format", "email must be an e-mail address");
    }
    errs.known("role", &req.role);
    errs.finish()?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        if tx
            .scan::<UserRec>()
            .any(|u| u.email.eq_ignore_ascii_case(&req.email))
        {
            return Err(ApiError::conflict(
                "A user with this e-mail address already exists",
            ));
        }
        let rec = UserRec {
            id: tx.next_id(),
            client_id,
            first_name: req.first_name.to_string(),
            last_name: req.last_name.to_string(),
            email: req.email.clone(),
            role: req.role.clone(),
            created_at: call.now,
        };
        let v = view(&rec)?;
        tx.put(rec);
        events::emit(
            tx,
            PendingEvent::new(types::EventType::UserCreated, object(&v)?),
        )?;
        Reply::created(&v)
    })
}

/// `GET /users`.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let search = q.filter("search").map(str::to_lowercase);
    let from = listing::datetime(&mut errs, &q, "created_at_from");
    let to = listing::datetime(&mut errs, &q, "created_at_to");
    let roles = listing::list_of(&mut errs, &q, "roles", &ROLES);
    let sort_by = listing::one_of(
        &mut errs,
        &q,
        "sort_by",
        &["created_at", "email", "name", "role"],
    )
    .unwrap_or("created_at");
    let desc = listing::descending(&mut errs, &q, false);
    errs.finish()?;
    let mut rows: Vec<UserRec> = call.read(|t| {
        t.scan::<UserRec>()
            .filter(|u| {
                search.as_deref().is_none_or(|s| {
                    format!("{} {}", u.first_name, u.last_name)
                        .to_lowercase()
                        .contains(s)
                        || u.email.to_lowercase().contains(s)
                }) && roles
                    .as_ref()
                    .is_none_or(|r| r.iter().any(|x| x == u.role.as_str()))
                    && listing::within(u.created_at, from, to)
            })
            .cloned()
            .collect()
    });
    let key = |u: &UserRec| -> String {
        match sort_by {
            "email" => u.email.to_lowercase(),
            "name" => format!("{} {}", u.first_name, u.last_name).to_lowercase(),
            "role" => u.role.as_str().to_owned(),
            _ => String::new(),
        }
    };
    let by_id = sort_by == "created_at";
    if !by_id {
        rows.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id)));
    }
    if desc {
        rows.reverse();
    }
    let order = match (by_id, desc) {
        (true, false) => Order::Oldest,
        (true, true) => Order::Newest,
        _ => Order::Other,
    };
    let (rows, meta) = query::paginate(rows, |u| u.id.as_str(), &page, order)?;
    let data = rows.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    let body: types::ListClientUsersResponse = build(
        types::builder::ListClientUsersResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::ok(&body)
}

/// `PATCH /users/{user_id}`: fields present replace, absent ones stay.
fn update(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "user_id")?;
    let req: types::UpdateClientUserRequest = call.body_as()?;
    let mut errs = Errors::default();
    if let Some(r) = &req.role {
        errs.known("role", r);
    }
    errs.finish()?;
    call.write(|tx| {
        let Some(before) = tx.get::<UserRec>(id).cloned() else {
            return Err(ApiError::not_found("User", id));
        };
        let mut after = before.clone();
        let mut e_prev = Vec::new();
        if let Some(f) = &req.first_name {
            if after.first_name != **f {
                e_prev.push(("first_name", before.first_name.clone()));
                after.first_name = f.to_string();
            }
        }
        if let Some(l) = &req.last_name {
            if after.last_name != **l {
                e_prev.push(("last_name", before.last_name.clone()));
                after.last_name = l.to_string();
            }
        }
        if let Some(r) = &req.role {
            if after.role != *r {
                e_prev.push(("role", before.role.as_str().to_owned()));
                after.role = r.clone();
            }
        }
        if e_prev.is_empty() {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let mut e = PendingEvent::new(types::EventType::UserUpdated, object(&view(&after)?)?);
        for (field, value) in e_prev {
            e = e.previous(field, value);
        }
        tx.put(after);
        events::emit(tx, e)?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// `DELETE /users/{user_id}`.
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.id_param(0, "user_id")?;
    call.write(|tx| {
        let Some(u) = tx.delete::<UserRec>(id) else {
            return Err(ApiError::not_found("User", id));
        };
        events::emit(
            tx,
            PendingEvent::new(types::EventType::UserDeleted, object(&view(&u)?)?),
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Registers the user records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<UserRec>();
}
