//! Flag groups that several commands share, each defined once. The training settings' flags
//! are made from the library's table of settings (`vae::config::settings`): set flags become
//! a TOML table of [`TrainConfig`] keys laid over the defaults, a `--config` file or a run's own
//! config, so no setting is written twice.

use clap::Args;
use serde::de::DeserializeOwned;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use vae::config::settings::{Group, Kind, settings};
use vae::config::{PartialConfig, TrainConfig};
use vae::data::DataSpec;
use vae::eval::disentanglement::MetricOptions;
use vae::model::Arch;
use vae::run::CONFIG_FILE;
use vae::{Error, Result};

/// Parses a flag value into one of the library's enums by its name in config files (the
/// library has no CLI dependency, so its enums carry no clap derives).
pub fn choice<T: DeserializeOwned>(value: &str) -> std::result::Result<T, String> {
    use serde::de::value::{Error as DeError, StrDeserializer};
    T::deserialize(StrDeserializer::<DeError>::new(value)).map_err(|e| e.to_string())
}

/// `--arch` and `--model`: the registered architectures, by name (older names too), listed in
/// `--help`.
pub fn arch() -> impl clap::builder::TypedValueParser<Value = Arch> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Arch::ALL.iter().map(|a| {
            PossibleValue::new(a.name()).aliases(a.architecture().aliases().iter().copied())
        }),
    )
    .map(|name| Arch::from_name(&name).expect("clap accepts registered names only"))
}

