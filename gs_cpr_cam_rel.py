"""GS-CPR_rel on cambridge, with the original's command line (run from the GS-CPR root):

    python gs_cpr_cam_rel.py --pose_estimator dfnet --scene <scene>
    python gs_cpr_cam_rel.py --pose_estimator dfnet --test_all

See gscpr/paper/run.py for the layout it reads and writes and for the options (--matcher xfeat; --solver
essential or mast3r-pair: the two-view solver).
"""

import sys

from gscpr.outputs import run_command


def _main() -> int:
    from gscpr.paper.run import main  # loaded inside the handler: Ctrl-C while torch loads is one line too

    return main("cambridge", relative=True)


if __name__ == "__main__":
    sys.exit(run_command(_main))
