//! The kernels of `vae_kernels`, inside the models, compute what Burn's plain computation does
//! (the kernels' own tests, of what lies under their face, are in that crate). The conv stacks
//! run as window passes and matrix products on channels-last rows on burn-flex
//! (`ConvPath::ChannelsLast`): checked against Burn's own `Conv2d`/`ConvTranspose2d` and
//! `BatchNorm` (`ConvPath::Nchw`), values and gradients of every weight, including sizes that
//! need asymmetric padding, colour images, and batch norm with leaky ReLU. The synchronised
//! batch norm against Burn's on the whole batch, alone and inside the data-parallel shards of
//! training (`train::shards`). The Bernoulli loss runs as one fused kernel on burn-flex and the
//! IWAE bound takes its loss on the host (`reconstruction_loss_on_host`): both checked against
//! Burn's composition, values and gradients, saturated logits included. Adam's fused step and
//! the dense layer against Burn's. `VAE_MAX_ISA` caps the instruction set they run on.

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
    let q = e.forward(x, None);
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
    assert_eq!(ConvPath::for_device(&device), ConvPath::ChannelsLast);
    // Sizes that pad unevenly, colour, a layer with fewer outputs than inputs (6 -> 5, and the
    // output convolution), a batch of one image, and batches that the kernels work through in
    // several blocks of images with a shorter last one (40 images of 28x28: 2 per block at
    // 16x16, 8 at 8x8, 32 at 4x4), with and without batch norm.
    let cases = [
        (Arch::Conv, 28, 28, 1, 3),
        (Arch::Conv, 28, 28, 1, 40),
        (Arch::Conv, 30, 21, 1, 3),
        (Arch::Conv, 30, 21, 3, 3),
        (Arch::Conv, 7, 5, 2, 1),
        (Arch::ConvBn, 24, 20, 3, 3),
        (Arch::ConvBn, 9, 13, 3, 2),
        (Arch::ConvBn, 28, 28, 3, 40),
    ];
    for (arch, height, width, image_channels, batch) in cases {
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
        let what = format!("{arch:?} {height}x{width}x{image_channels}, batch {batch}");
        let x = random(batch, pixels, 1, &device);
        let z = random(batch, 3, 2, &device);

        let ours = encode(&model.encoder, x.clone());
        let theirs = encode(&reference.encoder, x.clone());
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(batch, 6, 3, &device);
        let g_ours = gradients(&model.encoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(&reference.encoder, (theirs - target).square().sum());
        let scale = largest(&g_theirs.concat());
        for (i, (a, b)) in g_ours.iter().zip(&g_theirs).enumerate() {
            assert_close_at(a, b, scale, &format!("{what} encoder gradient {i}"));
        }

        let ours = model.decoder.forward(z.clone(), None);
        let theirs = reference.decoder.forward(z, None);
        assert_close(&values(ours.clone()), &values(theirs.clone()), &what);
        let target = random(batch, pixels, 4, &device);
        let g_ours = gradients(&model.decoder, (ours - target.clone()).square().sum());
        let g_theirs = gradients(&reference.decoder, (theirs - target).square().sum());
        let norms = if arch == Arch::ConvBn { 3 } else { 0 };
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
        if !param.val().is_require_grad() {
            return;
        }
        let g = self
            .grads
            .get::<D>(param.id)
            .expect("a gradient per weight");
        self.out.push(values(g));
    }
}

/// Batch norm's running statistics, flattened.
struct Running(Vec<f32>);

/// The running statistics of `module`, after gathering what every thread recorded (`valid`
/// does, on the statistics the module shares with its copies).
fn running<M: Module>(module: &M) -> Vec<f32> {
    let _ = module.valid();
    let mut r = Running(Vec::new());
    module.visit(&mut r);
    r.0
}

impl burn::module::ModuleVisitor for Running {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if !param.val().is_require_grad() {
            self.0.extend(values(param.val()));
        }
    }
}

