"""The judges, one module per kind, each registering a ``JudgeFactory`` (``--judge SPEC``):

- ``exact``: the exact-fact judge, against the embedded world's ground truth (its parts in ``_exact/``);
- ``http``: an LLM behind an OpenAI-compatible API;
- ``hf``: a local Hugging Face causal LM, in-process.

The LLM judges share their prompt, reply parser, memo and retries (``_llm``). Build one with
``synpo_bench.api.judges.make_judge(spec, model)``.
"""
