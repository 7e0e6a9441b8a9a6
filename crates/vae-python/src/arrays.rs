//! NumPy arrays in and out, checked: a wrong shape, dtype or range is a one-line `ValueError`
//! that says what was expected.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use vae::model::ModelConfig;

/// Images as the library takes them: pixel values image after image, channel-planar.
pub struct Images {
    pub values: Vec<f32>,
    pub count: usize,
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

/// The values of a float32 array, in C order whatever its strides.
fn float32_values(array: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<Vec<f32>> {
    let typed = array.cast::<PyArrayDyn<f32>>().map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be float32, got {}; convert with {what}.astype(numpy.float32)",
            array.dtype()
        ))
    })?;
    Ok(typed.readonly().as_array().iter().copied().collect())
}

/// `images` for a model of `model`'s image shape: float32, [N, H, W] (one channel) or
/// [N, C, H, W], values in [0, 1], N at least 1.
pub fn images(value: &Bound<'_, PyAny>, model: &ModelConfig) -> PyResult<Images> {
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
    let count = shape[0];
    let values = float32_values(array, "images")?;
    if let Some(bad) = values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(PyValueError::new_err(format!(
            "images must hold values in [0, 1], found {bad}; divide 8-bit pixels by 255"
        )));
    }
    Ok(Images { values, count })
}

/// Latents `z` of shape [N, latent] (float32 or float64), and N.
pub fn latents(value: &Bound<'_, PyAny>, latent: usize) -> PyResult<(Vec<f32>, usize)> {
    let array = array(value, "z")?;
    let shape = array.shape().to_vec();
    if shape.len() != 2 || shape[1] != latent || shape[0] == 0 {
        return Err(PyValueError::new_err(format!(
            "z must have the shape [N, {latent}] (N at least 1) for this run, got {}",
            shape_text(&shape)
        )));
    }
    let values = match array.cast::<PyArrayDyn<f64>>() {
        Ok(wide) => wide
            .readonly()
            .as_array()
            .iter()
            .map(|&v| v as f32)
            .collect(),
        Err(_) => float32_values(array, "z")?,
    };
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "z must be finite, found {bad}"
        )));
    }
    Ok((values, shape[0]))
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
