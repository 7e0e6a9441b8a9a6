//! Latent arithmetic: an attribute vector is the mean `z_mean` of the test images with an
//! attribute minus the mean of those without it; adding it to an image's `z_mean` (times a
//! strength) and decoding adds the attribute, subtracting it removes it. Morphing decodes the
//! straight line between two images' `z_mean`.
//!
//! Attributes come from an attribute table (CelebA's `list_attr_celeba.txt` or a CSV, for
//! folder data sets) or, for any labelled data set, from the class names: "Coat" is the
//! attribute of being a coat.

use crate::data::attributes::AttributeTable;
use crate::data::{Color, Dataset};
use crate::error::{Error, Result};
use crate::latent::interpolate::{Interpolation, path};
use crate::run::Run;
use std::fmt;
use std::path::{Path, PathBuf};

/// An attribute's direction in latent space and how many test images it was measured on.
#[derive(Debug, Clone)]
pub struct AttributeVector {
    pub name: String,
    pub vector: Vec<f32>,
    pub with: usize,
    pub without: usize,
}

/// Whether each test image has attribute `name`: from `table` when given (folder data sets),
/// else from the class labels.
pub fn attribute_flags(
    test: &Dataset,
    name: &str,
    table: Option<&AttributeTable>,
) -> Result<Vec<bool>> {
    match table {
        Some(table) => {
            if test.files.is_none() {
                return Err(Error::Config(
                    "an attribute table names image files, so it needs a folder data set (--dataset folder); other data sets use their class names as attributes".into(),
                ));
            }
            let files: Vec<&Path> = (0..test.len())
                .map(|i| {
                    test.file_name(i)
                        .expect("folder data sets name their files")
                })
                .collect();
            table.flags_for(name, files)
        }
        None => {
            let class = test
                .class_names
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no class {name:?}; without --attributes the attributes are the class names: {}",
                        test.class_names.join(", ")
                    ))
                })?;
            Ok(test.labels.iter().map(|&l| l as usize == class).collect())
        }
    }
}

/// Mean of the rows of `z` (`latent` wide) picked by `keep`.
fn mean_rows(z: &[f32], latent: usize, flags: &[bool], keep: bool) -> (Vec<f32>, usize) {
    let mut sum = vec![0f64; latent];
    let mut n = 0;
    for (row, &f) in z.chunks_exact(latent).zip(flags) {
        if f == keep {
            n += 1;
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
    }
    let mean = sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect();
    (mean, n)
}

/// The attribute vector from the `z_mean` of the test set (`z_mean`, one row per image) and the
/// flags of [`attribute_flags`].
pub fn attribute_vector(
    name: &str,
    z_mean: &[f32],
    latent: usize,
    flags: &[bool],
) -> Result<AttributeVector> {
    let (with_mean, with) = mean_rows(z_mean, latent, flags, true);
    let (without_mean, without) = mean_rows(z_mean, latent, flags, false);
    if with == 0 || without == 0 {
        return Err(Error::Data(format!(
            "{name}: {with} test images have it and {without} do not; an attribute vector needs both"
        )));
    }
    Ok(AttributeVector {
        name: name.to_string(),
        vector: with_mean
            .iter()
            .zip(&without_mean)
            .map(|(a, b)| a - b)
            .collect(),
        with,
        without,
    })
}

impl AttributeVector {
    /// Euclidean length.
    pub fn norm(&self) -> f32 {
        self.vector.iter().map(|x| x * x).sum::<f32>().sqrt()
    }
}

/// The line `vae arithmetic` prints.
impl fmt::Display for AttributeVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attribute {}: {} test images with it, {} without; |vector| = {:.3}",
            self.name,
            self.with,
            self.without,
            self.norm()
        )
    }
}

/// Options of [`arithmetic`].
#[derive(Debug, Clone)]
pub struct ArithmeticOptions {
    pub attr: String,
    /// Multiples of the attribute vector added to each image's `z_mean`.
    pub strengths: Vec<f32>,
    /// Test images to edit; default: the first `rows` without the attribute.
    pub images: Option<Vec<usize>>,
    pub rows: usize,
    /// An attribute table (folder data sets); `None` uses the class names.
    pub table: Option<AttributeTable>,
}

/// What [`arithmetic`] measured and drew.
#[derive(Debug, Clone)]
pub struct Arithmetic {
    pub vector: AttributeVector,
    /// The test images edited, one per row.
    pub images: Vec<usize>,
    /// Rows of images (pixel values, concatenated): each test image, then its decodings at
    /// `z_mean + s * v` for each strength `s`.
    pub grid: Vec<f32>,
    /// Images per row: the input and one per strength.
    pub columns: usize,
}

