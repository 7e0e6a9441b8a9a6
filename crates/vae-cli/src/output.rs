//! What the commands print. `println!` and `eprintln!` panic when their stream is a closed pipe
//! (`vae eval RUN | head`, `| true`), and a panic is not an ending: a closed pipe means nobody
//! reads any more, so what is printed after it is dropped and the command finishes its work
//! (its files are written) and ends as it would have, as `ls | head` ends quietly. Any other
//! error writing standard output (a full disk behind `>`) is an error of the command.
//! `clippy.toml` forbids the panicking macros in this crate.

use std::fmt::Display;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Standard output was found closed; nothing more is written to it.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output as it is.
pub fn out(text: impl Display) -> vae::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        result => result.map_err(|e| vae::Error::io("cannot write to standard output", e)),
    }
}

/// Writes `text` and a line break to standard output.
pub fn line(text: impl Display) -> vae::Result<()> {
    out(format_args!("{text}\n"))
}

/// Writes `text` and a line break to standard error; a closed or failing standard error
/// has nobody to tell, so the line is dropped.
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
