//! The model's routes: decode latents, sample, interpolate, encode an uploaded PNG. Every
//! latent is checked against the run before it reaches the model.

use super::error::{ApiError, ApiJson, ApiResult, Path, Query, blocking};
use super::{AppState, MAX_ABS_Z, MAX_DECODE_BATCH, MAX_SAMPLES, MAX_STEPS};
use crate::explorer::Explorer;
use crate::upload::{Invert, prepare_png};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use vae::latent::interpolate::Interpolation;

/// An image as a `data:` URL the page can show directly.
fn data_url(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

fn png_urls(explorer: &Explorer, images: &[f32]) -> ApiResult<Vec<String>> {
    let pixels = explorer.info.height * explorer.info.width * explorer.info.channels;
    images
        .chunks(pixels)
        .map(|image| Ok(data_url(&explorer.png(image)?)))
        .collect()
}

/// Checks one latent vector against the run.
fn check_z(explorer: &Explorer, z: &[f32], what: &str) -> ApiResult<()> {
    let latent = explorer.info.latent_dim;
    if z.len() != latent {
        return Err(ApiError::bad(format!(
            "{what} has {} values but run '{}' has {latent} latent dimensions",
            z.len(),
            explorer.info.name
        )));
    }
    if let Some(v) = z.iter().find(|v| !v.is_finite() || v.abs() > MAX_ABS_Z) {
        return Err(ApiError::bad(format!(
            "{what} holds {v}; every value must be a finite number with |z| <= {MAX_ABS_Z}"
        )));
    }
    Ok(())
}

/// `Server-Timing` header with the time spent answering, so clients can tell server time from
/// network time.
fn with_timing(mut response: Response, start: Instant) -> Response {
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeRequest {
    /// Latent vectors, one per image.
    pub z: Vec<Vec<f32>>,
    /// A conditional run's class (or attributes); `"all"`: every class for each latent.
    #[serde(default)]
    pub class: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImagesResponse {
    /// PNG images as `data:` URLs.
    pub images: Vec<String>,
    /// The latent of each image.
    pub z: Vec<Vec<f32>>,
}

impl ImagesResponse {
    /// The images, with their latents `z` (one after another), as the page reads them.
    fn of(explorer: &Explorer, z: &[f32], images: &[f32]) -> Result<Self, ApiError> {
        Ok(ImagesResponse {
            images: png_urls(explorer, images)?,
            z: z.chunks(explorer.info.latent_dim)
                .map(<[f32]>::to_vec)
                .collect(),
        })
    }
}

pub(super) async fn decode(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
    ApiJson(request): ApiJson<DecodeRequest>,
) -> ApiResult<Response> {
    let start = Instant::now();
    let explorer = state.get(&run)?;
    if request.z.is_empty() || request.z.len() > MAX_DECODE_BATCH {
        return Err(ApiError::bad(format!(
            "z must hold 1 to {MAX_DECODE_BATCH} latent vectors (got {})",
            request.z.len()
        )));
    }
    for (i, z) in request.z.iter().enumerate() {
        check_z(&explorer, z, &format!("z[{i}]"))?;
    }
    let response = blocking(move || {
        let flat: Vec<f32> = request.z.concat();
        let images = explorer.decode(&flat, request.class.as_deref())?;
        Ok(ImagesResponse {
            images: png_urls(&explorer, &images)?,
            z: request.z,
        })
    })
    .await?;
    Ok(with_timing(Json(response).into_response(), start))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleRequest {
    #[serde(default = "default_samples")]
    pub n: usize,
    #[serde(default)]
    pub seed: u64,
    /// Draw through the run's second stage (`vae two-stage`) instead of z ~ N(0, I).
    #[serde(default)]
    pub two_stage: bool,
    /// A conditional run's class (or attributes).
    #[serde(default)]
    pub class: Option<String>,
}

fn default_samples() -> usize {
    16
}

pub(super) async fn sample(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
    ApiJson(request): ApiJson<SampleRequest>,
) -> ApiResult<Response> {
    let explorer = state.get(&run)?;
    if !(1..=MAX_SAMPLES).contains(&request.n) {
        return Err(ApiError::bad(format!(
            "n must be 1 to {MAX_SAMPLES} (got {})",
            request.n
        )));
    }
    let response = blocking(move || {
        let (z, images) = explorer.sample(
            request.n,
            request.seed,
            request.two_stage,
            request.class.as_deref(),
        )?;
        ImagesResponse::of(&explorer, &z, &images)
    })
    .await?;
    Ok(Json(response).into_response())
}

/// One end of an interpolation: a test image (its z_mean) or a latent vector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub index: Option<usize>,
    pub z: Option<Vec<f32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterpolateRequest {
    pub from: Endpoint,
    pub to: Endpoint,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_method")]
    pub method: Interpolation,
    /// A conditional run's class (or attributes).
    #[serde(default)]
    pub class: Option<String>,
}

fn default_steps() -> usize {
    10
}

fn default_method() -> Interpolation {
    Interpolation::Linear
}

fn endpoint_latent(explorer: &Explorer, end: &Endpoint, what: &str) -> ApiResult<Vec<f32>> {
    match (end.index, &end.z) {
        (Some(i), None) => explorer
            .test_latent(i)
            .map(<[f32]>::to_vec)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string())),
        (None, Some(z)) => {
            check_z(explorer, z, &format!("{what}.z"))?;
            Ok(z.clone())
        }
        _ => Err(ApiError::bad(format!(
            "{what} must give either \"index\" (a test image) or \"z\" (a latent vector)"
        ))),
    }
}

pub(super) async fn interpolate(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
    ApiJson(request): ApiJson<InterpolateRequest>,
) -> ApiResult<Response> {
    let explorer = state.get(&run)?;
    if !(2..=MAX_STEPS).contains(&request.steps) {
        return Err(ApiError::bad(format!(
            "steps must be 2 to {MAX_STEPS} (got {})",
            request.steps
        )));
    }
    let a = endpoint_latent(&explorer, &request.from, "from")?;
    let b = endpoint_latent(&explorer, &request.to, "to")?;
    let response = blocking(move || {
        let (z, images) = explorer.interpolate(
            &a,
            &b,
            request.steps,
            request.method,
            request.class.as_deref(),
        )?;
        ImagesResponse::of(&explorer, &z, &images)
    })
    .await?;
    Ok(Json(response).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodeQuery {
    #[serde(default)]
    pub invert: Invert,
    /// A conditional run's class (or attributes) to encode and reconstruct the upload as.
    #[serde(default)]
    pub class: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EncodeResponse {
    pub z_mean: Vec<f32>,
    pub z_log_var: Option<Vec<f32>>,
    /// Position on the map.
    pub map: [f32; 2],
    /// Whether the grey levels were inverted to match the training images.
    pub inverted: bool,
    /// The model's input, as the model sees it.
    pub input: String,
    /// Decoded from z_mean.
    pub reconstruction: String,
}

pub(super) async fn encode(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
    Query(query): Query<EncodeQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let explorer = state.get(&run)?;
    let body = body?;
    if body.is_empty() {
        return Err(ApiError::bad(
            "the request body is empty; POST the bytes of a PNG image",
        ));
    }
    if explorer.info.channels != 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "uploads are read as grey images, and this run models colour images; upload to a grey-level run",
        ));
    }
    let response = blocking(move || {
        let info = &explorer.info;
        let prepared = prepare_png(&body, info.height, info.width, query.invert)?;
        let class = query.class.as_deref();
        let encoding = explorer.encode(&prepared.pixels, class)?;
        let reconstruction = explorer.decode(&encoding.z_mean, class)?;
        Ok(EncodeResponse {
            input: data_url(&explorer.png(&prepared.pixels)?),
            reconstruction: data_url(&explorer.png(&reconstruction)?),
            z_mean: encoding.z_mean,
            z_log_var: encoding.z_log_var,
            map: encoding.map,
            inverted: prepared.inverted,
        })
    })
    .await?;
    Ok(Json(response).into_response())
}
