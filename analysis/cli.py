"""Command line: inspect the registries and check a config without running Snakemake.

    attention-study validate config/config.yaml
    attention-study methods | datasets | metrics | encoders
    attention-study explain --checkpoint results/default/sst2/minilm/0/model "a gripping film"
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
    from analysis.data import BUILTIN_DATASETS, DATASETS

    for name, spec in DATASETS.items():
        declared = BUILTIN_DATASETS[name]
        source = (f"generated_by={declared['generated_by']}" if spec.generator else
                  f"hub={spec.hub_id}{'/' + spec.hub_config if spec.hub_config else ''}"
                  f"{'@' + spec.revision if spec.revision else ''}")
        converter = f" hub_converter={declared['hub_converter']}" if declared.get("hub_converter") else ""
        print(f"{name:17s} {source:40s} train={spec.train_split:10s} eval={spec.eval_split:10s} "
              f"validation={spec.validation_split or '-':10s} labels={','.join(spec.label_names)}{converter}")
    print("\nA config entry with one of these names overrides its keys; an entry of your own with a `hub` block "
          "reads another hub dataset (keys: workflow/schemas/config.schema.yaml, datasets).")


def _encoders() -> None:
    from analysis.attention.encoder_support import supported_encoders_markdown

    print(supported_encoders_markdown())


def _metrics() -> None:
    from analysis.metrics.agreement import METRICS

    for name, metric in METRICS.items():
        print(f"{name:18s} {getattr(metric, 'description', '')}")


def _explain(args: argparse.Namespace) -> int:
    """Explain texts with a checkpoint or run folder; print a word x method table per text."""
    from analysis.api import Explainer
    from analysis.importance import MethodSettingsError
    from analysis.models import CheckpointError
    from analysis.registry import UnknownNameError

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        explainer = Explainer.from_checkpoint(args.checkpoint, revision=args.revision, num_labels=args.num_labels,
                                              allow_untrained_head=args.allow_untrained_head, device=args.device)
        explanation = explainer.explain(args.texts, methods=methods)
    except (CheckpointError, UnknownNameError, MethodSettingsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if explainer.untrained_head:
        print(f"note: {args.checkpoint} has no fine-tuned classification head; the prediction below comes from a "
              f"randomly initialised head and means nothing, and so do the scores that explain it.")
    for text in explanation.texts.itertuples():
        kept = (f"; only the first {text.n_words_kept} of {text.n_words} words fit the model"
                if text.n_words_kept < text.n_words else "")
        print(f"\ntext {text.text_id}: predicted {text.predicted_label} (probability {text.probability:.3f}){kept}")
        table = explanation.word_table(text.text_id)
        table.index.name = None
        print(table.to_string(float_format=lambda value: f"{value:.3g}"))
    if args.out:
        path = explanation.save(args.out)
        print(f"\nwrote {len(explanation.scores)} rows (text x word x method) to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attention-study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="validate a study config and print what it will run")
    check.add_argument("config")
    sub.add_parser("methods", help="list importance methods")
    sub.add_parser("datasets", help="list datasets")
    sub.add_parser("metrics", help="list agreement metrics")
    sub.add_parser("encoders", help="supported encoder families: the attention methods that run and those refused")
    explain = sub.add_parser("explain", help="explain texts with a checkpoint or a trained run folder",
                             description="Explain the predicted class of each TEXT with every named method; print "
                                         "a word x method table per text.")
    explain.add_argument("--checkpoint", required=True,
                         help="hub id, local checkpoint folder, 'minilm-package', or a run folder of the study "
                              "(results/<study>/<dataset>/<model>/<seed>/model)")
    explain.add_argument("--revision", help="hub commit, tag or branch of the checkpoint")
    explain.add_argument("--methods", help="comma-separated method names (default: the model's raw attention, "
                                           "saliency, integrated_gradients, loo_delete); see `attention-study methods`")
    explain.add_argument("--out", help="write the tidy table (one row per text x word x method) to this parquet file")
    explain.add_argument("--allow-untrained-head", action="store_true",
                         help="explain a checkpoint without a fine-tuned classification head (its prediction is random)")
    explain.add_argument("--num-labels", type=int, help="classes of a checkpoint without a head (default 2)")
    explain.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    explain.add_argument("texts", nargs="+", metavar="TEXT")
    args = parser.parse_args(argv)
    if args.command == "explain":
        return _explain(args)
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
    {"methods": _methods, "datasets": _datasets, "metrics": _metrics, "encoders": _encoders}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
