//! The explorer's tests, one binary: the JSON API over loopback, and the page in a real
//! browser. Both use the same two runs, trained once.

mod browser;
mod serve;

/// The trained runs of [`vae_testkit::explorer_runs`], under Cargo's temporary folder.
pub fn runs() -> &'static vae_testkit::ExplorerRuns {
    vae_testkit::explorer_runs(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer"))
}
