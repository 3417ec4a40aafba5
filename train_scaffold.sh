#!/bin/bash
# The original's ACT_Scaffold_GS/train_scaffold.sh: Scaffold-GS maps with GS-CPR's settings (voxel 0.001,
# update_init_factor 4, no appearance embedding, 30k steps), trained from the COLMAP model in
# ACT_Scaffold_GS/data/<dataset>/scene_<scene>/train into .../train/output, where the render scripts look.
# Run from the GS-CPR root:
#   ./train_scaffold.sh [--datasets "7scenes 12scenes"] [--scenes "chess fire"] [--voxel_size V]
#       [--update_init_factor F] [--appearance_dim A] [--iterations N] [--gpu G] [-- extra `gscpr train` args]
# --act (train_scaffold_act.sh) trains ACT with the map, with GS-CPR's semantic masks where
# ACT_Scaffold_GS/data/Cambridge_semantic/<Scene>_semantic_train exists.
set -euo pipefail
datasets="7scenes 12scenes"; scenes=""; voxel_size=0.001; update_init_factor=4; appearance_dim=0
iterations=30000; act=""; extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --datasets) datasets="$2"; shift ;;
        --scenes) scenes="$2"; shift ;;
        --voxel_size) voxel_size="$2"; shift ;;
        --update_init_factor) update_init_factor="$2"; shift ;;
        --appearance_dim) appearance_dim="$2"; shift ;;
        --iterations) iterations="${2//_/}"; shift ;;
        --gpu) [ "$2" != "-1" ] && export CUDA_VISIBLE_DEVICES="$2"; shift ;;
        --act) act=1 ;;
        -l|--logdir|--lod|--ratio|-d|--data|--warmup)  # the original's options with no effect here
            echo "train_scaffold.sh: $1 is ignored (models go to .../train/output)" >&2
            [[ $1 != --warmup ]] && shift ;;
        --) shift; extra=("$@"); break ;;
        *) echo "train_scaffold.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
scenes_of() {
    case $1 in
        7scenes) echo chess fire heads office pumpkin redkitchen stairs ;;
        12scenes) echo apt1_kitchen apt1_living apt2_bed apt2_kitchen apt2_living apt2_luke office1_gates362 \
            office1_gates381 office1_lounge office1_manolis office2_5a office2_5b ;;
        cambridge) echo KingsCollege ShopFacade OldHospital StMarysChurch ;;
        *) echo "train_scaffold.sh: unknown dataset $1" >&2; exit 2 ;;
    esac
}
for dataset in $datasets; do
    for scene in ${scenes:-$(scenes_of "$dataset")}; do
        root="ACT_Scaffold_GS/data/${dataset}/scene_${scene}/train"
        args=(--model scaffold --data "$root" --out "$root/output" --voxel-size "$voxel_size"
              --update-init-factor "$update_init_factor" --appearance-dim "$appearance_dim" --iterations "$iterations")
        if [ -n "$act" ]; then
            args+=(--act)
            masks="ACT_Scaffold_GS/data/Cambridge_semantic/${scene}_semantic_train"
            [ -d "$masks" ] && args+=(--masks "$masks")
        fi
        echo "== $dataset $scene -> $root/output"
        gscpr train "${args[@]}" "${extra[@]}"
    done
done
