//! The API's failures: every one a 4xx or 5xx answer whose body is `{"error": "..."}`, from
//! the library's errors, bad uploads and axum's own rejections alike; and the extractors that
//! answer in that form.

use crate::upload::UploadError;
use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// A failed request: its status and a one-line message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
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

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

/// A request the library refuses (a class the run does not know, none for a conditional run,
/// a count too large for memory) is the client's to fix: 400; anything else is the server's:
/// 500.
impl From<vae::Error> for ApiError {
    fn from(e: vae::Error) -> Self {
        let status = match e {
            vae::Error::Config(_) | vae::Error::TooLarge(_) => StatusCode::BAD_REQUEST,
            vae::Error::File { .. }
            | vae::Error::Io { .. }
            | vae::Error::Data(_)
            | vae::Error::Numerical(_)
            | vae::Error::Fetch(_)
            | vae::Error::Bug(_)
            | vae::Error::Interrupted(_)
            | vae::Error::Stopped => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let status = match e {
            UploadError::NotPng => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UploadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UploadError::Corrupt(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        ApiError::new(r.status(), r.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// axum's extractors, answering their rejections in the API's JSON error form.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Runs model work off the async workers; a panic inside becomes a 500 answer.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the model failed on this request: {e}"),
        )
    })?
}
