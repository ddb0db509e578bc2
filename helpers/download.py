"""Fill the Keras cache before a class: ``python -m helpers.download [vgg16 mobilenet]``.

Run it once on a good connection; afterwards the notebooks load ImageNet models offline.
"""

from __future__ import annotations

import sys

from helpers import imagenet
from helpers.cache import OfflineError
from helpers.models import MODEL_NAMES, weights_path


def main(argv=None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or [n for n in MODEL_NAMES if n != "shapes"]
    try:
        print(f"class names: {len(imagenet.class_names())} classes cached")
        for name in names:
            print(f"{name}: {weights_path(name)}")
    except (OfflineError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
