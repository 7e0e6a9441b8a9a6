//! Every setting of a training run, declared once ([`settings`], in `table`): its key (in config
//! files and `config.toml`; the flag is `--key` with `-` for `_`), what it is, how a flag's text
//! becomes its value, and its default (fixed, or the architecture's [`Defaults`]). The CLI makes
//! its flags from this table, `--help` and `docs/cli.md` show it (a test holds the docs to it),
//! [`PartialConfig::resolve`](super::PartialConfig::resolve) fills missing settings from it, and
//! [`TrainConfig`](super::TrainConfig) is what it resolves into, whose `validate` is the validation.

mod table;

pub use table::settings;

use crate::error::{Error, Result};
use crate::model::Arch;
use crate::model::arch::Defaults;

/// What kind of value a setting takes, and so how a flag's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// Text: a name, a path.
    Text,
    /// Present or not (a flag without a value).
    Switch,
    /// Whole numbers separated by commas.
    Integers,
    /// Names separated by commas.
    Names,
}

/// A setting's default.
#[derive(Clone, Copy)]
pub enum Fallback {
    /// This value, written as TOML.
    Fixed(&'static str),
    /// None: the setting is off unless given.
    Absent,
    /// The architecture's ([`Defaults`]).
    Architecture(fn(&Defaults) -> toml::Value),
}

/// Which commands take a setting: the data settings also describe a data set alone
/// (`vae data info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Data,
    Run,
}

/// One name a setting accepts where it takes one of a registry's.
pub struct Choice {
    pub name: &'static str,
    /// Older names that still read as it.
    pub aliases: &'static [&'static str],
    /// What it is, in one sentence.
    pub about: &'static str,
}

/// The names a setting accepts where it takes one of a registry's.
pub type Choices = fn() -> Vec<Choice>;

/// One setting.
pub struct Setting {
    pub key: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub group: Group,
    pub fallback: Fallback,
    pub choices: Option<Choices>,
}

impl Setting {
    /// The command-line flag, without `--`.
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }

    /// Its default for a run of `arch`, as a value of a config table; `None` when it is off
    /// unless given.
    pub fn default_value(&self, arch: Arch) -> Option<toml::Value> {
        match self.fallback {
            Fallback::Fixed(text) => {
                let table: toml::Table = toml::from_str(&format!("v = {text}"))
                    .expect("a declared default is a TOML value");
                table.get("v").cloned()
            }
            Fallback::Absent => None,
            Fallback::Architecture(of) => Some(of(&arch.defaults())),
        }
    }

    /// Its default, as people read it.
    pub fn default_text(&self) -> String {
        let text = |value: Option<toml::Value>| match value {
            Some(toml::Value::String(s)) => s,
            Some(toml::Value::Boolean(false)) => "off".into(),
            None => "none".into(),
            Some(toml::Value::Array(a)) if a.is_empty() => "none".into(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
            Some(v) => v.to_string(),
        };
        match self.fallback {
            Fallback::Architecture(_) => {
                let each: Vec<String> = Arch::ALL
                    .iter()
                    .map(|&a| format!("{} {}", a.name(), text(self.default_value(a))))
                    .collect();
                format!("the architecture's: {}", each.join(", "))
            }
            Fallback::Fixed(_) | Fallback::Absent => text(self.default_value(Arch::Mlp)),
        }
    }

    /// A flag's text as this setting's value in a config table, or an error naming the flag.
    pub fn value_of(&self, text: &str) -> Result<toml::Value> {
        let flag = self.flag();
        let bad =
            |what: &str| Error::Config(format!("--{flag} takes {what}, not '{text}' (see --help)"));
        let integer = |t: &str| t.trim().parse::<i64>().map(toml::Value::Integer);
        Ok(match self.kind {
            Kind::Integer => integer(text).map_err(|_| bad("a whole number"))?,
            Kind::Number => {
                toml::Value::Float(text.trim().parse::<f64>().map_err(|_| bad("a number"))?)
            }
            Kind::Text => toml::Value::String(text.to_string()),
            Kind::Switch => toml::Value::Boolean(true),
            Kind::Integers => toml::Value::Array(
                text.split(',')
                    .map(integer)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad("whole numbers separated by commas"))?,
            ),
            Kind::Names => toml::Value::Array(
                text.split(',')
                    .map(|n| toml::Value::String(n.trim().to_string()))
                    .collect(),
            ),
        })
    }
}

/// The settings as the markdown table `docs/cli.md` holds.
pub fn markdown_table() -> String {
    let mut t = String::from("| flag (config key) | what | default |\n| --- | --- | --- |\n");
    for s in settings() {
        let choices = s
            .choices
            .map(|c| {
                let each: Vec<String> = c()
                    .iter()
                    .map(|c| format!("`{}`: {}", c.name, c.about))
                    .collect();
                format!(" One of: {}", each.join(" "))
            })
            .unwrap_or_default();
        t.push_str(&format!(
            "| `--{}` (`{}`) | {}{choices} | {} |\n",
            s.flag(),
            s.key,
            s.help.replace('|', "\\|"),
            s.default_text()
        ));
    }
    t
}