/// The CelebA family's batch norm too: its shards meet at every batch norm (SyncBatchNorm), so
/// statistics, gradients and running statistics are those of the whole batch. A VampPrior's
/// components are computed once for all shards and their gradient taken back through the
/// encoder afterwards: the pseudo-inputs' gradients and the encoder's are the whole pass's too,
/// under both objectives.
#[test]
fn data_parallel_shards_give_the_whole_batch_gradient() {
    use vae::model::Prior;
    use vae::model::loss::{Loss, Objective, Reconstruction, training_loss};
    use vae::parallel::Shards;
    use vae::train::shards;
    let device = Device::flex().autodiff();
    let (elbo, iwae) = (Objective::Elbo, Objective::Iwae);
    for (arch, height, width, image_channels, prior, objective) in [
        (Arch::Mlp, 28, 28, 1, Prior::Standard, elbo),
        (Arch::Conv, 28, 28, 1, Prior::Standard, elbo),
        (Arch::ConvBn, 24, 20, 3, Prior::Standard, elbo),
        (Arch::Mlp, 28, 28, 1, Prior::Vamp, elbo),
        (Arch::Conv, 12, 12, 1, Prior::Vamp, elbo),
        (Arch::GatedMlp, 10, 9, 1, Prior::Vamp, iwae),
    ] {
        let vamp = prior == Prior::Vamp;
        let config = ModelConfig {
            latent_dim: 3,
            channels: vec![4, 6, 5],
            hidden: vec![16],
            height,
            width,
            image_channels,
            prior,
            pseudo_inputs: if vamp { 5 } else { 0 },
            ..ModelConfig::default_for(arch)
        };
        let case = format!("{arch:?} {prior:?} {objective:?}");
        let pixels = height * width * image_channels;
        let samples = if objective == iwae { 4 } else { 1 };
        let whole_model = Vae::init(&config, &device, 3);
        let sharded_model = Vae::init(&config, &device, 3);
        // Pixels in [0, 1] and an odd batch, so the shards differ in size.
        let x = burn::tensor::activation::sigmoid(random(7, pixels, 5, &device));
        let eps = random(7, 3 * samples, 6, &device);
        let loss = (Reconstruction::Bce, objective, if vamp { 1.0 } else { 2.0 });
        let total = training_loss(
            &whole_model,
            whole_model.prior_components().as_ref(),
            x.clone(),
            None,
            Some(eps.clone()),
            loss,
            7,
        )
        .total;
        let whole = burn::optim::GradientsParams::from_grads(total.backward(), &whole_model);
        let expected = values(total.inner());

        let (sharded, losses) = shards::gradients(
            Some(&Shards::new(3).unwrap()),
            &sharded_model,
            shards::Batch {
                x,
                condition: None,
                eps: Some(eps),
            },
            loss,
            7,
        )
        .unwrap();
        let losses = Loss::from_values(&values(losses));
        assert_close(&[losses.total as f32], &expected, &format!("{case} loss"));
        let mut a = ById {
            grads: &whole,
            out: Vec::new(),
        };
        let mut b = ById {
            grads: &sharded,
            out: Vec::new(),
        };
        whole_model.visit(&mut a);
        sharded_model.visit(&mut b);
        assert!(a.out.len() >= 6, "{case}");
        let scale = a.out.iter().map(|g| largest(g)).fold(0.0, f32::max);
        for (i, (ga, gb)) in a.out.iter().zip(&b.out).enumerate() {
            assert_close_at(gb, ga, scale, &format!("{case} gradient {i}"));
        }
        let (ra, rb) = (running(&whole_model), running(&sharded_model));
        assert_eq!(ra.is_empty(), arch != Arch::ConvBn, "{case}");
        assert_close(&rb, &ra, &format!("{case} running statistics"));
    }
}

/// The batch norm that shards and ranks share computes what Burn's `BatchNorm` does on the
/// whole batch: outputs, gradients of input, scale and shift, and the running statistics. (Run
/// as the one part of a one-shard pass: a batch in one piece takes Burn's batch norm itself.)
#[test]
fn batch_norm_over_parts_matches_burns_batch_norm() {
    vae::parallel::Shards::new(1)
        .unwrap()
        .run_together(1, |_| batch_norm_matches_burns())
        .unwrap();
}

