//! `vae loadtest`: serve a run on loopback and decode from many clients at once.

use crate::flags::LimitFlags;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use vae::Error;
use vae_serve::loadtest::{LoadTestOptions, load_test};
use vae_serve::{ServeOptions, Server, load};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    device: Option<String>,
    /// Also open this many connections that send half a request header and never the rest,
    /// once every client is connected: the server must close each and go on serving.
    #[arg(long, default_value_t = 0)]
    slow_clients: usize,
    /// Also open this many connections that send a whole request header and then stall their
    /// body: the server must answer each 408 after --body-timeout and close it.
    #[arg(long, default_value_t = 0)]
    stalled_bodies: usize,
    /// Also open this many connections that send 512 requests for the page's script at once
    /// and read none of the answers: the server must cut each after --write-timeout.
    #[arg(long, default_value_t = 0)]
    unread_responses: usize,
    #[command(flatten)]
    limits: LimitFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    let limits = args.limits.limits()?;
    let state = load(&ServeOptions {
        runs: vec![args.run],
        host: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        device: args.device,
        map_limit: 0,
    })?;
    let (name, latent_dim, class) = {
        let info = &state.explorers[0].info;
        // A conditional run decodes for its first class.
        let class = info
            .conditioning
            .as_ref()
            .and_then(|c| c.every_choice().into_iter().next())
            .map(|(name, _)| name);
        (info.name.clone(), info.latent_dim, class)
    };
    let server = Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), limits)?;
    let report = load_test(
        server.addr(),
        &name,
        latent_dim,
        LoadTestOptions {
            requests: args.requests,
            clients: args.clients,
            class,
            slow_clients: args.slow_clients,
            stalled_bodies: args.stalled_bodies,
            unread_responses: args.unread_responses,
            limits,
        },
    )?;
    server.stop();
    super::print_report(&report, args.json)?;
    if report.errors > 0 {
        return Err(Error::Config(format!(
            "{} of {} requests failed; first: {}",
            report.errors,
            report.requests,
            report.first_error.unwrap_or_default()
        )));
    }
    for (held, what) in [
        (&report.slow, "slow clients"),
        (&report.stalled_bodies, "stalled bodies"),
        (&report.unread_responses, "unread-response clients"),
    ] {
        if let Some(held) = held.as_ref().filter(|s| s.still_open > 0) {
            return Err(Error::Config(format!(
                "the server still held {} of {} {what} open when the load test gave up on them",
                held.still_open, held.opened
            )));
        }
    }
    Ok(())
}
