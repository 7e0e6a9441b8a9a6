//! The settings are declared once (`vae::config::settings`): every key of `TrainConfig` is in
//! the table and nothing else is, every flag's text reads as its setting, missing settings
//! resolve to the declared defaults (the architecture's where they depend on it), and
//! `docs/cli.md` shows the table as the library makes it.

use std::collections::BTreeSet;
use vae::config::settings::{markdown_table, settings};
use vae::model::Arch;
use vae::{PartialConfig, TrainConfig};

/// A config with every optional setting given, so that TOML writes every key.
fn every_key() -> BTreeSet<String> {
    let config = TrainConfig {
        data: Some("/data".into()),
        attributes: Some("/attributes.csv".into()),
        limit: Some(10),
        patience: Some(3),
        grad_clip: Some(1.0),
        k: Some(5),
        pseudo_inputs: Some(500),
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    toml::Table::try_from(config)
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_setting_is_declared_once() {
    let declared: Vec<&str> = settings().iter().map(|s| s.key).collect();
    let unique: BTreeSet<String> = declared.iter().map(|k| k.to_string()).collect();
    assert_eq!(
        unique.len(),
        declared.len(),
        "a key declared twice: {declared:?}"
    );
    assert_eq!(
        unique,
        every_key(),
        "the table and TrainConfig's keys differ"
    );
}

#[test]
fn flag_texts_read_as_their_settings() {
    let all = settings();
    let setting = |key: &str| all.iter().find(|s| s.key == key).unwrap();
    let mut table = toml::Table::new();
    for (key, text) in [
        ("arch", "celeba"),
        ("latent_dim", "8"),
        ("hidden", "64,32"),
        ("beta", "-1"),
        ("lr", "3e-4"),
        ("autoencoder", ""),
        ("condition_attributes", "Smiling, Eyeglasses"),
        ("on_nan", "rollback"),
    ] {
        table.insert(key.into(), setting(key).value_of(text).unwrap());
    }
    let config = PartialConfig::from_table(table).resolve("flags").unwrap();
    assert_eq!(config.arch, Arch::ConvBn);
    assert_eq!(
        (
            config.latent_dim,
            config.hidden.clone(),
            config.beta,
            config.lr
        ),
        (8, vec![64, 32], -1.0, 3e-4)
    );
    assert!(config.autoencoder);
    assert_eq!(config.condition_attributes, ["Smiling", "Eyeglasses"]);
    assert_eq!(config.on_nan, vae::config::OnNan::Rollback);
    let e = setting("latent_dim")
        .value_of("two")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--latent-dim takes a whole number, not 'two'"),
        "{e}"
    );
}

#[test]
fn the_docs_show_the_table_of_settings() {
    let docs = std::fs::read_to_string(crate::crate_file("../../docs/cli.md")).unwrap();
    let begin = docs
        .find("<!-- settings -->\n")
        .expect("docs/cli.md marks the table")
        + "<!-- settings -->\n".len();
    let end = docs.find("<!-- /settings -->").unwrap();
    let expected = markdown_table();
    assert!(
        docs[begin..end] == expected,
        "docs/cli.md's table of settings is not the library's; put this between the markers:\n{expected}"
    );
}

/// What no layer gives comes from the architecture that the layers end with, whichever layer
/// named it: `--arch conv` over a file without an `arch` gets conv's learning rate, not the
/// MLP's. A saved run's settings (all given) stay as they are.
#[test]
fn missing_settings_resolve_to_the_final_architectures_defaults() {
    for &arch in Arch::ALL {
        let d = arch.defaults();
        let config = TrainConfig::for_arch(arch);
        assert_eq!(
            (
                config.latent_dim,
                config.channels.clone(),
                config.loss,
                config.lr,
                config.batch_size
            ),
            (d.latent_dim, d.channels, d.loss, d.lr, d.batch_size),
            "{}",
            arch.name()
        );
        assert_eq!((config.epochs, config.seed, config.beta), (10, 42, 1.0));
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.toml");
    std::fs::write(&file, "beta = 4.0\nlatent_dim = 6\n").unwrap();
    let mut flags = PartialConfig::default();
    flags.set("arch", "conv");
    let config = PartialConfig::from_file(&file)
        .unwrap()
        .over(flags)
        .resolve("flags")
        .unwrap();
    let conv = Arch::Conv.defaults();
    assert_eq!(
        (config.arch, config.beta, config.latent_dim),
        (Arch::Conv, 4.0, 6)
    );
    assert_eq!((config.lr, config.batch_size), (conv.lr, conv.batch_size));

    let saved = TrainConfig {
        lr: 0.125,
        ..TrainConfig::for_arch(Arch::ConvBn)
    };
    let again = PartialConfig::of(&saved).unwrap().resolve("saved").unwrap();
    assert_eq!(again, saved);

    std::fs::write(&file, "beta = 4.0\nbta = 2.0\n").unwrap();
    let e = PartialConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("run.toml") && e.contains("unknown field `bta`"),
        "{e}"
    );
    // A value of the wrong type: the error names its setting.
    std::fs::write(&file, "beta = 4.0\nlr = \"fast\"\n").unwrap();
    let e = PartialConfig::from_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("run.toml") && e.contains("lr: invalid type"),
        "{e}"
    );
}

/// Every shipped config in `configs/` reads and passes validation, so none ships stale.
#[test]
fn the_shipped_configs_resolve_and_validate() {
    let dir = crate::crate_file("../../configs");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = TrainConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            config.validate().unwrap_or_else(|e| panic!("{e}"));
            read += 1;
        }
    }
    assert!(read >= 3, "only {read} configs in {}", dir.display());
}
