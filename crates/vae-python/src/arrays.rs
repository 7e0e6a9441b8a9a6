//! NumPy arrays in and out, checked: a wrong shape, dtype or range is a one-line `ValueError`
//! that says what was expected. Arrays in are read a part of rows at a time ([`Rows`]), never
//! copied whole.

use numpy::ndarray::{Axis, Slice};
use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::ops::Range;
use vae::model::ModelConfig;

/// The values of a checked array, as given.
enum Values<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// Rows of a checked array (images or latents), read a part at a time: a view (a slice, a
/// broadcast, a memory map) costs only the part being read, whatever its rows.
pub struct Rows<'py> {
    values: Values<'py>,
    /// N, the first dimension.
    pub count: usize,
}

impl Rows<'_> {
    /// The values of `rows`, row after row in C order whatever the strides, as float32.
    pub fn part(&self, rows: Range<usize>) -> Vec<f32> {
        let slice = Slice::from(rows);
        match &self.values {
            Values::F32(a) => a
                .as_array()
                .slice_axis(Axis(0), slice)
                .iter()
                .copied()
                .collect(),
            Values::F64(a) => a
                .as_array()
                .slice_axis(Axis(0), slice)
                .iter()
                .map(|&v| v as f32)
                .collect(),
        }
    }

    /// The first value (as float32, in parts of `part_rows` rows) that `valid` refuses, read
    /// without a copy; Ctrl-C is seen between two parts.
    fn first_invalid(
        &self,
        py: Python<'_>,
        part_rows: usize,
        valid: impl Fn(f32) -> bool,
    ) -> PyResult<Option<f32>> {
        let part_rows = part_rows.max(1);
        for start in (0..self.count).step_by(part_rows) {
            let slice = Slice::from(start..self.count.min(start + part_rows));
            let bad = match &self.values {
                Values::F32(a) => a
                    .as_array()
                    .slice_axis(Axis(0), slice)
                    .iter()
                    .copied()
                    .find(|&v| !valid(v)),
                Values::F64(a) => a
                    .as_array()
                    .slice_axis(Axis(0), slice)
                    .iter()
                    .map(|&v| v as f32)
                    .find(|&v| !valid(v)),
            };
            if bad.is_some() {
                return Ok(bad);
            }
            py.check_signals()?;
        }
        Ok(None)
    }
}

fn array<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    value.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a NumPy array, got {}; wrap it with numpy.asarray(...)",
            value
                .get_type()
                .name()
                .map_or("?".into(), |n| n.to_string())
        ))
    })
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// A float32 array's values.
fn float32<'py>(array: &Bound<'py, PyUntypedArray>, what: &str) -> PyResult<Values<'py>> {
    let typed = array.cast::<PyArrayDyn<f32>>().map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be float32, got {}; convert with {what}.astype(numpy.float32)",
            array.dtype()
        ))
    })?;
    Ok(Values::F32(typed.readonly()))
}

/// `images` for a model of `model`'s image shape: float32, [N, H, W] (one channel) or
/// [N, C, H, W], N at least 1. Their values are checked by [`check_pixels`], once their count
/// has been checked against memory.
pub fn images<'py>(value: &Bound<'py, PyAny>, model: &ModelConfig) -> PyResult<Rows<'py>> {
    let array = array(value, "images")?;
    let (c, h, w) = (model.image_channels, model.height, model.width);
    let wanted = if c == 1 {
        format!("[N, {h}, {w}] or [N, 1, {h}, {w}]")
    } else {
        format!("[N, {c}, {h}, {w}]")
    };
    let shape = array.shape();
    let fits = match shape {
        [n, hh, ww] => c == 1 && (*hh, *ww) == (h, w) && *n > 0,
        [n, cc, hh, ww] => (*cc, *hh, *ww) == (c, h, w) && *n > 0,
        _ => false,
    };
    if !fits {
        return Err(PyValueError::new_err(format!(
            "images must have the shape {wanted} (N at least 1) for this run, got {}",
            shape_text(shape)
        )));
    }
    Ok(Rows {
        count: shape[0],
        values: float32(array, "images")?,
    })
}

/// Refuses pixel values outside [0, 1], read `part_rows` images at a time.
pub fn check_pixels(py: Python<'_>, images: &Rows<'_>, part_rows: usize) -> PyResult<()> {
    match images.first_invalid(py, part_rows, |v| (0.0..=1.0).contains(&v))? {
        Some(bad) => Err(PyValueError::new_err(format!(
            "images must hold values in [0, 1], found {bad}; divide 8-bit pixels by 255"
        ))),
        None => Ok(()),
    }
}

/// Latents `z` of shape [N, latent] (float32 or float64). Their values are checked by
/// [`check_latents`], once their count has been checked against memory.
pub fn latents<'py>(value: &Bound<'py, PyAny>, latent: usize) -> PyResult<Rows<'py>> {
    let array = array(value, "z")?;
    let shape = array.shape().to_vec();
    if shape.len() != 2 || shape[1] != latent || shape[0] == 0 {
        return Err(PyValueError::new_err(format!(
            "z must have the shape [N, {latent}] (N at least 1) for this run, got {}",
            shape_text(&shape)
        )));
    }
    let values = match array.cast::<PyArrayDyn<f64>>() {
        Ok(wide) => Values::F64(wide.readonly()),
        Err(_) => float32(array, "z")?,
    };
    Ok(Rows {
        count: shape[0],
        values,
    })
}

/// Refuses latents that are not finite as float32 (a float64 beyond its range is not), read
/// `part_rows` rows at a time.
pub fn check_latents(py: Python<'_>, z: &Rows<'_>, part_rows: usize) -> PyResult<()> {
    match z.first_invalid(py, part_rows, f32::is_finite)? {
        Some(bad) => Err(PyValueError::new_err(format!(
            "z must be finite, found {bad}"
        ))),
        None => Ok(()),
    }
}

/// A class as `vae --class` takes it: a name, or a number (given as an int).
pub fn class_name(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(name) = value.extract::<String>() {
        return Ok(name);
    }
    match value.extract::<u64>() {
        Ok(number) if !value.is_instance_of::<pyo3::types::PyBool>() => Ok(number.to_string()),
        _ => Err(PyTypeError::new_err(
            "class_ must be a class name (str) or number (int)",
        )),
    }
}

/// `values` as a float32 array of `shape`.
pub fn to_numpy<'py>(
    py: Python<'py>,
    values: Vec<f32>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_vec(py, values).reshape(shape.to_vec())
}
