//! The explorer's server and JSON API over loopback, on two small runs trained on real
//! Fashion-MNIST: answers agree with the model, uploads round-trip, every malformed request
//! gets a 4xx JSON error, no request reaches a file, and 10k concurrent decodes all succeed.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::OnceLock;
use vae_serve::explorer::Explorer;
use vae_serve::loadtest::{LoadTestOptions, load_test};
use vae_serve::upload::{Invert, UploadError, prepare_png};
use vae_serve::{self as serve, ServeOptions, Server};

const MAP_LIMIT: usize = 2000;

fn options() -> ServeOptions {
    let runs = crate::runs();
    ServeOptions {
        runs: vec![runs.vae.clone(), runs.autoencoder.clone()],
        host: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        device: None,
        map_limit: MAP_LIMIT,
    }
}

/// One server for the whole file.
fn server() -> SocketAddr {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let state = serve::load(&options()).unwrap();
            Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), Default::default()).unwrap()
        })
        .addr()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and JSON body of a request; `body` is sent as is with `content_type`.
fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let url = format!("http://{}{path}", server());
    let agent = agent();
    let mut response = match method {
        "GET" => agent.get(&url).call(),
        "POST" => agent
            .post(&url)
            .header("content-type", content_type)
            .send(body),
        "DELETE" => agent.delete(&url).call(),
        _ => unreachable!(),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

fn post(path: &str, body: Value) -> (u16, Value) {
    request(
        "POST",
        path,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn get(path: &str) -> (u16, Value) {
    request("GET", path, "", b"")
}

/// Pixels of a `data:image/png;base64,` answer, as the page would show them.
fn png_pixels(data_url: &str) -> image::GrayImage {
    use base64::Engine as _;
    let b64 = data_url
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_luma8()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The same runs loaded straight from the library, to check the API against.
fn explorer() -> &'static Explorer {
    static E: OnceLock<Explorer> = OnceLock::new();
    E.get_or_init(|| {
        let runs = crate::runs();
        Explorer::load(&runs.vae, "vae".into(), None, MAP_LIMIT).unwrap()
    })
}

#[test]
fn runs_are_listed_with_their_dimensions_ordered_by_kl() {
    let (status, runs) = get("/api/runs");
    assert_eq!(status, 200);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let (vae, ae) = (&runs[0], &runs[1]);
    assert_eq!(vae["name"], "vae");
    assert_eq!(vae["kind"], "vae");
    assert_eq!(ae["kind"], "autoencoder");
    assert_eq!(vae["test_images"], MAP_LIMIT);
    assert_eq!(vae["projection"]["kind"], "pca");
    assert_eq!(ae["projection"]["kind"], "z");
    let kls: Vec<f64> = vae["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kl"].as_f64().unwrap())
        .collect();
    assert_eq!(kls.len(), 4);
    assert!(kls.windows(2).all(|w| w[0] >= w[1]), "{kls:?}");
    // The mean KL per dimension is the one `vae eval` reports for the same images.
    let runs = crate::runs();
    let run = vae::run::Run::load(&runs.vae, None).unwrap();
    let mut test = run.test_data().unwrap();
    test.truncate(MAP_LIMIT);
    let report = vae::eval::evaluate(
        &run.model,
        &test,
        run.config.loss,
        run.config.is_density(),
        0,
        &run.device,
        1,
    )
    .unwrap();
    for d in vae["dims"].as_array().unwrap() {
        let index = d["index"].as_u64().unwrap() as usize;
        let kl = d["kl"].as_f64().unwrap();
        assert!(
            (kl - report.kl_per_dim[index]).abs() < 1e-3,
            "{kl} vs {report:?}"
        );
    }
    let active = vae["dims"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["active"] == true)
        .count();
    assert_eq!(active, report.active_units);
    // An autoencoder's sliders span its data, which has no prescribed scale.
    for d in ae["dims"].as_array().unwrap() {
        assert!(d["kl"].is_null());
        let range = floats(&d["range"]);
        assert!(range[0] < range[1]);
    }
}

#[test]
fn the_map_is_the_projection_of_each_test_images_z_mean() {
    let (status, map) = get("/api/runs/vae/map");
    assert_eq!(status, 200);
    let (x, y) = (floats(&map["x"]), floats(&map["y"]));
    assert_eq!(x.len(), MAP_LIMIT);
    assert_eq!(map["label"].as_array().unwrap().len(), MAP_LIMIT);
    let e = explorer();
    for i in [0, 17, 1999] {
        let (px, py) = e.info.projection.project(e.test_latent(i).unwrap());
        assert!((px - x[i]).abs() < 1e-5 && (py - y[i]).abs() < 1e-5);
    }
    // A click on the map gives a latent on the map's plane, which projects back to the click.
    let z = e.info.projection.unproject(0.7, -1.3);
    let (px, py) = e.info.projection.project(&z);
    assert!(
        (px - 0.7).abs() < 1e-4 && (py + 1.3).abs() < 1e-4,
        "{px} {py}"
    );
    // PCA axes are orthonormal.
    let [u, v] = &e.info.projection.axes;
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
    assert!((dot(u, u) - 1.0).abs() < 1e-4 && dot(u, v).abs() < 1e-4);
}

#[test]
fn decode_answers_the_models_own_image() {
    let e = explorer();
    let z = e.test_latent(3).unwrap().to_vec();
    let (status, body) = post(
        "/api/runs/vae/decode",
        json!({ "z": [z.clone(), vec![0.0; 4]] }),
    );
    assert_eq!(status, 200, "{body}");
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let served = png_pixels(images[0].as_str().unwrap());
    assert_eq!(served.dimensions(), (28, 28));
    let expected = e.png(&e.decode(&z, None).unwrap()).unwrap();
    let expected = image::load_from_memory(&expected).unwrap().to_luma8();
    assert_eq!(served, expected);
    // Different latents draw different images.
    assert_ne!(served, png_pixels(images[1].as_str().unwrap()));
}

#[test]
fn interpolation_runs_between_the_two_test_images_z_means() {
    let e = explorer();
    for method in ["linear", "slerp"] {
        let (status, body) = post(
            "/api/runs/vae/interpolate",
            json!({ "from": { "index": 5 }, "to": { "index": 9 }, "steps": 7, "method": method }),
        );
        assert_eq!(status, 200, "{body}");
        let z: Vec<Vec<f32>> = body["z"].as_array().unwrap().iter().map(floats).collect();
        assert_eq!(z.len(), 7);
        assert_eq!(body["images"].as_array().unwrap().len(), 7);
        assert_eq!(z[0], e.test_latent(5).unwrap());
        assert_eq!(z[6], e.test_latent(9).unwrap());
    }
    // Spherical interpolation keeps the norm of equal-norm ends; the straight line cuts inside.
    let a = vec![2.0, 0.0, 0.0, 0.0];
    let b = vec![0.0, 2.0, 0.0, 0.0];
    let norm_mid = |method: &str| {
        let (_, body) = post(
            "/api/runs/vae/interpolate",
            json!({ "from": { "z": a }, "to": { "z": b }, "steps": 3, "method": method }),
        );
        floats(&body["z"][1])
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
    };
    assert!((norm_mid("slerp") - 2.0).abs() < 1e-4);
    assert!((norm_mid("linear") - 2f32.sqrt()).abs() < 1e-4);
}

#[test]
fn samples_are_reproducible_by_seed() {
    let draw = |run: &str, seed: u64| {
        post(
            &format!("/api/runs/{run}/sample"),
            json!({ "n": 4, "seed": seed }),
        )
    };
    let (status, a) = draw("vae", 7);
    assert_eq!(status, 200);
    assert_eq!(a, draw("vae", 7).1);
    assert_ne!(a["z"], draw("vae", 8).1["z"]);
    // The autoencoder gets the same request: the page shows both side by side.
    let (status, ae) = draw("ae", 7);
    assert_eq!(status, 200);
    assert_eq!(ae["images"].as_array().unwrap().len(), 4);
    assert_eq!(floats(&ae["z"][0]).len(), 2);
}

/// A run with a second stage (`vae two-stage`) offers it, and its samples come through it.
#[test]
fn samples_can_come_through_the_second_stage() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&crate::runs().vae).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    let config = vae::two_stage::SecondStageConfig {
        epochs: 1,
        limit: Some(500),
        ..Default::default()
    };
    vae::two_stage::fit(&run, &config).unwrap();
    let e = Explorer::load(dir.path(), "staged".into(), None, 100).unwrap();
    assert!(e.info.two_stage);
    let (z, images) = e.sample(4, 7, true, None).unwrap();
    let (prior_z, _) = e.sample(4, 7, false, None).unwrap();
    assert_eq!(images.len(), 4 * 28 * 28);
    assert_eq!(z.len(), prior_z.len());
    assert_ne!(z, prior_z, "the second stage maps u to other codes");
    assert!(!explorer().info.two_stage);
    let err = explorer().sample(4, 7, true, None).unwrap_err();
    assert!(err.to_string().contains("vae two-stage"), "{err}");

    // The run trains on: the second stage holds codes of the old encoder. The explorer
    // leaves it out instead of decoding them with the new decoder, says why in one line, and
    // samples from the prior as before.
    let more = vae::TrainConfig {
        epochs: run.config.epochs + 1,
        ..run.config.clone()
    };
    let resume = vae::train::TrainOptions { resume: true };
    vae::train::train(&more, dir.path(), resume).unwrap();
    let e = Explorer::load(dir.path(), "staged".into(), None, 100).unwrap();
    let info = serde_json::to_value(&e.info).unwrap();
    assert_eq!(info["two_stage"], false, "{info}");
    let note = info["two_stage_note"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        note.contains("was fitted on other weights")
            && note.contains("fit it again with `vae two-stage")
            && !note.contains('\n'),
        "{info}"
    );
    let (z, images) = e.sample(4, 7, false, None).unwrap();
    assert_eq!((z.len(), images.len()), (4 * 4, 4 * 28 * 28));
    let err = e.sample(4, 7, true, None).unwrap_err().to_string();
    assert!(err.contains("was fitted on other weights"), "{err}");
}

