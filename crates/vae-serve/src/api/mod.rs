//! The JSON API behind the page (documented in docs/explorer.md). Every request
//! is validated before it reaches a model; every failure is a 4xx or 5xx answer with a body
//! `{"error": "..."}`. No request names a file: runs are looked up by name among those loaded
//! at start, test images by index, and the page's files are compiled into the binary.

use super::explorer::Explorer;
use super::upload::{Invert, UploadError, prepare_png};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use vae::latent::interpolate::Interpolation;

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

/// A failed request: its status and a one-line message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
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

/// A request the library refuses (a class the run does not know, or none for a conditional
/// run) is the client's to fix: 400; anything else is the server's: 500.
impl From<vae::Error> for ApiError {
    fn from(e: vae::Error) -> Self {
        let status = match e {
            vae::Error::Config(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
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

type ApiResult<T> = Result<T, ApiError>;

/// axum's extractors, answering their rejections in the API's JSON error form.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct ApiJson<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct Path<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct Query<T>(T);

/// Runs model work off the async workers; a panic inside becomes a 500 answer.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the model failed on this request: {e}"),
        )
    })?
}

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

async fn decode(
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

async fn sample(
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
    if request.two_stage && !explorer.info.two_stage {
        return Err(ApiError::bad(format!(
            "run {run} has no second stage; fit one with `vae two-stage RUN`"
        )));
    }
    let response = blocking(move || {
        let (z, images) = explorer.sample(
            request.n,
            request.seed,
            request.two_stage,
            request.class.as_deref(),
        )?;
        Ok(ImagesResponse {
            images: png_urls(&explorer, &images)?,
            z: z.chunks(explorer.info.latent_dim)
                .map(<[f32]>::to_vec)
                .collect(),
        })
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

async fn interpolate(
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
        Ok(ImagesResponse {
            images: png_urls(&explorer, &images)?,
            z: z.chunks(explorer.info.latent_dim)
                .map(<[f32]>::to_vec)
                .collect(),
        })
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

async fn encode(
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

async fn runs(State(state): State<Arc<AppState>>) -> Response {
    let infos: Vec<_> = state.explorers.iter().map(|e| &e.info).collect();
    Json(infos).into_response()
}

async fn run_info(
    State(state): State<Arc<AppState>>,
    Path(run): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(&state.get(&run)?.info).into_response())
}

async fn map(State(state): State<Arc<AppState>>, Path(run): Path<String>) -> ApiResult<Response> {
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

async fn test_image(
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

/// The page's files, compiled in.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such page or API route; see docs/explorer.md",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method (the API's reads are GET, its actions POST)",
    )
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
                    include_str!("static/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("static/app.js"),
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("static/style.css")) }),
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
