//! `vae data info|bench|fetch`: inspect, benchmark or download data sets.

use crate::flags::{DataFlags, check_count, choice};
use std::io::Read;
use std::path::PathBuf;
use vae::Error;
use vae::data::fetch::{FETCH_URL_ENV, MAX_DOWNLOAD, fetch, official};
use vae::data::{self, DatasetKind, locate};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show where the data was found, counts, shapes and pixel statistics.
    Info(DataFlags),
    /// Images/s of the training-data loader alone (decoding, cache), nothing else running.
    Bench {
        #[command(flatten)]
        data: DataFlags,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Batches read (default: one pass over the training split).
        #[arg(long)]
        batches: Option<usize>,
        /// Passes over the same batches (the second shows the cache at work).
        #[arg(long, default_value_t = 1)]
        passes: usize,
    },
    /// Download the official files (checksums verified) into the cache folder or --dest.
    Fetch {
        /// fashion-mnist or mnist.
        #[arg(value_parser = choice::<DatasetKind>)]
        dataset: DatasetKind,
        #[arg(long)]
        dest: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> vae::Result<()> {
    match command {
        Command::Info(flags) => crate::output::out(data::info(&flags.spec()?)?),
        Command::Bench {
            data: flags,
            batch_size,
            batches,
            passes,
        } => {
            check_count(batch_size, "--batch-size")?;
            check_count(passes, "--passes")?;
            let splits = data::load_splits(&flags.spec()?)?;
            let train = &splits.train;
            let batches = batches.unwrap_or(train.len().div_ceil(batch_size));
            check_count(batches, "--batches")?;
            for pass in 1..=passes {
                let report = data::loader_throughput(train, batch_size, batches, 0)?;
                crate::output::line(format_args!("pass {pass}: {report}"))?;
            }
            Ok(())
        }
        Command::Fetch { dataset, dest } => {
            let (base, files) = official(dataset)?;
            let base = std::env::var(FETCH_URL_ENV).unwrap_or_else(|_| base.to_string());
            let dest = dest.or_else(|| locate::cache_dir(dataset)).ok_or_else(|| {
                Error::Config("no user cache folder on this system; pass --dest DIR".into())
            })?;
            for path in fetch(&base, &files, &dest, download)? {
                crate::output::line(format_args!("verified {}", path.display()))?;
            }
            crate::output::line(format_args!(
                "use it with --data {} (it is also found automatically)",
                dest.display()
            ))?;
            Ok(())
        }
    }
}

/// One file over HTTP(S), at most [`MAX_DOWNLOAD`] bytes.
fn download(url: &str) -> vae::Result<Vec<u8>> {
    let response = ureq::get(url)
        .call()
        .map_err(|e| Error::Fetch(format!("cannot download {url}: {e}")))?;
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_DOWNLOAD)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Fetch(format!("download of {url} broke off: {e}")))?;
    Ok(bytes)
}
