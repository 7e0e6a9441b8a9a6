//! Every setting of a training run, declared once: its key (in config files and `config.toml`;
//! the flag is `--key` with `-` for `_`), what it is, how a flag's text becomes its value, and
//! its default (fixed, or the architecture's [`Defaults`]). The CLI makes its flags from this
//! table, `--help` and `docs/cli.md` show it (a test holds the docs to it),
//! [`PartialConfig::resolve`](super::PartialConfig::resolve) fills missing settings from it, and
//! [`TrainConfig`](super::TrainConfig) is what it resolves into, whose `validate` is the validation.

use crate::data::DatasetKind;
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

/// A setting that defaults to `default` (TOML).
fn fixed(
    key: &'static str,
    kind: Kind,
    group: Group,
    default: &'static str,
    help: &'static str,
) -> Setting {
    setting(key, kind, group, Fallback::Fixed(default), help)
}

/// A setting that is off unless given.
fn optional(key: &'static str, kind: Kind, group: Group, help: &'static str) -> Setting {
    setting(key, kind, group, Fallback::Absent, help)
}

fn setting(
    key: &'static str,
    kind: Kind,
    group: Group,
    fallback: Fallback,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        help,
        kind,
        group,
        fallback,
        choices: None,
    }
}

impl Setting {
    fn choosing(self, choices: Choices) -> Setting {
        Setting {
            choices: Some(choices),
            ..self
        }
    }
}

/// The registered data sets.
fn data_sets() -> Vec<Choice> {
    DatasetKind::ALL
        .iter()
        .map(|k| Choice {
            name: k.name(),
            aliases: &[],
            about: k.data_set().about(),
        })
        .collect()
}

/// The registered architectures, with their older names.
fn architectures() -> Vec<Choice> {
    Arch::ALL
        .iter()
        .map(|a| Choice {
            name: a.name(),
            aliases: a.architecture().aliases(),
            about: a.architecture().about(),
        })
        .collect()
}

/// An architecture's default as a config value.
fn value(of: impl serde::Serialize) -> toml::Value {
    toml::Value::try_from(of).expect("an architecture's defaults are TOML values")
}

/// A setting whose default is the architecture's.
fn per_arch(
    key: &'static str,
    kind: Kind,
    of: fn(&Defaults) -> toml::Value,
    help: &'static str,
) -> Setting {
    setting(key, kind, Group::Run, Fallback::Architecture(of), help)
}

