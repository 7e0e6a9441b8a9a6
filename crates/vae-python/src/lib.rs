//! `vaekit`: the `vae` library from Python. Settings, errors and numbers are the library's (the
//! same as the `vae` command's for the same run and seed); this crate only turns NumPy arrays
//! and Python values into the library's and back, and lets Python's Ctrl-C stop training and
//! every other long call.

#![forbid(unsafe_code)]

mod arrays;
mod errors;
mod progress;
mod settings;

use errors::{VaeError, error};
use numpy::PyArrayDyn;
use progress::PythonProgress;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::cell::RefCell;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use vae::train::{TrainOptions, train_with};
use vae_viz::tensorboard::TensorBoard;
use vae_viz::{Sampler, sample};

/// How often a long call asks Python whether Ctrl-C was pressed: seldom enough that taking the
/// GIL costs nothing, often enough to feel immediate.
const SIGNAL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs `f` without the GIL (training and inference use every core, and other Python threads go
/// on meanwhile), asking Python between the library's passes, every [`SIGNAL_INTERVAL`] at
/// most, whether Ctrl-C was pressed: if so the call stops there and raises `KeyboardInterrupt`
/// (or what the signal handler raised).
fn without_gil<T: Send>(py: Python<'_>, f: impl Send + FnOnce() -> vae::Result<T>) -> PyResult<T> {
    let (result, raised) = py.detach(|| {
        let raised: Rc<RefCell<Option<PyErr>>> = Rc::default();
        let keep = Rc::clone(&raised);
        let mut asked = Instant::now();
        let stop = move || {
            if asked.elapsed() < SIGNAL_INTERVAL {
                return false;
            }
            asked = Instant::now();
            match Python::attach(|py| py.check_signals()) {
                Ok(()) => false,
                Err(e) => {
                    keep.borrow_mut().get_or_insert(e);
                    true
                }
            }
        };
        let result = vae::interrupt::asking(stop, f);
        (result, raised.take())
    });
    match raised {
        Some(e) => Err(e),
        None => result.map_err(error),
    }
}

/// `count` rows cut into parts of `size` (the last may be shorter), Ctrl-C seen between two.
fn parts(
    py: Python<'_>,
    count: usize,
    size: usize,
) -> impl Iterator<Item = PyResult<Range<usize>>> + '_ {
    let size = size.max(1);
    (0..count).step_by(size).map(move |start| {
        py.check_signals()?;
        Ok(start..count.min(start + size))
    })
}

/// Text of JSON as Python objects (dicts, lists, numbers), through Python's own `json`.
fn from_json<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).expect("the library's reports serialise");
    py.import("json")?.call_method1("loads", (text,))
}

/// Trains a model into the run folder `out` and returns the trained [`Run`].
///
/// `config` is a TOML config file's path or a dict with its keys; `overrides` give settings over
/// it (the keys of `vae train`'s flags, `latent_dim=2`, `arch="conv"`). `resume=True` continues
/// the run in `out` from its last finished epoch. `progress` is called with a dict of each
/// finished epoch's numbers (the keys of `metrics.jsonl`); by default each epoch is printed, and
/// `progress=False` prints nothing. The run folder also gets TensorBoard event files.
/// Ctrl-C stops training between two steps (raising `KeyboardInterrupt`); the run folder keeps
/// the last finished epoch, so `resume=True` goes on from there.
#[pyfunction]
#[pyo3(signature = (config=None, *, out, resume=false, progress=None, **overrides))]
fn train(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
    out: PathBuf,
    resume: bool,
    progress: Option<&Bound<'_, PyAny>>,
    overrides: Option<&Bound<'_, PyDict>>,
) -> PyResult<Run> {
    let settings = settings::resolve(config, overrides, resume.then_some(out.as_path()))?;
    let mut told = PythonProgress::new(progress)?;
    let trained = py.detach(|| {
        let mut tensorboard = TensorBoard::new(&out, &mut told);
        let trained = train_with(&settings, &out, TrainOptions { resume }, &mut tensorboard);
        trained.and_then(|_| tensorboard.finish())
    });
    told.raise_pending(trained.as_ref().err())?;
    trained.map_err(error)?;
    Run::load(out, None)
}

/// A trained run: its folder's settings and model, to encode, decode, sample and evaluate.
///
/// Images are float32 arrays of shape [N, H, W] (grey) or [N, C, H, W], with values in [0, 1];
/// latents are arrays of shape [N, latent_dim]. A conditional run takes the class (its name or
/// number) as `class_`.
#[pyclass(frozen, module = "vaekit")]
struct Run {
    run: vae::Run,
}

