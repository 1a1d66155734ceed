"""The 80/10/10 rule of masked-LM targets, one spelling for every masker.

Of the positions chosen for prediction, MASKED_SHARE show [MASK], KEPT_SHARE
keep their token and RANDOM_SHARE show a uniformly random vocabulary entry,
as the reference create_pretraining_data.py decides. Its users: the
pretraining-data stage (pipelines.pretraining.masking, numpy and its C twin)
and the dynamic masking of bert_model.input_pipeline.
"""
from __future__ import annotations

MASKED_SHARE = 0.8
KEPT_SHARE = 0.1
RANDOM_SHARE = 0.1

# One uniform draw u in [0, 1) per position: [MASK] if u < MASK_BELOW, else kept if u < KEEP_BELOW, else random.
MASK_BELOW = MASKED_SHARE
KEEP_BELOW = 1.0 - RANDOM_SHARE  # the double nearest 0.9; MASKED_SHARE + KEPT_SHARE is one above it
# Two uniform draws u, v: [MASK] if u < MASK_BELOW, else kept if v < KEPT_OF_UNMASKED, else random.
KEPT_OF_UNMASKED = KEPT_SHARE / (KEPT_SHARE + RANDOM_SHARE)
