//! The data sets: each is one file behind the [`DataSet`] trait (how it is found, loaded,
//! described and fetched, and what its pixels are), and one line of the registry in
//! `data/mod.rs` (beside its `mod` line), which makes the [`DatasetKind`] names. Nothing
//! outside `data` matches on a data set.

use super::factors::FactorSource;
use super::fetch::RemoteFile;
use super::{DataSpec, DataSplits, Dataset, DatasetKind};
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;
use std::sync::Arc;

/// What the rest of `vae` needs to know of one data set.
pub trait DataSet: Sync {
    /// The name in config files, on the command line and in default run folder names.
    fn name(&self) -> &'static str;
    /// What it is, in one sentence (`--help`, docs/cli.md).
    fn about(&self) -> &'static str;

    /// Both splits, as `spec` says (its settings are already checked by [`DataSet::validate`]).
    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits>;

    /// The test split alone; by default both are loaded and the training split dropped.
    fn load_test(&self, spec: &DataSpec) -> Result<Dataset> {
        Ok(self.load_splits(spec)?.test)
    }

    /// Where it was found, for messages.
    fn describe_source(&self, spec: &DataSpec) -> Result<String>;

    /// Rejects the settings of `spec` that cannot work for this data set, with the fix.
    fn validate(&self, _spec: &DataSpec) -> Result<()> {
        Ok(())
    }

    /// Human names of the classes, indexed by label, for a data set whose labels run to
    /// `num_classes`; by default their numbers.
    fn class_names(&self, num_classes: usize) -> Vec<String> {
        (0..num_classes).map(|c| c.to_string()).collect()
    }

    /// Light objects on black, which pictures draw inverted (dark on white, as the lecture's
    /// figures do); photographs are drawn as they are.
    fn drawn_inverted(&self) -> bool {
        true
    }

    /// Pixels that are 0 or 1 already (white shapes on black): a Bernoulli is a normalised
    /// likelihood of them without binarizing.
    fn is_binary(&self) -> bool {
        false
    }

    /// True for the data sets with a grid of known generative factors (the disentanglement
    /// metrics apply).
    fn has_factors(&self) -> bool {
        false
    }

    /// The grid of known generative factors of a data set that [`DataSet::has_factors`],
    /// found at `data` where it is a file.
    fn factor_source(&self, _data: Option<&Path>) -> Result<Arc<dyn FactorSource>> {
        Err(Error::Data(format!(
            "{} has no known generative factors; use --dataset {}",
            self.name(),
            DatasetKind::ALL
                .iter()
                .filter(|k| k.has_factors())
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(" or ")
        )))
    }

    /// The official files `vae data fetch` downloads: the base URL and each file with its
    /// checksum; or why there is nothing to fetch.
    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)>;
}

/// The registry: every data set, one line each, `Name => file::Type`.
macro_rules! data_sets {
    ($($name:ident => $file:ident::$ty:ident),+ $(,)?) => {
        /// A data set, by name: [`DatasetKind::data_set`] is the one place that maps a name to
        /// the [`DataSet`] behind it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DatasetKind {
            $($name),+
        }

        impl DatasetKind {
            /// Every registered data set.
            pub const ALL: &'static [DatasetKind] = &[$(DatasetKind::$name),+];

            /// What this data set is.
            pub fn data_set(self) -> &'static dyn DataSet {
                match self {
                    $(DatasetKind::$name => &$file::$ty),+
                }
            }
        }
    };
}

pub(crate) use data_sets;

impl DatasetKind {
    /// The name used on the command line and in folder names.
    pub fn name(self) -> &'static str {
        self.data_set().name()
    }

    /// The data set a name stands for.
    pub fn from_name(name: &str) -> Result<DatasetKind> {
        DatasetKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown data set '{name}'; use one of: {}",
                    DatasetKind::ALL
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// See [`DataSet::drawn_inverted`].
    pub fn drawn_inverted(self) -> bool {
        self.data_set().drawn_inverted()
    }

    /// See [`DataSet::is_binary`].
    pub fn is_binary(self) -> bool {
        self.data_set().is_binary()
    }

    /// See [`DataSet::has_factors`].
    pub fn has_factors(self) -> bool {
        self.data_set().has_factors()
    }

    /// See [`DataSet::class_names`].
    pub fn class_names(self, num_classes: usize) -> Vec<String> {
        self.data_set().class_names(num_classes)
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for DatasetKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DatasetKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        DatasetKind::from_name(&name).map_err(serde::de::Error::custom)
    }
}
