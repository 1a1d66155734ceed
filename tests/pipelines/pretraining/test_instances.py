"""Instance creation as plain functions: chunking, truncation, masking, encoding, compared with the reference."""
from __future__ import annotations

import random

import numpy as np
import pytest

from formats.tfrecord import encode_examples
from pipelines.pretraining.instances import (
    DONOR_START,
    DocumentRun,
    InstanceBatch,
    InstanceOptions,
    SpecialIds,
    TokenizedDocument,
    instance_seeds,
    mask_tokens,
    mask_whole_words,
    plan_chunks,
    random_words,
    truncations,
)
from pipelines.pretraining.pipeline import _pack
from pipelines.pretraining.tokens import DocumentTokenizer, check_vocab_case, chinese_word_continuations
from tests.support.paths import UNCASED_VOCAB
from tests.support.reference_bert import import_reference
from vocab.tokenization import FullTokenizer, load_vocab

VOCAB = UNCASED_VOCAB
SPECIAL = SpecialIds(cls=101, sep=102, mask=103, vocab_size=30522)


@pytest.fixture(scope="module")
def reference():
    return import_reference("create_pretraining_data")


def _document(lengths: list[int], first_id: int = 1000, doc_id: str = "d") -> TokenizedDocument:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return TokenizedDocument(doc_id, np.arange(first_id, first_id + offsets[-1], dtype=np.int32), offsets, None)


# --- chunking -------------------------------------------------------------


def _reference_chunks(reference, lengths: list[int], max_num_tokens: int, seed: int) -> list[tuple]:
    """The reference's chunks of document 0, read back from its instances (tokens are sentence indices)."""
    document = [[f"s{i}"] * length for i, length in enumerate(lengths)]
    other = [["other"] * 3]
    rng = random.Random(seed)
    instances = reference.create_instances_from_document(
        [document, other], 0, max_num_tokens + 3, 0.0, 0.0001, 1, ["x"], rng)
    chunks = []
    for instance in instances:
        tokens = instance.tokens[1:]
        a = tokens[:tokens.index("[SEP]")]
        chunks.append((sorted({t for t in a if t.startswith("s")}), instance.is_random_next))
    return chunks


def test_chunks_follow_the_reference_split(reference):
    """Same sentence lengths -> the same A segments and the same share of random next, over many seeds."""
    lengths = [5, 30, 12, 40, 7, 22, 9, 60, 3, 18, 25, 11]
    ours, theirs = [], []
    for seed in range(300):
        plan = plan_chunks(lengths, 61, 0.0, random.Random(seed))
        ours += [(len(range(c.start, c.a_end)), c.random_next) for c in plan]
        theirs += [(len(a), random_next) for a, random_next in _reference_chunks(reference, lengths, 61, seed)]
    assert len(ours) == pytest.approx(len(theirs), rel=0.05)
    assert np.mean([r for _, r in ours]) == pytest.approx(np.mean([r for _, r in theirs]), abs=0.03)
    assert np.mean([n for n, _ in ours]) == pytest.approx(np.mean([n for n, _ in theirs]), rel=0.05)


def test_chunk_plan_covers_the_document_and_puts_unused_sentences_back():
    lengths = [10] * 30
    for seed in range(50):
        plan = plan_chunks(lengths, 45, 0.1, random.Random(seed))
        assert plan[0].start == 0
        for chunk, following in zip(plan, plan[1:]):
            # Random next consumes only A: the rest of the chunk starts the next one.
            assert following.start == (chunk.a_end if chunk.random_next else chunk.end)
        assert all(c.start < c.a_end <= c.end for c in plan)
        assert all(c.a_end == c.end for c in plan if c.random_next)
        assert all(c.end > c.a_end for c in plan if not c.random_next)


def test_one_sentence_chunks_always_take_a_random_next():
    plan = plan_chunks([200, 200, 200], 100, 0.0, random.Random(1))
    assert [c.random_next for c in plan] == [True, True, True]
    assert [c.target_b_length for c in plan] == [100 - 200] * 3


# --- truncation and donors --------------------------------------------------


