"""The embedded synthetic video world: seeded clips whose every fact is known, and their references.

- ``clips``: sample a clip's facts, render its frames, the (cached) train/test clip sets of a world size;
- ``references``: the reference captions each benchmark format holds (VATEX, VDC, VDD), the caption
  prompts, and the world as one task's data (``embedded_task_data``);
- ``phrases``: the closed vocabulary the references are written in.

Import from the module that defines a name (``synpo_bench.tasks.world.clips``, ...): this package
re-exports nothing, so importing one room (say, a text-pair generator beside these) does not render video.
"""
