#!/bin/bash
# The original's ACT_Scaffold_GS/script_render_pred_12s.sh (ACE, GLACE and marepo coarse poses on 12-Scenes).
# Run from the GS-CPR root; extra arguments go to `gscpr render`.
pes=('ace' 'marepo' 'glace')
scenes=('apt1_kitchen' 'apt1_living' 'apt2_bed' 'apt2_kitchen' 'apt2_living' 'apt2_luke' 'office1_gates362'
        'office1_gates381' 'office1_lounge' 'office1_manolis' 'office2_5a' 'office2_5b')
for pe in "${pes[@]}"; do
    for scene in "${scenes[@]}"; do
        gscpr render --dataset 12scenes --scene "$scene" --estimator "$pe" "$@"
    done
done
