//! `vae serve`: the latent-space explorer.

use crate::flags::LimitFlags;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use vae_serve::{ServeOptions, load, serve};

#[derive(clap::Args)]
pub struct Args {
    /// Run folders; the page switches between them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Address to listen on; 127.0.0.1 keeps the explorer on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Test images encoded for the map.
    #[arg(long, default_value_t = 10_000)]
    map_limit: usize,
    #[arg(long)]
    device: Option<String>,
    #[command(flatten)]
    limits: LimitFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    let limits = args.limits.limits()?;
    let state = load(&ServeOptions {
        runs: args.runs,
        host: args.host,
        port: args.port,
        device: args.device,
        map_limit: args.map_limit,
    })?;
    // A second stage that cannot be used is left out; the run is served without it.
    for explorer in &state.explorers {
        if let Some(note) = &explorer.info.two_stage_note {
            crate::output::note(format_args!("warning: {note}"));
        }
    }
    serve(
        state,
        SocketAddr::new(args.host, args.port),
        limits,
        |addr| {
            if !addr.ip().is_loopback() {
                crate::output::note(format_args!(
                    "warning: listening on {addr}: anyone who can reach this machine can use the explorer"
                ));
            }
            // The server runs on whether or not anyone reads this line.
            let _ = crate::output::line(format_args!(
                "vae explorer on http://{addr}/ (Ctrl-C stops it)"
            ));
        },
        || {
            crate::output::note(format_args!(
                "stopping: the open requests get {} s to finish (Ctrl-C again drops them now)",
                limits.shutdown_timeout.as_secs_f64()
            ));
        },
    )
}
