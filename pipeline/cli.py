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
    # Without --port, `status` and `down` go to the port `up` recorded, not to 9092.
    kafka = LocalKafka.for_home(_home(), args.port)
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
        print(f"Kafka at {kafka.bootstrap} stopped" if kafka.stop() else "Kafka was not running")
        return 0
    pid = kafka.pid()
    if pid is None:
        print("Kafka is down")
        return 3
    if not kafka.answers_metadata():
        print(f"Kafka (pid {pid}) does not answer at {kafka.bootstrap} yet")
        return 3
    print(f"Kafka is up at {kafka.bootstrap} (pid {pid}; logs in {kafka.dir / 'server.log'})")
    print(f"export PRONTO_BROKER=kafka://{kafka.bootstrap}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.settings import Settings
    from pipeline.worker import run_worker

    try:
        settings = Settings()
    except ValueError as e:  # names the variable: "PRONTO_PARTITIONS: an integer, got 'x'"
        print(f"pronto worker: {e}", file=sys.stderr)
        return 2
    return run_worker(settings, stages=args.stages)


def cmd_eval(argv: list[str]) -> int:
    from pipeline.scoring.evaluate import main

    return main(argv)


def cmd_eval_themes(argv: list[str]) -> int:
    from pipeline.themes.evaluate import main

    return main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval-sentiment":
        return cmd_eval(argv[1:])
    if argv and argv[0] == "eval-complaints":
        from pipeline.devtools.eval_complaints import main as eval_complaints

        return eval_complaints(argv[1:])
    if argv and argv[0] == "eval-themes":
        return cmd_eval_themes(argv[1:])
    if argv and argv[0] in ("simulate", "demo", "bench"):
        import importlib

        mod = importlib.import_module(f"pipeline.devtools.{argv[0]}")
        return int(mod.main(argv[1:]))
    parser = argparse.ArgumentParser(prog="pronto", description="Real-time instant feedback.")
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kafka", help="a local single-node Apache Kafka (KRaft)")
    k.add_argument("action", choices=["up", "down", "status"])
    k.add_argument("--port", type=int, default=None,
                   help=f"up: {DEFAULT_PORT} unless given; status, down: the port `up` used")  # fmt: skip
    k.set_defaults(func=cmd_kafka)
    w = sub.add_parser("worker", help="the worker: every stage, the web server, /metrics")
    w.add_argument("--stages", default=None,
                   help="run only these stages in this process (web, score, alert, notify, or "
                        "all); default: each stage group in a supervised process of its own")  # fmt: skip
    w.set_defaults(func=cmd_worker)
    for name, text in (("simulate", "realistic feedback at a rate"), ("demo", "three live venues"),
                       ("bench", "the benchmark"), ("eval-sentiment", "evaluate the sentiment model"),
                       ("eval-complaints", "precision/recall of complaint detection"),
                       ("eval-themes", "evaluate the theme tagger")):  # fmt: skip
        sub.add_parser(name, help=text)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
