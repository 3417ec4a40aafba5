"""``gscpr bench``: pose-refinement accuracy on a scene's held-out views under named perturbation protocols.

    gscpr bench --data data/nerf_synthetic/lego --train-steps 30000 --out bench/lego
    gscpr bench --data fox --model fox/point_cloud.ply --matchers xfeat lightglue --solvers paper poselib

or from Python, everything the command does::

    from gscpr.bench import BenchConfig, bench
    result = bench("data/nerf_synthetic/lego", "bench/lego", cfg=BenchConfig(protocols=("gsfeatloc",)))

Takes the test views of a dataset (the Blender test split; every 8th image of an instant-ngp, LLFF or COLMAP
capture, held out from training), perturbs their ground-truth poses with seeded noise under each protocol,
refines them with each matcher x solver, and reports success rates, median / mean errors, per-stage timings and
failures by cause. The model is given (``--model``), reused from ``OUT/model`` or trained there
(``--train-steps``, 3DGS on the train split).

Protocols (translations in NeRF-synthetic units: the cameras of its test views sit 4.0311 from the object;
another scene's are scaled by its camera distance ``D`` over 4.0311). The noise is applied in the camera frame:
the camera turns about its own centre by the rotation error and its centre moves by the translation error, so
that the pose errors of the coarse pose are exactly the drawn magnitudes.

=================  ============================================================================================
``gsfeatloc``      GSFeatLoc (Lee et al. 2025, its run script for Blender scenes): angle ~ N(0, 12.10°) about
                   a random positive-octant axis, translation ~ N(0, 0.87) along another; one generator seeded
                   0 per scene, drawn frame after frame in test-split order (axis, axis, angle, translation)
``icomma-small``   rotation U(0°, 20°], translation U(0, 0.1], uniformly random axis and direction
``icomma-medium``  rotation U(20°, 40°], translation U(0.1, 0.2]
``coarse-ace``     the errors of a good coarse estimator (ACE on 7-Scenes: ~0.3°, ~1 cm at ~2 m): half-normal
                   magnitudes with medians 0.3° and 0.005 D
``coarse-dfnet``   an absolute pose regressor (DFNet: ~2°, ~6 cm at ~2 m): medians 2° and 0.03 D
=================  ============================================================================================

Success is rotation error < 5° and translation error < 0.05 D (GSFeatLoc's criterion with the translation
normalised by the scene's scale, as its README states), reported with the stricter < 1° and < 0.01 D and with
GSFeatLoc's code's raw < 0.05 units. ``D`` is the median distance of the test cameras to the origin for
object-centred scenes (Blender) and the median rendered depth at the ground-truth poses otherwise.

Writes under ``--out``: ``bench.json`` (configuration, protocol parameters, seeds, per-run summaries and every
query's errors), ``bench.md`` (tables), and per run ``runs/<protocol>/<matcher>_<solver>/`` with the coarse
and refined poses, ``results.jsonl`` (resumable, as ``gscpr refine``) and thumbnails for ``gscpr report``.

Modules: ``protocols`` (the perturbations), ``scene_scale`` (``D`` and the success thresholds relative to it),
``thumbnails``, ``run`` (:func:`bench`, :func:`bench_scene`, :func:`summarize`), ``tables`` (``bench.md``) and
``cli`` (``gscpr bench``: arguments into :func:`bench`).
"""

from .protocols import PROTOCOLS, Protocol, perturb_frames
from .run import BenchConfig, bench, bench_scene, summarize
from .scene_scale import scene_distance
from .tables import format_tables

__all__ = [
    "PROTOCOLS",
    "BenchConfig",
    "Protocol",
    "bench",
    "bench_scene",
    "format_tables",
    "perturb_frames",
    "scene_distance",
    "summarize",
]
