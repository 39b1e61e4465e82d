"""The seeded model, learned once per machine and kept on disk.

Learning the 5,913-line seed corpus takes about 4 s of CPU; a fresh worker with no model saved in
Kafka yet would spend them on every start, holding the GIL while its consumer needs heartbeats.
The result depends only on the seed corpus, the lexicon, the model code and river's version, so
it is cached under a name made from their digest (`$PRONTO_SEED_CACHE`, else
`$XDG_CACHE_HOME/pronto`, else `~/.cache/pronto`). Any problem with the cache means learning
afresh, never a failure.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path

import river

from pipeline.scoring import lexicon, normalize, sentiment
from pipeline.scoring.sentiment import SentimentModel

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    if os.environ.get("PRONTO_SEED_CACHE"):
        return Path(os.environ["PRONTO_SEED_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pronto"


def digest(seed: int) -> str:
    """What the seeded model is made of: data, code and river's version."""
    h = hashlib.sha256(f"{seed}|{river.__version__}".encode())
    package = resources.files("pipeline.scoring")
    for name in (sentiment.SEED_CORPUS, lexicon.LEXICON_FILE):
        h.update(package.joinpath(name).read_bytes())
    for module in (sentiment, lexicon, normalize):
        h.update(Path(str(module.__file__)).read_bytes())
    return h.hexdigest()[:20]


def seeded_model(seed: int = 42) -> SentimentModel:
    """`SentimentModel.with_seed_corpus(seed)`, from the cache when it is there."""
    path = cache_dir() / f"seed-model-{digest(seed)}.pickle"
    try:
        model = SentimentModel.from_bytes(path.read_bytes())
        logger.info("seeded model loaded from %s", path)
        return model
    except FileNotFoundError:
        pass
    except Exception:  # a torn or foreign file: learn afresh and replace it
        logger.warning("seed model cache %s unreadable; learning the seed corpus", path)
    model = SentimentModel.with_seed_corpus(seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(model.to_bytes())
        os.replace(tmp.name, path)
    except OSError as e:
        logger.info("seed model not cached (%s)", e)
    return model