fn batch_norm_matches_burns() {
    use burn::nn::BatchNormConfig;
    assert!(vae::parallel::batch_is_split());
    let device = Device::flex().autodiff();
    let ours = BatchNormConfig::new(5).init(&device);
    let burns = BatchNormConfig::new(5).init(&device);
    let x = random(6 * 5, 16, 11, &device)
        .reshape([6, 5, 4, 4])
        .mul_scalar(3.0)
        .add_scalar(2.0);
    let weights = random(6 * 5, 16, 12, &device).reshape([6, 5, 4, 4]);
    let (xa, xb) = (x.clone().require_grad(), x.require_grad());
    let ya = vae_kernels::batch_norm(&ours, xa.clone());
    let yb = burns.forward(xb.clone());
    assert_close(&values(ya.clone()), &values(yb.clone()), "outputs");
    let ga = (ya * weights.clone()).sum().backward();
    let gb = (yb * weights).sum().backward();
    assert_close(
        &values(xa.grad(&ga).unwrap()),
        &values(xb.grad(&gb).unwrap()),
        "input gradient",
    );
    for (a, b) in [
        (ours.gamma.val().grad(&ga), burns.gamma.val().grad(&gb)),
        (ours.beta.val().grad(&ga), burns.beta.val().grad(&gb)),
    ] {
        assert_close(
            &values(a.unwrap()),
            &values(b.unwrap()),
            "scale and shift gradients",
        );
    }
    let (ra, rb) = (running(&ours), running(&burns));
    assert_eq!(ra.len(), 10);
    assert_close(&ra, &rb, "running statistics");
    assert!(
        ra.iter().any(|v| (v - 1.0).abs() > 0.05 && v.abs() > 0.05),
        "updated"
    );
}

/// The gradients of every weight through one flat vector (what MPI ranks sum) come back whole.
#[test]
fn gradients_round_trip_through_one_flat_vector() {
    use vae::train::gradients::Layout;
    let device = Device::flex().autodiff();
    let config = ModelConfig {
        height: 24,
        width: 20,
        image_channels: 3,
        channels: vec![4, 6],
        latent_dim: 3,
        ..ModelConfig::default_for(Arch::ConvBn)
    };
    let model = Vae::init(&config, &device, 1);
    let x = burn::tensor::activation::sigmoid(random(4, 24 * 20 * 3, 2, &device));
    let eps = random(4, 3, 3, &device);
    let loss = model.forward(x, None, Some(eps)).logits.square().mean();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
    let layout = Layout::of(&model);
    let plain = Device::flex();
    let flat = values(layout.flatten(&model, &grads, &plain));
    assert_eq!(flat.len(), layout.len());
    // Every weight, without the running mean and variance of the encoder's and decoder's batch
    // norms (4 + 6 channels each).
    assert_eq!(
        layout.len(),
        model.footprint().parameters as usize - 2 * 2 * (4 + 6)
    );
    let back = layout.unflatten(&model, &flat, &plain);
    let (mut a, mut b) = (
        ById {
            grads: &grads,
            out: Vec::new(),
        },
        ById {
            grads: &back,
            out: Vec::new(),
        },
    );
    model.visit(&mut a);
    model.visit(&mut b);
    assert_eq!(a.out, b.out);
}

/// Logits over the whole range a decoder produces, saturated ones included, and grey pixels.
fn logits_and_pixels(rows: usize, pixels: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let logits = random(rows, pixels, 11, device).mul_scalar(6.0);
    let mut values = values(logits);
    // Far out in both tails, exactly 0, and a row length that is not a multiple of 8 lanes.
    values[..4].copy_from_slice(&[120.0, -120.0, 0.0, 30.0]);
    let logits = Tensor::from_data(TensorData::new(values, [rows, pixels]), device);
    let x = random(rows, pixels, 12, device).abs().clamp_max(1.0);
    (logits, x)
}

