//! A synthetic spec of any size, for measuring how generation scales (`cargo xtask scale`).
//!
//! Shaped like Dakota's: resources with a record, a create request, a page and a status enum,
//! a shared `Money` and `Problem`, four operations per resource (list, create, get, update)
//! about two schemas per operation. A chosen number of operations, spread evenly, are
//! inexpressible for progenitor (a `multipart/form-data` upload), so generation must find and
//! leave them out.

use serde_json::{json, Map, Value};

/// A spec with `operations` operations, `inexpressible` of them multipart uploads progenitor
/// cannot express (spread evenly). `inexpressible` is capped at `operations`.
pub fn spec(operations: usize, inexpressible: usize) -> Value {
    let inexpressible = inexpressible.min(operations);
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "required": ["type", "title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"}}}),
    );
    schemas.insert(
        "Money".into(),
        json!({"type": "object", "required": ["amount", "currency"], "properties": {
            "amount": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
            "currency": {"type": "string", "enum": ["USD", "EUR", "USDC"]}}}),
    );
    let problem = json!({"description": "Failure.", "content": {"application/problem+json":
        {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    // Operation i is inexpressible when the running quota of inexpressible ones grows at i.
    let is_inexpressible =
        |i: usize| (i + 1) * inexpressible / operations > i * inexpressible / operations;
    let resources = operations.div_ceil(4);
    for r in 0..resources {
        let name = format!("Resource{r}");
        let status = format!("{name}Status");
        let request = format!("{name}Request");
        let list = format!("{name}List");
        let rref = |s: &str| json!({"$ref": format!("#/components/schemas/{s}")});
        schemas.insert(
            status.clone(),
            json!({"type": "string", "enum": ["pending", "active", "closed"]}),
        );
        schemas.insert(
            name.clone(),
            json!({"type": "object", "required": ["id", "status"], "properties": {
                "id": {"type": "string"},
                "status": rref(&status),
                "balance": rref("Money"),
                "label": {"type": "string", "nullable": true},
                "created_at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}}}}),
        );
        schemas.insert(
            request.clone(),
            json!({"type": "object", "required": ["label"], "properties": {
                "label": {"type": "string"}, "limit": rref("Money")}}),
        );
        schemas.insert(
            list.clone(),
            json!({"type": "object", "required": ["data", "has_more"], "properties": {
                "data": {"type": "array", "items": rref(&name)},
                "has_more": {"type": "boolean"}}}),
        );
        let collection = format!("/resources{r}");
        let item = format!("/resources{r}/{{id}}");
        let id_param =
            json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
        for kind in 0..4 {
            let i = r * 4 + kind;
            if i >= operations {
                break;
            }
            let (path, method, op) = if is_inexpressible(i) {
                (
                    format!("/resources{r}/{{id}}/documents{kind}"),
                    "post",
                    json!({"operationId": format!("upload{name}Document{kind}"),
                        "parameters": [id_param],
                        "requestBody": {"required": true, "content": {"multipart/form-data": {
                            "schema": {"type": "object", "properties": {
                                "file": {"type": "string", "format": "binary"}}}}}},
                        "responses": {"200": {"description": "Stored.", "content": {
                            "application/json": {"schema": rref(&name)}}},
                            "400": problem}}),
                )
            } else {
                match kind {
                    0 => (
                        collection.clone(),
                        "get",
                        json!({"operationId": format!("list{name}s"),
                            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}},
                                {"name": "status", "in": "query", "schema": rref(&status)}],
                            "responses": {"200": {"description": "A page.", "content": {
                                "application/json": {"schema": rref(&list)}}},
                                "400": problem}}),
                    ),
                    1 => (
                        collection.clone(),
                        "post",
                        json!({"operationId": format!("create{name}"),
                            "requestBody": {"required": true, "content": {"application/json": {
                                "schema": rref(&request)}}},
                            "responses": {"201": {"description": "Created.", "content": {
                                "application/json": {"schema": rref(&name)}}},
                                "400": problem}}),
                    ),
                    2 => (
                        item.clone(),
                        "get",
                        json!({"operationId": format!("get{name}"),
                            "parameters": [id_param],
                            "responses": {"200": {"description": "The resource.", "content": {
                                "application/json": {"schema": rref(&name)}}},
                                "404": problem}}),
                    ),
                    _ => (
                        item.clone(),
                        "patch",
                        json!({"operationId": format!("update{name}"),
                            "parameters": [id_param],
                            "requestBody": {"required": true, "content": {"application/json": {
                                "schema": rref(&request)}}},
                            "responses": {"200": {"description": "Updated.", "content": {
                                "application/json": {"schema": rref(&name)}}},
                                "400": problem}}),
                    ),
                }
            };
            let entry = paths
                .entry(path)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(o) = entry.as_object_mut() {
                o.insert(method.to_string(), op);
            }
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Synthetic", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_requested_operation_counts() {
        let s = spec(300, 60);
        let ops = crate::generate::operations(&s);
        assert_eq!(ops.len(), 300);
        let uploads = ops
            .iter()
            .filter(|(_, _, id)| id.starts_with("upload"))
            .count();
        assert_eq!(uploads, 60);
        // Resources 0 and 1 have a collection and an item path, resource 2 only a collection.
        assert_eq!(
            spec(10, 0)
                .pointer("/paths")
                .map(|p| p.as_object().map(|o| o.len())),
            Some(Some(5))
        );
        assert_eq!(crate::generate::operations(&spec(7, 99)).len(), 7);
    }

    #[test]
    fn a_small_synthetic_spec_generates_without_its_uploads() {
        let s = spec(12, 3);
        let g = crate::generate(&s.to_string(), "synthetic.json").expect("generates");
        assert_eq!(g.dropped.len(), 3, "{:?}", g.dropped);
        assert!(g.dropped.iter().all(|(op, _)| op.contains("upload")));
        assert!(g.code.contains("pub fn list_resource0s("));
    }
}