/// A test image drawn as the page draws it, uploaded: the model sees the same image and puts
/// it where the map has it.
#[test]
fn an_uploaded_png_is_encoded_like_the_test_image_it_shows() {
    let e = explorer();
    let png = e.png(&e.test_image(12).unwrap()).unwrap();
    let (status, body) = request("POST", "/api/runs/vae/encode", "image/png", &png);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["inverted"], true,
        "dark on white is inverted to the data's light on dark"
    );
    let z = floats(&body["z_mean"]);
    let expected = e.test_latent(12).unwrap();
    let diff = z
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 0.05, "{z:?} vs {expected:?}");
    assert_eq!(floats(&body["z_log_var"]).len(), 4);
    let map = floats(&body["map"]);
    let (px, py) = e.info.projection.project(&z);
    assert!((map[0] - px).abs() < 1e-5 && (map[1] - py).abs() < 1e-5);
    assert_eq!(
        png_pixels(body["input"].as_str().unwrap()).dimensions(),
        (28, 28)
    );
    assert_eq!(
        png_pixels(body["reconstruction"].as_str().unwrap()).dimensions(),
        (28, 28)
    );
    // Told not to invert, the model gets the negative: a different code.
    let (status, raw) = request("POST", "/api/runs/vae/encode?invert=no", "image/png", &png);
    assert_eq!(status, 200);
    assert_eq!(raw["inverted"], false);
    assert_ne!(raw["z_mean"], body["z_mean"]);
}

