//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/v1/openapi.json`. It is built from
//! the routers themselves: every route is registered through `utoipa_axum::routes!`, which reads
//! the handler's `#[utoipa::path]` and the `ToSchema` of the types it takes, so a route cannot be
//! served without being documented. Here the document gets what is true of every route at once:
//! the credentials, and the error answers that any route can give (`{error: {code, message,
//! field?}}`, the [`crate::api_error::ApiError`] shape).

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// The document, serialised once when the router is built.
#[derive(Clone, Debug)]
pub struct Document(Arc<String>);

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document", body = Object)))]
pub async fn document(Extension(doc): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.as_str().to_string()).into_response()
}

/// Statuses the JSON API may answer on any route, and when.
const ANY_ROUTE: &[(u16, &str)] = &[
    (401, "`unauthenticated`: the route needs a signed-in caller; `invalid-token`: a wrong, revoked or expired token"),
    (403, "`forbidden`: not this caller's to do; `csrf`: a session's change without its `X-CSRF-Token`"),
    (500, "`storage`: the server failed; the body says nothing more"),
    (503, "`busy`, `timeout`, `unavailable`, `manual-mode`: try again later"),
];
/// …on a route with path parameters (a parameter that does not parse is 400 `invalid-path`).
const WITH_PATH: &[(u16, &str)] = &[
    (400, "`invalid-path`: a path parameter is not of its type"),
    (404, "`not-found`: no such thing, or not in the caller's scope"),
];
/// …with query parameters.
const WITH_QUERY: &[(u16, &str)] = &[(400, "`invalid-query`: a query parameter is not of its type")];
/// …with a request body.
const WITH_BODY: &[(u16, &str)] = &[
    (400, "`invalid-json`: the body is not JSON"),
    (413, "`input-too-large`: the body is over the route's limit"),
    (415, "`content-type`: send the body as application/json"),
    (422, "`invalid-body`: the body is not of the schema, or a field is invalid (`field` names it)"),
];

/// The document of `api` (a router's, split from it) with the credentials and the common errors.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "Casegrid".into();
    api.info.description = Some(
        "The JSON API of Casegrid. Every error is `{error: {code, message, field?, details?}}`; \
         Open311 (GeoReport v2) answers in its own shape."
            .into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::extract::SESSION_COOKIE))),
    );
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        for op in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            add_errors(op);
        }
    }
    api
}

fn add_errors(op: &mut Operation) {
    let params = op.parameters.iter().flatten();
    let (mut path, mut query) = (false, false);
    for p in params {
        if let RefOr::T(p) = p {
            path |= p.parameter_in == ParameterIn::Path;
            query |= p.parameter_in == ParameterIn::Query;
        }
    }
    let body = op.request_body.is_some();
    let lists = [(true, ANY_ROUTE), (path, WITH_PATH), (query, WITH_QUERY), (body, WITH_BODY)];
    for (status, what) in lists.into_iter().filter(|(on, _)| *on).flat_map(|(_, l)| l.iter()) {
        let responses = &mut op.responses.responses;
        match responses.get_mut(&status.to_string()) {
            // The handler named the codes it gives; the common ones are added to its description.
            Some(RefOr::T(r)) if !r.description.contains(what) => r.description = format!("{}; {what}", r.description),
            Some(_) => {}
            None => {
                responses.insert(status.to_string(), RefOr::T(error_response(what)));
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build()
}

/// Serialises the finished document for [`document`] to serve.
pub fn serve(api: &OpenApi) -> Document {
    Document(Arc::new(api.to_json().unwrap_or_else(|_| "{}".to_string())))
}

#[cfg(test)]
mod tests {
    /// Every route is registered through `routes!`, which documents it: no file of the server
    /// registers one the other way (`.route(`, `.route_service(`, `.nest(`), which would serve it
    /// undocumented. The system story `openapi::every_documented_route_is_served` checks the other
    /// direction against the running server.
    #[test]
    fn no_route_bypasses_the_document() {
        let mut offenders = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("openapi.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or("");
                        if [".route(", ".route_service(", ".nest(", ".nest_service(", "axum::routing::"]
                            .iter()
                            .any(|bad| code.contains(bad))
                        {
                            offenders.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "routes registered outside `routes!`:\n{}", offenders.join("\n"));
    }

    /// The document of the very router the server serves has every feature's routes, each
    /// operation with its error answers in the `ApiError` shape.
    #[test]
    fn the_document_has_every_feature_and_the_error_shape() {
        let api = super::finish(crate::server::api_router(1 << 20, 1 << 20, 1 << 20).into_openapi());
        let v: serde_json::Value = serde_json::from_str(&api.to_json().unwrap()).unwrap();
        assert_eq!(v["openapi"].as_str().map(|s| &s[..3]), Some("3.1"));
        for path in [
            "/api/v1/openapi.json",
            "/api/v1/auth/login",
            "/api/v1/users/{id}/grants/{grant}",
            "/api/v1/domains/{domain}/assess",
            "/api/v1/plugins/{domain}/versions/{version}/release",
            "/api/v1/reports",
            "/api/v1/cases/{id}/actions",
            "/open311/v2/{file}",
            "/healthz",
            "/metrics",
        ] {
            assert!(v["paths"][path].is_object(), "{path} is not in the document");
        }
        let err = &v["paths"]["/api/v1/cases/{id}/actions"]["post"]["responses"]["422"]["content"]["application/json"];
        assert_eq!(err["schema"]["$ref"], "#/components/schemas/ApiError");
        let shape = &v["components"]["schemas"]["ApiError"]["properties"]["error"];
        assert!(shape.is_object(), "{shape}");
        let body = &v["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["$ref"], "#/components/schemas/OpenIn");
    }
}
