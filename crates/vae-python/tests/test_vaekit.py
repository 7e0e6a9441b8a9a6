"""The vaekit package: its API on real Fashion-MNIST, its errors, the same numbers as the `vae`
command line for the same settings and seed, Ctrl-C, the GIL, TensorBoard's own reader, and the
worked example of docs/python.md. Run by scripts/test.sh (VAE_BIN names the `vae` binary)."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

import vaekit

ROOT = Path(__file__).resolve().parents[3]
VAE_BIN = os.environ.get("VAE_BIN", str(ROOT / "target" / "release" / "vae"))
FASHION = Path("/usr/share/datasets/fashion-mnist")
# A small, fast run: 2,000 training images, 1 epoch.
SMALL = dict(epochs=1, limit=2000, seed=3, validation=0)
# Numbers that measure time, not the model.
TIMINGS = {"seconds", "eval_seconds", "images_per_second"}


def vae(*args):
    """Runs the `vae` binary; its standard output."""
    done = subprocess.run([VAE_BIN, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fashion_test_images(n):
    """The first n Fashion-MNIST test images, float32 in [0, 1], [n, 28, 28]."""
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    return np.frombuffer(raw[16 : 16 + n * 784], np.uint8).reshape(n, 28, 28).astype(np.float32) / 255


def model_numbers(metrics):
    return [{k: v for k, v in line.items() if k not in TIMINGS} for line in metrics]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return vaekit.train(out=tmp_path_factory.mktemp("runs") / "mlp", progress=False, **SMALL)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    return vaekit.train(out=tmp_path_factory.mktemp("runs") / "cvae", conditional=True, progress=False, **SMALL)


def python(script, *args):
    """Starts `script` in another Python process (with this one's vaekit): a call that aborts
    or ignores Ctrl-C must not take the tests down with it."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(child, seconds, what):
    """The output of `child` once it ends; it is killed and the test fails when it takes longer
    than `seconds`."""
    try:
        return child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"{what} still running after {seconds} s: {out} {err[-2000:]}")


def test_train_encode_decode_sample_reconstruct(run):
    images = fashion_test_images(5)
    z_mean, z_log_var = run.encode(images)
    assert z_mean.shape == z_log_var.shape == (5, run.latent_dim) == (5, 20)
    assert z_mean.dtype == np.float32 and np.isfinite(z_mean).all()
    decoded = run.decode(z_mean)
    assert decoded.shape == (5, 28, 28) and decoded.dtype == np.float32
    assert ((decoded >= 0) & (decoded <= 1)).all()
    # Reconstruction is the decode of z_mean, and is closer to the images than noise is.
    np.testing.assert_array_equal(run.reconstruct(images), decoded)
    assert np.abs(decoded - images).mean() < np.abs(np.random.default_rng(0).random((5, 28, 28)) - images).mean()
    # [N, C, H, W] is taken as well; float64 latents too.
    np.testing.assert_array_equal(run.encode(images[:, None])[0], z_mean)
    np.testing.assert_allclose(run.decode(z_mean.astype(np.float64)), decoded)
    samples = run.sample(8, seed=1)
    assert samples.shape == (8, 28, 28)
    np.testing.assert_array_equal(samples, run.sample(8, seed=1))
    assert not np.array_equal(samples, run.sample(8, seed=2))
    assert run.image_shape == (1, 28, 28) and run.class_names is None
    assert run.config["latent_dim"] == 20 and run.config["epochs"] == 1
    assert len(run.metrics) == 1 and "test_total" in run.metrics[0]
    assert "mlp" in repr(run) and Path(run.path).is_dir()


def test_same_numbers_as_the_command_line(run, tmp_path):
    cli = tmp_path / "cli"
    vae("train", "--out", cli, "--no-pictures", *[f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()])
    cli_metrics = [json.loads(line) for line in (cli / "metrics.jsonl").read_text().splitlines()]
    assert model_numbers(run.metrics) == model_numbers(cli_metrics)

    # vae encode: the test set's z_mean, as Python encodes it.
    vae("encode", cli)
    rows = (cli / "latents.csv").read_text().splitlines()
    header = rows[0].split(",")
    first = [int(c) for c, name in enumerate(header) if name.startswith("z_mean_")]
    csv = np.array([[float(row.split(",")[c]) for c in first] for row in rows[1:6]], np.float32)
    np.testing.assert_allclose(vaekit.Run.load(cli).encode(fashion_test_images(5))[0], csv, rtol=1e-5, atol=1e-6)

    # vae eval --json: the same keys and numbers.
    cli_eval = json.loads(vae("eval", cli, "--json", "--iw-samples", 20, "--limit", 300))
    py_eval = vaekit.Run.load(cli).evaluate(iw_samples=20, limit=300)
    assert py_eval == cli_eval


