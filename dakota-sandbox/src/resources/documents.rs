//! Onboarding documents of an application: inline uploads (`POST
//! /applications/{id}/documents`, `POST .../associated-individuals/{id}/documents`), presigned
//! uploads registered once their file arrived (`POST .../documents/{upload_id}/verifications`),
//! the list with its filters, the download and the deletion.
//!
//! Inline files are kept (they fit in a JSON body, so at most the body limit each) up to
//! [`MAX_KEPT_BYTES`] in all; past that the oldest files' bytes are dropped. The bytes of
//! presigned uploads are counted and never kept (see `sandbox_ops::receive_upload`). A
//! document whose bytes are not kept answers its download with `409`.

use axum::http::StatusCode;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dakota_api::types;

use super::onboarding::{self, AppRec, Upload};
use crate::ids;
use crate::pipeline::validate::{object, Errors};
use crate::pipeline::{query, typed, Call, Registry, Reply};
use crate::problem::{build, ApiError};
use crate::store::{Record, Schema, Tables, Tx};

/// Most bytes of inline files kept in all.
pub(crate) const MAX_KEPT_BYTES: usize = 32 * 1024 * 1024;

/// Registers the document operations.
pub(crate) fn routes(r: &mut Registry) {
    r.add("createApplicationDocument", create)
        .add("uploadIndividualDocument", create_individual)
        .add("createApplicationDocumentVerification", verify)
        .add("listDocuments", list)
        .add("downloadDocument", download)
        .add("deleteOnboardingDocument", delete);
}

/// A document on file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DocRec {
    pub(crate) id: String,
    pub(crate) application_id: String,
    pub(crate) individual_id: Option<String>,
    pub(crate) document_type: String,
    pub(crate) file_type: String,
    pub(crate) filename: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    /// The file, while it is kept.
    #[serde(with = "crate::store::base64_bytes")]
    pub(crate) content: Option<Bytes>,
}

impl Record for DocRec {
    const KIND: &'static str = "document";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Bytes of inline files kept so far (one record, id `total`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeptBytes {
    id: String,
    bytes: usize,
}

impl Record for KeptBytes {
    const KIND: &'static str = "document_bytes";
    fn id(&self) -> &str {
        &self.id
    }
}

const IDENTITY: [&str; 7] = [
    "passport",
    "drivers_license_front",
    "drivers_license_back",
    "residence_permit_front",
    "residence_permit_back",
    "proof_of_address",
    "utility_bill",
];
const EDD: [&str; 14] = [
    "source_of_funds",
    "source_of_wealth",
    "bank_statement",
    "crypto_statement",
    "investment_statement",
    "savings_statement",
    "payslip",
    "employment_contract",
    "income_verification_letter",
    "subscription_agreement",
    "safe_agreement",
    "convertible_note",
    "loan_agreement",
    "promissory_note",
];
/// Identity documents that need their number.
const NUMBERED_ID: [&str; 5] = [
    "passport",
    "drivers_license_front",
    "drivers_license_back",
    "residence_permit_front",
    "residence_permit_back",
];
/// Formation paperwork that needs its registry number.
const FORMATION: [&str; 2] = ["certificate_of_incorporation", "articles_of_incorporation"];

fn category(document_type: &str) -> types::UploadedDocumentMetadataCategory {
    if IDENTITY.contains(&document_type) {
        types::UploadedDocumentMetadataCategory::Identity
    } else if EDD.contains(&document_type) {
        types::UploadedDocumentMetadataCategory::Edd
    } else {
        types::UploadedDocumentMetadataCategory::Business
    }
}

fn media_type(file_type: &str) -> &'static str {
    match file_type {
        "pdf" => "application/pdf",
        "png" => "image/png",
        _ => "image/jpeg",
    }
}

/// The application of the path (due transitions applied): `404` when unknown.
fn application(tx: &mut Tx<'_>, id: &str) -> Result<AppRec, ApiError> {
    onboarding::advance(tx, id)?.ok_or_else(|| ApiError::not_found("Application", id))
}

/// The person's names, if the application lists them.
fn person(app: &AppRec, id: &str) -> Option<(String, String)> {
    if let Some(p) = app.primary.as_ref().filter(|p| p.id == id) {
        return Some((p.first_name.clone(), p.last_name.clone()));
    }
    app.associated
        .iter()
        .find(|a| a.id == id)
        .map(|a| (a.first_name.clone(), a.last_name.clone()))
}

fn decode(content: &str) -> Result<Bytes, ApiError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|_| ApiError::field("file_content", "invalid_format", "not valid base64"))?;
    if raw.is_empty() {
        return Err(ApiError::field(
            "file_content",
            "required",
            "the file is empty",
        ));
    }
    Ok(Bytes::from(raw))
}

