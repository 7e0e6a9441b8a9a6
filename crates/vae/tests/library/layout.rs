//! The library's modules form layers: each uses only the modules of the layers below it, so
//! imports flow one way and there are no cycles. Read from the source, `crate::` paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first (the order of the crate's documentation).
const LAYERS: [&str; 19] = [
    "error",
    "fsutil",
    "distributed",
    "device",
    "parallel",
    "kernels",
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
