//! `vae loadtest`: many clients decoding at once over loopback, to show the server stays up,
//! answers every request and how fast. Each client is a thread with its own keep-alive
//! connection (ureq), sending single-image decode requests of random z ~ N(0, I). Stalling
//! clients, if asked for, open connections meanwhile and stop at one step of a request: half
//! a request header, a body cut short, or answers never read. The server must close each
//! within its timeout for that step and serve the others all along ([`stalling`]).

mod stalling;

use crate::Limits;
use serde::Serialize;
use stalling::{Stall, stalling_clients};
use std::net::SocketAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use vae::rng::{normal_noise, rng};
use vae::{Error, Result};

/// How hard to push.
#[derive(Debug, Clone)]
pub struct LoadTestOptions {
    pub requests: usize,
    pub clients: usize,
    /// The class every request names, for a conditional run.
    pub class: Option<String>,
    /// Connections that send half a request header and wait, opened once every client has
    /// its own connection.
    pub slow_clients: usize,
    /// Connections that send a whole request header announcing a body, a part of the body,
    /// and wait; opened with the slow clients.
    pub stalled_bodies: usize,
    /// Connections that send [`UNREAD_REQUESTS`] requests for the page's script at once and
    /// read none of the answers; opened with the slow clients.
    pub unread_responses: usize,
    /// The server's limits: how long a stalling client may be kept waiting for its close.
    pub limits: Limits,
}

/// Requests each unread-response client sends at once: 512 answers of the page's script
/// (16 kB) are 8 MB, more than the socket buffers between it and the server hold.
pub const UNREAD_REQUESTS: usize = 512;

/// What the load test measured. Latencies in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub requests: usize,
    pub clients: usize,
    /// Requests that failed (transport error, status other than 200, or a body without one
    /// image).
    pub errors: usize,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    pub seconds: f64,
    pub requests_per_second: f64,
    /// Round trip seen by the client.
    pub latency: Percentiles,
    /// Time inside the server (its `Server-Timing` header): validation, decode and PNG.
    pub server: Percentiles,
    /// What became of the slow clients (half a header), when there were any.
    pub slow: Option<SlowClients>,
    /// What became of the stalled bodies, when there were any.
    pub stalled_bodies: Option<SlowClients>,
    /// What became of the unread-response clients, when there were any.
    pub unread_responses: Option<SlowClients>,
}

/// Connections of one kind of stalling client.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlowClients {
    /// Connected and sent what they send (of those asked for: the others never got in).
    pub opened: usize,
    /// Closed by the server.
    pub closed: usize,
    /// Seconds from their last byte sent to the close, of the one kept longest (those waiting
    /// for a free connection slot wait longer than the timeout).
    pub longest_seconds: f64,
    /// Still open when the load test gave up on them (see [`load_test`]): the server holds
    /// them for good.
    pub still_open: usize,
}

/// The small text table `vae loadtest` prints.
impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = |name: &str, p: &Percentiles| {
            format!(
                "{name:<22} {:>8.3} {:>8.3} {:>8.3} {:>8.3}\n",
                p.p50, p.p90, p.p99, p.max
            )
        };
        write!(
            f,
            "{} decode requests from {} clients in {:.2} s: {:.0} requests/s, {} errors\n\
             {:<22} {:>8} {:>8} {:>8} {:>8}\n{}{}",
            self.requests,
            self.clients,
            self.seconds,
            self.requests_per_second,
            self.errors,
            "latency (ms)",
            "p50",
            "p90",
            "p99",
            "max",
            row("round trip", &self.latency),
            row("inside the server", &self.server),
        )?;
        let unread = format!(
            "unread-response clients ({UNREAD_REQUESTS} requests each at once, no answer read)"
        );
        for (s, what) in [
            (&self.slow, "slow clients (half a request header each)"),
            (
                &self.stalled_bodies,
                "stalled bodies (a whole header, then 8 of 100 body bytes)",
            ),
            (&self.unread_responses, unread.as_str()),
        ] {
            if let Some(s) = s {
                writeln!(
                    f,
                    "{} {what}: {} closed by the server, the last after {:.1} s; {} still open",
                    s.opened, s.closed, s.longest_seconds, s.still_open
                )?;
            }
        }
        Ok(())
    }
}

