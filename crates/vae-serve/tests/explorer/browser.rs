//! The explorer page end to end in a real headless browser: Debian's `chromium`, driven over
//! WebDriver by `chromedriver` (both installed by `scripts/test.sh`), against `vae serve` on loopback.
//! The page loads, a slider move and a click on the map re-decode, an upload shows its
//! reconstruction, samples show side by side, the run menu switches runs, and a conditional
//! run's class menu redraws the decoder, its every-class strip and the samples.
//! `VAE_SCREENSHOT=path.png` also saves a screenshot of the page.

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vae_serve::{self as serve, ServeOptions, Server};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: these tests need `apt-get install -y chromium chromium-driver` (scripts/test.sh does)"
            );
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            // Without the networking flags Chromium keeps calling Google's hosts, which a
            // machine without network refuses.
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1500,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("cannot start Chromium through chromedriver")
}

/// Evaluates a JavaScript expression in the page.
async fn js(client: &Client, expression: &str) -> Value {
    client
        .execute(&format!("return {expression};"), vec![])
        .await
        .unwrap()
}

/// Waits until `expression` is truthy, failing with `what` after 30 s.
async fn wait_until(client: &Client, expression: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = js(client, expression).await;
        if v.as_bool() == Some(true) {
            return;
        }
        if Instant::now() > deadline {
            let error = js(client, "document.getElementById('error').textContent").await;
            panic!("timed out waiting for: {what} (page error: {error})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn src(client: &Client, id: &str) -> String {
    js(client, &format!("document.getElementById('{id}').src"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A real mouse click at `(x, y)` pixels from the centre of `element`.
async fn click_at(client: &Client, element: fantoccini::elements::Element, x: f64, y: f64) {
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element,
            duration: None,
            x,
            y,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client.perform_actions(mouse).await.unwrap();
}

#[test]
fn the_explorer_page_works_in_a_real_browser() {
    let runs = crate::runs();
    let state = serve::load(&ServeOptions {
        runs: vec![
            runs.vae.clone(),
            runs.autoencoder.clone(),
            runs.conditional.clone(),
        ],
        host: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        device: None,
        map_limit: 2000,
    })
    .unwrap();
    let server = Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), Default::default()).unwrap();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    // An upload: a test image as the page draws it.
    let upload = profile.path().join("upload.png");
    {
        let explorer =
            vae_serve::explorer::Explorer::load(&runs.vae, "vae".into(), None, 20).unwrap();
        std::fs::write(
            &upload,
            explorer.png(&explorer.test_image(7).unwrap()).unwrap(),
        )
        .unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = browser(&driver, &profile.path().join("profile")).await;
        client.goto(&server.url()).await.unwrap();

        // The page loads: runs listed, map drawn, one slider per latent, first decode shown.
        wait_until(&client, "document.getElementById('status').dataset.state === 'ready'", "page ready").await;
        assert_eq!(js(&client, "document.querySelectorAll('#run option').length").await, 3);
        // An unconditional run has no class menu.
        assert_eq!(js(&client, "document.getElementById('class-label').hidden").await, true);
        assert_eq!(js(&client, "document.querySelectorAll('#sliders input').length").await, 4);
        assert_eq!(js(&client, "document.querySelectorAll('#legend span').length").await, 10);
        let first = src(&client, "decoded").await;
        assert!(first.starts_with("data:image/png;base64,"), "{first}");
        assert_eq!(js(&client, "document.querySelectorAll('#interp img').length").await, 10);
        // Samples side by side with the autoencoder, picked by default as the contrast.
        assert_eq!(js(&client, "document.getElementById('compare').value").await, "ae");
        wait_until(&client, "document.querySelectorAll('#samples-compare img').length === 16", "autoencoder samples").await;
        assert_eq!(js(&client, "document.querySelectorAll('#samples img').length").await, 16);
        // The map has points drawn in class colours (not a blank canvas).
        let coloured = js(&client, "(() => { const d = document.getElementById('map').getContext('2d')\
            .getImageData(0, 0, 520, 520).data; let n = 0; for (let i = 0; i < d.length; i += 4) \
            if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) n++; return n; })()").await;
        assert!(coloured.as_u64().unwrap() > 1000, "{coloured}");

        // Moving the most informative slider re-decodes.
        let slider = client.find(Locator::Css("#sliders input")).await.unwrap();
        let before = js(&client, "Number(document.querySelector('#sliders input').value)").await;
        // A click a third of the way to the end opposite the current value.
        let offset = if before.as_f64().unwrap() > 0.0 { -30.0 } else { 30.0 };
        click_at(&client, slider, offset, 0.0).await;
        let after = js(&client, "Number(document.querySelector('#sliders input').value)").await;
        assert_ne!(before, after, "the slider moved");
        wait_until(&client, &format!("document.getElementById('decoded').src !== {}", json!(first)), "decode after a slider move").await;
        let after_slider = src(&client, "decoded").await;

        // A click on the map decodes that point and moves the sliders there.
        let sliders_before = js(&client, "[...document.querySelectorAll('#sliders input')].map(s => s.value).join()").await;
        let canvas = client.find(Locator::Css("#map")).await.unwrap();
        click_at(&client, canvas, -150.0, 120.0).await;
        wait_until(&client, &format!("document.getElementById('decoded').src !== {}", json!(after_slider)), "decode after a map click").await;
        let sliders_after = js(&client, "[...document.querySelectorAll('#sliders input')].map(s => s.value).join()").await;
        assert_ne!(sliders_before, sliders_after);

        // Picking B on the map re-draws the interpolation.
        let strip = js(&client, "document.querySelector('#interp img:last-child').src").await;
        client.find(Locator::Css("input[name=click][value=b]")).await.unwrap().click().await.unwrap();
        let canvas = client.find(Locator::Css("#map")).await.unwrap();
        click_at(&client, canvas, 100.0, -100.0).await;
        wait_until(&client, &format!("document.querySelector('#interp img:last-child').src !== {}", json!(strip)), "interpolation to the new B").await;

        // An upload shows the model's input and its reconstruction.
        let input = client.find(Locator::Css("#upload")).await.unwrap();
        input.send_keys(upload.to_str().unwrap()).await.unwrap();
        wait_until(&client, "!document.getElementById('upload-result').hidden && document.getElementById('upload-recon').src.startsWith('data:image/png')", "upload reconstruction").await;
        assert!(src(&client, "upload-input").await.starts_with("data:image/png;base64,"));
        assert_eq!(js(&client, "document.getElementById('error').hidden").await, true);

        if let Ok(path) = std::env::var("VAE_SCREENSHOT") {
            std::fs::write(path, client.screenshot().await.unwrap()).unwrap();
        }

        // Switching runs rebuilds the page for the autoencoder (2 latents, the map is z itself).
        client.find(Locator::Css("#run")).await.unwrap().select_by_value("ae").await.unwrap();
        wait_until(&client, "document.getElementById('status').dataset.state === 'ready' && document.querySelectorAll('#sliders input').length === 2", "switch to the autoencoder").await;
        assert!(js(&client, "document.getElementById('map-title').textContent").await.as_str().unwrap().contains("latents themselves"));
        assert_eq!(js(&client, "location.hash").await, "#run=ae");

        // A conditional run: a class menu, the decoder's z drawn with every class, and a new
        // class redraws the decoder and the samples.
        client.find(Locator::Css("#run")).await.unwrap().select_by_value("cvae").await.unwrap();
        wait_until(&client, "document.getElementById('status').dataset.state === 'ready' && document.querySelectorAll('#every-class img').length === 10", "the conditional run").await;
        assert_eq!(js(&client, "document.getElementById('class-label').hidden").await, false);
        assert_eq!(js(&client, "document.querySelectorAll('#class option').length").await, 10);
        let decoded = src(&client, "decoded").await;
        let samples = js(&client, "document.querySelector('#samples img').src").await;
        client.find(Locator::Css("#class")).await.unwrap().select_by_value("Trouser").await.unwrap();
        wait_until(&client, &format!("document.getElementById('decoded').src !== {}", json!(decoded)), "decode of the new class").await;
        wait_until(&client, &format!("document.querySelector('#samples img').src !== {samples}"), "samples of the new class").await;
        assert!(js(&client, "document.getElementById('samples-title').textContent").await.as_str().unwrap().contains("class Trouser"));
        assert_eq!(js(&client, "document.getElementById('error').hidden").await, true);
        client.close().await.unwrap();
    });
    server.stop();
}
