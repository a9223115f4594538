//! The HTTP side: the embedded page, the JSON API, and the checks every request passes.

use crate::jobs::{JobState, JobView, Refused, State, Work};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Request, State as St};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sisr::models::ModelKind;
use sisr::upscale::UpscaleOptions;
use sisr_image::OutputFormat;
use std::sync::Arc;

type Shared = Arc<State>;

/// An API error: a status and a message naming the problem (the CLI's texts where it has one).
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

pub(crate) fn router(state: Shared) -> Router {
    let limit = state.config.max_upload_bytes;
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/static/{name}", get(|Path(name): Path<String>| async move { asset(&name) }))
        .route("/api/openapi.json", get(|| async { asset("openapi.json") }))
        .route("/api/models", get(models))
        .route("/api/charts/{scale}", get(chart))
        .route("/api/jobs", axum::routing::post(create).layer(DefaultBodyLimit::max(limit)))
        .route("/api/jobs/{id}", get(status).delete(delete))
        .route("/api/jobs/{id}/result", get(result))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such page or API path".into()) })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .with_state(state)
}

/// The embedded files: a fixed table, so no request path reaches the file system.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../static/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../static/app.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../static/style.css")),
    ("openapi.json", "application/json", include_bytes!("../static/openapi.json")),
];

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => ([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "no-cache")], *bytes).into_response(),
        None => ApiError(StatusCode::NOT_FOUND, format!("no asset {name:?}")).into_response(),
    }
}

/// The Host a request names must be this server (a page on another site that resolves its
/// name to 127.0.0.1 is refused: DNS rebinding), and writes must come from this server's own
/// pages (a form on another site can post without CORS).
async fn guard(St(state): St<Shared>, request: Request, next: Next) -> Response {
    let allowed = |host: &str| {
        let port = state.addr.port();
        if !state.addr.ip().is_loopback() {
            // Bound to a network address on purpose: the user names the hosts that reach it.
            return true;
        }
        [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), state.addr.to_string()].iter().any(|h| h.eq_ignore_ascii_case(host))
    };
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !allowed(host) {
        return ApiError(StatusCode::FORBIDDEN, format!("Host {host:?} is not this server; open it as http://127.0.0.1:{}", state.addr.port())).into_response();
    }
    if matches!(*request.method(), Method::POST | Method::DELETE | Method::PUT | Method::PATCH)
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !origin.strip_prefix("http://").is_some_and(allowed) {
            return ApiError(StatusCode::FORBIDDEN, format!("requests from {origin:?} are not accepted; use the page this server serves")).into_response();
        }
    }
    next.run(request).await
}

/// The shipped models (as `sisr models --json`), the results table and bicubic's scales.
async fn models(St(state): St<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut files: Vec<serde_json::Value> = state
        .files
        .iter()
        .map(|((kind, scale), path)| json!({ "model": kind.name(), "scale": scale, "file": path.file_name().map(|n| n.to_string_lossy().into_owned()) }))
        .collect();
    files.sort_by_key(|v| v.to_string());
    let listed = sisr::zoo::catalogue().map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({
        "models": listed,
        "files": files,
        "bicubic": ModelKind::Bicubic.scales(),
        "default": sisr::zoo::DEFAULT_KIND.name(),
        "results": sisr::zoo::results(),
        "published": sisr::zoo::published(),
    })))
}

/// The PSNR-against-parameters charts shipped with the weights (`sisr models --chart`).
async fn chart(Path(scale): Path<String>) -> Response {
    let png: &[u8] = match scale.as_str() {
        "x2" => include_bytes!("../../../weights/chart-x2.png"),
        "x3" => include_bytes!("../../../weights/chart-x3.png"),
        "x4" => include_bytes!("../../../weights/chart-x4.png"),
        _ => return ApiError(StatusCode::NOT_FOUND, format!("no chart for {scale:?} (x2, x3 or x4)")).into_response(),
    };
    ([(header::CONTENT_TYPE, "image/png")], png).into_response()
}

/// The form of `POST /api/jobs`.
#[derive(Default)]
struct Form {
    image: Option<(Option<String>, Vec<u8>)>,
    model: Option<String>,
    scale: Option<String>,
    tile: Option<String>,
    ensemble: Option<String>,
    format: Option<String>,
}

async fn read_form(mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let too_large = |e: axum::extract::multipart::MultipartError| ApiError(e.status(), format!("cannot read the upload: {}", e.body_text()));
    while let Some(field) = multipart.next_field().await.map_err(too_large)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(too_large)?;
        let text = || String::from_utf8(data.to_vec()).map_err(|_| bad(format!("field {name:?} is not text")));
        match name.as_str() {
            "image" => form.image = Some((file_name, data.to_vec())),
            "model" => form.model = Some(text()?),
            "scale" => form.scale = Some(text()?),
            "tile" => form.tile = Some(text()?),
            "ensemble" => form.ensemble = Some(text()?),
            "format" => form.format = Some(text()?),
            other => return Err(bad(format!("unknown field {other:?} (image, model, scale, tile, ensemble, format)"))),
        }
    }
    Ok(form)
}

