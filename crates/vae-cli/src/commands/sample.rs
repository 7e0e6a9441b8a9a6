//! `vae sample`: new images from z ~ N(0, I), or through the run's second stage; of a chosen
//! class for a conditional run.

use super::say;
use crate::flags::{ClassFlag, check_count};
use std::path::PathBuf;
use vae::{Error, Run};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    #[arg(long, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draw through the second stage fitted by `vae two-stage` (samples_two_stage.png).
    #[arg(long)]
    two_stage: bool,
    #[command(flatten)]
    class: ClassFlag,
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.n, "--n")?;
    let run = Run::load(&args.run, None)?;
    let class = args.class.class.as_deref();
    // Checked before any drawing: a class for an unconditional run, none for a conditional one.
    if class != Some("all") {
        run.condition_of(class)?;
    }
    if args.two_stage {
        let path =
            vae_viz::two_stage_samples(&run, args.n, args.seed, class)?.ok_or_else(|| {
                Error::Config(format!(
                    "{} has no second stage; fit one with `vae two-stage {}`",
                    args.run.display(),
                    args.run.display()
                ))
            })?;
        say(&path)?;
    } else {
        say(&vae_viz::samples(&run, args.n, args.seed, class)?)?;
    }
    Ok(())
}
