//! Crash safety: `kill -9` a training process at many moments (during epochs and during
//! checkpoint writes); every time the run folder keeps a loadable checkpoint, `--resume`
//! continues, and the final result is bit-identical to a run that was never interrupted.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const EPOCHS: &str = "5";

fn start(run: &Path, resume: bool) -> Child {
    let data = vae_testkit::fashion_mnist_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vae"));
    cmd.args([
        "train",
        "--limit",
        "3000",
        "--epochs",
        EPOCHS,
        "--seed",
        "3",
        "--no-pictures",
        "--data",
    ])
    .arg(&data)
    .arg("--out")
    .arg(run)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().unwrap()
}

fn temp_files(run: &Path) -> usize {
    std::fs::read_dir(run)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
                .count()
        })
        .unwrap_or(0)
}

/// Checks, with the library, that what a killed run left behind loads.
fn assert_loadable(run: &Path) {
    let checkpoint = run.join("checkpoint.bin");
    if !checkpoint.exists() {
        return;
    }
    let loaded = vae::run::Run::load(run, None).expect("model.bpk loads after a kill");
    let optimizer = burn::optim::AdamConfig::new().init();
    let model = vae::model::Vae::new(&loaded.model_config, &loaded.device.clone().autodiff());
    let (done, _, _) = vae::train::checkpoint::load(&checkpoint, model, optimizer)
        .expect("checkpoint loads after a kill");
    let metrics = vae::train::metrics::read(&run.join("metrics.jsonl")).unwrap();
    assert!(
        metrics.len() >= done,
        "metrics lag the checkpoint: {} < {done}",
        metrics.len()
    );
}

#[test]
fn killed_runs_resume_to_the_same_result_as_an_uninterrupted_run() {
    let reference = tempfile::tempdir().unwrap();
    let status = start(reference.path(), false).wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let run_dir = tempfile::tempdir().unwrap();
    let run = run_dir.path().join("run");
    // Kill times spread over start-up, epochs, evaluation and checkpoint writes.
    let delays_ms = [
        150u64, 700, 900, 1100, 1300, 1500, 1750, 2000, 2300, 2600, 3000, 3500,
    ];
    let (mut kills, mut mid_write) = (0, 0);
    for delay in delays_ms {
        let mut child = start(&run, run.join("checkpoint.bin").exists());
        let deadline = Instant::now() + Duration::from_millis(delay);
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match finished {
            Some(status) => {
                let out = child.wait_with_output().unwrap();
                assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                if temp_files(&run) > 0 {
                    mid_write += 1;
                }
                assert_loadable(&run);
            }
        }
    }
    // Then kills aimed at file writes: poll the folder and kill the moment a temporary file
    // (metrics, weights or checkpoint being written) appears.
    for _ in 0..4 {
        let mut child = start(&run, run.join("checkpoint.bin").exists());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut hit = false;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            if temp_files(&run) > 0 {
                child.kill().unwrap();
                hit = true;
                break;
            }
        }
        child.wait().unwrap();
        if hit {
            kills += 1;
            mid_write += usize::from(temp_files(&run) > 0);
            assert_loadable(&run);
        }
    }
    // Finish whatever is left.
    let out = start(&run, run.join("checkpoint.bin").exists())
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(temp_files(&run), 0, "stale temporary files are cleaned up");
    assert!(
        kills >= 3,
        "the test must actually interrupt the run ({kills} kills, {mid_write} of them during a file write)"
    );

    let strip = |path: &Path| -> Vec<(usize, f64, f64, f64, f64)> {
        vae::train::metrics::read(path)
            .unwrap()
            .into_iter()
            .map(|m| (m.epoch, m.train.total, m.test.total, m.grad_norm, m.lr))
            .collect()
    };
    assert_eq!(
        strip(&run.join("metrics.jsonl")),
        strip(&reference.path().join("metrics.jsonl"))
    );
    assert_eq!(
        std::fs::read(run.join("model.bpk")).unwrap().len(),
        std::fs::read(reference.path().join("model.bpk"))
            .unwrap()
            .len()
    );
    let fingerprint = |dir: &Path| {
        let r = vae::run::Run::load(dir, None).unwrap();
        let z = burn::tensor::Tensor::<2>::ones([2, 20], &r.device);
        r.model
            .decode(z, None)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(fingerprint(&run), fingerprint(reference.path()));
}
