//! The test loss of a model on a data set, per image: with one reparameterised sample per
//! image (the training metrics' test and validation numbers) or at z_mean.

use crate::data::Dataset;
use crate::data::Inputs;
use crate::device::{conditions_to_device, narrow_rows, to_device};
use crate::error::Result;
use crate::latent::ENCODE_BATCH;
use crate::model::Vae;
use crate::model::loss::{Loss, Reconstruction, vae_loss};
use crate::rng::{normal_noise, rng, stream};
use burn::prelude::*;

/// Test loss per image with one reparameterised sample per image, drawn from a fixed stream so
/// that the numbers of different epochs compare like with like.
pub fn test_loss(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: u64,
) -> Result<Loss> {
    test_loss_with(model, data, kind, beta, device, Some(seed))
}

/// Test loss per image with z = z_mean (no sampling): deterministic, the number to compare with
/// another implementation of the same model (for a plain autoencoder it equals [`test_loss`]).
pub fn test_loss_at_mean(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
) -> Result<Loss> {
    test_loss_with(model, data, kind, beta, device, None)
}

/// [`vae_loss`] over the whole data set, with z drawn from the stream of `seed`, or z = z_mean
/// without one.
fn test_loss_with(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: Option<u64>,
) -> Result<Loss> {
    let mut noise_rng = seed
        .filter(|_| model.is_vae())
        .map(|s| rng(s, stream::TEST_NOISE));
    let mut sums = Loss::default();
    // The weights do not change during the pass: the VampPrior's components are computed
    // once, not per chunk and shard.
    let components = model.prior_components();
    let pixels = data.pixels();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(model.rows_per_pass(ENCODE_BATCH)) {
        crate::interrupt::check()?;
        let n = chunk.len();
        let Inputs {
            pixels: x,
            conditions,
        } = data.inputs(chunk)?;
        let x = to_device(x, n, pixels, device);
        let y = conditions_to_device(conditions, n, device);
        let eps = noise_rng.as_mut().map(|noise_rng| {
            let latent = model.latent_dim();
            to_device(normal_noise(noise_rng, n * latent), n, latent, device)
        });
        let parts = crate::parallel::over_rows(device, n, |rows| {
            let x = x.clone().narrow(0, rows.start, rows.len());
            let eps = eps.clone().map(|e| e.narrow(0, rows.start, rows.len()));
            let forward =
                model.forward_against(x.clone(), narrow_rows(&y, &rows), eps, components.as_ref());
            vae_loss(&forward, x, kind, beta, 1).to_host()
        })?;
        for part in parts {
            sums = sums + part?;
        }
    }
    let n = data.len().max(1) as f64;
    // The parts are sums over their images; the total is recombined from the means, exactly.
    Ok(Loss::new(sums.recon / n, sums.kl / n, beta))
}
