//! The `vae` binary: every command on a tiny real run, and one-line errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `vae train` on the first `limit` Fashion-MNIST training images into `out`, with `extra`
/// flags; the run must succeed.
fn train_small(out: &str, limit: &str, extra: &[&str]) {
    let data = vae_testkit::fashion_mnist_dir();
    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--out", out];
    args.extend(["--limit", limit, "--epochs", "1"]);
    args.extend(extra);
    let result = vae(&args);
    assert!(result.status.success(), "{}", stderr(&result));
}

/// A failing command prints exactly one `error:` line and no panic.
fn assert_fails_with(args: &[&str], expected: &str) {
    let out = vae(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line expected: {err}"
    );
}

#[test]
fn impossible_settings_are_refused_with_the_fix() {
    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("run");
    let out = out.to_str().unwrap();
    assert_fails_with(
        &["train", "--data", data, "--out", out, "--beta", "-1"],
        "beta must be a finite number >= 0",
    );
    assert_fails_with(
        &["train", "--data", data, "--out", out, "--latent-dim", "0"],
        "latent dimension must be at least 1",
    );
    assert_fails_with(
        &["train", "--data", data, "--out", out, "--lr", "0"],
        "learning rate must be > 0",
    );
    assert_fails_with(
        &["train", "--data", data, "--out", out, "--device", "tpu"],
        "unknown device 'tpu'",
    );
    assert_fails_with(
        &["train", "--data", data, "--out", out, "--device", "cuda"],
        "rebuild with `cargo build --release --features cuda`",
    );
    assert_fails_with(
        &["train", "--data", "/nonexistent", "--out", out],
        "--data points at /nonexistent",
    );
    assert_fails_with(
        &["train", "--out", out, "--resume", "--data", data],
        "nothing to resume",
    );
    assert!(!Path::new(out).join("checkpoint.bin").exists());
}

#[test]
fn commands_on_a_missing_run_folder_say_so() {
    for cmd in [
        "eval",
        "sample",
        "reconstruct",
        "interpolate",
        "encode",
        "report",
    ] {
        assert_fails_with(
            &[cmd, "/nonexistent/run"],
            "run folder /nonexistent/run does not exist",
        );
    }
}

#[test]
fn a_bad_config_file_names_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, "epochs = 3\nlatent_dims = 4\n").unwrap();
    let out = dir.path().join("run");
    assert_fails_with(
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "unknown field `latent_dims`",
    );
}

