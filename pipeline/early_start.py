"""Start work before Faust's first table recovery.

Faust starts an app's tasks and timers only once its first table recovery is done
(`faust/app/base.py`: `on_started` awaits `_wait_for_table_recovery_completed` before
`on_started_init_extra_tasks`). What must run during that recovery (the stall watch, the
mirrors' loading) starts at the first partition assignment instead, once per process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def at_first_assignment(app: Any, make: Callable[[], list[Awaitable[None]]],
                        *, without_partitions: bool = False) -> None:  # fmt: skip
    """Run the coroutines `make()` returns as futures of `app`, once: at its first partition
    assignment, or, with `without_partitions`, as a task in a process that is assigned none
    (it starts after the recovery, which then has nothing to do)."""
    started = {"done": False}

    def start() -> None:
        if not started["done"]:
            started["done"] = True
            for coro in make():
                app.add_future(coro)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator,unused-ignore]
    async def start_with_the_assignment(sender: Any, *args: Any, **kwargs: Any) -> None:
        start()

    if without_partitions:

        @app.task  # type: ignore[untyped-decorator,unused-ignore]
        async def start_without_partitions() -> None:
            start()
