//! The VampPrior (`--prior vamp`) against its definition written out in f64 on the host: its
//! log-density is the mixture of its components' Gaussians, the likelihood bound uses it, the
//! training loss and its gradient are the ELBO's with it, and sampling draws from the mixture.

use crate::quality::{LN_2PI, assert_gradient_matches, exact_nll};
use burn::module::Param;
use burn::prelude::*;
use vae::device::{parse_device, to_device, to_host};
use vae::eval::iwae;
use vae::model::loss::{Objective, Reconstruction, iwae_loss, training_loss};
use vae::model::{Arch, ModelConfig, Prior, Vae, VampPrior};
use vae::rng::{normal_noise, rng};

/// A tiny dense VAE with a VampPrior of `count` pseudo-inputs set to `pseudo_inputs` (values
/// outside [0, 1] are clipped where they are used), its weights scaled by `scale` (freshly
/// initialised, every component is close to N(0, I) and the decoder barely depends on z).
fn vamp_model(
    (height, width, latent_dim, hidden): (usize, usize, usize, usize),
    pseudo_inputs: Vec<f32>,
    scale: f32,
    device: &Device,
) -> Vae {
    struct Scale(f32);
    impl burn::module::ModuleMapper for Scale {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let k = self.0;
            param.map(|t| t.mul_scalar(k))
        }
    }
    let pixels = height * width;
    let count = pseudo_inputs.len() / pixels;
    let config = ModelConfig {
        latent_dim,
        hidden: vec![hidden],
        height,
        width,
        prior: Prior::Vamp,
        pseudo_inputs: count,
        ..ModelConfig::default_for(Arch::Mlp)
    };
    config.validate().unwrap();
    let mut model = Vae::init(&config, device, 9);
    if scale != 1.0 {
        model = model.map(&mut Scale(scale));
    }
    let u = to_device(pseudo_inputs, count, pixels, device);
    model.prior = Some(VampPrior {
        pseudo_inputs: Param::from_tensor(u),
    });
    model
}

/// `count * pixels` values, uniform in `[lo, hi)`, from `seed`.
fn uniform(count: usize, (lo, hi): (f32, f32), seed: u64) -> Vec<f32> {
    use rand::Rng;
    let mut r = rng(seed, 0);
    (0..count).map(|_| r.random_range(lo..hi)).collect()
}

/// The mixture's components on the host, in f64: the encoder's z_mean and z_log_var of each
/// pseudo-input clipped to [0, 1], `[N][D]` each.
fn host_components(model: &Vae) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let plain = model.clone().valid();
    let u = plain.prior.as_ref().unwrap().pseudo_inputs.val();
    let [count, pixels] = u.dims();
    let clipped: Vec<f32> = to_host(u)
        .unwrap()
        .iter()
        .map(|v| v.clamp(0.0, 1.0))
        .collect();
    let q = plain.encode(to_device(clipped, count, pixels, &Device::flex()), None);
    let rows = |t: Tensor<2>| -> Vec<Vec<f64>> {
        let d = t.dims()[1];
        let v = to_host(t).unwrap();
        v.chunks(d)
            .map(|r| r.iter().map(|&x| x as f64).collect())
            .collect()
    };
    (
        rows(q.z_mean().clone()),
        rows(q.z_log_var().unwrap().clone()),
    )
}

/// `log N(v; mean, exp(log_var))` of one coordinate.
fn log_normal(v: f64, mean: f64, log_var: f64) -> f64 {
    -0.5 * ((v - mean).powi(2) / log_var.exp() + log_var + LN_2PI)
}

/// `log (1/N) sum_n N(z; m_n, diag(exp(lv_n)))`, directly.
fn log_mixture(z: &[f64], (m, lv): &(Vec<Vec<f64>>, Vec<Vec<f64>>)) -> f64 {
    let each: Vec<f64> = m
        .iter()
        .zip(lv)
        .map(|(m, lv)| (0..z.len()).map(|d| log_normal(z[d], m[d], lv[d])).sum())
        .collect();
    let max = each.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + each.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - (m.len() as f64).ln()
}

