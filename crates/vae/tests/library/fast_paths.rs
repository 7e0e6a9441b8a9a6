//! The fast paths compute what the plain ones do. The conv stacks run as gathers and matrix
//! products on burn-flex (`ConvPath::Im2col`): checked against the library's NCHW path, Burn's
//! own `Conv2d`/`ConvTranspose2d` and `BatchNorm` (`ConvPath::Nchw`), values and gradients of
//! every weight, including sizes that need asymmetric padding, colour images, and the CelebA
//! family's batch norm and leaky ReLU. Training on the CPU splits batches into data-parallel
//! shards (`train::shards`): checked against the gradient of the whole batch.

use burn::module::Module;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use vae::model::{Arch, ConvPath, Decoder, Encoder, ModelConfig, Vae};

fn random(rows: usize, cols: usize, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The encoder's `[z_mean, z_log_var]`.
fn encode(e: &Encoder, x: Tensor<2>) -> Tensor<2> {
    let q = e.forward(x);
    Tensor::cat(
        vec![q.z_mean().clone(), q.z_log_var().expect("a VAE").clone()],
        1,
    )
}

/// All parameter gradients of `module` for `loss`, flattened in visiting order.
fn gradients<M: Module>(module: &M, loss: Tensor<1>) -> Vec<Vec<f32>> {
    let grads = loss.backward();
    let mut out = Vec::new();
    module.visit(&mut GradCollector {
        grads: &grads,
        out: &mut out,
    });
    out
}

struct GradCollector<'a> {
    grads: &'a burn::tensor::Gradients,
    out: &'a mut Vec<Vec<f32>>,
}

impl burn::module::ModuleVisitor for GradCollector<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        // Batch norm's running statistics are state, not weights.
        if !param.val().is_require_grad() {
            return;
        }
        let g = param
            .val()
            .grad(self.grads)
            .expect("every weight gets a gradient");
        self.out.push(values(g));
    }
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_close_at(a, b, largest(b), what);
}

fn largest(b: &[f32]) -> f32 {
    b.iter().fold(1e-3f32, |m, v| m.max(v.abs()))
}

/// |a - b| <= 1e-4 * scale everywhere. Gradients are compared at the scale of all the module's
/// gradients: a bias before batch norm has a gradient of 0 up to rounding, and rounding is
/// relative to the gradients it was computed from.
fn assert_close_at(a: &[f32], b: &[f32], scale: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "{what}[{i}]: {x} vs the reference {y} (scale {scale})"
        );
    }
}

#[test]
fn conv_layers_match_burns_convolutions_values_and_gradients() {
    let device = Device::flex().autodiff();
    assert_eq!(ConvPath::for_device(&device), ConvPath::Im2col);
    let cases = [
        (Arch::Conv, 28, 28, 1),
        (Arch::Conv, 30, 21, 1),
        (Arch::Conv, 30, 21, 3),
        (Arch::Celeba, 24, 20, 3),
    ];
    for (arch, height, width, image_channels) in cases {
        let config = ModelConfig {
            height,
            width,
            image_channels,
            latent_dim: 3,
            channels: vec![4, 6, 5],
            ..ModelConfig::default_for(arch)
        };
        let pixels = config.pixels();
        let model = Vae::init(&config, &device, 7);
        let reference = model.clone().with_conv_path(Some(ConvPath::Nchw));
        let what = format!("{arch:?} {height}x{width}x{image_channels}");
        let x = random(3, pixels, 1, &device);
        let z = random(3, 3, 2, &device);

        let ours = encode(&model.encoder, x.clone());
        let theirs = encode(&reference.encoder, x.clone());
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(3, 6, 3, &device);
        let g_ours = gradients(&model.encoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(&reference.encoder, (theirs - target).square().sum());
        let scale = largest(&g_theirs.concat());
        for (i, (a, b)) in g_ours.iter().zip(&g_theirs).enumerate() {
            assert_close_at(a, b, scale, &format!("{what} encoder gradient {i}"));
        }

        let ours = model.decoder.forward(z.clone());
        let theirs = reference.decoder.forward(z);
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(3, pixels, 4, &device);
        let g_ours = gradients(&model.decoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(&reference.decoder, (theirs - target).square().sum());
        let norms = if arch == Arch::Celeba { 3 } else { 0 };
        assert_eq!(
            g_ours.len(),
            10 + 2 * norms,
            "dense, 3 deconvs, output conv: weight and bias each; gamma and beta per batch norm"
        );
        assert!(matches!(model.decoder, Decoder::Conv(_)));
        let scale = largest(&g_theirs.concat());
        for (i, (a, b)) in g_ours.iter().zip(&g_theirs).enumerate() {
            assert_close_at(a, b, scale, &format!("{what} decoder gradient {i}"));
        }
    }
}

/// Every weight's gradient, looked up by parameter id.
struct ById<'a> {
    grads: &'a burn::optim::GradientsParams,
    out: Vec<Vec<f32>>,
}

impl burn::module::ModuleVisitor for ById<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let g = self
            .grads
            .get::<D>(param.id)
            .expect("a gradient per weight");
        self.out.push(values(g));
    }
}

#[test]
fn data_parallel_shards_give_the_whole_batch_gradient() {
    use vae::model::loss::{Loss, Reconstruction, vae_loss};
    use vae::parallel::Shards;
    use vae::train::shards;
    let device = Device::flex().autodiff();
    for arch in [Arch::Mlp, Arch::Conv] {
        let config = ModelConfig {
            latent_dim: 3,
            channels: vec![4, 6, 5],
            hidden: vec![16],
            ..ModelConfig::default_for(arch)
        };
        let model = Vae::init(&config, &device, 3);
        // Pixels in [0, 1] and an odd batch, so the shards differ in size.
        let x = burn::tensor::activation::sigmoid(random(7, 784, 5, &device));
        let eps = random(7, 3, 6, &device);
        let forward = model.forward(x.clone(), Some(eps.clone()));
        let loss = vae_loss(&forward, x.clone(), Reconstruction::Bce, 2.0);
        let whole = burn::optim::GradientsParams::from_grads(loss.total.backward(), &model);
        let expected = values(loss.total.inner());

        let (sharded, losses) = shards::gradients(
            &Shards::new(3).unwrap(),
            &model,
            x,
            Some(eps),
            Reconstruction::Bce,
            2.0,
        );
        let losses = Loss::from_values(&values(losses));
        assert_close(&[losses.total as f32], &expected, &format!("{arch:?} loss"));
        let mut a = ById {
            grads: &whole,
            out: Vec::new(),
        };
        let mut b = ById {
            grads: &sharded,
            out: Vec::new(),
        };
        model.visit(&mut a);
        model.visit(&mut b);
        assert!(a.out.len() >= 6, "{arch:?}");
        for (i, (ga, gb)) in a.out.iter().zip(&b.out).enumerate() {
            assert_close(gb, ga, &format!("{arch:?} gradient {i}"));
        }
    }
}
