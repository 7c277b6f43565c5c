//! The route table: every operation of `dakota_api::registry::OPERATIONS` plus the sandbox's
//! own upload endpoint, matched with the same precedence as the spec's path templates
//! (a literal segment beats a parameter).

use std::sync::LazyLock;

use axum::http::Method;
use dakota_api::registry::OPERATIONS;

mod documented {
    include!(concat!(env!("OUT_DIR"), "/documented.rs"));
}

/// The statuses `op` documents and whether it takes an idempotency key (from the spec, by
/// the build script).
fn documented(op: &str) -> Option<(&'static [&'static str], bool)> {
    documented::DOCUMENTED
        .binary_search_by(|(id, _, _)| (*id).cmp(op))
        .ok()
        .map(|i| (documented::DOCUMENTED[i].1, documented::DOCUMENTED[i].2))
}

/// Operations whose spec documents its `400` (and `401`) bodies as `application/json` rather
/// than `application/problem+json`: their problem documents carry that content type.
pub(crate) const JSON_PROBLEM_OPERATIONS: &[&str] = &["bulkImportFromSumsubTokens"];

/// Operation id of the sandbox's presigned-upload target (not a Dakota operation).
pub(crate) const SANDBOX_UPLOAD: &str = "sandboxUploadDocument";

/// How a route is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No credentials (the presigned upload URL carries its own capability).
    None,
    /// `x-api-key` only.
    ApiKey,
    /// `x-api-key`, or an `X-Application-Token` for the application in the path (the spec
    /// lists both schemes).
    ApiKeyOrToken,
    /// The spec lists only `ApplicationTokenAuth`. Lenient mode (the default, as Dakota's
    /// playground behaves) also takes `x-api-key`; strict mode takes only the token.
    TokenOnly,
}

#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Lit(String),
    Param,
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) op_id: &'static str,
    pub(crate) method: Method,
    pub(crate) template: &'static str,
    pub(crate) segs: Vec<Seg>,
    pub(crate) auth: Auth,
}

impl Route {
    /// Whether the spec documents `status` (or a `default` response) for this operation. The
    /// sandbox's own upload route documents what it answers.
    pub(crate) fn documents(&self, status: u16) -> bool {
        match documented(self.op_id) {
            Some((codes, _)) => codes
                .iter()
                .any(|c| *c == "default" || c.parse::<u16>().ok() == Some(status)),
            None => true,
        }
    }

    /// Whether the spec lists `status` itself (not through `default`) for this operation.
    pub(crate) fn lists(&self, status: u16) -> bool {
        documented(self.op_id)
            .is_some_and(|(codes, _)| codes.iter().any(|c| c.parse::<u16>().ok() == Some(status)))
    }

    /// Whether requests need an `x-idempotency-key` (where the spec lists the header).
    pub(crate) fn needs_idempotency_key(&self) -> bool {
        documented(self.op_id).is_some_and(|(_, idempotent)| idempotent)
    }

    /// Whether failed authentication answers `403` rather than `401` (operations that
    /// document no `401`, such as the sandbox's simulations, refuse with `403`).
    pub(crate) fn auth_failure_is_403(&self) -> bool {
        !self.documents(401) && self.documents(403)
    }

    /// Whether failed authentication answers `404`: operations that document neither `401`
    /// nor `403` but `404` ("not available for your organization", e.g. agentic payments).
    pub(crate) fn auth_failure_is_404(&self) -> bool {
        !self.documents(401) && !self.documents(403) && self.lists(404)
    }

    /// Whether problem documents of this operation are sent as `application/json` (see
    /// [`JSON_PROBLEM_OPERATIONS`]).
    pub(crate) fn problem_as_json(&self) -> bool {
        JSON_PROBLEM_OPERATIONS.contains(&self.op_id)
    }

    /// Status for an idempotency key reused with a different request: `409` where the spec
    /// lists it, else `422` (listed or covered by `default`), else `400`.
    pub(crate) fn idempotency_conflict_status(&self) -> u16 {
        if self.lists(409) {
            409
        } else if self.documents(422) {
            422
        } else {
            400
        }
    }

    /// The status to answer instead of `status` when the spec does not document it for this
    /// operation: client errors fall back to `400` (or `404`/`403` where only those fit);
    /// `401`, `429` and server errors stay (they come before the operation, or from
    /// injected faults).
    pub(crate) fn documented_status(&self, status: u16) -> u16 {
        if self.documents(status) || !(400..500).contains(&status) || matches!(status, 401 | 429) {
            return status;
        }
        [400, 404, 422, 409, 403]
            .into_iter()
            .find(|s| self.documents(*s))
            .unwrap_or(status)
    }

