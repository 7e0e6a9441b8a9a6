//! Data-parallel training over MPI ranks (`--features mpi`), on localhost with `mpirun -n 2
//! --oversubscribe`: two ranks train as one process (losses and weights), rank 0 alone writes,
//! the CelebA family's batch norm included; a killed rank or a corrupt image ends every rank
//! with a clear error, and a run resumes under mpirun with another number of ranks.
//!
//! Each rank runs in a folder of its own (`mpirun -wdir`) and trains into the relative `--out
//! run`, so a file written by any rank but 0 would show.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vae::Run;
use vae::train::EpochMetrics;

/// The largest difference allowed between N ranks and one process, relative to the largest
/// value: the ranks sum the same per-image terms in other groupings, so they agree up to float
/// rounding, which Adam's division by the root of the second moment amplifies a little.
const TOLERANCE: f64 = 1e-4;

/// `mpirun` over `dirs.len()` ranks, rank i working in `dirs[i]`, each running `vae args`.
fn mpirun(dirs: &[PathBuf], args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    // Quiet: our one-line errors, not Open MPI's banners. As root (CI), Open MPI wants both.
    cmd.args(["-q", "--oversubscribe"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        std::fs::create_dir_all(dir).unwrap();
        cmd.args(["-n", "1", "-wdir"])
            .arg(dir)
            .arg(env!("CARGO_BIN_EXE_vae"))
            .args(args);
    }
    cmd
}

/// The words of a command line (no argument here holds a space).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn rank_dirs(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| root.join(format!("rank{i}"))).collect()
}

fn succeeded(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `vae args` as one process in `dir`.
fn one_process(dir: &Path, args: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vae"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    succeeded(out, "one process");
}

fn metrics(run: &Path) -> Vec<EpochMetrics> {
    vae::train::metrics::read(&run.join(vae::run::METRICS_FILE)).unwrap()
}

struct Weights(Vec<f32>);

impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}

fn weights(run: &Path) -> Vec<f32> {
    let mut w = Weights(Vec::new());
    Run::load(run, None).unwrap().model.visit(&mut w);
    w.0
}

fn assert_close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= TOLERANCE * scale,
            "{what}[{i}]: {x} with ranks vs {y} in one process (scale {scale})"
        );
    }
}

fn losses(m: &[EpochMetrics]) -> Vec<f64> {
    m.iter()
        .flat_map(|e| [e.train.total, e.train.kl, e.test.total, e.test.kl])
        .collect()
}

/// Files of a run folder, by name.
/// The names of a run folder's files; an event file's name (which holds the time and the
/// process) as `events.out.tfevents.*`.
fn files(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|name| match name.starts_with("events.out.tfevents.") {
            true => "events.out.tfevents.*".to_string(),
            false => name,
        })
        .collect();
    names.sort();
    names
}

/// Trains `args` as one process and on 2 ranks, and checks they agree and that rank 1 wrote
/// nothing.
fn two_ranks_equal_one_process(name: &str, args: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    one_process(&single, args);
    let dirs = rank_dirs(&tmp.path().join(name), 2);
    succeeded(finish(mpirun(&dirs, args)), "2 ranks");

    let (one, two) = (single.join("run"), dirs[0].join("run"));
    assert!(!dirs[1].join("run").exists(), "{name}: rank 1 wrote files");
    assert_eq!(files(&two), files(&one), "{name}: rank 0 wrote the run");
    let (m1, m2) = (metrics(&one), metrics(&two));
    assert!(!m1.is_empty());
    assert_close(&losses(&m2), &losses(&m1), &format!("{name} losses"));
    let to64 = |w: Vec<f32>| w.into_iter().map(f64::from).collect::<Vec<_>>();
    assert_close(
        &to64(weights(&two)),
        &to64(weights(&one)),
        &format!("{name} weights"),
    );
    // Training did something: the test loss fell.
    assert!(m1.last().unwrap().test.total < m1[0].test.total || m1.len() == 1);
}

