#!/usr/bin/env bash
# Every CUDA path of the project in one run on a lent GPU (about 7 minutes), one summary table at the end.
# From the repository root:  bash benchmarks/gpu_check.sh [--cpu-dry-run] [--only sweep ...]
# Exit codes: 0 every check ok or skipped, 1 a check FAILED, 2 no CUDA device, 124 the last-resort timeout.
# The checks and their budgets: benchmarks/gpu_check.py.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
case " $* " in
  *" --cpu-dry-run "* | *" -h "* | *" --help "*) ;;
  *)
    # No NVIDIA device node, no WSL GPU, no nvidia-smi: say so at once (gpu_check.py asks CUDA itself too).
    if ! ls /dev/nvidia[0-9]* /dev/dxg >/dev/null 2>&1 && ! command -v nvidia-smi >/dev/null 2>&1; then
      echo "no CUDA device: nothing to check"
      exit 2
    fi
    ;;
esac
# gpu_check.py kills each check at its own budget; this is the whole run's last resort (7 min 40 s;
# GPU_CHECK_TIMEOUT=seconds for a longer dry run with --budget-scale).
limit=${GPU_CHECK_TIMEOUT:-460}
timeout --kill-after=10 "$limit" "$PYTHON" benchmarks/gpu_check.py "$@"
code=$?
if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
  echo "gpu_check: the whole run passed its $limit s limit and was stopped (exit $code)" >&2
fi
exit "$code"
