//! A run's settings from Python: a config file's path or a mapping (a dict or any other), and
//! keyword overrides, layered as `vae train` layers `--config` and its flags, then resolved by
//! the library. Values are Python's scalars, paths and lists, or NumPy's scalars.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use std::path::Path;
use vae::{PartialConfig, TrainConfig};

/// The settings of `train(config, **overrides)`; `resume_from` is the run folder of a resumed
/// run, whose saved settings lie under everything given.
pub fn resolve(
    config: Option<&Bound<'_, PyAny>>,
    overrides: Option<&Bound<'_, PyDict>>,
    resume_from: Option<&Path>,
) -> PyResult<TrainConfig> {
    let saved = resume_from
        .map(|dir| dir.join(vae::run::CONFIG_FILE))
        .filter(|p| p.is_file());
    let base = match (config, saved) {
        (Some(c), _) if c.cast::<PyMapping>().is_ok() => {
            // Any mapping (`MappingProxyType`, a `collections.abc.Mapping`), read as a dict.
            let dict = c.py().get_type::<PyDict>().call1((c,))?;
            PartialConfig::from_table(table(dict.cast::<PyDict>()?)?)
        }
        (Some(c), _) => {
            let path: std::path::PathBuf = c.extract().map_err(|_| {
                PyTypeError::new_err(
                    "config must be a config file's path or a mapping (a dict) of settings",
                )
            })?;
            PartialConfig::from_file(&path).map_err(crate::error)?
        }
        (None, Some(path)) => PartialConfig::from_file(&path).map_err(crate::error)?,
        (None, None) => PartialConfig::default(),
    };
    let given = match overrides {
        Some(o) => PartialConfig::from_table(table(o)?),
        None => PartialConfig::default(),
    };
    base.over(given).resolve("train()").map_err(crate::error)
}

/// A dict of settings as a TOML table; `None` values are left out (the setting's default).
fn table(dict: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut out = toml::Table::new();
    for (key, value) in dict.iter() {
        let key: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err("setting names must be strings"))?;
        if value.is_none() {
            continue;
        }
        let value =
            toml_value(&value).map_err(|why| PyTypeError::new_err(format!("{key}: {why}")))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn toml_value(value: &Bound<'_, PyAny>) -> Result<toml::Value, String> {
    let kind = || {
        value
            .get_type()
            .name()
            .map_or("?".to_string(), |n| n.to_string())
    };
    // NumPy's scalars (`numpy.int64(2)`, `numpy.float32(0.5)`, `numpy.bool_(True)`) as the
    // Python values they hold: settings often come out of arrays. (A `longdouble` holds no
    // Python value and stays a NumPy scalar: refused below.)
    if is_numpy_scalar(value)? {
        let item = value.call_method0("item").map_err(|e| e.to_string())?;
        if !is_numpy_scalar(&item)? {
            return toml_value(&item);
        }
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(
            value.is_truthy().map_err(|e| e.to_string())?,
        ));
    }
    if value.is_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| "the number is too large".to_string());
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(
            value.extract::<f64>().map_err(|e| e.to_string())?,
        ));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(
            value.extract::<String>().map_err(|e| e.to_string())?,
        ));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = value
            .try_iter()
            .map_err(|e| e.to_string())?
            .collect::<PyResult<_>>()
            .map_err(|e| e.to_string())?;
        return items
            .iter()
            .map(toml_value)
            .collect::<Result<Vec<_>, _>>()
            .map(toml::Value::Array);
    }
    if let Ok(path) = value.extract::<std::path::PathBuf>() {
        return path
            .to_str()
            .map(|p| toml::Value::String(p.to_string()))
            .ok_or_else(|| "paths must be UTF-8".to_string());
    }
    Err(format!(
        "a {} cannot be a setting (give a bool, int, float, str, path or list, or a NumPy scalar)",
        kind()
    ))
}

/// Whether `value` is one of NumPy's scalar types (`numpy.generic`).
fn is_numpy_scalar(value: &Bound<'_, PyAny>) -> Result<bool, String> {
    value
        .py()
        .import("numpy")
        .and_then(|numpy| numpy.getattr("generic"))
        .and_then(|generic| value.is_instance(&generic))
        .map_err(|e| e.to_string())
}