#[test]
fn fused_bce_matches_burns_composition_values_and_gradients() {
    use vae::model::loss::bce_with_logits;
    let device = Device::flex().autodiff();
    let (rows, pixels) = (7, 787);
    let (logits, x) = logits_and_pixels(rows, pixels, &device);
    let weights = random(rows, 1, 13, &device).squeeze_dim::<1>(1);
    // The fused kernel, then Burn's composition, each weighted per row so that the gradient of
    // every row differs.
    let run = |fused: bool| {
        let l = logits.clone().require_grad();
        let loss = if fused {
            vae_kernels::bce_with_logits_rows(l.clone(), x.clone())
        } else {
            bce_with_logits(l.clone(), x.clone())
                .sum_dim(1)
                .squeeze_dim(1)
        };
        let total = (loss.clone() * weights.clone()).sum();
        let grads = total.backward();
        (
            values(loss),
            values(l.grad(&grads).expect("the logits get a gradient")),
        )
    };
    assert!(vae_kernels::fused_applies(&logits));
    let (fused_loss, fused_grad) = run(true);
    let (plain_loss, plain_grad) = run(false);
    assert_close_at(
        &fused_loss,
        &plain_loss,
        largest(&plain_loss),
        "loss per image",
    );
    assert_close_at(
        &fused_grad,
        &plain_grad,
        largest(&plain_grad),
        "gradient of the logits",
    );
    // Saturated logits: log(1 + e^120) = 120 exactly in f32, no Inf, and a finite gradient.
    assert!(fused_loss.iter().all(|v| v.is_finite()), "{fused_loss:?}");
    assert!(fused_grad.iter().all(|v| v.is_finite()));
    // Without autodiff (evaluation) the kernel gives the same values.
    let inner = logits_and_pixels(rows, pixels, &Device::flex());
    let plain = values(vae_kernels::bce_with_logits_rows(inner.0, inner.1));
    assert_close_at(
        &plain,
        &plain_loss,
        largest(&plain_loss),
        "loss without autodiff",
    );
    // An empty batch gives an empty loss and an empty gradient.
    let empty = Tensor::<2>::zeros([0, pixels], &device).require_grad();
    let loss = vae_kernels::bce_with_logits_rows(empty.clone(), empty.clone().detach());
    assert_eq!(loss.dims(), [0]);
    let grads = loss.sum().backward();
    assert_eq!(empty.grad(&grads).map(|g| g.dims()), Some([0, pixels]));
}

/// The IWAE bound's loss on the host against Burn's plain composition of each loss (not
/// `reconstruction_loss`, which on burn-flex runs the same fused kernel as the host for the
/// Bernoulli part, and would compare it with itself).
#[test]
fn host_loss_of_the_iwae_bound_matches_burns_composition_for_every_kind() {
    use burn::tensor::activation::sigmoid;
    use vae::model::loss::{
        Reconstruction, bce_with_logits, continuous_bernoulli_log_norm, reconstruction_loss_on_host,
    };
    let device = Device::flex();
    let (rows, pixels) = (6, 789);
    let (logits, x) = logits_and_pixels(rows, pixels, &device);
    // Two images, each read by three rows, as the bound reads one image for its K samples.
    let images: Vec<Vec<f32>> = values(x.clone().narrow(0, 0, 2))
        .chunks(pixels)
        .map(<[f32]>::to_vec)
        .collect();
    let x_rep = Tensor::cat(
        (0..rows).map(|r| x.clone().narrow(0, r / 3, 1)).collect(),
        0,
    );
    let host_logits = values(logits.clone());
    let per_row = |per_pixel: Tensor<2>| values(per_pixel.sum_dim(1).squeeze_dim::<1>(1));
    for kind in [Reconstruction::Bce, Reconstruction::Cb, Reconstruction::Mse] {
        let bce = || bce_with_logits(logits.clone(), x_rep.clone());
        let device_loss = match kind {
            Reconstruction::Bce => per_row(bce()),
            Reconstruction::Cb => per_row(bce() - continuous_bernoulli_log_norm(logits.clone())),
            Reconstruction::Mse => per_row((sigmoid(logits.clone()) - x_rep.clone()).square()),
        };
        let host_loss = reconstruction_loss_on_host(kind, &host_logits, pixels, |r| &images[r / 3]);
        assert_close_at(
            &host_loss,
            &device_loss,
            largest(&device_loss),
            &format!("{kind:?}"),
        );
    }
}

/// Burn's Adam with PyTorch's epsilon, the plain computation the fused step must agree with.
fn burns_adam() -> burn::optim::Adam {
    burn::optim::AdamConfig::new().with_epsilon(1e-8).build()
}

