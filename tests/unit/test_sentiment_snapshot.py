"""Ingest's read-only snapshot of the sentiment model predicts exactly what the model does,
loads no river, and refuses anything but plain data."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline import model_store
from pipeline.scoring import seed_cache
from pipeline.scoring.sentiment import SentimentModel
from pipeline.sentiment_snapshot import CompactSnapshot, SentimentSnapshot

CORPUS = Path(__file__).parents[1] / "data" / "score_corpus.tsv"


def corpus_texts() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


def few_shot() -> SentimentModel:
    model = SentimentModel(seed=1)
    for text, label in [("muy malo", "negative"), ("muy bueno", "positive"), ("normal", "neutral")]:
        model.learn(text, label)
    return model


@pytest.mark.parametrize("make", [SentimentModel, few_shot, seed_cache.seeded_model])
def test_the_snapshot_predicts_bit_for_bit_what_the_model_predicts(make: Any) -> None:
    model = make()
    snapshot = SentimentSnapshot.from_bytes(model.snapshot().to_bytes())
    compact = snapshot.compact()  # what the web process keeps
    texts = [*corpus_texts(), "", "¡¡¡", "el bus llegó tardísimo 😡", "not bad at all, but slow"]
    for text in texts:
        assert snapshot.predict(text) == model.predict(text) == compact.predict(text), text
    assert snapshot.version == model.version == compact.version


def test_the_compact_snapshot_takes_well_under_half_the_memory() -> None:
    import gc
    import tracemalloc

    data = seed_cache.seeded_model().snapshot().to_bytes()
    gc.collect()
    sizes = []
    for load in (SentimentSnapshot.from_bytes, lambda b: SentimentSnapshot.from_bytes(b).compact()):
        tracemalloc.start()
        kept = load(data)
        gc.collect()
        sizes.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        del kept
    plain, compact = sizes
    # 6.7 MB against 12.5 MB measured (16.0 MB when the model learned through river's own
    # path, which gave each term's counts and weights key objects of their own: the plain
    # snapshot then pickled each twice; `river_mirror` shares one, as a text reads it once).
    assert compact < plain * 0.6, (plain, compact)


def test_a_snapshot_taken_after_learning_follows_the_model() -> None:
    model = seed_cache.seeded_model()
    text = "el conductor fue muy amable"
    before = model.snapshot()
    for _ in range(30):
        model.learn(text, "negative")
    after = model.snapshot()
    assert after.predict(text) == model.predict(text) != before.predict(text)
    assert after.version == before.version + 30


def test_a_snapshot_holding_a_class_is_refused() -> None:
    # A pickle that would call a function when loaded (here harmless: `len`).
    class Sneaky:
        def __reduce__(self) -> Any:
            return (len, ("x",))

    with pytest.raises(pickle.UnpicklingError, match="plain data"):
        SentimentSnapshot.from_bytes(pickle.dumps((1, Sneaky())))
    with pytest.raises(ValueError, match="format"):
        SentimentSnapshot.from_bytes(pickle.dumps((99, 0, {}, {}, 1.0, {}, 1.0)))
    with pytest.raises(pickle.UnpicklingError, match="plain data"):
        CompactSnapshot.from_bytes(pickle.dumps((1, Sneaky())))
    with pytest.raises(ValueError, match="format"):
        CompactSnapshot.from_bytes(pickle.dumps((99, 0, [], (), [], [], b"", 1.0, b"", 1.0)))
    short = pickle.dumps((1, 0, ["a", "b"], ("negative",), [b""], [b""], b"", 1.0, b"", 1.0))
    with pytest.raises(ValueError, match="does not match"):
        CompactSnapshot.from_bytes(short)


def test_reading_the_snapshot_imports_no_river(tmp_path: Path) -> None:
    """The web process's path: the model store, the seeded snapshot from the cache, triage."""
    env = {"PRONTO_SEED_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seeded = seed_cache.seeded_model()
    (tmp_path / f"seed-snapshot-{seed_cache.digest(42)}.pickle").write_bytes(
        seeded.snapshot().to_bytes()
    )
    code = (
        "import sys\n"
        "from pipeline.ingest import routes, service, triage\n"
        "from pipeline.scoring.seed_cache import seeded_snapshot\n"
        "p = seeded_snapshot().predict('la comida fría y el camarero borde')\n"
        "print(p.label, sorted(m for m in ('river', 'numpy', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2])  # fmt: skip
    label = seeded.predict("la comida fría y el camarero borde").label
    assert out.stdout.split(maxsplit=1) == [label, "[]\n"], out.stderr


def test_learning_the_seed_caches_its_snapshot_too(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("PRONTO_SEED_CACHE", str(tmp_path))
    model = seed_cache.seeded_model()
    assert [p.name.split("-")[1] for p in sorted(tmp_path.iterdir())] == ["model", "snapshot"]
    assert seed_cache.seeded_snapshot().predict("horrible") == model.predict("horrible")
    (snapshot,) = tmp_path.glob("seed-snapshot-*.pickle")
    snapshot.unlink()  # a model cached by an earlier release, without its snapshot
    assert seed_cache.seeded_snapshot().predict("horrible") == model.predict("horrible")
    assert snapshot.exists()


def test_a_record_without_a_snapshot_still_gives_one() -> None:
    """A model saved by the previous release (format 2) is read through river."""
    model = few_shot()
    old = model_store.MODEL_FORMAT_2 + __import__("zlib").compress(
        b'{"model": %d}\n' % len(model.to_bytes()) + model.to_bytes() + b"drift", 1
    )
    new = model_store.encode_model(model.to_bytes(), b"drift", 3, model.snapshot().to_bytes())
    for value in (old, new):
        snapshot = model_store.snapshot_of(value)
        assert snapshot.predict("muy malo") == model.predict("muy malo")


def test_a_published_snapshot_predicts_as_its_model() -> None:
    """The `pronto.snapshot` record: the snapshot alone, read back to the same predictions;
    a record of another kind is refused, not misread."""
    model = seed_cache.seeded_model()
    model.learn("el baño estaba sucio", "negative")
    value = model_store.encode_snapshot(model.snapshot())
    compact = model_store.published_snapshot_of(value)
    assert compact.version == model.version
    for text in [*corpus_texts()[:300], "el baño estaba sucio", ""]:
        assert compact.predict(text) == model.predict(text)
    saved = model_store.encode_model(model.to_bytes(), b"drift", 3, model.snapshot().to_bytes())
    with pytest.raises(ValueError, match="pronto-snapshot-1"):
        model_store.published_snapshot_of(saved)