fn encode_png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn uploads_are_padded_resized_and_inverted_when_the_background_is_light() {
    // A black 40x20 bar on a white 100x50 picture, given an alpha channel that is transparent
    // at the border: transparent counts as white.
    let img = image::RgbaImage::from_fn(100, 50, |x, y| {
        let bar = (30..70).contains(&x) && (15..35).contains(&y);
        let border = x < 5 || y < 5 || x >= 95 || y >= 45;
        match (bar, border) {
            (true, _) => image::Rgba([0, 0, 0, 255]),
            (false, true) => image::Rgba([0, 0, 0, 0]),
            (false, false) => image::Rgba([255, 255, 255, 255]),
        }
    });
    let png = encode_png(&image::DynamicImage::ImageRgba8(img));
    let prepared = prepare_png(&png, 28, 28, Invert::Auto).unwrap();
    assert!(prepared.inverted);
    let at = |x: usize, y: usize| prepared.pixels[y * 28 + x];
    assert!(at(14, 14) > 0.9, "the bar becomes light: {}", at(14, 14));
    // Padded to a square, not stretched: the top rows are background.
    assert!(at(14, 3) < 0.05 && at(0, 0) < 0.05);
    assert_eq!(prepared.pixels.len(), 784);
    assert!(prepared.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    // A light object on black (the data's own look) is left alone.
    let dark = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(28, 28, |x, _| {
        image::Luma([if x == 14 { 255 } else { 0 }])
    }));
    let kept = prepare_png(&encode_png(&dark), 28, 28, Invert::Auto).unwrap();
    assert!(!kept.inverted);
    assert!(kept.pixels[14] > 0.99 && kept.pixels[0] < 0.01);
}

