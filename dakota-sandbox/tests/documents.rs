//! Onboarding documents: inline uploads for the application and for a person, presigned
//! uploads registered after the file arrived, the list with its filters, the download with
//! its headers, and the deletion.

mod common;

use base64::Engine;
use common::{fast, person, Api, Resp};
use reqwest::Method;
use serde_json::{json, Value};

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    r.json()
}

#[tokio::test]
async fn upload_list_download_verify_delete() {
    let api = Api::start(fast()).await;
    let c = api
        .create_customer_with(
            "Paper Trail LLC",
            "business",
            &[("x-sandbox-skip-auto-approval", "true")],
        )
        .await;
    let app = c["application_id"].as_str().expect("app").to_owned();
    let ind = ok(
        &api.post(
            &format!("/applications/{app}/associated-individuals"),
            &person("Grace", "Hopper", &["control_person"]),
        )
        .await,
        201,
    );
    let ind_id = ind["id"].as_str().expect("id").to_owned();

    // Inline: the application's certificate and the person's passport.
    let pdf = b"%PDF-1.7 sandbox certificate".to_vec();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let cert = ok(
        &api.post(
            &format!("/applications/{app}/documents"),
            &json!({"document_type": "certificate_of_incorporation", "file_type": "pdf",
                    "file_content": b64(&pdf), "country": "US", "id_number": "5551234",
                    "filename": "formation.pdf"}),
        )
        .await,
        201,
    );
    let cert_id = cert["document_id"].as_str().expect("id").to_owned();
    let r = api
        .post(
            &format!("/applications/{app}/associated-individuals/{ind_id}/documents"),
            &json!({"type": "passport", "file_type": "jpeg", "file_content": b64(b"\xff\xd8jpeg"), "country": "US"}),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["field"], "id_number");
    ok(
        &api.post(
            &format!("/applications/{app}/associated-individuals/{ind_id}/documents"),
            &json!({"type": "passport", "file_type": "jpeg", "file_content": b64(b"\xff\xd8jpeg"),
                    "country": "US", "id_number": "583920174"}),
        )
        .await,
        201,
    );
    api.post(
        &format!("/applications/{app}/documents"),
        &json!({"document_type": "bank_statement", "file_type": "pdf", "file_content": "***", "country": "US"}),
    )
    .await
    .problem(400);

    // Presigned: registered only once the file arrived.
    let up = ok(
        &api.post(
            &format!("/applications/{app}/document-uploads"),
            &json!({"document_type": "bank_statement", "file_type": "pdf", "country": "US", "filename": "statement.pdf"}),
        )
        .await,
        200,
    );
    let upload_id = up["upload_id"].as_str().expect("upload id").to_owned();
    let verify = format!("/applications/{app}/documents/{upload_id}/verifications");
    api.post(&verify, &json!({})).await.problem(400);
    let put = Api::send(
        api.http
            .put(up["upload_url"].as_str().expect("url"))
            .body(vec![7u8; 2048]),
    )
    .await;
    assert!(put.status.is_success(), "{put:?}");
    let v = ok(&api.post(&verify, &json!({})).await, 201);
    assert_eq!(v["document_id"], upload_id.as_str());
    ok(&api.post(&verify, &json!({})).await, 201);

    // The list, and its filters.
    let all = ok(
        &api.get(&format!("/applications/{app}/documents")).await,
        200,
    );
    let rows = all["data"].as_array().expect("data");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["category"], "business");
    assert_eq!(rows[0]["original_filename"], "formation.pdf");
    assert_eq!(rows[1]["category"], "identity");
    assert_eq!(rows[1]["individual_id"], ind_id.as_str());
    assert_eq!(rows[1]["individual_first_name"], "Grace");
    assert_eq!(rows[2]["category"], "edd");
    let ids = ok(
        &api.get(&format!("/applications/{app}/documents?category=identity"))
            .await,
        200,
    );
    assert_eq!(ids["data"].as_array().map(Vec::len), Some(1));
    let by_type = ok(
        &api.get(&format!(
            "/applications/{app}/documents?document_type=bank_statement"
        ))
        .await,
        200,
    );
    assert_eq!(by_type["data"][0]["id"], upload_id.as_str());
    api.get(&format!("/applications/{app}/documents?category=other"))
        .await
        .problem(400);

    // Downloads: the inline file as sent, with its headers; a presigned one is not kept.
    let d = api
        .get(&format!("/applications/{app}/documents/{cert_id}"))
        .await;
    assert_eq!(d.status.as_u16(), 200);
    assert_eq!(d.bytes, pdf);
    assert_eq!(d.header("content-type"), Some("application/pdf"));
    assert_eq!(
        d.header("x-document-type"),
        Some("certificate_of_incorporation")
    );
    assert_eq!(d.header("x-file-type"), Some("pdf"));
    assert!(d
        .header("content-disposition")
        .is_some_and(|v| v.contains("formation.pdf")));
    api.get(&format!("/applications/{app}/documents/{upload_id}"))
        .await
        .problem(409);
    api.get(&format!(
        "/applications/{app}/documents/2hCjxJzUAW6JVRkZqaF9E0KpM3b"
    ))
    .await
    .problem(404);

    // Deletion.
    let del = Api::send(api.req(
        Method::DELETE,
        &format!("/applications/{app}/documents/{cert_id}"),
    ))
    .await;
    assert_eq!(del.status.as_u16(), 204);
    let all = ok(
        &api.get(&format!("/applications/{app}/documents")).await,
        200,
    );
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2));
    Api::send(api.req(
        Method::DELETE,
        &format!("/applications/{app}/documents/{cert_id}"),
    ))
    .await
    .problem(404);
}
