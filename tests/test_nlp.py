"""The lm-eval bridge on a tiny Llama built here: shipped offline tasks, lm-eval's scoring, clear errors."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synpo_bench.tasks.metrics.lm_eval import (
    NLP_DATA_DIR,
    NLPTaskError,
    evaluate_lm,
    flatten_results,
    shipped_task_names,
)


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synpo_nlp_data", NLP_DATA_DIR / "synpo_nlp_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained here on the shipped questions (any text encodes, nothing downloaded)."""
    corpus = [line for name in ("synpo_mc.jsonl", "synpo_gen.jsonl") for line in (NLP_DATA_DIR / name).open()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(tokenizer: PreTrainedTokenizerFast, zero: bool = False) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    if zero:  # all-zero weights: zero logits, so every next token has probability 1 / vocabulary size
        for parameter in model.parameters():
            torch.nn.init.zeros_(parameter)
    return model


# --------------------------------------------------------------------------------------- shipped data


def test_shipped_jsonl_is_the_builders_output() -> None:
    builder = load_builder()
    documents = builder.build_documents()
    assert documents == builder.build_documents()  # deterministic
    for name, expected in documents.items():
        assert (NLP_DATA_DIR / name).read_text(encoding="utf-8") == builder.to_jsonl(expected), (
            f"{name} is stale: run python tasks/nlp_data/synpo_nlp_data.py"
        )
    assert (len(documents["synpo_mc.jsonl"]), len(documents["synpo_gen.jsonl"])) == (80, 50)


def test_shipped_items_are_right() -> None:
    builder = load_builder()
    multiple_choice = builder.read_jsonl(NLP_DATA_DIR / "synpo_mc.jsonl")
    for item in multiple_choice:
        assert len(set(item["choices"])) == 4 and 0 <= item["answer"] < 4, item
        if match := re.fullmatch(r"What is (\d+) \+ (\d+)\?", item["question"]):
            assert item["choices"][item["answer"]] == str(int(match[1]) + int(match[2])), item
        if item["question"] == "Which word comes first in alphabetical order?":
            assert item["choices"][item["answer"]] == min(item["choices"]), item
    for item in builder.read_jsonl(NLP_DATA_DIR / "synpo_gen.jsonl"):
        if match := re.fullmatch(r"What is (\d+) \+ (\d+)\?", item["question"]):
            assert item["answer"] == str(int(match[1]) + int(match[2])), item
        if match := re.fullmatch(r"Write the word '(\w+)' backwards\.", item["question"]):
            assert item["answer"] == match[1][::-1], item
    assert shipped_task_names() == ["synpo_gen", "synpo_mc"]


# ---------------------------------------------------------------------------------------- evaluation


def test_evaluate_lm_on_the_shipped_tasks(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    model = tiny_llama(tokenizer)
    model.train()
    scores = evaluate_lm(model, tokenizer, ["synpo_mc", "synpo_gen"], out_dir=tmp_path, limit=6, batch_size=4)
    assert set(scores) == {"synpo_mc/acc", "synpo_mc/acc_norm", "synpo_gen/exact_match"}
    for value in scores.values():
        assert 0.0 <= value <= 1.0
        assert abs(value * 6 - round(value * 6)) < 1e-9  # a share of the 6 documents scored
    written = json.loads((tmp_path / "lm_eval_results.json").read_text())
    assert written["results"]["synpo_mc"]["acc,none"] == scores["synpo_mc/acc"]
    assert written["n-samples"]["synpo_gen"]["effective"] == 6
    assert model.training  # left in the mode it was found in


def write_json_task(folder: Path, name: str, docs: list[dict[str, object]]) -> Path:
    """A task in lm-eval's documented local form (``dataset_path: json``, absolute ``data_files``)."""
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    config = folder / f"{name}.yaml"
    config.write_text(
        f"task: {name}\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n  cache_dir: {folder / 'hf_cache'}\n"
        "output_type: multiple_choice\ntest_split: test\n"
        'doc_to_text: "Q: {{question}}\\nA:"\ndoc_to_choice: choices\ndoc_to_target: answer\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return config


def test_likelihoods_come_from_the_model(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    """Under a uniform model each token costs log(vocabulary size), so the choice with the fewest tokens
    wins: accuracy is 1 when the right answer is the short one and 0 when it is a long one."""
    choices = ["x", "x x x x", "x x x x x", "x x x x x x"]
    short_right = [{"question": f"item {k}", "choices": choices, "answer": 0} for k in range(4)]
    long_right = [{"question": f"item {k}", "choices": choices, "answer": 1 + k % 3} for k in range(4)]
    tasks = [
        str(write_json_task(tmp_path, "short_right", short_right)),
        str(write_json_task(tmp_path, "long_right", long_right)),
    ]
    scores = evaluate_lm(tiny_llama(tokenizer, zero=True), tokenizer, tasks)
    assert scores == {"short_right/acc": 1.0, "long_right/acc": 0.0}


def test_flatten_results_names_and_skips() -> None:
    results = {
        "results": {
            "mc": {"alias": "mc", "acc,none": 0.5, "acc_stderr,none": 0.1, "acc_norm,none": 0.25},
            "gsm": {"exact_match,strict-match": 0.125, "exact_match_stderr,strict-match": "N/A"},
            "group": {"acc,none": 1, "sample_len": 3, "flag,none": True},
        }
    }
    assert flatten_results(results) == {
        "mc/acc": 0.5,
        "mc/acc_norm": 0.25,
        "gsm/exact_match,strict-match": 0.125,
        "group/acc": 1.0,
    }


# -------------------------------------------------------------------------------------------- errors


def test_unknown_task_is_named(tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(
        NLPTaskError, match=r"unknown lm-eval task 'synpo_mcq'.*synpo-bench list tasks"
    ) as caught:
        evaluate_lm(tiny_llama(tokenizer), tokenizer, ["synpo_mc", "synpo_mcq"])
    assert isinstance(caught.value, ValueError)
    assert "'synpo_mc'" in str(caught.value)  # the close match is suggested
    with pytest.raises(NLPTaskError, match="no lm-eval task"):
        evaluate_lm(tiny_llama(tokenizer), tokenizer, [])


def test_builtin_task_without_offline_data_names_the_data_set(
    tokenizer: PreTrainedTokenizerFast, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.config
    import huggingface_hub.constants

    # As in CI (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1), whatever this shell's environment says.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        NLPTaskError, match=r"'arc_easy'.*'allenai/ai2_arc \(ARC-Easy\)'.*not available offline"
    ) as caught:
        evaluate_lm(tiny_llama(tokenizer), tokenizer, ["arc_easy"])
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback
    assert "\n" not in str(caught.value)