#[test]
fn bad_uploads_get_clear_errors() {
    let e = explorer();
    let png = e.png(&e.test_image(0).unwrap()).unwrap();
    assert!(matches!(
        prepare_png(b"GIF89a....", 28, 28, Invert::Auto),
        Err(UploadError::NotPng)
    ));
    let truncated = &png[..png.len() / 2];
    let huge = encode_png(&image::DynamicImage::ImageLuma8(image::GrayImage::new(
        5000, 1,
    )));
    for (body, status, words) in [
        (&b"not an image"[..], 415, "not a PNG"),
        (truncated, 400, "corrupt or truncated"),
        (&huge[..], 413, "too large"),
        (&b""[..], 400, "empty"),
    ] {
        let (got, answer) = request("POST", "/api/runs/vae/encode", "image/png", body);
        assert_eq!(got, status, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(words),
            "{answer}"
        );
    }
    // Bodies over the limit are refused before they are read whole.
    let (got, answer) = request(
        "POST",
        "/api/runs/vae/encode",
        "image/png",
        &vec![0u8; vae_serve::api::MAX_UPLOAD_BODY + 1],
    );
    assert_eq!(got, 413, "{answer}");
}

#[test]
fn malformed_requests_get_4xx_json_errors() {
    let big = json!({ "z": [vec![0.0; 20_000]] });
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/runs/vae/decode",
            json!({ "z": [[1, 2]] }),
            400,
            "4 latent dimensions",
        ),
        (
            "POST",
            "/api/runs/vae/decode",
            json!({ "z": [] }),
            400,
            "1 to 256",
        ),
        (
            "POST",
            "/api/runs/vae/decode",
            json!({ "z": [[1, 2, 3, 1e6]] }),
            400,
            "|z| <= 1000",
        ),
        (
            "POST",
            "/api/runs/vae/decode",
            json!({ "z": [[1, 2, 3, "x"]] }),
            422,
            "invalid type",
        ),
        (
            "POST",
            "/api/runs/vae/decode",
            json!({ "zz": [] }),
            422,
            "unknown field",
        ),
        ("POST", "/api/runs/vae/decode", big, 413, "length limit"),
        (
            "POST",
            "/api/runs/nope/decode",
            json!({ "z": [[0]] }),
            404,
            "no run named 'nope'",
        ),
        (
            "POST",
            "/api/runs/vae/sample",
            json!({ "n": 0 }),
            400,
            "n must be 1 to 64",
        ),
        (
            "POST",
            "/api/runs/vae/sample",
            json!({ "n": 1_000_000 }),
            400,
            "n must be 1 to 64",
        ),
        (
            "POST",
            "/api/runs/vae/sample",
            json!({ "seed": -1 }),
            422,
            "invalid value",
        ),
        (
            "POST",
            "/api/runs/vae/sample",
            json!({ "two_stage": true }),
            400,
            "has no second stage",
        ),
        (
            "POST",
            "/api/runs/vae/interpolate",
            json!({ "from": { "index": 0 }, "to": { "index": 99_999 } }),
            404,
            "does not exist",
        ),
        (
            "POST",
            "/api/runs/vae/interpolate",
            json!({ "from": { "index": 0, "z": [0, 0, 0, 0] }, "to": { "index": 1 } }),
            400,
            "either",
        ),
        (
            "POST",
            "/api/runs/vae/interpolate",
            json!({ "from": { "index": 0 }, "to": { "index": 1 }, "steps": 1 }),
            400,
            "steps must be 2 to 64",
        ),
        (
            "POST",
            "/api/runs/vae/interpolate",
            json!({ "from": { "index": 0 }, "to": { "index": 1 }, "method": "cubic" }),
            422,
            "unknown variant",
        ),
        (
            "GET",
            "/api/runs/vae/images/10000000",
            Value::Null,
            404,
            "does not exist",
        ),
        (
            "GET",
            "/api/runs/vae/images/abc",
            Value::Null,
            400,
            "not a test image index",
        ),
        ("GET", "/api/runs/nope", Value::Null, 404, "no run named"),
        ("GET", "/api/nothing", Value::Null, 404, "no such page"),
        (
            "DELETE",
            "/api/runs",
            Value::Null,
            405,
            "does not take that method",
        ),
    ];
    for (method, path, body, status, words) in cases {
        let (got, answer) = match method {
            "POST" => post(path, body),
            _ => request(method, path, "", b""),
        };
        assert_eq!(got, status, "{method} {path}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(words), "{method} {path}: {message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
    // Not JSON at all, and JSON without its content type.
    let (got, answer) = request(
        "POST",
        "/api/runs/vae/decode",
        "application/json",
        b"{\"z\": [[NaN",
    );
    assert_eq!(got, 400, "{answer}");
    let (got, answer) = request("POST", "/api/runs/vae/decode", "text/plain", b"{}");
    assert_eq!(got, 415, "{answer}");
}

/// Sends raw bytes and returns the status line, so paths are not tidied by a client library.
fn raw_status(request: &str) -> String {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn no_request_reaches_a_file_outside_the_page() {
    for path in [
        "/../Cargo.toml",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/app.js/../../Cargo.toml",
        "/api/runs/..%2Fvae/map",
        "/api/runs/vae/images/..%2F..%2Fmodel.bpk",
        "/api/runs/%2Fetc%2Fpasswd/map",
        "/model.bpk",
        "/vae/model.bpk",
        "/config.toml",
    ] {
        let line = raw_status(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ));
        assert!(
            line.contains(" 404 ") || line.contains(" 400 "),
            "{path}: {line}"
        );
    }
    // Garbage on the wire gets a 400 and the server carries on.
    assert!(raw_status("BLAH\r\n\r\n").contains("400"));
    assert_eq!(get("/api/runs").0, 200);
    // The page itself is served, with a content security policy.
    let mut response = agent()
        .get(&format!("http://{}/", server()))
        .call()
        .unwrap();
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(
        response
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("vae explorer")
    );
}

#[test]
fn ten_thousand_decodes_from_eight_clients_all_succeed() {
    let report = load_test(
        server(),
        "vae",
        4,
        LoadTestOptions {
            requests: 10_000,
            clients: 8,
            class: None,
            slow_clients: 0,
            stalled_bodies: 0,
            unread_responses: 0,
            limits: Default::default(),
        },
    )
    .unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.requests, 10_000);
    assert!(report.requests_per_second > 0.0 && report.server.p50 > 0.0);
    assert!(report.slow.is_none() && report.stalled_bodies.is_none());
    assert!(report.unread_responses.is_none());
    assert_eq!(get("/api/runs").0, 200, "the server is still up");
}

/// Clients that open a connection and send half a request header, or nothing, are closed
/// after the header timeout; more of them than the connection limit wait for a slot and are
/// closed in turn; the clients already connected are served all along.
#[test]
fn half_sent_requests_are_closed_and_the_others_still_served() {
    use std::time::{Duration, Instant};
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(1),
        max_connections: 64,
        ..Default::default()
    };
    let state = serve::load(&ServeOptions {
        runs: vec![crate::runs().vae.clone()],
        map_limit: 100,
        ..options()
    })
    .unwrap();
    let server = Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), limits).unwrap();
    // One by hand: half a header, then nothing; and a connection that sends nothing.
    let started = Instant::now();
    let mut half = TcpStream::connect(server.addr()).unwrap();
    half.write_all(b"POST /api/runs/vae/decode HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    for stream in [&mut half, &mut silent] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        // The server closes it: the read ends (EOF, or a reset), it does not time out.
        let ended = stream.read_to_end(&mut rest);
        assert!(
            ended.as_ref().map_or_else(
                |e| e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut,
                |_| true
            ),
            "{ended:?}"
        );
    }
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(4),
        "{held:?}"
    );

    // 300 slow clients, more than 4 waves of the 64 connections, while 4 clients decode.
    let report = load_test(
        server.addr(),
        "vae",
        4,
        LoadTestOptions {
            requests: 2_000,
            clients: 4,
            class: None,
            slow_clients: 300,
            stalled_bodies: 0,
            unread_responses: 0,
            limits,
        },
    )
    .unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    let slow = report.slow.clone().unwrap();
    assert_eq!(
        (slow.opened, slow.closed, slow.still_open),
        (300, 300, 0),
        "{report}"
    );
    assert!(slow.longest_seconds < 12.0, "{report}");
    assert!(report.to_string().contains("300 slow clients"), "{report}");
}

