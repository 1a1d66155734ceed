"""The name table against real transformers state dicts: every class's weights map to reference names and
back to exactly the keys transformers expects."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from bert_model.checkpoints import CheckpointError
from bert_model.transformers_format.weights import ARCHITECTURES, reference_arrays, transformers_tensors

def state_dict(architecture: str, num_labels: int = 2) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, num_labels=num_labels)
    model = getattr(transformers, architecture)(config)
    return {name: tensor.numpy() for name, tensor in model.state_dict().items()}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_round_trip_gives_exactly_the_state_dict(architecture: str) -> None:
    tensors = state_dict(architecture)
    arrays = reference_arrays(tensors)
    back = transformers_tensors(arrays, architecture)
    assert list(back) == list(tensors)
    for name, tensor in tensors.items():
        np.testing.assert_array_equal(back[name], tensor, err_msg=name)


def test_reference_layout() -> None:
    arrays = reference_arrays(state_dict("BertForPreTraining"))
    assert arrays["bert/encoder/layer_1/intermediate/dense/kernel"].shape == (32, 37)
    assert arrays["bert/encoder/layer_1/output/dense/kernel"].shape == (37, 32)
    assert arrays["cls/seq_relationship/output_weights"].shape == (2, 32)
    assert arrays["cls/predictions/output_bias"].shape == (99,)
    assert not any(name.startswith("cls/predictions/decoder") for name in arrays)
    classifier = reference_arrays(state_dict("BertForSequenceClassification", num_labels=3))
    assert classifier["output_weights"].shape == (3, 32) and classifier["output_bias"].shape == (3,)
    spans = reference_arrays(state_dict("BertForQuestionAnswering"))
    assert spans["cls/squad/output_weights"].shape == (2, 32)
    assert not any(name.startswith("bert/pooler") for name in spans)


def test_unknown_tensor_is_named() -> None:
    tensors = {**state_dict("BertModel"), "encoder.layer.0.attention.self.distance_embedding.weight": np.zeros(3)}
    with pytest.raises(CheckpointError, match=r"encoder\.layer\.0\.attention\.self\.distance_embedding\.weight"):
        reference_arrays(tensors)


def test_untied_decoder_is_refused() -> None:
    tensors = state_dict("BertForMaskedLM")
    tensors["cls.predictions.decoder.weight"] = tensors["cls.predictions.decoder.weight"] + 1
    with pytest.raises(CheckpointError, match=r"cls\.predictions\.decoder\.weight differs from bert\.embeddings\.word_embeddings\.weight"):
        reference_arrays(tensors)


def test_missing_weight_is_named_on_export() -> None:
    arrays = reference_arrays(state_dict("BertModel"))
    with pytest.raises(CheckpointError, match="BertForPreTraining needs cls/predictions/output_bias"):
        transformers_tensors(arrays, "BertForPreTraining")
