"""Run every scene of a batch through its stages: sequentially (``local``) or on Ray (``ray``).

The driver (this process) walks each scene through the selected stages in order.
Before a stage is scheduled it computes the stage's fingerprint; when the
workspace's ``batch.json`` records the same hash and the outputs exist, the stage
is *skipped*. Otherwise the stage runs:

* ``ray``: one Ray task per (scene, stage) with the stage's resources
  (``num_gpus``/``num_cpus``), ``max_retries`` for lost workers (a killed or
  crashed worker process is retried; a Python exception is not, since bad input
  fails the same way again). Chunked stages (mask generation) run on actors that
  load their model once and take chunks from a queue.
* ``local``: the same work, one piece after the other, in this process.

A stage that fails marks its scene failed: the later stages of that scene are
*blocked*, the other scenes go on. Only a successful stage writes its marker, and
every stage writes its results atomically, so nothing half-written is mistaken for
a result. The outcome is a list of :class:`StageResult` rows, saved as a JSON
report with :func:`save_report`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from omniseg3d_mesh.progress import ProgressCallback, report
from omniseg3d_mesh.workspace import atomic_write_json, content_hash

from .spec import BatchSpec, SceneSpec
from .stages import STAGE_ORDER, ResourcePlan, Stage, StageTask, clear_marker, default_registry, is_done, write_marker

log = logging.getLogger(__name__)

__all__ = ["BatchOptions", "StageResult", "BatchReport", "run_batch", "save_report", "parse_stages"]

REPORT_VERSION = 1
Status = Literal["done", "skipped", "failed", "blocked"]


@dataclass
class BatchOptions:
    """How to run a batch.

    Attributes:
        stages: the stages to run, in pipeline order (a subset of masks, fit, discretize, render).
        executor: ``ray`` (tasks on a Ray cluster or a local Ray instance) or ``local`` (sequential).
        address: Ray cluster to join (``auto`` or ``HOST:PORT``); None starts a local Ray
            instance on this machine's cores (unless Ray is already initialised).
        num_cpus: cores of the local Ray instance (default: all).
        gpus_per_fit: GPUs per fit task when the cluster has GPUs (fractions share a GPU).
        cpus_per_fit: cores per fit task when it has none.
        max_retries: how often a task whose worker died is retried (Ray).
        mask_workers: mask-generation actors (default: one per GPU, or one without GPUs).
        rerun: ignore recorded results and run every selected stage again.
        verbose: let Ray print its own logs (worker output, raylet messages) here; by
            default they stay in Ray's log files (``/tmp/ray/session_latest/logs``).
    """

    stages: tuple[str, ...] = STAGE_ORDER
    executor: Literal["ray", "local"] = "ray"
    address: str | None = None
    num_cpus: int | None = None
    gpus_per_fit: float = 1.0
    cpus_per_fit: float = 1.0
    max_retries: int = 2
    mask_workers: int | None = None
    rerun: bool = False
    verbose: bool = False


@dataclass
class StageResult:
    """What happened to one stage of one scene.

    Attributes:
        scene: scene name.
        stage: stage name.
        status: done (ran now), skipped (up to date, or not needed), failed, blocked (an earlier stage failed).
        seconds: wall time of the stage (0 when skipped/blocked).
        error: the error message (failed/blocked), or None.
        note: why it was skipped, or extra information from the stage.
    """

    scene: str
    stage: str
    status: Status
    seconds: float = 0.0
    error: str | None = None
    note: str | None = None


@dataclass
class BatchReport:
    """All stage results of a batch, in completion order, with the totals."""

    spec: str
    executor: str
    stages: list[str]
    started: str
    seconds: float
    results: list[StageResult] = field(default_factory=list)

    def failed_scenes(self) -> dict[str, str]:
        """scene -> error of its failed stage."""
        return {r.scene: f"{r.stage}: {r.error}" for r in self.results if r.status == "failed"}

    def status(self, scene: str, stage: str) -> str | None:
        for r in self.results:
            if r.scene == scene and r.stage == stage:
                return r.status
        return None

    def counts(self) -> dict[str, dict[str, int]]:
        """stage -> {status: count}."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            out.setdefault(r.stage, {}).setdefault(r.status, 0)
            out[r.stage][r.status] += 1
        return out

    def to_dict(self) -> dict:
        return {
            "version": REPORT_VERSION,
            "spec": self.spec,
            "executor": self.executor,
            "stages": self.stages,
            "started": self.started,
            "seconds": self.seconds,
            "summary": self.counts(),
            "failed_scenes": self.failed_scenes(),
            "results": [asdict(r) for r in self.results],
        }