def test_progress_callback_gets_each_epoch(tmp_path):
    seen = []
    vaekit.train({"epochs": 2, "limit": 1000}, out=tmp_path / "run", progress=seen.append)
    assert [m["epoch"] for m in seen] == [1, 2]
    assert set(seen[0]) >= {"train_total", "test_total", "test_recon", "test_kl", "lr"}


def test_config_file_and_overrides(tmp_path):
    config = tmp_path / "small.toml"
    config.write_text('latent_dim = 2\nepochs = 1\nlimit = 1000\nhidden = [64]\n')
    run = vaekit.train(str(config), out=tmp_path / "run", latent_dim=3, progress=False)
    assert run.latent_dim == 3 and run.config["hidden"] == [64]


def test_errors_are_one_line_and_say_what_to_do(run, tmp_path):
    images = fashion_test_images(2)
    cases = [
        (ValueError, "float32", lambda: run.encode(images.astype(np.float64))),
        (ValueError, r"\[0, 1\]", lambda: run.encode(images * 255)),
        (ValueError, r"\[N, 28, 28\]", lambda: run.encode(images[0])),
        (ValueError, r"\[N, 28, 28\]", lambda: run.encode(np.zeros((0, 28, 28), np.float32))),
        (ValueError, r"\[N, 20\]", lambda: run.decode(np.zeros((2, 3), np.float32))),
        (ValueError, "finite", lambda: run.decode(np.full((1, 20), np.nan))),
        (TypeError, "NumPy array", lambda: run.encode([[0.0]])),
        (ValueError, "at least 1", lambda: run.sample(0)),
        (vaekit.VaeError, "resume=True", lambda: vaekit.train(out=run.path, epochs=1)),
        (vaekit.VaeError, "lr: invalid type", lambda: vaekit.train(out=tmp_path / "a", lr="fast")),
        (vaekit.VaeError, "unknown field `latent_dims`", lambda: vaekit.train(out=tmp_path / "b", latent_dims=2)),
        (vaekit.VaeError, "does not exist", lambda: vaekit.Run.load(tmp_path / "nothing")),
        (vaekit.VaeError, "conditional", lambda: run.sample(2, class_="Coat")),
        (vaekit.VaeError, "no second stage", lambda: run.sample(2, two_stage=True)),
        (TypeError, "config must be", lambda: vaekit.train(3, out=tmp_path / "c")),
    ]
    for kind, pattern, call in cases:
        with pytest.raises(kind, match=pattern) as caught:
            call()
        assert "\n" not in str(caught.value), str(caught.value)
    assert not (tmp_path / "a").exists(), "a bad setting must not start a run folder"


def test_conditional_run_and_autoencoder(tmp_path):
    run = vaekit.train(out=tmp_path / "cvae", conditional=True, progress=False, **SMALL)
    assert run.class_names[9] == "Ankle boot"
    coats = run.sample(4, class_="Coat")
    np.testing.assert_array_equal(coats, run.sample(4, class_=4))
    assert not np.array_equal(coats, run.sample(4, class_="Sandal"))
    with pytest.raises(vaekit.VaeError, match="class_"):
        run.sample(4)
    assert run.encode(fashion_test_images(3), class_="Coat")[0].shape == (3, 20)

    ae = vaekit.train(out=tmp_path / "ae", autoencoder=True, progress=False, **SMALL)
    z, z_log_var = ae.encode(fashion_test_images(3))
    assert z.shape == (3, 20) and z_log_var is None


def test_ctrl_c_stops_between_steps_and_the_run_resumes_exactly(tmp_path):
    # Python turns SIGINT into KeyboardInterrupt only where it was not ignored when it started,
    # and a shell ignores it in the commands it runs in the background (as CI may run these):
    # here it is handled as in an interactive session.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ctrl_c_stops_between_steps_and_the_run_resumes_exactly(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def ctrl_c_stops_between_steps_and_the_run_resumes_exactly(tmp_path):
    settings = dict(epochs=4, limit=6000, seed=5, batch_size=100)
    whole = vaekit.train(out=tmp_path / "whole", progress=False, **settings)

    def press_ctrl_c_soon(metrics):
        # Ctrl-C from another process while the library trains epoch 2 without the GIL: it
        # reads it between two steps.
        if metrics["epoch"] == 1:
            subprocess.Popen(["sh", "-c", f"sleep 0.05; kill -INT {os.getpid()}"])

    with pytest.raises(KeyboardInterrupt, match=r"step \d+ of 60 of epoch [234].*resume=True"):
        vaekit.train(out=tmp_path / "stopped", progress=press_ctrl_c_soon, **settings)
    stopped = vaekit.Run.load(tmp_path / "stopped")
    assert 1 <= len(stopped.metrics) < 4
    resumed = vaekit.train(out=tmp_path / "stopped", resume=True, progress=False, **settings)
    assert model_numbers(resumed.metrics) == model_numbers(whole.metrics)


