//! The library's errors as Python exceptions, their lines speaking of this package's
//! arguments rather than the CLI's flags.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;

create_exception!(
    vaekit,
    VaeError,
    PyException,
    "A one-line error of the vae library: what is wrong and how to fix it."
);

/// The library's error as a Python exception: a count too large for memory is a `ValueError`,
/// the rest `VaeError`; its line names flags as this package's arguments ([`python_line`]).
pub(crate) fn error(e: vae::Error) -> PyErr {
    let line = python_line(&e.to_string());
    match e {
        vae::Error::TooLarge(_) => PyValueError::new_err(line),
        vae::Error::Interrupted(_) => PyKeyboardInterrupt::new_err(line),
        vae::Error::File { .. }
        | vae::Error::Io { .. }
        | vae::Error::Config(_)
        | vae::Error::Data(_)
        | vae::Error::Numerical(_)
        | vae::Error::Fetch(_)
        | vae::Error::Bug(_)
        | vae::Error::Stopped => VaeError::new_err(line),
    }
}

/// `line` with its flags named as this package's arguments (`--resume` as `resume=True`,
/// `--latent-dim` as `latent_dim`). Commands in backquotes stay as they are, and so do paths: a
/// `--` is a flag only where it starts a word and is not followed by more of a path
/// (`runs/a--b` and `--x/run` are paths).
fn python_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, part) in line.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
            continue;
        }
        let mut rest = part;
        while let Some(at) = rest.find("--") {
            let before = &rest[..at];
            out.push_str(before);
            let flag: String = rest[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let after = &rest[at + 2 + flag.len()..];
            let starts_word = before
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || "([{\"',".contains(c));
            let in_path = after.starts_with('/')
                || after.starts_with('\\')
                || (after.starts_with('.')
                    && after[1..].starts_with(|c: char| c.is_alphanumeric()));
            let is_flag =
                starts_word && !in_path && flag.starts_with(|c: char| c.is_ascii_lowercase());
            match flag.as_str() {
                _ if !is_flag => {
                    out.push_str("--");
                    out.push_str(&flag);
                }
                "resume" => out.push_str("resume=True"),
                "class" => out.push_str("class_"),
                name => out.push_str(&name.replace('-', "_")),
            }
            rest = after;
        }
        out.push_str(rest);
    }
    out
}
