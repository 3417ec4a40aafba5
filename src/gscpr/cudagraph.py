"""Replay small fixed-shape GPU functions as CUDA graphs.

Matching one query runs a few hundred small kernels (XFeat's convolutions, the sub-pixel step's element-wise
ops); on an H100 launching them costs several times the GPU work itself. A CUDA graph records the launches once
per input shape and replays them with one call. The function must have static shapes and never read a GPU
value on the host (no ``.item()``, ``nonzero`` or boolean indexing); on the CPU, or where capture fails, it is
simply called.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["GraphedFunction"]


class GraphedFunction:
    """``fn(*tensors) -> tuple[Tensor, ...]`` replayed from a CUDA graph captured for each input signature.

    Outputs are fresh tensors (copies of the graph's static outputs), so callers may keep them. At most
    ``max_graphs`` graphs are kept (least recently used dropped), each with its own memory pool.
    """

    def __init__(self, fn: Callable[..., tuple[Tensor, ...]], enabled: bool = True, max_graphs: int = 8):
        self.fn, self.enabled, self.max_graphs = fn, enabled, max_graphs
        self._graphs: OrderedDict[tuple, tuple[torch.cuda.CUDAGraph, tuple[Tensor, ...], tuple[Tensor, ...]]]
        self._graphs = OrderedDict()

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        if not (self.enabled and inputs[0].is_cuda):
            return self.fn(*inputs)
        key = tuple((t.shape, t.dtype, t.device) for t in inputs)
        if key not in self._graphs:
            try:
                self._graphs[key] = self._capture(inputs)
            except RuntimeError as e:  # an op that cannot be captured: run eagerly from now on
                warnings.warn(f"CUDA graph capture failed, running eagerly: {e}", stacklevel=2)
                self.enabled = False
                return self.fn(*inputs)
            if len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(key)
        graph, static_in, static_out = self._graphs[key]
        for s, t in zip(static_in, inputs, strict=True):
            s.copy_(t)
        graph.replay()
        return tuple(o.clone() for o in static_out)

    def _capture(self, inputs: tuple[Tensor, ...]):
        static_in = tuple(t.clone() for t in inputs)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up (cuDNN autotuning, lazy init) outside the capture
            for _ in range(2):
                self.fn(*static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(*static_in)
        return graph, static_in, static_out