def test_truncation_cuts_as_many_tokens_from_each_side_as_the_reference(reference):
    rng = random.Random(7)
    cases = [(rng.randint(1, 300), rng.randint(1, 300), rng.randint(2, 300)) for _ in range(500)]
    seeds = np.array([rng.getrandbits(63) for _ in cases], dtype=np.uint64)
    for (la, lb, limit), seed in zip(cases, seeds):
        a, b = list(range(la)), list(range(lb))
        reference.truncate_seq_pair(a, b, limit, rng)
        front_a, back_a, front_b, back_b = (int(cut[0]) for cut in truncations([la], [lb], limit, seed[None]))
        assert (front_a + back_a, front_b + back_b) == (la - len(a), lb - len(b))
        assert min(la - front_a - back_a, lb - front_b - back_b) >= 1
        assert min(front_a, back_a, front_b, back_b) >= 0


def test_truncation_is_the_same_one_instance_at_a_time_or_in_a_batch():
    rng = random.Random(3)
    lengths_a, lengths_b = [rng.randint(1, 400) for _ in range(300)], [rng.randint(1, 400) for _ in range(300)]
    seeds = np.arange(300, dtype=np.uint64) * np.uint64(7919)
    batched = np.stack(truncations(lengths_a, lengths_b, 125, seeds), axis=1)
    single = [np.stack(truncations([la], [lb], 125, seeds[i:i + 1]), axis=1)[0]
              for i, (la, lb) in enumerate(zip(lengths_a, lengths_b))]
    assert batched.tolist() == np.array(single).tolist()


def test_truncation_cuts_front_and_back_equally_often():
    seeds = np.arange(400, dtype=np.uint64)
    fronts = truncations(np.full(400, 300), np.full(400, 100), 200, seeds)[0]  # 200 cuts from A each time
    assert np.mean(fronts) == pytest.approx(100, abs=2)
    assert 4 < np.std(fronts) < 10  # Binomial(200, 1/2): sd 7.07


def test_donor_spans_take_sentences_until_the_target_like_the_reference():
    documents = [_document([3, 9]), _document([4, 6, 3, 8, 5]), _document([7, 1, 2])]
    run = DocumentRun.of(documents)
    seeds = np.arange(600, dtype=np.uint64)
    donors = np.arange(600) % 3
    targets = (np.arange(600) % 30 - 3).astype(np.int64)
    begins, ends = run.donor_spans(donors, targets, random_words(seeds, DONOR_START, 1)[:, 0])
    token_bases = np.cumsum([0] + [len(d.tokens) for d in documents])
    for begin, end, donor, target in zip(begins.tolist(), ends.tolist(), donors.tolist(), targets.tolist()):
        offsets = documents[donor].offsets + token_bases[donor]
        first = int(np.searchsorted(offsets, begin))
        assert offsets[first] == begin and first < documents[donor].num_sentences  # starts at one of its sentences
        taken, index = 0, first
        while index < documents[donor].num_sentences:  # the reference's loop
            taken += int(offsets[index + 1] - offsets[index])
            index += 1
            if taken >= target:
                break
        assert end == offsets[index]
        assert (run.tokens[begin:end] == documents[donor].tokens[begin - token_bases[donor]:end - token_bases[donor]]).all()


