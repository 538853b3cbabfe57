//! The HTTP error body: a status, a stable code, a message and, where one field is at fault, its
//! name. 5xx bodies say nothing internal; the details are logged once, here.

use crate::plugins::PluginError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Boxed: the error travels in every `Result` of the handlers, and is rarely this rich.
    pub details: Option<Box<serde_json::Value>>,
    /// Seconds for `Retry-After`: set on a 429, so that a refusal decided deep in a service
    /// reaches the client with its wait.
    pub retry_after: Option<u64>,
}

/// Every error answer of the JSON API: `{error: {code, message, field?, details?}}`. The OpenAPI
/// document takes its schema from this very type.
#[derive(Serialize, utoipa::ToSchema)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiErrorDetail)]
struct Inner<'a> {
    /// Stable and machine-readable: `not-found`, `invalid-body`, `forbidden`, `rate-limited`…
    code: &'a str,
    /// For people; a 5xx says only `internal error`.
    message: &'a str,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// More about the error: the plugin's field errors of an `invalid-facts`, for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    details: Option<&'a serde_json::Value>,
}

/// The document names the error answer `ApiError`, after this type, so a handler's
/// `responses(..., body = ApiError)` reads as its `Result<_, ApiError>` does.
impl utoipa::PartialSchema for ApiError {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Body<'static> as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ApiError {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <Body<'static> as utoipa::ToSchema>::schemas(schemas);
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, details: None, retry_after: None }
    }

    /// 429 with `Retry-After` (at least one second: `0` would invite an immediate retry).
    pub fn too_many(code: &'static str, message: impl Into<String>, wait_secs: u64) -> Self {
        Self { retry_after: Some(wait_secs.max(1)), ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message) }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 401: the route needs a signed-in caller.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in, or send an API token")
    }

    /// 403: signed in, but this caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// 503 `busy` with `Retry-After`: every database connection stayed taken for the pool's
    /// whole wait. The request did nothing; the same one may be sent again.
    pub fn busy() -> Self {
        tracing::warn!("no database connection came free in time: answered 503 busy");
        Self {
            retry_after: Some(2),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "the server is busy: try again in a moment")
        }
    }

    pub fn not_found(what: &str, code: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", format!("no {what} `{code}`"))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Conflict(what) => Self::new(StatusCode::CONFLICT, "conflict", format!("{what} already exists")),
            StoreError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
            StoreError::Db(sqlx::Error::PoolTimedOut) => Self::busy(),
            // Logged once in `into_response`; the body says nothing internal.
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", other.to_string()),
        }
    }
}

/// A multipart body that could not be read: 413 `input-too-large` over the route's body limit,
/// else 400 `invalid-multipart`.
impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(StatusCode::PAYLOAD_TOO_LARGE, "input-too-large", "the request body is too large")
        } else {
            Self::new(StatusCode::BAD_REQUEST, "invalid-multipart", e.body_text())
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let (status, details) = match &e {
            PluginError::NotFound { .. } => (StatusCode::NOT_FOUND, None),
            PluginError::InvalidFacts(errors) => (StatusCode::UNPROCESSABLE_ENTITY, serde_json::to_value(errors).ok()),
            PluginError::NotInForce(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            PluginError::InputTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, None),
            PluginError::Timeout { .. }
            | PluginError::ShuttingDown
            | PluginError::Busy
            | PluginError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, None),
            // The plugin misbehaved: a bad gateway, in HTTP's terms.
            _ => (StatusCode::BAD_GATEWAY, None),
        };
        if e.is_fault() {
            tracing::warn!(code = e.code(), error = ?e, "plugin call failed");
        }
        // A plugin's fault is reported by kind; the trap text and stderr stay in the log.
        let message = match &e {
            PluginError::Crash { .. } => "the domain plugin crashed; the call was contained".to_string(),
            PluginError::ContractViolation(_) => {
                "the domain plugin gave an answer that breaks the contract".to_string()
            }
            other => other.to_string(),
        };
        Self { status, code: e.code(), message, field: None, details: details.map(Box::new), retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error()
            && self.status != StatusCode::BAD_GATEWAY
            && self.status != StatusCode::SERVICE_UNAVAILABLE
        {
            tracing::error!(code = self.code, message = %self.message, "request failed");
            "internal error".to_string()
        } else {
            self.message
        };
        let body = Body {
            error: Inner {
                code: self.code,
                message: &message,
                field: self.field.as_deref(),
                details: self.details.as_deref(),
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        r
    }
}

/// 429 with `Retry-After`, as a response: for handlers that answer [`Response`] directly.
pub fn too_many(code: &'static str, message: &str, wait_secs: u64) -> Response {
    ApiError::too_many(code, message, wait_secs).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn an_exhausted_pool_answers_503_busy_with_retry_after_not_500() {
        let e = ApiError::from(StoreError::Db(sqlx::Error::PoolTimedOut));
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "busy"));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        // Any other database failure stays an internal error.
        assert_eq!(ApiError::from(StoreError::Db(sqlx::Error::RowNotFound)).status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