/// Adds the attribute vector, times each strength, to the `z_mean` of test images and decodes.
pub fn arithmetic(run: &Run, options: &ArithmeticOptions) -> Result<Arithmetic> {
    if options.strengths.is_empty() || options.strengths.iter().any(|s| !s.is_finite()) {
        return Err(Error::Config(
            "--strengths must be finite numbers, e.g. -3,-1.5,0,1.5,3".into(),
        ));
    }
    let test = run.test_data()?;
    let flags = attribute_flags(&test, &options.attr, options.table.as_ref())?;
    let latents = run.encode(&test)?;
    let latent = latents.latent_dim;
    let vector = attribute_vector(&options.attr, &latents.z_mean, latent, &flags)?;
    let images = match &options.images {
        Some(list) => {
            if let Some(&bad) = list.iter().find(|&&i| i >= test.len()) {
                return Err(Error::Config(format!(
                    "--images {bad} is out of range; the test set has {} images",
                    test.len()
                )));
            }
            list.clone()
        }
        None => (0..test.len())
            .filter(|&i| !flags[i])
            .take(options.rows.max(1))
            .collect(),
    };
    let strengths = &options.strengths;
    let mut zs = Vec::with_capacity(images.len() * strengths.len() * latent);
    // A conditional run decodes each edit with its image's own condition.
    let mut conditions = Vec::new();
    for &i in &images {
        let z = latents.z_mean_of(i);
        let y = test.condition_rows(&[i]).unwrap_or_default();
        for &s in strengths {
            zs.extend(z.iter().zip(&vector.vector).map(|(z, v)| z + s * v));
            conditions.extend_from_slice(&y);
        }
    }
    let decoded = run.decode(zs, run.conditioning().map(|_| conditions.as_slice()))?;
    let values = test.pixels();
    let mut grid = Vec::with_capacity(images.len() * (strengths.len() + 1) * values);
    for (row, &i) in images.iter().enumerate() {
        grid.extend_from_slice(&test.image(i)?);
        let per_row = strengths.len() * values;
        grid.extend_from_slice(&decoded[row * per_row..(row + 1) * per_row]);
    }
    Ok(Arithmetic {
        vector,
        images,
        grid,
        columns: strengths.len() + 1,
    })
}

/// A file name for the picture of `attr`: `arithmetic-<attr>.png` with anything but ASCII
/// letters and digits as `-`.
pub fn file_name(attr: &str) -> String {
    let safe: String = attr
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("arithmetic-{safe}.png")
}

/// An end of a morph: a test image by index, or an image file, and, for a conditional run, the
/// class (or attributes) it is encoded and decoded with.
#[derive(Debug, Clone)]
pub enum MorphEnd {
    Test(usize),
    File(PathBuf),
}

impl std::str::FromStr for MorphEnd {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => MorphEnd::Test(i),
            Err(_) => MorphEnd::File(PathBuf::from(s)),
        })
    }
}

/// The pixels of one end, prepared as the run's data is, and its condition for a conditional
/// run: the test image's own, or `class` (which an image file of a conditional run needs).
fn morph_input(
    run: &Run,
    test: &Dataset,
    end: &MorphEnd,
    class: Option<&str>,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let condition = |own: Option<Vec<f32>>| match (class, own) {
        (None, Some(own)) => Ok(Some(own)),
        (class, _) => run.condition_of(class),
    };
    match end {
        MorphEnd::Test(i) => {
            if *i >= test.len() {
                return Err(Error::Config(format!(
                    "test image {i} is out of range; the test set has {} images",
                    test.len()
                )));
            }
            Ok((
                test.image(*i)?.into_owned(),
                condition(test.condition_rows(&[*i]))?,
            ))
        }
        MorphEnd::File(path) => {
            let m = &run.model_config;
            if m.height != m.width {
                return Err(Error::Config(
                    "image files can be morphed only by models of square images; pass test image numbers".into(),
                ));
            }
            let color = match m.image_channels {
                1 => Color::Grey,
                _ => Color::Rgb,
            };
            let bytes = crate::data::folder::decode_file(path, m.height, color)?;
            let pixels = bytes.iter().map(|&b| b as f32 / 255.0).collect();
            Ok((pixels, condition(None)?))
        }
    }
}

/// One end of a morph: an image and, for a conditional run, the class to see it as
/// (`None`: a test image's own class).
#[derive(Debug, Clone)]
pub struct MorphPoint<'a> {
    pub image: &'a MorphEnd,
    pub class: Option<&'a str>,
}

/// `steps` images decoded on the line from `from`'s `z_mean` to `to`'s, framed by the two
/// inputs: one strip of `steps + 2` images (pixel values, concatenated). A conditional run's
/// condition moves along the line too, from `from`'s to `to`'s: with the same image at both
/// ends and another class at `to`, z stays and only the class changes ("this shirt as a coat").
pub fn morph(run: &Run, from: &MorphPoint, to: &MorphPoint, steps: usize) -> Result<Vec<f32>> {
    if steps < 2 {
        return Err(Error::Config(
            "--steps must be at least 2 (the two ends)".into(),
        ));
    }
    let test = run.test_data()?;
    let (a, y_a) = morph_input(run, &test, from.image, from.class)?;
    let (b, y_b) = morph_input(run, &test, to.image, to.class)?;
    let y_ends = y_a.zip(y_b).map(|(y_a, y_b)| [y_a, y_b].concat());
    let ends = run.encode_images(&[a.as_slice(), b.as_slice()].concat(), y_ends.as_deref())?;
    let zs = path(
        ends.z_mean_of(0),
        ends.z_mean_of(1),
        steps,
        Interpolation::Linear,
    );
    let ys = y_ends.map(|y| {
        let dim = y.len() / 2;
        path(&y[..dim], &y[dim..], steps, Interpolation::Linear)
    });
    let mut strip = a;
    strip.extend(run.decode(zs, ys.as_deref())?);
    strip.extend(b);
    Ok(strip)
}
