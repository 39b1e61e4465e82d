"""The supervisor hands its settings to the stage processes through the environment."""

from __future__ import annotations

import pytest

from pipeline.settings import PROCESSES, STAGES, SecretStr, Settings, parse_stages
from pipeline.worker import settings_env


def test_settings_survive_the_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    given = Settings(broker="kafka://b:1", web_port=7001, twilio_auth_token=SecretStr("tok"),
                     verify_signatures=False, ack_timeout_s=12.5, topic_prefix="t-",
                     send_concurrency=4)  # fmt: skip
    env = settings_env(given)
    assert "PRONTO_ACK_TIMEOUT_S" in env and env["PRONTO_TWILIO_AUTH_TOKEN"] == "tok"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == given


def test_unset_optional_settings_stay_unset() -> None:
    assert "PRONTO_ACK_TIMEOUT_S" not in settings_env(Settings())


def test_the_default_processes_cover_every_stage_once() -> None:
    names = [s for stages in PROCESSES for s in stages]
    assert sorted(names) == sorted(STAGES)
    assert parse_stages("") is None and parse_stages("score,alert") == {"score", "alert"}


@pytest.mark.parametrize(("given", "expected"), [(None, "2"), ("8", "8")])
def test_the_stage_processes_get_few_malloc_arenas_unless_told(
    monkeypatch: pytest.MonkeyPatch, given: str | None, expected: str
) -> None:
    from pipeline.worker import child_processes

    if given is None:
        monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    else:
        monkeypatch.setenv("MALLOC_ARENA_MAX", given)
    children = child_processes(Settings(broker="kafka://b:1"))
    assert {c.env["MALLOC_ARENA_MAX"] for c in children} == {expected}


def test_the_stage_processes_get_a_fixed_mmap_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.worker import child_processes

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    children = child_processes(Settings(broker="kafka://b:1"))
    assert {c.env["MALLOC_MMAP_THRESHOLD_"] for c in children} == {str(1 << 20)}


def test_only_the_score_process_lowers_its_priority_and_only_once_ready() -> None:
    from pipeline.worker import child_processes

    children = child_processes(Settings(broker="kafka://b:1", nice_when_ready=5))
    nice = {c.name: c.env["PRONTO_NICE_WHEN_READY"] for c in children}
    assert nice == {"web": "0", "score": "10", "alert": "0"}


def test_the_event_loop_is_uvloop_unless_told() -> None:
    assert Settings().event_loop == "uvloop"
    assert Settings(event_loop=" AsyncIO ").event_loop == "asyncio"
    with pytest.raises(ValueError, match="PRONTO_EVENT_LOOP: uvloop or asyncio"):
        Settings(event_loop="tokio")


def test_the_supervisor_imports_only_the_standard_library_and_the_log_setup() -> None:
    import subprocess
    import sys

    code = ("import sys, pipeline.supervisor; print(sorted({m.split('.')[0] for m in sys.modules"
            " if not m.startswith('_')} - set(sys.stdlib_module_names)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pipeline']"
    # Nor OpenSSL: it logs through `pipeline.phones`, not the hashing of `pipeline.privacy`.
    code = "import sys, pipeline.supervisor; print('hashlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_bad_setting_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    monkeypatch.setenv("PRONTO_PARTITIONS", "eight")
    assert main(["worker"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "pronto worker: PRONTO_PARTITIONS: an integer, got 'eight'"
    )


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ("pronto_web_port", "web_port", 7002),  # any case, as before
        ("PRONTO_VERIFY_SIGNATURES", "verify_signatures", False),
        ("PRONTO_ACK_TIMEOUT_S", "ack_timeout_s", 30.0),
    ],
)
def test_the_environment_gives_typed_settings(
    monkeypatch: pytest.MonkeyPatch, env: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(env, {"web_port": "7002", "verify_signatures": "false"}.get(field, "30"))
    assert getattr(Settings(), field) == expected
    assert getattr(Settings(**{field: expected}), field) == expected  # a keyword wins, typed


def test_settings_are_frozen_and_keep_their_secrets() -> None:
    s = Settings(secret_key="k3y")
    with pytest.raises(AttributeError):
        s.broker = "kafka://elsewhere:1"  # type: ignore[misc]
    assert s.secret_key.get_secret_value() == "k3y" and "k3y" not in repr(s)
    with pytest.raises(TypeError, match="brokr"):
        Settings(brokr="kafka://typo:1")


@pytest.mark.parametrize("name", ["snapshot_interval_s", "snapshot_refresh_s"])
def test_snapshot_intervals_are_positive(name: str) -> None:
    assert getattr(Settings(**{name: 2.5}), name) == 2.5
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"PRONTO_{name.upper()}: seconds > 0"):
            Settings(**{name: bad})


def test_each_stage_process_takes_the_gil_switch_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import pipeline.app
    from pipeline.worker import run_stages

    class Built(Exception):
        pass

    def build(*args: object, **kwargs: object) -> None:
        raise Built

    monkeypatch.setattr(pipeline.app, "build", build)
    before = sys.getswitchinterval()
    try:
        with pytest.raises(Built):
            run_stages(Settings(switch_interval_ms=2.0, event_loop="asyncio"), frozenset({"web"}))
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)
    assert Settings().switch_interval_ms == 1.0
    with pytest.raises(ValueError, match="PRONTO_SWITCH_INTERVAL_MS: milliseconds > 0"):
        Settings(switch_interval_ms=0)
