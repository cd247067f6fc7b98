"""`rnnlab export BUNDLE OUT [--format onnx] [--force]`: the bundle's network as ONNX, checked in onnxruntime
against PyTorch before it is written (rnnlab.export)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a model bundle (a training run's RUN_DIR/bundle)")
    p.add_argument("out", help="the export directory to write: model.onnx, export.json and the vocabularies")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="what to export to (default: onnx)")
    p.add_argument("--force", action="store_true", help="replace an export already at OUT")


def run(args: argparse.Namespace) -> int:
    from rnnlab.export import export_bundle

    meta = export_bundle(args.bundle, args.out, format=args.format, force=args.force)
    verified = meta["verified"]
    sizes = ", ".join(f"{c['batch']}x{c['length']}" for c in verified["checks"])
    print(f"export: {args.out} ({meta['task']}, opset {meta['opset']}; onnxruntime matches torch on batches {sizes} "
          f"within {verified['max_relative_diff']:.2g} of the outputs' scale, "
          f"tolerance {verified['relative_tolerance']:g})")
    return 0
