"""``import ferzoo`` registers every custom layer; ``ferzoo.load`` opens any saved model."""

import json
import subprocess
import sys

import numpy as np

import ferzoo
from tests.conftest import REPO

MODELS = ("lstpnet", "stcam", "stc_nlstm", "rfscnn")


def test_load_model_in_a_fresh_process_after_only_import_ferzoo(tmp_path):
    paths = []
    for name in MODELS:
        path = tmp_path / f"{name}.keras"
        ferzoo.build(name, "tiny").save(path)
        paths.append(str(path))
    code = (
        "import sys, keras, ferzoo\n"
        "for p in sys.argv[1:]:\n"
        "    m = keras.models.load_model(p)\n"
        "    print(m.name, m.count_params())\n"
        "print('export loaded:', 'ferzoo.export' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *paths], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split("\n")
    assert len([line for line in lines if line.split(" ")[0] in
                {ferzoo.build(n, "tiny").name for n in MODELS}]) == len(MODELS)
    assert "export loaded: False" in proc.stdout


def test_ferzoo_load_opens_keras_file_run_folder_and_export(tmp_path):
    from ferzoo.export.savedmodel import write_saved_model
    from ferzoo.training.trainer import train
    from tests import fake_datasets
    from tests.tiny_model import NAME

    model = ferzoo.build("stc_nlstm", "tiny", num_classes=3)
    model.save(tmp_path / "m.keras")
    loaded = ferzoo.load(tmp_path / "m.keras")
    assert loaded.count_params() == model.count_params()
    assert loaded.ferzoo.preprocessing["frames"] == model.inputs[0].shape[1]

    data = fake_datasets.make_dataset_dir(tmp_path / "data", subjects=3, clips=3,
                                          test_subjects=1)
    run = tmp_path / "run"
    train(NAME, run, data=str(data), epochs=1, progress=False, log=lambda s: None,
          recipe="default", batch_size=2)
    from_run = ferzoo.load(run)
    assert from_run.ferzoo.name == NAME
    assert from_run.ferzoo.labels == fake_datasets.LABELS
    assert from_run.ferzoo.preprocessing["frames"] == 4

    export = tmp_path / "export"
    write_saved_model(model, export / "saved_model")
    shape = list(model.inputs[0].shape[1:])
    (export / "model_card.json").write_text(json.dumps({
        "name": "stc_nlstm", "labels": ["a", "b", "c"],
        "inputs": [{"name": "video", "shape": ["batch", *shape],
                    "preprocessing": "frames in [0, 1]"}]}))
    exported = ferzoo.load(export)
    clip = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    np.testing.assert_allclose(exported.predict(clip, verbose=0),
                               model.predict(clip, verbose=0), atol=1e-5)
    assert exported.ferzoo.labels == ["a", "b", "c"]
