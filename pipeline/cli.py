"""`pronto`: the command line. Each subcommand is a thin wrapper around a module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipeline.kafka_local import DEFAULT_PORT, KafkaSetupError, LocalKafka

logger = logging.getLogger(__name__)


def _home() -> Path:
    return Path(os.environ.get("PRONTO_HOME", ".pronto")).resolve()


def cmd_kafka(args: argparse.Namespace) -> int:
    kafka = LocalKafka(_home(), args.port)
    if args.action == "up":
        try:
            import time

            t0 = time.monotonic()
            bootstrap = kafka.start()
        except KafkaSetupError as e:
            print(f"pronto kafka: {e}", file=sys.stderr)
            return 1
        print(f"Kafka is up at {bootstrap} (started in {time.monotonic() - t0:.1f}s; "
              f"logs in {kafka.dir / 'server.log'})")  # fmt: skip
        print(f"export PRONTO_BROKER=kafka://{bootstrap}")
        return 0
    if args.action == "down":
        print("Kafka stopped" if kafka.stop() else "Kafka was not running")
        return 0
    pid = kafka.pid()
    if pid and kafka.answers_metadata():
        print(f"Kafka is up at {kafka.bootstrap} (pid {pid})")
        return 0
    print("Kafka is down" if not pid else f"Kafka (pid {pid}) does not answer yet")
    return 3


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.worker import run_worker

    return run_worker()


def cmd_eval(argv: list[str]) -> int:
    from pipeline.scoring.evaluate import main

    return main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval-sentiment":
        return cmd_eval(argv[1:])
    if argv and argv[0] in ("simulate", "demo", "bench"):
        import importlib

        mod = importlib.import_module(f"pipeline.devtools.{argv[0]}")
        return int(mod.main(argv[1:]))
    parser = argparse.ArgumentParser(prog="pronto", description="Real-time instant feedback.")
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kafka", help="a local single-node Apache Kafka (KRaft)")
    k.add_argument("action", choices=["up", "down", "status"])
    k.add_argument("--port", type=int, default=DEFAULT_PORT)
    k.set_defaults(func=cmd_kafka)
    w = sub.add_parser("worker", help="the Faust worker: every stage, the web server, /metrics")
    w.set_defaults(func=cmd_worker)
    for name, text in (("simulate", "realistic feedback at a rate"), ("demo", "three live venues"),
                       ("bench", "the benchmark"), ("eval-sentiment", "evaluate the sentiment model")):  # fmt: skip
        sub.add_parser(name, help=text)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