def save_report(path: str | Path, report_: BatchReport) -> Path:
    """Write the report as JSON (atomically)."""
    return atomic_write_json(path, report_.to_dict())


def parse_stages(text: str | list[str] | tuple[str, ...], registry: dict[str, Stage] | None = None) -> tuple[str, ...]:
    """``"fit,discretize"`` -> ("fit", "discretize") in registry order; unknown names are an error."""
    registry = registry if registry is not None else default_registry()
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [n for n in names if n not in registry]
    if unknown or not names:
        raise ValueError(
            f"--stages: unknown stage(s) {', '.join(unknown) or '(none given)'}; expected a comma-separated subset of "
            f"{','.join(registry)}"
        )
    return tuple(n for n in registry if n in names)


# --------------------------------------------------------------------------- executors
def _format_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _run_stage_task(stage: Stage, task: StageTask, threads: int | None = None) -> dict:
    """Run one per-scene stage (in a worker process or in-process).

    ``threads``: the cores the task was given. Ray sets OMP_NUM_THREADS for a new
    worker, but a reused worker keeps the torch thread count of its first task, so
    it is set here for every task.
    """
    if threads is not None:
        import sys

        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    start = time.perf_counter()
    info = stage.run(task)  # type: ignore[misc]
    return {
        "seconds": time.perf_counter() - start,
        "info": info if isinstance(info, dict) else None,
        "pid": os.getpid(),
    }


class _StageWorker:
    """Holds one loaded model of a chunked stage and runs chunks with it (a Ray actor, or in-process)."""

    def __init__(self, stage: Stage, task: StageTask):
        self.stage = stage
        self.model = stage.load_model(task)  # type: ignore[misc]
        self.chunks_done = 0

    def run_chunk(self, task: StageTask, chunk: Any) -> dict:
        start = time.perf_counter()
        info = self.stage.run_chunk(self.model, task, chunk)  # type: ignore[misc]
        self.chunks_done += 1
        return {
            "seconds": time.perf_counter() - start,
            "info": info if isinstance(info, dict) else None,
            "pid": os.getpid(),
        }


@dataclass
class _Job:
    key: tuple
    stage: Stage
    task: StageTask
    chunk: Any = None
    chunked: bool = False


class _LocalExecutor:
    """Runs jobs one after the other in this process, in submission order."""

    name = "local"

    def __init__(self, options: BatchOptions):
        self.queue: deque[_Job] = deque()
        self.models: dict[tuple, _StageWorker] = {}

    def plan(self, options: BatchOptions) -> ResourcePlan:
        return ResourcePlan(gpus=False, gpus_per_fit=options.gpus_per_fit, cpus_per_fit=options.cpus_per_fit)

    def submit(self, job: _Job) -> None:
        self.queue.append(job)

    def pending(self) -> int:
        return len(self.queue)

    def wait(self) -> list[tuple[_Job, dict | None, str | None]]:
        job = self.queue.popleft()
        try:
            if job.chunked:
                mkey = (job.stage.name, job.stage.model_key(job.task) if job.stage.model_key else "")
                if mkey not in self.models:
                    self.models[mkey] = _StageWorker(job.stage, job.task)
                value = self.models[mkey].run_chunk(job.task, job.chunk)
            else:
                value = _run_stage_task(job.stage, job.task)
            return [(job, value, None)]
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - reported per scene, the batch goes on
            log.debug("stage %s of %s failed:\n%s", job.stage.name, job.task.scene.name, traceback.format_exc())
            return [(job, None, _format_error(exc))]

    def drop(self, scene: str) -> None:
        self.queue = deque(j for j in self.queue if j.task.scene.name != scene)

    def stage_finished(self, stage: str) -> None:
        for key in [k for k in self.models if k[0] == stage]:
            del self.models[key]

    def close(self) -> None:
        self.models.clear()


