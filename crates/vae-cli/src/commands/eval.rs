//! `vae eval`: measure a trained run on its test set.

use crate::flags::{FidelityFlags, MetricFlags, QualityFlags, choice};
use std::path::PathBuf;
use vae::Run;
use vae::eval::sample_quality::SampleQualityMetric;
use vae::eval::{EvalOptions, Split, evaluate_run};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// The images measured: test, or the validation split the run held out (where settings
    /// are chosen; the report goes to eval-validation.json).
    #[arg(long, value_parser = choice::<Split>, default_value = "test")]
    split: Split,
    /// Importance samples per image for the NLL bound (0 skips it).
    #[arg(long, default_value_t = 1000)]
    iw_samples: usize,
    /// Evaluate the first N images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    device: Option<String>,
    #[command(flatten)]
    metrics: MetricFlags,
    #[command(flatten)]
    quality: QualityFlags,
    #[command(flatten)]
    fidelity: FidelityFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, args.device.as_deref())?;
    let report = evaluate_run(
        &run,
        EvalOptions {
            split: args.split,
            iw_samples: args.iw_samples,
            limit: args.limit,
            metrics: args.metrics.options(),
            quality_samples: args.quality.samples(),
            fidelity_samples: args.fidelity.samples(),
        },
    )?;
    super::print_report(&report, args.json)?;
    // Sample quality went on without a second stage it could not use: say so.
    if let Some(note) = report
        .metric::<SampleQualityMetric>()
        .and_then(|q| q.two_stage_note)
    {
        crate::output::note(format_args!("warning: {note}"));
    }
    Ok(())
}
