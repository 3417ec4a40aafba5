"""The GS-CPR paper's experimental setup and commands, kept apart from the generic library.

    datasets.py   the paper's dataset table (scenes, estimators, render intrinsics) and the original's folders
    naming.py     the output files' names: ``GS_CPR_<pe>_results/refine_predictions/<pe>_refinew2c_mast3r_<scene>.txt``
    run.py        the runner behind ``gs_cpr_7s.py``, ``gs_cpr_12s.py``, ``gs_cpr_cam.py`` and the ``_rel`` scripts
    evaluate.py   ``gscpr eval --dataset ...``: an estimator's coarse (and refined) poses against the ground truth
    render.py     ``gscpr render --dataset ...``: renders at the coarse poses, the original's intrinsics and folders

This package imports the generic modules (``gscpr.evaluate``, ``gscpr.render_poses``, ``gscpr.pipeline``, ...);
they import it only inside their command-line functions. Importing ``gscpr.paper`` loads the dataset table only.
"""

from .datasets import DATASETS, PaperDataset, get_dataset, model_dir, render_dir

__all__ = ["DATASETS", "PaperDataset", "get_dataset", "model_dir", "render_dir"]
