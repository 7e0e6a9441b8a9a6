//! The memory model: parameter counts equal the built models', passes shrink as images grow,
//! and a model that cannot fit is refused from its config alone.

use burn::module::Module;
use burn::tensor::Device;
use vae::model::memory::{Footprint, INFERENCE_BYTES};
use vae::model::{Arch, ConditionKind, Conditioning, ModelConfig, Vae};

fn configs() -> Vec<ModelConfig> {
    let mut configs = Vec::new();
    for arch in [Arch::Mlp, Arch::Conv, Arch::Celeba] {
        for autoencoder in [false, true] {
            configs.push(ModelConfig {
                autoencoder,
                ..ModelConfig::default_for(arch)
            });
        }
    }
    configs.push(ModelConfig {
        hidden: vec![512, 256],
        height: 64,
        width: 48,
        image_channels: 3,
        ..ModelConfig::default_for(Arch::Mlp)
    });
    configs.push(ModelConfig {
        channels: vec![8, 16, 4, 12],
        height: 37,
        width: 50,
        image_channels: 3,
        ..ModelConfig::default_for(Arch::Celeba)
    });
    // Conditional models: the condition widens the first layer of each half.
    for arch in [Arch::Mlp, Arch::Conv, Arch::Celeba] {
        configs.push(ModelConfig {
            conditioning: Some(Conditioning {
                kind: ConditionKind::Class,
                names: (0..10).map(|c| c.to_string()).collect(),
            }),
            ..ModelConfig::default_for(arch)
        });
    }
    configs
}

#[test]
fn parameter_counts_equal_the_built_models() {
    for config in configs() {
        let model = Vae::new(&config, &Device::flex());
        assert_eq!(
            Footprint::of(&config).parameters,
            model.num_params() as f64,
            "{config:?}"
        );
    }
}

#[test]
fn inference_passes_shrink_as_images_grow_and_stay_within_the_budget() {
    let mlp = Footprint::of(&ModelConfig::default_for(Arch::Mlp));
    assert_eq!(
        mlp.rows_per_pass(500),
        500,
        "28x28 MLP passes are not limited"
    );
    let conv = |side: usize| {
        Footprint::of(&ModelConfig {
            height: side,
            width: side,
            latent_dim: 10,
            ..ModelConfig::default_for(Arch::Conv)
        })
    };
    let (small, large) = (conv(28), conv(64));
    assert!(large.activations > 4.0 * small.activations);
    let rows = large.rows_per_pass(5000);
    assert!(rows < small.rows_per_pass(5000) && rows >= 1, "{rows}");
    assert!(large.inference_bytes(rows) - large.inference_bytes(0) <= INFERENCE_BYTES as f64);
    // A model whose single image needs more than the budget still runs, one image at a time.
    assert_eq!(conv(4096).rows_per_pass(500), 1);
}

#[test]
fn a_model_that_cannot_fit_is_refused_from_its_config() {
    let huge = Footprint::of(&ModelConfig {
        hidden: vec![100_000_000],
        ..ModelConfig::default_for(Arch::Mlp)
    });
    // 784 * 1e8 weights in, as many out: about 1.6e11, 2.6 TB with gradients and Adam state.
    assert!(huge.parameters > 1.5e11);
    assert!(huge.training_bytes(128) > 2.5e12);
    if vae::device::available_memory().is_some() {
        let err = huge.check_training(128).unwrap_err().to_string();
        assert!(err.contains("training this model needs about"), "{err}");
        assert!(err.contains("Adam state 2.6 TB"), "{err}");
        assert!(err.contains("of memory is available"), "{err}");
        assert!(huge.check_inference().is_err());
    }
    let default = Footprint::of(&ModelConfig::default_for(Arch::Mlp));
    default.check_training(128).unwrap();
    default.check_inference().unwrap();
    assert!(default.training_bytes(256) > default.training_bytes(128));
}
