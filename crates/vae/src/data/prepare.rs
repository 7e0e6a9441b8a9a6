//! What a run does to the splits of its data set before it reads them: the validation set held
//! out of the end of the training split, the rest cut to a limit, every split binarized as the
//! run says, and, for a conditional run, each image's condition attached.

use super::{Binarize, Conditions, DataSpec, DataSplits, Dataset, load_splits};
use crate::error::{Error, Result};
use crate::rng::stream;
use std::path::{Path, PathBuf};

/// How a run prepares its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Preparation {
    /// Images held out of the end of the training split as a validation set (0: none).
    pub validation: usize,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    pub binarize: Binarize,
    /// What a conditional run is told of each image; `None` for the other runs.
    pub conditions: Option<ConditionSource>,
}

/// Where a conditional run's conditions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionSource {
    /// Each image's class, one-hot.
    Classes,
    /// These columns of an attribute table (folder data sets), multi-hot.
    Attributes { table: PathBuf, names: Vec<String> },
}

/// The splits of `spec`'s data set, prepared as `how` says.
pub fn load(spec: &DataSpec, how: &Preparation) -> Result<DataSplits> {
    let mut splits = load_splits(spec)?;
    attach_conditions(spec, how, &mut splits.train)?;
    if how.validation > 0 {
        if how.validation >= splits.train.len() {
            return Err(Error::Config(format!(
                "--validation {} leaves no training images ({} in the training split); hold out fewer",
                how.validation,
                splits.train.len()
            )));
        }
        let mut validation = splits.train.split_off_last(how.validation);
        if how.binarize != Binarize::None {
            validation.binarize_fixed(stream::VALID_BINARIZE);
        }
        splits.validation = Some(validation);
    }
    if let Some(limit) = how.limit {
        splits.train.truncate(limit);
    }
    if how.binarize == Binarize::Fixed {
        splits.train.binarize_fixed(stream::TRAIN_BINARIZE);
    }
    prepare_test_set(spec, how, &mut splits.test)?;
    Ok(splits)
}

/// Binarizes the test set when the run models binary pixels, once and the same for every run
/// ([`Dataset::binarize_fixed`]), so test numbers compare across epochs, seeds and runs; and,
/// for a conditional run, tells it each image's condition.
pub fn prepare_test_set(spec: &DataSpec, how: &Preparation, test: &mut Dataset) -> Result<()> {
    if how.binarize != Binarize::None {
        test.binarize_fixed(stream::TEST_BINARIZE);
    }
    attach_conditions(spec, how, test)
}

/// Tells `data` the condition of each of its images, for a conditional run: its class, or its
/// attributes from the table. A data set of fewer than two classes is refused.
fn attach_conditions(spec: &DataSpec, how: &Preparation, data: &mut Dataset) -> Result<()> {
    let Some(source) = &how.conditions else {
        return Ok(());
    };
    data.conditions = Some(match source {
        ConditionSource::Classes => {
            if data.class_names.len() < 2 {
                return Err(Error::Data(format!(
                    "--conditional needs labelled images of at least two classes; {} has {}",
                    spec.kind.name(),
                    data.class_names.len()
                )));
            }
            Conditions::Classes(data.class_names.len())
        }
        ConditionSource::Attributes { table, names } => {
            let table = super::attributes::read(table)?;
            let files: Vec<&Path> = (0..data.len())
                .map(|i| {
                    data.file_name(i)
                        .expect("validated: attribute tables go with folders")
                })
                .collect();
            let mut bits = vec![0u64; data.len()];
            for (j, name) in names.iter().enumerate() {
                let flags = table.flags_for(name, files.iter().copied())?;
                for (b, f) in bits.iter_mut().zip(flags) {
                    *b |= (f as u64) << j;
                }
            }
            Conditions::Attributes {
                count: names.len(),
                bits,
            }
        }
    });
    Ok(())
}
