"""The family steps' modules, imported from their code folders as the steps import them."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tests.pipeline_defs.components import ROOT, load_step

TRAIN_SRC = ROOT / "components" / "train" / "src"


def load_shard() -> ModuleType:
    """``shard.py``, with ``order_search`` importable as the step finds it beside it (a
    module or a package)."""
    if "order_search" not in sys.modules:
        sys.path.insert(0, str(TRAIN_SRC))
        try:
            importlib.import_module("order_search")
        finally:
            sys.path.remove(str(TRAIN_SRC))
    return load_step("train", "shard")
