"""river's classes without the rest of river: its packages import everything they hold.

`from river import feature_extraction` runs `river/feature_extraction/__init__.py`, which
imports `kernel_approx`, which imports `river.tree`, which imports `river.proba`, which runs
`from scipy.stats import multivariate_normal`; `river.drift` and `river.metrics` do the same
through `kswin` and `roc_auc`. The score process uses none of those modules, yet scipy.stats
and scipy.integrate alone held about 45 MB of its RSS.

`install()` puts a light stand-in for each package of `LEAN_PACKAGES` in `sys.modules` before
river is imported. It is the package itself (same name, same `__path__` and spec), minus the
eager imports of its `__init__`: a name that the `__init__` re-exports (`TFIDF`, found by
reading it, `from .vectorize import TFIDF`) imports its own module on first use, and a
submodule imports as usual, so pickles (which name `river.feature_extraction.vectorize.TFIDF`)
load as before. The code that runs is river's own, unchanged: predictions and learning are the
same bit for bit (`tests/unit/test_river_lean.py`). A name the `__init__` defines in some other
way makes the stand-in run the real `__init__`, once: never a missing name, only less saved.

The score stage's modules take river's packages from here (`from pipeline.scoring.river_lean
import compose`), so that the stand-ins are in place first. The seeded model in a fresh
process (the test's sequence): 94 MB of RSS instead of 174 MB.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

LEAN_PACKAGES = (
    "river.compose",
    "river.drift",
    "river.feature_extraction",
    "river.linear_model",
    "river.metrics",
    "river.optim",
)
# Imported by river's modules at their top, used only by code the score stage never runs:
# `scipy.sparse` by `TFIDF.transform_many` (dataframes), `scipy.special` by a loss's
# `mean_func` on numpy arrays (ours gets dicts), narwhals by `TransformerUnion.transform_many`.
# With the parts of numpy that `scipy.sparse` imports (`numpy.testing`, `numpy.f2py`,
# `numpy.ma`...), about 35 MB.
LEAN_THIRD_PARTY = ("scipy.sparse", "scipy.special", "narwhals", "narwhals.stable",
                    "narwhals.stable.v2")  # fmt: skip


def reexports(init_source: str) -> dict[str, str]:
    """Name -> submodule, for each `from .submodule import Name` of a package's `__init__`.

    >>> reexports("from . import base\\nfrom .vectorize import TFIDF, BagOfWords as BoW\\n")
    {'TFIDF': 'vectorize', 'BoW': 'vectorize'}
    """
    names: dict[str, str] = {}
    for node in ast.parse(init_source).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
    return names


class LeanPackage(types.ModuleType):
    """A river package whose `__init__` runs only if a name needs it."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__path__ = list(spec.submodule_search_locations or ())
        self.__package__ = name
        self.__file__ = spec.origin
        self.__loader__ = spec.loader
        self._lean_names = reexports(Path(spec.origin or "").read_text(encoding="utf-8"))
        self._lean_full = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("__", "_lean")) or self._lean_full:
            raise AttributeError(name)
        sub = self._lean_names.get(name)
        if sub is not None:
            value = getattr(importlib.import_module(f"{self.__name__}.{sub}"), name)
        elif importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            value = importlib.import_module(f"{self.__name__}.{name}")
        else:  # defined by the __init__ itself: run it, as a plain import would have
            self._lean_full = True
            assert self.__spec__ is not None and self.__spec__.loader is not None
            self.__spec__.loader.exec_module(self)
            return getattr(self, name)
        setattr(self, name, value)
        return value


def install(packages: tuple[str, ...] = LEAN_PACKAGES + LEAN_THIRD_PARTY) -> None:
    """Stand in for `packages` (those not imported yet) before river is imported."""
    for name in packages:
        if name in sys.modules:
            continue
        parent_name, _, short = name.rpartition(".")
        # river's and scipy's own `__init__` are light; narwhals's is a stand-in too.
        parent = importlib.import_module(parent_name) if parent_name else None
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        module = LeanPackage(name, spec)
        sys.modules[name] = module
        if parent is not None:
            setattr(parent, short, module)


install()

from river import compose, drift, feature_extraction, linear_model, metrics, optim  # noqa: E402

__all__ = ["LEAN_PACKAGES", "LEAN_THIRD_PARTY", "LeanPackage", "compose", "drift", "feature_extraction", "install",
           "linear_model", "metrics", "optim", "reexports"]  # fmt: skip
