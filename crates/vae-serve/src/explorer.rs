//! One served run: its model, the test set's place on the latent map and the statistics of each
//! latent dimension. Every operation of the page (decode, sample, interpolate, encode an
//! upload) is a method here, so it is callable from Rust without the web server.

use serde::Serialize;
use std::path::Path;
use vae::data::Dataset;
use vae::latent::interpolate::{Interpolation, path};
use vae::latent::{ACTIVE_UNIT_THRESHOLD, Latents};
use vae::model::loss::Reconstruction;
use vae::model::{Arch, Conditioning};
use vae::rng::{rng, stream};
use vae::run::Run;
use vae::two_stage::SecondStage;
use vae::{Error, Result};
use vae_viz::grid::{GridLayout, grid, png_bytes};
use vae_viz::projection::LatentProjection;

/// What the page needs to know about a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The name the API and the page use for the run (its folder name, made unique).
    pub name: String,
    /// `"vae"` or `"autoencoder"`.
    pub kind: &'static str,
    pub arch: Arch,
    pub latent_dim: usize,
    pub height: usize,
    pub width: usize,
    /// Colour channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    pub dataset: String,
    pub beta: f64,
    pub loss: Reconstruction,
    pub class_names: Vec<String>,
    /// Latent dimensions, the most informative first: by KL for a VAE, by the variance of
    /// z_mean for an autoencoder.
    pub dims: Vec<DimInfo>,
    /// How map positions and latents relate.
    pub projection: LatentProjection,
    /// Test images on the map (0 when the run's data set cannot be found).
    pub test_images: usize,
    /// Why there is no map, when there is none.
    pub map_note: Option<String>,
    /// True when the run has a second stage (`vae two-stage`) to sample through.
    pub two_stage: bool,
    /// Why the run's second stage is left out, when it has one that cannot be used (fitted on
    /// earlier weights of the run, say): one line, which `vae serve` prints as a warning.
    pub two_stage_note: Option<String>,
    /// A conditional run's classes (or attributes): every decode names one (`"class"`), and
    /// `"all"` decodes each latent with every one in turn.
    pub conditioning: Option<Conditioning>,
}

/// Statistics of one latent dimension over the mapped test images.
#[derive(Debug, Clone, Serialize)]
pub struct DimInfo {
    pub index: usize,
    /// Mean KL(q(z_d|x) || N(0, 1)) in nats; `None` for an autoencoder or without data.
    pub kl: Option<f64>,
    /// Variance of z_mean; `None` without data.
    pub variance: Option<f64>,
    /// Variance above 0.01 (Burda et al. 2016): the decoder uses this dimension.
    pub active: bool,
    /// Slider range: [-3, 3] for a VAE (the prior's bulk); the data's range, padded, for an
    /// autoencoder, whose latents have no prescribed scale.
    pub range: [f32; 2],
}

/// Test images projected on the map.
#[derive(Debug, Clone, Serialize)]
pub struct LatentMap {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub label: Vec<u8>,
}

/// What encoding one image gives.
#[derive(Debug, Clone, Serialize)]
pub struct Encoding {
    pub z_mean: Vec<f32>,
    pub z_log_var: Option<Vec<f32>>,
    /// Where z_mean sits on the map.
    pub map: [f32; 2],
}

/// A loaded run ready to answer the page.
#[derive(Debug)]
pub struct Explorer {
    pub info: RunInfo,
    run: Run,
    test: Option<Dataset>,
    /// z_mean of each test image on the map, `[test_images, latent_dim]`.
    z_means: Vec<f32>,
    map: Option<LatentMap>,
    second_stage: Option<SecondStage>,
}

impl Explorer {
    /// Loads the run in `dir` and encodes up to `map_limit` of its test images. A run whose data
    /// set cannot be found is still served, without the map and test images.
    pub fn load(dir: &Path, name: String, device: Option<&str>, map_limit: usize) -> Result<Self> {
        let run = Run::load(dir, device)?;
        let (test, map_note) = match run.test_data() {
            Ok(mut test) => {
                test.truncate(map_limit);
                (Some(test), None)
            }
            Err(e) => (None, Some(format!("no test images: {e}"))),
        };
        let latent = run.model_config.latent_dim;
        let latents = match &test {
            Some(t) => run.encode(t)?,
            None => Latents::empty(latent),
        };
        let n = latents.len();
        let projection = LatentProjection::fit(&latents.z_mean, latent);
        let dims = dim_infos(&latents, run.model_config.autoencoder);
        let map = test.as_ref().map(|t| {
            let (x, y) = projection.project_all(&latents.z_mean).into_iter().unzip();
            LatentMap {
                x,
                y,
                label: t.labels.clone(),
            }
        });
        let class_names = match &test {
            Some(t) => t.class_names.clone(),
            None => run.config.dataset.class_names(0),
        };
        let (second_stage, two_stage_note) = match vae::two_stage::load_if_usable(&run) {
            Ok(stage) => (stage, None),
            Err(note) => (None, Some(note)),
        };
        let info = RunInfo {
            name,
            kind: if run.model_config.autoencoder {
                "autoencoder"
            } else {
                "vae"
            },
            arch: run.model_config.arch,
            latent_dim: latent,
            height: run.model_config.height,
            width: run.model_config.width,
            channels: run.model_config.image_channels,
            dataset: run.config.dataset.name().to_string(),
            beta: run.config.beta,
            loss: run.config.loss,
            class_names,
            dims,
            projection,
            test_images: n,
            map_note,
            two_stage: second_stage.is_some(),
            two_stage_note,
            conditioning: run.model_config.conditioning.clone(),
        };
        Ok(Explorer {
            info,
            run,
            test,
            z_means: latents.z_mean,
            map,
            second_stage,
        })
    }