#[test]
fn two_ranks_train_the_mlp_as_one_process_and_only_rank_0_writes() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    two_ranks_equal_one_process(
        "mlp",
        &words(&format!(
            "train --data {} --limit 1000 --epochs 2 --batch-size 100 --hidden 64 --latent-dim 4 --binarize dynamic --no-pictures --out run",
            data
        )),
    );
}

/// The IWAE objective: each rank draws the K samples of its own rows (the noise is one row per
/// image, K latents wide), so 2 ranks train it as one process.
#[test]
fn two_ranks_train_the_iwae_objective_as_one_process() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    two_ranks_equal_one_process(
        "iwae",
        &words(&format!(
            "train --data {} --limit 1000 --epochs 2 --batch-size 100 --hidden 64 --latent-dim 4 --binarize dynamic --objective iwae --k 3 --no-pictures --out run",
            data
        )),
    );
}

/// A VampPrior: each rank encodes the pseudo-inputs for the KL of its own rows, and the
/// pseudo-inputs' gradients are summed with the other weights', so 2 ranks train it as one
/// process.
#[test]
fn two_ranks_train_a_vamp_prior_as_one_process() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    two_ranks_equal_one_process(
        "vamp",
        &words(&format!(
            "train --data {} --limit 1000 --epochs 2 --batch-size 100 --hidden 64 --latent-dim 4 --binarize dynamic --prior vamp --pseudo-inputs 10 --no-pictures --out run",
            data
        )),
    );
}

/// The CelebA family's batch norm is synchronised across shards and ranks (SyncBatchNorm), so
/// 2 ranks (each with the CPU's shards) train it as one process; the last batch of 5 splits
/// unevenly (2 and 3 rows, then shards of 1 and 2).
#[test]
fn two_ranks_train_the_celeba_architecture_as_one_process() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    two_ranks_equal_one_process(
        "celeba",
        &words(&format!(
            "train --data {} --limit 305 --epochs 2 --batch-size 50 --arch celeba --channels 8,16 --latent-dim 8 --no-pictures --out run",
            data
        )),
    );
}

/// A conditional conv VAE: each rank reads the conditions of its own rows of every batch, so 2
/// ranks train it as one process.
#[test]
fn two_ranks_train_a_conditional_vae_as_one_process() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    two_ranks_equal_one_process(
        "conditional",
        &words(&format!(
            "train --data {} --limit 300 --epochs 2 --batch-size 50 --conditional --arch conv --channels 8,16 --latent-dim 4 --no-pictures --out run",
            data
        )),
    );
}

/// The pid of the process working in `dir` (a rank started with `-wdir dir`).
fn pid_in(dir: &Path) -> Option<i32> {
    let dir = dir.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
        let exe = std::fs::read_link(e.path().join("exe")).ok()?;
        (cwd == dir && exe.file_name()? == "vae").then_some(pid)
    })
}

/// Runs `mpirun` to its end, failing the test (instead of hanging CI) when it outlives every
/// run here by far: Open MPI 4.1's `mpirun` once stayed deadlocked after both ranks had exited.
fn finish(mut mpirun: Command) -> Output {
    let child = mpirun
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_within(child, Duration::from_secs(300), "mpirun")
}

/// Waits for `child` at most `limit`; kills it and fails the test past that, with what it had
/// printed. Its pipes are read while it runs, so a child that prints much never blocks on a
/// full pipe.
fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    type Drained = (Arc<Mutex<Vec<u8>>>, Option<std::thread::JoinHandle<()>>);
    fn drain(pipe: Option<impl Read + Send + 'static>) -> Drained {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let sink = bytes.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    sink.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            })
        });
        (bytes, reader)
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let err = String::from_utf8_lossy(&stderr.0.lock().unwrap()).into_owned();
            panic!("{what}: still running after {limit:?}; its stderr so far: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The ranks may hold the pipes a moment longer than mpirun: read to their end, for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let take = |(bytes, reader): &Drained| {
        while reader.as_ref().is_some_and(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::mem::take(&mut *bytes.lock().unwrap())
    };
    Output {
        status,
        stdout: take(&stdout),
        stderr: take(&stderr),
    }
}

