#!/usr/bin/env bash
# One-call measurement campaign for the device machine (H100/H200): every suite, full shapes, CSVs into $OUT.
#
#   bash validation/campaign.sh                    # on the device machine, from the repository root
#   DEVICE=cpu QUICK=1 OUT=/tmp/c bash validation/campaign.sh   # smoke test anywhere
#
# Each suite runs in its own process under its own --time-budget-s (it stops starting cases when the budget is used
# and records "skipped: time budget" rows) and a hard `timeout`; the whole campaign stays under TOTAL_S seconds
# (default 480 s plus at most one 30 s hard-timeout overrun, well under the device machine's 10-minute call limit). Only read-only device queries are made.
# $OUT receives at most 8 files: one CSV per suite, campaign.tgz (meta.json files and logs) and summary.txt.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:?set OUT to the output folder}"
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
TOTAL_S="${TOTAL_S:-480}"
QUICK_FLAG=""
[ -n "${QUICK:-}" ] && QUICK_FLAG="--quick"
# suite:budget_s, in running order (cheap ceilings first, local last: it compiles kernels)
SUITES="${SUITES:-ceilings:20 gemm:30 attention:120 decode:70 variants:50 local:150}"
# suites whose ok rows also record the longest kernel of one profiled call (evidence of which backend ran)
KERNEL_SUITES="${KERNEL_SUITES:-attention variants}"
mkdir -p "$OUT"
SIDE="$(mktemp -d)"
START=$(date +%s)

if [ "$DEVICE" = cuda ] && command -v nvidia-smi >/dev/null; then  # read-only queries
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw,pstate \
    --format=csv | tee "$SIDE/nvidia_smi_before.csv"
fi
"$PYTHON" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())" 2>&1 | tee "$SIDE/env.txt"

for entry in $SUITES; do
  suite="${entry%%:*}"; budget="${entry##*:}"
  now=$(date +%s); left=$(( TOTAL_S - (now - START) - 25 ))
  [ "$left" -lt "$budget" ] && budget="$left"
  [ "$budget" -lt 1 ] && budget=1   # still writes the suite's rows, all "skipped: time budget"
  kflag=""; case " $KERNEL_SUITES " in *" $suite "*) kflag="--kernel-names";; esac
  echo "=== $suite: budget ${budget}s ($(( now - START ))s elapsed) $kflag"
  timeout -k 5 $(( budget + 30 )) "$PYTHON" -m validation.measure --suite "$suite" --device "$DEVICE" \
      --out "$OUT/$suite.csv" --time-budget-s "$budget" $QUICK_FLAG $kflag > "$SIDE/$suite.log" 2>&1
  rc=$?
  tail -n 2 "$SIDE/$suite.log"
  [ "$rc" -ne 0 ] && { echo "!!! $suite exited with $rc (124 = hard timeout); last lines:"; tail -n 15 "$SIDE/$suite.log"; }
  [ -f "$OUT/$suite.meta.json" ] && mv "$OUT/$suite.meta.json" "$SIDE/"
done

if [ "$DEVICE" = cuda ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw,pstate --format=csv > "$SIDE/nvidia_smi_after.csv" 2>&1
fi
"$PYTHON" -m validation.harness.summary "$OUT"/*.csv | tee "$OUT/summary.txt"
echo "total $(( $(date +%s) - START ))s"
tar -czf "$OUT/campaign.tgz" -C "$SIDE" . && rm -rf "$SIDE"
