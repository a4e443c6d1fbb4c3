#!/usr/bin/env bash
# Make a trained checkpoint the shipped default, then remeasure every figure the docs quote.
#
#   tools/ship_weights.sh checkpoints/NAME [runs/ship_NAME]
#
# Order matters: the gate is trained on the checkpoint and written as the shipped weights, the int8
# plan and the starter gestures are rebuilt from those, and only then is anything measured. The
# speed figures (calibrate, bench) need a quiet machine: PAUSE_PIDS="pid ..." are stopped
# (SIGSTOP) while they run and continued after, e.g. a training run's. About 20 minutes on the 2-core machine; logs and outputs go to the second argument.
# The numbers still have to be copied into README.md and docs/ by hand (docs/MODEL_CARD.md says where).
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=${1:?usage: tools/ship_weights.sh checkpoints/NAME [work dir]}
work=${2:-runs/ship_$(basename "$ckpt")}
py=${PYTHON:-.venv/bin/python}
folders=(gesture_lab sign_digits webcam_rooms asl_letters finger_count)
clip=../shared/data/asl_video
mkdir -p "$work"

step() { echo "== $*" >&2; }
quiet() {  # run "$@" with PAUSE_PIDS stopped
    [ -n "${PAUSE_PIDS:-}" ] && kill -STOP $PAUSE_PIDS
    trap '[ -n "${PAUSE_PIDS:-}" ] && kill -CONT $PAUSE_PIDS' RETURN
    sleep 2
    "$@"
}

gate_args=()
for f in "${folders[@]}"; do
    gate_args+=(--data "teacher:data/teacher/$f:train" --held-out "teacher:data/teacher/$f:val")
done
# The gate is chosen on counting_wall (new people) as well as on held-out files of the training
# folders: chosen on those alone, it spent the 2% error budget there and more on new people. The
# ASL clip stays out, to check it (docs/MODEL_CARD.md, "Gate"). One thread: REINFORCE lands on
# other gates when the cached outputs differ in the last bits, as they do between thread counts.
gate_args+=(--held-out teacher:data/teacher/counting_wall)
step "gate (lambda, seed and tau_gate sweep) -> dirnet/pretrained/dirnet_default"
OMP_NUM_THREADS=1 $py -m dirnet.training.gate --weights "$ckpt" "${gate_args[@]}" --limit 600 \
    --out dirnet/pretrained/dirnet_default 2>&1 | tee "$work/gate.log"

step "int8 plan"
rm -f dirnet/pretrained/dirnet_default.int8.json
quiet $py -m dirnet.runtime.calibrate 2>&1 | tee "$work/calibrate.log"

step "starter gestures"
$py tools/build_gestures.py 2>&1 | tee "$work/gestures.log"

step "speed against MediaPipe"
quiet $py -m dirnet.bench 2>&1 | tee "$work/bench.log"

step "benchmark of hands it never saw"
$py -m dirnet.evaluation.benchmark --limit 400 --out "$work/benchmark" 2>&1 | tee "$work/benchmark.log"
cp "$work/benchmark/benchmark.json" docs/generalisation/dirnet_default.json

step "exit ranges on the ASL clip"
$py tools/exit_sweep.py 2>&1 | tee "$work/exit_sweep.log"

step "per-folder accuracy"
eval_args=(--data synth:data/synth/test128)
for f in "${folders[@]}"; do eval_args+=(--data "teacher:data/teacher/$f:val"); done
eval_args+=(--data "video:$clip/asl_hand.25fps.mp4:$clip/asl_hand.full.json:$clip/asl_hand_3d.full.json")
$py -m dirnet.evaluation --weights weights/dirnet_default "${eval_args[@]}" --out docs/eval \
    2>&1 | tee "$work/eval.log"
$py -m dirnet.evaluation --weights weights/dirnet_default --data synth:data/synth/test128 --mediapipe \
    --exit gate --out docs/eval_vs_mediapipe 2>&1 | tee "$work/eval_vs_mediapipe.log"

step "crop framing"
$py tools/framing_study.py --teacher "${folders[@]/#/data/teacher/}" 2>&1 | tee "$work/framing.log"

step "screenshots"
xvfb-run -a -s "-screen 0 1920x1080x24" $py main.py --fresh --source demo --show-mediapipe \
    --max-frames 150 --screenshot docs/app_screenshot.png
xvfb-run -a -s "-screen 0 1280x720x24" $py main.py --fresh --source demo \
    --max-frames 150 --screenshot docs/app_screenshot_1280x720.png

step "done: $work"
