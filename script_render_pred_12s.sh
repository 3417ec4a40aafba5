#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_12s.sh (ACE, GLACE and marepo coarse poses on 12-Scenes).
# Run from the GS-CPR root; extra arguments go to `gscpr render`.
# Exit status: 0 when every scene rendered, else the highest of the failed ones' (2: bad input).
pes=('ace' 'marepo' 'glace')
scenes=('apt1_kitchen' 'apt1_living' 'apt2_bed' 'apt2_kitchen' 'apt2_living' 'apt2_luke' 'office1_gates362'
        'office1_gates381' 'office1_lounge' 'office1_manolis' 'office2_5a' 'office2_5b')
# A scene that fails (its own line on stderr) does not stop the others; the exit status is the worst one's.
status=0; failed=()
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        gscpr render --dataset 12scenes --scene "$scene" --estimator "$pe" "$@" || {
            rc=$?; failed+=("$pe/$scene"); [ "$rc" -gt "$status" ] && status=$rc
        }
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "$(basename "$0"): ${#failed[@]} of $((${#pes[@]} * ${#scenes[@]})) scene renders failed: ${failed[*]}" >&2
fi
exit "$status"
