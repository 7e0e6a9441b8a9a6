//! Training progress on the terminal: a bar with live loss and images/s during an epoch (only
//! when stderr is a terminal), then one line per finished epoch.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vae::train::{EpochMetrics, Progress};

/// The terminal's view of a training run.
#[derive(Default)]
pub struct Terminal {
    bar: Option<ProgressBar>,
}

impl Progress for Terminal {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn step(&mut self, steps: usize, mean_loss: f64, images_per_second: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {mean_loss:.2}  {images_per_second:.0} img/s"));
            bar.set_position(steps as u64);
        }
    }

    fn epoch_ended(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn epoch_finished(&mut self, metrics: &EpochMetrics, epochs: usize, _model: &vae::model::Vae) {
        crate::output::note(metrics.summary(epochs));
    }

    fn message(&mut self, text: &str) {
        crate::output::note(text);
    }
}
