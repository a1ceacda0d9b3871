"""Evaluation metrics, one module per family: caption (COCO), facts (VDC-style, from a judge's grades),
preference (held-out preference accuracy, judge win rate), lm_eval (the lm-eval bridge)."""
