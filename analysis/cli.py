"""Command line: inspect the registries and check a config without running Snakemake.

    attention-study validate config/config.yaml
    attention-study methods | datasets | metrics
"""

from __future__ import annotations

import argparse
import sys


def _methods() -> None:
    from analysis.importance import IMPORTANCE_METHODS

    for name, cls in IMPORTANCE_METHODS.items():
        kinds = ",".join(sorted(cls.model_kinds))
        print(f"{name:24s} family={cls.family:9s} signed={cls.signed!s:5s} gradients={cls.needs_gradients!s:5s} "
              f"models={kinds:15s} {cls.description}")


def _datasets() -> None:
    from analysis.data import DATASETS

    for name, spec in DATASETS.items():
        print(f"{name:12s} hub={spec.hub_id or '-':32s} splits={','.join(spec.splits):24s} "
              f"labels={','.join(spec.label_names)}")


def _metrics() -> None:
    from analysis.metrics.agreement import METRICS

    for name, metric in METRICS.items():
        print(f"{name:18s} {getattr(metric, 'description', '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attention-study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="validate a study config and print what it will run")
    check.add_argument("config")
    sub.add_parser("methods", help="list importance methods")
    sub.add_parser("datasets", help="list datasets")
    sub.add_parser("metrics", help="list agreement metrics")
    args = parser.parse_args(argv)
    if args.command == "validate":
        from analysis.config import ConfigError, load_config, methods_for

        try:
            config = load_config(args.config)
        except ConfigError as error:
            print(error, file=sys.stderr)
            return 2
        print(f"study {config['study']}: {len(config['datasets'])} datasets x {len(config['models'])} models x "
              f"{len(config['seeds'])} seeds")
        for model in config["models"]:
            print(f"  {model}: {', '.join(methods_for(config, model))}")
        return 0
    {"methods": _methods, "datasets": _datasets, "metrics": _metrics}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
