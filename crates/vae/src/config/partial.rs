//! [`PartialConfig`]: settings as a file, the flags or a saved run give them, layered, then
//! resolved into a [`TrainConfig`].

use super::{TrainConfig, settings};
use crate::error::{Error, IoContext, Result};
use crate::model::Arch;
use std::path::Path;

/// Settings as given, before defaults: a config file's, the flags', a saved run's. Layers of
/// them make a run's settings ([`PartialConfig::over`]); [`PartialConfig::resolve`] fills what
/// none gave from the declared defaults ([`settings`]), the architecture's where they depend on
/// it, so a `--arch conv` given last still gets conv's learning rate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialConfig(toml::Table);

impl PartialConfig {
    /// Settings from a table with the keys of a config file (unknown keys and wrong types are
    /// found when resolved).
    pub fn from_table(table: toml::Table) -> Self {
        PartialConfig(table)
    }

    /// Reads a TOML config file; its keys and their types are checked here, so that the error
    /// names the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let given = PartialConfig::read(path)?;
        given.clone().resolve_file(path)?;
        Ok(given)
    }

    /// A TOML file's table, unchecked.
    pub(super) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .ctx(|| format!("cannot read config {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("invalid config: {}", e.message().replace('\n', " ")),
            )
        })?;
        Ok(PartialConfig(table))
    }

    /// All the settings of `config`.
    pub fn of(config: &TrainConfig) -> Result<Self> {
        toml::Table::try_from(config)
            .map(PartialConfig)
            .map_err(|e| {
                Error::Config(format!(
                    "settings that TOML cannot hold ({e}); paths must be UTF-8"
                ))
            })
    }

    /// These settings with those of `top` given over them.
    pub fn over(mut self, top: PartialConfig) -> Self {
        self.0.extend(top.0);
        self
    }

    /// Gives one setting.
    pub fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    /// Every setting: the given ones, the rest from their declared defaults. Unknown keys and
    /// values of the wrong type are errors that name `origin`.
    pub fn resolve(self, origin: &str) -> Result<TrainConfig> {
        self.deserialized()
            .map_err(|why| Error::Config(format!("{origin}: {why}")))
    }

    pub(super) fn resolve_file(self, path: &Path) -> Result<TrainConfig> {
        self.deserialized()
            .map_err(|why| Error::file(path, format!("invalid config: {why}")))
    }

    /// The resolved settings, or why not, naming the setting at fault: a table's error says
    /// what was wrong but not where, so each given setting is tried alone over the defaults.
    fn deserialized(self) -> std::result::Result<TrainConfig, String> {
        let message = |e: toml::de::Error| e.message().replace('\n', " ");
        let error = match self.clone().filled().try_into() {
            Ok(config) => return Ok(config),
            Err(e) => message(e),
        };
        let culprit = self.0.iter().find(|(key, value)| {
            let mut alone = PartialConfig::default();
            alone.set(key, (*value).clone());
            alone.filled().try_into::<TrainConfig>().is_err()
        });
        Err(match culprit {
            Some((key, _)) if !error.contains(&format!("`{key}`")) => format!("{key}: {error}"),
            _ => error,
        })
    }

    /// The table with every missing setting's default; an unknown architecture is left for
    /// deserializing to name.
    fn filled(self) -> toml::Value {
        let arch = self
            .0
            .get("arch")
            .and_then(|a| a.as_str())
            .and_then(|name| Arch::from_name(name).ok());
        let mut table = self.0;
        for setting in settings::settings() {
            if !table.contains_key(setting.key)
                && let Some(value) = setting.default_value(arch.unwrap_or(Arch::Mlp))
            {
                table.insert(setting.key.to_string(), value);
            }
        }
        toml::Value::Table(table)
    }
}
