//! The plane the latent map is drawn on: the latents themselves when there are at most two,
//! else their two principal components. The projection runs both ways, so a click on the map
//! (a point of the plane) becomes a latent vector the decoder can draw.

use serde::Serialize;

/// A 2-d affine view of latent space: `z = center + x * axes[0] + y * axes[1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatentProjection {
    /// `"z"` when the map shows the latents directly, `"pca"` for principal components.
    pub kind: &'static str,
    pub center: Vec<f32>,
    /// Two orthonormal directions of latent space (the second is all zeros for 1-d latents).
    pub axes: [Vec<f32>; 2],
}

impl LatentProjection {
    /// Fits the projection to `points` (`n` rows of `dim` values): identity axes for `dim <= 2`,
    /// else the covariance eigenvectors of the two largest eigenvalues (nalgebra's symmetric
    /// eigen-solver) through the mean.
    pub fn fit(points: &[f32], dim: usize) -> Self {
        let dim = dim.max(1);
        let n = points.len() / dim;
        let unit = |k: usize| (0..dim).map(|d| f32::from(u8::from(d == k))).collect();
        if dim <= 2 || n == 0 {
            return LatentProjection {
                kind: if dim <= 2 { "z" } else { "pca" },
                center: vec![0.0; dim],
                axes: [unit(0), unit(1)],
            };
        }
        let mut mean = vec![0f64; dim];
        for p in points.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(p) {
                *m += v as f64 / n as f64;
            }
        }
        let mut cov = nalgebra::DMatrix::<f64>::zeros(dim, dim);
        for p in points.chunks(dim) {
            let c: Vec<f64> = p.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for i in 0..dim {
                for j in 0..dim {
                    cov[(i, j)] += c[i] * c[j] / n as f64;
                }
            }
        }
        let eig = cov.symmetric_eigen();
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let axis = |k: usize| {
            eig.eigenvectors
                .column(order[k])
                .iter()
                .map(|&v| v as f32)
                .collect()
        };
        LatentProjection {
            kind: "pca",
            center: mean.iter().map(|&m| m as f32).collect(),
            axes: [axis(0), axis(1)],
        }
    }

    /// The map position of latent `z`.
    pub fn project(&self, z: &[f32]) -> (f32, f32) {
        let along = |axis: &[f32]| {
            z.iter()
                .zip(&self.center)
                .zip(axis)
                .map(|((v, c), a)| (v - c) * a)
                .sum()
        };
        (along(&self.axes[0]), along(&self.axes[1]))
    }

    /// The latent at map position `(x, y)`: on the plane through the center, so dimensions the
    /// map does not show sit at their mean.
    pub fn unproject(&self, x: f32, y: f32) -> Vec<f32> {
        self.center
            .iter()
            .zip(self.axes[0].iter().zip(&self.axes[1]))
            .map(|(c, (u, v))| c + x * u + y * v)
            .collect()
    }

    /// Projects every row of `points`.
    pub fn project_all(&self, points: &[f32]) -> Vec<(f32, f32)> {
        points
            .chunks(self.center.len())
            .map(|p| self.project(p))
            .collect()
    }
}
