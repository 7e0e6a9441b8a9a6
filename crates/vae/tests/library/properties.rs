//! Invariants that must hold for every input, checked with proptest.

use burn::prelude::*;
use proptest::prelude::*;
use vae::data::idx::{IdxArray, encode_idx, parse_idx};
use vae::model::kl_divergence;
use vae::model::loss::{Reconstruction, reconstruction_loss};
use vae::model::{Arch, ConditionKind, Conditioning, ModelConfig, Prior, Vae};

fn t2(values: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), &Device::flex())
}

fn read(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// (rows, cols, values of rows * cols) with values in `range`.
fn matrix(range: std::ops::RangeInclusive<f32>) -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..5, 1usize..9).prop_flat_map(move |(r, c)| {
        (
            Just(r),
            Just(c),
            proptest::collection::vec(range.clone(), r * c),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn kl_is_never_negative_and_zero_only_at_the_prior((rows, cols, m) in matrix(-4.0..=4.0), seed in any::<u64>()) {
        let lv: Vec<f32> = m.iter().enumerate().map(|(i, v)| ((v * 7.3 + i as f32 + seed as f32 % 5.0) % 8.0) - 4.0).collect();
        let kl = read(kl_divergence(t2(m.clone(), rows, cols), t2(lv.clone(), rows, cols)));
        for (r, &k) in kl.iter().enumerate() {
            prop_assert!(k >= -1e-5, "negative KL {k}");
            let row = r * cols..(r + 1) * cols;
            let far = m[row.clone()].iter().chain(&lv[row]).any(|v| v.abs() > 0.05);
            if far {
                prop_assert!(k > 1e-4, "KL {k} too small away from the prior");
            }
        }
        let zero = read(kl_divergence(t2(vec![0.0; rows * cols], rows, cols), t2(vec![0.0; rows * cols], rows, cols)));
        prop_assert!(zero.iter().all(|&k| k == 0.0));
    }

    #[test]
    fn reconstruction_losses_are_finite_and_bounded_below((rows, cols, logits) in matrix(-60.0..=60.0), x_seed in 0u32..1000) {
        let x: Vec<f32> = (0..rows * cols).map(|i| ((i as u32 * 37 + x_seed) % 101) as f32 / 100.0).collect();
        for kind in [Reconstruction::Bce, Reconstruction::Cb, Reconstruction::Mse] {
            let loss = read(reconstruction_loss(kind, t2(logits.clone(), rows, cols), t2(x.clone(), rows, cols)));
            prop_assert_eq!(loss.len(), rows);
            prop_assert!(loss.iter().all(|v| v.is_finite()), "{:?}: {:?}", kind, loss);
            if kind != Reconstruction::Cb {
                // Bernoulli cross-entropy and squared error are never negative; the continuous
                // Bernoulli is a density and may be.
                prop_assert!(loss.iter().all(|&v| v >= -1e-4), "{:?}: {:?}", kind, loss);
            }
        }
    }

    #[test]
    fn any_valid_shape_maps_images_to_latents_and_back(
        batch in 1usize..4, latent in 1usize..5, height in 3usize..20, width in 3usize..20,
        arch in 0..Arch::ALL.len(), layers in 1usize..4, autoencoder in any::<bool>(), colour in any::<bool>(),
        classes in prop::option::of(2usize..5),
    ) {
        let config = ModelConfig {
            arch: Arch::ALL[arch],
            latent_dim: latent,
            hidden: vec![7; layers],
            channels: (0..layers).map(|i| 2 + i).collect(),
            autoencoder,
            height,
            width,
            image_channels: if colour { 3 } else { 1 },
            conditioning: classes.map(|n| Conditioning {
                kind: ConditionKind::Class,
                names: (0..n).map(|c| c.to_string()).collect(),
            }),
            prior: Prior::Standard,
            pseudo_inputs: 0,
        };
        prop_assert!(config.validate().is_ok());
        let pixels = config.pixels();
        prop_assert_eq!(pixels, height * width * config.image_channels);
        let device = Device::flex();
        let condition = classes.map(|n| Tensor::ones([batch, n], &device));
        let out = Vae::new(&config, &device).forward(Tensor::zeros([batch, pixels], &device), condition, Some(Tensor::zeros([batch, latent], &device)));
        prop_assert_eq!(out.posterior.z_mean().dims(), [batch, latent]);
        prop_assert_eq!(out.posterior.z_log_var().map(|t| t.dims()), (!autoencoder).then_some([batch, latent]));
        prop_assert_eq!(out.logits.dims(), [batch, pixels]);
    }

    /// Any bytes are a CIFAR-10 batch or a one-line error, never a panic; a batch keeps every
    /// record.
    #[test]
    fn cifar10_batches_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..8000)) {
        match vae::data::cifar::parse(&bytes) {
            Ok((labels, images)) => {
                prop_assert_eq!(labels.len() * vae::data::cifar::RECORD, bytes.len());
                prop_assert_eq!(images.len(), labels.len() * 3072);
            }
            Err(e) => prop_assert!(!e.contains('\n')),
        }
    }

    /// Any text is an attribute table or a one-line error, never a panic.
    #[test]
    fn attribute_tables_parse_or_fail_cleanly(text in "[0-9a-z,. \n-]{0,200}") {
        match vae::data::attributes::parse(&text) {
            Ok(table) => prop_assert!(table.rows.values().all(|r| r.len() == table.names.len())),
            Err(e) => prop_assert!(!e.contains('\n'), "{}", e),
        }
    }

    #[test]
    fn idx_encoding_round_trips(dims in proptest::collection::vec(0usize..6, 1..4), fill in any::<u8>()) {
        let n: usize = dims.iter().product();
        let array = IdxArray { dims: dims.clone(), data: (0..n).map(|i| (i as u8).wrapping_mul(fill)).collect() };
        prop_assert_eq!(parse_idx(&encode_idx(&array)).unwrap(), array);
    }
}
