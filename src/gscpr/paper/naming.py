"""Where the paper's scripts write their results, in one place: the paper scripts (``gscpr.paper.run``) write
these files and ``gscpr eval --refined-dir/--log-dir`` (``gscpr.paper.evaluate``) reads and writes the same.

    outputs/<dataset>/GS_CPR_<pe>_results/                          results_dir(outputs, dataset, pe)
        refine_predictions/                                         predictions_dir(results)
            <pe>_refinew2c_mast3r_<scene>.txt                       refined_file(results, pe, scene)
            <scene>/                                                records_dir(results, scene): gscpr's
                                                                    results.jsonl, summary.md, config.json
        logs_<scene>.log                                            log_file(results, scene)

The refined pose file holds ``name qw qx qy qz tx ty tz`` lines (world-to-camera); its name says ``mast3r``
whatever the matcher, as the original's does. The ``_rel`` scripts write the same files under
``outputs/<dataset>/GS_CPR_rel_<pe>_results/`` (``results_dir(..., relative=True)``), never into the absolute
run's folder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "PREDICTIONS",
    "find_refined_file",
    "log_file",
    "predictions_dir",
    "records_dir",
    "refined_file",
    "refined_file_name",
    "results_dir",
]

#: The folder of the refined pose files inside ``GS_CPR_<pe>_results``.
PREDICTIONS = "refine_predictions"


def results_dir(outputs_dir: str | Path, dataset: str, estimator: str, relative: bool = False) -> Path:
    """``<outputs>/<dataset>/GS_CPR_<estimator>_results`` (``GS_CPR_rel_<estimator>_results`` for the ``_rel``
    scripts), as the original writes (``dataset``: ``7scenes``, ...)."""
    return Path(outputs_dir) / dataset / f"GS_CPR_{'rel_' if relative else ''}{estimator}_results"


def predictions_dir(results: str | Path) -> Path:
    """``<results>/refine_predictions``."""
    return Path(results) / PREDICTIONS


def refined_file_name(estimator: str, scene: str) -> str:
    """``<estimator>_refinew2c_mast3r_<scene>.txt``: the original's name of a scene's refined poses."""
    return f"{estimator}_refinew2c_mast3r_{scene}.txt"


def refined_file(results: str | Path, estimator: str, scene: str) -> Path:
    """``<results>/refine_predictions/<estimator>_refinew2c_mast3r_<scene>.txt``."""
    return predictions_dir(results) / refined_file_name(estimator, scene)


def records_dir(results: str | Path, scene: str) -> Path:
    """``<results>/refine_predictions/<scene>``: gscpr's per-query records of a scene (resume, shards, summary)."""
    return predictions_dir(results) / scene


def log_file(directory: str | Path, scene: str) -> Path:
    """``<directory>/logs_<scene>.log``: one log per scene, in the original's format (``evaluate.write_log``)."""
    return Path(directory) / f"logs_{scene}.log"


def find_refined_file(refined_dir: str | Path, estimator: str, scene: str) -> Path:
    """The refined poses of a scene under ``refined_dir``: a ``GS_CPR_<pe>_results`` folder (the file is in its
    ``refine_predictions/``) or the ``refine_predictions`` folder itself.

    Raises ``FileNotFoundError`` naming the expected path when neither holds the file.
    """
    refined_dir = Path(refined_dir)
    expected = refined_file(refined_dir, estimator, scene)
    for candidate in (expected, refined_dir / refined_file_name(estimator, scene)):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no refined poses for {scene}: expected {expected}")
