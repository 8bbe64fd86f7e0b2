"""The portable SVM: same decisions as scikit-learn, saved and reloaded without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.svm import SVC

from ferzoo.training.svm import PortableSVM, leave_one_subject_out


def blobs(num_classes, per_class=30, features=8, spread=1.5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (num_classes, features))
    x = np.concatenate([c + rng.normal(0, spread, (per_class, features)) for c in centres])
    y = np.repeat(np.arange(num_classes), per_class)
    return x, y


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
@pytest.mark.parametrize("num_classes", [2, 3, 6])
def test_same_decisions_as_sklearn(kernel, num_classes):
    x, y = blobs(num_classes, spread=2.5)  # overlapping classes: votes can tie
    svc = SVC(kernel=kernel, C=0.7, gamma="scale", coef0=0.5, decision_function_shape="ovo")
    svc.fit(x, y)
    portable = PortableSVM.from_sklearn(svc)
    probe = np.random.default_rng(1).normal(0, 3, (400, x.shape[1]))
    np.testing.assert_allclose(portable.decision_function(probe), svc.decision_function(probe),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(portable.predict(probe), svc.predict(probe))


def test_fit_standardises_then_matches_sklearn():
    x, y = blobs(6, seed=2)
    x = x * np.arange(1, 9) + 100.0  # features on very different scales
    portable = PortableSVM.fit(x, y, C=2.0)
    mean, std = x.mean(0), x.std(0)
    svc = SVC(C=2.0, gamma="scale").fit((x - mean) / std, y)
    probe = x + np.random.default_rng(3).normal(0, 1, x.shape)
    np.testing.assert_array_equal(portable.predict(probe), svc.predict((probe - mean) / std))


def test_string_labels_and_save_load_without_pickle(tmp_path):
    x, y = blobs(3, seed=4)
    names = np.array(["anger", "disgust", "fear"])[y]
    svm = PortableSVM.fit(x, names, metadata={"model": "rfscnn", "layer": "features"})
    svm.save(tmp_path / "svm")
    info = json.loads((tmp_path / "svm" / "svm.json").read_text())
    assert info["classes"] == ["anger", "disgust", "fear"]
    assert info["metadata"]["model"] == "rfscnn"
    with np.load(tmp_path / "svm" / "svm.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)
    loaded = PortableSVM.load(tmp_path / "svm")
    probe = np.random.default_rng(5).normal(0, 3, (200, x.shape[1]))
    np.testing.assert_array_equal(loaded.predict(probe), svm.predict(probe))
    np.testing.assert_allclose(loaded.decision_function(probe), svm.decision_function(probe))
    with pytest.raises(FileNotFoundError, match="svm.npz"):
        PortableSVM.load(tmp_path)


def test_leave_one_subject_out_matches_sklearn_folds():
    x, y = blobs(3, per_class=24, spread=2.0, seed=6)
    subjects = np.tile(np.arange(6), len(y) // 6)
    result = leave_one_subject_out(x, y, subjects, C=1.0)
    expected = np.empty_like(y)
    for train, test in LeaveOneGroupOut().split(x, y, subjects):
        mean, std = x[train].mean(0), x[train].std(0)
        svc = SVC(C=1.0).fit((x[train] - mean) / std, y[train])
        expected[test] = svc.predict((x[test] - mean) / std)
    assert result["folds"] == 6 and result["videos"] == len(y)
    assert result["war"] == pytest.approx(np.mean(expected == y))
    confusion = np.asarray(result["confusion"])
    assert confusion.sum() == len(y) and np.trace(confusion) == np.sum(expected == y)
    assert result["uar"] == pytest.approx(np.mean(np.diag(confusion) / confusion.sum(1)))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="2 classes"):
        PortableSVM.fit(np.zeros((4, 2)), [1, 1, 1, 1])
    with pytest.raises(ValueError, match="kernel"):
        PortableSVM.fit(np.zeros((4, 2)), [0, 1, 0, 1], kernel="cubic")
    svm = PortableSVM.fit(np.random.default_rng(0).normal(size=(6, 3)), [0, 1, 2] * 2)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        svm.predict(np.zeros((2, 4)))


@pytest.mark.slow
def test_svm_command_line_fit_evaluate_loso(tmp_path):
    """Train a tiny rfscnn, then 'ferzoo svm fit', 'evaluate' and 'evaluate --loso'."""
    from ferzoo.cli import main
    from ferzoo.training.svm import extract_video_features
    from ferzoo.training.run_folder import load_run
    from ferzoo.training.trainer import train
    from tests import fake_datasets

    data = fake_datasets.make_dataset_dir(tmp_path / "data", subjects=4, clips=6, test_subjects=3,
                                    flow=True)
    run = tmp_path / "run"
    train("rfscnn", run, preset="tiny", data=str(data), epochs=2, batch_size=4,
          recipe="rfscnn_paper", progress=False, log=lambda s: None)
    assert main(["svm", "fit", "--run", str(run), "--C", "2.0", "--batch-size", "8"]) == 0
    saved = json.loads((run / "svm" / "svm.json").read_text())
    assert saved["metadata"]["model"] == "rfscnn" and saved["metadata"]["videos"] == 24
    assert saved["num_features"] == 8  # tiny feature_units, product fusion

    assert main(["svm", "evaluate", "--svm", str(run / "svm")]) == 0
    report = json.loads((run / "svm" / "svm_test_report.json").read_text())
    assert report["videos"] == 18 and 0.0 <= report["war"] <= 1.0

    assert main(["svm", "evaluate", "--svm", str(run / "svm"), "--loso"]) == 0
    loso = json.loads((run / "svm" / "svm_loso_report.json").read_text())
    assert loso["folds"] == 3 and loso["videos"] == 18
    assert sorted(loso["per_subject"]) == ["S004", "S005", "S006"]

    # the saved SVM reproduces its report from the features (no pickle on the way)
    model, info = load_run(run)
    from ferzoo.data.pipeline import InputSpec
    spec = InputSpec.from_run(info)
    found = extract_video_features(model, str(data / "test-*.tfrecord"), spec,
                                   info["recipe"]["augment"], log=lambda s: None)
    assert set(found["segments"]) == {2}  # 6-frame clips, 4-frame segments
    svm = PortableSVM.load(run / "svm")
    assert np.mean(svm.predict(found["features"]) == found["labels"]) == report["war"]
    # both poolings against the model's own layers, segment by segment
    import keras

    from ferzoo.models.rfscnn import average_over_segments
    from ferzoo.training.svm import segment_dataset
    layers = ("video_features", "flow_features", "features")
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in layers])
    outs, ids = [[], [], []], []
    for x, _, clip_id, _ in segment_dataset(str(data / "test-*.tfrecord"), spec, 8,
                                            info["recipe"]["augment"]):
        for o, value in zip(outs, extractor([x["video"], x["flow"]], training=False)):
            o.append(np.asarray(value))
        ids.extend(v.decode() for v in clip_id.numpy())
    video, flow, fused = (average_over_segments(np.concatenate(o), ids)[0] for o in outs)
    np.testing.assert_allclose(found["features"], video * flow, rtol=1e-5, atol=1e-6)
    other = extract_video_features(model, str(data / "test-*.tfrecord"), spec,
                                   info["recipe"]["augment"], pooling="fuse_then_average",
                                   log=lambda s: None)
    np.testing.assert_allclose(other["features"], fused, rtol=1e-5, atol=1e-6)