/// Summary of a set of durations.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                f64::NAN
            } else {
                values[((values.len() - 1) as f64 * q).round() as usize]
            }
        };
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// One client's tally.
#[derive(Default)]
struct Tally {
    latency: Vec<f64>,
    server: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
}

/// Sends `options.requests` decode requests for run `run` of `latent_dim` dimensions to the
/// server at `addr`, from `options.clients` concurrent clients.
pub fn load_test(
    addr: SocketAddr,
    run: &str,
    latent_dim: usize,
    options: LoadTestOptions,
) -> Result<LoadReport> {
    if options.requests == 0 || options.clients == 0 {
        return Err(Error::Config(
            "--requests and --clients must be at least 1 (try --requests 10000 --clients 8)".into(),
        ));
    }
    let url = format!("http://{addr}/api/runs/{run}/decode");
    let stalls = [
        (Stall::Header, options.slow_clients),
        (Stall::Body, options.stalled_bodies),
        (Stall::Reader, options.unread_responses),
    ];
    // The clients and the stalling clients' opener meet once every client has its connection.
    let connected = Barrier::new(options.clients + 1);
    let start = Instant::now();
    let (tallies, seconds, slow): (Vec<Tally>, _, _) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.clients)
            .map(|client| {
                let share = options.requests / options.clients
                    + usize::from(client < options.requests % options.clients);
                let url = url.as_str();
                let class = options.class.as_deref();
                let connected = &connected;
                scope.spawn(move || {
                    run_client(url, client as u64, share, latent_dim, class, connected)
                })
            })
            .collect();
        let slow = scope.spawn(|| {
            connected.wait();
            stalling_clients(addr, run, stalls, options.limits)
        });
        let tallies = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        let seconds = start.elapsed().as_secs_f64();
        let slow = slow
            .join()
            .unwrap_or_else(|_| Err(Error::Bug("the slow clients' thread panicked".into())));
        (tallies, seconds, slow)
    });
    let [slow, stalled_bodies, unread_responses] = slow?;
    let mut latency = Vec::with_capacity(options.requests);
    let mut server = Vec::with_capacity(options.requests);
    let (mut errors, mut first_error) = (0, None);
    for t in tallies {
        latency.extend(t.latency);
        server.extend(t.server);
        errors += t.errors;
        first_error = first_error.or(t.first_error);
    }
    Ok(LoadReport {
        requests: options.requests,
        clients: options.clients,
        errors,
        first_error,
        seconds,
        requests_per_second: options.requests as f64 / seconds,
        latency: Percentiles::of(latency),
        server: Percentiles::of(server),
        slow,
        stalled_bodies,
        unread_responses,
    })
}

fn run_client(
    url: &str,
    client: u64,
    requests: usize,
    latent_dim: usize,
    class: Option<&str>,
    connected: &Barrier,
) -> Tally {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut noise = rng(client, 0);
    let mut tally = Tally::default();
    if requests == 0 {
        connected.wait();
    }
    for i in 0..requests {
        let z = normal_noise(&mut noise, latent_dim);
        let body = serde_json::json!({ "z": [z], "class": class }).to_string();
        let sent = Instant::now();
        match decode_once(&agent, url, &body) {
            Ok(server_ms) => {
                tally.latency.push(sent.elapsed().as_secs_f64() * 1e3);
                tally.server.extend(server_ms);
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
        }
        // The first request opened this client's connection: the slow clients may come.
        if i == 0 {
            connected.wait();
        }
    }
    tally
}

/// One request; the server's own time from `Server-Timing: app;dur=...`.
fn decode_once(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
) -> std::result::Result<Option<f64>, String> {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let server_ms = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("dur=").nth(1))
        .and_then(|v| v.parse::<f64>().ok());
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}: {text}"));
    }
    let parsed: super::api::ImagesResponse =
        serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))?;
    if parsed.images.len() != 1 || !parsed.images[0].starts_with("data:image/png;base64,") {
        return Err("the answer does not hold exactly one PNG image".into());
    }
    Ok(server_ms)
}