fn moments<const D: usize>(state: &burn::optim::AdamState<D>) -> (usize, Vec<f32>, Vec<f32>) {
    let m = &state.momentum;
    (
        m.time,
        values(m.moment_1.clone()),
        values(m.moment_2.clone()),
    )
}

/// The fused Adam step (one pass, in place, split across threads) against Burn's Adam: weights
/// and both moments after several steps with a change of learning rate, on sizes of one
/// element, odd tails of the vector width, and more than one thread's chunk; a weight shared
/// with another tensor is not written through.
#[test]
fn fused_adam_matches_burns_adam() {
    use burn::optim::Optimizer;
    let device = Device::flex();
    let (burn, fused) = (burns_adam(), vae_kernels::FusedAdam::default());
    for (rows, cols) in [(1, 1), (7, 1), (33, 3), (70_001, 1)] {
        let start = random(rows, cols, 1, &device);
        let (mut plain, mut ours) = (start.clone(), start.clone());
        let (mut plain_state, mut our_state) = (None, None);
        for step in 0..6u64 {
            let grad = random(rows, cols, 100 + step, &device).mul_scalar(0.1);
            let lr = if step < 3 { 1e-3 } else { 5e-4 };
            (plain, plain_state) = burn.step(lr, plain, grad.clone(), plain_state);
            (ours, our_state) = fused.step(lr, ours, grad, our_state);
        }
        let what = format!("{rows}x{cols}");
        assert_close_at(
            &values(ours),
            &values(plain.clone()),
            1e-2,
            &format!("weights {what}"),
        );
        let (t, m1, m2) = moments(&our_state.expect("a state"));
        let (plain_t, plain_m1, plain_m2) = moments(&plain_state.expect("a state"));
        assert_eq!(t, plain_t);
        assert_close(&m1, &plain_m1, &format!("first moment {what}"));
        assert_close(&m2, &plain_m2, &format!("second moment {what}"));
        assert_ne!(values(start.clone()), values(plain));
        // The first weights were shared by both runs: neither step wrote into them.
        assert_eq!(values(start), values(random(rows, cols, 1, &device)));
    }
}

/// A gradient that is non-zero once and then zero leaves a first moment that decays by 0.9 a
/// step: Burn's becomes subnormal (where each multiply is a microcode assist, the MLP's
/// slowdown from its third epoch), the fused step's becomes exactly 0 instead, and the
/// weights stay the same.
#[test]
fn fused_adam_flushes_subnormal_moments_to_zero() {
    use burn::optim::Optimizer;
    let device = Device::flex();
    let (burn, fused) = (burns_adam(), vae_kernels::FusedAdam::default());
    let once = Tensor::<1>::from_floats([1e-3, -2e-3, 0.5], &device);
    let (mut plain, mut ours) = (
        Tensor::<1>::zeros([3], &device),
        Tensor::zeros([3], &device),
    );
    let (mut plain_state, mut our_state) = (None, None);
    for step in 0..900 {
        let grad = if step == 0 {
            once.clone()
        } else {
            Tensor::<1>::from_floats([0.0, 0.0, 0.5], &device)
        };
        (plain, plain_state) = burn.step(1e-3, plain, grad.clone(), plain_state);
        (ours, our_state) = fused.step(1e-3, ours, grad, our_state);
        let (_, m1, m2) = moments(our_state.as_ref().expect("a state"));
        assert!(
            m1.iter().chain(&m2).all(|v| !v.is_subnormal()),
            "step {step}: {m1:?} {m2:?}"
        );
    }
    let (_, plain_m1, _) = moments(&plain_state.expect("a state"));
    assert!(
        plain_m1[..2].iter().all(|v| v.is_subnormal()),
        "{plain_m1:?}"
    );
    let (_, m1, _) = moments(&our_state.expect("a state"));
    assert_eq!(&m1[..2], &[0.0, 0.0]);
    assert_close_at(&values(ours), &values(plain), 1.0, "weights");
}

