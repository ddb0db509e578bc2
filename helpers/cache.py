"""The Keras download cache: where files live, and downloads that fail fast when offline.

Keras keeps downloaded weights in ``$KERAS_HOME/models`` (default ``~/.keras/models``).
Everything here looks there first and only touches the network when a file is missing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import keras

#: Seconds to wait for a connection before declaring the machine offline.
CONNECT_TIMEOUT = 3.0
#: Set to 1 to never download (as if offline): what the lab-only test run and a class
#: without Wi-Fi see.
OFFLINE_ENV = "CNNVIS_OFFLINE"


class OfflineError(RuntimeError):
    """A file is needed from the internet, is not cached, and the network is unreachable."""


def keras_home() -> Path:
    """The Keras home folder: ``$KERAS_HOME`` or ``~/.keras``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def cached_path(fname: str) -> Path:
    """Where Keras keeps (or would keep) the downloaded model file ``fname``."""
    return keras_home() / "models" / fname


def is_reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether a TCP connection to the host of ``url`` opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch(fname: str, url: str, what: str, fix: str) -> Path:
    """Return the cached copy of ``fname``, downloading it from ``url`` only if needed.

    Args:
        fname: File name inside the Keras cache's ``models`` folder.
        url: Where to download it from.
        what: Human description used in the error ("ImageNet weights for vgg16").
        fix: One sentence telling the user what to do when offline.

    Raises:
        OfflineError: the file is not cached and ``url``'s host cannot be reached (or
            ``$CNNVIS_OFFLINE`` is 1).
    """
    path = cached_path(fname)
    if path.is_file():
        return path
    if os.environ.get(OFFLINE_ENV) == "1":
        raise OfflineError(f"{what} are not in the Keras cache ({path}) and downloads are "
                           f"off ({OFFLINE_ENV}=1). {fix}")
    if not is_reachable(url):
        raise OfflineError(
            f"{what} are not in the Keras cache ({path}) and {urlparse(url).hostname} "
            f"cannot be reached (offline?). {fix}"
        )
    # Keras' own downloader handles progress, partial files and the cache layout.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # a stalled transfer must end, not hang a lecture
    try:
        return Path(keras.utils.get_file(fname, url, cache_subdir="models",
                                         cache_dir=str(keras_home())))
    finally:
        socket.setdefaulttimeout(previous)
