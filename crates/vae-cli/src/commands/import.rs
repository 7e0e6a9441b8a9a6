//! `vae import`: a run folder from safetensors or a pytorch/examples state dict.

use crate::flags::TrainFlags;
use std::path::PathBuf;
use vae::interop::{import_pytorch_examples, import_safetensors, write_run};

#[derive(clap::Args)]
pub struct Args {
    /// A .safetensors file from `vae export`, or with --pytorch a .pt state dict.
    file: PathBuf,
    /// New run folder.
    #[arg(long)]
    out: PathBuf,
    /// FILE is the state dict of the pytorch/examples VAE (fc1, fc21, fc22, fc3, fc4).
    #[arg(long)]
    pytorch: bool,
    /// Data and loss settings of the new run (a safetensors file from `vae export` brings its
    /// own; flags override them).
    #[command(flatten)]
    settings: TrainFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    let device = vae::device::parse_device("cpu")?;
    let imported = if args.pytorch {
        import_pytorch_examples(&args.file, &device)?
    } else {
        import_safetensors(&args.file, &device)?
    };
    let given = args.settings.given_over(imported.train_config.clone())?;
    write_run(&args.out, &imported, given)?;
    crate::output::line(format_args!(
        "imported {} into {}",
        args.file.display(),
        args.out.display()
    ))?;
    Ok(())
}
