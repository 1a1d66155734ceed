"""Hugging Face transformers BERT folders (config.json, model.safetensors, vocab.txt, tokenizer_config.json):
their config and weight names mapped onto ours, read as a source of reference-named weights, and written from
our checkpoints."""