/// A server over the VAE run alone (a map of 100 images) within `limits`.
fn small_server(limits: serve::Limits) -> Server {
    let state = serve::load(&ServeOptions {
        runs: vec![crate::runs().vae.clone()],
        map_limit: 100,
        ..options()
    })
    .unwrap();
    Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), limits).unwrap()
}

/// A request header that announces a 100-byte JSON body, and the first 8 bytes of it.
const STALLED_BODY: &[u8] = b"POST /api/runs/vae/decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"z\": [[";

/// Reads what `stream` gets until the server ends the connection; panics when it is still
/// open after `wait` (the read times out).
fn read_until_closed(stream: &mut TcpStream, wait: std::time::Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "the server still holds the connection after {wait:?} ({e}; {} bytes read)",
                got.len()
            ),
        }
    }
}

/// Clients that send a whole header and then stall their body are answered 408 and closed
/// after the body timeout, even when they hold every connection slot: a client arriving
/// meanwhile is served once they are gone.
#[test]
fn stalled_bodies_are_closed_after_the_body_timeout_and_others_still_served() {
    use std::time::{Duration, Instant};
    let server = small_server(serve::Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections: 2,
        ..Default::default()
    });
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).unwrap();
            stream.write_all(STALLED_BODY).unwrap();
            stream
        })
        .collect();
    let waited = served_after(server.addr(), started);
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    for stream in &mut stalled {
        let got = read_until_closed(stream, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("--body-timeout"), "{text}");
    }
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(4),
        "{held:?}"
    );
}

