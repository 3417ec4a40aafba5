"""GS-CPR_rel on cambridge, with the original's command line (run from the GS-CPR root):

    python gs_cpr_cam_rel.py --pose_estimator dfnet --scene <scene>
    python gs_cpr_cam_rel.py --pose_estimator dfnet --test_all

See gscpr/paper/run.py for the layout it reads and writes and for the options (--matcher xfeat; --solver
essential or mast3r-pair: the two-view solver).
"""

import sys

from gscpr.paper.run import main

if __name__ == "__main__":
    sys.exit(main("cambridge", relative=True))
