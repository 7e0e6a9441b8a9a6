//! The library example of README.md runs, as written there but for the run folder (a temporary
//! one here): the code between the markers below is compared with README's `rust` block.

#[test]
fn the_readme_library_example_runs() -> vae::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api");
    // README begin
    use vae::model::Arch;
    use vae::train::{TrainOptions, train};
    use vae::{Run, TrainConfig};

    // The MLP VAE of pytorch/examples with a 2-d latent space, one epoch on Fashion-MNIST.
    let config = TrainConfig {
        latent_dim: 2,
        epochs: 1,
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    let summary = train(&config, api.as_path(), TrainOptions::default())?;
    println!(
        "test loss {:.2} nats per image",
        summary.epochs[0].test.total
    );

    // Two points of latent space decoded into two 28x28 images (mean pixel values); `None`:
    // no condition (a conditional run takes a class here, `run.condition_of(Some("Coat"))`).
    let run = Run::load(api.as_path(), None)?;
    let images = run.decode(vec![0.0, 0.0, 1.5, -2.0], None)?;
    assert_eq!(images.len(), 2 * 784);
    // README end
    assert!(images.iter().all(|p| (0.0..=1.0).contains(p)));
    Ok(())
}

#[test]
fn the_readme_shows_the_example_that_runs() {
    let source = include_str!("readme.rs");
    let begin = source.find("// README begin\n").unwrap() + "// README begin\n".len();
    let end = source.find("    // README end").unwrap();
    let tested: Vec<String> = source[begin..end]
        .lines()
        .map(|l| {
            l.strip_prefix("    ")
                .unwrap_or(l)
                .replace("api.as_path()", "\"runs/api\".as_ref()")
        })
        .collect();
    let readme = std::fs::read_to_string(crate::crate_file("../../README.md")).unwrap();
    let block = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a rust block");
    let shown: Vec<&str> = block.lines().collect();
    assert_eq!(
        shown, tested,
        "README's example differs from the one tested here"
    );
}