/// A client that asks for answers and never reads them is cut once its answers have made no
/// progress for the write timeout, and its connection slot goes to the next client.
#[test]
fn a_client_that_never_reads_its_answers_is_cut_after_the_write_timeout() {
    use std::time::{Duration, Instant};
    let server = small_server(serve::Limits {
        write_timeout: Duration::from_secs(1),
        max_connections: 1,
        ..Default::default()
    });
    // 1,000 requests for the page's script (16 kB each) at once, far more than the socket
    // buffers hold, and nothing read.
    let mut greedy = TcpStream::connect(server.addr()).unwrap();
    let started = Instant::now();
    greedy
        .write_all(
            "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                .repeat(1000)
                .as_bytes(),
        )
        .unwrap();
    let waited = served_after(server.addr(), started);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // What it reads now is what the buffers held when it was cut, then the end.
    let got = read_until_closed(&mut greedy, Duration::from_secs(10));
    let answers = String::from_utf8_lossy(&got)
        .matches("HTTP/1.1 200")
        .count();
    assert!(answers < 1000, "{answers} answers");
}

/// Stopping the server waits for open requests for the shutdown timeout at most: a client
/// stalled in its body does not hold it.
#[test]
fn stopping_the_server_is_bounded() {
    use std::time::{Duration, Instant};
    let server = small_server(serve::Limits {
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    stalled.write_all(STALLED_BODY).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (stopped, wait) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        server.stop();
        let _ = stopped.send(());
    });
    assert!(
        wait.recv_timeout(Duration::from_secs(15)).is_ok(),
        "the server was still stopping after 15 s"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    read_until_closed(&mut stalled, Duration::from_secs(5));
}

/// `vae loadtest`'s stalling clients of every kind at once, more than the connection limit,
/// beside 4 decoding clients: every decode succeeds and every stalling client is closed
/// within its timeout (per wave of the connection limit).
#[test]
fn stalling_clients_of_every_kind_are_closed_and_the_others_still_served() {
    use std::time::Duration;
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
        max_connections: 32,
        ..Default::default()
    };
    let server = small_server(limits);
    let report = load_test(
        server.addr(),
        "vae",
        4,
        LoadTestOptions {
            requests: 2_000,
            clients: 4,
            class: None,
            slow_clients: 20,
            stalled_bodies: 20,
            unread_responses: 20,
            limits,
        },
    )
    .unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    for held in [
        &report.slow,
        &report.stalled_bodies,
        &report.unread_responses,
    ] {
        let held = held.clone().unwrap();
        assert_eq!(
            (held.opened, held.closed, held.still_open),
            (20, 20, 0),
            "{report}"
        );
        // 60 stalling clients are 2 waves of the 32 connections.
        assert!(held.longest_seconds < 6.0, "{report}");
    }
    let text = report.to_string();
    assert!(
        text.contains("20 stalled bodies") && text.contains("20 unread-response clients"),
        "{text}"
    );
}