#[test]
fn every_command_works_on_a_trained_run() {
    let data = vae_testkit::fashion_mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        "arch = \"mlp\"\nlatent_dim = 2\nepochs = 2\nlimit = 600\nbinarize = \"dynamic\"\n",
    )
    .unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let out = vae(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        r,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in [
        "config.toml",
        "model.bpk",
        "checkpoint.bin",
        "metrics.jsonl",
        "samples.png",
        "reconstructions.png",
        "interpolate_linear.png",
        "interpolate_slerp.png",
        "latent_scatter.png",
        "manifold.png",
        "loss_curves.png",
        "report.html",
    ] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        saved.contains("binarize = \"dynamic\"") && saved.contains("latent_dim = 2"),
        "{saved}"
    );

    let out = vae(&["eval", r, "--json", "--iw-samples", "20", "--limit", "50"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "elbo",
        "recon",
        "kl",
        "nll_iw",
        "iw_samples",
        "active_units",
        "kl_per_dim",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    let (elbo, nll) = (
        json["elbo"].as_f64().unwrap(),
        json["nll_iw"].as_f64().unwrap(),
    );
    // The importance-weighted bound is tighter than the ELBO: -ELBO >= NLL estimate (up to noise).
    assert!(nll <= -elbo + 1.0, "nll {nll} vs elbo {elbo}");
    assert_eq!(json["kl_per_dim"].as_array().unwrap().len(), 2);

    let out = vae(&["encode", r, "--limit", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(run.join("latents.csv")).unwrap();
    assert!(csv.starts_with("index,label,z_mean_0,z_mean_1,z_log_var_0,z_log_var_1\n"));
    assert_eq!(csv.lines().count(), 31);

    let out = vae(&["decode", r, run.join("latents.csv").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let decoded = image::open(run.join("decoded.png")).unwrap();
    assert!(decoded.width() > 28 * 10 && decoded.height() > 28 * 3);

    let zs = dir.path().join("z.csv");
    std::fs::write(&zs, "0,0\n1.5,-2\n").unwrap();
    assert!(vae(&["decode", r, zs.to_str().unwrap()]).status.success());
    std::fs::write(&zs, "0,0,1\n").unwrap();
    assert_fails_with(
        &["decode", r, zs.to_str().unwrap()],
        "3 values, but the model's latent dimension is 2",
    );
    std::fs::write(&zs, "0,nan\n").unwrap();
    assert_fails_with(&["decode", r, zs.to_str().unwrap()], "z must be finite");

    for args in [
        vec!["sample", r, "--n", "16"],
        vec!["reconstruct", r],
        vec!["interpolate", r, "--steps", "6"],
        vec!["report", r],
    ] {
        let out = vae(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_fails_with(&["sample", r, "--n", "0"], "--n must be at least 1");
    assert!(
        std::fs::read_to_string(run.join("report.html"))
            .unwrap()
            .contains("NLL (IWAE, K=20)")
    );

    // The explorer: a short load test passes; a taken port or no requests are refused.
    let out = vae(&[
        "loadtest",
        r,
        "--requests",
        "300",
        "--clients",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 0);
    assert_eq!(report["requests"], 300);
    assert_fails_with(
        &["loadtest", r, "--requests", "0"],
        "--requests and --clients",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails_with(
        &["serve", r, "--port", &port],
        "cannot listen on 127.0.0.1:",
    );
    assert_fails_with(&["serve", "/nonexistent/run"], "does not exist");

    std::fs::write(run.join("model.bpk"), b"garbage").unwrap();
    assert_fails_with(&["sample", r], "cannot load weights");
    assert_fails_with(&["serve", r], "cannot load weights");
}

#[test]
fn impossible_bench_settings_get_one_line_errors() {
    assert_fails_with(&["bench", "--epochs", "0"], "--epochs must be at least 1");
    assert_fails_with(&["bench", "--threads", "0"], "--threads must be at least 1");
    assert_fails_with(&["bench", "--limit", "0"], "--limit must be at least 1");
    assert_fails_with(&["bench", "--device", "tpu"], "unknown device");
    assert_fails_with(
        &["bench", "--task", "iwae", "--iw-samples", "0"],
        "--iw-samples and --iw-images must be at least 1",
    );
    assert_fails_with(
        &["bench", "--model", "celeba", "--data", "/tmp"],
        "the conv-bn benchmark trains on generated pictures; drop --data",
    );
}

#[test]
fn a_beta_sweep_on_shapes_trains_evaluates_and_reports_every_beta() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = out.to_str().unwrap();
    let args = [
        "sweep",
        "--betas",
        "1,4",
        "--out",
        o,
        "--dataset",
        "shapes",
        "--limit",
        "300",
        "--epochs",
        "1",
        "--hidden",
        "32",
        "--latent-dim",
        "3",
        "--iw-samples",
        "0",
        "--mig-points",
        "500",
        "--metric-train-points",
        "40",
        "--metric-eval-points",
        "40",
    ];
    let first = vae(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let table = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        table.contains("MIG") && table.contains("FactorVAE"),
        "{table}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, beta) in entries.iter().zip([1.0, 4.0]) {
        assert_eq!(entry["beta"], beta);
        let d = &entry["eval"]["disentanglement"];
        assert_eq!(d["factors"].as_array().unwrap().len(), 5, "{d}");
        for metric in [
            &d["mig"]["score"],
            &d["beta_vae"]["eval"],
            &d["factor_vae"]["eval"],
        ] {
            assert!((0.0..=1.0).contains(&metric.as_f64().unwrap()), "{d}");
        }
        let run = out.join(entry["run"].as_str().unwrap());
        for file in [
            "model.bpk",
            "eval.json",
            "samples.png",
            "traversals.png",
            "report.html",
        ] {
            assert!(run.join(file).is_file(), "{} lacks {file}", run.display());
        }
    }
    // Traversals: one row per latent dimension (3), 11 steps from -3 to 3, 64x64 cells at 2x.
    let traversals = image::open(out.join("beta-1/traversals.png")).unwrap();
    assert_eq!(
        (traversals.width(), traversals.height()),
        (2 + 11 * 130, 2 + 3 * 130)
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("beta-4/traversals.png") && page.contains("rate_distortion.png"));
    assert!(out.join("rate_distortion.png").is_file());

    // Run again: nothing is retrained or re-evaluated, and the numbers are the same.
    let model = out.join("beta-1/model.bpk");
    let before = std::fs::metadata(&model).unwrap().modified().unwrap();
    let again = vae(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout), table);
    assert_eq!(
        std::fs::metadata(&model).unwrap().modified().unwrap(),
        before
    );

    // `vae eval` on a shapes run prints the disentanglement metrics.
    let r = out.join("beta-4");
    let eval = vae(&[
        "eval",
        r.to_str().unwrap(),
        "--iw-samples",
        "0",
        "--mig-points",
        "300",
        "--metric-train-points",
        "20",
        "--metric-eval-points",
        "20",
    ]);
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(
        eval.status.success() && text.contains("beta-VAE metric"),
        "{text}"
    );

    // Changing a setting of the sweep is refused rather than mixing runs.
    let mut changed = args.to_vec();
    let latent = changed.iter().position(|a| *a == "--latent-dim").unwrap() + 1;
    changed[latent] = "4";
    assert_fails_with(&changed, "was trained with other settings");
}

#[test]
fn a_sweep_on_fashion_mnist_works_without_factor_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let data = vae_testkit::fashion_mnist_dir();
    let result = vae(&[
        "sweep",
        "--betas",
        "0.5,2",
        "--out",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit",
        "500",
        "--epochs",
        "1",
        "--iw-samples",
        "5",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let table = String::from_utf8_lossy(&result.stdout);
    assert_eq!(
        table
            .lines()
            .filter(|l| !l.starts_with("wrote") && !l.starts_with("note:"))
            .count(),
        3,
        "{table}"
    );
    // Grey levels under a Bernoulli: the column says what it is, and a note says why.
    assert!(
        table.lines().next().unwrap().contains("-(BCE+KL)"),
        "{table}"
    );
    assert!(
        table.contains("note: grey levels under a Bernoulli are no density"),
        "{table}"
    );
    // No run has factor metrics, so the table has no columns for them.
    assert!(!table.lines().next().unwrap().contains("MIG"), "{table}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let e = &report["entries"];
    assert!(e[0]["eval"]["disentanglement"].is_null());
    // Higher beta buys a cheaper code: less KL.
    assert!(
        e[1]["eval"]["kl"].as_f64() < e[0]["eval"]["kl"].as_f64(),
        "{report}"
    );
}

#[test]
fn impossible_sweeps_and_factor_data_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("s");
    let o = o.to_str().unwrap();
    let shapes = ["--dataset", "shapes", "--limit", "10"];
    let sweep = |extra: &[&str]| {
        let mut a = vec!["sweep", "--out", o];
        a.extend_from_slice(extra);
        a.extend_from_slice(&shapes);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let check = |extra: &[&str], expected: &str| {
        let args = sweep(extra);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_fails_with(&args, expected);
    };
    check(&["--betas", "1,-2"], "finite number >= 0");
    check(&["--betas", "2,2"], "appears twice");
    check(&["--betas", "1", "--beta", "2"], "drop --beta");
    check(&["--betas", "1", "--autoencoder"], "drop --autoencoder");
    check(
        &["--betas", "1", "--mig-points", "1"],
        "at least 2 MIG points",
    );
    assert_fails_with(&["train", "--dataset", "dsprites"], "needs --data");
    assert_fails_with(
        &[
            "train",
            "--dataset",
            "dsprites",
            "--data",
            "/nonexistent.npz",
        ],
        "does not exist",
    );
    assert_fails_with(&["data", "fetch", "shapes"], "nothing to fetch");
}

/// `vae ... | head` and `| true`: standard output closed before the command prints. The
/// command ends as it would have (exit 0, its files written), with no panic and nothing on
/// standard error, as `ls | head` does.
#[test]
fn printing_commands_end_quietly_when_the_reader_goes() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    train_small(r, "300", &["--latent-dim", "2", "--no-pictures"]);
    let data = vae_testkit::fashion_mnist_dir();
    let commands: [&[&str]; 4] = [
        &["eval", r, "--iw-samples", "0", "--limit", "200"],
        &["eval", r, "--iw-samples", "0", "--limit", "200", "--json"],
        &["data", "info", "--data", data.to_str().unwrap()],
        &["report", r],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vae"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command has printed anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    // `vae report` went on to write its files after its reader left.
    assert!(run.join("report.html").is_file());
}

/// Grey-level numbers named for what they are, the second stage fitted and sampled, and the
/// sample-quality scores, all from the command line.
#[test]
fn two_stage_sampling_and_sample_quality_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    train_small(r, "600", &["--latent-dim", "4", "--no-pictures"]);
    assert_fails_with(
        &["sample", r, "--two-stage"],
        "has no second stage; fit one with `vae two-stage",
    );

    let out = vae(&["eval", r, "--iw-samples", "5", "--limit", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("-(BCE+KL)") && text.contains("IW BCE (K=5)"),
        "{text}"
    );
    assert!(
        text.contains("not bounds on log p(x)") && !text.contains("ELBO "),
        "{text}"
    );

    let out = vae(&["two-stage", r, "--epochs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run.join("samples_two_stage.png").is_file());
    let out = vae(&["sample", r, "--two-stage", "--n", "16"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = vae(&[
        "eval",
        r,
        "--iw-samples",
        "0",
        "--sample-quality",
        "--quality-samples",
        "300",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = &json["sample_quality"];
    assert_eq!(q["samples"], 300);
    for key in ["scores", "two_stage", "floor"] {
        let fd = q[key]["fd"].as_f64();
        assert!(
            fd.is_some_and(|v| v.is_finite() && v >= -1e-6),
            "{key}: {json}"
        );
    }
    assert!(
        json["elbo"].is_null() && json["neg_bce_kl"].is_number(),
        "{json}"
    );
    let out = vae(&["report", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Sample quality") && html.contains("two-stage samples"));
    assert!(html.contains("Not likelihoods") && html.contains("<th>IW BCE (K=0)</th>"));

    let data = vae_testkit::fashion_mnist_dir();
    assert_fails_with(
        &[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            r,
            "--patience",
            "3",
        ],
        "add --validation",
    );

    // The run trains on: the second stage was fitted on the old weights. Training still
    // draws its pictures, without the stale second stage's, and the report says why; asked
    // for by name it is refused in one line until it is fitted again, and sample quality and
    // the explorer go on without it, saying so in one warning line.
    let out = vae(&["train", "--resume", "--epochs", "2", "--out", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!run.join("samples_two_stage.png").exists());
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("was fitted on earlier weights of this run"),
        "{html}"
    );
    let stale = "second_stage.bpk was fitted on other weights than the run's model.bpk holds now";
    assert_fails_with(&["sample", r, "--two-stage"], stale);
    let out = vae(&[
        "eval",
        r,
        "--iw-samples",
        "0",
        "--sample-quality",
        "--quality-samples",
        "300",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warned = |err: &str| {
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with("warning: ") && err.contains(stale) && err.contains("fit it again"),
            "{err}"
        );
    };
    warned(&stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = &json["sample_quality"];
    assert!(
        q["scores"]["fd"].is_number() && q["two_stage"].is_null(),
        "{json}"
    );

    let (server, addr) = spawn_serve(&[r, "--map-limit", "10"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let sample = |body: &str| {
        let mut response = agent
            .post(&format!("http://{addr}/api/runs/run/sample"))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        )
    };
    let (status, body) = sample(r#"{"n": 4}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["images"].as_array().unwrap().len(), 4);
    let (status, body) = sample(r#"{"n": 4, "two_stage": true}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("fit it again"),
        "{body}"
    );
    warned(&stop(server));
    let out = vae(&["two-stage", r, "--epochs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = vae(&["sample", r, "--two-stage", "--n", "16"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Starts `vae serve ARGS --port 0` and waits for its address (from the line it prints when
/// it listens).
fn spawn_serve(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut server = Command::new(env!("CARGO_BIN_EXE_vae"))
        .arg("serve")
        .args(args)
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (server, addr)
}

/// Kills a server of [`spawn_serve`] and returns what it wrote to standard error.
fn stop(mut server: std::process::Child) -> String {
    let _ = server.kill();
    stderr(&server.wait_with_output().unwrap())
}

/// Sends SIGINT (Ctrl-C) to `child`.
fn interrupt(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Connection limits beyond what the server can count are refused in one line, not with a
/// panic.
#[test]
fn impossible_server_limits_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    train_small(r, "300", &["--latent-dim", "2", "--no-pictures"]);
    for huge in ["18446744073709551615", "2305843009213693952"] {
        for command in ["serve", "loadtest"] {
            assert_fails_with(
                &[command, r, "--max-connections", huge],
                "--max-connections must be 1 to 2305843009213693951",
            );
        }
    }
}

/// `vae serve` stops at Ctrl-C once its open requests are done, and at once at a second
/// Ctrl-C: a client stalled in its request body does not keep it running.
#[test]
fn the_explorer_stops_at_a_second_ctrl_c() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    train_small(r, "300", &["--latent-dim", "2", "--no-pictures"]);
    let (mut server, addr) = spawn_serve(&[r, "--map-limit", "10"]);
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"POST /api/runs/run/decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&server);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        server.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the open request"
    );
    interrupt(&server);
    let asked = Instant::now();
    while server.try_wait().unwrap().is_none() && asked.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = server.try_wait().unwrap().is_some();
    let err = stop(server);
    assert!(
        stopped,
        "vae serve still ran 5 s after a second Ctrl-C: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A conditional conv VAE from the command line: samples of a chosen class and of every
/// class, a shirt seen as a coat, the class strip of `interpolate`, class fidelity, the
/// report's class picker; one-line errors for a class the run does not know, for no class on a
/// conditional run and for a class on an unconditional one.
#[test]
fn a_conditional_run_draws_chosen_classes_from_the_command_line() {
    use crate::own_images::png_size;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("cvae");
    let r = run.to_str().unwrap();
    train_small(r, "600", &["--conditional", "--arch", "conv"]);
    let model = std::fs::read_to_string(run.join("model.toml")).unwrap();
    assert!(
        model.contains("kind = \"class\"") && model.contains("Ankle boot"),
        "{model}"
    );

    let out = vae(&["sample", r, "--class", "Ankle boot", "--n", "16"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (w, h) = png_size(&run.join("samples_Ankle-boot.png"));
    assert_eq!((w, h), (4 * 86 + 2, 4 * 86 + 2));
    // --class all: one row per class (10), the --n samples spread over them (2 columns).
    let out = vae(&["sample", r, "--class", "all", "--n", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        png_size(&run.join("samples.png")),
        (2 * 86 + 2, 10 * 86 + 2)
    );
    assert_fails_with(&["sample", r, "--class", "Hat"], "no class \"Hat\"");
    assert_fails_with(
        &["sample", r],
        "is a conditional run: choose what to draw with --class",
    );

    let out = vae(&[
        "morph",
        r,
        "--from",
        "0",
        "--to-class",
        "Coat",
        "--steps",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(png_size(&run.join("morph.png")), (6 * 86 + 2, 86 + 2));
    assert_fails_with(
        &["morph", r, "--from", "0", "--to-class", "Hat"],
        "no class \"Hat\"",
    );
    let out = vae(&["interpolate", r, "--pairs", "2", "--steps", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        png_size(&run.join("interpolate_class.png")),
        (6 * 86 + 2, 2 * 86 + 2)
    );

    let out = vae(&[
        "eval",
        r,
        "--iw-samples",
        "5",
        "--limit",
        "100",
        "--class-fidelity",
        "--fidelity-samples",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fidelity = &json["class_fidelity"];
    assert_eq!(fidelity["samples_per_class"], 20);
    assert_eq!(fidelity["per_class"].as_array().unwrap().len(), 10);
    assert!(fidelity["ceiling"].as_f64().unwrap() > 0.5, "{json}");
    assert!(json["iw_bce"].as_f64().unwrap().is_finite(), "{json}");
    let out = vae(&["report", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in ["Draw a class", "Class fidelity", "same_z_every_class.png"] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(run.join("manifold_Ankle-boot.png").is_file());

    // An unconditional run takes no class.
    let plain = dir.path().join("vae");
    let p = plain.to_str().unwrap();
    train_small(p, "200", &["--no-pictures"]);
    assert_fails_with(
        &["sample", p, "--class", "Coat"],
        "train one with `vae train --conditional`",
    );
    assert_fails_with(
        &["eval", p, "--class-fidelity"],
        "class fidelity needs a conditional run",
    );
}

/// `--prior vamp`: a run trains with its pseudo-inputs, draws every picture from the mixture,
/// evaluates its likelihood bound and reports no KL per dimension (the mixture's KL has none);
/// the settings it cannot serve are refused in one line.
#[test]
fn a_vamp_prior_run_trains_samples_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("vamp");
    let r = run.to_str().unwrap();
    let vamp = ["--prior", "vamp", "--pseudo-inputs", "20"];
    let mut flags = vec![
        "--binarize",
        "dynamic",
        "--hidden",
        "32",
        "--latent-dim",
        "2",
    ];
    flags.extend(vamp);
    train_small(r, "300", &flags);
    assert!(run.join("samples.png").is_file());
    let model = std::fs::read_to_string(run.join("model.toml")).unwrap();
    assert!(
        model.contains("prior = \"vamp\"") && model.contains("pseudo_inputs = 20"),
        "{model}"
    );
    let out = vae(&["sample", r, "--n", "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = vae(&["eval", r, "--iw-samples", "10", "--limit", "50"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("NLL (IWAE K=10)"), "{report}");
    assert!(!report.contains("KL per dim"), "{report}");

    let data = vae_testkit::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let other = dir.path().join("other");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--data", data, "--out", other.to_str().unwrap()];
        args.extend(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for (extra, expected) in [
        (vec!["--prior", "vamp"], "add --pseudo-inputs 500"),
        (
            vec!["--pseudo-inputs", "20"],
            "add --prior vamp or drop --pseudo-inputs",
        ),
        (
            [&vamp[..], &["--autoencoder"]].concat(),
            "which a plain autoencoder does not have",
        ),
        (
            [&vamp[..], &["--conditional"]].concat(),
            "--prior vamp with --conditional is not supported",
        ),
        (
            [&vamp[..], &["--arch", "conv-bn"]].concat(),
            "needs an encoder without batch norm",
        ),
    ] {
        let args = train(&extra);
        assert_fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            expected,
        );
    }
    assert!(!other.exists());
}
