//! The one error type of the HTTP API: it picks the status and writes an [`ErrorBody`], naming
//! the input and the problem, and hides internals behind a short message (details go to the log).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use logwarden_core::wire::ErrorBody;

use crate::ingest::IngestError;
use crate::search::SearchError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// A failure of ours: logged in full, answered in short.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "{context}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{context}; see the collector's log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        let status = match e {
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::BadCompression { .. } => StatusCode::BAD_REQUEST,
            IngestError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> ApiError {
        match e {
            SearchError::BadQuery { .. } | SearchError::BadParam(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            SearchError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            SearchError::Index(inner) => ApiError::internal("search failed", inner),
        }
    }
}
