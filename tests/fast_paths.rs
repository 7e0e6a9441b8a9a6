//! The fast paths compute what the plain ones do. The conv model's convolutions run as gathers
//! and matrix products (`model::im2col`): checked against Burn's own `Conv2d`/`ConvTranspose2d`
//! on NCHW tensors, values and gradients of every weight, including sizes that need asymmetric
//! padding. Training on the CPU splits batches into data-parallel shards (`train::shards`):
//! checked against the gradient of the whole batch.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use vae::model::conv::{ConvDecoder, ConvEncoder};
use vae::model::{Arch, ModelConfig, Vae};

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

/// The encoder as Burn's modules compute it: pad to the multiple of 2^layers, NCHW convs.
fn reference_encode(e: &ConvEncoder, x: Tensor<2>) -> Tensor<2> {
    let z_log_var = e.z_log_var.as_ref().expect("a VAE");
    let g = &e.geometry;
    let [batch, _] = x.dims();
    let top = (g.padded_height - g.height) / 2;
    let left = (g.padded_width - g.width) / 2;
    let image = x.reshape([batch, 1, g.height, g.width]).pad(
        [
            (top, g.padded_height - g.height - top),
            (left, g.padded_width - g.width - left),
        ],
        PadMode::Constant(0.0),
    );
    let h = e.convs.iter().fold(image, |h, c| relu(c.forward(h)));
    let h: Tensor<2> = h.flatten(1, 3);
    Tensor::cat(vec![e.z_mean.forward(h.clone()), z_log_var.forward(h)], 1)
}

/// The decoder as Burn's modules compute it: NCHW transposed convs, a 3x3 conv, then the crop.
fn reference_decode(d: &ConvDecoder, z: Tensor<2>) -> Tensor<2> {
    let g = &d.geometry;
    let [batch, _] = z.dims();
    let scale = 1usize << d.deconvs.len();
    let h = d.dense.forward(z).reshape([
        batch,
        d.top_channels,
        g.padded_height / scale,
        g.padded_width / scale,
    ]);
    let h = d.deconvs.iter().fold(h, |h, c| relu(c.forward(h)));
    let top = (g.padded_height - g.height) / 2;
    let left = (g.padded_width - g.width) / 2;
    d.output
        .forward(h)
        .slice([0..batch, 0..1, top..top + g.height, left..left + g.width])
        .reshape([batch, g.height * g.width])
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
        let g = param
            .val()
            .grad(self.grads)
            .expect("every weight gets a gradient");
        self.out.push(values(g));
    }
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
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
    for (height, width) in [(28, 28), (30, 21)] {
        let config = ModelConfig {
            height,
            width,
            latent_dim: 3,
            channels: vec![4, 6, 5],
            ..ModelConfig::default_for(Arch::Conv)
        };
        device.seed(7);
        let model = Vae::new(&config, &device);
        let (vae::model::Encoder::Conv(encoder), vae::model::Decoder::Conv(decoder)) =
            (&model.encoder, &model.decoder)
        else {
            unreachable!("a conv config builds conv modules")
        };
        let what = format!("{height}x{width}");
        let x = random(3, height * width, 1, &device);
        let z = random(3, 3, 2, &device);

        let (z_mean, z_log_var) = encoder.forward(x.clone());
        let ours = Tensor::cat(vec![z_mean, z_log_var.expect("a VAE")], 1);
        let theirs = reference_encode(encoder, x.clone());
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(3, 6, 3, &device);
        let g_ours = gradients(encoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(encoder, (theirs - target).square().sum());
        for (i, (a, b)) in g_ours.iter().zip(&g_theirs).enumerate() {
            assert_close(a, b, &format!("{what} encoder gradient {i}"));
        }

        let ours = decoder.forward(z.clone());
        let theirs = reference_decode(decoder, z);
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(3, height * width, 4, &device);
        let g_ours = gradients(decoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(decoder, (theirs - target).square().sum());
        assert_eq!(
            g_ours.len(),
            10,
            "dense, 3 deconvs, output conv: weight and bias each"
        );
        for (i, (a, b)) in g_ours.iter().zip(&g_theirs).enumerate() {
            assert_close(a, b, &format!("{what} decoder gradient {i}"));
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
    use vae::model::loss::{Reconstruction, vae_loss};
    use vae::train::shards::{self, Shards};
    let device = Device::flex().autodiff();
    for arch in [Arch::Mlp, Arch::Conv] {
        let config = ModelConfig {
            latent_dim: 3,
            channels: vec![4, 6, 5],
            hidden: vec![16],
            ..ModelConfig::default_for(arch)
        };
        device.seed(3);
        let model = Vae::new(&config, &device);
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
        let losses = values(losses);
        assert_close(&losses[..1], &expected, &format!("{arch:?} loss"));
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