/// The fused batch norm + leaky ReLU over channels-last rows, with the batch split into three
/// parts that meet at the statistics, against Burn's `BatchNorm` and `leaky_relu` on the whole
/// batch: outputs, the gradients of input, scale and shift, and the running statistics. Parts
/// of one row, and inputs on both sides of the leaky ReLU's kink, included.
#[test]
fn fused_batch_norm_leaky_relu_matches_burns_composition() {
    use burn::nn::BatchNormConfig;
    use burn::tensor::activation::leaky_relu;
    use vae_kernels::LEAKY_SLOPE;
    let device = Device::flex().autodiff();
    let shards = vae::parallel::Shards::new(3).unwrap();
    // 4 rows split 1 + 1 + 2, 11 rows 3 + 4 + 4.
    for (rows, channels) in [(4, 5), (11, 3)] {
        let x = random(rows, channels, 21, &device)
            .mul_scalar(3.0)
            .add_scalar(1.0);
        let weights = random(rows, channels, 22, &device);
        let burns = BatchNormConfig::new(channels).init(&device);
        let xb = x.clone().require_grad();
        let yb = leaky_relu(burns.forward(xb.clone()), LEAKY_SLOPE);
        let gb = (yb.clone() * weights.clone()).sum().backward();

        let ours = BatchNormConfig::new(channels).init(&device);
        let parts = shards
            .run_together(rows, |range| {
                assert!(vae::parallel::batch_is_split());
                // Weights that are this part's own leaves (the running statistics stay
                // shared), as the trainer's shards have: one graph per part.
                let mut mine = ours.clone();
                mine.gamma = mine.gamma.map(|t| t.detach().require_grad());
                mine.beta = mine.beta.map(|t| t.detach().require_grad());
                let xa = x.clone().narrow(0, range.start, range.len()).require_grad();
                let ya = vae_kernels::batch_norm_leaky_relu(&mine, xa.clone(), LEAKY_SLOPE);
                let w = weights.clone().narrow(0, range.start, range.len());
                let ga = (ya.clone() * w).sum().backward();
                let grad = |t: Tensor<1>| values(t.grad(&ga).unwrap());
                [
                    values(ya),
                    values(xa.grad(&ga).unwrap()),
                    grad(mine.gamma.val()),
                    grad(mine.beta.val()),
                ]
            })
            .unwrap();
        assert_eq!(parts.len(), 3);
        let joined = |i: usize| -> Vec<f32> { parts.iter().flat_map(|p| p[i].clone()).collect() };
        // The parts' weight gradients add up, as the trainer adds the shards' gradients.
        let summed = |i: usize| -> Vec<f32> {
            (0..channels)
                .map(|c| parts.iter().map(|p| p[i][c]).sum())
                .collect()
        };
        let yb = values(yb);
        assert!(yb.iter().any(|v| *v < 0.0) && yb.iter().any(|v| *v > 0.0));
        let what = |w: &str| format!("{w}, {rows} rows");
        assert_close(&joined(0), &yb, &what("outputs"));
        assert_close(
            &joined(1),
            &values(xb.grad(&gb).unwrap()),
            &what("input gradient"),
        );
        let gamma = values(burns.gamma.val().grad(&gb).unwrap());
        assert_close(&summed(2), &gamma, &what("scale gradient"));
        let beta = values(burns.beta.val().grad(&gb).unwrap());
        assert_close(&summed(3), &beta, &what("shift gradient"));
        assert_close(
            &running(&ours),
            &running(&burns),
            &what("running statistics"),
        );
        // Inference (no autodiff) with the running statistics the passes above left.
        let (ours, burns) = (ours.valid(), burns.valid());
        let x = x.inner();
        let plain = leaky_relu(burns.forward(x.clone()), LEAKY_SLOPE);
        let fused = vae_kernels::batch_norm_leaky_relu(&ours, x, LEAKY_SLOPE);
        assert_close(&values(fused), &values(plain), &what("inference outputs"));
    }
}

