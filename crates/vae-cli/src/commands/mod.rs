//! One module per `vae` command: its flags (`Args`) and `run`, which calls the libraries and
//! prints what they return.

pub mod arithmetic;
pub mod bench;
pub mod data;
pub mod decode;
pub mod encode;
pub mod eval;
pub mod export;
pub mod import;
pub mod interpolate;
pub mod loadtest;
pub mod morph;
pub mod reconstruct;
pub mod report;
pub mod sample;
pub mod serve;
pub mod sweep;
pub mod train;
pub mod two_stage;

use serde::Serialize;
use std::fmt::Display;
use std::path::Path;

/// The line each written file gets.
pub fn say(path: &Path) -> vae::Result<()> {
    crate::output::line(format_args!("wrote {}", path.display()))
}

/// A report as one line of JSON (`--json`), or as the library formats it for people.
pub fn print_report(report: &(impl Serialize + Display), json: bool) -> vae::Result<()> {
    if json {
        crate::output::line(serde_json::to_string(report).expect("reports serialise"))
    } else {
        crate::output::out(report)
    }
}
