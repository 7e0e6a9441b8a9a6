//! TensorBoard event files: `vae train` (and Python's `train`) writes the run's curves and
//! pictures into `events.out.tfevents.*` in the run folder, so `tensorboard --logdir runs`
//! shows them live.
//!
//! The format is written here by hand: no well-kept crate writes it without pulling in a
//! protobuf code generator or an old `image` (tensorboard-rs), and it is small. A file is a
//! sequence of records (`u64` length, masked CRC32C of the length, the bytes, masked CRC32C of
//! the bytes), each an `Event` protobuf: `wall_time` (1, double), `step` (2, int64),
//! `file_version` (3, string) or `summary` (5: repeated `Value` (1): `tag` (1), `simple_value`
//! (2, float) or `image` (4: height 1, width 2, colorspace 3, encoded PNG 4)). The tests read
//! the files back with TensorBoard's own reader (`crates/vae-python/tests`).

use crate::grid::{GridLayout, grid, png_bytes, png_bytes_grey};
use crate::{Sampler, Samples, layout, reconstruction_rows, sample};
use burn::module::Module;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use vae::data::Dataset;
use vae::error::IoContext;
use vae::model::Vae;
use vae::run::Run;
use vae::train::{EpochMetrics, Progress};
use vae::{Error, Result, TrainConfig};

/// Event files start with this in their names; TensorBoard finds them by `tfevents`.
pub const EVENTS_PREFIX: &str = "events.out.tfevents.";

/// Images per epoch in the samples grid.
const SAMPLES: usize = 64;
/// Test images (and their reconstructions) per epoch.
const RECONSTRUCTIONS: usize = 10;

/// Every number of an epoch's `metrics.jsonl` line (read from the line itself, so the two
/// cannot differ), tagged as TensorBoard shows it: a split's numbers grouped under it
/// (`train_total` as `train/total`), the others under their key (`lr`).
pub fn scalars(m: &EpochMetrics) -> Vec<(String, f64)> {
    let serde_json::Value::Object(line) = serde_json::to_value(m).expect("metrics serialise")
    else {
        unreachable!("a metrics line is a JSON object")
    };
    line.into_iter()
        .filter(|(key, _)| key != "epoch")
        .filter_map(|(key, value)| {
            let tag = match key.split_once('_') {
                Some((split @ ("train" | "test" | "valid"), rest)) => format!("{split}/{rest}"),
                _ => key,
            };
            Some((tag, value.as_f64()?))
        })
        .collect()
}

/// A [`Progress`] that passes everything on to `inner` and writes each saved epoch to the run
/// folder's event file: its scalars, and grids of samples (a fixed z, so epochs compare) and
/// reconstructions. The file is opened at the first saved epoch, a new one per process. An
/// epoch is written after its checkpoint, which is the commit point, so a resumed run (which
/// starts after the checkpoint) appends without repeating a step. A write that fails is told
/// once through `inner` and kept for [`TensorBoard::finish`].
pub struct TensorBoard<'a> {
    dir: PathBuf,
    inner: &'a mut dyn Progress,
    file: Option<File>,
    parts: Option<RunParts>,
    /// The first test images and their conditions, for the reconstructions.
    test: Option<Dataset>,
    error: Option<Error>,
}

impl<'a> TensorBoard<'a> {
    pub fn new(dir: &Path, inner: &'a mut dyn Progress) -> Self {
        TensorBoard {
            dir: dir.to_path_buf(),
            inner,
            file: None,
            parts: None,
            test: None,
            error: None,
        }
    }

    /// The first write that failed, if one did.
    pub fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    fn write_epoch(&mut self, metrics: &EpochMetrics, model: &Vae) -> Result<()> {
        let step = metrics.epoch as i64;
        if self.file.is_none() {
            self.file = Some(create_file(&self.dir)?);
        }
        let mut values: Vec<Vec<u8>> = scalars(metrics)
            .into_iter()
            .map(|(tag, v)| scalar_value(&tag, v as f32))
            .collect();
        for (tag, pictures) in self.pictures(model)? {
            let image = grid(&pictures.images, pictures.layout);
            // TensorBoard's colour spaces: 1 grey, 3 RGB.
            let (png, colorspace) = match pictures.layout.channels {
                1 => (png_bytes_grey(&image)?, 1),
                _ => (png_bytes(&image)?, 3),
            };
            values.push(image_value(
                tag,
                (image.width(), image.height(), colorspace),
                &png,
            ));
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&record(&summary_event(wall_time(), step, &values)))
            .and_then(|()| file.flush())
            .ctx(|| format!("cannot write the event file in {}", self.dir.display()))
    }