/// Keeps `doc`, dropping the bytes of the oldest files while the total is over the cap.
fn keep(tx: &mut Tx<'_>, doc: DocRec) {
    let mut kept = tx.get::<KeptBytes>("total").cloned().unwrap_or(KeptBytes {
        id: "total".into(),
        bytes: 0,
    });
    kept.bytes += doc.content.as_ref().map_or(0, Bytes::len);
    tx.put(doc);
    while kept.bytes > MAX_KEPT_BYTES {
        let Some(mut oldest) = tx.scan::<DocRec>().find(|d| d.content.is_some()).cloned() else {
            break;
        };
        kept.bytes -= oldest.content.take().map_or(0, |c| c.len());
        tx.put(oldest);
    }
    tx.put(kept);
}

fn created(id: String) -> Result<Reply, ApiError> {
    let body: types::DocumentUploadResponse =
        build(types::builder::DocumentUploadResponse::default().document_id(ids::ksuid(&id)))?;
    Reply::created(&body)
}

/// `POST /applications/{application_id}/documents`.
fn create(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let body = call.json()?;
    object(&body)?;
    let req: types::ApplicationDocumentUploadRequest = typed(body)?;
    let mut errs = Errors::default();
    errs.known("document_type", &req.document_type);
    errs.known("file_type", &req.file_type);
    errs.finish()?;
    let doc_type = req.document_type.to_string();
    if FORMATION.contains(&doc_type.as_str()) && req.id_number.is_none() {
        return Err(ApiError::field(
            "id_number",
            "required",
            "formation paperwork needs its registry number",
        ));
    }
    let content = decode(&req.file_content)?;
    call.write(|tx| {
        let app = application(tx, &app_id)?;
        if !app.editable() {
            return Err(ApiError::bad_request(format!(
                "Application {app_id} is {} and takes no further documents",
                app.status.as_str()
            )));
        }
        let id = tx.next_id();
        keep(
            tx,
            DocRec {
                id: id.clone(),
                application_id: app_id.clone(),
                individual_id: None,
                document_type: doc_type.clone(),
                file_type: req.file_type.to_string(),
                filename: req.filename.as_ref().map(|f| f.to_string()),
                created_at: tx.now,
                content: Some(content.clone()),
            },
        );
        created(id)
    })
}

/// `POST /applications/{application_id}/associated-individuals/{individual_id}/documents`.
fn create_individual(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let ind = call.id_param(1, "individual_id")?.to_owned();
    let body = call.json()?;
    object(&body)?;
    let req: types::IndividualDocumentUploadRequest = typed(body)?;
    let mut errs = Errors::default();
    errs.known("type", &req.type_);
    errs.known("file_type", &req.file_type);
    errs.finish()?;
    let doc_type = req.type_.to_string();
    if NUMBERED_ID.contains(&doc_type.as_str())
        && req.id_number.as_deref().is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::field(
            "id_number",
            "required",
            "identity documents need the document number",
        ));
    }
    let content = decode(&req.file_content)?;
    call.write(|tx| {
        let app = application(tx, &app_id)?;
        if person(&app, &ind).is_none() {
            return Err(ApiError::not_found("Individual", &ind));
        }
        if !app.editable() {
            return Err(ApiError::bad_request(format!(
                "Application {app_id} is {} and takes no further documents",
                app.status.as_str()
            )));
        }
        let id = tx.next_id();
        keep(
            tx,
            DocRec {
                id: id.clone(),
                application_id: app_id.clone(),
                individual_id: Some(ind.clone()),
                document_type: doc_type.clone(),
                file_type: req.file_type.to_string(),
                filename: req.filename.as_ref().map(|f| f.to_string()),
                created_at: tx.now,
                content: Some(content.clone()),
            },
        );
        created(id)
    })
}

/// `POST /applications/{application_id}/documents/{document_id}/verifications`: registers
/// the presigned upload `document_id` once its file arrived (again: the same answer).
fn verify(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let upload_id = call.id_param(1, "document_id")?.to_owned();
    call.write(|tx| {
        application(tx, &app_id)?;
        if tx
            .get::<DocRec>(&upload_id)
            .is_some_and(|d| d.application_id == app_id)
        {
            return created(upload_id.clone());
        }
        let Some(up) = tx
            .get::<Upload>(&upload_id)
            .filter(|u| u.application_id == app_id)
            .cloned()
        else {
            return Err(ApiError::not_found("Upload", &upload_id));
        };
        if up.received_bytes.is_none() {
            return Err(ApiError::bad_request(
                "No file arrived at the upload URL yet: PUT the file there first",
            ));
        }
        keep(
            tx,
            DocRec {
                id: up.id.clone(),
                application_id: app_id.clone(),
                individual_id: up.individual_id.clone(),
                document_type: up.document_type.clone(),
                file_type: up.file_type.clone(),
                filename: up.filename.clone(),
                created_at: tx.now,
                content: None,
            },
        );
        created(up.id)
    })
}

