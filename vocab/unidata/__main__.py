"""Writes the running interpreter's Unicode data module here: `python -m vocab.unidata`."""
from vocab.unicode_classes import write_unidata_module

print(write_unidata_module())
