"""Importing TensorFlow without the start-up noise of a machine that has no GPU.

The TensorFlow wheels carry CUDA support, so on a machine without a GPU they print, while importing and
probing devices, lines such as `E ... cuda_platform.cc] failed call to cuInit: ... UNKNOWN ERROR (303)`:
errors that look like failures, printed by C++ before TF_CPP_MIN_LOG_LEVEL applies (setting it to 3 would
also hide real errors later on). `import_tensorflow` captures what the import and the device probe print
and writes it back without the lines known to be this noise, and sets TF_CPP_MIN_LOG_LEVEL=1 (TensorFlow's
C++ INFO lines off, its warnings and errors on), only when no GPU is visible and the user has not chosen a
TF_CPP_MIN_LOG_LEVEL; everything else passes unchanged.

No TensorFlow import here: this module runs before it.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from types import ModuleType

# Lines TensorFlow prints at start-up on a machine without a GPU; none reports a problem of the run.
_STARTUP_NOISE = re.compile("|".join((
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"cudart_stub\.cc.*Could not find cuda drivers",
    r"cuda_platform\.cc.*failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"port\.cc.*oneDNN custom operations are on",
    r"cpu_feature_guard\.cc.*This TensorFlow binary is optimized",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
)))
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")  # Linux drivers, WSL


def gpu_visible() -> bool:
    """Whether a CUDA GPU could be visible to this process (a driver device exists and CUDA_VISIBLE_DEVICES
    does not hide every device)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(os.path.exists(path) for path in _GPU_DEVICE_FILES)


def without_startup_noise(text: str) -> str:
    """`text` less its lines that match the known start-up noise."""
    return "".join(line for line in text.splitlines(keepends=True) if not _STARTUP_NOISE.search(line))


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, with its start-up noise removed where no GPU is visible (see the module doc)."""
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ or gpu_visible():
        import tensorflow

        return tensorflow
    # INFO lines only (such as "TFRecordDataset `buffer_size` is unspecified"); warnings and errors still show.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")  # where CUDA is probed
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(without_startup_noise(captured.read().decode("utf-8", "replace")))
            sys.stderr.flush()
    return tensorflow
