//! Latent vectors as CSV: `vae encode` writes one row per image (index, label, z_mean...,
//! z_log_var...), `vae decode` reads rows of z and draws them.

use super::Latents;
use crate::error::{Error, IoContext, Result};
use std::fmt::Write as _;
use std::path::Path;

/// CSV text of encoded images and their labels; `z_log_var` is absent for a plain autoencoder.
pub fn to_csv(labels: &[u8], latents: &Latents) -> String {
    let (z_mean, z_log_var, latent) = (
        &latents.z_mean,
        latents.z_log_var.as_deref(),
        latents.latent_dim,
    );
    let mut out = String::from("index,label");
    for d in 0..latent {
        let _ = write!(out, ",z_mean_{d}");
    }
    if z_log_var.is_some() {
        for d in 0..latent {
            let _ = write!(out, ",z_log_var_{d}");
        }
    }
    out.push('\n');
    for (i, label) in labels.iter().enumerate() {
        let _ = write!(out, "{i},{label}");
        for v in &z_mean[i * latent..(i + 1) * latent] {
            let _ = write!(out, ",{v}");
        }
        if let Some(lv) = z_log_var {
            for v in &lv[i * latent..(i + 1) * latent] {
                let _ = write!(out, ",{v}");
            }
        }
        out.push('\n');
    }
    out
}

/// Reads z vectors from a CSV file: each non-empty line holds `latent` numbers, or is the
/// output of `vae encode` (index, label, then z_mean columns, which are the ones used). A first
/// line that is not numeric is taken as a header.
pub fn read_z_csv(path: &Path, latent: usize) -> Result<Vec<f32>> {
    let text = std::fs::read_to_string(path).ctx(|| format!("cannot read {}", path.display()))?;
    parse_z_csv(&text, latent).map_err(|message| Error::file(path, message))
}

/// Parses the text of a z CSV (see [`read_z_csv`]); the error names the line.
pub fn parse_z_csv(text: &str, latent: usize) -> std::result::Result<Vec<f32>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let mut skip = 0;
    if let Some((_, first)) = lines.peek() {
        let is_numeric = first.split(',').all(|c| c.trim().parse::<f32>().is_ok());
        if !is_numeric {
            if first.starts_with("index,label") {
                skip = 2;
            }
            lines.next();
        }
    }
    let mut z = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if skip == 0 && cells.len() != latent {
            return Err(format!(
                "line {}: {} values, but the model's latent dimension is {latent}",
                n + 1,
                cells.len()
            ));
        }
        if cells.len() < skip + latent {
            return Err(format!("line {}: too few columns", n + 1));
        }
        for cell in &cells[skip..skip + latent] {
            let v: f32 = cell
                .trim()
                .parse()
                .map_err(|_| format!("line {}: '{}' is not a number", n + 1, cell.trim()))?;
            if !v.is_finite() {
                return Err(format!("line {}: z must be finite, found {v}", n + 1));
            }
            z.push(v);
        }
    }
    if z.is_empty() {
        return Err("no z vectors found".into());
    }
    Ok(z)
}
