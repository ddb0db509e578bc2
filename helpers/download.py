"""Fill the Keras cache before a class: ``python -m helpers.download [mobilenet vgg16 ...]``.

Run it once on a good connection; afterwards the notebooks load ImageNet models offline.
Without names it fetches every lecture network (561 MB, most of it VGG16's 528 MB).
"""

from __future__ import annotations

import sys

from helpers import imagenet
from helpers.cache import OfflineError
from helpers.models import LECTURE_MODELS, weights_path


def main(argv=None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or list(LECTURE_MODELS)
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