def test_training_releases_the_gil(tmp_path):
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (vaekit.train(out=tmp_path / "run", epochs=2, limit=10000, progress=False), done.set())
    )
    thread.start()
    spins = 0
    while thread.is_alive():
        spins += 1
    thread.join()
    assert done.is_set()
    # Holding the GIL, training would leave this loop a few turns at most.
    assert spins > 10000, spins


def test_tensorboard_reads_every_scalar_of_metrics_jsonl(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    vae("train", "--out", out, "--no-pictures", "--epochs", 2, "--limit", 1000, "--validation", 500)
    vae("train", "--out", out, "--no-pictures", "--epochs", 3, "--limit", 1000, "--validation", 500, "--resume")
    assert len(list(out.glob("events.out.tfevents.*"))) == 2

    events = EventAccumulator(str(out), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tags = events.Tags()["scalars"]
    expected = {key for key in lines[0] if key != "epoch"}
    assert {tag.replace("/", "_") for tag in tags} == expected
    for tag in tags:
        scalars = events.Scalars(tag)
        # Every epoch once, in order: the resumed run appended without repeating a step.
        assert [s.step for s in scalars] == [1, 2, 3], tag
        for s, line in zip(scalars, lines):
            assert np.float32(s.value) == np.float32(line[tag.replace("/", "_")]), tag
    for tag in ("samples", "reconstructions"):
        assert [i.step for i in events.Images(tag)] == [1, 2, 3]


def test_the_worked_example_of_the_docs(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/python.md has its example in ```python blocks"
    monkeypatch.chdir(tmp_path)
    scope = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), scope)
    assert (tmp_path / "runs" / "fmnist").is_dir()


def test_the_type_stubs_name_exactly_what_the_module_has():
    import ast
    import inspect

    stubs = ast.parse((ROOT / "crates" / "vae-python" / "vaekit.pyi").read_text())
    top = {n.name for n in stubs.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    top |= {t.id for n in stubs.body if isinstance(n, ast.AnnAssign) for t in [n.target]}
    assert top <= set(dir(vaekit)), top - set(dir(vaekit))
    public = {
        name for name in dir(vaekit) if not name.startswith("_") and not inspect.ismodule(getattr(vaekit, name))
    } | {"__version__"}
    assert public <= top, public - top
    run_stub = next(n for n in stubs.body if isinstance(n, ast.ClassDef) and n.name == "Run")
    stubbed = {n.name for n in run_stub.body if isinstance(n, ast.FunctionDef)}
    assert stubbed == {name for name in dir(vaekit.Run) if not name.startswith("_")}
    # Every call has a docstring and the stubs' parameters.
    for name in stubbed:
        member = getattr(vaekit.Run, name)
        assert member.__doc__, name
        stub = next(n for n in run_stub.body if isinstance(n, ast.FunctionDef) and n.name == name)
        if callable(member):
            real = [p for p in inspect.signature(member).parameters if p != "self"]
            assert real == [a.arg for a in stub.args.args if a.arg != "self"], name
    assert vaekit.train.__doc__ and "resume" in str(inspect.signature(vaekit.train))


# A count or an array too large for this machine's memory, each made without taking any (a
# broadcast view of one row).
HUGE_CALLS = {
    "sample": ("run", "run.sample(10**10)", "n"),
    "decode": ("run", "run.decode(np.broadcast_to(np.zeros((1, 20), np.float32), (10**10, 20)))", "z"),
    "encode": ("run", "run.encode(np.broadcast_to(np.zeros((1, 28, 28), np.float32), (10**10, 28, 28)))", "images"),
    "reconstruct": (
        "run",
        "run.reconstruct(np.broadcast_to(np.zeros((1, 28, 28), np.float32), (10**10, 28, 28)))",
        "images",
    ),
    "iw_samples": ("run", "run.evaluate(iw_samples=10**12, limit=10)", "iw_samples"),
    "fidelity_samples": (
        "conditional_run",
        "run.evaluate(iw_samples=0, limit=10, class_fidelity=True, fidelity_samples=10**12)",
        "fidelity_samples",
    ),
}


@pytest.mark.parametrize("case", sorted(HUGE_CALLS))
def test_counts_too_large_for_memory_are_value_errors(case, request):
    fixture, call, argument = HUGE_CALLS[case]
    path = request.getfixturevalue(fixture).path
    script = f"""
import sys
import numpy as np
import vaekit
run = vaekit.Run.load(sys.argv[1])
try:
    {call}
except ValueError as e:
    print("ValueError:", e)
"""
    child = python(script, path)
    out, err = finish(child, 60, call)
    # Before the checks, each of these aborted Python: "memory allocation of ... bytes failed".
    assert child.returncode == 0, f"exit {child.returncode}: {err}"
    assert out.startswith("ValueError:") and out.count("\n") == 1, out + err
    # The fix, after the last ";", names the argument to shrink (as a whole word: "n").
    fix = out.rsplit(";", 1)[-1]
    assert "of memory is available" in out and re.search(rf"\b{argument}\b", fix), out


@pytest.mark.parametrize(
    "call",
    [
        "run.evaluate(iw_samples=100_000)",
        "run.encode(np.broadcast_to(np.zeros((1, 28, 28), np.float32), (10**7, 28, 28)))",
    ],
)
def test_ctrl_c_interrupts_long_calls(run, call):
    script = f"""
import signal
import sys
import time
import numpy as np
import vaekit
signal.signal(signal.SIGINT, signal.default_int_handler)
run = vaekit.Run.load(sys.argv[1])
print("started", flush=True)
started = time.monotonic()
try:
    {call}
    print("finished", flush=True)
except KeyboardInterrupt:
    print(f"KeyboardInterrupt after {{time.monotonic() - started:.1f}} s", flush=True)
"""
    child = python(script, run.path)
    assert child.stdout.readline() == "started\n"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    # Each call takes minutes; before, Ctrl-C waited for its end.
    out, err = finish(child, 15, f"{call} after Ctrl-C")
    assert out.startswith("KeyboardInterrupt after"), out + err


def test_encode_and_decode_in_parts_give_the_same_numbers(run):
    # More images than one part of the calls (a model pass, 500 images of this MLP).
    images = fashion_test_images(1300)
    z_mean, z_log_var = run.encode(images)
    parts = [run.encode(images[i : i + 400]) for i in range(0, 1300, 400)]
    np.testing.assert_array_equal(z_mean, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(z_log_var, np.concatenate([p[1] for p in parts]))
    decoded = run.decode(z_mean)
    np.testing.assert_array_equal(decoded, np.concatenate([run.decode(z_mean[i : i + 400]) for i in range(0, 1300, 400)]))
    np.testing.assert_array_equal(run.reconstruct(images), decoded)
    # Strided and broadcast views are read as they are.
    np.testing.assert_array_equal(run.encode(images[::2])[0], z_mean[::2])
    many = np.broadcast_to(images[:1], (1200, 28, 28))
    np.testing.assert_array_equal(run.encode(many)[0], np.broadcast_to(z_mean[:1], (1200, 20)))
    samples = run.sample(1100, seed=4)
    assert samples.shape == (1100, 28, 28)
    np.testing.assert_array_equal(samples[:8], run.sample(8, seed=4))


def test_settings_from_any_mapping_and_numpy_scalars(tmp_path):
    config = types.MappingProxyType({"epochs": np.int64(1), "limit": np.int32(1000), "latent_dim": np.int64(3)})
    run = vaekit.train(
        config, out=tmp_path / "run", lr=np.float32(2e-3), beta=np.float64(2.0), autoencoder=np.bool_(False), progress=False
    )
    assert run.latent_dim == 3 and run.config["epochs"] == 1 and run.config["limit"] == 1000
    assert run.config["lr"] == float(np.float32(2e-3)) and run.config["beta"] == 2.0
    assert run.config["autoencoder"] is False


def test_paths_in_errors_keep_their_dashes(tmp_path):
    folder = tmp_path / "a--b"
    with pytest.raises(vaekit.VaeError) as caught:
        vaekit.Run.load(folder)
    assert str(folder) in str(caught.value), str(caught.value)
    vaekit.train(out=folder, epochs=1, limit=500, progress=False)
    with pytest.raises(vaekit.VaeError) as caught:
        vaekit.train(out=folder, epochs=1, limit=500, progress=False)
    # The path as it is; the flags as arguments.
    assert str(caught.value) == f"{folder} already holds a run; pass resume=True to continue it, or choose another out"
