#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_cam.sh: Cambridge renders at 1920x1080 with each query's
# focal length (datasets/Cambridge_<Scene>/test/calibration) and its ACT colour transform
# (ACT_Scaffold_GS/logs/paper_models/<Scene>/030000.tar, applied with the released layout it was trained with).
# Run from the GS-CPR root; extra arguments go to `gscpr render`.
pes=('dfnet' 'ace' 'glace')
scenes=('KingsCollege' 'ShopFacade' 'OldHospital' 'StMarysChurch')
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        act="ACT_Scaffold_GS/logs/paper_models/${scene}/030000.tar"
        if [ -f "$act" ]; then
            gscpr render --dataset cambridge --scene "$scene" --estimator "$pe" --act "$act" --legacy-act-layout "$@"
        else
            echo "no ACT weights at $act: rendering $scene without ACT" >&2
            gscpr render --dataset cambridge --scene "$scene" --estimator "$pe" "$@"
        fi
    done
done
