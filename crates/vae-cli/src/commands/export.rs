//! `vae export`: a run's weights as safetensors.

use super::say;
use std::path::PathBuf;
use vae::Run;
use vae::interop::export_safetensors;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// Output file (default: RUN/model.safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, None)?;
    let out = args.out.unwrap_or_else(|| run.path("model.safetensors"));
    export_safetensors(&run.model, &run.model_config, Some(&run.config), &out)?;
    say(&out)?;
    Ok(())
}
