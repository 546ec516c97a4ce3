"""Progress bars for long CLI steps: one bar per named step, fed by a callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: ``progress(step, done, total)``: the engine-side callback the demo and benches call.
StepProgress = Callable[[str, int, int], None]


@contextmanager
def step_progress(console: Console, label_width: int) -> Iterator[StepProgress]:
    """Yield a callback that opens a bar the first time a step is named, then updates it."""
    with Progress(
        TextColumn(f"{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield progress
