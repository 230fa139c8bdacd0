"""What ``fit`` does differently under ``torchrun --nproc_per_node=N``: join the process group,
wrap the model in ``DistributedDataParallel``, combine the epoch's loss and batch-norm buffers,
gather the validation predictions. Every other line of ``fit`` is the same on one process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn

from ctr_helpers.optim import is_embedding

__all__ = [
    "end_of_epoch",
    "gather_predictions",
    "setup",
    "sparse_allreduce",
    "sync_buffers",
    "teardown",
    "wrap",
]


def setup() -> tuple[int, int, torch.device | None]:
    """``(rank, world_size, device)``: joins the process group torchrun describes if there is one.

    ``WORLD_SIZE > 1`` in the environment and no group yet: create it, NCCL when CUDA is there
    (one GPU per process, ``LOCAL_RANK``), gloo otherwise. ``device`` is that GPU under NCCL and
    ``None`` otherwise (the caller decides). Without a group: ``(0, 1, None)``.
    """
    if dist.is_available() and not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            use_cuda = torch.cuda.is_available()
            if use_cuda:
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl" if use_cuda else "gloo")
    if dist.is_available() and dist.is_initialized():
        device = None
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return dist.get_rank(), dist.get_world_size(), device
    return 0, 1, None


def sparse_allreduce() -> bool:
    """Whether the process group can average sparse gradients: gloo can, NCCL cannot."""
    return dist.get_backend() != "nccl"


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` (gradients averaged over the ranks); ``model``
    itself is not changed (DDP copies rank 0's weights and buffers to every rank).

    DDP reads each embedding table's ``sparse`` flag here, once. Where there is no sparse
    all-reduce (NCCL, see :func:`sparse_allreduce`) every table must give dense gradients: ``fit``
    wraps inside ``optim.sparse_embedding_grads(model, sparse_allreduce())``, which restores the
    tables' own setting afterwards."""
    if not sparse_allreduce():
        sparse = [n for n, m in model.named_modules() if is_embedding(m) and m.sparse]
        if sparse:
            raise ValueError(
                f"{dist.get_backend()} cannot average sparse gradients, and these embedding "
                f"tables give them: {', '.join(sparse)}; wrap inside "
                "ctr_helpers.optim.sparse_embedding_grads(model, False)"
            )
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def end_of_epoch(loss_sum: torch.Tensor, model: nn.Module, device: torch.device) -> None:
    """Sum ``loss_sum`` over the ranks in place and give every rank rank 0's buffers."""
    dist.all_reduce(loss_sum)
    sync_buffers(model, device)


def gather_predictions(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    rank: int,
    world: int,
    device: torch.device,
) -> torch.Tensor:
    """Each rank runs ``predict`` (rows ``[n, F]`` -> logits ``[n]`` on the CPU) on a contiguous
    chunk of ``x`` ``[N, F]``; every rank gets all ``N`` logits back, on the CPU."""
    n = len(x)
    chunk = math.ceil(n / world)
    local = predict(x[rank * chunk : (rank + 1) * chunk])
    padded = torch.zeros(chunk, dtype=torch.float32)
    padded[: len(local)] = local
    padded = padded.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat(parts).cpu()[:n]


def sync_buffers(model: nn.Module, device: torch.device) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every rank, so all ranks hold one model."""
    for b in model.buffers():
        if b.is_floating_point() or b.dtype == torch.long:
            t = b.data.to(device)
            dist.broadcast(t, src=0)
            b.data.copy_(t)


def teardown(world: int) -> None:
    """Leave the process group (after the last collective), when there is one."""
    if world > 1:
        dist.destroy_process_group()
