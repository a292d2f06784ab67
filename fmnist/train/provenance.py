"""Where a run came from, recorded in its metrics.json: versions, machine and time."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from typing import Any

from fmnist import __version__


def provenance() -> dict[str, Any]:
    from fmnist.core.tf import keras, tf  # a run has loaded TensorFlow by now; importing this module does not

    return {
        "versions": {"fmnist": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
