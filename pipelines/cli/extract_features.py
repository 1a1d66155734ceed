"""`bertprep extract-features`: per-token encoder activations as JSONL, with the
flags and output of the reference extract_features.py."""
from __future__ import annotations

import argparse
import logging
import time

from pipelines.cli.flags import add_bool_flag, add_lower_case_flag, add_vocab_file_flag
from pipelines.errors import UsageError

_log = logging.getLogger(__name__)

HELP = "write per-token activations of chosen BERT layers as JSONL (the reference extract_features.py)"
DESCRIPTION = (
    "Runs a reference-layout BERT checkpoint (or a transformers BERT folder) over --input_file (one `text` or `text_a ||| text_b` per line) "
    "and writes, per line, {\"linex_index\", \"features\": [{\"token\", \"layers\": [{\"index\", \"values\"}]}]} "
    "to --output_file, as google-research/bert's extract_features.py does. Paths may be local or gs://."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input_file", required=True, help="text file: one `text` or `text_a ||| text_b` per line")
    parser.add_argument("--output_file", required=True, help="JSONL file to write")
    add_vocab_file_flag(parser, help="vocab.txt the model was trained with (default: a transformers folder's)")
    parser.add_argument("--bert_config_file", metavar="FILE|NAME",
                        help="bert_config.json of the model, or a released model's shape by name (bert-tiny, "
                        "bert-mini, bert-small, bert-medium, bert-base, bert-large, L-<layers>_H-<hidden>) with the "
                        "vocab file's size as vocab_size (default: a transformers folder's config.json)")
    parser.add_argument("--init_checkpoint", required=True,
                        help="reference-layout checkpoint: a prefix (…/bert_model.ckpt) or a folder holding one; or "
                        "a transformers BERT folder (config.json, model.safetensors, vocab.txt)")
    parser.add_argument("--layers", default="-1,-2,-3,-4",
                        help="comma-separated encoder layers to output; -1 is the last")
    parser.add_argument("--max_seq_length", type=int, default=128,
                        help="tokens per example after WordPiece, [CLS] and [SEP] included; longer ones are truncated")
    parser.add_argument("--batch_size", type=int, default=32, help="examples per forward pass")
    add_lower_case_flag(parser, default=None, help="lowercase and strip accents (uncased models); "
                        "--do_lower_case=false for cased models; without it a transformers folder's "
                        "tokenizer_config.json decides, else true")
    tpu = parser.add_argument_group("the reference's TPU flags (accepted; this command runs on the CPU or a GPU)")
    add_bool_flag(tpu, "--use_tpu", help="refused when true: extract-features runs on this machine's CPU or GPU")
    tpu.add_argument("--master", help="ignored without a TPU")
    tpu.add_argument("--num_tpu_cores", type=int, default=8, help="ignored without a TPU")
    add_bool_flag(tpu, "--use_one_hot_embeddings",
                  help="a TPU speed choice of the reference that gives the same values; ignored")


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    begin = time.perf_counter()  # wall time includes importing TensorFlow
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other subcommands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.checkpoints import CheckpointError
    from bert_model.config import ConfigError
    from bert_model.extract_features import ExtractionOptions, FeatureError, extract_from_checkpoint
    from bert_model.progress import format_duration
    from vocab.tokenization import VocabError

    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    if args.use_tpu:
        raise UsageError("extract-features runs on this machine's CPU or GPU, not on a TPU: drop --use_tpu")
    options = ExtractionOptions(
        input_file=args.input_file, output_file=args.output_file, vocab_file=args.vocab_file,
        bert_config_file=args.bert_config_file, init_checkpoint=args.init_checkpoint, layers=args.layers,
        max_seq_length=args.max_seq_length, batch_size=args.batch_size, do_lower_case=args.do_lower_case)
    try:
        count = extract_from_checkpoint(options)
    except (ConfigError, CheckpointError, FeatureError, VocabError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    _log.info("wrote features of %d lines to %s", count, args.output_file)
    print(f"wrote {args.output_file}: {count} lines, layers {args.layers}; wall time "
          f"{format_duration(time.perf_counter() - begin)}")
    return 0
