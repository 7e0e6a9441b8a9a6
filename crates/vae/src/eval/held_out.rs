//! The real images a sampler is judged against: the evaluated split's images and the training
//! images apart from them, both as they are (grey levels, whatever the run's binarization).
//! Sample quality scores samples against the split's images, with training images as the
//! floor; class fidelity's ceiling is the classifier's accuracy on them; the feature classifier
//! learns from the training images. No test image enters the numbers of an evaluation of the
//! validation split, and no validation image is a training image there: settings chosen on
//! its numbers have not seen the test set.

use super::Split;
use crate::data::{self, Binarize, Dataset};
use crate::error::Result;
use crate::run::{Run, no_validation_set};

/// The evaluated split's images and the training images held apart from them.
pub struct HeldOut {
    /// Which split `images` is.
    pub split: Split,
    /// The training split, less the validation images when `split` is the validation split.
    pub train: Dataset,
    /// The evaluated split's images, with a conditional run's conditions.
    pub images: Dataset,
}

impl HeldOut {
    /// The images of `run`'s data set for an evaluation of `split`; a run that held out no
    /// validation set has no validation split.
    pub fn of(run: &Run, split: Split) -> Result<Self> {
        let mut how = run.config.preparation();
        how.binarize = Binarize::None;
        how.limit = None;
        let spec = run.config.data_spec();
        match split {
            Split::Test => {
                how.validation = 0;
                let splits = data::prepare::load(&spec, &how)?;
                Ok(HeldOut {
                    split,
                    train: splits.train,
                    images: splits.test,
                })
            }
            Split::Validation => {
                if how.validation == 0 {
                    return Err(no_validation_set());
                }
                let splits = data::prepare::load(&spec, &how)?;
                Ok(HeldOut {
                    split,
                    images: splits.validation.ok_or_else(no_validation_set)?,
                    train: splits.train,
                })
            }
        }
    }
}
