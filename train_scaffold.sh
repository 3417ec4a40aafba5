#!/bin/bash
# The original's ACT_Scaffold_GS/train_scaffold.sh: Scaffold-GS maps with GS-CPR's settings (voxel 0.001,
# update_init_factor 4, no appearance embedding, 30k steps), trained from the COLMAP model in
# ACT_Scaffold_GS/data/<dataset>/scene_<scene>/train with `gscpr train --model scaffold`. Run from the GS-CPR root:
#   ./train_scaffold.sh [--datasets "7scenes 12scenes"] [--scenes "chess fire"] [original options] [--overwrite]
#       [-- extra `gscpr train` args]
#
# The original's options, each doing what it does there:
#   -l, --logdir L        the original's output layout: ACT_Scaffold_GS/outputs/<dataset>/scene_<scene>/L/<time>,
#                         a new folder per run. Without -l the model goes to .../scene_<scene>/train/output, where
#                         the render scripts look (the original always writes under outputs/; its users then copy
#                         the folder to train/output).
#   -d, --data D          one scene, as the original's data/D: D is <dataset>/scene_<scene> (its train/ folder is
#                         trained) or any dataset folder under ACT_Scaffold_GS/data, or a path. GS-CPR's own script
#                         parses -d but its loop over a fixed scene list overwrites it; here it replaces --datasets
#                         and --scenes.
#   --lod N               recorded in cfg_args (the original splits by it only with --eval, which it never passes).
#   --gpu G               CUDA_VISIBLE_DEVICES=G, as the original's train.py does (-1: leave it as it is).
#   --warmup V            V = True: the original's two passes (`gscpr train --warmup`); any other V: one pass.
#   --voxel_size V, --update_init_factor F, --appearance_dim A, --ratio R (anchors from every R-th SfM point),
#   --iterations N (30_000 or 30000): the `gscpr train` options of the same names.
# The original's script also hands train.py --port (its network viewer; there is none here) and --render_scene
# (the scene name its ACT training builds mask and checkpoint paths from; here --masks and <model>/act.pt).
# --overwrite replaces a model already in the output folder; without it an existing model is never touched
# (`gscpr train` stops with one line naming the folder). --resume continues a run cut short from its last
# checkpoint (`gscpr train --resume`).
# --act (train_scaffold_act.sh) trains ACT with the map, with GS-CPR's semantic masks where
# ACT_Scaffold_GS/data/Cambridge_semantic/<Scene>_semantic_train exists; the ACT lands in <model>/act.pt.
set -euo pipefail
datasets="7scenes 12scenes"; scenes=""; voxel_size=0.001; update_init_factor=4; appearance_dim=0
iterations=30000; ratio=1; lod=0; warmup=False; logdir=""; data=""; act=""; overwrite=""; extra=()
while [[ $# -gt 0 ]]; do
    case $1 in  # an option that takes a value and has none: one line, not bash's "unbound variable"
        --datasets|--scenes|-l|--logdir|-d|--data|--lod|--gpu|--warmup|--voxel_size|--update_init_factor|\
        --appearance_dim|--ratio|--iterations)
            [[ $# -ge 2 ]] || { echo "train_scaffold.sh: $1 needs a value" >&2; exit 2; } ;;
    esac
    case $1 in
        --datasets) datasets="$2"; shift ;;
        --scenes) scenes="$2"; shift ;;
        -l|--logdir) logdir="$2"; shift ;;
        -d|--data) data="$2"; shift ;;
        --lod) lod="$2"; shift ;;
        --gpu) [ "$2" != "-1" ] && export CUDA_VISIBLE_DEVICES="$2"; shift ;;
        --warmup) warmup="$2"; shift ;;
        --voxel_size) voxel_size="$2"; shift ;;
        --update_init_factor) update_init_factor="$2"; shift ;;
        --appearance_dim) appearance_dim="$2"; shift ;;
        --ratio) ratio="$2"; shift ;;
        --iterations) iterations="${2//_/}"; shift ;;
        --overwrite) overwrite=1 ;;
        --resume) extra+=(--resume) ;;
        --act) act=1 ;;
        --) shift; extra+=("$@"); break ;;
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
    esac
}
# Every dataset is checked before any training (scenes_of runs in a subshell, where exit would not stop the script).
if [ -z "$data" ]; then
    for dataset in $datasets; do
        case $dataset in
            7scenes|12scenes|cambridge) ;;
            *) echo "train_scaffold.sh: unknown dataset $dataset (7scenes, 12scenes or cambridge)" >&2; exit 2 ;;
        esac
    done
fi
# The scenes to train, as the original's data values: <dataset>/scene_<scene> (relative to ACT_Scaffold_GS/data).
todo=()
if [ -n "$data" ]; then
    todo=("$data")
else
    for dataset in $datasets; do
        for scene in ${scenes:-$(scenes_of "$dataset")}; do todo+=("${dataset}/scene_${scene}"); done
    done
fi
time=$(date "+%Y-%m-%d_%H:%M:%S")  # the original's run folder name
for d in "${todo[@]}"; do
    d="${d%/}"; d="${d%/train}"; d="${d#ACT_Scaffold_GS/data/}"
    base="ACT_Scaffold_GS/data/$d"
    [ -d "$base" ] || [ ! -d "$d" ] || base="$d"  # a path given as is
    if [ -d "$base/train" ]; then src="$base/train"; else src="$base"; fi
    if [ -n "$logdir" ]; then
        rel="$d"; [[ $rel != /* ]] || rel=$(basename "$rel")
        out="ACT_Scaffold_GS/outputs/${rel}/${logdir}/${time}"
    else
        out="$src/output"
    fi
    args=(--model scaffold --data "$src" --out "$out" --voxel-size "$voxel_size"
          --update-init-factor "$update_init_factor" --appearance-dim "$appearance_dim" --ratio "$ratio"
          --lod "$lod" --iterations "$iterations" --all-views)  # every image trains: the original has no --eval
    [ "$warmup" = "True" ] && args+=(--warmup)
    [ -n "$overwrite" ] && args+=(--overwrite)
    if [ -n "$act" ]; then
        args+=(--act)
        scene=$(basename "$base"); scene="${scene#scene_}"
        masks="ACT_Scaffold_GS/data/Cambridge_semantic/${scene}_semantic_train"
        [ -d "$masks" ] && args+=(--masks "$masks")
    fi
    echo "== $d -> $out"
    gscpr train "${args[@]}" "${extra[@]}"
done
