//! The condition y of a conditional VAE: what it is and how a user's choice becomes one.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a conditional VAE (Sohn et al. 2015) is told besides the image: the encoder sees
/// `[x, y]`, the decoder `[z, y]`, and the KL is still taken against N(0, I), so that z carries
/// style and y carries the class. `y` has one value per name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditioning {
    pub kind: ConditionKind,
    /// Class names (one-hot) or attribute names (multi-hot), in the order of y's values.
    pub names: Vec<String>,
}

/// How labels become the condition y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionKind {
    /// One class per image, one-hot.
    Class,
    /// Any set of attributes per image (a column of an attribute table each), multi-hot.
    Attributes,
}

impl Conditioning {
    /// Values of y.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// The condition y that a choice names, one row of [`Conditioning::dim`] values: a class
    /// (by name or number) is one-hot; attributes (`Smiling,Eyeglasses`, or `none`) multi-hot.
    pub fn condition_of(&self, choice: &str) -> Result<Vec<f32>> {
        let mut y = vec![0.0; self.dim()];
        match self.kind {
            ConditionKind::Class => y[self.class_index(choice)?] = 1.0,
            ConditionKind::Attributes => {
                if choice.trim() != "none" {
                    for name in choice.split(',').map(str::trim) {
                        y[self.position(name)?] = 1.0;
                    }
                }
            }
        }
        Ok(y)
    }

    /// Index of a class given by name (`Ankle boot`) or number (`9`).
    pub fn class_index(&self, choice: &str) -> Result<usize> {
        let choice = choice.trim();
        self.position(choice)
            .or_else(|e| match choice.parse::<usize>() {
                Ok(i) if i < self.dim() => Ok(i),
                _ => Err(e),
            })
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            let what = match self.kind {
                ConditionKind::Class => "class",
                ConditionKind::Attributes => "attribute",
            };
            Error::Config(format!(
                "this run has no {what} {name:?}; it knows {}",
                self.names.join(", ")
            ))
        })
    }

    /// Every choice `--class all` draws, with its label: each class, or no attribute and then
    /// each attribute alone.
    pub fn every_choice(&self) -> Vec<(String, Vec<f32>)> {
        let one_hot = |i: usize| {
            let mut y = vec![0.0; self.dim()];
            y[i] = 1.0;
            y
        };
        let mut choices = Vec::new();
        if self.kind == ConditionKind::Attributes {
            choices.push(("none".to_string(), vec![0.0; self.dim()]));
        }
        choices.extend(
            self.names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), one_hot(i))),
        );
        choices
    }
}
