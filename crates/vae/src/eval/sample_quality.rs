//! Sample quality: how close images decoded from the prior come to the real images of the
//! evaluated split (test or validation, [`HeldOut`]), in the feature space of a small
//! classifier that the project trains on the data set's own labels. FID uses Inception's
//! features, which are not available offline (and were made for 299x299 photographs, not 28x28
//! clothes); the numbers here are therefore comparable between runs on the same data set, not
//! with published FIDs.
//!
//! - Fréchet distance (Heusel et al. 2017): between Gaussians fitted to the two feature sets,
//!   `|mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))`; 0 for identical statistics.
//! - Precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
//!   around its points reaching their k-th nearest neighbour (k = 3); precision is the share of
//!   samples inside the real manifold (are samples realistic?), recall the share of real images
//!   inside the samples' manifold (do samples cover the data?).
//!
//! The same numbers for training images against the split's images give the floor: what real
//! images of the same distribution score with this many points.

use super::classifier::{CHUNK, FEATURES, FeatureClassifier, SEED};
use super::held_out::HeldOut;
use super::metric::{Context, Measure, Section, Table};
use super::{EvalOptions, Split};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Prior;
use crate::rng::{rng, stream};
use crate::run::Run;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Neighbours that define a point's ball (the paper's k).
pub const K: usize = 3;

/// Fréchet distance, precision and recall of one set of images against the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub fd: f64,
    pub precision: f64,
    pub recall: f64,
}

impl Scores {
    /// The three numbers for generated features `fake` against real features `real`.
    pub fn of(real: &[f32], fake: &[f32]) -> Result<Scores> {
        if real.len() < (K + 1) * FEATURES || fake.len() < (K + 1) * FEATURES {
            return Err(Error::Config(format!(
                "sample quality needs at least {} images on each side",
                K + 1
            )));
        }
        let (precision, recall) = precision_recall(real, fake);
        Ok(Scores {
            fd: frechet_distance(real, fake),
            precision,
            recall,
        })
    }
}

/// What `vae eval --sample-quality` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleQuality {
    /// The split whose real images the samples are scored against.
    #[serde(default)]
    pub split: Split,
    /// The prior the samples are drawn from.
    #[serde(default)]
    pub prior: Prior,
    /// Samples decoded from the prior, scored against as many of the split's images: the
    /// samples asked for, or the split's size when it is smaller (the recall radii and the
    /// Fréchet distance's bias depend on the sizes, so both sides and the floor have this many).
    pub samples: usize,
    /// The samples asked for (`--quality-samples`); more than `samples` when the split is
    /// smaller.
    #[serde(default)]
    pub asked: usize,
    pub scores: Scores,
    /// The same number of samples through the run's second stage ([`crate::two_stage`]),
    /// when it has one that fits its weights.
    #[serde(default)]
    pub two_stage: Option<Scores>,
    /// Why a second stage the run has was left out (fitted on earlier weights, say): the one
    /// line of warning every caller shows.
    #[serde(default)]
    pub two_stage_note: Option<String>,
    /// Training images against the same images of the split: the floor of `scores`.
    pub floor: Scores,
    /// The feature classifier's accuracy on the split's images.
    pub classifier_accuracy: f64,
    pub features: usize,
    pub k: usize,
}

