//! What a training run tells while it runs.

use super::metrics::EpochMetrics;
use crate::model::Vae;

/// What a run tells while it trains. The `vae` binary draws a progress bar and prints a line
/// per epoch; [`Quiet`] tells nothing.
pub trait Progress {
    /// Epoch `epoch` of `epochs` starts, with `steps` optimiser steps.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// The first `steps` steps of the epoch ended and their loss was read back (every few
    /// steps, at least twice a second, and at the end of the epoch: [`super::epoch`]);
    /// `mean_loss` and `images_per_second` are over those steps.
    fn step(&mut self, _steps: usize, _mean_loss: f64, _images_per_second: f64) {}
    /// The epoch ended (also after a divergence, before its message).
    fn epoch_ended(&mut self) {}
    /// An epoch saved (its checkpoint committed): its metrics and the model it ended with.
    fn epoch_finished(&mut self, _metrics: &EpochMetrics, _epochs: usize, _model: &Vae) {}
    /// Something the user should know (a rollback, the next run of a sweep).
    fn message(&mut self, _text: &str) {}
    /// Asked after every step: true ends the run there with [`Error::Interrupted`], the run
    /// folder holding the last finished epoch (so it resumes). A caller whose user pressed
    /// Ctrl-C while the library holds the thread (Python) says so here. Honoured in a single
    /// process only: under MPI the ranks would have to agree on it.
    ///
    /// [`Error::Interrupted`]: crate::error::Error::Interrupted
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