    /// Whether `X-Sandbox-*` fault headers apply (write operations).
    pub(crate) fn takes_fault_headers(&self) -> bool {
        self.op_id != SANDBOX_UPLOAD && self.method != Method::GET
    }
}

fn parse_segments(template: &str) -> Vec<Seg> {
    template
        .split('/')
        .skip(1)
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Seg::Param
            } else {
                Seg::Lit(s.to_owned())
            }
        })
        .collect()
}

pub(crate) static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let mut routes: Vec<Route> = OPERATIONS
        .iter()
        .filter_map(|op| {
            let method = Method::from_bytes(op.method.as_bytes()).ok()?;
            let token = op.security.contains(&"ApplicationTokenAuth");
            let key = op.security.contains(&"ApiKeyAuth");
            let auth = match (key, token) {
                (true, true) => Auth::ApiKeyOrToken,
                (false, true) => Auth::TokenOnly,
                _ => Auth::ApiKey,
            };
            Some(Route {
                op_id: op.operation_id,
                method,
                template: op.path,
                segs: parse_segments(op.path),
                auth,
            })
        })
        .collect();
    routes.push(Route {
        op_id: SANDBOX_UPLOAD,
        method: Method::PUT,
        template: "/sandbox/uploads/{upload_id}",
        segs: parse_segments("/sandbox/uploads/{upload_id}"),
        auth: Auth::None,
    });
    routes
});

/// The result of matching a request against the table.
#[derive(Debug)]
pub(crate) enum Matched {
    /// The operation and the path parameters in order.
    Found(&'static Route, Vec<String>),
    /// The path exists but not with this method; the allowed methods.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Specificity of a template against a path: literal segments first, left to right.
fn matches(route: &Route, parts: &[&str]) -> Option<(Vec<bool>, Vec<String>)> {
    if route.segs.len() != parts.len() {
        return None;
    }
    let mut score = Vec::with_capacity(parts.len());
    let mut params = Vec::new();
    for (seg, part) in route.segs.iter().zip(parts) {
        match seg {
            Seg::Lit(l) if l == part => score.push(true),
            Seg::Lit(_) => return None,
            Seg::Param if part.is_empty() => return None,
            Seg::Param => {
                score.push(false);
                params.push((*part).to_owned());
            }
        }
    }
    Some((score, params))
}

/// Finds the operation for `method` and `path`.
pub(crate) fn find(method: &Method, path: &str) -> Matched {
    let Some(rest) = path.strip_prefix('/') else {
        return Matched::NotFound;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let lookup = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    // The most specific template that matches the path decides (as a router would), then
    // the method is looked up among the operations sharing that template.
    let mut best: Option<(Vec<bool>, &'static str)> = None;
    for route in ROUTES.iter() {
        if let Some((score, _)) = matches(route, &parts) {
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, route.template));
            }
        }
    }
    let Some((_, template)) = best else {
        return Matched::NotFound;
    };
    let same_path = ROUTES.iter().filter(|r| r.template == template);
    let mut allowed = Vec::new();
    for route in same_path {
        if route.method == lookup {
            let params = matches(route, &parts).map(|(_, p)| p).unwrap_or_default();
            return Matched::Found(route, params);
        }
        allowed.push(route.method.clone());
    }
    Matched::MethodNotAllowed(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segment_beats_parameter() {
        match find(&Method::GET, "/customers/sub-client-summary") {
            Matched::Found(r, p) => {
                assert_eq!(r.op_id, "getSubClientSummary");
                assert!(p.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match find(&Method::GET, "/customers/2hCjxJzUAW6JVRkZqaF9E0KpM3b") {
            Matched::Found(r, p) => {
                assert_eq!(r.op_id, "getCustomer");
                assert_eq!(p, vec!["2hCjxJzUAW6JVRkZqaF9E0KpM3b".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn method_not_allowed_and_not_found() {
        assert!(matches!(
            find(&Method::DELETE, "/customers"),
            Matched::MethodNotAllowed(_)
        ));
        assert!(matches!(find(&Method::GET, "/nope"), Matched::NotFound));
        assert!(matches!(
            find(&Method::GET, "/customers/"),
            Matched::NotFound
        ));
        assert!(matches!(find(&Method::GET, ""), Matched::NotFound));
    }
}