/// A download name from the uploaded file's name: its stem's plain characters only.
fn download_name(file_name: Option<&str>, scale: usize, format: OutputFormat) -> String {
    let base = file_name.unwrap_or("image").rsplit(['/', '\\']).next().unwrap_or("image");
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let clean: String = stem.chars().filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ')).take(80).collect();
    let clean = if clean.trim().is_empty() { "image".to_string() } else { clean };
    format!("{clean}_x{scale}.{}", format.extension())
}

async fn create(St(state): St<Shared>, multipart: Multipart) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let form = read_form(multipart).await?;
    let (file_name, bytes) = form.image.ok_or_else(|| bad("no `image` field in the form"))?;
    let name = form.model.as_deref().unwrap_or(sisr::zoo::DEFAULT_KIND.name());
    let kind = ModelKind::parse(name).ok_or_else(|| bad(format!("unknown model {name:?} (GET /api/models lists them)")))?;
    let scale: usize = match form.scale.as_deref() {
        None => 2,
        Some(s) => s.trim().parse().map_err(|_| bad(format!("scale {s:?} is not a number")))?,
    };
    let shipped = if kind == ModelKind::Bicubic {
        kind.scales().contains(&scale)
    } else {
        sisr::zoo::find(kind, scale).is_some() || state.files.contains_key(&(kind, scale))
    };
    if !shipped {
        return Err(bad(format!("{kind} x{scale}: no shipped model (GET /api/models lists them)")));
    }
    let tile: usize = match form.tile.as_deref() {
        None | Some("") => 256,
        Some(t) => t.trim().parse().map_err(|_| bad(format!("tile {t:?} is not a number")))?,
    };
    let ensemble = match form.ensemble.as_deref().map(str::trim) {
        None | Some("" | "false" | "0" | "off") => false,
        Some("true" | "1" | "on") => true,
        Some(other) => return Err(bad(format!("ensemble {other:?} is not true or false"))),
    };
    let forced = match form.format.as_deref() {
        None | Some("") => None,
        Some(f) => Some(
            OutputFormat::from_extension(std::path::Path::new(&format!("x.{f}"))).ok_or_else(|| bad(format!("format {f:?} is not png, jpg, webp or tif")))?,
        ),
    };
    let limits = state.config.limits;
    let name = file_name.clone().unwrap_or_else(|| "upload".into());
    // Decoding is CPU work: off the async threads.
    let decoded = tokio::task::spawn_blocking(move || {
        let image = sisr_image::io::decode(&bytes, std::path::Path::new(&name), &limits)?;
        Ok::<_, sisr_image::ImageIoError>((image, OutputFormat::of_bytes(&bytes)))
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (image, own_format) = decoded.map_err(|e| {
        use sisr_image::ImageIoError as E;
        let status = match e {
            E::TooLarge { .. } | E::OverAllocationLimit { .. } | E::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError(status, e.to_string())
    })?;
    let out_bytes = sisr::upscale::result_bytes(&image, scale);
    if out_bytes > limits.max_alloc {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the x{scale} result would be {}x{} ({} MiB), over the server's limit of {} MiB",
                image.width * scale,
                image.height * scale,
                out_bytes >> 20,
                limits.max_alloc >> 20
            ),
        ));
    }
    // As `sisr upscale` names it: the input's format when sisr writes it (PNG for alpha that
    // JPEG cannot hold, and for BMP), or the one asked for.
    let format = forced.unwrap_or(match own_format {
        Some(OutputFormat::Jpeg) if image.layout.has_alpha() => OutputFormat::Png,
        Some(f) => f,
        None => OutputFormat::Png,
    });
    if format == OutputFormat::Jpeg && image.layout.has_alpha() {
        return Err(bad("JPEG cannot store the alpha channel; ask for png, webp or tif"));
    }
    let view = JobView {
        id: String::new(),
        state: JobState::Queued,
        progress: 0.0,
        error: None,
        model: kind.name().into(),
        scale,
        input: [image.width, image.height],
        output: [image.width * scale, image.height * scale],
        filename: download_name(file_name.as_deref(), scale, format),
        mime: format.mime(),
    };
    let opts = UpscaleOptions { tile, ensemble };
    match state.submit(view, |id, cancel| Work::new(id, cancel, image, kind, scale, format, opts)) {
        Ok(view) => Ok((StatusCode::ACCEPTED, Json(view))),
        Err(Refused::Full) => {
            Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("the queue is full ({} jobs waiting); try again shortly", state.config.queue)))
        }
        Err(Refused::Closed) => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down".into())),
    }
}

fn no_job(id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no job {id:?} (finished jobs expire)"))
}

async fn status(St(state): St<Shared>, Path(id): Path<String>) -> Result<Json<JobView>, ApiError> {
    state.view(&id).map(Json).ok_or_else(|| no_job(&id))
}

async fn result(St(state): St<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match state.result(&id) {
        None => Err(no_job(&id)),
        Some(Err(view)) => Err(ApiError(
            StatusCode::CONFLICT,
            format!("job {id} is {}, not done", serde_json::to_value(view.state).unwrap_or_default().as_str().unwrap_or("")),
        )),
        Some(Ok((view, bytes))) => {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(view.mime));
            let disposition = format!("attachment; filename=\"{}\"", view.filename);
            headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")));
            Ok((headers, bytes).into_response())
        }
    }
}

async fn delete(St(state): St<Shared>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if state.delete(&id) { Ok(StatusCode::NO_CONTENT) } else { Err(no_job(&id)) }
}
