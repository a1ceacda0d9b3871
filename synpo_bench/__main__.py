"""``python -m synpo_bench``: the same as the ``synpo-bench`` command."""

from synpo_bench.cli import main

main()