class _RayExecutor:
    """Runs jobs as Ray tasks (per-scene stages) and on Ray actors (chunked stages)."""

    name = "ray"

    def __init__(self, options: BatchOptions):
        from omniseg3d_mesh._deps import require

        self.ray = require("ray", "the ray executor of `omniseg-mesh batch` (or use --executor local)")
        self.options = options
        self.started_ray = False
        if not self.ray.is_initialized():
            # Ray's own output (raylet state dumps, worker prints) stays in its log files unless verbose
            quiet = {
                "log_to_driver": bool(options.verbose),
                "logging_level": logging.INFO if options.verbose else logging.ERROR,
            }
            if options.address:
                try:
                    self.ray.init(address=options.address, **quiet)
                except ConnectionError as exc:
                    raise ValueError(
                        f"--address {options.address}: no Ray cluster to join ({str(exc).splitlines()[0]}); fix: start one "
                        "with `ray start --head` (and `ray start --address=HEAD:6379` on the other nodes), or leave out "
                        "--address to run on a local Ray instance"
                    ) from None
            else:
                self.ray.init(num_cpus=options.num_cpus or os.cpu_count() or 1, include_dashboard=False, **quiet)
            if not options.verbose:
                log.info("Ray's own logs: /tmp/ray/session_latest/logs on each node (-v shows them here)")
            self.started_ray = True
        self.remote_task = self.ray.remote(_run_stage_task)
        self.remote_worker = self.ray.remote(_StageWorker)
        self.refs: dict[Any, _Job] = {}
        # chunked stages: per model key, a pool of actors, their idle list and a queue of chunks
        self.actors: dict[tuple, list] = {}
        self.idle: dict[tuple, list] = {}
        self.chunk_queue: dict[tuple, deque] = {}
        self.actor_of: dict[Any, Any] = {}
        self.actor_args: dict[tuple, tuple] = {}
        self._plan: ResourcePlan | None = None

    def plan(self, options: BatchOptions) -> ResourcePlan:
        if self._plan is None:
            gpus = float(self.ray.cluster_resources().get("GPU", 0.0))
            self._plan = ResourcePlan(
                gpus=gpus > 0, gpus_per_fit=options.gpus_per_fit, cpus_per_fit=options.cpus_per_fit
            )
            self.total_gpus = gpus
        return self._plan

    def submit(self, job: _Job) -> None:
        resources = job.stage.resources(self.plan(self.options))
        if not job.chunked:
            ref = self.remote_task.options(
                max_retries=self.options.max_retries,
                retry_exceptions=False,
                name=f"{job.stage.name}:{job.task.scene.name}",
                **resources,
            ).remote(job.stage, job.task, max(1, int(resources.get("num_cpus", 1))))
            self.refs[ref] = job
            return
        mkey = (job.stage.name, job.stage.model_key(job.task) if job.stage.model_key else "")
        self.chunk_queue.setdefault(mkey, deque()).append(job)
        if mkey not in self.actors:
            n = self.options.mask_workers or max(1, int(getattr(self, "total_gpus", 0)))
            self.actor_args[mkey] = (job.stage, job.task, resources)
            self.actors[mkey] = [self._new_actor(mkey) for _ in range(n)]
            self.idle[mkey] = list(self.actors[mkey])
        self._dispatch(mkey)

    def _new_actor(self, mkey: tuple) -> Any:
        stage, task, resources = self.actor_args[mkey]
        return self.remote_worker.options(
            max_restarts=self.options.max_retries, max_task_retries=self.options.max_retries, **resources
        ).remote(stage, task)

    def _dispatch(self, mkey: tuple) -> None:
        queue = self.chunk_queue.get(mkey)
        while queue and self.idle.get(mkey):
            job = queue.popleft()
            actor = self.idle[mkey].pop()
            ref = actor.run_chunk.remote(job.task, job.chunk)
            self.refs[ref] = job
            self.actor_of[ref] = (mkey, actor)

    def pending(self) -> int:
        return len(self.refs) + sum(len(q) for q in self.chunk_queue.values())

    def wait(self) -> list[tuple[_Job, dict | None, str | None]]:
        ray = self.ray
        ready, _ = ray.wait(list(self.refs), num_returns=1)
        out: list[tuple[_Job, dict | None, str | None]] = []
        for ref in ready:
            job = self.refs.pop(ref)
            actor_lost = False
            try:
                out.append((job, ray.get(ref), None))
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                out.append((job, None, _format_error(cause) if cause is not None else str(exc).splitlines()[0]))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError) as exc:
                actor_lost = isinstance(exc, ray.exceptions.RayActorError)
                out.append(
                    (
                        job,
                        None,
                        f"worker died {self.options.max_retries + 1} time(s) (retried {self.options.max_retries}x): {type(exc).__name__}",
                    )
                )
            except ray.exceptions.RayError as exc:
                out.append((job, None, _format_error(exc).splitlines()[0]))
            if ref in self.actor_of:
                mkey, actor = self.actor_of.pop(ref)
                if actor_lost:  # restarts used up: replace it so the queue keeps moving
                    self.actors[mkey].remove(actor)
                    actor = self._new_actor(mkey)
                    self.actors[mkey].append(actor)
                self.idle[mkey].append(actor)
                self._dispatch(mkey)
                self._release_if_idle(mkey)
        return out

    def _release_if_idle(self, mkey: tuple) -> None:
        """Kill a pool with nothing queued or running, so its GPUs go to other tasks (or another model's pool)."""
        if self.chunk_queue.get(mkey) or any(v[0] == mkey for v in self.actor_of.values()):
            return
        for actor in self.actors.pop(mkey, []):
            self.ray.kill(actor)
        self.idle.pop(mkey, None)
        self.chunk_queue.pop(mkey, None)

    def drop(self, scene: str) -> None:
        """Forget the queued chunks of a failed scene."""
        for q in self.chunk_queue.values():
            keep = [j for j in q if j.task.scene.name != scene]
            q.clear()
            q.extend(keep)

    def stage_finished(self, stage: str) -> None:
        """No scene needs ``stage`` any more: free its idle actors (and their GPUs) for later stages."""
        for mkey in [k for k in self.actors if k[0] == stage]:
            self._release_if_idle(mkey)

    def close(self) -> None:
        for ref in list(self.refs):  # only left after an interruption
            with contextlib.suppress(Exception):  # best effort while shutting down
                self.ray.cancel(ref, force=ref not in self.actor_of)
        for actors in self.actors.values():
            for actor in actors:
                self.ray.kill(actor)
        self.actors.clear()
        if self.started_ray:
            self.ray.shutdown()


