"""Several processes, one query set: ``torchrun`` sharding, per-rank result files and rank 0's merge.

    torchrun --nproc_per_node 4 -m gscpr refine --model scene.ply --data ... --poses ... --out out/
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint host:29500 gs_cpr_7s.py ...

Nothing changes in the command: :func:`init_distributed` reads torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``), each rank works on ``cuda:LOCAL_RANK`` (wrapped round the node's GPUs when there are more ranks
than GPUs; or on the CPU) and takes a deterministic share of the queries still to do (:func:`shard`, balanced by
pixel count), appends its records to ``shards/rank<r>.jsonl`` in the output folder, and rank 0 merges every
record into ``results.jsonl`` (in query order) once all ranks are done, then writes the poses, logs and tables
as a single process would. ``torch.distributed`` (NCCL or gloo, as the device asks; the barriers go through gloo
on the host) carries only barriers: results travel as files.

Resume is per query: every record already in ``results.jsonl`` or a shard file whose fingerprint still holds
(``gscpr.records``) is done, whoever wrote it, so a killed rank (or node) re-run with the same command redoes
only unfinished queries, and a different world size re-shards what is left.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import torch

__all__ = ["Dist", "init_distributed", "shard"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the run (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def gpu(self) -> int:
        """This rank's GPU index: ``LOCAL_RANK``, wrapped round the visible GPUs when a node runs more ranks than
        it has GPUs (two ranks sharing a GPU overlap one's host work with the other's kernels)."""
        n = torch.cuda.device_count()
        return self.local_rank % n if n else self.local_rank

    def device(self, requested: str) -> str:
        """``cuda`` becomes this rank's GPU (``cuda:<gpu>``); anything else is kept."""
        return f"cuda:{self.gpu}" if self.distributed and requested == "cuda" else requested

    def barrier(self) -> None:
        """Wait for every rank (a host-side all-reduce: no GPU kernel spins while slow ranks finish)."""
        if self.distributed:
            torch.distributed.all_reduce(torch.zeros(1), group=_host_group())


_HOST_GROUP = None


def _host_group():
    global _HOST_GROUP
    if _HOST_GROUP is None:
        backend = torch.distributed.get_backend()
        _HOST_GROUP = (
            torch.distributed.group.WORLD
            if backend == "gloo"
            else torch.distributed.new_group(backend="gloo", timeout=timedelta(days=7))
        )
    return _HOST_GROUP


def init_distributed(device: str = "cpu") -> Dist:
    """The :class:`Dist` of this process: rank 0 of 1 without torchrun; under torchrun the process group is
    initialised (NCCL for CUDA, gloo otherwise) and, on CUDA, this rank's GPU made current."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(d.gpu)
    if not torch.distributed.is_initialized():
        # Ranks wait at the final barrier until the slowest shard is done: allow long runs.
        torch.distributed.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(days=7))
        # Shut the group down before the interpreter does: gloo's threads left running abort the process at exit.
        atexit.register(_shutdown)
    return d


def _shutdown() -> None:
    global _HOST_GROUP
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _HOST_GROUP = None


def shard(weights: list[float], rank: int, world_size: int) -> list[int]:
    """Indices of the items rank ``rank`` takes: the heaviest first, each to the least loaded rank (ties to the
    lower rank), so that every rank gets about the same total weight (pixels to render and match). The same
    weights and world size give every rank the same split, whatever the order ranks start in; the indices of
    each share come back in their original order."""
    loads = [0.0] * world_size
    mine = []
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        loads[r] += weights[i]
        if r == rank:
            mine.append(i)
    return sorted(mine)