/// The log-density the model computes (two matrix products and a log-sum-exp) is the
/// mixture's written out component by component, also far from every component, where each
/// density alone underflows.
#[test]
fn the_vamp_prior_log_density_is_the_mixture_of_its_components() {
    let device = parse_device("cpu").unwrap();
    let (pixels, latent, count) = (6, 3, 7);
    let model = vamp_model(
        (2, 3, latent, 8),
        uniform(count * pixels, (-0.5, 1.5), 1),
        2.0,
        &device,
    );
    let host = host_components(&model);
    let spread = host
        .0
        .iter()
        .map(|m| m[0])
        .fold(f64::NEG_INFINITY, f64::max)
        - host.0.iter().map(|m| m[0]).fold(f64::INFINITY, f64::min);
    assert!(spread > 0.05, "the components differ: spread {spread}");
    let mut z = normal_noise(&mut rng(2, 0), 11 * latent);
    z.extend([40.0, -35.0, 60.0]);
    let rows = z.len() / latent;
    let components = model.prior_components().expect("a VampPrior");
    let ours = to_host(model.log_prior(
        to_device(z.clone(), rows, latent, &device),
        Some(&components),
    ))
    .unwrap();
    for (r, &got) in ours.iter().enumerate() {
        let zr: Vec<f64> = z[r * latent..(r + 1) * latent]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let expected = log_mixture(&zr, &host);
        assert!(
            (got as f64 - expected).abs() < 1e-4 * expected.abs().max(1.0),
            "row {r}: {got} vs {expected} by hand"
        );
    }
}

/// The evaluation's importance-weighted bound with K = 5000 meets the exact `-log p(x)` of a
/// VampPrior model with one latent dimension, integrated over a fine grid against the mixture
/// written out by hand. With N(0, 1) in the mixture's place the exact value moves by more than
/// three times the tolerance.
#[test]
fn the_iwae_estimate_meets_the_exact_likelihood_under_a_vamp_prior() {
    let device = parse_device("cpu").unwrap();
    // Binary pseudo-inputs, which spread the components out.
    let binary = uniform(5 * 9, (0.0, 1.0), 3)
        .into_iter()
        .map(|v| (v > 0.5) as u8 as f32)
        .collect();
    let model = vamp_model((3, 3, 1, 16), binary, 2.0, &device);
    let host = host_components(&model);
    let (data, exact) = exact_nll(&model, &device, &|z| log_mixture(&[z], &host));
    let (_, under_standard) = exact_nll(&model, &device, &|z| log_normal(z, 0.0, 0.0));
    let nll = iwae::nll(&model, &data, Reconstruction::Bce, 5000, &device, 11).unwrap();
    assert!((nll - exact).abs() < 0.01, "IWAE {nll} vs exact {exact}");
    assert!(
        (under_standard - exact).abs() > 0.03,
        "the test tells the priors apart: {under_standard} vs {exact}"
    );
}

