"""Run every benchmark: ``python -m bench`` (or ``./run.sh bench``); ``python -m bench cam``
runs one. Each module in this folder times helpers' implementation against a reference in
the same run and prints ratios, since absolute times on shared machines mean little."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    wanted = (sys.argv[1:] if argv is None else argv)
    folder = str(Path(__file__).parent)
    names = sorted(m.name for m in pkgutil.iter_modules([folder]) if not m.name.startswith("_"))
    unknown = set(wanted) - set(names)
    if unknown:
        print(f"Unknown benchmark(s) {sorted(unknown)}; choose from {names}.", file=sys.stderr)
        return 2
    for name in wanted or names:
        print(f"=== bench/{name}.py")
        importlib.import_module(f"bench.{name}").main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
