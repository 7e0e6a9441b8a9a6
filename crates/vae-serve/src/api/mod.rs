//! The JSON API behind the page (documented in docs/explorer.md). Every request
//! is validated before it reaches a model; every failure is a 4xx or 5xx answer with a body
//! `{"error": "..."}`. No request names a file: runs are looked up by name among those loaded
//! at start, test images by index, and the page's files are compiled into the binary.

//!
//! By concern: [`error`] (the error answers and extractors), [`latents`] (decode, sample,
//! interpolate, encode), [`runs`] (the runs, their maps and test images), [`page`] (the page's
//! files and unknown routes); the router and the limits are here.

mod error;
mod latents;
mod page;
mod runs;

pub use error::{ApiError, ErrorBody};
pub use latents::{
    DecodeRequest, EncodeQuery, EncodeResponse, Endpoint, ImagesResponse, InterpolateRequest,
    SampleRequest,
};

use crate::explorer::Explorer;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use latents::{decode, encode, interpolate, sample};
use page::{asset, method_not_allowed, not_found};
use runs::{map, run_info, runs, test_image};
use std::sync::Arc;

/// Largest JSON request body.
pub const MAX_JSON_BODY: usize = 64 << 10;
/// Largest uploaded PNG.
pub const MAX_UPLOAD_BODY: usize = 8 << 20;
/// Most latents one decode request may carry.
pub const MAX_DECODE_BATCH: usize = 256;
/// Most images one sample request may ask for.
pub const MAX_SAMPLES: usize = 64;
/// Most points of one interpolation.
pub const MAX_STEPS: usize = 64;
/// Largest |z| accepted: the prior puts next to nothing beyond 10, and far beyond it the
/// decoder's output means nothing.
pub const MAX_ABS_Z: f32 = 1000.0;

/// The runs being served, in the order given on the command line.
#[derive(Debug)]
pub struct AppState {
    pub explorers: Vec<Arc<Explorer>>,
}

impl AppState {
    fn get(&self, name: &str) -> Result<Arc<Explorer>, ApiError> {
        self.explorers
            .iter()
            .find(|e| e.info.name == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .explorers
                    .iter()
                    .map(|e| e.info.name.as_str())
                    .collect();
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no run named '{name}'; served runs: {}", names.join(", ")),
                )
            })
    }
}

/// The explorer's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let run = "/api/runs/{run}";
    Router::new()
        .route(
            "/",
            get(|| async {
                asset(
                    "text/html; charset=utf-8",
                    include_str!("../static/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/app.js"),
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../static/style.css"),
                )
            }),
        )
        .route("/api/runs", get(runs))
        .route(run, get(run_info))
        .route(&format!("{run}/map"), get(map))
        .route(&format!("{run}/images/{{index}}"), get(test_image))
        .route(&format!("{run}/decode"), post(decode))
        .route(&format!("{run}/sample"), post(sample))
        .route(&format!("{run}/interpolate"), post(interpolate))
        .route(
            &format!("{run}/encode"),
            post(encode).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}