impl std::fmt::Display for SampleQuality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |f: &mut std::fmt::Formatter<'_>, name: &str, s: &Scores, what: &str| {
            writeln!(
                f,
                "{name:<16}FD {:.2}, precision {:.3}, recall {:.3} ({what})",
                s.fd, s.precision, s.recall
            )
        };
        let (prior, split) = (self.prior.name(), self.split.name());
        let what = if self.asked > self.samples {
            format!(
                "{} samples from {prior} vs as many {split} images: the {split} set's size, {} were asked for",
                self.samples, self.asked
            )
        } else {
            format!(
                "{} samples from {prior} vs as many {split} images",
                self.samples
            )
        };
        line(f, "sample quality", &self.scores, &what)?;
        if let Some(t) = &self.two_stage {
            line(
                f,
                "two-stage",
                t,
                "the same number through the second stage",
            )?;
        }
        if let Some(note) = &self.two_stage_note {
            writeln!(f, "two-stage       {note}")?;
        }
        line(
            f,
            "real floor",
            &self.floor,
            &format!("training vs {split} images"),
        )?;
        writeln!(
            f,
            "features        {}-d, of a classifier {:.1}% right on the {split} set (not Inception: numbers compare between runs of one data set)",
            self.features,
            100.0 * self.classifier_accuracy
        )
    }
}

/// What samples are scored against: the feature classifier of the run's data set and the
/// features of the split's real images.
pub struct Reference<'a> {
    classifier: &'a FeatureClassifier,
    real: Vec<f32>,
    /// Images on each side: the split's real images, the samples scored against them, and
    /// the training images of the floor.
    pub images: usize,
    /// Training images against the split's images.
    pub floor: Scores,
    /// The classifier's accuracy on the split's images.
    pub accuracy: f64,
}

impl<'a> Reference<'a> {
    /// The features, in `classifier`'s ([`FeatureClassifier::of`]), of `samples` images of
    /// the evaluated split and as many random training images apart from them (the floor), or
    /// of fewer on both sides when a split is smaller. Grey-level images on both sides
    /// ([`HeldOut`]).
    pub fn of(
        held_out: &HeldOut,
        classifier: &'a FeatureClassifier,
        samples: usize,
    ) -> Result<Self> {
        if samples <= K {
            return Err(Error::Config(format!(
                "--quality-samples must be more than {K} (try 10000)"
            )));
        }
        let HeldOut { train, images, .. } = held_out;
        let n = samples.min(images.len()).min(train.len());
        let first: Vec<usize> = (0..n).collect();
        let real = classifier.features_of(images, &first)?;
        let mut floor_images: Vec<usize> = (0..train.len()).collect();
        floor_images.shuffle(&mut rng(SEED, stream::QUALITY_FLOOR));
        floor_images.truncate(n);
        let floor = Scores::of(&real, &classifier.features_of(train, &floor_images)?)?;
        let accuracy = classifier.accuracy(images)?;
        Ok(Reference {
            classifier,
            real,
            images: n,
            floor,
            accuracy,
        })
    }

    /// Scores as many images from `draw` as there are real ones; `draw` hands back `n` more
    /// images each call.
    pub fn score(&self, mut draw: impl FnMut(usize) -> Result<Vec<f32>>) -> Result<Scores> {
        let mut fake = Vec::with_capacity(self.images * FEATURES);
        let mut left = self.images;
        while left > 0 {
            let chunk = left.min(CHUNK);
            fake.extend(self.classifier.features(&draw(chunk)?)?);
            left -= chunk;
        }
        Scores::of(&self.real, &fake)
    }
}

/// The conditions a conditional run's samples are drawn with: the split's images' own, in
/// turn, so that the samples' classes (or attributes) follow those of the real images they are
/// compared with. Each sampler takes a fresh copy.
#[derive(Clone)]
struct SplitConditions {
    rows: Option<Vec<f32>>,
    dim: usize,
    next: usize,
}

impl SplitConditions {
    fn of(run: &Run, held_out: &HeldOut) -> Self {
        let (rows, dim) = match run.conditioning() {
            Some(c) => {
                let all: Vec<usize> = (0..held_out.images.len()).collect();
                (held_out.images.condition_rows(&all), c.dim())
            }
            None => (None, 0),
        };
        SplitConditions { rows, dim, next: 0 }
    }

    /// The conditions of the next `n` samples (`None` for an unconditional run).
    fn take(&mut self, n: usize) -> Option<Vec<f32>> {
        let rows = self.rows.as_ref()?;
        let count = rows.len() / self.dim;
        let out = (self.next..self.next + n)
            .flat_map(|i| rows[(i % count) * self.dim..(i % count + 1) * self.dim].iter())
            .copied()
            .collect();
        self.next += n;
        Some(out)
    }
}

