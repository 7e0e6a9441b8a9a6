//! The table itself: every setting with its key, kind, default and help, in `--help`'s order.

use super::{Choice, Choices, Fallback, Group, Kind, Setting};
use crate::data::DatasetKind;
use crate::model::Arch;
use crate::model::arch::Defaults;

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

/// Every setting of [`TrainConfig`](crate::config::TrainConfig), in the order `--help` and the docs list them.
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
            "prior",
            Text,
            Run,
            "'standard'",
            "standard or vamp: the prior p(z), N(0, I), or the VampPrior (Tomczak & Welling 2018), the mixture of the encoder's posteriors of --pseudo-inputs learned images, whose KL term is then estimated from the sample (not for a plain autoencoder, a conditional model or conv-bn).",
        ),
        optional(
            "pseudo_inputs",
            Integer,
            Run,
            "Learned pseudo-inputs of --prior vamp (its N, 500 in the paper): each step also encodes them.",
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
