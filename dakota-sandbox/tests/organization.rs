//! API keys and dashboard users: create → read/list (pagination, filters) → change → delete,
//! with `api_key.*` and `user.*` events in `GET /events` and at a webhook target.

mod common;
mod receiver;

use common::{fast, Api, Resp};
use receiver::{events_of, Hooks};
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

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|x| x["id"].as_str().map(str::to_owned))
        .collect()
}

async fn with_key(api: &Api, key: &str, method: Method, path: &str) -> Resp {
    Api::send(
        api.http
            .request(method, api.url(path))
            .header("x-api-key", key)
            .header("x-idempotency-key", uuid::Uuid::new_v4().to_string()),
    )
    .await
}

#[tokio::test]
async fn api_keys_issue_authenticate_list_and_revoke() {
    let api = Api::start(fast()).await;
    let mut hooks = Hooks::register(&api).await;
    let configured = api.sandbox.api_key().to_owned();

    // The configured key is listed by its last characters.
    let page = ok(&api.get("/api-keys").await, 200);
    assert_eq!(page["meta"]["total_count"], 1);
    let root_id = page["data"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        page["data"][0]["key_suffix"].as_str(),
        Some(&configured[configured.len() - 6..])
    );

    // Issue three keys; each authenticates.
    let mut issued = Vec::new();
    for _ in 0..3 {
        let k = ok(&api.post("/api-keys", &json!({})).await, 201);
        let secret = k["key"].as_str().expect("key").to_owned();
        assert_ne!(secret, configured);
        ok(
            &with_key(&api, &secret, Method::GET, "/customers").await,
            200,
        );
        issued.push((k["id"].as_str().expect("id").to_owned(), secret));
    }
    let ev = hooks.wait_for("api_key.created", "id", &issued[0].0).await;
    assert!(
        !ev.to_string().contains(&issued[0].1),
        "an event must not carry the secret"
    );
    assert_eq!(
        events_of(&api, "api_key.created", "id", &issued[2].0)
            .await
            .len(),
        1
    );

    // Newest first by default, pages of two; ascending on request.
    let p1 = ok(&api.get("/api-keys?limit=2").await, 200);
    assert_eq!(ids(&p1), [issued[2].0.clone(), issued[1].0.clone()]);
    assert_eq!(p1["meta"]["has_more_after"], true);
    let p2 = ok(
        &api.get(&format!("/api-keys?limit=2&starting_after={}", issued[1].0))
            .await,
        200,
    );
    assert_eq!(ids(&p2), [issued[0].0.clone(), root_id.clone()]);
    let asc = ok(
        &api.get("/api-keys?sort_dir=asc&sort_by=created_at").await,
        200,
    );
    assert_eq!(ids(&asc)[0], root_id);
    let recent = ok(
        &api.get("/api-keys?created_at_from=2030-01-01T00:00:00Z")
            .await,
        200,
    );
    assert_eq!(recent["meta"]["total_count"], 0);
    api.get("/api-keys?sort_dir=sideways").await.problem(400);
    api.get("/api-keys?created_at_to=yesterday")
        .await
        .problem(400);

    // Revoke one: it stops working at once.
    let r = Api::send(api.req(Method::DELETE, &format!("/api-keys/{}", issued[0].0))).await;
    assert_eq!(r.status.as_u16(), 204);
    with_key(&api, &issued[0].1, Method::GET, "/customers")
        .await
        .problem(401);
    Api::send(api.req(Method::DELETE, &format!("/api-keys/{}", issued[0].0)))
        .await
        .problem(404);
    hooks.wait_for("api_key.deleted", "id", &issued[0].0).await;

    // Keys for a sub-client; none for an organization we do not manage.
    let sub = ok(
        &api.post(
            "/customers",
            &json!({"name": "Sub Client Co", "customer_type": "business", "is_sub_client": true}),
        )
        .await,
        201,
    );
    let sub_id = sub["id"].as_str().expect("id");
    let k = ok(
        &api.post("/api-keys/admin", &json!({"client_id": sub_id}))
            .await,
        201,
    );
    assert!(k["key"].is_string());
    api.post(
        "/api-keys/admin",
        &json!({"client_id": "2hCjxJzUAW6JVRkZqaF9E0KpM3b"}),
    )
    .await
    .problem(403);

    // Revoke everything with an issued key: the configured key stops working too.
    let r = with_key(&api, &issued[1].1, Method::DELETE, "/api-keys").await;
    assert_eq!(r.status.as_u16(), 204);
    api.get("/customers").await.problem(401);
    with_key(&api, &issued[2].1, Method::GET, "/customers")
        .await
        .problem(401);
    hooks.wait_for("api_key.deleted", "id", &root_id).await;
    hooks.wait_for("api_key.deleted", "id", &issued[2].0).await;
}

