//! Training told to Python: a callback (or a printed line) per finished epoch, and Ctrl-C,
//! which Python notices only when asked while the library holds the thread.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use vae::model::Vae;
use vae::train::{EpochMetrics, Progress};

/// How a run started from Python reports, and the Python error (Ctrl-C, or the callback's own)
/// that stopped it.
pub struct PythonProgress {
    /// Called with each finished epoch's numbers; `None` prints them.
    callback: Option<Py<PyAny>>,
    quiet: bool,
    pending: Option<PyErr>,
}

impl PythonProgress {
    /// `progress`: a callable, `False` for silence, or `None` for a printed line per epoch.
    pub fn new(progress: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let (callback, quiet) = match progress {
            None => (None, false),
            Some(p) if p.is_callable() => (Some(p.clone().unbind()), false),
            Some(p) if p.is_instance_of::<pyo3::types::PyBool>() => (None, !p.is_truthy()?),
            Some(_) => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "progress must be a callable taking a dict, False or None",
                ));
            }
        };
        Ok(PythonProgress {
            callback,
            quiet,
            pending: None,
        })
    }

    /// Raises what stopped the run, if Python stopped it: Ctrl-C as `KeyboardInterrupt` with the
    /// library's line on how to go on, the callback's exception as it was.
    pub fn raise_pending(&mut self, failed: Option<&vae::Error>) -> PyResult<()> {
        match self.pending.take() {
            None => Ok(()),
            Some(e) => Python::attach(|py| {
                if e.is_instance_of::<PyKeyboardInterrupt>(py)
                    && let Some(vae::Error::Interrupted(line)) = failed
                {
                    return Err(PyKeyboardInterrupt::new_err(format!(
                        "{line} (vaekit.train(..., resume=True))"
                    )));
                }
                Err(e)
            }),
        }
    }

    fn print(&self, py: Python<'_>, line: &str) -> PyResult<()> {
        if !self.quiet {
            py.import("builtins")?.getattr("print")?.call1((line,))?;
        }
        Ok(())
    }

    fn keep(&mut self, result: PyResult<()>) {
        if let Err(e) = result
            && self.pending.is_none()
        {
            self.pending = Some(e);
        }
    }
}

impl Progress for PythonProgress {
    fn epoch_finished(&mut self, metrics: &EpochMetrics, epochs: usize, _model: &Vae) {
        let told = Python::attach(|py| match &self.callback {
            Some(callback) => {
                let numbers = crate::from_json(py, metrics)?;
                callback.call1(py, (numbers,)).map(drop)
            }
            None => self.print(py, &metrics.summary(epochs)),
        });
        self.keep(told);
    }

    fn message(&mut self, text: &str) {
        let printed = Python::attach(|py| self.print(py, text));
        self.keep(printed);
    }

    /// Asked after every step: Ctrl-C is seen between two steps.
    fn stop_requested(&mut self) -> bool {
        let checked = Python::attach(|py| py.check_signals());
        self.keep(checked);
        self.pending.is_some()
    }
}
