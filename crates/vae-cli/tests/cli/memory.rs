//! Memory stays bounded: `vae eval` of a 64x64 conv model takes one bounded pass at a time,
//! however many images it encodes and decodes, and a model, batch or count (samples, importance
//! samples, IWAE's K) that cannot fit is refused at once, before any file is written.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `vae args`, and returns whether it succeeded, its stderr and its peak resident memory in
/// bytes (the child's own `ru_maxrss`, from `wait4`, so tests running at once do not mix).
fn run_measured(args: &[&str], stderr: &Path) -> (bool, String, u64) {
    // Reaped by wait4 below, which std's `wait` cannot do while also returning the rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; the pid is our own child, waited once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes only into `status` and `usage`, which live through the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let err = std::fs::read_to_string(stderr).unwrap();
    // Linux reports ru_maxrss in KiB.
    (ok, err, usage.ru_maxrss as u64 * 1024)
}

/// Runs `vae args`, which must fail within `limit` (a hang is killed and fails the test), and
/// returns its stderr.
fn fails_within(args: &[&str], limit: Duration) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("{args:?} still running after {limit:?}: it should be refused at once");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    // An abort (a failed allocation) also prints one line, but ends by a signal.
    assert!(
        out.status.code().is_some(),
        "{args:?} was killed by a signal ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn a_model_or_batch_that_cannot_fit_is_refused_before_any_file_is_written() {
    let data = vae_testkit::fashion_mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_arg = out.to_str().unwrap();
    // 1.6e11 weights: 2.6 TB of weights, gradients and Adam state. Before the check this hung
    // while Burn drew the weights, with the run folder already made. The limit is a hang guard:
    // the refusal takes milliseconds.
    let limit = Duration::from_secs(30);
    let err = fails_within(
        &[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--hidden",
            "100000000",
            "--epochs",
            "1",
            "--limit",
            "10",
            "--out",
            out_arg,
        ],
        limit,
    );
    assert!(err.contains("training this model needs about"), "{err}");
    assert!(err.contains("TB"), "{err}");
    assert!(err.contains("of memory is available"), "{err}");
    assert!(err.contains("--hidden"), "{err}");
    assert!(!out.exists(), "the refused run left {out:?} behind");

    // A batch whose activations cannot fit: 100,000 64x64 shapes at once.
    let err = fails_within(
        &[
            "train",
            "--dataset",
            "shapes",
            "--arch",
            "conv",
            "--batch-size",
            "100000",
            "--out",
            out_arg,
        ],
        limit,
    );
    assert!(err.contains("activations of a batch of 100000"), "{err}");
    assert!(err.contains("--batch-size"), "{err}");
    assert!(!out.exists(), "the refused run left {out:?} behind");
}

#[test]
fn counts_that_cannot_fit_are_refused_in_one_line() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("cvae");
    let run = run.to_str().unwrap();
    let (ok, err, _) = run_measured(
        &[
            "train",
            "--data",
            data,
            "--conditional",
            "--limit",
            "200",
            "--epochs",
            "1",
            "--no-pictures",
            "--out",
            run,
        ],
        &tmp.path().join("stderr"),
    );
    assert!(ok, "{err}");
    // Each of these aborted the process (a failed allocation of terabytes) before the check.
    let limit = Duration::from_secs(60);
    let huge = "10000000000";
    let err = fails_within(&["sample", run, "--class", "Coat", "--n", huge], limit);
    assert!(
        err.contains("of memory is available") && err.contains("--n"),
        "{err}"
    );
    let err = fails_within(
        &[
            "eval",
            run,
            "--limit",
            "10",
            "--iw-samples",
            "1000000000000",
        ],
        limit,
    );
    assert!(err.contains("of memory is available"), "{err}");
    assert!(err.contains("--iw-samples"), "{err}");
    let err = fails_within(
        &[
            "eval",
            run,
            "--limit",
            "10",
            "--iw-samples",
            "0",
            "--class-fidelity",
            "--fidelity-samples",
            "1000000000000",
        ],
        limit,
    );
    assert!(err.contains("of memory is available"), "{err}");
    assert!(err.contains("--fidelity-samples"), "{err}");

    // A batch of 16 images x 2^60 samples wrapped around to 0 rows and passed the memory
    // check; training then panicked with the run folder made.
    let out = tmp.path().join("iwae");
    let err = fails_within(
        &[
            "train",
            "--data",
            data,
            "--objective",
            "iwae",
            "--k",
            "1152921504606846976",
            "--limit",
            "16",
            "--epochs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        limit,
    );
    assert!(err.contains("--k"), "{err}");
    assert!(!out.exists(), "the refused run left {out:?} behind");
}

#[test]
fn eval_of_a_64x64_conv_model_is_bounded_by_one_pass_not_by_the_images() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("shapes");
    let run_arg = run.to_str().unwrap();
    let log = tmp.path().join("stderr");
    let (ok, err, _) = run_measured(
        &[
            "train",
            "--dataset",
            "shapes",
            "--arch",
            "conv",
            "--latent-dim",
            "6",
            "--epochs",
            "1",
            "--limit",
            "300",
            "--out",
            run_arg,
        ],
        &log,
    );
    assert!(ok, "{err}");
    // Each eval encodes the test images, decodes 10 importance samples of each, and encodes
    // the metrics' observations; the second encodes 4x as many. Before the passes were bounded,
    // the first alone decoded 2,000 64x64 rows at once (about 6 GB).
    let eval = |points: usize| {
        let (mig, train, held_out) = (
            (1000 * points).to_string(),
            (25 * points).to_string(),
            (25 * points).to_string(),
        );
        let (ok, err, peak) = run_measured(
            &[
                "eval",
                run_arg,
                "--iw-samples",
                "10",
                "--limit",
                "200",
                "--mig-points",
                &mig,
                "--metric-train-points",
                &train,
                "--metric-eval-points",
                &held_out,
                "--json",
            ],
            &log,
        );
        assert!(ok, "{err}");
        peak
    };
    let small = eval(1);
    let large = eval(4);
    let mb = |b: u64| b as f64 / 1e6;
    // The whole process (binary, 10,000 test images of 64x64, thread stacks) plus one bounded
    // pass; the goal for the default metric settings is 1.5 GB.
    assert!(large < 1_000_000_000, "eval peaked at {:.0} MB", mb(large));
    assert!(
        (large as f64) < small as f64 * 1.2,
        "memory grew with the images encoded: {:.0} MB, then {:.0} MB with 4x the points",
        mb(small),
        mb(large)
    );
}
