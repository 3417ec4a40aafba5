#!/bin/bash
# The original's ACT_Scaffold_GS/train_scaffold_act.sh: Scaffold-GS + ACT maps of the Cambridge Landmarks scenes
# (GS-CPR's semantic masks where present). The trained ACT lands next to the model, in <model>/act.pt (by default
# ACT_Scaffold_GS/data/cambridge/scene_<Scene>/train/output/act.pt, beside point_cloud/), where the render
# scripts pick it up; `gscpr render ... --act <that file>` takes it too. Same options as train_scaffold.sh.
exec "$(dirname "$0")/train_scaffold.sh" --datasets cambridge --act "$@"
