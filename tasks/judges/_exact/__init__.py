"""The exact-fact judge's parts: ``lexicon`` (words -> facts), ``parser`` (caption -> stated facts),
``grader`` (stated facts vs a clip's facts -> ``FactGrade``), ``rater`` (SynPO's H, F, C of candidates)."""
