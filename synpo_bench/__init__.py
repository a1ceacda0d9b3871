"""synpo-bench: which preference loss should I use, and what does it cost?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("synpo-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