#[tokio::test]
async fn users_create_list_update_delete() {
    let api = Api::start(fast()).await;
    let mut hooks = Hooks::register(&api).await;
    let mut created = Vec::new();
    for (first, last, email, role) in [
        ("Ada", "Lovelace", "ada@harbor-pine.io", "admin"),
        ("Grace", "Hopper", "grace@harbor-pine.io", "viewer"),
        ("Alan", "Turing", "alan@harbor-pine.io", "viewer"),
    ] {
        let u = ok(
            &api.post(
                "/users",
                &json!({"first_name": first, "last_name": last, "email": email, "role": role}),
            )
            .await,
            201,
        );
        assert_eq!(u["role"], role);
        assert!(u["client_id"].is_string());
        created.push(u["id"].as_str().expect("id").to_owned());
    }
    api.post(
        "/users",
        &json!({"first_name": "A", "last_name": "B", "email": "ADA@harbor-pine.io", "role": "admin"}),
    )
    .await
    .problem(409);
    let r = api
        .post(
            "/users",
            &json!({"first_name": "", "last_name": "B", "email": "nope", "role": "owner"}),
        )
        .await;
    r.problem(400);
    hooks.wait_for("user.created", "id", &created[0]).await;

    // List: pages, search, roles, sorting.
    let p1 = ok(&api.get("/users?limit=2").await, 200);
    assert_eq!(ids(&p1), created[..2]);
    let p2 = ok(
        &api.get(&format!("/users?limit=2&starting_after={}", created[1]))
            .await,
        200,
    );
    assert_eq!(ids(&p2), created[2..]);
    assert_eq!(p2["meta"]["has_more_before"], true);
    let found = ok(&api.get("/users?search=HOPPER").await, 200);
    assert_eq!(ids(&found), [created[1].clone()]);
    let viewers = ok(&api.get("/users?roles=viewer").await, 200);
    assert_eq!(viewers["meta"]["total_count"], 2);
    api.get("/users?roles=owner").await.problem(400);
    let by_name = ok(&api.get("/users?sort_by=name&sort_dir=desc").await, 200);
    assert_eq!(
        ids(&by_name),
        [created[1].clone(), created[2].clone(), created[0].clone()]
    );
    let next = ok(
        &api.get(&format!(
            "/users?sort_by=name&sort_dir=desc&limit=1&starting_after={}",
            created[1]
        ))
        .await,
        200,
    );
    assert_eq!(ids(&next), [created[2].clone()]);

    // Update: 204, the change shows, the event carries the previous value.
    let r = Api::send(
        api.write(Method::PATCH, &format!("/users/{}", created[1]))
            .json(&json!({"role": "admin"})),
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    let admins = ok(&api.get("/users?roles=admin").await, 200);
    assert_eq!(admins["meta"]["total_count"], 2);
    let ev = hooks.wait_for("user.updated", "id", &created[1]).await;
    assert_eq!(ev["data"]["object"]["role"], "admin");
    assert_eq!(ev["data"]["previous_attributes"]["role"], "viewer");
    Api::send(
        api.write(Method::PATCH, "/users/2hCjxJzUAW6JVRkZqaF9E0KpM3b")
            .json(&json!({"role": "admin"})),
    )
    .await
    .problem(404);

    // Delete.
    let r = Api::send(api.req(Method::DELETE, &format!("/users/{}", created[2]))).await;
    assert_eq!(r.status.as_u16(), 204);
    Api::send(api.req(Method::DELETE, &format!("/users/{}", created[2])))
        .await
        .problem(404);
    hooks.wait_for("user.deleted", "id", &created[2]).await;
    assert_eq!(
        events_of(&api, "user.deleted", "id", &created[2])
            .await
            .len(),
        1
    );
    let all = ok(&api.get("/users").await, 200);
    assert_eq!(all["meta"]["total_count"], 2);
}
