//! The settings are declared once (`vae::config::settings`): every key of `TrainConfig` is in
//! the table and nothing else is, every flag's text reads as its setting, and `docs/cli.md`
//! shows the table as the library makes it.

use std::collections::BTreeSet;
use vae::TrainConfig;
use vae::config::settings::{markdown_table, settings};

/// A config with every optional setting given, so that TOML writes every key.
fn every_key() -> BTreeSet<String> {
    let config = TrainConfig {
        data: Some("/data".into()),
        latent_dim: Some(2),
        channels: Some(vec![8]),
        attributes: Some("/attributes.csv".into()),
        loss: Some(vae::model::loss::Reconstruction::Bce),
        lr: Some(1e-3),
        batch_size: Some(64),
        limit: Some(10),
        patience: Some(3),
        grad_clip: Some(1.0),
        ..TrainConfig::default()
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
    let config = TrainConfig::default()
        .with_settings(table, "flags")
        .unwrap();
    assert_eq!(config.arch, vae::model::Arch::ConvBn);
    assert_eq!(
        (
            config.latent_dim,
            config.hidden.clone(),
            config.beta,
            config.lr
        ),
        (Some(8), vec![64, 32], -1.0, Some(3e-4))
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
