"""Checks of the wheel set that travels to the GPU machine (see gpu_stage.sh and gpu_suite.sh).

    python3 benchmarks/gpu_wheels.py missing .whl     # requirements neither the image nor the wheels provide
    python3 benchmarks/gpu_wheels.py compiled .whl    # NAME==VERSION of the wheels built per Python version
    python3 benchmarks/gpu_wheels.py check /tmp/site  # there, after the install: unmet version requirements
    python3 benchmarks/gpu_wheels.py assemble .whl --compiled /tmp/whl311 --into /tmp/smoke_whl
        # the set for a local smoke run on another Python: the same pure-Python wheels, the compiled ones rebuilt

``missing`` reads each wheel's METADATA (markers evaluated for the target Python, extras
ignored) and fails when a requirement is met by neither :data:`IMAGE_PACKAGES` nor a wheel,
or when a package has two wheels (pip would stop). ``check`` runs where the wheels are
installed and lists, for every distribution in the folder, requirements whose installed
version is outside the declared range (as JSON): packages installed with ``--no-deps``
may still import, so it warns and never fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: The packages of the GPU machine's image ('cuda'), as the device notes list them (read 2026-11-17).
IMAGE_PACKAGES = frozenset(canonicalize_name(name) for name in """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())

#: Requirements left unmet on purpose, with the reason (they are not imported on the paths the suite runs).
NOT_CARRIED = {
    "pulp": "Snakemake's ILP scheduler only; the suite runs Snakemake with --scheduler greedy",
    "thermostat-datasets": "a ferret dataset loader that pulls in spaCy; benchmarks/ferret_side.py stands in for it",
    "opencv-python": "ferret imports cv2, which the image's opencv-python-headless provides",
    "tzdata": "pandas' time zone data, only where the system has none",
}

WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<tags>.+)\.whl$")


def wheel_parts(path: Path) -> tuple[str, str, str]:
    """(canonical name, version, tags) from a wheel's file name."""
    match = WHEEL_NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not named like a wheel (NAME-VERSION-TAGS.whl)")
    return canonicalize_name(match["name"]), match["version"], match["tags"]


def is_pure(tags: str) -> bool:
    """Whether a wheel's tags say it runs on any Python 3 (py3-none-any), not one version or platform."""
    python, abi, platform = tags.split("-")[-3:]
    return abi == "none" and platform == "any" and any(p in ("py3", "py2") for p in python.split("."))


def wheel_requirements(path: Path) -> list[Requirement]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")]


def marker_environment(python_version: str) -> dict[str, str]:
    """Marker values of CPython ``python_version`` on x86-64 Linux, without extras."""
    return {"python_version": python_version, "python_full_version": f"{python_version}.0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}


def missing_requirements(wheels: list[Path], python_version: str = "3.12") -> dict[str, list[str]]:
    """Requirement name -> the wheels that need it, for requirements met neither by the image nor by ``wheels``."""
    provided = {wheel_parts(w)[0] for w in wheels} | IMAGE_PACKAGES | set(NOT_CARRIED)
    environment = marker_environment(python_version)
    missing: dict[str, list[str]] = {}
    for wheel in wheels:
        for requirement in wheel_requirements(wheel):
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            if name not in provided:
                missing.setdefault(name, []).append(wheel_parts(wheel)[0])
    return missing


def duplicates(wheels: list[Path]) -> dict[str, list[str]]:
    """Packages with more than one wheel (pip refuses to install two versions of one package)."""
    seen: dict[str, list[str]] = {}
    for wheel in wheels:
        seen.setdefault(wheel_parts(wheel)[0], []).append(wheel.name)
    return {name: files for name, files in seen.items() if len(files) > 1}


def unmet_installed(folder: Path) -> list[dict[str, str]]:
    """For each distribution installed in ``folder``: requirements whose installed version is outside the range."""
    problems = []
    for dist in metadata.distributions(path=[str(folder)]):
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                installed = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                installed = None
            if installed is None and canonicalize_name(requirement.name) in NOT_CARRIED:
                continue
            if installed is None or not requirement.specifier.contains(installed, prereleases=True):
                problems.append({"package": dist.metadata["Name"], "requires": str(requirement),
                                 "installed": installed or "absent"})
    return problems


def assemble(wheels: list[Path], compiled: list[Path], into: Path) -> list[Path]:
    """Copy the pure-Python ``wheels`` and the ``compiled`` ones into ``into``; every version-specific wheel of
    ``wheels`` must have a counterpart of the same name and version in ``compiled``."""
    import shutil

    rebuilt = {wheel_parts(w)[:2]: w for w in compiled}
    chosen = []
    for wheel in wheels:
        name, version, tags = wheel_parts(wheel)
        if is_pure(tags):
            chosen.append(wheel)
        elif (name, version) in rebuilt:
            chosen.append(rebuilt[name, version])
        else:
            raise SystemExit(f"{wheel.name} has no counterpart {name}=={version} among the compiled wheels; "
                             f"run gpu_stage.sh --compiled-only for this Python")
    into.mkdir(parents=True, exist_ok=True)
    for wheel in chosen:
        shutil.copy2(wheel, into / wheel.name)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["missing", "compiled", "check", "assemble"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--compiled", type=Path, help="assemble: the folder of wheels built for the other Python")
    parser.add_argument("--into", type=Path, help="assemble: the folder to fill")
    args = parser.parse_args()
    if args.command == "assemble":
        chosen = assemble(sorted(args.folder.glob("*.whl")), sorted(args.compiled.glob("*.whl")), args.into)
        print(f"{len(chosen)} wheels in {args.into}")
        return 0
    if args.command == "check":
        problems = unmet_installed(args.folder)
        for problem in problems:
            print(f"warning: {problem['package']} requires {problem['requires']}, installed {problem['installed']}",
                  file=sys.stderr)
        print(json.dumps({"unmet_requirements": problems}))
        return 0
    wheels = sorted(args.folder.glob("*.whl"))
    if args.command == "compiled":
        print(" ".join(f"{name}=={version}" for name, version, tags in map(wheel_parts, wheels) if not is_pure(tags)))
        return 0
    missing, twice = missing_requirements(wheels, args.python_version), duplicates(wheels)
    for name, needed_by in sorted(missing.items()):
        print(f"missing: {name} (needed by {', '.join(sorted(set(needed_by)))})", file=sys.stderr)
    for name, files in sorted(twice.items()):
        print(f"two versions of {name}: {', '.join(files)}", file=sys.stderr)
    print(f"{len(wheels)} wheels, {len(missing)} requirements missing, {len(twice)} packages twice")
    return 1 if missing or twice else 0


if __name__ == "__main__":
    sys.exit(main())
