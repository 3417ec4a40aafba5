#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_cam.sh: Cambridge renders at 1920x1080 with each query's
# focal length (datasets/Cambridge_<Scene>/test/calibration), written as seqN/frameM.png + .npy, each coloured by
# its query's ACT transform. `gscpr render` finds the weights itself: a gscpr-trained act.pt in the scene model's
# folder (ACT_Scaffold_GS/data/cambridge/scene_<Scene>/train/output), else the released
# ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar (in the channel layout it was trained with); it says which
# on stderr, or that there are none. Run from the GS-CPR root; extra arguments go to `gscpr render`.
# Exit status: 0 when every scene rendered, else the highest of the failed ones' (2: bad input).
pes=('dfnet' 'ace' 'glace')
scenes=('KingsCollege' 'ShopFacade' 'OldHospital' 'StMarysChurch')
# A scene that fails (its own line on stderr) does not stop the others; the exit status is the worst one's.
status=0; failed=()
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        gscpr render --dataset cambridge --scene "$scene" --estimator "$pe" "$@" || {
            rc=$?; failed+=("$pe/$scene"); [ "$rc" -gt "$status" ] && status=$rc
        }
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "$(basename "$0"): ${#failed[@]} of $((${#pes[@]} * ${#scenes[@]})) scene renders failed: ${failed[*]}" >&2
fi
exit "$status"
