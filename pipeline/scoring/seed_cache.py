"""The seeded model, learned once per machine and kept on disk.

Learning the 5,913-line seed corpus takes about 4 s of CPU; a fresh worker with no model saved in
Kafka yet would spend them on every start, holding the GIL while its consumer needs heartbeats.
The result depends only on the seed corpus, the lexicon, the model code and river's version, so
it is cached under a name made from their digest (`$PRONTO_SEED_CACHE`, else
`$XDG_CACHE_HOME/pronto`, else `~/.cache/pronto`). Any problem with the cache means learning
afresh, never a failure.

The seeded model's read-only snapshot (`sentiment_snapshot.py`) is cached beside it, for ingest:
reading it (and computing the digest) imports no river.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from importlib import metadata, resources, util
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pipeline.scoring.lexicon import LEXICON_FILE
from pipeline.seed_corpus import SEED_CORPUS
from pipeline.sentiment_snapshot import SentimentSnapshot

if TYPE_CHECKING:
    from pipeline.scoring.sentiment import SentimentModel

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The code that the seeded model is made of.
MODEL_MODULES = ("pipeline.scoring.sentiment", "pipeline.sentiment_snapshot",
                 "pipeline.scoring.lexicon", "pipeline.scoring.normalize",
                 "pipeline.seed_corpus")  # fmt: skip


def cache_dir() -> Path:
    if os.environ.get("PRONTO_SEED_CACHE"):
        return Path(os.environ["PRONTO_SEED_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pronto"


def digest(seed: int) -> str:
    """What the seeded model is made of: data, code and river's version."""
    h = hashlib.sha256(f"{seed}|{metadata.version('river')}".encode())
    package = resources.files("pipeline.scoring")
    for name in (SEED_CORPUS, LEXICON_FILE):
        h.update(package.joinpath(name).read_bytes())
    for module in MODEL_MODULES:  # their source, read without importing them
        spec = util.find_spec(module)
        assert spec is not None and spec.origin, module
        h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:20]


def seeded_snapshot(seed: int = 42) -> SentimentSnapshot:
    """The seeded model's snapshot, from the cache when it is there (else learned and cached)."""
    path = cache_dir() / f"seed-snapshot-{digest(seed)}.pickle"
    snapshot = read_cached(path, SentimentSnapshot.from_bytes)
    if snapshot is None:
        snapshot = seeded_model(seed).snapshot()
        write_atomically(path, snapshot.to_bytes())
    return snapshot


def seeded_model(seed: int = 42) -> SentimentModel:
    """`SentimentModel.with_seed_corpus(seed)`, from the cache when it is there."""
    from pipeline.scoring.sentiment import SentimentModel

    d = digest(seed)
    path = cache_dir() / f"seed-model-{d}.pickle"
    model = read_cached(path, SentimentModel.from_bytes)
    if model is None:
        model = SentimentModel.with_seed_corpus(seed)
        write_atomically(path, model.to_bytes())
        write_atomically(cache_dir() / f"seed-snapshot-{d}.pickle", model.snapshot().to_bytes())
    return model


def read_cached(path: Path, load: Callable[[bytes], T]) -> T | None:
    """What `load` makes of the cached file, or None: missing, torn or foreign (learn afresh)."""
    try:
        value = load(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:
        logger.warning("seed cache %s unreadable; learning the seed corpus", path)
        return None
    logger.info("seed cache %s loaded", path)
    return value


def write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError as e:
        logger.info("%s not cached (%s)", path.name, e)
