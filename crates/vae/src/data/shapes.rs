//! `--dataset shapes`: a dSprites-like data set drawn on the fly. 64x64 binary images of a
//! square, an ellipse or a heart over dSprites' factor grid (colour 1, shape 3, scale 6,
//! orientation 40, position x 32, position y 32: 737,280 images, in dSprites' index order).
//!
//! It is dSprites-like, not pixel-identical: the original sprites were rasterised by code that
//! was never published. The grid, the ranges and the index order are the original's.

use super::factors::{self, FactorSource};
use super::fetch::RemoteFile;
use super::{DataSet, DataSpec, DataSplits};
use crate::error::{Error, Result};
use std::f64::consts::PI;
use std::path::Path;
use std::sync::Arc;

/// Image side length.
pub const SIZE: usize = 64;
/// Factor names in index order (slowest first), as in dSprites' `latents_names`.
pub const FACTOR_NAMES: [&str; 6] = ["color", "shape", "scale", "orientation", "pos_x", "pos_y"];
/// Factor sizes, as in dSprites' `latents_sizes`.
pub const FACTOR_SIZES: [usize; 6] = [1, 3, 6, 40, 32, 32];
/// Shape names by class.
pub const SHAPE_NAMES: [&str; 3] = ["square", "ellipse", "heart"];

/// Centre of the sprite at position 0 and at position 1, in pixels: the largest rotated sprite
/// stays inside the frame.
const POS_MIN: f64 = 14.5;
const POS_MAX: f64 = 49.5;
/// Half the side of the square at scale 1, in pixels; the other shapes are sized to match.
const UNIT: f64 = 9.0;

/// The built-in shapes grid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shapes;

/// `n` evenly spaced values from `a` to `b`, both included (numpy's `linspace`).
pub fn linspace(a: f64, b: f64, n: usize, k: usize) -> f64 {
    if n < 2 {
        a
    } else {
        a + (b - a) * k as f64 / (n - 1) as f64
    }
}

impl Shapes {
    /// True when the point (`u`, `v`) of the sprite's own frame (in units of the sprite's size,
    /// v pointing up) is inside shape `shape`.
    fn inside(shape: usize, u: f64, v: f64) -> bool {
        match shape {
            0 => u.abs() <= 1.0 && v.abs() <= 1.0,
            // An ellipse twice as wide as high, as dSprites' ellipse is elongated.
            1 => (u / 1.25).powi(2) + (v / 0.625).powi(2) <= 1.0,
            _ => {
                // The classic heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, centred vertically.
                let (x, y) = (u * 1.1, v * 1.1 + 0.12);
                let r = x * x + y * y - 1.0;
                r * r * r - x * x * y * y * y <= 0.0
            }
        }
    }
}

impl FactorSource for Shapes {
    fn factor_names(&self) -> &[&'static str] {
        &FACTOR_NAMES
    }

    fn factor_sizes(&self) -> &[usize] {
        &FACTOR_SIZES
    }

    fn factor_value(&self, factor: usize, class: usize) -> f64 {
        match factor {
            0 => 1.0,
            // dSprites stores shapes as 1, 2, 3.
            1 => class as f64 + 1.0,
            2 => linspace(0.5, 1.0, 6, class),
            3 => linspace(0.0, 2.0 * PI, 40, class),
            _ => linspace(0.0, 1.0, 32, class),
        }
    }

    fn height(&self) -> usize {
        SIZE
    }

    fn width(&self) -> usize {
        SIZE
    }

    fn render(&self, index: usize, out: &mut [f32]) {
        let c = self.classes(index);
        let v = |f: usize| self.factor_value(f, c[f]);
        let (shape, scale, angle) = (c[1], v(2), v(3));
        let cx = POS_MIN + (POS_MAX - POS_MIN) * v(4);
        let cy = POS_MIN + (POS_MAX - POS_MIN) * v(5);
        let half = UNIT * scale;
        let (sin, cos) = angle.sin_cos();
        out.fill(0.0);
        // Every shape lies within 1.45 units of its centre, whatever the rotation.
        let reach = 1.45 * half;
        let rows = (cy - reach).floor().max(0.0) as usize..((cy + reach).ceil() as usize).min(SIZE);
        let cols = (cx - reach).floor().max(0.0) as usize..((cx + reach).ceil() as usize).min(SIZE);
        for row in rows {
            let dy = row as f64 + 0.5 - cy;
            for col in cols.clone() {
                let dx = col as f64 + 0.5 - cx;
                // Rotate the pixel into the sprite's frame; image rows grow downwards.
                let u = (cos * dx + sin * dy) / half;
                let v = (sin * dx - cos * dy) / half;
                if Self::inside(shape, u, v) {
                    out[row * SIZE + col] = 1.0;
                }
            }
        }
    }

    fn label_factor(&self) -> usize {
        1
    }

    fn class_names(&self) -> Vec<String> {
        SHAPE_NAMES.iter().map(|s| s.to_string()).collect()
    }
}

impl DataSet for Shapes {
    fn name(&self) -> &'static str {
        "shapes"
    }

    fn about(&self) -> &'static str {
        "built-in 64x64 binary shapes with known factors."
    }

    fn load_splits(&self, _spec: &DataSpec) -> Result<DataSplits> {
        let (train, test) = factors::split(Arc::new(Shapes));
        Ok(DataSplits::new(train, test))
    }

    fn describe_source(&self, _spec: &DataSpec) -> Result<String> {
        Ok("the built-in generator".to_string())
    }

    fn class_names(&self, _num_classes: usize) -> Vec<String> {
        SHAPE_NAMES.iter().map(|s| s.to_string()).collect()
    }

    fn is_binary(&self) -> bool {
        true
    }

    fn has_factors(&self) -> bool {
        true
    }

    fn factor_source(&self, _data: Option<&Path>) -> Result<Arc<dyn FactorSource>> {
        Ok(Arc::new(Shapes))
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        Err(Error::Config(
            "shapes is built in and drawn on the fly; there is nothing to fetch".into(),
        ))
    }
}