/// Settings given as flags, made from the library's one table of settings
/// ([`vae::config::settings`]): each setting of `group` (all of them when `None`) is a flag
/// with its help and default, and what is given becomes a TOML table of config keys laid over
/// a config.
#[derive(Default)]
struct Given {
    /// Config key and the flag's text (`None` for a switch that is set), as the OS gave it: a
    /// path that is not UTF-8 is refused by [`Given::table`] with its flag named.
    values: Vec<(&'static str, Option<OsString>)>,
}

impl Given {
    fn augment(mut cmd: clap::Command, group: Option<Group>) -> clap::Command {
        use clap::builder::{PossibleValue, PossibleValuesParser};
        use clap::{Arg, ArgAction};
        for s in settings()
            .into_iter()
            .filter(|s| group.is_none_or(|g| s.group == g))
        {
            let help = format!("{} [default: {}]", s.help, s.default_text());
            let mut arg = Arg::new(s.key)
                .long(s.flag())
                .value_name(s.key.to_uppercase())
                .help(help);
            // A value is a choice, or text as the OS gives it (a path need not be UTF-8).
            let valued = |arg: Arg| match s.choices {
                Some(choices) => {
                    arg.value_parser(PossibleValuesParser::new(choices().into_iter().map(|c| {
                        PossibleValue::new(c.name)
                            .aliases(c.aliases.iter().copied())
                            .help(c.about)
                    })))
                }
                None => arg.value_parser(clap::value_parser!(OsString)),
            };
            arg = match s.kind {
                Kind::Switch => arg.action(ArgAction::SetTrue),
                Kind::Number | Kind::Integer => valued(arg.allow_negative_numbers(true)),
                Kind::Text | Kind::Integers | Kind::Names => valued(arg),
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn from(matches: &clap::ArgMatches, group: Option<Group>) -> Self {
        let mut values = Vec::new();
        for s in settings()
            .into_iter()
            .filter(|s| group.is_none_or(|g| s.group == g))
        {
            match s.kind {
                Kind::Switch => {
                    if matches.get_flag(s.key) {
                        values.push((s.key, None));
                    }
                }
                Kind::Integer | Kind::Number | Kind::Text | Kind::Integers | Kind::Names => {
                    let text = match s.choices {
                        Some(_) => matches.get_one::<String>(s.key).map(OsString::from),
                        None => matches.get_one::<OsString>(s.key).cloned(),
                    };
                    if let Some(text) = text {
                        values.push((s.key, Some(text)));
                    }
                }
            }
        }
        Given { values }
    }

    /// The given settings as a table of config keys.
    fn table(&self) -> Result<toml::Table> {
        let all = settings();
        let mut table = toml::Table::new();
        for (key, text) in &self.values {
            let setting = all
                .iter()
                .find(|s| s.key == *key)
                .expect("a key of the table");
            let text = match text {
                Some(text) => text.to_str().ok_or_else(|| {
                    vae::config::not_utf8(&format!("--{}", setting.flag()), Path::new(text))
                })?,
                None => "",
            };
            table.insert(key.to_string(), setting.value_of(text)?);
        }
        Ok(table)
    }

    fn is_set(&self, key: &str) -> bool {
        self.values.iter().any(|(k, _)| *k == key)
    }
}

/// Which data set, and how it is read: the data settings of the table.
pub struct DataFlags(Given);

impl DataFlags {
    /// The data set these flags name, with the defaults of a training run.
    pub fn spec(&self) -> Result<DataSpec> {
        Ok(PartialConfig::from_table(self.0.table()?)
            .resolve("flags")?
            .data_spec())
    }
}

impl clap::FromArgMatches for DataFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        Ok(DataFlags(Given::from(matches, Some(Group::Data))))
    }

    fn update_from_arg_matches(
        &mut self,
        matches: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for DataFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Given::augment(cmd, Some(Group::Data))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The settings of a training run, shared by `train`, `sweep` and `import`: `--config FILE`
/// and a flag per setting of the table.
pub struct TrainFlags {
    /// TOML file with any of the settings (flags override it).
    config: Option<PathBuf>,
    given: Given,
}

impl TrainFlags {
    /// True when the flag of setting `key` was given.
    pub fn is_set(&self, key: &str) -> bool {
        self.given.is_set(key)
    }

    /// The settings: the `--config` file if given, else (when resuming) the run's own config,
    /// else none; then the flags; resolved.
    pub fn config(&self, resume_from: Option<&Path>) -> Result<TrainConfig> {
        let saved = resume_from
            .map(|dir| dir.join(CONFIG_FILE))
            .filter(|p| p.is_file());
        let base = match saved {
            Some(path) => PartialConfig::from_file(&path)?,
            None => PartialConfig::default(),
        };
        self.given_over(base)?.resolve("flags")
    }

    /// The `--config` file if given, else `base`, with the flags given over it.
    pub fn given_over(&self, base: PartialConfig) -> Result<PartialConfig> {
        let base = match &self.config {
            Some(path) => PartialConfig::from_file(path)?,
            None => base,
        };
        Ok(base.over(PartialConfig::from_table(self.given.table()?)))
    }
}

impl clap::FromArgMatches for TrainFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        Ok(TrainFlags {
            config: matches.get_one::<PathBuf>("config").cloned(),
            given: Given::from(matches, None),
        })
    }

    fn update_from_arg_matches(
        &mut self,
        matches: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for TrainFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = cmd.arg(
            clap::Arg::new("config")
                .long("config")
                .value_parser(clap::value_parser!(PathBuf))
                .help("TOML file with any of the settings below (flags override it)"),
        );
        Given::augment(cmd, None)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Sizes of the disentanglement metrics (runs on shapes or dsprites only).
#[derive(Args, Clone, Copy)]
pub struct MetricFlags {
    /// Observations for MIG.
    #[arg(long, default_value_t = 10_000)]
    pub mig_points: usize,
    /// Training points of the beta-VAE and FactorVAE classifiers (64 observations each).
    #[arg(long, default_value_t = 1_000)]
    pub metric_train_points: usize,
    /// Held-out points the beta-VAE and FactorVAE scores are measured on.
    #[arg(long, default_value_t = 500)]
    pub metric_eval_points: usize,
}

impl MetricFlags {
    pub fn options(self) -> MetricOptions {
        MetricOptions {
            mig_points: self.mig_points,
            train_points: self.metric_train_points,
            eval_points: self.metric_eval_points,
            ..Default::default()
        }
    }
}

/// A count flag that must be at least 1.
pub fn check_count(n: usize, flag: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::Config(format!("{flag} must be at least 1")));
    }
    Ok(())
}

/// Sample-quality scores: Fréchet distance, precision and recall of samples from N(0, I).
#[derive(Args, Clone, Copy)]
pub struct QualityFlags {
    /// Also score samples from N(0, I) against the test images (Fréchet distance, precision,
    /// recall) in the features of a classifier trained on the data set's labels.
    #[arg(long)]
    pub sample_quality: bool,
    /// Samples (and test images) for --sample-quality.
    #[arg(long, default_value_t = 10_000)]
    pub quality_samples: usize,
}

impl QualityFlags {
    /// How many samples to score, when asked to.
    pub fn samples(self) -> Option<usize> {
        self.sample_quality.then_some(self.quality_samples)
    }
}

/// A conditional run's class fidelity (`vae eval`).
#[derive(Args, Clone, Copy)]
pub struct FidelityFlags {
    /// Also measure class fidelity (conditional runs): the share of samples drawn for each
    /// class that the data set's feature classifier labels as that class.
    #[arg(long)]
    pub class_fidelity: bool,
    /// Samples per class for --class-fidelity.
    #[arg(long, default_value_t = 1_000)]
    pub fidelity_samples: usize,
}

impl FidelityFlags {
    /// How many samples per class to score, when asked to.
    pub fn samples(self) -> Option<usize> {
        self.class_fidelity.then_some(self.fidelity_samples)
    }
}

/// `--class`: what a conditional run draws.
#[derive(Args, Clone, Default)]
pub struct ClassFlag {
    /// Conditional runs: the class to draw (a name such as "Ankle boot", or its number), the
    /// attributes (Smiling,Eyeglasses, or none), or all (one row per class).
    #[arg(long)]
    pub class: Option<String>,
}

/// What one client may hold of the explorer's server (`vae serve`, `vae loadtest`).
#[derive(Args, Clone, Copy)]
pub struct LimitFlags {
    /// Seconds a connection may take to send its request headers (or to start its next
    /// request) before it is closed.
    #[arg(long, default_value_t = vae_serve::Limits::default().header_timeout.as_secs_f64())]
    pub header_timeout: f64,
    /// Seconds a request's body may take to arrive whole after its headers before it is
    /// answered 408 and its connection closed.
    #[arg(long, default_value_t = vae_serve::Limits::default().body_timeout.as_secs_f64())]
    pub body_timeout: f64,
    /// Seconds an answer may wait for its client to take any of it before the connection is
    /// cut.
    #[arg(long, default_value_t = vae_serve::Limits::default().write_timeout.as_secs_f64())]
    pub write_timeout: f64,
    /// Seconds Ctrl-C waits for the open requests before it drops them (a second Ctrl-C
    /// drops them at once).
    #[arg(long, default_value_t = vae_serve::Limits::default().shutdown_timeout.as_secs_f64())]
    pub shutdown_timeout: f64,
    /// Connections served at once; more wait until one closes.
    #[arg(long, default_value_t = vae_serve::Limits::default().max_connections)]
    pub max_connections: usize,
}

impl LimitFlags {
    /// The limits, checked: the commands refuse impossible ones before loading any run.
    pub fn limits(self) -> Result<vae_serve::Limits> {
        let seconds = |flag: &str, value: f64| {
            std::time::Duration::try_from_secs_f64(value).map_err(|_| {
                Error::Config(format!(
                    "{flag} must be a number of seconds above 0 (got {value:?})"
                ))
            })
        };
        let limits = vae_serve::Limits {
            header_timeout: seconds("--header-timeout", self.header_timeout)?,
            body_timeout: seconds("--body-timeout", self.body_timeout)?,
            write_timeout: seconds("--write-timeout", self.write_timeout)?,
            shutdown_timeout: seconds("--shutdown-timeout", self.shutdown_timeout)?,
            max_connections: self.max_connections,
        };
        limits.check()?;
        Ok(limits)
    }
}
