//! `vae two-stage`: fit the second-stage VAE of Dai & Wipf (2019) to a run's codes, then draw
//! its samples and redraw the report.

use super::say;
use crate::flags::check_count;
use std::path::PathBuf;
use vae::Run;
use vae::two_stage::{SecondStageConfig, fit};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// Passes over the training images' codes (longer fits drift toward collapse; see
    /// docs/quality.md).
    #[arg(long, default_value_t = vae::two_stage::DEFAULT_EPOCHS)]
    epochs: usize,
    /// Hidden layers of the second stage, e.g. 256,256.
    #[arg(long, value_delimiter = ',', default_value = "256,256")]
    hidden: Vec<usize>,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Fit on the codes of the first N training images only.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    device: Option<String>,
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.epochs, "--epochs")?;
    check_count(args.batch_size, "--batch-size")?;
    let run = Run::load(&args.run, args.device.as_deref())?;
    let config = SecondStageConfig {
        hidden: args.hidden,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        limit: args.limit,
        ..SecondStageConfig::default()
    };
    let (_, saved) = fit(&run, &config)?;
    crate::output::line(format_args!(
        "fitted the second stage in {}: -ELBO {:.3} nats per code in its last epoch",
        args.run.display(),
        saved.final_loss.unwrap_or(f64::NAN)
    ))?;
    if let Some(path) =
        vae_viz::two_stage_samples(&run, 64, run.config.seed, run.conditioning().map(|_| "all"))?
    {
        say(&path)?;
    }
    say(&vae_viz::report::write(&run)?)?;
    Ok(())
}
