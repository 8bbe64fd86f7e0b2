"""Does a dataset's label list fit a trained model's? One check for every command.

A model's outputs are the label list of the data it was trained on, in that order; the
clips of a dataset store an index into *its* label list. Scoring a dataset whose list
differs would score every clip against the wrong class, so :func:`check_labels` refuses
it with both lists named. A dataset whose labels are a subset of the model's, in the same
order (``happiness, sadness`` for a model of the six basic expressions), is accepted:
its indices are mapped onto the model's outputs, and the check says so.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ferzoo.errors import DataError


class LabelMismatchError(DataError):
    """A dataset's label list does not fit the label list of the model or run."""


def check_labels(model_labels: Sequence[str] | None, data_labels: Sequence[str] | None,
                 data: str = "the data", model: str = "the run"
                 ) -> tuple[np.ndarray | None, str | None]:
    """Compare a dataset's label list with a model's.

    Args:
        model_labels: class names of the model's outputs, in order (None: unknown).
        data_labels: the dataset's label list, in index order (None: unknown).
        data, model: how to name each side in messages (a path, ``--test-data`` ...).

    Returns:
        ``(index_map, note)``: ``index_map[data_index]`` is the model's output index for a
        dataset that is a same-order subset (None when the lists are equal or one is
        unknown); ``note`` says what was accepted (None when the lists are equal).

    Raises:
        LabelMismatchError: the lists differ and the data's is not a subset of the
            model's in the same order; the message names both lists.
    """
    if model_labels is None or data_labels is None:
        side = model if model_labels is None else data
        return None, f"labels not checked: {side} records no label list"
    model_labels, data_labels = list(model_labels), list(data_labels)
    if model_labels == data_labels:
        return None, None
    position = {name: i for i, name in enumerate(model_labels)}
    index = [position.get(name) for name in data_labels]
    if None not in index and index == sorted(index):
        return (np.asarray(index, dtype=np.int64),
                f"{data} has labels {data_labels}, a subset of {model}'s {model_labels} in "
                f"the same order: scored on {model}'s {len(model_labels)} outputs")
    missing = [name for name, i in zip(data_labels, index) if i is None]
    why = (f"{missing} are not among {model}'s labels" if missing else
           "the same names in another order (the stored indices would mean other classes)")
    raise LabelMismatchError(
        f"{data} has labels {data_labels} but {model} was trained on {model_labels}: "
        f"{why}; use data of the same labels (your own clips: ferzoo convert generic ... "
        f"--option labels={','.join(model_labels)})")
