//! `vae sweep`: one run per beta, evaluated and drawn, and the sweep report.

use super::say;
use crate::flags::{MetricFlags, QualityFlags, TrainFlags};
use crate::progress::Terminal;
use std::path::PathBuf;
use vae::eval::EvalOptions;
use vae::sweep::{SweepOptions, sweep};
use vae::{Error, Run};

#[derive(clap::Args)]
pub struct Args {
    /// Betas to train, e.g. 0.5,1,2,4,8.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_negative_numbers = true
    )]
    betas: Vec<f64>,
    /// Sweep folder: one run folder per beta (beta-B) and the sweep report.
    #[arg(long)]
    out: PathBuf,
    /// Importance samples per image for each run's NLL bound (0 skips it).
    #[arg(long, default_value_t = 100)]
    iw_samples: usize,
    #[command(flatten)]
    metrics: MetricFlags,
    #[command(flatten)]
    quality: QualityFlags,
    #[command(flatten)]
    settings: TrainFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    if args.settings.is_set("beta") {
        return Err(Error::Config(
            "a sweep takes its betas from --betas; drop --beta".into(),
        ));
    }
    let options = SweepOptions {
        betas: args.betas,
        out: args.out.clone(),
        base: args.settings.config(None)?,
        eval: EvalOptions {
            split: vae::eval::Split::Test,
            iw_samples: args.iw_samples,
            limit: None,
            metrics: args.metrics.options(),
            quality_samples: args.quality.samples(),
            fidelity_samples: None,
        },
    };
    // A run's pictures are drawn after a new evaluation, or when they are missing.
    let draw = |run: &Run, fresh: bool| {
        if fresh || !run.path(vae_viz::TRAVERSALS_PNG).is_file() {
            vae_viz::write_all(run)?;
        }
        Ok(())
    };
    let report = sweep(&options, &mut Terminal::default(), draw)?;
    vae_viz::sweep::write(&args.out, &report)?;
    crate::output::out(format_args!("{report}"))?;
    say(&args.out.join("report.html"))?;
    Ok(())
}