/// A gradient's sum of squares in one pass (the joint gradient norm of every step) against
/// Burn's `square().sum()`, on odd sizes and a strided view; NaN and infinity still show.
#[test]
fn squared_sum_matches_burns() {
    use vae_kernels::squared_sum;
    let device = Device::flex();
    for (rows, cols) in [(1, 1), (3, 7), (401, 33)] {
        let t = random(rows, cols, 31, &device);
        let burns = values(t.clone().square().sum());
        assert_close(
            &values(squared_sum(t.clone())),
            &burns,
            &format!("{rows}x{cols}"),
        );
        let view = t.transpose();
        let burns = values(view.clone().square().sum());
        assert_close(&values(squared_sum(view)), &burns, "transposed");
    }
    let mut v = values(random(5, 5, 32, &device));
    v[7] = f32::NAN;
    let nan = Tensor::<2>::from_data(TensorData::new(v.clone(), [5, 5]), &device);
    assert!(values(squared_sum(nan))[0].is_nan());
    v[7] = f32::INFINITY;
    let inf = Tensor::<2>::from_data(TensorData::new(v, [5, 5]), &device);
    assert_eq!(values(squared_sum(inf))[0], f32::INFINITY);
}

/// burn-flex makes every new tensor (a matrix product's output, zeros) from a `Vec<u8>`, whose
/// declared alignment is 1; cubecl-environment 0.11.3 then allocated it again, aligned, and
/// copied it: 12% of a conv training step. The vendored copy keeps an allocation that is
/// already aligned (vendor/README.md).
#[test]
fn a_new_tensors_allocation_is_kept_not_copied() {
    for len in [16, 4096, 1 << 22] {
        let vec = vec![0u8; len];
        let ptr = vec.as_ptr();
        assert!(ptr.align_offset(16) == 0, "the allocator aligns to 16");
        let bytes = burn::tensor::Bytes::from_bytes_vec(vec);
        assert_eq!(bytes.as_ptr(), ptr, "{len} bytes were copied");
        assert_eq!(bytes.len(), len);
    }
}

#[test]
fn dense_layer_matches_burns_linear_values_and_gradients() {
    use burn::nn::LinearConfig;
    let device = Device::flex().autodiff();
    // (rows, inputs, outputs): batch 1, odd sizes with SIMD tails, a shard of M's decoder
    // output, and one large enough that the product splits across the pool.
    for (case, &(rows, inputs, outputs)) in [
        (1, 5, 3),
        (7, 13, 9),
        (64, 400, 37),
        (3, 1, 1),
        (200, 201, 199),
    ]
    .iter()
    .enumerate()
    {
        let seed = 100 + case as u64 * 3;
        let layer = vae::device::seeded(&device, seed, || {
            LinearConfig::new(inputs, outputs).init(&device)
        });
        // Non-zero biases, so that a bias added twice or not at all shows.
        let layer = burn::nn::Linear {
            bias: Some(burn::module::Param::from_tensor(
                random(1, outputs, seed + 1, &device).reshape([outputs]),
            )),
            ..layer
        };
        let x = random(rows, inputs, seed + 2, &device);
        let upstream = random(rows, outputs, seed + 3, &device);
        let what = format!("{rows}x{inputs}x{outputs}");
        let run = |ours: bool| {
            let x = x.clone().require_grad();
            let out = if ours {
                vae_kernels::linear(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (out.clone() * upstream.clone()).sum().backward();
            let grad = |t: Tensor<2>| values(t.grad(&grads).expect("tracked"));
            (
                values(out),
                grad(x),
                grad(layer.weight.val()),
                values(layer.bias.as_ref().unwrap().val().grad(&grads).unwrap()),
            )
        };
        let (ours, burns) = (run(true), run(false));
        // The forward pass is Burn's product and bias addition, to the bit: a row's output does
        // not depend on the batch it came in.
        assert_eq!(ours.0, burns.0, "{what} output");
        assert_close(&ours.1, &burns.1, &format!("{what} input gradient"));
        assert_close(&ours.2, &burns.2, &format!("{what} weight gradient"));
        assert_close(&ours.3, &burns.3, &format!("{what} bias gradient"));
        // Without autodiff (evaluation) the kernel gives the same values.
        let plain = layer.valid();
        let x = x.clone().inner();
        assert_eq!(
            values(vae_kernels::linear(&plain, x.clone())),
            values(plain.forward(x)),
            "{what} output without autodiff"
        );
    }
}