/// The training loss under a VampPrior is the ELBO with the KL estimated at the sample,
/// `-log p(x|z) + log q(z|x) - log p(z)`, written out by hand; its gradient (the pseudo-inputs'
/// included) matches central differences; and with one sample it equals the IWAE bound of K = 1.
#[test]
fn the_vamp_elbo_is_its_definition_and_descends_its_gradient() {
    let device = parse_device("cpu").unwrap().autodiff();
    let (pixels, latent, n) = (6, 2, 3);
    let model = vamp_model(
        (2, 3, latent, 5),
        uniform(4 * pixels, (0.1, 0.9), 4),
        1.0,
        &device,
    );
    let images: Vec<f32> = uniform(n * pixels, (0.0, 1.0), 5)
        .into_iter()
        .map(|v| (v > 0.5) as u8 as f32)
        .collect();
    let noise = normal_noise(&mut rng(3, 0), n * latent);
    let loss = |model: &Vae, objective| {
        training_loss(
            model,
            model.prior_components().as_ref(),
            to_device(images.clone(), n, pixels, &device),
            None,
            Some(to_device(noise.clone(), n, latent, &device)),
            (Reconstruction::Bce, objective, 1.0),
            n,
        )
    };

    let host = host_components(&model);
    let plain = model.clone().valid();
    let q = plain.encode(to_device(images.clone(), n, pixels, &Device::flex()), None);
    let (m, lv) = (
        to_host(q.z_mean().clone()).unwrap(),
        to_host(q.z_log_var().unwrap().clone()).unwrap(),
    );
    let mut expected = 0f64;
    for i in 0..n {
        let at = |d: usize| i * latent + d;
        let z: Vec<f32> = (0..latent)
            .map(|d| m[at(d)] + (0.5 * lv[at(d)]).exp() * noise[at(d)])
            .collect();
        let logits =
            to_host(plain.decode(to_device(z.clone(), 1, latent, &Device::flex()), None)).unwrap();
        let recon: f64 = logits
            .iter()
            .zip(&images[i * pixels..(i + 1) * pixels])
            .map(|(&l, &x)| (1.0 + (l as f64).exp()).ln() - x as f64 * l as f64)
            .sum();
        let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
        let log_q: f64 = (0..latent)
            .map(|d| log_normal(z[d], m[at(d)] as f64, lv[at(d)] as f64))
            .sum();
        expected += (recon + log_q - log_mixture(&z, &host)) / n as f64;
    }
    let ours = loss(&model, Objective::Elbo);
    let total = to_host(ours.total.clone().inner()).unwrap()[0] as f64;
    assert!(
        (total - expected).abs() < 1e-5 * expected.abs(),
        "{total} vs {expected} by hand"
    );
    let one_sample = to_host(
        iwae_loss(
            &model,
            model.prior_components().as_ref(),
            to_device(images.clone(), n, pixels, &device),
            None,
            to_device(noise.clone(), n, latent, &device),
            Reconstruction::Bce,
            n,
        )
        .total
        .inner(),
    )
    .unwrap()[0] as f64;
    assert!(
        (one_sample - total).abs() < 1e-5 * total.abs(),
        "IWAE with K = 1 {one_sample} vs the ELBO {total}"
    );

    let grads = burn::optim::GradientsParams::from_grads(ours.total.backward(), &model);
    let u = model.prior.as_ref().unwrap().pseudo_inputs.clone();
    let pseudo_grad = to_host(grads.get::<2>(u.id).expect("the pseudo-inputs learn")).unwrap();
    assert!(pseudo_grad.iter().any(|g| g.abs() > 1e-6));
    assert_gradient_matches(&model, &grads, |model| {
        to_host(loss(model, Objective::Elbo).total.inner()).unwrap()[0] as f64
    });
}