    /// The grids of this epoch's model: samples (every class, a row each, for a conditional
    /// run) and the first test images with their reconstructions.
    fn pictures(&mut self, model: &Vae) -> Result<Vec<(&'static str, Picture)>> {
        if self.parts.is_none() {
            // Written by training before its first step; read once.
            let config = TrainConfig::from_file(&self.dir.join(vae::run::CONFIG_FILE))?;
            self.parts = Some(RunParts {
                device: vae::device::parse_device(&config.device)?,
                model_config: vae::run::read_model_config(&self.dir)?,
                config,
            });
        }
        let parts = self.parts.as_ref().expect("read above");
        let run = Run {
            dir: self.dir.clone(),
            config: parts.config.clone(),
            model_config: parts.model_config.clone(),
            model: model.valid(),
            device: parts.device.clone(),
        };
        if self.test.is_none() {
            let mut test = run.test_data()?;
            test.truncate(RECONSTRUCTIONS);
            self.test = Some(test);
        }
        let class = run.conditioning().map(|_| "all");
        let drawn =
            sample(&run, SAMPLES, 0, class, Sampler::Prior)?.expect("the prior is always there");
        let rebuilt = reconstruction_rows(
            &run,
            self.test.as_ref().expect("loaded above"),
            RECONSTRUCTIONS,
        )?;
        // At the data's own size: TensorBoard scales images to its cards, and an event file
        // holds every epoch's (about 30 kB an epoch for Fashion-MNIST).
        let picture = |s: Samples| Picture {
            layout: GridLayout {
                scale: 1,
                gap: 1,
                ..layout(&run, s.cols)
            },
            images: s.images,
        };
        Ok(vec![
            ("samples", picture(drawn)),
            ("reconstructions", picture(rebuilt)),
        ])
    }
}

/// What a run's pictures need besides the model, the same every epoch.
struct RunParts {
    config: TrainConfig,
    model_config: vae::model::ModelConfig,
    device: burn::tensor::Device,
}

struct Picture {
    images: Vec<f32>,
    layout: GridLayout,
}

impl Progress for TensorBoard<'_> {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.inner.epoch_started(epoch, epochs, steps);
    }

    fn step(&mut self, steps: usize, mean_loss: f64, images_per_second: f64) {
        self.inner.step(steps, mean_loss, images_per_second);
    }

    fn epoch_ended(&mut self) {
        self.inner.epoch_ended();
    }

    fn epoch_finished(&mut self, metrics: &EpochMetrics, epochs: usize, model: &Vae) {
        self.inner.epoch_finished(metrics, epochs, model);
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write_epoch(metrics, model) {
            self.inner
                .message(&format!("TensorBoard events not written: {e}"));
            self.error = Some(e);
        }
    }

    fn message(&mut self, text: &str) {
        self.inner.message(text);
    }

    fn stop_requested(&mut self) -> bool {
        self.inner.stop_requested()
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A new event file, named as TensorBoard's writers name theirs (time, host, process), with
/// the file-version event first.
fn create_file(dir: &Path) -> Result<File> {
    let now = wall_time();
    let path = dir.join(format!(
        "{EVENTS_PREFIX}{}.vae.{}",
        now as u64,
        std::process::id()
    ));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ctx(|| format!("cannot create {}", path.display()))?;
    let mut event = Vec::new();
    put_double(&mut event, 1, now);
    put_bytes(&mut event, 3, b"brain.Event:2");
    file.write_all(&record(&event))
        .ctx(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// TFRecord's checksum: CRC32C, rotated and offset so that a CRC of data holding CRCs stays
/// strong.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One record of an event file.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, v: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

fn put_int(out: &mut Vec<u8>, field: u64, v: u64) {
    put_key(out, field, 0);
    put_varint(out, v);
}

/// A `Summary.Value` holding a scalar.
fn scalar_value(tag: &str, v: f32) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, tag.as_bytes());
    put_key(&mut out, 2, 5);
    out.extend_from_slice(&v.to_le_bytes());
    out
}

/// A `Summary.Value` holding a PNG image of (width, height, colour space).
fn image_value(tag: &str, (width, height, colorspace): (u32, u32, u64), png: &[u8]) -> Vec<u8> {
    let mut image = Vec::new();
    put_int(&mut image, 1, height.into());
    put_int(&mut image, 2, width.into());
    put_int(&mut image, 3, colorspace);
    put_bytes(&mut image, 4, png);
    let mut out = Vec::new();
    put_bytes(&mut out, 1, tag.as_bytes());
    put_bytes(&mut out, 4, &image);
    out
}

/// An `Event` at `step` whose summary holds `values`.
fn summary_event(wall_time: f64, step: i64, values: &[Vec<u8>]) -> Vec<u8> {
    let mut summary = Vec::new();
    for v in values {
        put_bytes(&mut summary, 1, v);
    }
    let mut event = Vec::new();
    put_double(&mut event, 1, wall_time);
    put_int(&mut event, 2, step as u64);
    put_bytes(&mut event, 5, &summary);
    event
}