# --------------------------------------------------------------------------- the driver
@dataclass
class _SceneState:
    scene: SceneSpec
    pending: list[str]
    chunks_left: int = 0
    chunk_results: list = field(default_factory=list)
    stage_start: float = 0.0
    stage_seconds: float = 0.0
    failed: bool = False
    inputs_hash: str = ""


def run_batch(
    spec: BatchSpec,
    options: BatchOptions | None = None,
    registry: dict[str, Stage] | None = None,
    progress: ProgressCallback | None = None,
    report_path: str | Path | None = None,
) -> BatchReport:
    """Run the selected stages for every scene of ``spec``.

    Args:
        spec: the scenes (see :func:`omniseg3d_mesh.batch.load_batch_spec`).
        options: executor, stages, retries, resources (default: the :class:`BatchOptions` defaults).
        registry: stage name -> :class:`Stage` (default: the real stages).
        progress: called as ``progress(stage, finished, total, completed=, skipped=, failed=, blocked=)``
            after each stage of each scene ends, ``finished`` counting scenes over all outcomes.
        report_path: when given, the JSON report is written there (atomically) at the end.

    Returns:
        The report; a scene that failed has a ``failed`` row with its error, the other
        scenes' rows are unaffected.

    Raises:
        ValueError: an unknown stage or executor.
        ImportError: ``executor="ray"`` without Ray installed (names the extra).
    """
    options = options if options is not None else BatchOptions()
    registry = registry if registry is not None else default_registry()
    unknown = [s for s in options.stages if s not in registry]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; expected some of {', '.join(registry)}")
    stages = [s for s in registry if s in options.stages]
    if options.executor not in ("ray", "local"):
        raise ValueError(f"executor must be 'ray' or 'local', found {options.executor!r}")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: list[StageResult] = []
    tallies = {s: {"done": 0, "skipped": 0, "failed": 0, "blocked": 0} for s in stages}
    states = {sc.name: _SceneState(sc, list(stages)) for sc in spec.scenes}
    # how many scenes still need each chunked stage (its workers are freed at 0)
    remaining = {s: len(spec.scenes) for s in stages}

    executor = _RayExecutor(options) if options.executor == "ray" else _LocalExecutor(options)

    def record(
        state: _SceneState,
        stage: str,
        status: Status,
        seconds: float = 0.0,
        error: str | None = None,
        note: str | None = None,
    ) -> None:
        results.append(StageResult(state.scene.name, stage, status, round(float(seconds), 3), error, note))
        tallies[stage][status] += 1
        remaining[stage] -= 1
        if remaining[stage] == 0:
            executor.stage_finished(stage)
        t = tallies[stage]
        report(
            progress,
            stage,
            sum(t.values()),
            len(spec.scenes),
            completed=t["done"],
            skipped=t["skipped"],
            failed=t["failed"],
            blocked=t["blocked"],
        )
        if status == "failed":
            log.warning("scene %s: %s failed: %s", state.scene.name, stage, error)

    def fail(state: _SceneState, stage: str, error: str, seconds: float = 0.0) -> None:
        state.failed = True
        executor.drop(state.scene.name)
        record(state, stage, "failed", seconds, error)
        for later in state.pending[1:]:
            record(state, later, "blocked", error=f"{stage} failed")
        state.pending = []

    def advance(state: _SceneState) -> None:
        """Skip up-to-date stages and submit the next one that needs to run."""
        while state.pending:
            name = state.pending[0]
            stage = registry[name]
            scene = state.scene
            try:
                reason = stage.applies(scene)
                if reason is not None:
                    state.pending.pop(0)
                    record(state, name, "skipped", note=reason)
                    continue
                inputs_hash = content_hash(name, stage.fingerprint(scene))
                if not options.rerun and is_done(stage, scene, inputs_hash):
                    state.pending.pop(0)
                    record(state, name, "skipped", note="up to date")
                    continue
                # about to (re)compute: forget this and the later stages' records first
                clear_marker(scene, list(state.pending))
                Path(scene.workspace).mkdir(parents=True, exist_ok=True)
                task = StageTask(name, scene, inputs_hash)
                state.inputs_hash = inputs_hash
                state.stage_start = time.perf_counter()
                if stage.chunked:
                    chunks = stage.chunks(task)  # type: ignore[misc]
                    state.chunks_left = len(chunks)
                    state.chunk_results = []
                    state.stage_seconds = 0.0
                    if not chunks:
                        raise ValueError(f"{scene.where}: stage {name} found nothing to do (no chunks)")
                    for chunk in chunks:
                        executor.submit(_Job((scene.name, name), stage, task, chunk, chunked=True))
                else:
                    executor.submit(_Job((scene.name, name), stage, task))
                return
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - a bad input fails this scene only
                fail(state, name, _format_error(exc))
                return

    def succeed(state: _SceneState, name: str, seconds: float, info: dict | None) -> None:
        write_marker(
            state.scene,
            name,
            state.inputs_hash,
            seconds=round(seconds, 3),
            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        note = None
        if info:
            note = (
                ", ".join(f"{k}={v}" for k, v in info.items() if isinstance(v, (int, float, str)) and k != "out")[:200]
                or None
            )
        state.pending.pop(0)
        record(state, name, "done", seconds, note=note)
        advance(state)

    try:
        for state in states.values():
            advance(state)
        while executor.pending():
            for job, value, error in executor.wait():
                state = states[job.task.scene.name]
                name = job.stage.name
                if state.failed or not state.pending or state.pending[0] != name:
                    continue  # a late chunk of a scene that already failed
                if not job.chunked:
                    if error is not None:
                        fail(state, name, error, time.perf_counter() - state.stage_start)
                    else:
                        assert value is not None  # no error: the task returned its result
                        succeed(state, name, float(value["seconds"]), value.get("info"))
                    continue
                if error is not None:
                    fail(state, name, error, time.perf_counter() - state.stage_start)
                    continue
                assert value is not None
                state.chunks_left -= 1
                state.stage_seconds += float(value["seconds"])
                state.chunk_results.append(value.get("info"))
                if state.chunks_left == 0:
                    try:
                        info = job.stage.finish(job.task, state.chunk_results) if job.stage.finish else None
                    except Exception as exc:  # noqa: BLE001
                        fail(state, name, _format_error(exc), state.stage_seconds)
                        continue
                    succeed(state, name, state.stage_seconds, info if isinstance(info, dict) else None)
    finally:
        executor.close()

    out = BatchReport(
        spec=str(spec.path),
        executor=executor.name,
        stages=stages,
        started=started,
        seconds=round(time.perf_counter() - t0, 3),
        results=results,
    )
    if report_path is not None:
        save_report(report_path, out)
    return out
