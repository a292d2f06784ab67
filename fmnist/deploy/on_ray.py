"""`classify --ray ADDRESS`: the photos through Ray Data, on this machine or a cluster (docs/scale.md).

The driver lists the photos (fmnist.deploy.photo_uris) and puts the model's bytes in Ray's object store once; an
actor pool of `PhotoActor`s, one CPU each, opens the model from those bytes (no node needs the file) and turns
batches of photos into rows: input, label, index, score, sure, top, error, and `line`, classify --json's line. A
photo that cannot be read is a row with its error. Ray retries the batch of an actor that dies (Ray Data restarts
actors and retries their tasks), so each photo still comes once.

Only the CLI imports this module, lazily: Ray is fmnist[ray]'s, never the base install's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from pyarrow import fs

from fmnist.core import atomic
from fmnist.core.errors import FmnistError, UsageError
from fmnist.core.jsonsafe import dumps
from fmnist.core.quiet import quiet_stderr
from fmnist.core.session import cores, read_model
from fmnist.core.verbosity import verbose
from fmnist.deploy.photo_uris import Reader, is_uri, listing, opened
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.image import ImageError

BATCH = 32  # photos a task (and a block of the input): 0.1-0.3 s of work, so Ray's cost per task stays small
OBJECT_STORE = 256 * 2**20  # bytes, for `local`: the model and the blocks of rows in flight
TOP = pa.list_(pa.struct([("label", pa.string()), ("index", pa.int64()), ("score", pa.float64())]))
ROWS = pa.schema([("input", pa.string()), ("label", pa.string()), ("index", pa.int64()), ("score", pa.float64()),
                  ("sure", pa.bool_()), ("top", TOP), ("error", pa.string()), ("line", pa.string())])
ADDRESSES = "local (a Ray on this machine), auto (the cluster this machine joined with ray start) or ray://HOST:PORT"


@dataclass(frozen=True)
class Options:
    """What each actor needs besides the model's bytes."""

    name: str  # the model file's name (what its messages say)
    labels: tuple[str, ...] | None = None
    threshold: float | None = None
    top: int = 3
    raw: bool = False


class PhotoActor:
    """One model session on one CPU, for as many batches as Ray hands it."""

    def __init__(self, model: list[Any], options: Options) -> None:
        cv2.setNumThreads(1)
        with tempfile.TemporaryDirectory() as folder:  # the session holds the bytes once made
            path = Path(folder) / options.name
            path.write_bytes(ray.get(model[0]))  # in a list: Ray hands the reference over, not the bytes
            self.classifier = Classifier(path, threads=1, labels=list(options.labels) if options.labels else None,
                                         threshold=options.threshold)
        self.options, self.reader = options, Reader()
        self.enough = self.classifier.preparation.enough(options.raw)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        found = zip(batch["input"], batch["location"], batch["error"], strict=True)
        return pa.Table.from_pylist([self.row(str(name), str(location), error) for name, location, error in found],
                                    schema=ROWS)

    def row(self, name: str, location: str, error: str) -> dict[str, Any]:
        """`name`'s row: classify's answer for the photo at `location`, or why there is none."""
        if not error:
            try:
                image = self.reader.read(location, self.enough)
                line = {"input": name, **self.classifier.classify(image, self.options.top, self.options.raw).to_json()}
                return {**{key: line[key] for key in ("input", "label", "index", "score", "sure", "top")},
                        "line": dumps(line)}
            except ImageError as e:  # its message names the path read: named as classify names it
                error = str(e).replace(location, name)
        return {"input": name, "error": error, "line": dumps({"input": name, "error": error})}


def connect(address: str) -> bool:
    """Ray, at ADDRESS; True when this call started it (and so must shut it down). `local` inside a process where
    Ray already runs uses that one. Ray's own log lines are left out unless `fmnist --verbose`."""
    loud = verbose()
    quiet = {} if loud else {"logging_level": logging.ERROR, "log_to_driver": False}
    if not loud:  # Ray's core logs each actor made with arguments in the object store (Ray Data's way) as an error
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    # the core then says so on fd 2 ("Set ray log level from environment variable ..."), and, connecting to a
    # cluster, why it waits (the CLI says first that it connects, and that --verbose shows Ray's lines); a failure
    # is an exception
    muted = nullcontext() if loud else quiet_stderr()
    if address == "local":
        if ray.is_initialized():
            return False
        with muted:
            ray.init(num_cpus=cores(), include_dashboard=False, object_store_memory=OBJECT_STORE, **quiet)
        return True
    if address != "auto" and not address.startswith("ray://"):
        raise UsageError(f"--ray takes {ADDRESSES}; got {address!r:.80}")
    try:
        with warnings.catch_warnings(), muted:  # Ray Client warns of a timeout before it raises it
            warnings.simplefilter("ignore")
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise FmnistError(f"cannot reach the Ray cluster at {address} ({str(e).splitlines()[0]:.200}); start it "
                          "with ray start --head, or use --ray local") from e
    return True


