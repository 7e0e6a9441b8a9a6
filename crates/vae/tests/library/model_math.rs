//! The maths of the lecture, checked against independent references.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use vae::model::loss::{Reconstruction, bce_with_logits, continuous_bernoulli_log_norm, vae_loss};
use vae::model::{Arch, ModelConfig, Posterior, Vae, kl_divergence, reparameterize};

fn t2(values: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn kl_closed_form_matches_monte_carlo_estimate() {
    let device = Device::flex();
    let z_mean = [0.7f32, -1.2, 0.0, 2.0];
    let z_log_var = [-0.5f32, 0.8, -2.0, 0.3];
    let closed = values(kl_divergence(
        t2(&z_mean, 1, 4, &device),
        t2(&z_log_var, 1, 4, &device),
    ))[0] as f64;

    // KL = E_q[log q(z) - log p(z)], estimated from samples of q.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = 400_000;
    let mut sum = 0f64;
    for _ in 0..n {
        for d in 0..4 {
            let (m, lv) = (z_mean[d] as f64, z_log_var[d] as f64);
            let s = (0.5 * lv).exp();
            let eps: f64 = StandardNormal.sample(&mut rng);
            let z = m + s * eps;
            let log_q = -0.5 * eps * eps - s.ln();
            let log_p = -0.5 * z * z;
            sum += log_q - log_p;
        }
    }
    let monte_carlo = sum / n as f64;
    assert!(
        (closed - monte_carlo).abs() < 0.02 * closed,
        "closed form {closed} vs Monte Carlo {monte_carlo}"
    );
}

#[test]
fn kl_is_zero_at_the_prior_and_positive_elsewhere() {
    let device = Device::flex();
    let zero = values(kl_divergence(
        t2(&[0.0; 3], 1, 3, &device),
        t2(&[0.0; 3], 1, 3, &device),
    ));
    assert_eq!(zero, vec![0.0]);
    let off = values(kl_divergence(
        t2(&[0.1, 0.0, 0.0], 1, 3, &device),
        t2(&[0.0, 0.0, 0.0], 1, 3, &device),
    ));
    assert!(
        (off[0] - 0.005).abs() < 1e-6,
        "0.5 * 0.1^2 expected, got {}",
        off[0]
    );
    let var = values(kl_divergence(
        t2(&[0.0], 1, 1, &device),
        t2(&[1.0], 1, 1, &device),
    ));
    let expected = -0.5 * (1.0 + 1.0 - 1f32.exp());
    assert!((var[0] - expected).abs() < 1e-6);
}

#[test]
fn reparameterisation_gradients_reach_z_mean_and_z_log_var() {
    let device = Device::flex().autodiff();
    let z_mean = t2(&[0.5, -1.0, 2.0], 1, 3, &device).require_grad();
    let z_log_var = t2(&[0.0, -1.0, 1.0], 1, 3, &device).require_grad();
    let eps = [1.5f32, -0.3, 0.8];
    let z = reparameterize(z_mean.clone(), z_log_var.clone(), t2(&eps, 1, 3, &device));
    let grads = z.sum().backward();
    let g_mean = values(z_mean.grad(&grads).expect("z_mean has a gradient"));
    let g_log_var = values(z_log_var.grad(&grads).expect("z_log_var has a gradient"));
    assert_eq!(g_mean, vec![1.0, 1.0, 1.0]);
    for (d, (&g, lv)) in g_log_var.iter().zip([0.0f32, -1.0, 1.0]).enumerate() {
        let expected = 0.5 * (0.5 * lv).exp() * eps[d];
        assert!((g - expected).abs() < 1e-6, "dim {d}: {g} vs {expected}");
    }
}

#[test]
fn bce_from_logits_is_exact_and_stable() {
    let device = Device::flex();
    let logits = [-3.0f32, 0.0, 2.5, 100.0, -100.0];
    let x = [0.0f32, 1.0, 0.3, 0.0, 1.0];
    let got = values(bce_with_logits(
        t2(&logits, 1, 5, &device),
        t2(&x, 1, 5, &device),
    ));
    for i in 0..3 {
        let p = 1.0 / (1.0 + (-logits[i] as f64).exp());
        let naive = -(x[i] as f64 * p.ln() + (1.0 - x[i] as f64) * (1.0 - p).ln());
        assert!(
            (got[i] as f64 - naive).abs() < 1e-5,
            "{} vs {naive}",
            got[i]
        );
    }
    // Saturated logits give the large-but-finite loss log(1 + e^100) ~ 100, not Inf.
    assert!(
        (got[3] - 100.0).abs() < 1e-3 && (got[4] - 100.0).abs() < 1e-3,
        "{got:?}"
    );
}

#[test]
fn continuous_bernoulli_normaliser_matches_numeric_integral() {
    let device = Device::flex();
    let logits = [-20.0f32, -3.0, -0.5, -0.05, 0.0, 0.02, 0.09, 0.11, 1.0, 7.0];
    let got = values(continuous_bernoulli_log_norm(t2(
        &logits,
        1,
        logits.len(),
        &device,
    )));
    for (i, &l) in logits.iter().enumerate() {
        // 1 / C = integral over [0, 1] of lambda^x (1 - lambda)^(1 - x) dx (midpoint rule).
        let lambda = 1.0 / (1.0 + (-(l as f64)).exp());
        let steps = 200_000;
        let integral: f64 = (0..steps)
            .map(|k| {
                let x = (k as f64 + 0.5) / steps as f64;
                (x * lambda.ln() + (1.0 - x) * (1.0 - lambda).ln()).exp()
            })
            .sum::<f64>()
            / steps as f64;
        let expected = -integral.ln();
        assert!(
            (got[i] as f64 - expected).abs() < 1e-4,
            "logit {l}: log C {} vs numeric {expected}",
            got[i]
        );
    }
}

#[test]
fn continuous_bernoulli_gradient_is_finite_near_zero_logit() {
    let device = Device::flex().autodiff();
    let logits = t2(&[0.0, 1e-6, -0.1, 0.1, 50.0], 1, 5, &device).require_grad();
    let grads = continuous_bernoulli_log_norm(logits.clone())
        .sum()
        .backward();
    let g = values(logits.grad(&grads).unwrap());
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    // d/dl log C is odd and ~ l/6 near 0.
    assert!(
        g[0].abs() < 1e-6 && (g[3] - 0.1 / 6.0).abs() < 1e-3,
        "{g:?}"
    );
}

fn config(arch: Arch, autoencoder: bool) -> ModelConfig {
    ModelConfig {
        autoencoder,
        latent_dim: 3,
        ..ModelConfig::default_for(arch)
    }
}

#[test]
fn every_architecture_maps_images_to_latents_and_back() {
    let device = Device::flex();
    for &arch in Arch::ALL {
        let model = Vae::new(&config(arch, false), &device);
        let x = Tensor::<2>::zeros([5, 784], &device);
        let eps = Tensor::<2>::ones([5, 3], &device);
        let out = model.forward(x, None, Some(eps));
        assert_eq!(out.posterior.z_mean().dims(), [5, 3], "{arch:?}");
        assert_eq!(
            out.posterior.z_log_var().unwrap().dims(),
            [5, 3],
            "{arch:?}"
        );
        assert_eq!(out.logits.dims(), [5, 784], "{arch:?}");
        // During training the decoder gets the sample, not z_mean.
        let z = values(out.z.clone());
        let m = values(out.posterior.z_mean().clone());
        assert!(
            z.iter().zip(&m).any(|(a, b)| (a - b).abs() > 1e-3),
            "{arch:?}"
        );
    }
}

#[test]
fn conv_model_handles_sizes_that_are_not_a_multiple_of_eight() {
    let device = Device::flex();
    let cfg = ModelConfig {
        height: 30,
        width: 21,
        ..config(Arch::Conv, false)
    };
    assert_eq!(cfg.padded_size(), (32, 24));
    let out = Vae::new(&cfg, &device).forward(Tensor::zeros([2, 30 * 21], &device), None, None);
    assert_eq!(out.logits.dims(), [2, 630]);
}

#[test]
fn autoencoder_has_no_z_log_var_and_no_kl() {
    let device = Device::flex();
    for &arch in Arch::ALL {
        let model = Vae::new(&config(arch, true), &device);
        let x = Tensor::<2>::full([4, 784], 0.5, &device);
        let out = model.forward(x.clone(), None, Some(Tensor::ones([4, 3], &device)));
        assert!(matches!(out.posterior, Posterior::Point { .. }));
        assert!(out.posterior.z_log_var().is_none());
        assert_eq!(
            values(out.z.clone()),
            values(out.posterior.z_mean().clone()),
            "z must be z_mean"
        );
        let loss = vae_loss(&out, x, Reconstruction::Bce, 4.0, 4);
        assert_eq!(values(loss.kl), vec![0.0]);
        assert_eq!(values(loss.total), values(loss.recon));
    }
}

#[test]
fn the_posterior_samples_by_reparameterisation_and_its_kl_is_the_closed_form() {
    let device = Device::flex();
    let z_mean = t2(&[0.5, -1.0, 2.0, 0.0], 2, 2, &device);
    let z_log_var = t2(&[0.0, -1.0, 1.0, 0.3], 2, 2, &device);
    let eps = t2(&[1.5, -0.3, 0.8, -2.0], 2, 2, &device);
    let q = Posterior::Gaussian {
        z_mean: z_mean.clone(),
        z_log_var: z_log_var.clone(),
    };
    assert_eq!(
        values(q.sample(eps.clone())),
        values(reparameterize(
            z_mean.clone(),
            z_log_var.clone(),
            eps.clone()
        ))
    );
    let per_dim = values(q.kl_per_dim());
    let kl = values(q.kl());
    let closed = values(kl_divergence(z_mean.clone(), z_log_var));
    assert_eq!(kl, closed);
    assert!((per_dim[0] + per_dim[1] - kl[0]).abs() < 1e-6);
    assert!((per_dim[2] + per_dim[3] - kl[1]).abs() < 1e-6);
    // A point is its own sample and has no KL.
    let point = Posterior::Point {
        z_mean: z_mean.clone(),
    };
    assert_eq!(values(point.sample(eps)), values(z_mean));
    assert_eq!(values(point.kl()), vec![0.0, 0.0]);
    assert_eq!(values(point.kl_per_dim()), vec![0.0; 4]);
}

#[test]
fn beta_weights_the_kl_term() {
    let device = Device::flex();
    let model = Vae::new(&config(Arch::Mlp, false), &device);
    let x = Tensor::<2>::full([4, 784], 0.3, &device);
    let out = model.forward(x.clone(), None, Some(Tensor::ones([4, 3], &device)));
    for beta in [0.0, 1.0, 4.0] {
        let loss = vae_loss(&out, x.clone(), Reconstruction::Cb, beta, 4);
        let (total, recon, kl) = (
            values(loss.total)[0],
            values(loss.recon)[0],
            values(loss.kl)[0],
        );
        assert!(kl > 0.0);
        assert!(
            (total - (recon + beta as f32 * kl)).abs() < 1e-3,
            "beta {beta}"
        );
    }
}

/// A gated layer is `(W x + b) * sigmoid(V x + c)`, written out here in f64 from its weights:
/// the gate scales each unit, so swapping value and gate, or leaving the gate out, fails.
#[test]
fn a_gated_layer_is_its_value_times_the_sigmoid_of_its_gate() {
    use vae::model::arch::gated_mlp::GatedDense;
    let device = Device::flex();
    let (rows, inputs, outputs) = (3, 5, 4);
    let layer = GatedDense::new(inputs, outputs, &device);
    let x: Vec<f32> = (0..rows * inputs)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
        .collect();
    let got = values(layer.forward(t2(&x, rows, inputs, &device)));
    let weights = |linear: &burn::nn::Linear| {
        let w = values(linear.weight.val()); // [inputs, outputs]
        let b = values(linear.bias.as_ref().unwrap().val());
        (w, b)
    };
    let ((w, b), (v, c)) = (weights(&layer.value), weights(&layer.gate));
    for r in 0..rows {
        for o in 0..outputs {
            let dot = |m: &[f32], bias: &[f32]| {
                (0..inputs).fold(bias[o] as f64, |s, i| {
                    s + x[r * inputs + i] as f64 * m[i * outputs + o] as f64
                })
            };
            let want = dot(&w, &b) / (1.0 + (-dot(&v, &c)).exp());
            let have = got[r * outputs + o] as f64;
            assert!(
                (have - want).abs() < 1e-5,
                "row {r} unit {o}: {have} vs {want}"
            );
        }
    }
}
