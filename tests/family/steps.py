"""The family steps' modules, imported from their code folders as the steps import them."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tests.pipeline_defs.components import ROOT, load_step

TRAIN_SRC = ROOT / "components" / "train" / "src"
SIBLINGS = (
    "order_search",
    "scoring",
    "family_scoring",
    "family_records",
    "family_champions",
    "family_fit",
)


def load_shard() -> ModuleType:
    """``shard.py``, with the modules it imports (``order_search``, a package, and the
    family modules) importable as the step finds them beside it."""
    missing = [m for m in SIBLINGS if m not in sys.modules]
    if missing:
        sys.path.insert(0, str(TRAIN_SRC))
        try:
            for name in missing:
                importlib.import_module(name)
        finally:
            sys.path.remove(str(TRAIN_SRC))
    return load_step("train", "shard")