#[pymethods]
impl Run {
    /// Loads the run folder `path`, on its own device or `device` ("cpu", "wgpu", "cuda").
    #[staticmethod]
    #[pyo3(signature = (path, device=None))]
    fn load(path: PathBuf, device: Option<String>) -> PyResult<Run> {
        vae::Run::load(&path, device.as_deref())
            .map(|run| Run { run })
            .map_err(error)
    }

    /// The posteriors of `images`: `(z_mean, z_log_var)`, each of shape [N, latent_dim]
    /// (`z_log_var` is `None` for a plain autoencoder, which maps each image to one point).
    #[pyo3(signature = (images, class_=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        class_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let images = arrays::images(images, &self.run.model_config)?;
        let n = images.count;
        let latent = self.run.model_config.latent_dim;
        let heads = if self.run.model.is_vae() { 2 } else { 1 };
        vae::model::memory::check_size(
            &format!("encoding {n} images"),
            n as f64 * (heads * latent) as f64 * 4.0,
            "pass fewer images at a time",
        )
        .map_err(error)?;
        let condition = self.condition(class_)?;
        let part = self.part_rows();
        arrays::check_pixels(py, &images, part)?;
        let mut z_mean = Vec::with_capacity(n * latent);
        let mut z_log_var = (heads == 2).then(|| Vec::with_capacity(n * latent));
        for rows in parts(py, n, part) {
            let values = images.part(rows?);
            let latents =
                without_gil(py, || self.run.encode_images(&values, condition.as_deref()))?;
            z_mean.extend(latents.z_mean);
            if let (Some(all), Some(these)) = (z_log_var.as_mut(), latents.z_log_var) {
                all.extend(these);
            }
        }
        let shape = [n, latent];
        let z_log_var = z_log_var
            .map(|v| arrays::to_numpy(py, v, &shape))
            .transpose()?;
        (arrays::to_numpy(py, z_mean, &shape)?, z_log_var).into_pyobject(py)
    }

    /// The images (mean pixel values) that the latents `z` ([N, latent_dim]) decode to.
    #[pyo3(signature = (z, class_=None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        z: &Bound<'py, PyAny>,
        class_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let z = arrays::latents(z, self.run.model_config.latent_dim)?;
        let n = z.count;
        self.run
            .check_images(
                n,
                &format!("decoding {n} rows of z into images"),
                "pass fewer rows of z at a time",
            )
            .map_err(error)?;
        let condition = self.condition(class_)?;
        let part = self.part_rows();
        arrays::check_latents(py, &z, part)?;
        let mut images = Vec::with_capacity(n * self.run.model_config.pixels());
        for rows in parts(py, n, part) {
            let values = z.part(rows?);
            images.extend(without_gil(py, || {
                self.run.decode(values, condition.as_deref())
            })?);
        }
        self.images(py, images, n)
    }

    /// `n` new images: z from the run's prior decoded, or drawn through the second stage fitted by
    /// `vae two-stage` (`two_stage=True`); the same images as `vae sample` for the same seed.
    #[pyo3(signature = (n, class_=None, two_stage=false, seed=0))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        class_: Option<&Bound<'py, PyAny>>,
        two_stage: bool,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        if n == 0 {
            return Err(PyValueError::new_err("n must be at least 1"));
        }
        let class = class_.map(arrays::class_name).transpose()?;
        if class.as_deref() == Some("all") {
            return Err(PyValueError::new_err(
                "class_='all' draws a picture of every class, which `vae sample` writes; sample one class at a time here",
            ));
        }
        let sampler = if two_stage {
            Sampler::TwoStage
        } else {
            Sampler::Prior
        };
        // The library refuses a count whose images cannot fit before it draws any.
        let drawn = without_gil(py, || sample(&self.run, n, seed, class.as_deref(), sampler))?
            .ok_or_else(|| {
                VaeError::new_err(format!(
                    "{} has no second stage; fit one with `vae two-stage {}`",
                    self.run.dir.display(),
                    self.run.dir.display()
                ))
            })?;
        self.images(py, drawn.images, n)
    }

    /// `images` through the model: decoded from their z_mean.
    #[pyo3(signature = (images, class_=None))]
    fn reconstruct<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        class_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let images = arrays::images(images, &self.run.model_config)?;
        let n = images.count;
        self.run
            .check_images(
                n,
                &format!("reconstructing {n} images"),
                "pass fewer images at a time",
            )
            .map_err(error)?;
        let condition = self.condition(class_)?;
        let part = self.part_rows();
        arrays::check_pixels(py, &images, part)?;
        let mut rebuilt = Vec::with_capacity(n * self.run.model_config.pixels());
        for rows in parts(py, n, part) {
            let values = images.part(rows?);
            rebuilt.extend(without_gil(py, || {
                let y = condition.as_deref();
                let latents = self.run.encode_images(&values, y)?;
                self.run.decode(latents.z_mean, y)
            })?);
        }
        self.images(py, rebuilt, n)
    }

    /// Measures the run on its test split, as `vae eval --json` does, with the same keys (and
    /// saves `eval.json`): the test ELBO, the importance-weighted bound with `iw_samples`
    /// samples per image, active units and every metric that applies.
    #[expect(
        clippy::too_many_arguments,
        reason = "Python's keyword arguments, one per flag of `vae eval`"
    )]
    #[pyo3(signature = (iw_samples=1000, limit=None, sample_quality=false, quality_samples=10_000, class_fidelity=false, fidelity_samples=1_000))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        iw_samples: usize,
        limit: Option<usize>,
        sample_quality: bool,
        quality_samples: usize,
        class_fidelity: bool,
        fidelity_samples: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = vae::eval::EvalOptions {
            split: vae::eval::Split::Test,
            iw_samples,
            limit,
            metrics: Default::default(),
            quality_samples: sample_quality.then_some(quality_samples),
            fidelity_samples: class_fidelity.then_some(fidelity_samples),
        };
        let report = without_gil(py, || vae::eval::evaluate_run(&self.run, options))?;
        from_json(py, &report)
    }

    /// Every setting of the run (its `config.toml`) as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.run.config)
    }

    /// The numbers of every finished epoch (its `metrics.jsonl`), a dict each.
    #[getter]
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let path = self.run.path(vae::run::METRICS_FILE);
        from_json(py, &vae::train::metrics::read(&path).map_err(error)?)
    }

    /// The run folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.run.dir.clone()
    }

    /// Dimensions of latent space.
    #[getter]
    fn latent_dim(&self) -> usize {
        self.run.model_config.latent_dim
    }

    /// The shape of one image: (C, H, W).
    #[getter]
    fn image_shape(&self) -> (usize, usize, usize) {
        let m = &self.run.model_config;
        (m.image_channels, m.height, m.width)
    }

    /// A conditional run's classes (or attributes), `None` for the others.
    #[getter]
    fn class_names(&self) -> Option<Vec<String>> {
        self.run.conditioning().map(|c| c.names.clone())
    }

    fn __repr__(&self) -> String {
        let m = &self.run.model_config;
        format!(
            "vaekit.Run('{}': {} on {}, latent_dim {}, images {}x{}x{})",
            self.run.dir.display(),
            self.run.config.arch.name(),
            self.run.config.dataset.name(),
            m.latent_dim,
            m.image_channels,
            m.height,
            m.width
        )
    }
}

