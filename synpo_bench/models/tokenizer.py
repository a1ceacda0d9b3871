"""A small BPE tokenizer trained locally on the world's references, in the Hugging Face format.

Metaspace pre-tokenisation (spaces become "▁", as SentencePiece does) makes decoding an exact inverse of
encoding, so generated captions keep their punctuation and spacing. The vocabulary is capped high enough
that every frequent word of the closed caption vocabulary ends up as one token; rare or unseen words are
spelled from the character alphabet, and characters never seen in training map to ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
"""Ids 0..3, in this order."""

DEFAULT_VOCAB_SIZE = 1024


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on ``texts``; the same texts in the same order give the same tokenizer.

    The texts are de-duplicated and sorted first, so the result depends on the set of texts only.
    """
    corpus = sorted({text.strip() for text in texts if text and text.strip()})
    if not corpus:
        raise ValueError("cannot train a tokenizer on no text: give the reference captions as texts")
    bpe = Tokenizer(models.BPE(unk_token=UNK))
    bpe.normalizer = normalizers.NFKC()
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bpe.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=2, show_progress=False
    )
    bpe.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    return wrap_tokenizer(bpe)


def wrap_tokenizer(bpe: Tokenizer) -> PreTrainedTokenizerFast:
    """The ``transformers`` view of a ``tokenizers`` object, with our special tokens declared."""
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
