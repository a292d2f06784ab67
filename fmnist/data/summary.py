"""What `fmnist data info` reports: where the dataset was found, and its class counts (every file checked)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmnist.core.meta import CLASS_NAMES
from fmnist.data import fashion


@dataclass(frozen=True)
class DataSummary:
    location: fashion.Location
    counts: dict[str, list[int]]  # split -> images a class

    @classmethod
    def read(cls, data_dir: Path | None = None) -> DataSummary:
        location = fashion.locate(data_dir)
        train, test = fashion.load(location.path)
        return cls(location, {"train": fashion.class_counts(train.labels).tolist(),
                              "test": fashion.class_counts(test.labels).tolist()})

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.location.path), "source": self.location.source, "classes": list(CLASS_NAMES),
                "counts": self.counts}

    def headline(self) -> str:
        return f"Fashion-MNIST found at {self.location.path} ({self.location.source}); all four files check out"

    def rows(self) -> list[tuple[str, str, str]]:
        """(class, train, test) a class, then the totals."""
        train, test = self.counts["train"], self.counts["test"]
        rows = [(f"{i} {name}", str(train[i]), str(test[i])) for i, name in enumerate(CLASS_NAMES)]
        return [*rows, ("total", str(sum(train)), str(sum(test)))]
