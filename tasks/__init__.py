"""Task adapters, one module per task family at this level (each registers itself with
``@register_task`` on import; discovery imports only these top-level, non-underscore modules).

Beside them: ``_caption_task`` (what the video caption adapters share), ``world/`` (the embedded
synthetic world and its references), ``data/`` (annotation files, video decoding, pair files),
``metrics/`` (caption, facts, preference, lm-eval) and ``judges/`` (caption judges)."""