#[test]
fn serving_needs_runs_and_a_free_port() {
    let no_runs = ServeOptions {
        runs: vec![],
        ..options()
    };
    assert!(
        serve::load(&no_runs)
            .unwrap_err()
            .to_string()
            .contains("at least one run")
    );
    let missing = ServeOptions {
        runs: vec!["/nonexistent/run".into()],
        ..options()
    };
    assert!(
        serve::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("does not exist")
    );
    // Two folders with one name are both served, under distinct names.
    let runs = crate::runs();
    let twice = ServeOptions {
        runs: vec![runs.vae.clone(), runs.vae.clone()],
        map_limit: 10,
        ..options()
    };
    let names: Vec<String> = serve::load(&twice)
        .unwrap()
        .explorers
        .iter()
        .map(|e| e.info.name.clone())
        .collect();
    assert_eq!(names, ["vae", "vae-2"]);
    let taken =
        Server::start(serve::load(&twice).unwrap(), server(), Default::default()).unwrap_err();
    assert!(taken.to_string().contains("--port"), "{taken}");
}

/// A conditional run: the page learns its classes, and every decode names one. A class redraws
/// the decoder's image and the samples, `"all"` gives the "same z, every class" strip, and a
/// request without a class (or with one the run does not know) gets a 400 that names them.
#[test]
fn a_conditional_run_is_explored_one_class_at_a_time() {
    let run = crate::runs().conditional.clone();
    let e = Explorer::load(&run, "cvae".into(), None, 200).unwrap();
    let conditioning = e.info.conditioning.clone().expect("a conditional run");
    assert_eq!(conditioning.names.len(), 10);
    let z = vec![0.5; 20];
    let coat = e.decode(&z, Some("Coat")).unwrap();
    let boot = e.decode(&z, Some("Ankle boot")).unwrap();
    assert_ne!(coat, boot, "the class must change the image");
    let every = e.decode(&z, Some("all")).unwrap();
    assert_eq!(every.len(), 10 * 784);
    assert_eq!(&every[4 * 784..5 * 784], coat.as_slice());

    let state = serve::load(&ServeOptions {
        runs: vec![run],
        host: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        device: None,
        map_limit: 200,
    })
    .unwrap();
    let server = Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), Default::default()).unwrap();
    let call = |path: &str, body: Value| {
        let url = format!("http://{}{path}", server.addr());
        let mut response = agent()
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    let (status, body) = call(
        "/api/runs/cvae/decode",
        json!({ "z": [z.clone()], "class": "Coat" }),
    );
    assert_eq!(status, 200, "{body}");
    let expected = e.png(&coat).unwrap();
    use base64::Engine as _;
    let got = body["images"][0].as_str().unwrap();
    assert_eq!(
        got,
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(expected)
        )
    );
    let (status, body) = call(
        "/api/runs/cvae/decode",
        json!({ "z": [z.clone()], "class": "all" }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["images"].as_array().unwrap().len(), 10);
    let (status, body) = call(
        "/api/runs/cvae/sample",
        json!({ "n": 4, "class": "Trouser" }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["images"].as_array().unwrap().len(), 4);
    let (status, body) = call(
        "/api/runs/cvae/interpolate",
        json!({ "from": { "index": 0 }, "to": { "index": 1 }, "steps": 3, "class": "Bag" }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("/api/runs/cvae/sample", json!({ "n": 4 }));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--class"),
        "{body}"
    );
    let (status, body) = call("/api/runs/cvae/decode", json!({ "z": [z], "class": "Hat" }));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Ankle boot"),
        "{body}"
    );
    server.stop();
}

/// How long after `started` a client that waits up to 10 s gets its list of runs from the
/// server at `addr`; fails unless it gets it.
fn served_after(addr: std::net::SocketAddr, started: std::time::Instant) -> std::time::Duration {
    let patient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let answer = patient.get(&format!("http://{addr}/api/runs")).call();
    let waited = started.elapsed();
    assert_eq!(
        answer.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "after {waited:?}"
    );
    waited
}
