"""Which Fashion-MNIST labels a photo folder counts as right: {folder: [label, …]}, the strict label first.

The default (fmnist/assets/photo_map.json) follows the clothing photo set's README. A folder mapped to
several labels is right with any of them ("lenient"; "strict" counts only the first); a folder mapped to
none (hat, shorts, skirt) has no Fashion-MNIST class, and the right answer for it is "not sure".

A model trained on your own classes (`fmnist train-own`) is judged with `PhotoMap.own`: each
folder is right only with the label of its own name.

A folder and a map's key (or a label) are matched as they print (core.meta.same_name): a folder named "café" on a
file system that stores it decomposed (macOS) is the label "café".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fmnist.core.bounded import read_bounded
from fmnist.core.errors import UsageError
from fmnist.core.meta import CLASS_NAMES, printing_alike, same_name

DEFAULT_MAP = "photo_map.json"  # in fmnist/assets
MAX_MAP_BYTES = 1_000_000  # the default map is 285 bytes


@dataclass(frozen=True)
class PhotoMap:
    accepted: dict[str, tuple[int, ...]]  # folder -> label indices, strict first; () = no class ("not sure")
    source: str  # the file it came from
    labels: tuple[str, ...] = CLASS_NAMES  # the model's labels the indices point into

    def __post_init__(self) -> None:
        alike = printing_alike(list(self.accepted))
        if alike:
            raise UsageError(f"the photo map ({self.source}) gives folders {alike} that print alike; give each once")
        object.__setattr__(self, "accepted", {same_name(k): v for k, v in self.accepted.items()})

    def labels_of(self, folder: str) -> tuple[int, ...]:
        """The label indices `folder` counts as right, strict first; KeyError if the map has no line for it."""
        return self.accepted[same_name(folder)]

    @classmethod
    def own(cls, labels: list[str] | tuple[str, ...]) -> PhotoMap:
        """A model's own labels: the folder named like a label counts that label as right, and only it."""
        return cls({name: (i,) for i, name in enumerate(labels)}, "folder names", tuple(labels))

    @classmethod
    def load(cls, path: Path | None = None) -> PhotoMap:
        """The default mapping, or a JSON file {folder: [label name or index, …]}."""
        where = Path(path) if path else Path(str(resources.files("fmnist") / "assets" / DEFAULT_MAP))
        try:
            raw = json.loads(read_bounded(where, MAX_MAP_BYTES, "a photo map may take", UsageError,
                                          "a photo map is a few lines of JSON"))
        except (OSError, ValueError, RecursionError) as e:
            raise UsageError(f"cannot read the photo map {where}: {e}; it must be JSON like "
                             '{"t-shirt": ["T-shirt/top"], "hat": []}') from e
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: the photo map must be a JSON object {{folder: [labels]}}")
        accepted = {}
        for folder, labels in raw.items():
            if not isinstance(labels, list):
                raise UsageError(f"{where}: {folder!r} maps to {labels!r}; give a list of labels ([] for none)")
            accepted[folder] = tuple(_index(label, folder, where) for label in labels)
        return cls(accepted, "default" if path is None else str(where))

    def check(self, folders: tuple[str, ...] | list[str]) -> None:
        alike = printing_alike(list(folders))
        if alike:
            raise UsageError(f"photo folders {alike} print alike, so they would be one class; rename one")
        unknown = [f for f in folders if same_name(f) not in self.accepted]
        if unknown:
            if self.labels != CLASS_NAMES:
                raise UsageError(f"photo folders {', '.join(unknown)} are not labels of the model "
                                 f"({', '.join(self.labels)}); name each folder after the label it holds")
            raise UsageError(f"photo folders {', '.join(unknown)} are not in the photo map ({self.source}); "
                             "pass --photo-map FILE with a line for each, e.g. "
                             f'{{"{unknown[0]}": ["Coat"]}} or {{"{unknown[0]}": []}} for "not sure"')

    def mapped(self, folder: str) -> bool:
        return bool(self.accepted.get(same_name(folder)))


def _index(label: str | int, folder: str, where: Path) -> int:
    if isinstance(label, int) and 0 <= label < len(CLASS_NAMES):
        return label
    if isinstance(label, str) and label in CLASS_NAMES:
        return CLASS_NAMES.index(label)
    raise UsageError(f"{where}: {folder!r} maps to unknown label {label!r}; use one of {', '.join(CLASS_NAMES)} "
                     "or an index 0-9")
