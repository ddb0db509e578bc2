"""ImageNet class names, both ways: index to name and name to index ('flamingo' -> 130)."""

from __future__ import annotations

import difflib
import functools
import json

from helpers.cache import fetch

CLASS_INDEX_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in index order, as Keras spells them ('tabby', 'Egyptian_cat').

    Raises:
        OfflineError: the class index is not cached and the network is unreachable.
    """
    path = fetch(
        "imagenet_class_index.json",
        CLASS_INDEX_URL,
        what="The ImageNet class names (imagenet_class_index.json)",
        fix="Run `python -m helpers.download` once while online, or copy the file into the "
        "Keras cache.",
    )
    index = json.loads(path.read_text())
    return tuple(index[str(i)][1] for i in range(len(index)))


def normalize(name: str) -> str:
    """Compare names loosely: case, spaces, hyphens and underscores do not matter."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def index_of(name: str, names: tuple[str, ...] | list[str]) -> int:
    """Index of class ``name`` in ``names``, forgiving case and spacing.

    Raises:
        ValueError: no class has that name; the message suggests the closest ones.
    """
    lookup = {normalize(n): i for i, n in enumerate(names)}
    key = normalize(name)
    if key in lookup:
        return lookup[key]
    close = difflib.get_close_matches(key, list(lookup), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown class name {name!r}.{hint} Use one of the model's `class_names` "
        f"({len(names)} classes), or search them with vm.find_classes('part')."
    )


def find(part: str, names: tuple[str, ...] | list[str]) -> list[tuple[int, str]]:
    """All (index, name) pairs whose name contains ``part`` (loosely compared)."""
    key = normalize(part)
    return [(i, n) for i, n in enumerate(names) if key in normalize(n)]