/// Sample quality of `run` in `classifier`'s features against the real images of
/// `held_out`'s split: `samples` images decoded from the prior (the stream of `seed`) and,
/// when the run has a second stage, as many drawn through it; fewer when the split is smaller,
/// as many as its images. A conditional run's samples take the split's conditions in turn.
pub fn sample_quality(
    run: &Run,
    held_out: &HeldOut,
    classifier: &FeatureClassifier,
    samples: usize,
    seed: u64,
) -> Result<SampleQuality> {
    let reference = Reference::of(held_out, classifier, samples)?;
    let mut noise = rng(seed, stream::SAMPLE_QUALITY);
    let split_conditions = SplitConditions::of(run, held_out);
    let mut conditions = split_conditions.clone();
    let scores = reference.score(|n| {
        let y = conditions.take(n);
        run.decode(run.model.sample_prior(&mut noise, n)?, y.as_deref())
    })?;
    // A second stage fitted on earlier weights is left out, and the result says why.
    let (two_stage, two_stage_note) = match crate::two_stage::load_if_usable(run) {
        Ok(Some(stage)) => {
            let mut noise = rng(seed, stream::SAMPLE_QUALITY);
            let mut conditions = split_conditions;
            let scores = reference.score(|n| {
                let y = conditions.take(n);
                crate::two_stage::sample_images(run, &stage, n, &mut noise, y.as_deref())
            })?;
            (Some(scores), None)
        }
        Ok(None) => (None, None),
        Err(note) => (None, Some(note)),
    };
    Ok(SampleQuality {
        split: held_out.split,
        prior: run.config.prior,
        samples: reference.images,
        asked: samples,
        scores,
        two_stage,
        two_stage_note,
        floor: reference.floor,
        classifier_accuracy: reference.accuracy,
        features: FEATURES,
        k: K,
    })
}

/// Mean and covariance (over rows of `FEATURES`) in f64.
fn moments(x: &[f32]) -> (nalgebra::DVector<f64>, nalgebra::DMatrix<f64>) {
    let n = x.len() / FEATURES;
    let mut mean = nalgebra::DVector::zeros(FEATURES);
    for row in x.chunks(FEATURES) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / n as f64;
        }
    }
    let mut cov = nalgebra::DMatrix::zeros(FEATURES, FEATURES);
    for row in x.chunks(FEATURES) {
        let d = nalgebra::DVector::from_iterator(
            FEATURES,
            row.iter().zip(mean.iter()).map(|(&v, m)| v as f64 - m),
        );
        cov += &d * d.transpose();
    }
    (mean, cov / (n as f64 - 1.0))
}

/// The Fréchet distance between Gaussians fitted to two feature sets. The trace of
/// `(S_r S_g)^(1/2)` is the sum of the square roots of the eigenvalues of the symmetric
/// `S_r^(1/2) S_g S_r^(1/2)`, which has the same spectrum (nalgebra's symmetric eigensolver).
pub fn frechet_distance(real: &[f32], fake: &[f32]) -> f64 {
    let (mu_r, s_r) = moments(real);
    let (mu_g, s_g) = moments(fake);
    let root = |m: nalgebra::DMatrix<f64>| {
        let eigen = m.symmetric_eigen();
        let roots = eigen.eigenvalues.map(|v| v.max(0.0).sqrt());
        &eigen.eigenvectors
            * nalgebra::DMatrix::from_diagonal(&roots)
            * eigen.eigenvectors.transpose()
    };
    let r = root(s_r.clone());
    let m = &r * &s_g * &r;
    let m = (&m + m.transpose()) / 2.0;
    let cross: f64 = m
        .symmetric_eigenvalues()
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    (mu_r - mu_g).norm_squared() + s_r.trace() + s_g.trace() - 2.0 * cross
}

