"""Stored basins and kernels follow the running coordizer (``pantheon db recoordize``).

Every stored basin records the ``COORDIZER_VERSION`` that made it and every kernel the
version its state was trained on. When the coordizer changes:

1. **Basins** of another version (or none) are recomputed from the stored prompt, a page
   of ``PANTHEON_RECOORDIZE_BATCH`` rows per ``coordize_many`` call and per transaction.
   The page is read and encoded outside any transaction, then written only where the row
   is still stale, so a claim that filled a row meanwhile wins and nothing is locked while
   the encoder runs. A stopped run resumes where the stale rows are; a second run finds
   nothing to do. (Claims also recompute a stale basin before training on it, so a row
   is never trained on the wrong representation even before this runs.)
2. **Kernels** trained on another version are *rebuilt*: a fresh kernel of the same name
   is trained, under the kernel's row lock and in one transaction, on every stored outcome
   it had learned (the god: trained online or batch-processed; the shadow: batch-
   processed), with the hourly batch's passes (3 for a god, 1 for a shadow), then saved
   as the next live version at the running coordizer's version. The old weights mean
   nothing on the new basins, so nothing is carried over. Outcomes not yet learned stay
   pending for their own timescales: every timescale still trains each outcome once.

Until its rebuild, a stale kernel is neither trained (``RepresentationMismatchError``,
permanent, the outcome stays pending) nor routed with (its god routes on the prior), and
``/api/health`` and ``/api/kernels`` say so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import Kernel
from pantheon.roster import god_of, is_shadow
from pantheon.store import basins as basin_rows
from pantheon.store import kernels as kernel_rows
from pantheon.store.kernels import KernelRecord
from pantheon.store.outcomes import Claimed
from pantheon.training._kernels import finite, is_stale
from pantheon.training.encoding import current_version, encode_prompts

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

log = logging.getLogger(__name__)

#: Passes over the stored outcomes when a kernel is rebuilt: the hourly batch's.
REBUILD_EPOCHS = {"god": 3, "shadow": 1}
#: Rows read per step of a rebuild (as the hourly batch's chunk).
REBUILD_CHUNK = 20_000

#: ``progress(step, done, total)``, e.g. ``cli.progress.step_progress``'s callback.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Representation:
    """Where the store stands against the running coordizer (health, kernels API)."""

    coordizer_version: str
    stale_kernels: list[str]
    #: Healthy outcomes without a basin / with one of another version (None: not counted,
    #: it scans the outcomes table).
    basins_missing: int | None = None
    basins_other_version: int | None = None


@dataclass
class RecoordizeResult:
    coordizer_version: str
    basins_written: int = 0
    kernels_rebuilt: list[str] = field(default_factory=list)
    kernels_current: int = 0
    duration_s: float = 0.0


def status(service: TrainingService, *, count_basins: bool = False) -> Representation:
    """Stale kernels (cheap: the kernels table) and, on request, stale basin counts."""
    version = current_version()
    with service.database.session(write=False) as session:
        stale = [r.name for r in kernel_rows.list_all(session) if is_stale(r)]
        if not count_basins:
            return Representation(version, stale)
        counts = basin_rows.count_stale(session, version)
    return Representation(version, stale, counts["missing"], counts["other_version"])


def recoordize_basins(
    service: TrainingService, progress: Progress | None = None, deadline: float | None = None
) -> tuple[int, bool]:
    """Recompute every healthy stored basin that is missing or of another version;
    returns (rows written, finished). With ``deadline`` (``time.monotonic()``) it stops
    after the page that passes it, unfinished; the next call resumes."""
    version = current_version()
    size = service.settings.recoordize_batch
    with service.database.session(write=False) as session:
        counts = basin_rows.count_stale(session, version)
    total = counts["missing"] + counts["other_version"]
    done = written = 0
    after = 0
    if progress is not None:
        progress("basins", 0, total)
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return written, False
        with service.database.session(write=False) as session:
            page = basin_rows.stale_page(session, version, after, size)
        if not page:
            break
        blobs = encode_prompts([prompt for _oid, prompt in page], service.basin_cache)
        made = {oid: blob for (oid, _prompt), blob in zip(page, blobs, strict=True)}
        with service.database.session() as session:
            written += basin_rows.write_if_stale(session, made, version)
        after = page[-1][0]
        done += len(page)
        if progress is not None:
            progress("basins", done, max(total, done))
    return written, True


def prefill_batch(service: TrainingService, god: str, limit: int) -> int:
    """Encode the basins the god's next hourly chunk lacks (up to ``limit`` rows), a page
    per transaction, before the batch takes the kernel lock: with an encoder at tens of
    prompts per second, a chunk encoded under the lock would hold it for minutes and
    could outlast the task's time limit. Pages commit as they go, so a task stopped
    midway keeps its progress. Returns the rows written.

    While some kernel is stale (a coordizer change under way), rows trained online may
    hold basins of the old version, and the pages come from the god's whole queue.
    Otherwise only rows not yet trained online can lack a basin, and the pages follow
    the index of those: reading the whole queue cost as much as the claim itself. A row
    that still reaches the claim with a basin of another version (a process of an older
    release wrote it) is encoded by the claim, under the lock, as before."""
    version = current_version()
    size = min(service.settings.recoordize_batch, limit)
    page_of = (
        basin_rows.pending_batch_page
        if status(service).stale_kernels
        else basin_rows.unencoded_page
    )
    written = seen = after = 0
    while seen < limit:
        with service.database.session(write=False) as session:
            page = page_of(session, god, version, after, size)
        if not page:
            break
        blobs = encode_prompts([prompt for _oid, prompt in page], service.basin_cache)
        with service.database.session() as session:
            made = {oid: blob for (oid, _prompt), blob in zip(page, blobs, strict=True)}
            written += basin_rows.write_if_stale(session, made, version)
        after = page[-1][0]
        seen += len(page)
    return written


def rebuild_kernel(service: TrainingService, name: str) -> dict[str, object] | None:
    """Retrain a stale kernel from scratch on the stored outcomes it had learned; None
    when it is current already (nothing changes)."""
    t0 = time.monotonic()
    god = god_of(name)
    shadow = is_shadow(name)
    encoder = service.encoder()
    with service.database.session() as session:
        record = kernel_rows.lock(session, name)
        if record is None or not is_stale(record):
            return None
        # The old state is not decoded: its format may belong to another kernel version.
        kernel = Kernel(name, seed=service.settings.seed)
        epochs = REBUILD_EPOCHS["shadow" if shadow else "god"]
        rows_used = steps = 0
        after = 0
        while True:
            page = basin_rows.trained_page(
                session, god, shadow=shadow, after_id=after, limit=REBUILD_CHUNK
            )
            if not page:
                break
            after = int(page[-1][0])
            good, _bad = basin_rows.split_decodable(basin_rows.fill_claimed(session, page, encoder))
            claimed = Claimed.from_rows(good)
            if not len(claimed):
                continue
            batch = Batch(claimed.basins, claimed.rewards, claimed.successes)
            steps += int(timescales.train_batch(kernel, batch, epochs=epochs)["steps"])
            rows_used += len(claimed)
        version = _save_rebuilt(
            service, session, record, kernel, rows_used=rows_used, steps=steps, t0=t0
        )
    service.kernels.keep(name, version, kernel)
    log.info(
        "kernel %s rebuilt on %d stored outcomes for coordizer %s", name, rows_used, encoder.version
    )
    return {"kernel": name, "outcomes": rows_used, "steps": steps, "version": version}


def _save_rebuilt(
    service: TrainingService,
    session: Session,
    record: KernelRecord,
    kernel: Kernel,
    *,
    rows_used: int,
    steps: int,
    t0: float,
) -> int:
    from_version = record.coordizer_version
    version = service.kernels.save(
        session,
        record,
        kernel,
        trigger="recoordize",
        extra_metrics={"rebuilt_from_coordizer": from_version},
    )
    kernel_rows.record_training(
        session,
        kernel_name=record.name,
        god_name=god_of(record.name),
        timescale="restore",
        outcomes=rows_used,
        steps=steps,
        loss=finite(kernel.running_loss),
        reward=finite(kernel.running_reward),
        step_count=kernel.step_count,
        version=version,
        duration_ms=(time.monotonic() - t0) * 1000,
        details={
            "rebuild": "recoordize",
            "from_coordizer": from_version,
            "to_coordizer": current_version(),
            "from_version": record.version,
        },
    )
    return version


def recoordize(service: TrainingService, progress: Progress | None = None) -> RecoordizeResult:
    """Basins first, then every stale kernel (god before its shadow, in name order)."""
    t0 = time.monotonic()
    result = RecoordizeResult(coordizer_version=current_version())
    result.basins_written, _finished = recoordize_basins(service, progress)
    with service.database.session(write=False) as session:
        records = kernel_rows.list_all(session)
    stale = [r.name for r in records if is_stale(r)]
    result.kernels_current = len(records) - len(stale)
    if progress is not None:
        progress("kernels", 0, len(stale))
    for i, name in enumerate(stale, 1):
        if rebuild_kernel(service, name) is not None:
            result.kernels_rebuilt.append(name)
        if progress is not None:
            progress("kernels", i, len(stale))
    result.duration_s = round(time.monotonic() - t0, 3)
    return result


def heal(service: TrainingService, budget_seconds: float) -> dict[str, object] | None:
    """The hourly batch's self-repair after a coordizer change: when some kernel is stale,
    recompute stored basins for up to ``budget_seconds`` and, once none is left, rebuild
    the stale kernels. None (one query of the kernels table) when every kernel is current.
    ``pantheon db recoordize`` does the same at once, without a budget."""
    if not status(service).stale_kernels:
        return None
    deadline = time.monotonic() + budget_seconds
    written, finished = recoordize_basins(service, deadline=deadline)
    rebuilt: list[str] = []
    if finished:
        result = recoordize(service)  # basins: nothing left but newcomers; then kernels
        written += result.basins_written
        rebuilt = result.kernels_rebuilt
    log.info("recoordize step: %d basins, kernels rebuilt: %s", written, rebuilt or "none")
    return {"basins_written": written, "finished": finished, "kernels_rebuilt": rebuilt}