    /// The test images' map positions and labels, when the data set was found.
    pub fn map(&self) -> Option<&LatentMap> {
        self.map.as_ref()
    }

    /// Pixels of test image `index`.
    pub fn test_image(&self, index: usize) -> Result<std::borrow::Cow<'_, [f32]>> {
        self.check_index(index)?;
        Ok(self
            .test
            .as_ref()
            .map(|t| t.image(index))
            .transpose()?
            .unwrap_or_default())
    }

    /// z_mean of test image `index`.
    pub fn test_latent(&self, index: usize) -> Result<&[f32]> {
        self.check_index(index)?;
        let d = self.info.latent_dim;
        Ok(&self.z_means[index * d..(index + 1) * d])
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.info.test_images {
            return Err(Error::Config(format!(
                "test image {index} does not exist: run {} has {} test images on its map",
                self.info.name, self.info.test_images
            )));
        }
        Ok(())
    }

    /// Mean images decoded from `z` (rows of `latent_dim` values), for `class` on a conditional
    /// run (see [`Run::condition_of`]); `"all"` decodes each row with every class in turn, so
    /// the images come row by row, a class at a time: the "same z, every class" strip.
    pub fn decode(&self, z: &[f32], class: Option<&str>) -> Result<Vec<f32>> {
        if class == Some("all") {
            return self.run.decode_every_class(z);
        }
        self.run
            .decode(z.to_vec(), self.run.condition_of(class)?.as_deref())
    }

    /// `n` draws of the seeded picture stream, and their images (for `class`, on a conditional
    /// run): z from the prior, or with `two_stage` codes drawn through the run's second stage.
    pub fn sample(
        &self,
        n: usize,
        seed: u64,
        two_stage: bool,
        class: Option<&str>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut noise = rng(seed, stream::PICTURES);
        let z = if two_stage {
            let stage = self.second_stage.as_ref().ok_or_else(|| {
                Error::Config(match &self.info.two_stage_note {
                    Some(note) => format!("run {}: {note}", self.info.name),
                    None => format!(
                        "run {} has no second stage; fit one with `vae two-stage RUN`",
                        self.info.name
                    ),
                })
            })?;
            vae::two_stage::sample_codes(&self.run, stage, n, &mut noise)?
        } else {
            self.run.model.sample_prior(&mut noise, n)?
        };
        let images = self.decode(&z, class)?;
        Ok((z, images))
    }

    /// `steps` latents from `a` to `b` (both ends included) and their images (for `class`, on
    /// a conditional run).
    pub fn interpolate(
        &self,
        a: &[f32],
        b: &[f32],
        steps: usize,
        method: Interpolation,
        class: Option<&str>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let z = path(a, b, steps, method);
        let images = self.decode(&z, class)?;
        Ok((z, images))
    }

    /// Encodes one image of the model's size (`height * width` values in [0, 1]), as `class`
    /// on a conditional run.
    pub fn encode(&self, pixels: &[f32], class: Option<&str>) -> Result<Encoding> {
        let y = self.run.condition_of(class)?;
        let latents = self.run.encode_images(pixels, y.as_deref())?;
        let (x, y) = self.info.projection.project(&latents.z_mean);
        Ok(Encoding {
            z_mean: latents.z_mean,
            z_log_var: latents.z_log_var,
            map: [x, y],
        })
    }

    /// One image as PNG, drawn like every picture of the project (grey data sets dark on
    /// white), at its own size: the page scales it up.
    pub fn png(&self, pixels: &[f32]) -> Result<Vec<u8>> {
        let layout = GridLayout {
            scale: 1,
            gap: 0,
            ..vae_viz::layout(&self.run, 1)
        };
        png_bytes(&grid(pixels, layout))
    }
}

/// Statistics of each latent dimension, the most informative first (the order of
/// [`Latents::dims_by_information`]); without test images, every dimension in order, active.
fn dim_infos(latents: &Latents, autoencoder: bool) -> Vec<DimInfo> {
    let n = latents.len();
    let latent = latents.latent_dim;
    let kl = latents.kl_per_dim().filter(|_| n > 0);
    let variances = (n > 0).then(|| latents.variances());
    let order: Vec<usize> = if n > 0 {
        latents
            .dims_by_information()
            .iter()
            .map(|&(d, _)| d)
            .collect()
    } else {
        (0..latent).collect()
    };
    order
        .into_iter()
        .map(|d| {
            let stats = variances.as_ref().map(|v| {
                let column = latents
                    .z_mean
                    .iter()
                    .skip(d)
                    .step_by(latent)
                    .map(|&v| v as f64);
                let lo = column.clone().fold(f64::INFINITY, f64::min);
                let hi = column.fold(f64::NEG_INFINITY, f64::max);
                (v[d], lo, hi)
            });
            let range = match stats {
                Some((_, lo, hi)) if autoencoder => {
                    let pad = 0.1 * (hi - lo).max(1e-3);
                    [(lo - pad) as f32, (hi + pad) as f32]
                }
                _ => [-3.0, 3.0],
            };
            DimInfo {
                index: d,
                kl: kl.as_ref().map(|k| k[d]),
                variance: stats.map(|s| s.0),
                active: stats.is_none_or(|s| s.0 > ACTIVE_UNIT_THRESHOLD),
                range,
            }
        })
        .collect()
}
