"""`Classifier`: one onnxruntime session over a self-describing fmnist .onnx model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.calls import in_calls
from fmnist.core.errors import ModelError, UsageError
from fmnist.core.formats import recognise, runtime_formats
from fmnist.core.meta import META_KEY, ModelMeta, check_labels, meta_from_props
from fmnist.core.session import make_session, model_props, run
from fmnist.runtime.decision import decide, model_threshold
from fmnist.runtime.image import Prepared
from fmnist.runtime.preparation import preparation_for
from fmnist.runtime.shipped import resolve


def default_model() -> Path:
    """The default shipped model, so `fmnist classify photo.jpg` works right after `pip install fmnist`."""
    return resolve(None)


@dataclass(frozen=True)
class Guess:
    label: str
    index: int
    score: float


@dataclass(frozen=True)
class Result:
    top: list[Guess]  # best first
    probs: np.ndarray  # (labels,) float32
    prepared: Prepared  # the image the model saw (28x28 grey, or the photo tier's colour square), and where
    ms: float  # preprocessing + inference, milliseconds
    sure: bool  # an object was found and the top probability reached the threshold
    threshold: float  # the "not sure" threshold it was decided with

    @property
    def best(self) -> Guess:
        return self.top[0]

    def to_json(self) -> dict[str, Any]:
        """`classify --json`'s fields for this photo: the best guess first, then the decision and the top k."""
        top = [{"label": g.label, "index": g.index, "score": round(g.score, 4)} for g in self.top]
        return {**top[0], "sure": self.sure, "threshold": self.threshold, "top": top, "ms": round(self.ms, 2),
                "low_contrast": self.prepared.low_contrast, "empty": self.prepared.empty}


class Classifier:
    def __init__(self, model: str | Path | None = None, threads: int = 1, labels: list[str] | None = None,
                 threshold: float | None = None) -> None:
        self.path = resolve(model)  # a shipped model's name, or a path
        found = recognise(self.path)  # a missing .onnx file: make_session says so
        if found is None or not found.runtime:
            raise ModelError(f"{self.path}: the runtime runs {runtime_formats()} models (export one with fmnist "
                             "export)")
        self.session = make_session(self.path, threads)
        self.meta: ModelMeta | None = meta_from_props(model_props(self.session, self.path), self.path)
        if self.meta is None and labels is None:
            raise ModelError(f"{self.path} has no fmnist metadata ('{META_KEY}' key), so its labels are unknown; "
                             "pass --labels with one comma-separated name per output, or re-export it with fmnist "
                             "export")
        self.labels = self._given(labels) if labels else check_labels(list(self.meta.labels),  # type: ignore[union-attr]
                                                                      f"{self.path}")
        # the preprocessing the model was made for; another version is refused, a note when none is recorded
        self.preparation, self.note = preparation_for(self.meta, self.path)
        if labels and self.meta is not None and self.labels != list(self.meta.labels):
            renamed = f"--labels replaces the model's own labels ({', '.join(self.meta.labels)})"
            self.note = f"{self.note}; {renamed}" if self.note else renamed
        self._check_labels_given(labels)
        self._check_io()
        # below this top probability the answer is "not sure": the model's own (metadata), unless overridden
        self.threshold = model_threshold(self.meta) if threshold is None else float(threshold)
        self.input_name = self.session.get_inputs()[0].name
        warm = np.full((64, 48, 3), 200, np.uint8)
        warm[16:48, 12:36] = 40
        self.classify(warm)  # warm-up: the first session run and OpenCV's first calls allocate

    def _check_io(self) -> None:
        inp, out = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inp[0].shape) if len(inp) == 1 else None
        want = list(self.preparation.input_shape)
        if shape is None or shape[1:] != want or inp[0].type != "tensor(float)":
            found = [(i.name, i.shape, i.type) for i in inp]
            raise ModelError(f"{self.path} takes {found}, but its preprocessing gives one float (batch, "
                             f"{', '.join(map(str, want))}) input; is it a model exported by fmnist?")
        if len(out) != 1 or len(out[0].shape) != 2 or out[0].shape[1] != len(self.labels):
            raise self._output_error([(o.name, o.shape) for o in out])

    @staticmethod
    def _given(labels: list[str]) -> list[str]:
        """--labels as the runtime takes them: the user's names are at fault, so a usage error (exit 2)."""
        try:
            return check_labels(list(labels), "--labels")
        except ModelError as e:
            raise UsageError(str(e)) from None

    def _check_labels_given(self, labels: list[str] | None) -> None:
        """--labels must name each of a model's outputs: the user's names are at fault, not the model."""
        out = self.session.get_outputs()
        count = out[0].shape[1] if len(out) == 1 and len(out[0].shape) == 2 else None
        if labels and isinstance(count, int) and count != len(labels):
            own = f" (its own: {', '.join(self.meta.labels)})" if self.meta is not None else ""
            raise UsageError(f"--labels gives {len(labels)} names, and {self.path.name} has {count} outputs: give "
                             f"{count}, one per output in order, or leave --labels out{own}")

    def _output_error(self, found: object) -> ModelError:
        """The model's output is not one (batch, labels) row of probabilities per image."""
        count = len(self.labels)
        return ModelError(f"{self.path} outputs {found!s:.120}, but has {count} labels ({', '.join(self.labels)}): "
                          f"the output count and the labels disagree; a model gives one float (batch, {count}) "
                          "output, a probability per label; re-export it with fmnist export")

    def _checked(self, probs: np.ndarray, count: int) -> np.ndarray:
        """The session's output for `count` images, if it is the (count, labels) floats _check_io promised."""
        if not (isinstance(probs, np.ndarray) and probs.dtype.kind == "f" and probs.shape == (count, len(self.labels))):
            raise self._output_error(f"{getattr(probs, 'dtype', type(probs).__name__)} "
                                     f"{getattr(probs, 'shape', '')} for a batch of {count}")
        return probs

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Prepared images (N, 28, 28) or (N, size, size, 3) uint8, or model input (N, *input_shape) float,
        -> (N, labels) float32 probabilities."""
        batch = np.asarray(batch)
        prep = self.preparation
        if batch.dtype == np.uint8 and batch.shape[1:] == prep.image_shape:
            to_input = prep.to_input
        elif batch.shape[1:] == prep.input_shape:
            to_input = partial(np.ascontiguousarray, dtype=np.float32)
        else:
            raise ModelError(f"predict takes (N, {', '.join(map(str, prep.image_shape))}) uint8 or "
                             f"(N, {', '.join(map(str, prep.input_shape))}) float, got {batch.shape}")
        # a call at a time, each made model input as it goes: a large batch is never held as float all at once
        probs = in_calls(lambda x: run(self.session, {self.input_name: to_input(x)}, self.path), batch)
        return self._checked(probs, len(batch))

    def classify(self, image: np.ndarray, top: int = 3, raw: bool = False, threshold: float | None = None) -> Result:
        """Any photo array (grey/BGR/BGRA, 8/16-bit or float) -> the top-k guesses, "not sure" below `threshold`
        (default: the classifier's)."""
        started = time.perf_counter()
        threshold = self.threshold if threshold is None else float(threshold)
        prepared = self.preparation.prepare(image, raw)
        probs = self.predict(prepared.image[None])[0]
        decision = decide(probs, prepared.empty, threshold, self.labels, top)
        guesses = [Guess(self.labels[i], i, score) for i, score in decision.top]
        return Result(guesses, probs, prepared, (time.perf_counter() - started) * 1000, decision.sure, threshold)
