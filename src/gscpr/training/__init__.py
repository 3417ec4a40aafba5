"""Training scene models: the loop every trainer shares (``loop``), 3DGS (``gaussians``), Scaffold-GS
(``scaffold``) and ``gscpr train`` (``command``). Imports ``gscpr.splat`` and ``gscpr.data``; neither imports it."""
