//! `vae sweep`: one run per beta, trained one after another into `OUT/beta-B`, each evaluated
//! (with the disentanglement metrics on factor data sets) and handed to the caller (the CLI
//! draws its pictures), then `sweep.json` that sets them side by side (the CLI adds the report
//! page). Every step is resumable: a run continues from its checkpoint, and a finished run's
//! evaluation is reused while its weights are unchanged.

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::eval::{self, EvalOptions, EvalReport};
use crate::run::{self, CHECKPOINT_FILE, EVAL_FILE, MODEL_FILE, Run};
use crate::train::{self, Progress, TrainOptions};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The sweep's summary file, beside the runs.
pub const SWEEP_FILE: &str = "sweep.json";

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub betas: Vec<f64>,
    /// Folder holding one run folder per beta and the sweep report.
    pub out: PathBuf,
    /// Settings shared by every run (its `beta` is replaced).
    pub base: TrainConfig,
    pub eval: EvalOptions,
}

/// One beta's row of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepEntry {
    pub beta: f64,
    /// The run folder, relative to the sweep folder.
    pub run: String,
    pub epochs: usize,
    pub eval: EvalReport,
    pub latent_dim: usize,
    /// KL of the active dimensions per active dimension: how much information each used
    /// dimension carries ([`EvalReport::kl_per_active_dim`]).
    pub kl_per_active_dim: Option<f64>,
}

/// The whole sweep, as saved in `sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    pub entries: Vec<SweepEntry>,
    pub config: TrainConfig,
}

/// The run folder name of `beta`.
pub fn run_name(beta: f64) -> String {
    format!("beta-{beta}")
}

/// Rejects sweeps that cannot run, with the fix.
pub fn validate(options: &SweepOptions) -> Result<()> {
    if options.betas.is_empty() {
        return Err(Error::Config(
            "--betas needs at least one value, e.g. --betas 0.5,1,2,4,8".into(),
        ));
    }
    if let Some(b) = options
        .betas
        .iter()
        .find(|b| !(b.is_finite() && **b >= 0.0))
    {
        return Err(Error::Config(format!(
            "every beta must be a finite number >= 0 (got {b})"
        )));
    }
    for (i, a) in options.betas.iter().enumerate() {
        if options.betas[..i].contains(a) {
            return Err(Error::Config(format!("beta {a} appears twice in --betas")));
        }
    }
    if options.base.autoencoder {
        return Err(Error::Config(
            "a beta sweep needs a VAE: a plain autoencoder has no KL term to weigh; drop --autoencoder".into(),
        ));
    }
    options.eval.metrics.validate()?;
    // Every run that exists already must have been made with these settings: checked before
    // anything trains, so that a changed flag never leaves half a sweep behind.
    for &beta in &options.betas {
        let config = TrainConfig {
            beta,
            ..options.base.clone()
        };
        config.validate()?;
        let dir = options.out.join(run_name(beta));
        if dir.join(CHECKPOINT_FILE).is_file() {
            let saved_path = dir.join(run::CONFIG_FILE);
            let saved = TrainConfig::from_file(&saved_path)?;
            if saved.identity() != config.identity() {
                return Err(Error::Config(format!(
                    "{} was trained with other settings than the flags given; run the sweep with the same flags (only --epochs may grow) or choose another --out",
                    saved_path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Trains and evaluates every beta in turn, then writes `sweep.json`. `evaluated` gets each run
/// once its evaluation is current, and whether that evaluation was just made (`false`: reused
/// from its `eval.json`).
pub fn sweep(
    options: &SweepOptions,
    progress: &mut dyn Progress,
    mut evaluated: impl FnMut(&Run, bool) -> Result<()>,
) -> Result<SweepReport> {
    validate(options)?;
    crate::fsutil::create_dir(&options.out)?;
    let mut entries = Vec::new();
    for &beta in &options.betas {
        let name = run_name(beta);
        let dir = options.out.join(&name);
        let config = TrainConfig {
            beta,
            ..options.base.clone()
        };
        progress.message(&format!("beta {beta}: {}", dir.display()));
        let summary = train::train_with(
            &config,
            &dir,
            TrainOptions {
                resume: dir.join(CHECKPOINT_FILE).is_file(),
            },
            progress,
        )?;
        let run = Run::load(&dir, None)?;
        let (eval, fresh) = match saved_eval(&dir, &options.eval) {
            Some(eval) => (eval, false),
            None => (eval::evaluate_run(&run, options.eval)?, true),
        };
        evaluated(&run, fresh)?;
        let kl_per_active_dim = eval.kl_per_active_dim();
        entries.push(SweepEntry {
            beta,
            run: name,
            epochs: summary.epochs.len(),
            latent_dim: run.model_config.latent_dim,
            kl_per_active_dim,
            eval,
        });
    }
    let report = SweepReport {
        entries,
        config: options.base.clone(),
    };
    let text = serde_json::to_string_pretty(&report).expect("a sweep report serialises");
    crate::fsutil::write_atomic(&options.out.join(SWEEP_FILE), text.as_bytes())?;
    Ok(report)
}

/// A run's `eval.json` when it is newer than the run's weights (the evaluation of exactly these
/// weights) and was made with `options`.
fn saved_eval(dir: &Path, options: &EvalOptions) -> Option<EvalReport> {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let (eval_time, model_time) = (
        modified(dir.join(EVAL_FILE))?,
        modified(dir.join(MODEL_FILE))?,
    );
    if eval_time < model_time {
        return None;
    }
    let saved: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join(EVAL_FILE)).ok()?).ok()?;
    (saved.options.as_ref() == Some(options)).then_some(saved)
}

/// The sweep as the text table `vae sweep` prints.
impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

impl SweepReport {
    /// The names of the metric columns ([`EvalReport::scalars`]) of any run, in the order they
    /// first appear; each run's value of a column, or `None`.
    pub fn metric_columns(&self) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
        let mut names: Vec<String> = Vec::new();
        for e in &self.entries {
            for (name, _) in e.eval.scalars() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let values = self
            .entries
            .iter()
            .map(|e| {
                let scalars = e.eval.scalars();
                names
                    .iter()
                    .map(|n| scalars.iter().find(|(s, _)| s == n).map(|(_, v)| *v))
                    .collect()
            })
            .collect();
        (names, values)
    }

    fn table(&self) -> String {
        let opt =
            |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "n/a"), |v| format!("{v:>w$.2}"));
        let grey = self.entries.iter().any(|e| e.eval.is_grey_bce());
        let (columns, values) = self.metric_columns();
        let mut t = format!(
            "  beta {:>9}     recon        KL  active  KL/active",
            if grey { "-(BCE+KL)" } else { "ELBO" }
        );
        for c in &columns {
            t.push_str(&format!(" {c:>9}"));
        }
        t.push('\n');
        for (e, values) in self.entries.iter().zip(values) {
            t.push_str(&format!(
                "{:>6} {} {:>9.2} {:>9.2} {:>4}/{:<2} {}",
                e.beta,
                opt(e.eval.elbo_or_formula(), 9),
                e.eval.recon,
                e.eval.kl,
                e.eval.active_units,
                e.latent_dim,
                opt(e.kl_per_active_dim, 10),
            ));
            for (c, v) in columns.iter().zip(values) {
                let w = c.len().max(9);
                t.push_str(&v.map_or(format!(" {:>w$}", "n/a"), |v| format!(" {v:>w$.3}")));
            }
            t.push('\n');
        }
        if grey {
            t.push_str(&format!("note: {}\n", eval::GREY_CAVEAT));
        }
        t
    }
}
