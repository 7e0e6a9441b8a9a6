//! `vae encode`: the test set's latents as CSV.

use super::say;
use std::path::PathBuf;
use vae::Run;
use vae::latent::csv::to_csv;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// Output CSV (default: RUN/latents.csv).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, None)?;
    let mut test = run.test_data()?;
    if let Some(n) = args.limit {
        test.truncate(n);
    }
    let csv = to_csv(&test.labels, &run.encode(&test)?);
    let out = args.out.unwrap_or_else(|| run.path("latents.csv"));
    vae::fsutil::write_atomic(&out, csv.as_bytes())?;
    say(&out)?;
    Ok(())
}
