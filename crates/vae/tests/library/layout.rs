//! The library's modules form layers: each uses only the modules of the layers below it, so
//! imports flow one way and there are no cycles. Read from the source, `crate::` paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first (the order of the crate's documentation).
const LAYERS: [&str; 19] = [
    "error",
    "interrupt",
    "fsutil",
    "distributed",
    "device",
    "parallel",
    "optim",
    "rng",
    "data",
    "model",
    "latent",
    "config",
    "run",
    "two_stage",
    "eval",
    "train",
    "arithmetic",
    "interop",
    "sweep",
];

/// The Rust files of a module: `src/NAME.rs`, or every file under `src/NAME/`.
fn files(src: &Path, module: &str) -> Vec<PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut found = Vec::new();
    let mut folders = vec![src.join(module)];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// Every `crate::MODULE` that `files` name.
fn uses(files: &[PathBuf]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

#[test]
fn library_modules_only_use_the_layers_below_them() {
    let src = crate::crate_file("src");
    let mut modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    modules.sort();
    let mut layers: Vec<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    layers.sort();
    assert_eq!(
        modules, layers,
        "every module of src/ has its place in LAYERS"
    );
    for (rank, module) in LAYERS.iter().enumerate() {
        let module_files = files(&src, module);
        assert!(!module_files.is_empty(), "{module}");
        for used in uses(&module_files) {
            assert!(
                LAYERS[..rank].contains(&used.as_str()) || used == *module,
                "{module} uses crate::{used}, which is not in a layer below it"
            );
        }
    }
}

/// The workspace's crates, lowest first: each depends (in its `[dependencies]`) only on crates
/// before it. Dev-dependencies may reach up to the test kit.
const CRATES: [&str; 9] = [
    "workspace-hack",
    "vae-kernels",
    "vae",
    "vae-testkit",
    "vae-viz",
    "vae-bench",
    "vae-serve",
    "vae-cli",
    "vae-python",
];

/// The workspace crates named in the `[dependencies]` table of a `Cargo.toml`.
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut in_table = false;
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
            continue;
        }
        let name = line.split(['.', ' ', '=']).next().unwrap_or("");
        if in_table && CRATES.contains(&name) {
            found.push(name.to_string());
        }
    }
    found
}

#[test]
fn workspace_crates_only_depend_on_the_crates_below_them() {
    let crates = crate::crate_file("..");
    let mut on_disk: Vec<String> = std::fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CRATES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every crate of crates/ has its place in CRATES"
    );
    for (rank, name) in CRATES.iter().enumerate() {
        let manifest = std::fs::read_to_string(crates.join(name).join("Cargo.toml")).unwrap();
        for used in normal_dependencies(&manifest) {
            assert!(
                CRATES[..rank].contains(&used.as_str()),
                "{name} depends on {used}, which is not below it"
            );
        }
    }
}

/// `unsafe` lives in `vae-kernels` alone: every other crate's root forbids it, but for the
/// command line's one allocator setting, which it only denies and allows on that function.
#[test]
fn unsafe_code_lives_in_the_kernels_crate_alone() {
    let crates = crate::crate_file("..");
    for name in CRATES {
        let root = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|r| crates.join(name).join(r))
            .find(|p| p.is_file())
            .unwrap();
        let text = std::fs::read_to_string(&root).unwrap();
        let expected = match name {
            "vae-kernels" => "#![deny(unsafe_op_in_unsafe_fn)]",
            "vae-cli" => "#![deny(unsafe_code)]",
            _ => "#![forbid(unsafe_code)]",
        };
        assert!(
            text.contains(expected),
            "{} lacks {expected}",
            root.display()
        );
    }
    let cli = std::fs::read_to_string(crates.join("vae-cli/src/main.rs")).unwrap();
    assert_eq!(cli.matches("#[allow(unsafe_code)]").count(), 1);
}
