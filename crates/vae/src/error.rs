//! One error type for the whole library: every variant renders as a single line that names the
//! problem and, where there is one, the fix. The CLI prints it as is and exits non-zero.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in `vae`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file exists but its content is not what we expected (corrupt, truncated, wrong shape).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// An I/O operation failed (missing file, permission, disk full).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A hyperparameter or flag that cannot work.
    #[error("{0}")]
    Config(String),
    /// The data set could not be found or does not fit the model.
    #[error("{0}")]
    Data(String),
    /// Training diverged (NaN or Inf).
    #[error("{0}")]
    Numerical(String),
    /// A download failed or did not match its checksum.
    #[error("{0}")]
    Fetch(String),
    /// A computation panicked (a bug in `vae` or a library under it): the call ends with this
    /// instead of taking the process down or leaving other threads waiting.
    #[error("internal error: {0}; please report it")]
    Bug(String),
    /// A count or an array asked for (samples, importance samples, images) that cannot fit in
    /// the memory available: refused before anything is allocated, for the caller to shrink.
    #[error("{0}")]
    TooLarge(String),
    /// The caller asked training to stop between two steps (its `Progress::stop_requested`),
    /// or the hook of another long call between two passes (the `interrupt` module).
    #[error("{0}")]
    Interrupted(String),
    /// Another MPI rank failed and said why; this one stops with it and prints nothing.
    #[error("stopped because another rank failed")]
    Stopped,
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A content error about `path`.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// An I/O error with what we were doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds "what we were doing" to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

/// Runs `f`, turning a panic into an error. Burn's record loaders assume well-formed input and
/// panic on some crafted files (an `expect` on a missing parameter id in `ModuleOptimizer`); a
/// file a user points us at must give an error instead. The panic message is silenced because
/// it is reported as the error.
pub fn without_panics<T>(
    f: impl FnOnce() -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        Err(format!("malformed record: {message}"))
    })
}