/// The model's passes in a part of an array read in parts: a few, to take the GIL seldom.
const PASSES_PER_PART: usize = 4;

impl Run {
    /// Rows of an array read at a time ([`arrays::Rows`]): whole passes of the model, so that
    /// the numbers are those of one call over the whole array.
    fn part_rows(&self) -> usize {
        self.run.model.rows_per_pass(vae::latent::ENCODE_BATCH) * PASSES_PER_PART
    }

    /// The condition row that `class_` names (checked against the run, as `vae` checks
    /// `--class`).
    fn condition(&self, class_: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<f32>>> {
        let class = class_.map(arrays::class_name).transpose()?;
        self.run.condition_of(class.as_deref()).map_err(error)
    }

    /// `n` images of this run as an array: [N, H, W] for grey, [N, C, H, W] for colour.
    fn images<'py>(
        &self,
        py: Python<'py>,
        values: Vec<f32>,
        n: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let m = &self.run.model_config;
        match m.image_channels {
            1 => arrays::to_numpy(py, values, &[n, m.height, m.width]),
            c => arrays::to_numpy(py, values, &[n, c, m.height, m.width]),
        }
    }
}

/// Variational autoencoders, beta-VAEs and plain autoencoders in Rust, from Python.
#[pymodule]
fn vaekit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_class::<Run>()?;
    m.add("VaeError", m.py().get_type::<VaeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
