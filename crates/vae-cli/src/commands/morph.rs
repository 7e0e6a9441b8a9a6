//! `vae morph`: decode the line between two images; on a conditional run, also between two
//! classes, or from one class to another with the image's z held.

use super::say;
use std::path::PathBuf;
use vae::Run;
use vae::arithmetic::{MorphEnd, MorphPoint};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// A test image number or an image file.
    #[arg(long)]
    from: MorphEnd,
    /// A test image number or an image file (default: the --from image, so that with
    /// --to-class only the class changes).
    #[arg(long)]
    to: Option<MorphEnd>,
    /// Conditional runs: the class to see --from as (default: a test image's own class).
    #[arg(long)]
    from_class: Option<String>,
    /// Conditional runs: the class to see --to as (default: a test image's own class).
    #[arg(long)]
    to_class: Option<String>,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Output PNG (default: RUN/morph.png).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, None)?;
    for class in [&args.from_class, &args.to_class].into_iter().flatten() {
        run.condition_of(Some(class))?;
    }
    let from = MorphPoint {
        image: &args.from,
        class: args.from_class.as_deref(),
    };
    let to = MorphPoint {
        image: args.to.as_ref().unwrap_or(&args.from),
        class: args.to_class.as_deref(),
    };
    say(&vae_viz::morph(
        &run,
        &from,
        &to,
        args.steps,
        args.out.as_deref(),
    )?)?;
    Ok(())
}
