"""`bertprep export`: one of our checkpoints as a Hugging Face transformers folder."""
from __future__ import annotations

import argparse

from pipelines.cli.flags import add_lower_case_flag, add_vocab_file_flag
from pipelines.errors import UsageError

HELP = "write a checkpoint as a Hugging Face transformers folder (config.json, model.safetensors, tokenizer)"
DESCRIPTION = (
    "Writes a `bertprep pretrain` or `finetune` OUTPUT_DIR (or a checkpoint prefix) as a folder that transformers "
    "loads with AutoModel, AutoTokenizer and the task's class: BertForPreTraining from pretrain, "
    "BertForSequenceClassification (id2label, label2id and problem_type from the folder's labels.json) from "
    "finetune classify, BertForQuestionAnswering from finetune squad, BertModel from an encoder alone. The folder "
    "holds config.json, model.safetensors, vocab.txt, tokenizer.json, tokenizer_config.json and "
    "special_tokens_map.json; it is written whole or not at all, and replaces only an earlier export.")
FORMATS = ("transformers",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT_OR_OUTPUT_DIR",
                        help="a checkpoint prefix, or a folder holding one (a pretrain or finetune --output_dir)")
    parser.add_argument("--output_dir", required=True, metavar="HF_DIR", help="the folder to write (or gs://)")
    parser.add_argument("--format", choices=FORMATS, default="transformers", help="the folder's format")
    parser.add_argument("--bert_config_file", metavar="FILE",
                        help="the model's bert_config.json (default: the one beside the checkpoint)")
    add_vocab_file_flag(parser, help="the model's vocab.txt (default: the one beside the checkpoint)")
    add_lower_case_flag(parser, default=None, help="lower-case and strip accents in the exported tokenizer (default: as a "
                        "fine-tuned classifier's labels.json records; required for other checkpoints)")


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from bert_model.tf_env import import_tensorflow

    # Imported here so that the other commands start without TensorFlow.
    tf = import_tensorflow()
    from bert_model.config import BertConfig
    from bert_model.transformers_format.export import export_transformers

    if beam_args:
        raise UsageError(f"unrecognized arguments: {' '.join(beam_args)} (this command runs no Beam pipeline)")
    try:
        config = BertConfig.from_json_file(args.bert_config_file) if args.bert_config_file else None
        report = export_transformers(args.checkpoint, args.output_dir, vocab_file=args.vocab_file,
                                     do_lower_case=args.do_lower_case, config=config)
    except (ValueError, tf.errors.NotFoundError) as error:
        raise UsageError(str(error)) from None
    labels = f" with labels {', '.join(report.labels)} ({report.problem_type})" if report.labels else ""
    print(f"{report.output_dir}: {report.architecture}{labels} from {report.checkpoint}, "
          f"{report.tensors} tensors, {'uncased' if report.do_lower_case else 'cased'} tokenizer")
    return 0
