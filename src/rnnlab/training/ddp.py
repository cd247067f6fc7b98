"""Data parallel training: this process's place in a torchrun launch and the few collectives we need.

Launched under torchrun (WORLD_SIZE > 1), every process builds the same batches; each takes a
contiguous 1/N of every global batch, and the loss is divided by the batch's item count summed over
processes, so the averaged gradient equals single-process training on the same global batch (up to
float reduction order). Backend: gloo on CPU, nccl on GPU.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from rnnlab.errors import UserError


class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when not under torchrun)."""

    def __init__(self, device_pref: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available")
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.initialized_here = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
            self.initialized_here = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the loss sees it: DistributedDataParallel around it when there are N processes."""
        if self.world == 1:
            return model
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def share(self, indices: list[int]) -> list[int]:
        """This rank's contiguous part of a global batch (parts differ in size by at most one)."""
        if self.world == 1:
            return indices
        if len(indices) < self.world:
            raise UserError(f"a batch of {len(indices)} examples cannot be split over {self.world} processes: "
                            f"raise train.batch_size")
        return [int(i) for i in np.array_split(np.asarray(indices), self.world)[self.rank]]

    def sum(self, values: list[float]) -> list[float]:
        """Sum small numbers over all processes."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def max(self, values: list[float]) -> list[float]:
        """The largest of each number over all processes."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def replica_spread(self, model: torch.nn.Module) -> float:
        """Largest difference of any parameter between processes (0.0 = identical replicas)."""
        if self.world == 1:
            return 0.0
        spread = 0.0
        for p in model.parameters():
            hi, lo = p.detach().clone(), p.detach().clone()
            dist.all_reduce(hi, op=dist.ReduceOp.MAX)
            dist.all_reduce(lo, op=dist.ReduceOp.MIN)
            spread = max(spread, (hi - lo).abs().max().item())
        return spread

    def close(self) -> None:
        if self.initialized_here:
            dist.destroy_process_group()