fn metadata(app: &AppRec, d: &DocRec) -> Result<types::UploadedDocumentMetadata, ApiError> {
    let names = d.individual_id.as_deref().and_then(|i| person(app, i));
    build(
        types::builder::UploadedDocumentMetadata::default()
            .id(ids::ksuid(&d.id))
            .category(category(&d.document_type))
            .document_type(d.document_type.clone())
            .file_type(d.file_type.clone())
            .status(types::UploadedDocumentMetadataStatus::Uploaded)
            .original_filename(d.filename.clone())
            .individual_id(d.individual_id.clone())
            .individual_first_name(names.as_ref().map(|n| n.0.clone()))
            .individual_last_name(names.map(|n| n.1))
            .created_at(d.created_at),
    )
}

/// `GET /applications/{application_id}/documents`.
fn list(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let q = call.query()?;
    let mut errs = Errors::default();
    let page = q.page_into(&mut errs);
    let cat = match q.filter("category") {
        None => None,
        Some(c @ ("business" | "identity" | "edd")) => {
            Some(types::UploadedDocumentMetadataCategory::from(c))
        }
        Some(_) => {
            errs.push(
                "category",
                "invalid_enum",
                "expected business, identity or edd",
            );
            None
        }
    };
    errs.finish()?;
    let doc_type = q.filter("document_type").map(str::to_owned);
    let (data, meta) = call.write(|tx| {
        let app = application(tx, &app_id)?;
        let t: &Tables = tx;
        let (rows, meta) = query::records::<DocRec>(t, &page, |d| {
            d.application_id == app_id
                && cat
                    .as_ref()
                    .is_none_or(|c| category(&d.document_type) == *c)
                && doc_type.as_deref().is_none_or(|x| d.document_type == x)
        })?;
        let data = rows
            .into_iter()
            .map(|d| metadata(&app, d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((data, meta))
    })?;
    let body: types::ListDocumentsResponse = build(
        types::builder::ListDocumentsResponse::default()
            .data(data)
            .meta(meta),
    )?;
    Reply::ok(&body)
}

fn document<'t>(t: &'t Tables, app_id: &str, id: &str) -> Result<&'t DocRec, ApiError> {
    t.get::<DocRec>(id)
        .filter(|d| d.application_id == app_id)
        .ok_or_else(|| ApiError::not_found("Document", id))
}

/// `GET /applications/{application_id}/documents/{document_id}`: the file's bytes.
fn download(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let id = call.id_param(1, "document_id")?.to_owned();
    call.write(|tx| {
        application(tx, &app_id)?;
        let d = document(tx, &app_id, &id)?;
        let Some(content) = d.content.clone() else {
            return Err(ApiError::conflict(
                "The sandbox keeps no bytes of this document (a presigned upload, or an old file past the sandbox's storage cap)",
            ));
        };
        let name = d
            .filename
            .clone()
            .unwrap_or_else(|| format!("{}.{}", d.document_type, d.file_type))
            .replace(['"', '\\', '\r', '\n'], "_");
        Ok(Reply::bytes(media_type(&d.file_type), content)
            .with_header(
                "content-disposition",
                &format!("attachment; filename=\"{name}\""),
            )
            .with_header("x-document-type", &d.document_type)
            .with_header("x-file-type", &d.file_type)
            .with_header("x-created-at", &d.created_at.to_rfc3339()))
    })
}

/// `DELETE /applications/{application_id}/documents/{document_id}`: while the application
/// still accepts changes (`400` otherwise).
fn delete(call: &Call<'_>) -> Result<Reply, ApiError> {
    let app_id = call.id_param(0, "application_id")?.to_owned();
    let id = call.id_param(1, "document_id")?.to_owned();
    call.write(|tx| {
        let app = application(tx, &app_id)?;
        document(tx, &app_id, &id)?;
        if !app.editable() {
            return Err(ApiError::bad_request(format!(
                "Application {app_id} is {} and its documents can no longer change",
                app.status.as_str()
            )));
        }
        if let Some(d) = tx.delete::<DocRec>(&id) {
            if let Some(c) = d.content {
                if let Some(mut kept) = tx.get::<KeptBytes>("total").cloned() {
                    kept.bytes = kept.bytes.saturating_sub(c.len());
                    tx.put(kept);
                }
            }
        }
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    })
}

/// Registers the document records (see [`crate::store`]).
pub(crate) fn schema(s: &mut Schema) {
    s.record::<DocRec>().record::<KeptBytes>();
}
