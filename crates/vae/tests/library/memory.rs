//! The memory model: parameter counts equal the built models', passes shrink as images grow,
//! and a model that cannot fit is refused from its config alone.

use burn::module::Module;
use burn::tensor::Device;
use vae::model::memory::{Footprint, INFERENCE_BYTES};
use vae::model::{Arch, ConditionKind, Conditioning, ModelConfig, Prior, Vae};

fn configs() -> Vec<ModelConfig> {
    let mut configs = Vec::new();
    for &arch in Arch::ALL {
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
        ..ModelConfig::default_for(Arch::ConvBn)
    });
    // Conditional models: the condition widens the first layer of each half.
    for &arch in Arch::ALL {
        configs.push(ModelConfig {
            conditioning: Some(Conditioning {
                kind: ConditionKind::Class,
                names: (0..10).map(|c| c.to_string()).collect(),
            }),
            ..ModelConfig::default_for(arch)
        });
    }
    // A VampPrior's pseudo-inputs are weights too.
    for arch in [Arch::Mlp, Arch::Conv, Arch::GatedMlp] {
        configs.push(ModelConfig {
            prior: Prior::Vamp,
            pseudo_inputs: 50,
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
    // Linux always says how much memory is available, so the checks below can refuse.
    assert!(vae::device::available_memory().is_some());
    let err = huge.check_training(128, 1).unwrap_err().to_string();
    assert!(err.contains("training this model needs about"), "{err}");
    assert!(err.contains("Adam state 2.6 TB"), "{err}");
    assert!(err.contains("of memory is available"), "{err}");
    assert!(huge.check_inference().is_err());
    let default = Footprint::of(&ModelConfig::default_for(Arch::Mlp));
    default.check_training(128, 1).unwrap();
    default.check_inference().unwrap();
    assert!(default.training_bytes(256) > default.training_bytes(128));
}

/// Under MPI each rank computes its share of a batch, and the ranks of one machine share its
/// memory: a run is checked per rank for its rows and per machine for the ranks on it.
#[test]
fn ranks_are_checked_for_their_share_of_a_batch_and_per_machine() {
    let model = Footprint::of(&ModelConfig::default_for(Arch::Conv));
    // Memory for the whole batch of 1,024 on one process, less a little.
    let memory = Some((model.training_bytes(1024) * 0.99) as u64);
    assert!(model.check_training_within(1024, 1, memory).is_err());
    // 8 ranks on 8 machines: 128 rows each fit easily.
    model.check_training_within(128, 1, memory).unwrap();
    // 8 ranks on one machine: 8 times a rank's need, more than the whole batch's (weights too).
    let err = model
        .check_training_within(128, 8, memory)
        .unwrap_err()
        .to_string();
    assert!(err.contains("on each rank"), "{err}");
    assert!(err.contains("its share of a batch, 128 images"), "{err}");
    assert!(err.contains("for the 8 ranks on this machine"), "{err}");
    assert!(err.contains("start fewer ranks per machine"), "{err}");
    // 2 ranks on each of 4 machines fit.
    model.check_training_within(128, 2, memory).unwrap();
    // Unknown memory refuses nothing.
    model.check_training_within(1 << 30, 8, None).unwrap();
}

/// The counts a caller gives (IWAE's K, samples, importance samples) are counted in floating
/// point before anything is allocated: 16 images x 2^60 samples wrapped around to 0 rows in
/// `usize` and passed the check, and training then panicked.
#[test]
fn counts_are_checked_without_overflow_before_anything_is_allocated() {
    use vae::model::memory::check_size_within;
    let model = Footprint::of(&ModelConfig::default_for(Arch::Mlp));
    let memory = Some(16 << 30);
    let err = model
        .check_training_samples_within(16, 1 << 60, 1, memory)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a batch of 16 images x 1152921504606846976 samples (--k)"),
        "{err}"
    );
    assert!(err.contains("use a smaller --k"), "{err}");
    model
        .check_training_samples_within(16, 5, 1, memory)
        .unwrap();
    // Unknown memory still refuses what no allocation can hold.
    assert!(
        model
            .check_training_samples_within(16, 1 << 60, 1, None)
            .is_err()
    );
    model.check_training_samples_within(16, 5, 1, None).unwrap();

    let err =
        check_size_within("sampling 100 images", 3e13, "draw fewer with --n", memory).unwrap_err();
    assert!(matches!(err, vae::Error::TooLarge(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "sampling 100 images needs about 30.0 TB, but only 17.2 GB of memory is available; draw fewer with --n"
    );
    check_size_within("sampling 100 images", 3e5, "draw fewer with --n", memory).unwrap();
    assert!(check_size_within("x", 1e19, "y", None).is_err());
    check_size_within("x", 1e12, "y", None).unwrap();
}

/// A long call stops between two passes when the hook of its thread says so, and only then.
#[test]
fn a_hook_stops_a_long_call_between_two_passes() {
    let config = ModelConfig::default_for(Arch::Mlp);
    let model = Vae::new(&config, &Device::flex());
    let pixels = config.pixels();
    // Three passes of the MLP's 500 images.
    let encode = || {
        vae::latent::encode_batches(&model, 1500, pixels, &Device::flex(), |chunk| {
            Ok(vae::data::Inputs::images(vec![0.5; chunk.len() * pixels]))
        })
    };
    let asked = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = asked.clone();
    let stop_at_the_second = move || {
        count.set(count.get() + 1);
        count.get() == 2
    };
    let stopped = vae::interrupt::asking(stop_at_the_second, encode);
    assert!(
        matches!(stopped, Err(vae::Error::Interrupted(_))),
        "{stopped:?}"
    );
    assert_eq!(asked.get(), 2);
    // The hook is gone after its call, and a hook that never says stop changes nothing.
    assert_eq!(encode().unwrap().len(), 1500);
    let latents = vae::interrupt::asking(|| false, encode).unwrap();
    assert_eq!(latents, encode().unwrap());
}

/// A fake cgroup file system: `files` as (path, content) under a fresh folder.
fn cgroup_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    root
}

const MB: u64 = 1 << 20;

/// A container or Slurm job that has read its data has much of its limit in page cache, which
/// the kernel reclaims before the job counts as full: it is memory the run can have. Every
/// limited cgroup from the process's own up to the root counts, the tightest wins.
#[test]
fn cgroup_memory_counts_reclaimable_page_cache_as_free_and_every_limited_level() {
    use vae::device::memory::cgroup_free;
    let mb = |n: u64| (n * MB).to_string();
    // cgroup v2, a Slurm-like path: the job has a 1000 MB limit and uses 900 MB, of which
    // 600 MB is inactive page cache; its step is unlimited; the node's slice allows more.
    let v2 = cgroup_tree(&[
        ("slurm/job_1/memory.max", &mb(1000)),
        ("slurm/job_1/memory.current", &mb(900)),
        (
            "slurm/job_1/memory.stat",
            &format!("anon 300\ninactive_file {}\nactive_file 5\n", 600 * MB),
        ),
        ("slurm/job_1/step_0/memory.max", "max\n"),
        ("slurm/job_1/step_0/memory.current", &mb(900)),
        ("slurm/job_1/step_0/memory.stat", "inactive_file 0\n"),
        ("slurm/memory.max", &mb(8000)),
        ("slurm/memory.current", &mb(5000)),
        ("slurm/memory.stat", "inactive_file 0\n"),
    ]);
    let own = "0::/slurm/job_1/step_0\n";
    // 1000 - (900 - 600) = 700 MB, not the 100 MB that limit minus usage gives.
    assert_eq!(cgroup_free(v2.path(), own), Some(700 * MB));
    // A tighter level above wins: the slice now has 500 MB left.
    std::fs::write(v2.path().join("slurm/memory.current"), mb(7500)).unwrap();
    assert_eq!(cgroup_free(v2.path(), own), Some(500 * MB));
    // No level limited: no cgroup limit.
    for level in ["slurm/job_1", "slurm"] {
        std::fs::write(v2.path().join(level).join("memory.max"), "max\n").unwrap();
    }
    assert_eq!(cgroup_free(v2.path(), own), None);
    // A container without its own namespace sees the host's path; its cgroup is the root.
    let container = cgroup_tree(&[
        ("memory.max", &mb(2000)),
        ("memory.current", &mb(1500)),
        ("memory.stat", &format!("inactive_file {}\n", 1000 * MB)),
    ]);
    assert_eq!(
        cgroup_free(container.path(), "0::/docker/abc\n"),
        Some(1500 * MB)
    );

    // cgroup v1 (hybrid: the memory controller is v1, "0::/" the unified one): its
    // hierarchical limit covers the ancestors, total_inactive_file the page cache.
    let v1 = cgroup_tree(&[
        ("memory/job/memory.limit_in_bytes", "9223372036854771712\n"),
        ("memory/job/memory.usage_in_bytes", &mb(900)),
        (
            "memory/job/memory.stat",
            &format!(
                "inactive_file 1\nhierarchical_memory_limit {}\ntotal_inactive_file {}\n",
                1000 * MB,
                600 * MB
            ),
        ),
    ]);
    let own = "4:memory:/job\n1:cpu,cpuacct:/\n0::/\n";
    assert_eq!(cgroup_free(v1.path(), own), Some(700 * MB));
    std::fs::write(
        v1.path().join("memory/job/memory.stat"),
        "hierarchical_memory_limit 9223372036854771712\ntotal_inactive_file 0\n",
    )
    .unwrap();
    assert_eq!(cgroup_free(v1.path(), own), None);
}

/// cgroup v1 under Slurm: the job's limit covers its steps, and the job's own usage (which
/// counts every step) is what that limit is measured against, not this step's alone.
#[test]
fn cgroup_v1_measures_an_ancestors_limit_against_the_ancestors_usage() {
    use vae::device::memory::cgroup_free;
    let mb = |n: u64| (n * MB).to_string();
    let unlimited = "9223372036854771712\n";
    // The job allows 1000 MB and uses 900 MB, 100 MB of it inactive page cache; this step uses
    // 300 MB of that (its sibling the other 600 MB) and has no limit of its own.
    let v1 = cgroup_tree(&[
        ("memory/slurm/memory.limit_in_bytes", unlimited),
        ("memory/slurm/memory.usage_in_bytes", &mb(5000)),
        ("memory/slurm/memory.stat", "total_inactive_file 0\n"),
        ("memory/slurm/job_1/memory.limit_in_bytes", &mb(1000)),
        ("memory/slurm/job_1/memory.usage_in_bytes", &mb(900)),
        (
            "memory/slurm/job_1/memory.stat",
            &format!(
                "hierarchical_memory_limit {}\ntotal_inactive_file {}\n",
                1000 * MB,
                100 * MB
            ),
        ),
        ("memory/slurm/job_1/step_0/memory.limit_in_bytes", unlimited),
        ("memory/slurm/job_1/step_0/memory.usage_in_bytes", &mb(300)),
        (
            "memory/slurm/job_1/step_0/memory.stat",
            &format!(
                "hierarchical_memory_limit {}\ntotal_inactive_file 0\n",
                1000 * MB
            ),
        ),
    ]);
    let own = "7:memory:/slurm/job_1/step_0\n0::/\n";
    // 1000 - (900 - 100) = 200 MB, not the 700 MB that the job's limit minus the step's usage gives.
    assert_eq!(cgroup_free(v1.path(), own), Some(200 * MB));
    // A step limit of its own that is tighter wins: 400 - 300 = 100 MB.
    std::fs::write(
        v1.path()
            .join("memory/slurm/job_1/step_0/memory.limit_in_bytes"),
        mb(400),
    )
    .unwrap();
    assert_eq!(cgroup_free(v1.path(), own), Some(100 * MB));
}
