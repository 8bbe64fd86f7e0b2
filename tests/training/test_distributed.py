"""The trainer under tf.distribute: 2 logical CPUs (Mirrored), 2 local workers
(MultiWorkerMirrored over 127.0.0.1), a worker killed mid-epoch, mixed precision, XLA,
learning-rate scaling.

Strategies need devices and TF_CONFIG before TensorFlow starts, so each distributed run is
a process of ``tests.training.distributed_worker``; the single-device reference runs here.
"""

import json
import math
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import ferzoo
from ferzoo.training.recipes import get_recipe
from ferzoo.training.distribute import (
    classification_loss, dtype_policy, float32_output_problems, make_train_step,
    resolve_batch_and_lr,
)
from ferzoo.training.trainer import train
from tests import fake_datasets
from tests.conftest import REPO
from tests.tiny_model import NAME
from tests.training import distributed_worker as worker

GLOBAL_BATCH = 4
STEPS = 3


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    # 2 train shards: one per worker under file sharding.
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=6, clips=6,
                                    test_subjects=2, num_shards=2)


@pytest.fixture(scope="module")
def init_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("init") / "init.weights.h5"
    worker.build_tiny(None).save_weights(path)
    return str(path)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch(args, tf_config=None, log=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.training.distributed_worker", *args], cwd=REPO, env=env,
        stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def launch_cluster(args_of, logs=None):
    """Two workers on free local ports; ``args_of(i)`` gives worker i's arguments."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    return [
        launch(args_of(i), {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}},
               log=logs[i] if logs else None)
        for i in range(2)
    ]


def finish(proc, timeout=600):
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def distributed_runs(fake_dir, init_weights, tmp_path_factory):
    """The Mirrored run and the two-worker run, started together (they take a while)."""
    tmp = tmp_path_factory.mktemp("dist")
    common = ["--data", str(fake_dir), "--init", init_weights,
              "--global-batch", str(GLOBAL_BATCH), "--steps", str(STEPS)]
    train_args = json.dumps({"epochs": 1, "recipe": "default", "batch_size": GLOBAL_BATCH,
                             "max_steps_per_epoch": 2})
    mirrored = launch(["steps", "--strategy", "mirrored", "--cpus", "2", *common,
                       "--out", str(tmp / "mirrored.npz"), "--train-out", str(tmp / "run"),
                       "--train-args", train_args])
    workers = launch_cluster(lambda i: ["steps", "--strategy", "multiworker", *common,
                                        "--out", str(tmp / f"worker{i}.npz")])
    return {"mirrored": (mirrored, tmp / "mirrored.npz"),
            "workers": [(p, tmp / f"worker{i}.npz") for i, p in enumerate(workers)],
            "run": tmp / "run"}


def replica_weights(saved, replica):
    keys = sorted((k for k in list(saved.keys()) if k.endswith(f"_r{replica}")),
                  key=lambda k: int(k[1:].split("_")[0]))
    return [saved[k] for k in keys]


def assert_matches_reference(saved_runs, reference):
    for saved in saved_runs:
        np.testing.assert_allclose(saved["losses"], reference["losses"], rtol=1e-5)
        for got, want in zip(replica_weights(saved, 0), replica_weights(reference, 0)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_mirrored_two_cpus_equals_one_device(distributed_runs, fake_dir, init_weights):
    proc, path = distributed_runs["mirrored"]
    output = finish(proc)
    saved = np.load(path)
    assert int(saved["replicas"]) == 2
    # The replicas hold the same weights, bit for bit.
    for a, b in zip(replica_weights(saved, 0), replica_weights(saved, 1)):
        np.testing.assert_array_equal(a, b)
    # One input pipeline, two replicas: each step's global batch is 2 consecutive batches.
    reference = worker.reference_steps(str(fake_dir), init_weights, GLOBAL_BATCH, STEPS,
                                       pipelines=1, replicas_per_pipeline=2)
    assert_matches_reference([saved], reference)
    # The trainer itself runs unchanged on the two replicas.
    assert "steps/epoch of 4 clips on 2 replica(s)" in output
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    assert result["epochs"] == 1 and (distributed_runs["run"] / "model.keras").exists()


@pytest.mark.slow
def test_two_workers_equal_one_device(distributed_runs, fake_dir, init_weights):
    saved = []
    for proc, path in distributed_runs["workers"]:
        finish(proc)
        saved.append(np.load(path))
    assert [int(s["replicas"]) for s in saved] == [2, 2]
    for a, b in zip(replica_weights(saved[0], 0), replica_weights(saved[1], 0)):
        np.testing.assert_array_equal(a, b)
    # Two input pipelines (a file shard each): a global batch is one batch of each.
    reference = worker.reference_steps(str(fake_dir), init_weights, GLOBAL_BATCH, STEPS,
                                       pipelines=2, replicas_per_pipeline=1)
    assert_matches_reference(saved, reference)


def _wait_for(path, text, procs, timeout=420):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    logs = "\n".join(p.read_text()[-2000:] for p in path.parent.glob("worker*.log"))
    raise AssertionError(f"{text!r} never appeared in {path.name}:\n{logs}")


@pytest.mark.slow
def test_killed_worker_restarts_and_run_finishes_from_checkpoint(fake_dir, tmp_path):
    out, epochs = tmp_path / "run", 6
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    train_args = json.dumps({"epochs": epochs, "recipe": "default", "batch_size": 2})

    def args_of(i):
        return ["train", "--strategy", "multiworker", "--data", str(fake_dir), "--out", str(out),
                "--train-args", train_args]

    handles = [open(p, "a") for p in logs]
    try:
        procs = launch_cluster(args_of, handles)
        # Worker 1 has started its second epoch: kill it there (SIGKILL, no clean-up).
        _wait_for(logs[1], f"epoch 2/{epochs}", procs)
        procs[1].kill()
        procs[1].wait()
        # The chief's next all-reduce fails (or would hang): a cluster manager restarts
        # every worker; give it a moment to fail by itself, then stop it.
        try:
            procs[0].wait(timeout=20)
        except subprocess.TimeoutExpired:
            procs[0].kill()
            procs[0].wait()
        state = json.loads((out / "state.json").read_text())
        done = state["epoch"]
        assert 1 <= done < epochs and not (out / "result.json").exists()
        for handle in handles:
            handle.write("=== restart ===\n")
            handle.flush()
        procs = launch_cluster(args_of, handles)
        for proc in procs:
            proc.wait(timeout=600)
    finally:
        for handle in handles:
            handle.close()
    texts = [p.read_text() for p in logs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(t[-3000:] for t in texts)
    for text in texts:
        restarted = text.split("=== restart ===", 1)[1]
        assert f"resuming {NAME} from epoch {done}" in restarted
    if "ClusterError" in texts[0]:  # the chief failed by itself: with a clear message
        assert "restart every worker with the same command" in texts[0]
    # No epoch lost or repeated, and only the chief wrote into the run folder.
    history = (out / "history.csv").read_text().strip().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == list(range(1, epochs + 1))
    assert json.loads((out / "result.json").read_text())["epochs"] == epochs
    best = json.loads((out / "state.json").read_text())["best_weights"]  # e.g. best-0004
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == sorted([
        best, f"epoch-{epochs:04d}.opt.npz", f"epoch-{epochs:04d}.weights.h5"])


# ----------------------------------------------------------------- in-process
def test_global_batch_and_learning_rate_scaling():
    recipe = get_recipe("stc_nlstm_paper")  # batch 16, lr 0.0025
    assert resolve_batch_and_lr(recipe, 1) == (16, 0.0025)
    assert resolve_batch_and_lr(recipe, 8) == (16, 0.0025)  # 2 clips per replica
    batch, lr = resolve_batch_and_lr(recipe, 8, per_replica_batch=16, scale_lr="linear")
    assert (batch, lr) == (128, pytest.approx(0.0025 * 8))
    batch, lr = resolve_batch_and_lr(recipe, 2, batch_size=64, learning_rate=0.01,
                                     scale_lr="sqrt")
    assert (batch, lr) == (64, pytest.approx(0.01 * 2))
    with pytest.raises(ValueError, match="does not split evenly over 3 replicas"):
        resolve_batch_and_lr(recipe, 3)
    with pytest.raises(ValueError, match="not both"):
        resolve_batch_and_lr(recipe, 2, batch_size=8, per_replica_batch=4)
    with pytest.raises(ValueError, match="unknown learning-rate scaling 'cubic'"):
        resolve_batch_and_lr(recipe, 1, scale_lr="cubic")


@pytest.mark.parametrize("name", ferzoo.list_models())
def test_softmax_stays_float32_under_mixed_precision(name):
    with dtype_policy("mixed_bfloat16"):
        model = ferzoo.build(name, "tiny")
    assert keras.mixed_precision.dtype_policy().name == "float32"  # restored
    assert float32_output_problems(model) == []
    assert any(layer.dtype_policy.compute_dtype == "bfloat16" for layer in model.layers)


def test_float32_output_problems_names_the_layer():
    with dtype_policy("mixed_float16"):
        video = keras.Input((2, 8, 8, 3), name="video")
        out = keras.layers.Dense(3, activation="softmax", name="head")(
            keras.layers.Flatten()(video))
        model = keras.Model(video, out)
    (problem,) = float32_output_problems(model)
    assert "'head' computes in float16" in problem and 'dtype="float32"' in problem


def test_mixed_float16_trains_with_loss_scaling_and_resumes(fake_dir, tmp_path):
    # (with the decoded-frame cache of the training data, to run the trainer with it once)
    lines = []
    options = dict(data=str(fake_dir), recipe="default", batch_size=4, max_steps_per_epoch=2,
                   mixed_precision="mixed_float16", cache="frames", progress=False,
                   log=lines.append)
    train(NAME, tmp_path / "run", epochs=1, **options)
    result = train(NAME, tmp_path / "run", epochs=2, **options)  # resumes: LSO state too
    assert result["epochs"] == 2 and any("resuming" in line for line in lines)
    assert any("mixed_float16" in line for line in lines)
    assert keras.mixed_precision.dtype_policy().name == "float32"
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.layers[1].dtype_policy.name == "mixed_float16"  # the Conv3D


def test_xla_step_equals_plain_step(fake_dir, init_weights):
    from ferzoo.data.pipeline import InputSpec

    strategy = tf.distribute.get_strategy()
    results = []
    for jit in (False, True):
        model = worker.build_tiny(init_weights)
        optimizer = worker.make_optimizer()
        batch = next(iter(worker.pipeline(str(fake_dir), InputSpec.from_model(model),
                                          GLOBAL_BATCH, None)))
        step = make_train_step(strategy, model, optimizer, classification_loss(0.1),
                               GLOBAL_BATCH, jit=jit)
        loss = float(step(*batch)[0])
        results.append((loss, [w.numpy() for w in model.weights]))
    assert math.isclose(results[0][0], results[1][0], rel_tol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
