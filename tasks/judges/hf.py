"""An LLM judge that runs a local Hugging Face causal LM in-process (``--judge hf:PATH``).

For a judge checkpoint on disk and no server: the same VDCscore-style grading, memo and retries as the
HTTP judge (``_llm``: the same prompt, reply parser and score), with greedy decoding in place of a
chat-completions request.

- the tokenizer and model load with ``from_pretrained(PATH, local_files_only=True)`` on first use, so
  building the judge (``make_judge`` validates ``--judge`` before training) only checks that PATH is a folder;
- the prompt goes through the tokenizer's chat template when it has one, else it is the plain text
  "system\\n\\nuser\\n\\nassistant:";
- a reply without a valid grade is retried ``max_retries`` times with a reminder appended to the user
  message (greedy decoding would repeat itself), then a one-line ``JudgeError`` shows the reply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synpo_bench.api.judges import Judge, JudgeError, JudgeFactory, register_judge
from synpo_bench.tasks.judges._llm import LLMJudge, Messages, snippet

RETRY_REMINDER = "Answer with the JSON object only."
"""Appended to the user message on a retry."""

PREFIX = "hf:"


class LocalHFJudge(LLMJudge):
    """Grades captions with a causal LM saved in a local folder (see the module docstring)."""

    def __init__(
        self, path: str, device: str = "auto", max_new_tokens: int = 64, max_retries: int = 1
    ) -> None:
        # Path("") is the working directory: an empty spec must not pass the folder check.
        if not str(path).strip():
            raise JudgeError("a local HF judge needs the folder of a saved model: use --judge hf:PATH")
        self.path = str(path)
        self._folder = Path(self.path).expanduser()
        if not self._folder.is_dir():
            raise JudgeError(
                f"local HF judge: no model folder at '{self.path}' (hf:PATH takes a folder written by "
                "save_pretrained, holding the model and its tokenizer)"
            )
        if max_new_tokens < 1:
            raise JudgeError(f"local HF judge max_new_tokens must be >= 1, got {max_new_tokens}")
        if max_retries < 0:
            raise JudgeError(f"local HF judge max_retries must be >= 0, got {max_retries}")
        super().__init__()
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.max_retries = max_retries
        self.name = f"hf:{self.path}"
        self.generations = 0
        self._tokenizer: Any = None
        self._model: Any = None

    def _reply(self, messages: Messages, attempt: int) -> str:
        # Greedy decoding would repeat itself: a retry appends a reminder to the user message.
        return self._generate(messages if attempt == 0 else _with_reminder(messages))

    def _message(self, what: str) -> str:
        return f"local HF judge '{self.path}': {what}"

    def _failure(self, what: str, error: Exception) -> JudgeError:
        """One line: what failed, the error's type and the start of its message."""
        return JudgeError(self._message(f"{what} ({type(error).__name__}: {snippet(str(error))})"))

    # -------------------------------------------------------------------------------------- model

    def load(self) -> tuple[Any, Any]:
        """The tokenizer and the model, loaded on the first call and kept."""
        if self._model is None:
            try:
                # Imported here: torch and transformers take seconds to import, and most runs never grade.
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                tokenizer = AutoTokenizer.from_pretrained(str(self._folder), local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(str(self._folder), local_files_only=True)
                model = model.to(device).eval()
            except Exception as error:  # missing files, a bad config, an unknown device, out of memory, ...
                raise self._failure("could not load the model", error) from error
            self._tokenizer, self._model = tokenizer, model
        return self._tokenizer, self._model

    def _encode(self, tokenizer: Any, messages: Messages) -> dict[str, Any]:
        """``input_ids`` (and usually ``attention_mask``) of the prompt, batch of one, as tensors."""
        if not getattr(tokenizer, "chat_template", None):
            text = "\n\n".join(message["content"] for message in messages) + "\n\nassistant:"
            return dict(tokenizer(text, return_tensors="pt"))
        options: dict[str, Any] = {"add_generation_prompt": True, "return_tensors": "pt", "return_dict": True}
        try:
            return dict(tokenizer.apply_chat_template(messages, **options))
        except Exception:
            # Some templates (Gemma, Mistral v1) refuse a system turn: fold it into the user message.
            folded = [{"role": "user", "content": "\n\n".join(m["content"] for m in messages)}]
            try:
                return dict(tokenizer.apply_chat_template(folded, **options))
            except Exception as error:
                raise self._failure("the chat template failed", error) from error

    def _generate(self, messages: Messages) -> str:
        """The model's greedy reply to the messages: the new tokens only, decoded."""
        import torch

        tokenizer, model = self.load()
        encoded = self._encode(tokenizer, messages)
        input_ids = encoded["input_ids"].to(model.device)
        mask = encoded.get("attention_mask")
        mask = torch.ones_like(input_ids) if mask is None else mask.to(model.device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        try:
            with torch.inference_mode():
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                )
        except (RuntimeError, ValueError) as error:  # e.g. out of memory, a prompt past the context length
            raise self._failure("generation failed", error) from error
        self.generations += 1
        return tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)


def _with_reminder(messages: Messages) -> Messages:
    return [
        {**message, "content": f"{message['content']}\n\n{RETRY_REMINDER}"}
        if message["role"] == "user"
        else message
        for message in messages
    ]


def _build(spec: str, model: str | None) -> Judge:
    return LocalHFJudge(spec[len(PREFIX) :].strip())  # --judge-model is ignored


register_judge(
    JudgeFactory(
        name="hf",
        accepts=lambda spec: spec.lower().startswith(PREFIX),
        build=_build,
        usage="'hf:PATH' for a local Hugging Face judge model saved in the folder PATH",
    )
)
