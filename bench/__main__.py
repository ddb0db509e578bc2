"""Run every benchmark: ``python -m bench`` (or ``./run.sh bench``); ``python -m bench cam``
runs one, and ``python -m bench live --model vgg16 notebooks/02_filters.ipynb`` passes the
arguments after the benchmark's name on to it. Each module in this folder times helpers' implementation against a reference in
the same run and prints ratios, since absolute times on shared machines mean little."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folder = str(Path(__file__).parent)
    names = sorted(m.name for m in pkgutil.iter_modules([folder]) if not m.name.startswith("_"))
    wanted = []
    while args and not args[0].startswith("-") and args[0] in names:
        wanted.append(args.pop(0))
    if args and not wanted:
        print(f"Unknown benchmark {args[0]!r}; choose from {names}.", file=sys.stderr)
        return 2
    for name in wanted or names:
        print(f"=== bench/{name}.py")
        importlib.import_module(f"bench.{name}").main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