/// Squared distance between two feature rows.
fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Each row's squared distance to its k-th nearest other row: the radius of its ball.
/// Brute force over all pairs (a k-d tree does not help in 64 dimensions), rows in parallel,
/// memory of one row of distances at a time.
fn knn_radii(x: &[f32]) -> Vec<f32> {
    let rows: Vec<&[f32]> = x.chunks(FEATURES).collect();
    rows.par_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut nearest = [f32::INFINITY; K];
            for (j, b) in rows.iter().enumerate() {
                if i == j {
                    continue;
                }
                let d = dist2(a, b);
                if d < nearest[K - 1] {
                    nearest[K - 1] = d;
                    nearest.sort_by(f32::total_cmp);
                }
            }
            nearest[K - 1]
        })
        .collect()
}

/// Share of the rows of `points` that fall inside some ball of `centres` (with `radii`).
fn coverage(points: &[f32], centres: &[f32], radii: &[f32]) -> f64 {
    let centres: Vec<&[f32]> = centres.chunks(FEATURES).collect();
    let inside = points
        .par_chunks(FEATURES)
        .filter(|p| centres.iter().zip(radii).any(|(c, &r)| dist2(p, c) <= r))
        .count();
    inside as f64 / (points.len() / FEATURES) as f64
}

/// Improved precision and recall (Kynkäänniemi et al. 2019) with k = [`K`].
pub fn precision_recall(real: &[f32], fake: &[f32]) -> (f64, f64) {
    let precision = coverage(fake, real, &knn_radii(real));
    let recall = coverage(real, fake, &knn_radii(fake));
    (precision, recall)
}

/// Sample quality as a metric of the evaluation ([`Measure`]): with `--sample-quality`.
pub struct SampleQualityMetric;

impl Measure for SampleQualityMetric {
    type Value = SampleQuality;
    const KEY: &'static str = "sample_quality";

    fn wanted(&self, _run: &Run, _test: &Dataset, options: &EvalOptions) -> bool {
        options.quality_samples.is_some()
    }

    fn measure(&self, context: &Context) -> Result<SampleQuality> {
        let samples = context.options.quality_samples.unwrap_or(0);
        sample_quality(
            context.run,
            context.held_out()?,
            context.classifier()?,
            samples,
            context.run.config.seed,
        )
    }

    fn section(&self, q: &SampleQuality, _config: &TrainConfig) -> Section {
        let row = |name: &str, s: &Scores| {
            vec![
                name.to_string(),
                format!("{:.2}", s.fd),
                format!("{:.3}", s.precision),
                format!("{:.3}", s.recall),
            ]
        };
        let (prior, split) = (q.prior.name(), q.split.name());
        let mut rows = vec![row(&format!("samples from {prior}"), &q.scores)];
        rows.extend(q.two_stage.as_ref().map(|t| row("two-stage samples", t)));
        rows.push(row("real floor", &q.floor));
        Section {
            title: Some("Sample quality".into()),
            tables: vec![Table {
                head: ["", "Fréchet distance", "precision", "recall"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                rows,
            }],
            notes: vec![format!(
                "{} samples from {prior} against as many {split} images{}, in the {}-d features of a classifier trained on the data set's labels \
                 ({:.1}% right on the {split} set; Inception is not available offline, so these compare runs of one data set, not published FIDs). \
                 Precision and recall after Kynkäänniemi et al. (2019), k = {}. The floor: training images against the same {split} images.",
                q.samples,
                if q.asked > q.samples {
                    format!(" (the {split} set's size; {} were asked for)", q.asked)
                } else {
                    String::new()
                },
                q.features,
                100.0 * q.classifier_accuracy,
                q.k
            )],
        }
    }

    fn scalars(&self, q: &SampleQuality) -> Vec<(String, f64)> {
        vec![("FD".into(), q.scores.fd)]
    }
}
