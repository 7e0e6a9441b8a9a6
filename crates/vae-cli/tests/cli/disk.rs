//! Full disks and read-only folders: clear errors, nothing half-written, nothing lost. Each
//! test runs `vae` in a private mount namespace (`unshare`) over a small tmpfs, so it needs no
//! privileges and touches no real disk.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `script` with `sh` in a new user and mount namespace; `$VAE`, `$DATA` and `$OUT` are
/// set, and what the script copies into `$OUT` survives it.
fn in_namespace(script: &str, out: &Path) -> Output {
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("VAE", env!("CARGO_BIN_EXE_vae"))
        .env("DATA", vae_testkit::fashion_mnist_dir())
        .env("OUT", out)
        .output()
        .expect("unshare (util-linux) runs");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("unshare failed"),
        "this test needs unprivileged user namespaces: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn no_temp_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().contains(".tmp"))
}

fn checkpoint_epochs(run: &Path) -> usize {
    let loaded = vae::run::Run::load(run, None).unwrap();
    let model = vae::model::Vae::new(&loaded.model_config, &loaded.device.clone().autodiff());
    let optimizer = burn::optim::AdamConfig::new().init();
    vae::train::checkpoint::load(&run.join("checkpoint.bin"), model, optimizer)
        .unwrap()
        .0
}

#[test]
fn a_full_disk_stops_training_cleanly_and_keeps_the_last_checkpoint() {
    let out = tempfile::tempdir().unwrap();
    // 14 MB holds the first epoch (weights 2.6 MB, checkpoint 7.8 MB) and the second epoch's
    // weights, but not the second checkpoint.
    let script = r#"
        mkdir -p /tmp/vae-disk && mount -t tmpfs -o size=14m tmpfs /tmp/vae-disk || exit 90
        "$VAE" train --data "$DATA" --limit 500 --epochs 3 --no-pictures --out /tmp/vae-disk/run 2>"$OUT/stderr"
        echo $? > "$OUT/status"
        cp -r /tmp/vae-disk/run "$OUT/run"
    "#;
    let result = in_namespace(script, out.path());
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let status = std::fs::read_to_string(out.path().join("status")).unwrap();
    let stderr = std::fs::read_to_string(out.path().join("stderr")).unwrap();
    assert_eq!(status.trim(), "1", "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(
            "error: cannot write /tmp/vae-disk/run/checkpoint.bin: No space left on device"
        ),
        "{stderr}"
    );
    let run = out.path().join("run");
    assert!(
        no_temp_files(&run),
        "a failed write leaves no temporary file"
    );
    assert_eq!(
        checkpoint_epochs(&run),
        1,
        "the epoch-1 checkpoint survives"
    );
}

#[test]
fn read_only_folders_give_clear_errors_and_lose_nothing() {
    let out = tempfile::tempdir().unwrap();
    let script = r#"
        mkdir -p /tmp/vae-ro && mount -t tmpfs -o size=64m tmpfs /tmp/vae-ro || exit 90
        mkdir /tmp/vae-ro/data && cp "$DATA"/* /tmp/vae-ro/data/
        # Read-only data is normal (Debian's folder is): training from it works.
        mount -o remount,ro /tmp/vae-ro || exit 91
        mkdir -p /tmp/vae-rw && mount -t tmpfs -o size=64m tmpfs /tmp/vae-rw || exit 92
        "$VAE" train --data /tmp/vae-ro/data --limit 300 --epochs 1 --no-pictures --out /tmp/vae-rw/run 2>"$OUT/train.err" || exit 93
        mount -o remount,ro /tmp/vae-rw || exit 94
        "$VAE" train --data /tmp/vae-ro/data --resume --epochs 2 --out /tmp/vae-rw/run 2>"$OUT/resume.err"
        echo $? > "$OUT/resume.status"
        "$VAE" sample /tmp/vae-rw/run 2>"$OUT/sample.err"
        echo $? > "$OUT/sample.status"
        cp -r /tmp/vae-rw/run "$OUT/run"
    "#;
    let result = in_namespace(script, out.path());
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap_or_default();
    assert!(
        result.status.success(),
        "status {:?}: {} {}",
        result.status,
        read("train.err"),
        String::from_utf8_lossy(&result.stderr)
    );
    for step in ["resume", "sample"] {
        let err = read(&format!("{step}.err"));
        assert_eq!(read(&format!("{step}.status")).trim(), "1", "{step}: {err}");
        assert!(err.contains("Read-only file system"), "{step}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{step}: {err}");
    }
    let run = out.path().join("run");
    assert_eq!(checkpoint_epochs(&run), 1);
    assert_eq!(
        vae::train::metrics::read(&run.join("metrics.jsonl"))
            .unwrap()
            .len(),
        1
    );
}