/// MLP training on 1,200 images for `epochs` epochs into `run`.
fn long_run<'a>(data: &'a str, epochs: &'a str) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", data, "--epochs", epochs];
    args.extend(words(
        "--limit 1200 --batch-size 100 --hidden 64 --latent-dim 4 --no-pictures --out run",
    ));
    args
}

#[test]
fn a_killed_rank_ends_the_run_and_it_resumes_on_another_number_of_ranks() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dirs = rank_dirs(&tmp.path().join("killed"), 2);
    let child = mpirun(&dirs, &long_run(data, "1000"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let checkpoint = dirs[0].join("run").join(vae::run::CHECKPOINT_FILE);
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rank1 = pid_in(&dirs[1]).expect("rank 1 runs in its folder");
    // SAFETY: sends a signal to a process of this test's own mpirun.
    assert_eq!(unsafe { libc::kill(rank1, libc::SIGKILL) }, 0);
    let out = wait_within(child, Duration::from_secs(30), "mpirun after a rank died");
    assert!(!out.status.success(), "a run that lost a rank must fail");
    assert!(pid_in(&dirs[0]).is_none(), "rank 0 still runs");

    // The last checkpoint is whole, and 3 ranks continue it for one epoch more.
    let done = metrics(&dirs[0].join("run")).len();
    assert!(done >= 1);
    let more = (done + 1).to_string();
    let resume_dirs: Vec<PathBuf> = std::iter::once(dirs[0].clone())
        .chain(rank_dirs(&tmp.path().join("resume"), 3).into_iter().skip(1))
        .collect();
    let mut resume = long_run(data, &more);
    resume.push("--resume");
    succeeded(finish(mpirun(&resume_dirs, &resume)), "resume on 3 ranks");
    let resumed = metrics(&dirs[0].join("run"));
    assert_eq!(resumed.len(), done + 1);

    // As one process that was never stopped.
    let single = tmp.path().join("single");
    one_process(&single, &long_run(data, &more));
    let straight = metrics(&single.join("run"));
    assert_close(&losses(&resumed), &losses(&straight), "resumed losses");
}

/// `--resume --epochs N` alone: the run's settings are in rank 0's `config.toml`, which the
/// other ranks cannot see (their own folders, as on other machines), and they must train with
/// rank 0's settings, not the defaults: 2 ranks resume as one process does.
#[test]
fn a_resumed_run_gives_every_rank_the_saved_settings() {
    let data = vae_testkit::fashion_mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dirs = rank_dirs(&tmp.path().join("ranks"), 2);
    let single = tmp.path().join("single");
    // Not one of these is a default: batch size, learning rate, beta, latent size, hidden
    // layer, seed, the number of images.
    let first = format!(
        "train --data {} --limit 640 --epochs 1 --batch-size 64 --lr 3e-4 --beta 2 --latent-dim 8 --hidden 64 --seed 7 --no-pictures --out run",
        data.to_str().unwrap()
    );
    let first = words(&first);
    one_process(&dirs[0], &first);
    one_process(&single, &first);
    let resume = words("train --resume --epochs 2 --no-pictures --out run");
    succeeded(finish(mpirun(&dirs, &resume)), "resume on 2 ranks");
    one_process(&single, &resume);

    let (two, one) = (dirs[0].join("run"), single.join("run"));
    assert!(!dirs[1].join("run").exists(), "rank 1 wrote files");
    let (m2, m1) = (metrics(&two), metrics(&one));
    assert_eq!(m1.len(), 2);
    assert_eq!(m2.len(), 2);
    assert_close(&losses(&m2), &losses(&m1), "resumed losses");
    let to64 = |w: Vec<f32>| w.into_iter().map(f64::from).collect::<Vec<_>>();
    assert_close(
        &to64(weights(&two)),
        &to64(weights(&one)),
        "resumed weights",
    );
}

/// A corrupt image, read by rank 1 only, stops both ranks with the one line naming it: conv
/// runs, and batch-norm runs, whose ranks meet inside the forward pass.
#[test]
fn a_corrupt_image_seen_by_one_rank_ends_every_rank_with_one_line() {
    for arch in ["conv", "celeba"] {
        a_corrupt_image_ends_every_rank(arch);
    }
}

fn a_corrupt_image_ends_every_rank(arch: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pictures");
    vae_testkit::image_folder(&data, 20);
    std::fs::write(data.join("red").join("0003.jpg"), b"not a jpeg at all").unwrap();
    let dirs = rank_dirs(&tmp.path().join("ranks"), 2);
    let child = mpirun(
        &dirs,
        &words(&format!(
            "train --dataset folder --data {} --image-size 16 --arch {arch} --channels 4,8 --epochs 3 --batch-size 10 --no-pictures --out run",
            data.to_str().unwrap()
        )),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = wait_within(
        child,
        Duration::from_secs(60),
        &format!("mpirun with a corrupt image, {arch}"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("0003.jpg"), "{arch}: {err}");
    assert!(!err.contains("panicked"), "{arch}: {err}");
    // One error line, beside rank 0's opening line about the ranks.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("training on 2 MPI ranks"))
        .collect();
    assert_eq!(lines.len(), 1, "{arch}: {err}");
    assert!(lines[0].starts_with("error: "), "{arch}: {err}");
    assert!(!dirs[1].join("run").exists());
}

#[test]
fn other_commands_and_too_small_batches_are_refused_under_mpirun() {
    let data = vae_testkit::fashion_mnist_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dirs = rank_dirs(tmp.path(), 2);
    let out = finish(mpirun(&dirs, &["eval", "run"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("only `vae train` runs on several MPI ranks"),
        "{err}"
    );

    // 101 images in batches of 100 leave a last batch of 1 for 2 ranks.
    let out = finish(mpirun(
        &dirs,
        &words(&format!(
            "train --data {} --limit 101 --batch-size 100 --out run",
            data.to_str().unwrap()
        )),
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("2 ranks need at least 2 images in every batch"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!dirs[0].join("run").join("config.toml").exists());
}

/// A `--data` folder whose name is not UTF-8 cannot be written into the run's config.toml:
/// one line names the flag and the fix, on one process and on each of two ranks (every rank
/// reads the same flags), where clap printed its usage text without naming the flag.
#[test]
fn a_data_path_that_is_not_utf8_is_one_line_on_one_process_and_on_ranks() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"fashion-\xff-mnist"));
    std::os::unix::fs::symlink(vae_testkit::fashion_mnist_dir(), &data).unwrap();
    let args = |cmd: &mut Command| {
        cmd.args([
            "train", "--limit", "200", "--epochs", "1", "--out", "run", "--data",
        ])
        .arg(&data);
    };
    let dirs = rank_dirs(&tmp.path().join("ranks"), 2);
    let mut ranks = Command::new("mpirun");
    ranks
        .args(["-q", "--oversubscribe"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            ranks.arg(":");
        }
        std::fs::create_dir_all(dir).unwrap();
        ranks
            .args(["-n", "1", "-wdir"])
            .arg(dir)
            .arg(env!("CARGO_BIN_EXE_vae"));
        args(&mut ranks);
    }
    let alone = tmp.path().join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let mut one = Command::new(env!("CARGO_BIN_EXE_vae"));
    one.current_dir(&alone);
    args(&mut one);
    for (what, cmd, dir, most) in [
        ("two ranks", ranks, &dirs[0], 2),
        ("one process", one, &alone, 1),
    ] {
        let out = finish(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            !lines.is_empty()
                && lines.len() <= most
                && lines
                    .iter()
                    .all(|l| l.starts_with("error: --data ") && l.contains("is not valid UTF-8")),
            "{what}: {err}"
        );
        assert!(!dir.join("run").exists(), "{what}");
    }
}