def rows(classifier: Classifier, inputs: list[str], options: Options, actors: int = 0,
         progress: bool = False) -> ray.data.Dataset:
    """The photos as a dataset of rows (ROWS), in input order, classified by at most `actors` actors (0: one
    per CPU of the cluster); with `progress`, Ray Data's own progress display on the terminal while it runs."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = progress
    context.enable_rich_progress_bars, context.use_ray_tqdm = True, False  # Ray's tqdm bars print only blank lines
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    # "", not None, where there is no location or error: a column of None is NaN in a numpy batch
    items = [{"input": found.input, "location": found.location, "error": found.error} for found in listing(inputs)]
    if not items:
        raise FmnistError(f"no images found in {' '.join(inputs)}")
    model = ray.put(read_model(classifier.path))
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    blocks = -(-len(items) // BATCH)  # from_items' default, up to 200 blocks, makes 2,000 photos tasks of 10
    return ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        PhotoActor, fn_constructor_args=([model], options), batch_size=BATCH, batch_format="numpy", num_cpus=1,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors, initial_size=actors))  # all from the start


@dataclass(frozen=True)
class Line:
    """A row as classify prints an outcome: its JSON line, and its error if any."""

    line: str
    error: str | None
    save_error: None = None

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.line)


def as_outcomes(dataset: ray.data.Dataset) -> Iterator[Line]:
    """Each row, in input order, as Ray gives them back."""
    for row in dataset.iter_rows():
        yield Line(row["line"], row["error"])


def disconnect() -> None:
    ray.shutdown()


def taken(out: str) -> str | None:
    """Why --out cannot take the rows (a local name that exists, a URI prefix that holds something), or None.
    UsageError for a URI pyarrow does not read; FmnistError when it cannot be reached."""
    if not is_uri(out):
        exists = os.path.lexists(Path(out).expanduser().absolute())
        return f"{out} already exists; choose another --out (nothing is ever written over)" if exists else None
    try:
        filesystem, path, _ = opened(out)
        held = filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True, recursive=False))  # one level
    except ValueError as e:  # pyarrow's ArrowInvalid: a scheme it does not read, a URI it cannot parse
        raise UsageError(f"--out {out}: {str(e).splitlines()[0]:.300}; give a new local folder or an s3://, "
                         "gs:// or hdfs:// prefix") from None
    except OSError as e:  # a bucket's region not found, no network, HDFS without its libraries
        raise FmnistError(f"--out {out}: cannot look into it ({str(e).splitlines()[0]:.300})") from None
    return f"{out} already holds files; choose another --out" if held else None


def write(dataset: ray.data.Dataset, out: str) -> tuple[int, int]:
    """The rows as Parquet files in `out` (a new local folder, or an empty URI prefix), without `line`; (rows,
    errors) as read back. A local folder is written beside and renamed into place whole."""
    table = dataset.drop_columns(["line"])
    why = taken(out)  # again: the CLI asked before the cluster started, and something may have come since
    if why:
        raise FmnistError(why)
    if is_uri(out):
        filesystem, path, _ = opened(out)
        table.write_parquet(out)
        return _count(path, filesystem)
    final = Path(out).expanduser().absolute()
    ready = atomic.temp_folder(final)
    try:
        table.write_parquet(str(ready))
        os.rename(ready, final)
    finally:
        shutil.rmtree(ready, ignore_errors=True)
    return _count(str(final), None)


def _count(path: str, filesystem: fs.FileSystem | None) -> tuple[int, int]:
    errors = pq.read_table(path, columns=["error"], filesystem=filesystem).column("error")
    return len(errors), len(errors) - errors.null_count
