//! `vae train`: fit a model into a run folder, then draw its pictures and report.

use super::say;
use crate::flags::TrainFlags;
use crate::progress::Terminal;
use std::path::PathBuf;
use vae::Run;
use vae::train::{TrainOptions, train_with};
use vae_viz::tensorboard::TensorBoard;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder (default: runs/<dataset>-<arch>-<vae|ae>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Skip the pictures and report after training.
    #[arg(long)]
    no_pictures: bool,
    #[command(flatten)]
    settings: TrainFlags,
}

pub fn run(args: Args) -> vae::Result<()> {
    let flags = args.settings.config(None)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(flags.run_name()));
    let config = if args.resume {
        args.settings.config(Some(&out))?
    } else {
        flags
    };
    let options = TrainOptions {
        resume: args.resume,
    };
    let mut terminal = Terminal::default();
    let mut progress = TensorBoard::new(&out, &mut terminal);
    let summary = train_with(&config, &out, options, &mut progress)?;
    progress.finish()?;
    // Under MPI rank 0 alone writes and prints.
    if !vae::distributed::World::get()?.is_root() {
        return Ok(());
    }
    if let Some(last) = summary.epochs.last() {
        crate::output::line(format_args!(
            "trained {} epochs into {}: test loss {:.2} per image",
            last.epoch,
            out.display(),
            last.test.total
        ))?;
    }
    if !args.no_pictures {
        for path in vae_viz::write_all(&Run::load(&out, None)?)? {
            say(&path)?;
        }
    }
    Ok(())
}
