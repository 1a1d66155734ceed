"""Runs the reference create_pretraining_data.py (bert-tensorflow==1.0.4, the test extra) under TF2.

    python benchmarks/reference_create_pretraining_data.py --input_file=... --output_file=... --vocab_file=... [flags]

The reference is TF1 code: it is given tf.compat.v1 as its `tensorflow` module, and its flags are absl's.
"""
import sys

import tensorflow as _tf

sys.modules["tensorflow"] = _tf.compat.v1
from bert import create_pretraining_data  # noqa: E402

if __name__ == "__main__":
    _tf.compat.v1.app.run(create_pretraining_data.main)
