"""Training scene models: the loop every trainer shares (``loop``), 3DGS (``gaussians``), Scaffold-GS (``scaffold``)
and ``gscpr train`` (``command``: :func:`train` does what the command does). Imports ``gscpr.splat`` and
``gscpr.data``; neither imports it."""

from .command import TrainResult, train

__all__ = ["TrainResult", "train"]
