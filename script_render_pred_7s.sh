#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_7s.sh: render every coarse pose of every estimator and
# 7-Scenes scene into ACT_Scaffold_GS/data/7scenes/scene_<scene>/test/evaluate_<pe>/train_output/render_single_view.
# Run from the GS-CPR root (coarse_poses/, ACT_Scaffold_GS/data/); extra arguments go to `gscpr render`.
# Exit status: 0 when every scene rendered, else the highest of the failed ones' (2: bad input).
pes=('ace' 'marepo' 'dfnet' 'glace')
scenes=('chess' 'fire' 'heads' 'office' 'pumpkin' 'redkitchen' 'stairs')
# A scene that fails (its own line on stderr) does not stop the others; the exit status is the worst one's.
status=0; failed=()
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        gscpr render --dataset 7scenes --scene "$scene" --estimator "$pe" "$@" || {
            rc=$?; failed+=("$pe/$scene"); [ "$rc" -gt "$status" ] && status=$rc
        }
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "$(basename "$0"): ${#failed[@]} of $((${#pes[@]} * ${#scenes[@]})) scene renders failed: ${failed[*]}" >&2
fi
exit "$status"
