//! Empty: its presence makes Cargo resolve the build-dependencies of Cargo.toml.
fn main() {}
