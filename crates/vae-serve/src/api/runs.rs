//! The runs' routes: the list of runs, one run's description, its latent map and its test
//! images.

use super::AppState;
use super::error::{ApiError, ApiResult, Path};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub(super) async fn runs(State(state): State<Arc<AppState>>) -> Response {
    let infos: Vec<_> = state.explorers.iter().map(|e| &e.info).collect();
    Json(infos).into_response()
}

pub(super) async fn run_info(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(&state.get(&run)?.info).into_response())
}

pub(super) async fn map(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
) -> ApiResult<Response> {
    let explorer = state.get(&run)?;
    match explorer.map() {
        Some(map) => Ok(Json(map).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            explorer
                .info
                .map_note
                .clone()
                .unwrap_or_else(|| "this run has no map".into()),
        )),
    }
}

pub(super) async fn test_image(
    State(state): State<Arc<AppState>>,
    Path((run, index)): Path<(String, String)>,
) -> ApiResult<Response> {
    let explorer = state.get(&run)?;
    let index: usize = index.parse().map_err(|_| {
        ApiError::bad(format!(
            "'{index}' is not a test image index (a whole number >= 0)"
        ))
    })?;
    let pixels = explorer
        .test_image(index)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    let png = explorer.png(&pixels)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        png,
    )
        .into_response())
}
