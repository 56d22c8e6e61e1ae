"""Import a pipeline step's module or package from its code folder (steps are scripts)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2] / "pipeline_defs"


def load_step(component: str, module: str) -> ModuleType:
    name = f"_step_{component}_{module}"
    if name in sys.modules:
        return sys.modules[name]
    folder = ROOT / "components" / component / "src"
    package = folder / module / "__init__.py"
    if package.is_file():  # a package (order_search): its modules import each other
        spec = importlib.util.spec_from_file_location(
            name, package, submodule_search_locations=[str(package.parent)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, folder / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    # As in the step's job, the code folder is on the path while it loads: a script
    # importing a sibling module or package (evaluate.py -> evaluation/) finds it.
    added = str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(loaded)
    finally:
        if added:
            sys.path.remove(str(folder))
    return loaded