/// Samples of the prior come from the mixture: their mean, second moments and the product of
/// two coordinates (which ties the coordinates of one draw to one component) match the
/// mixture's within 5 standard errors, and neither N(0, I) nor a single component would.
#[test]
fn sampling_a_vamp_prior_draws_from_the_mixture() {
    let device = parse_device("cpu").unwrap();
    let (pixels, latent, count, n) = (6, 2, 5, 40_000);
    let model = vamp_model(
        (2, 3, latent, 8),
        uniform(count * pixels, (0.0, 1.0), 6),
        2.0,
        &device,
    );
    let (m, lv) = host_components(&model);
    let z = model.sample_prior(&mut rng(7, 0), n).unwrap();
    assert_eq!(z.len(), n * latent);
    let avg = |f: &dyn Fn(usize) -> f64| (0..count).map(f).sum::<f64>() / count as f64;
    // Each statistic: its value per draw, and its expectation under the mixture, under one
    // component, and under N(0, I).
    type Stat<'a> = (&'a str, Box<dyn Fn(&[f32]) -> f64>, f64, f64, f64);
    let var = |c: usize, d: usize| lv[c][d].exp();
    let stats: Vec<Stat> = vec![
        (
            "mean 0",
            Box::new(|z| z[0] as f64),
            avg(&|c| m[c][0]),
            m[0][0],
            0.0,
        ),
        (
            "mean 1",
            Box::new(|z| z[1] as f64),
            avg(&|c| m[c][1]),
            m[0][1],
            0.0,
        ),
        (
            "square 0",
            Box::new(|z| (z[0] as f64).powi(2)),
            avg(&|c| m[c][0].powi(2) + var(c, 0)),
            m[0][0].powi(2) + var(0, 0),
            1.0,
        ),
        (
            "product",
            Box::new(|z| z[0] as f64 * z[1] as f64),
            avg(&|c| m[c][0] * m[c][1]),
            m[0][0] * m[0][1],
            0.0,
        ),
    ];
    let mut tells_apart = (false, false);
    for (name, f, mixture, one, standard) in stats {
        let values: Vec<f64> = z.chunks(latent).map(&f).collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let se = sd / (n as f64).sqrt();
        assert!(
            (mean - mixture).abs() < 5.0 * se,
            "{name}: sampled {mean}, the mixture's {mixture} (standard error {se})"
        );
        tells_apart.0 |= (one - mixture).abs() > 10.0 * se;
        tells_apart.1 |= (standard - mixture).abs() > 10.0 * se;
    }
    assert!(
        tells_apart.0 && tells_apart.1,
        "the statistics tell the mixture from one component and from N(0, I): {tells_apart:?}"
    );
}

/// A VampPrior run's evaluation says what it measured: samples "from the VampPrior", and a
/// "loss at z_mean" whose second term is `log q(z|x) - log p(z)` at z_mean, which is no KL.
/// The loss at z_mean, with the prior's components computed once per evaluation, is the
/// model's own forward pass and loss.
#[test]
fn a_vamp_prior_evaluation_names_its_prior_and_what_its_loss_at_mean_adds() {
    use vae::eval::{EvalOptions, Split, evaluate_run, test_loss_at_mean};
    use vae::train::{TrainOptions, train};
    let dir = tempfile::tempdir().unwrap();
    let config = vae::TrainConfig {
        prior: Prior::Vamp,
        pseudo_inputs: Some(20),
        ..vae_testkit::small_config(500, 1)
    };
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    let report = evaluate_run(
        &run,
        EvalOptions {
            split: Split::Test,
            iw_samples: 0,
            limit: Some(300),
            metrics: Default::default(),
            quality_samples: Some(100),
            fidelity_samples: None,
        },
    )
    .unwrap();
    let text = report.to_string();
    assert!(
        text.contains("log q(z|x) - log p(z)) at z = z_mean: the VampPrior has no closed-form KL")
            && text.contains("100 samples from the VampPrior vs as many test images"),
        "{text}"
    );

    let mut test = run.test_data().unwrap();
    test.truncate(300);
    let ours = test_loss_at_mean(&run.model, &test, Reconstruction::Bce, 1.0, &run.device)
        .unwrap()
        .total;
    assert_eq!(Some(ours), report.loss_at_mean);
    let all: Vec<usize> = (0..300).collect();
    let x = to_device(test.gather(&all).unwrap(), 300, 784, &run.device);
    let forward = run.model.forward(x.clone(), None, None);
    let direct = vae::model::loss::vae_loss(&forward, x, Reconstruction::Bce, 1.0, 300);
    let direct = to_host(direct.total).unwrap()[0] as f64;
    assert!(
        (ours - direct).abs() < 1e-4 * direct.abs(),
        "{ours} vs {direct}"
    );
}
