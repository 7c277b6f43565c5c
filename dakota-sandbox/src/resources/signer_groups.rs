//! Signers (`/signers`), signer groups (`/signer-groups...`) and the signer groups of a wallet
//! (`/wallets/{wallet_id}/signer-groups...`). See [`super::custody`] for keys, signatures and
//! endorsed requests.
//!
//! Rules: a signer's key is registered once (`409`); a group is made of registered signers
//! (`404` for an unknown key), its name is unique (`409`) and it never becomes empty (`409`);
//! a signer still in a group cannot be deleted (`409`); a wallet keeps at least one signer
//! group (`409`). Attaching a group to a wallet twice is harmless. Changes a wallet's
//! governance sees are announced as `wallet.signer_group.created` / `.updated` (the group's
//! `status`: `attached`, `detached` or `members_changed`) and `wallet.updated`.

use axum::http::StatusCode;
use dakota_api::types;
use serde_json::{json, Map, Value};

use super::custody::{
    self, group_view, keys, signer_view, GroupRec, IntentKind, SignerKey, SignerRec, WalletRec,
};
use super::organization;
use crate::events::{self, PendingEvent};
use crate::pipeline::query;
use crate::pipeline::validate::{known, Errors};
use crate::pipeline::{Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Tables, Tx};

known!(SignerCreateRequestKeyType);

/// Most members of one group.
const MAX_MEMBERS: usize = 100;

/// Registers the signer and signer-group operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createSigner", create_signer)
        .add("deleteSigner", delete_signer)
        .add("createSignerGroup", create_group)
        .add("listSignerGroups", list_groups)
        .add("getSignerGroup", get_group)
        .add("getWalletsForSignerGroup", wallets_of_group)
        .add("getSignerGroupsForWallet", groups_of_wallet)
        .add("createSignerGroupSigner", add_member)
        .add("deleteSignerGroupSigner", remove_member)
        .add("upsertWalletSignerGroupRelationship", attach)
        .add("deleteWalletSignerGroupRelationship", detach);
}

/// `POST /signers`.
fn create_signer(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::SignerCreateRequest = call.body_as()?;
    let mut errs = Errors::default();
    // `name` is any string (the spec sets no length): blank ones are kept as sent.
    errs.known("key_type", &req.key_type);
    let es256 = matches!(req.key_type, types::SignerCreateRequestKeyType::Es256);
    if req.public_key.trim().is_empty() || req.public_key.len() > keys::MAX_KEY_LEN {
        errs.push(
            "public_key",
            "invalid_length",
            "public_key must be a non-empty key",
        );
    } else if es256 && keys::parse_public_key(&req.public_key).is_none() {
        errs.push(
            "public_key",
            "invalid_format",
            "an ES256 key must be a P-256 public key: base64 DER SubjectPublicKeyInfo or PEM",
        );
    }
    errs.finish()?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        let key = keys::normalize(&req.public_key);
        if tx.contains::<SignerKey>(&key) {
            return Err(ApiError::conflict("This public key is already registered"));
        }
        let rec = SignerRec {
            id: tx.next_id(),
            client_id,
            name: req.name.clone(),
            public_key: req.public_key.trim().to_owned(),
            key: key.clone(),
            key_type: types::SignerKeyType::from(req.key_type.as_str()),
            agent_id: None,
            revoked: false,
        };
        let reply = Reply::created(&signer_view(&rec)?)?;
        tx.put(SignerKey {
            key,
            signer_id: rec.id.clone(),
        });
        tx.put(rec);
        Ok(reply)
    })
}

/// The path's public key, URL-decoded.
fn key_param(call: &Call<'_>) -> Result<String, ApiError> {
    let raw = call.param(0);
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::field("public_key", "invalid_format", "not valid UTF-8"))?;
    // Any string is a well-formed path parameter; a blank one names no signer.
    if decoded.trim().is_empty() {
        return Err(ApiError::not_found("Signer", &decoded));
    }
    Ok(decoded.into_owned())
}