def test_donor_start_sentence_is_uniform():
    run = DocumentRun.of([_document([2] * 5)])
    begins, _ = run.donor_spans(np.zeros(5000, dtype=np.int64), np.ones(5000, dtype=np.int64),
                                random_words(np.arange(5000, dtype=np.uint64), DONOR_START, 1)[:, 0])
    assert np.bincount(begins // 2).tolist() == pytest.approx([1000] * 5, abs=100)


def _splitmix_value(seed: int, stream: int, index: int) -> int:
    """The documented definition of random_words, in Python integers."""
    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return z ^ (z >> 31)

    golden = 0x9E3779B97F4A7C15
    return mix((mix((seed + stream * golden) % 2**64) + (index + 1) * golden) % 2**64)


def test_random_words_match_their_definition_and_look_uniform():
    seeds = np.array([0, 1, 2**62 + 12345], dtype=np.uint64)
    table = random_words(seeds, 3, 5)
    assert [[_splitmix_value(int(s), 3, j) for j in range(5)] for s in seeds] == table.tolist()
    assert random_words(seeds, 3, 2, first=3).tolist() == table[:, 3:5].tolist()
    assert instance_seeds(99, 2, first=1).tolist() == [_splitmix_value(99, 9, j) >> 1 for j in (1, 2)]
    bits = random_words(np.arange(2000, dtype=np.uint64), 1, 64)
    assert ((bits >> np.uint64(63)) == 1).mean() == pytest.approx(0.5, abs=0.01)


# --- masking ----------------------------------------------------------------


def _rows(count: int, length: int, width: int = 128) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros((count, width), dtype=np.int64)
    ids[:, 1:length - 1] = np.arange(2000, 2000 + length - 2)
    ids[:, 0], ids[:, length - 1], ids[:, length // 2] = SPECIAL.cls, SPECIAL.sep, SPECIAL.sep
    return ids, (ids != 0) & (ids != SPECIAL.cls) & (ids != SPECIAL.sep)


def test_masking_chooses_round_15_percent_of_real_positions_80_10_10():
    options = InstanceOptions(128, 20)
    ids, candidate = _rows(3000, 100)
    original = ids.copy()
    positions, labels = mask_tokens(ids, np.full(3000, 100), candidate, np.arange(3000, dtype=np.uint64),
                                    options, SPECIAL)
    counts = (positions > 0).sum(axis=1)
    assert set(counts.tolist()) == {15}  # round(100 * 0.15)
    rows = np.arange(3000)[:, None]
    chosen = positions[:, :15]
    assert candidate[rows, chosen].all() and (np.diff(chosen, axis=1) > 0).all()
    assert (labels[:, :15] == original[rows, chosen]).all() and (labels[:, 15:] == 0).all()
    shown = ids[rows, chosen]
    masked, kept = (shown == SPECIAL.mask).mean(), (shown == original[rows, chosen]).mean()
    assert masked == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / SPECIAL.vocab_size, abs=0.01)
    untouched = np.ones_like(ids, dtype=bool)
    untouched[rows, chosen] = False
    assert (ids[untouched] == original[untouched]).all()
    position_use = np.bincount(chosen.ravel(), minlength=128)[candidate[0]]
    assert position_use.min() > 0.6 * position_use.mean()  # every candidate gets chosen, roughly evenly


def test_masking_respects_the_prediction_cap_and_short_rows():
    options = InstanceOptions(128, 5)
    ids, candidate = _rows(10, 128)
    positions, _ = mask_tokens(ids, np.full(10, 128), candidate, np.arange(10, dtype=np.uint64), options, SPECIAL)
    assert positions.shape == (10, 5) and (positions > 0).all()
    ids, candidate = _rows(10, 5)  # [CLS] t [SEP] t [SEP]: round(0.75) = 1 prediction
    positions, _ = mask_tokens(ids, np.full(10, 5), candidate, np.arange(10, dtype=np.uint64), options, SPECIAL)
    assert ((positions > 0).sum(axis=1) == 1).all()


def test_compiled_masking_equals_the_numpy_masking(monkeypatch):
    from pipelines.pretraining import instances as pretraining_instances

    assert pretraining_instances._compiled_masking is not None  # built by setup.py here and in CI
    rng = np.random.default_rng(3)
    options = InstanceOptions(64, 7)
    ids = rng.integers(0, SPECIAL.vocab_size, (500, 64))
    candidate = rng.random((500, 64)) < rng.random((500, 1))  # rows from no candidate to all
    lengths = rng.integers(0, 65, 500)  # wanted from 1 to above the cap and the candidates
    seeds = rng.integers(0, 2**63, 500).astype(np.uint64)
    compiled_ids = ids.copy()
    compiled = mask_tokens(compiled_ids, lengths, candidate, seeds, options, SPECIAL)
    monkeypatch.setattr(pretraining_instances, "_compiled_masking", None)
    numpy_ids = ids.copy()
    expected = mask_tokens(numpy_ids, lengths, candidate, seeds, options, SPECIAL)
    assert (compiled_ids == numpy_ids).all() and (compiled_ids != ids).any()
    assert all((x == y).all() for x, y in zip(compiled, expected))
    assert (compiled[0] > 0).sum(axis=1).max() == 7 and ((compiled[0] > 0).sum(axis=1) == 0).any()


def test_whole_word_masking_with_one_token_words_equals_token_masking():
    options = InstanceOptions(128, 20, whole_word_mask=True)
    ids, candidate = _rows(200, 90)
    seeds = np.arange(200, dtype=np.uint64) * np.uint64(7919)
    expected = mask_tokens(ids.copy(), np.full(200, 90), candidate, seeds, options, SPECIAL)
    got = mask_whole_words(ids, np.full(200, 90), candidate, np.ones_like(candidate), seeds, options, SPECIAL)
    assert all((x == y).all() for x, y in zip(expected, got))


def test_whole_word_masking_masks_words_whole_with_one_choice_per_word():
    options = InstanceOptions(128, 20, whole_word_mask=True)
    ids, candidate = _rows(2000, 120)
    starts = np.zeros_like(candidate)
    starts[:, ::3] = True  # words of three pieces
    original = ids.copy()
    positions, _ = mask_whole_words(ids, np.full(2000, 120), candidate, starts, np.arange(2000, dtype=np.uint64),
                                    options, SPECIAL)
    fates = []
    for row in range(2000):
        chosen = set(positions[row][positions[row] > 0].tolist())
        for start in range(3, 117, 3):
            word = [p for p in range(start, start + 3) if candidate[row, p]]
            inside = [p in chosen for p in word]
            assert all(inside) or not any(inside)
            if all(inside) and len(word) == 3:
                shown = ids[row, word]
                fates.append("mask" if (shown == SPECIAL.mask).all() else
                             "keep" if (shown == original[row, word]).all() else "random")
    assert set(fates) == {"mask", "keep", "random"}
    assert fates.count("mask") / len(fates) == pytest.approx(0.8, abs=0.02)
    assert fates.count("keep") / len(fates) == pytest.approx(0.1, abs=0.02)


def test_chinese_characters_group_into_words_for_whole_word_masking():
    assert chinese_word_continuations("我爱北京天安门") == [False, False, False, True, False, True, True]
    tokenizer = FullTokenizer(str(VOCAB))
    document = DocumentTokenizer(tokenizer, whole_word_mask=True)("zh", ["我爱北京天安门 playing"])
    pieces = tokenizer.convert_ids_to_tokens(document.tokens.tolist())
    assert pieces == tokenizer.tokenize("我爱北京天安门 playing") and len(pieces) == 8  # 爱 is [UNK] here
    assert document.word_starts.tolist() == [True, True, True, False, True, False, False, True]
    english = DocumentTokenizer(tokenizer, whole_word_mask=True)("en", ["unaffable tokens"])
    assert english.word_starts.tolist() == [not p.startswith("##") for p in
                                             tokenizer.convert_ids_to_tokens(english.tokens.tolist())]


# --- packing without NSP ----------------------------------------------------


def test_packing_fills_sequences_with_whole_sentences_across_documents():
    documents = [_document([5, 7, 4], 1000, "a"), _document([30, 2], 2000, "b"), _document([6], 3000, "c")]
    sequences = list(_pack(documents, 12, SPECIAL.sep))
    contents = [tokens.tolist() for _, tokens, _ in sequences]
    assert [first for first, _, _ in sequences] == ["a", "a", "b", "b", "b", "c"]
    assert all(len(c) <= 12 for c in contents)
    # A 30-token sentence is cut into 12, 12, 6; the 6 and the next sentence share a sequence.
    assert contents[:2] == [list(range(1000, 1012)), list(range(1012, 1016))]
    assert contents[4] == list(range(2024, 2032))
    sequences = list(_pack([_document([3], 1000, "a"), _document([4], 2000, "b")], 12, SPECIAL.sep))
    assert [tokens.tolist() for _, tokens, _ in sequences] == [[1000, 1001, 1002, SPECIAL.sep, 2000, 2001, 2002, 2003]]
    flat = [t for c in contents for t in c if t != SPECIAL.sep]
    assert flat == list(range(1000, 1016)) + list(range(2000, 2032)) + list(range(3000, 3006))


# --- encoding and the reference's schema --------------------------------------


def test_examples_are_the_reference_features_byte_for_byte(reference, tmp_path):
    import tensorflow as tf

    tokenizer = reference.tokenization.FullTokenizer(str(VOCAB), do_lower_case=True)
    tokens = ["[CLS]"] + tokenizer.tokenize("the quick brown fox") + ["[SEP]", "jumps", "[MASK]", "[SEP]"]
    instance = reference.TrainingInstance(tokens=tokens, segment_ids=[0] * 6 + [1] * 3, is_random_next=True,
                                          masked_lm_positions=[2, 7], masked_lm_labels=["quick", "over"])
    path = str(tmp_path / "ref.tfrecord")
    reference.write_instance_to_example_files([instance], tokenizer, 16, 4, [path])
    (their_bytes,) = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    row = lambda values, width: np.array([values + [0] * (width - len(values))])  # noqa: E731
    ours = encode_examples({
        "input_ids": row(ids, 16), "input_mask": row([1] * 9, 16), "segment_ids": row([0] * 6 + [1] * 3, 16),
        "masked_lm_positions": row([2, 7], 4), "masked_lm_ids": row(tokenizer.convert_tokens_to_ids(["quick", "over"]), 4),
        "masked_lm_weights": row([1.0, 1.0], 4).astype(np.float32), "next_sentence_labels": row([1], 1),
    })[0]
    canonical = tf.train.Example.FromString(their_bytes).SerializeToString(deterministic=True)
    assert ours == canonical


def test_batch_encodes_parseable_instances_and_frames_valid_records(tmp_path):
    import tensorflow as tf

    options = InstanceOptions(32, 5)
    batch = InstanceBatch(options, SPECIAL)
    batch.add_pair(11, np.arange(2000, 2020, dtype=np.int32), np.arange(3000, 3030, dtype=np.int32), None, None, True)
    batch.add_pair(12, np.arange(2000, 2003, dtype=np.int32), np.arange(3000, 3002, dtype=np.int32), None, None, False)
    orders, records = batch.encode()
    assert batch.counts["instances"] == 2 and batch.counts["random_next"] == 1
    assert batch.counts["truncated_tokens"] == 50 - 29
    assert len(orders) == len(records) == 2 and orders.dtype == np.int64 and (orders >= 0).all()
    path = tmp_path / "x.tfrecord"
    path.write_bytes(records.data)
    spec = {"input_ids": tf.io.FixedLenFeature([32], tf.int64), "input_mask": tf.io.FixedLenFeature([32], tf.int64),
            "segment_ids": tf.io.FixedLenFeature([32], tf.int64),
            "masked_lm_positions": tf.io.FixedLenFeature([5], tf.int64),
            "masked_lm_ids": tf.io.FixedLenFeature([5], tf.int64),
            "masked_lm_weights": tf.io.FixedLenFeature([5], tf.float32),
            "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64)}
    parsed = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(str(path))]
    long, short = (parsed[0], parsed[1])
    assert long["input_mask"].numpy().sum() == 32 and long["next_sentence_labels"].numpy().tolist() == [1]
    a_length = int(np.flatnonzero(long["input_ids"].numpy() == SPECIAL.sep)[0]) - 1
    assert a_length + long["segment_ids"].numpy().sum() - 1 == 29  # A + B after truncation
    assert short["input_mask"].numpy().sum() == 8 and short["segment_ids"].numpy().tolist()[:8] == [0] * 5 + [1] * 3
    assert short["masked_lm_weights"].numpy().tolist() == [1, 0, 0, 0, 0]  # round(8 * 0.15) = 1


def test_vocab_case_must_match_lowercasing():
    vocab = load_vocab(str(VOCAB))
    check_vocab_case(vocab, True)
    with pytest.raises(ValueError, match="uncased"):
        check_vocab_case(vocab, False)
    cased = {(token.capitalize() if i % 5 == 0 and not token.startswith("[") else token): i
             for i, token in enumerate(vocab)}
    with pytest.raises(ValueError, match="cased"):
        check_vocab_case(cased, True)
