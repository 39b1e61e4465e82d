"""river's packages without their eager imports: the same model, bit for bit, in less memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.scoring.river_lean import LeanPackage, reexports

ROOT = Path(__file__).parents[2]

# A seeded model predicts the test corpus, learns every third line, goes through a pickle and
# predicts again; then ADWIN. The digest of everything it said, and what it imported.
RUN = """
import csv, hashlib, json, sys
{setup}
from pipeline.scoring.sentiment import SentimentModel
from pipeline.scoring.drift import DriftMonitor
model = SentimentModel.with_seed_corpus()
h = hashlib.sha256()
with open("tests/data/score_corpus.tsv", encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\\t", quoting=csv.QUOTE_NONE))
for i, r in enumerate(rows):
    h.update(repr(model.predict(r["text"], r["lang"])).encode())
    if i % 3 == 0:
        model.learn(r["text"], ("negative", "neutral", "positive")[i % 2], r["lang"])
again = SentimentModel.from_bytes(model.to_bytes())
h.update(repr(again.predict("el servicio fue horrible", "es")).encode())
d = DriftMonitor()
h.update(repr([d.update("loc", 0.9 if i < 200 else 0.1) for i in range(400)]).encode())
rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6
print(json.dumps({{"digest": h.hexdigest(), "rss_mb": rss,
                  "scipy_stats": "scipy.stats" in sys.modules,
                  "scipy_sparse": "scipy.sparse._base" in sys.modules,
                  "scipy_special": "scipy.special._ufuncs" in sys.modules,
                  "narwhals": "narwhals.dataframe" in sys.modules}}))
"""
FULL_RIVER = "import river.feature_extraction, river.linear_model, river.drift, river.metrics"


def run(setup: str) -> dict[str, object]:
    import json

    out = subprocess.run([sys.executable, "-c", RUN.format(setup=setup)], capture_output=True,
                         text=True, check=True, cwd=ROOT)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_lean_packages_learn_and_predict_exactly_as_river_does() -> None:
    lean, full = run(""), run(FULL_RIVER)
    assert lean["digest"] == full["digest"]
    for heavy in ("scipy_stats", "scipy_sparse", "scipy_special", "narwhals"):
        assert lean[heavy] is False and full[heavy] is True, heavy
    assert float(full["rss_mb"]) - float(lean["rss_mb"]) > 60, (lean, full)  # about 90 MB


def test_a_reexported_name_imports_only_its_module(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "leanfake"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        from . import heavy
        from .light import Light
        LOADED = True
    """)
    )
    (pkg / "light.py").write_text("class Light:\n    pass\n")
    (pkg / "heavy.py").write_text("HEAVY = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib.util

    spec = importlib.util.find_spec("leanfake")
    assert spec is not None
    module = LeanPackage("leanfake", spec)
    monkeypatch.setitem(sys.modules, "leanfake", module)
    try:
        assert module.Light.__name__ == "Light"
        assert "leanfake.light" in sys.modules and "leanfake.heavy" not in sys.modules
        assert module.heavy.HEAVY == 1  # a submodule, on first use
        assert module.LOADED is True  # defined by the __init__ itself: it ran, once
    finally:
        for name in [n for n in sys.modules if n.startswith("leanfake")]:
            del sys.modules[name]


def test_reexports_reads_only_relative_imports() -> None:
    src = "from __future__ import annotations\nfrom river import base\nfrom .a import X\n"
    assert reexports(src) == {"X": "a"}