/// `DELETE /signers/{public_key}`.
fn delete_signer(call: &Call<'_>) -> Result<Reply, ApiError> {
    let key = key_param(call)?;
    call.write(|tx| {
        let Some(s) = custody::signer_by_key(tx, &key).cloned() else {
            return Err(ApiError::not_found("Signer", &key));
        };
        if let Some(g) = tx.scan::<GroupRec>().find(|g| g.members.contains(&s.id)) {
            return Err(ApiError::conflict(format!(
                "The signer still belongs to signer group {} ({}); remove it there first",
                g.id, g.name
            )));
        }
        if s.agent_id.is_some() && !s.revoked {
            return Err(ApiError::conflict(
                "The signer belongs to a payment agent that is not revoked; revoke the agent first",
            ));
        }
        tx.delete::<SignerKey>(&s.key);
        tx.delete::<SignerRec>(&s.id);
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Signer ids of `member_keys`, in order; unknown keys are `404`, repeats `400`.
fn resolve_members(t: &Tables, member_keys: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for (i, k) in member_keys.iter().enumerate() {
        let Some(s) = custody::signer_by_key(t, k) else {
            return Err(ApiError::not_found("Signer", k));
        };
        if out.contains(&s.id) {
            return Err(ApiError::field(
                format!("member_keys[{i}]"),
                "duplicate",
                "this signer is listed more than once",
            ));
        }
        out.push(s.id.clone());
    }
    Ok(out)
}

/// `POST /signer-groups`.
fn create_group(call: &Call<'_>) -> Result<Reply, ApiError> {
    let req: types::SignerGroupCreateRequest = call.body_as()?;
    let mut errs = Errors::default();
    // `name` is any string (the spec sets no length): blank ones are kept as sent.
    if req.member_keys.is_empty() || req.member_keys.len() > MAX_MEMBERS {
        errs.push(
            "member_keys",
            "invalid_length",
            format!("member_keys must list 1 to {MAX_MEMBERS} keys"),
        );
    }
    errs.finish()?;
    let client_id = organization::client_id(call.state);
    call.write(|tx| {
        let members = resolve_members(tx, &req.member_keys)?;
        if tx.scan::<GroupRec>().any(|g| g.name == req.name) {
            return Err(ApiError::conflict(format!(
                "A signer group named '{}' already exists",
                req.name
            )));
        }
        let rec = GroupRec {
            id: tx.next_id(),
            client_id,
            name: req.name.clone(),
            members,
        };
        let reply = Reply::created(&group_view(tx, &rec)?)?;
        tx.put(rec);
        Ok(reply)
    })
}

/// `GET /signer-groups`.
fn list_groups(call: &Call<'_>) -> Result<Reply, ApiError> {
    let page = call.query()?.page()?;
    let body: types::ListSignerGroupsResponse = call.read(|t| {
        let (rows, meta) = query::records::<GroupRec>(t, &page, |_| true)?;
        let data = rows
            .into_iter()
            .map(|g| group_view(t, g))
            .collect::<Result<Vec<_>, _>>()?;
        build(
            types::builder::ListSignerGroupsResponse::default()
                .data(data)
                .meta(meta),
        )
    })?;
    Reply::ok(&body)
}

fn group_id<'a>(call: &'a Call<'_>, i: usize) -> Result<&'a str, ApiError> {
    call.id_param(i, "signer_group_id")
}

fn wallet_id<'a>(call: &'a Call<'_>, i: usize) -> Result<&'a str, ApiError> {
    call.id_param(i, "wallet_id")
}

/// `GET /signer-groups/{signer_group_id}`.
fn get_group(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = group_id(call, 0)?;
    let view = call.read(|t| {
        t.get::<GroupRec>(id)
            .map(|g| group_view(t, g))
            .ok_or_else(|| ApiError::not_found("Signer group", id))?
    })?;
    Reply::ok(&view)
}

/// `GET /signer-groups/{signer_group_id}/wallets`.
fn wallets_of_group(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = group_id(call, 0)?;
    let list = call.read(|t| {
        if !t.contains::<GroupRec>(id) {
            return Err(ApiError::not_found("Signer group", id));
        }
        t.scan::<WalletRec>()
            .filter(|w| w.groups.iter().any(|g| g == id))
            .map(custody::attached_wallet_view)
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// `GET /wallets/{wallet_id}/signer-groups`.
fn groups_of_wallet(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = wallet_id(call, 0)?;
    let list = call.read(|t| {
        let Some(w) = t.get::<WalletRec>(id) else {
            return Err(ApiError::not_found("Wallet", id));
        };
        w.groups
            .iter()
            .filter_map(|g| t.get::<GroupRec>(g))
            .map(|g| group_view(t, g))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(&list)
}

/// The group as `wallet.signer_group.*` events show it.
fn group_event_object(g: &GroupRec, status: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("signer_group_id".into(), json!(g.id));
    o.insert("name".into(), json!(g.name));
    o.insert("member_ids".into(), json!(g.members));
    o.insert("status".into(), json!(status));
    o
}

/// Announces a membership change to every wallet the group governs.
fn announce_members(tx: &mut Tx<'_>, g: &GroupRec, previous: &[String]) -> Result<(), ApiError> {
    let wallets: Vec<String> = tx
        .scan::<WalletRec>()
        .filter(|w| w.groups.contains(&g.id))
        .map(|w| w.id.clone())
        .collect();
    for w in wallets {
        let mut o = group_event_object(g, "members_changed");
        o.insert("wallet_id".into(), json!(w));
        events::emit(
            tx,
            PendingEvent::new(types::EventType::WalletSignerGroupUpdated, o)
                .previous("member_ids", json!(previous)),
        )?;
    }
    Ok(())
}

/// `POST /signer-groups/{signer_group_id}/signers`.
fn add_member(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = group_id(call, 0)?;
    let req: types::CreateSignerGroupSignerRequest = call.body_as()?;
    if req.member_key.trim().is_empty() {
        return Err(ApiError::field(
            "member_key",
            "required",
            "member_key must name a registered signer's public key",
        ));
    }
    call.write(|tx| {
        let Some(mut g) = tx.get::<GroupRec>(id).cloned() else {
            return Err(ApiError::not_found("Signer group", id));
        };
        let Some(s) = custody::signer_by_key(tx, &req.member_key).cloned() else {
            return Err(ApiError::not_found("Signer", &req.member_key));
        };
        if g.members.contains(&s.id) {
            return Err(ApiError::conflict("The signer is already a member"));
        }
        if g.members.len() >= MAX_MEMBERS {
            return Err(ApiError::field(
                "member_key",
                "too_many",
                format!("a group has at most {MAX_MEMBERS} members"),
            ));
        }
        let previous = g.members.clone();
        g.members.push(s.id.clone());
        tx.put(g.clone());
        announce_members(tx, &g, &previous)?;
        Reply::ok(&group_view(tx, &g)?)
    })
}

/// `DELETE /signer-groups/{signer_group_id}/signers/{signer_id}`.
fn remove_member(call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = group_id(call, 0)?;
    let signer = call.param(1).to_owned();
    call.write(|tx| {
        let Some(mut g) = tx.get::<GroupRec>(id).cloned() else {
            return Err(ApiError::not_found("Signer group", id));
        };
        let Some(pos) = g.members.iter().position(|m| *m == signer) else {
            return Err(ApiError::not_found("Signer in this group", &signer));
        };
        if g.members.len() == 1 {
            return Err(ApiError::conflict(
                "The group would be left without members",
            ));
        }
        let previous = g.members.clone();
        g.members.remove(pos);
        tx.put(g.clone());
        announce_members(tx, &g, &previous)?;
        Reply::ok(&group_view(tx, &g)?)
    })
}

/// The wallet and signer group an attach/detach intent names, once the intent carries the
/// approvals the wallet's signer groups require.
fn wallet_and_group<T>(
    tx: &Tx<'_>,
    e: &custody::Endorsed<T>,
    wallet: &str,
    group: &str,
) -> Result<(WalletRec, GroupRec), ApiError> {
    let Some(w) = tx.get::<WalletRec>(wallet).cloned() else {
        return Err(ApiError::not_found("Wallet", wallet));
    };
    let Some(g) = tx.get::<GroupRec>(group).cloned() else {
        return Err(ApiError::not_found("Signer group", group));
    };
    e.require(
        tx,
        &custody::wallet_signers(tx, &w),
        custody::wallet_min_approvals(tx, &w),
        "the wallet's signer groups",
    )?;
    Ok((w, g))
}

/// `PUT /wallets/{wallet_id}/signer-groups/{signer_group_id}` (a signed
/// `AttachGroupToWalletIntent`).
fn attach(call: &Call<'_>) -> Result<Reply, ApiError> {
    let wallet = wallet_id(call, 0)?;
    let group = group_id(call, 1)?;
    let e = custody::endorsed::<types::AttachGroupToWalletIntent>(
        call,
        IntentKind::AttachGroupToWallet,
    )?;
    custody::must_match("wallet_id", &e.intent.wallet_id, wallet)?;
    custody::must_match("group_id", &e.intent.group_id, group)?;
    call.write(|tx| {
        let (w, g) = wallet_and_group(tx, &e, wallet, group)?;
        if e.applied_before(tx, StatusCode::CONFLICT)?.is_some() || w.groups.contains(&g.id) {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let mut next = w.clone();
        next.groups.push(g.id.clone());
        tx.put(next.clone());
        e.mark_applied(tx, &g.id);
        custody::announce_relation(
            tx,
            &w,
            &next,
            types::EventType::WalletSignerGroupCreated,
            group_event_object(&g, "attached"),
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// `DELETE /wallets/{wallet_id}/signer-groups/{signer_group_id}` (a signed
/// `DetachGroupFromWalletIntent`).
fn detach(call: &Call<'_>) -> Result<Reply, ApiError> {
    let wallet = wallet_id(call, 0)?;
    let group = group_id(call, 1)?;
    let e = custody::endorsed::<types::DetachGroupFromWalletIntent>(
        call,
        IntentKind::DetachGroupFromWallet,
    )?;
    custody::must_match("wallet_id", &e.intent.wallet_id, wallet)?;
    custody::must_match("group_id", &e.intent.group_id, group)?;
    call.write(|tx| {
        let (w, g) = wallet_and_group(tx, &e, wallet, group)?;
        if e.applied_before(tx, StatusCode::CONFLICT)?.is_some() {
            return Ok(Reply::empty(StatusCode::NO_CONTENT));
        }
        let Some(pos) = w.groups.iter().position(|x| *x == g.id) else {
            return Err(ApiError::not_found("Signer group of this wallet", group));
        };
        if w.groups.len() == 1 {
            return Err(ApiError::conflict(
                "This is the wallet's last signer group and cannot be removed",
            ));
        }
        let mut next = w.clone();
        next.groups.remove(pos);
        tx.put(next.clone());
        e.mark_applied(tx, &g.id);
        custody::announce_relation(
            tx,
            &w,
            &next,
            types::EventType::WalletSignerGroupUpdated,
            group_event_object(&g, "detached"),
        )?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}
