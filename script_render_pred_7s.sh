#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_7s.sh: render every coarse pose of every estimator and
# 7-Scenes scene into ACT_Scaffold_GS/data/7scenes/scene_<scene>/test/evaluate_<pe>/train_output/render_single_view.
# Run from the GS-CPR root (coarse_poses/, ACT_Scaffold_GS/data/); extra arguments go to `gscpr render`.
pes=('ace' 'marepo' 'dfnet' 'glace')
scenes=('chess' 'fire' 'heads' 'office' 'pumpkin' 'redkitchen' 'stairs')
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        gscpr render --dataset 7scenes --scene "$scene" --estimator "$pe" "$@"
    done
done
