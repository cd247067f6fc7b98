"""`rnnlab data [list|check NAME|download NAME]`: the datasets the recipes use, and your local copies."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=["list", "check", "download"],
                   help="list (default): what each dataset is; check NAME: verify a local copy; "
                        "download NAME: fetch it (where a stable URL exists), verifying sha256")
    p.add_argument("name", nargs="?", help="dataset name (see `rnnlab data`); check without NAME checks all")
    p.add_argument("--data-dir", help="the data directory (default: $RNNLAB_DATA)")
    p.add_argument("--mirror", help="download from MIRROR/NAME/PATH instead of the original URLs")


def run(args: argparse.Namespace) -> int:
    import os

    from rnnlab.datasets import DATASETS, check, data_dir, download, get_dataset
    from rnnlab.errors import UserError

    if args.action == "list":
        where = os.environ.get("RNNLAB_DATA")
        print(f"data directory: {args.data_dir or where or '(not set: export RNNLAB_DATA=/path/to/data)'}\n")
        for d in DATASETS.values():
            how = "rnnlab data download " + d.name if d.downloadable else "manual download"
            print(f"{d.name}\n  {d.summary}\n  source: {d.source}\n  licence: {d.licence}\n"
                  f"  layout: {d.name}/{d.layout}\n  get it: {how}\n")
        return 0
    if args.action == "download":
        if not args.name:
            raise UserError("download needs a dataset NAME (see `rnnlab data`)")
        download(get_dataset(args.name), data_dir(args.data_dir), mirror=args.mirror)
        return 0
    root = data_dir(args.data_dir)
    names = [args.name] if args.name else list(DATASETS)
    bad = 0
    for name in names:
        problems = check(get_dataset(name), root)
        print(f"{name}: " + ("ok" if not problems else "PROBLEMS"))
        for problem in problems:
            print(f"  {problem}")
        bad += bool(problems)
    if bad:
        raise UserError(f"{bad} dataset(s) failed the check under {root}")
    return 0
