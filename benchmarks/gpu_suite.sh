#!/usr/bin/env bash
# The GPU benchmark suite in one run of at most 8 minutes, on a machine without network.
#
#   bash benchmarks/gpu_stage.sh                      # first, here (network to PyPI): .whl/ and .gpu/
#   OUT=/some/dir bash benchmarks/gpu_suite.sh        # there: results in $OUT
#   OUT=/tmp/gpu_out GPU_WHEELS=/tmp/smoke_whl bash benchmarks/gpu_suite.sh --cpu-smoke   # a CPU check, tiny sizes
#   OUT=... bash benchmarks/gpu_suite.sh --only tiny_study      # a second try of some steps (after a fix)
#
# It installs the carried wheels (.whl/, or $GPU_WHEELS) into $GPU_SITE (default /tmp/site), puts
# that folder and the repository first on PYTHONPATH (the newer transformers shadows the image's;
# the environment step stops the run if it does not), and runs benchmarks/gpu_run.py: the
# environment, random-weight models built from configs, then the measurements, each in its own
# process with its own budget, most valuable first (the tiny study through Snakemake on the GPU,
# the explanation suite beside ferret, cost accounting in float32 and bfloat16, the whole
# importance suite on the 872 SST-2 validation sentences). It writes $OUT/gpu_results.json and
# $OUT/gpu_results.md after every step, each step's log beside them, and its own output to
# $OUT/suite.log: at most 8 files. `python benchmarks/gpu_report.py $OUT/gpu_results.json`
# renders the page again (e.g. into benchmarks/results/gpu_h200.md).
#
# The device tool: carry [".whl", ".gpu"], command `OUT=$OUT bash benchmarks/gpu_suite.sh`, timeout_s 540.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
: "${OUT:?set OUT to the folder the results go to}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/suite.log") 2>&1
say() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - start))s] $*"; }

python=${PYTHON:-python3}
site=${GPU_SITE:-/tmp/site}
wheels=${GPU_WHEELS:-.whl}
say "suite: $(uname -n), $("$python" --version 2>&1), $(nproc) cores; installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site"
if ! "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$wheels"/*.whl; then
  say "suite: the wheels did not install; nothing was measured"
  exit 2
fi
export PYTHONPATH="$site:$PWD" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
say "suite: installed; running benchmarks/gpu_run.py"
"$python" benchmarks/gpu_run.py --out "$OUT" --start "$start" --site "$site" "$@"  # --cpu-smoke, --only ...
code=$?
say "suite: finished with exit code $code; $(ls "$OUT" | tr '\n' ' ')"
exit $code