/// Every setting of [`TrainConfig`](super::TrainConfig), in the order `--help` and the docs list them.
pub fn settings() -> Vec<Setting> {
    use Group::{Data, Run};
    use Kind::*;
    vec![
        fixed(
            "dataset",
            Text,
            Data,
            "'fashion-mnist'",
            "The data to train on (docs/data.md).",
        )
        .choosing(data_sets),
        optional(
            "data",
            Text,
            Data,
            "Folder with the four IDX files; for dsprites, the .npz file or its folder; for folder, your pictures; for cifar10, the cifar-10-batches-bin folder (or its parent). Without it IDX sets are looked for (docs/data.md).",
        ),
        fixed(
            "image_size",
            Integer,
            Data,
            "64",
            "folder: pictures are centre-cropped to a square and resized to N x N.",
        ),
        fixed(
            "color",
            Text,
            Data,
            "'rgb'",
            "folder and cifar10: rgb (three channels) or grey (one, ITU-R 601 luma, as PIL's convert(\"L\")).",
        ),
        fixed(
            "split_seed",
            Integer,
            Data,
            "0",
            "folder: seed of the random held-out split (10% of the pictures, at most 10,000).",
        ),
        fixed(
            "cache_mb",
            Integer,
            Data,
            "1024",
            "folder: MiB of memory for decoded training pictures (may change on --resume).",
        ),
        fixed(
            "arch",
            Text,
            Run,
            "'mlp'",
            "The model's architecture (docs/architecture.md).",
        )
        .choosing(architectures),
        per_arch("latent_dim", Integer, |d| value(d.latent_dim), "Size of z."),
        fixed(
            "hidden",
            Integers,
            Run,
            "[400]",
            "MLP hidden sizes, input side first (the decoder mirrors them), e.g. 400 or 512,256.",
        ),
        per_arch(
            "channels",
            Integers,
            |d| value(&d.channels),
            "Conv channels of the stride-2 layers, input side first (1 to 6 of them), e.g. 32,64,128.",
        ),
        fixed(
            "autoencoder",
            Switch,
            Run,
            "false",
            "Plain autoencoder: z = z_mean, no z_log_var, no KL.",
        ),
        fixed(
            "conditional",
            Switch,
            Run,
            "false",
            "Conditional VAE (Sohn et al. 2015): the encoder reads [x, y], the decoder [z, y], y the class one-hot; the KL is still taken against N(0, I). Any labelled data set of at least two classes (docs/conditional.md).",
        ),
        fixed(
            "condition_attributes",
            Names,
            Run,
            "[]",
            "With --conditional on a folder data set: condition on these columns of --attributes (multi-hot, at most 64) instead of the class, e.g. Smiling,Eyeglasses.",
        ),
        optional(
            "attributes",
            Text,
            Run,
            "The attribute table of --condition-attributes (CelebA's list_attr_celeba.txt or a CSV).",
        ),
        per_arch(
            "loss",
            Text,
            |d| value(d.loss),
            "bce (Bernoulli, binary cross-entropy from logits), cb (continuous Bernoulli, a normalised density on [0, 1]) or mse (squared error); summed over pixels, averaged over the batch.",
        ),
        fixed(
            "objective",
            Text,
            Run,
            "'elbo'",
            "elbo or iwae: what training minimises, the beta-VAE loss (one z per image), or the importance-weighted bound of --k samples per image (Burda et al. 2016), tighter than the ELBO; iwae needs beta 1 and a likelihood (bce or cb).",
        ),
        optional(
            "k",
            Integer,
            Run,
            "Samples of z per image of --objective iwae (its K): each step decodes K times the batch.",
        ),
        fixed(
            "binarize",
            Text,
            Run,
            "'none'",
            "dynamic, fixed or none: binary pixels drawn with the grey level as probability, each step anew (from the run's seed), or once for good from each image's own place in a stream no run changes; the test and validation sets of a binarized run are binarized once, the same for every run.",
        ),
        fixed(
            "beta",
            Number,
            Run,
            "1.0",
            "Weight of the KL term, any value >= 0: 1 is the VAE, < 1 favours reconstruction, > 1 a structured latent space.",
        ),
        fixed(
            "kl_warmup_epochs",
            Integer,
            Run,
            "0",
            "Beta rises linearly from 0 over the first N epochs' steps; the metrics log the beta of each epoch's last step (train_beta).",
        ),
        per_arch(
            "lr",
            Number,
            |d| value(d.lr),
            "Adam's learning rate (Adam's epsilon is 1e-8, as PyTorch's).",
        ),
        fixed(
            "lr_decay",
            Number,
            Run,
            "1.0",
            "Multiply the learning rate by this after every epoch: 1 keeps it, 0.995 divides it by about 150 over 1,000 epochs; it may change when a run resumes.",
        ),
        per_arch(
            "batch_size",
            Integer,
            |d| value(d.batch_size),
            "Images per optimiser step.",
        ),
        fixed(
            "epochs",
            Integer,
            Run,
            "10",
            "Passes over the training images.",
        ),
        fixed(
            "seed",
            Integer,
            Run,
            "42",
            "Weights, shuffling, noise and binarization all follow from it: same seed, same run.",
        ),
        optional(
            "limit",
            Integer,
            Run,
            "Train on the first N training images (for shapes, dsprites and folder, whose training split is in a fixed shuffled order, a random N).",
        ),
        fixed(
            "validation",
            Integer,
            Run,
            "0",
            "Hold out the last N training images (before --limit) as a validation set, scored with beta 1 after every epoch (valid_total = -ELBO in the metrics).",
        ),
        optional(
            "patience",
            Integer,
            Run,
            "Early stopping: end the run when the validation ELBO (with --objective iwae, its bound) has not improved for N epochs; model.bpk then holds the best epoch's weights. Needs --validation and a likelihood loss.",
        ),
        fixed(
            "device",
            Text,
            Run,
            "'cpu'",
            "cpu, cuda, cuda:N or wgpu; GPU devices need a build with --features cuda or --features wgpu.",
        ),
        optional(
            "grad_clip",
            Number,
            Run,
            "Scale all gradients so that their joint norm is at most this (PyTorch's clip_grad_norm_).",
        ),
        fixed(
            "on_nan",
            Text,
            Run,
            "'stop'",
            "On a NaN/Inf loss or gradient: stop, or rollback to the last checkpoint with the learning rate divided by 10 (3 times at most; the lowered rate is saved in config.toml).",
        ),
    ]
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
