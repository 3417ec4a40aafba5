#!/bin/bash
# The original's ACT_Scaffold_GS/train_scaffold_act.sh: Scaffold-GS + ACT maps of the Cambridge Landmarks scenes
# (GS-CPR's semantic masks where present). The ACT weights land next to the model, in
# .../train/output/point_cloud/iteration_<N>/act.pt; render with `gscpr render ... --act <that file>`.
# Same options as train_scaffold.sh.
exec "$(dirname "$0")/train_scaffold.sh" --datasets cambridge --act "$@"
