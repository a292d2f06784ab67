from __future__ import annotations

import numpy as np

from fmnist.core.meta import CLASS_NAMES
from fmnist.evaluation.report import classification_report


def test_report_on_a_worked_example():
    # class 0: 3 images, 2 right, 1 called class 1; class 1: 2 images, both right; nothing else
    labels = np.array([0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 1, 1, 1])
    report = classification_report(labels, np.eye(10)[predicted])
    assert report["accuracy"] == 0.8
    assert report["confusion"][0][:2] == [2, 1] and report["confusion"][1][:2] == [0, 2]
    assert sum(map(sum, report["confusion"])) == 5
    tshirt, trouser = report["per_class"][CLASS_NAMES[0]], report["per_class"][CLASS_NAMES[1]]
    assert (tshirt["precision"], tshirt["recall"], tshirt["support"]) == (1.0, 0.6667, 3)
    assert (trouser["precision"], trouser["recall"]) == (0.6667, 1.0)
    assert trouser["f1"] == 0.8
    assert report["per_class"][CLASS_NAMES[5]] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
