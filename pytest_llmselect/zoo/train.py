"""Train one zoo model from its recipe: character tokenizer, GPT-2 config, answer-only loss.

Imports torch at module level (transformers inside functions); the package
``__init__`` imports this module lazily, inside the function that builds a model.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import torch

from pytest_llmselect.zoo.recipes import Recipe
from pytest_llmselect.zoo.tasks import TrainingExample, training_stream

if TYPE_CHECKING:
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
# Printable ASCII plus newline covers every task and lets users type any prompt;
# a character outside it maps to <unk> instead of failing.
CHARS: tuple[str, ...] = ("\n",) + tuple(chr(c) for c in range(32, 127))
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate((PAD, EOS, UNK) + CHARS)}
PAD_ID, EOS_ID, UNK_ID = VOCAB[PAD], VOCAB[EOS], VOCAB[UNK]
# One intra-op thread. Measured on the 2-core machine: two OpenMP threads are
# ~1.5x faster when it is idle, but 10-40x slower as soon as another process
# competes for a core (the threads spin at every barrier), and builds happen
# under pytest-xdist or next to other jobs. One thread is never pathological.
TRAIN_THREADS = 1


def build_tokenizer(model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A one-token-per-character tokenizer that ``AutoTokenizer.from_pretrained`` reloads offline."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab=dict(VOCAB), unk_token=UNK))
    # Every character is its own piece; "[\s\S]" rather than "." so newlines split too.
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    # WordLevel's default decoding joins pieces with spaces; Fuse joins them with nothing,
    # so decode(encode(s)) == s.
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",  # decoder-only generation continues from the right edge
        clean_up_tokenization_spaces=False,
        model_max_length=model_max_length,
    )


def encode_chars(text: str) -> list[int]:
    """Same ids as the tokenizer, without its per-call overhead (used in the training loop)."""
    return [VOCAB.get(c, UNK_ID) for c in text]


def make_model(recipe: Recipe) -> GPT2LMHeadModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(VOCAB),
        n_positions=recipe.n_positions,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        n_inner=recipe.n_inner,
        # Exact GELU: one fused op, ~15% faster per step on CPU than GPT-2's tanh approximation.
        activation_function="gelu",
        # No dropout: the models are far too small and briefly trained to overfit.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=EOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    return GPT2LMHeadModel(config)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (B, T), right padded
    labels: torch.Tensor     # (B, T), -100 except on target tokens and the final EOS


def collate(examples: list[TrainingExample]) -> Batch:
    """Right padding: with causal attention, trailing pads never affect the real tokens,
    and every row keeps the positions it has when run alone."""
    rows = []
    for ex in examples:
        prompt, target = encode_chars(ex.prompt), encode_chars(ex.target) + [EOS_ID]
        rows.append((prompt + target, [-100] * len(prompt) + target))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
    return Batch(input_ids, labels)


def batches(recipe: Recipe) -> Iterator[Batch]:
    streams = {family: training_stream(family, recipe.seed) for family in set(recipe.schedule)}
    sizes = dict(recipe.batch_sizes)
    step = 0
    while True:
        family = recipe.schedule[step % len(recipe.schedule)]
        yield collate([next(streams[family]) for _ in range(sizes[family])])
        step += 1


def _lr_factor(step: int, recipe: Recipe) -> float:
    # Linear warmup, then cosine decay to a tenth: the end of a short run matters most.
    if step < recipe.warmup:
        return (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# Called as on_step(steps_done, steps_total, seconds_so_far) after each optimizer step.
StepCallback = Callable[[int, int, float], None]


def train(recipe: Recipe, *, log_every: int = 0,
          on_step: StepCallback | None = None) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast, float]:
    """Returns the trained model (eval mode, generation config set), its tokenizer and
    the training wall time in seconds. ``on_step`` (if given) is called after every
    optimizer step; it must be cheap (it runs inside the training loop)."""
    with torch_threads(TRAIN_THREADS):
        return _train(recipe, log_every, on_step)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads, then restore the caller's count (it is process-wide,
    and the caller may be a pytest run that loads other models afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(recipe: Recipe, log_every: int,
           on_step: StepCallback | None) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast, float]:
    from transformers import GenerationConfig

    # The data streams carry their own seeded RNGs; this seeds the weight init.
    torch.manual_seed(recipe.seed)
    model = make_model(recipe)
    tokenizer = build_tokenizer(recipe.n_positions)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.98), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, recipe))

    model.train()
    start = time.perf_counter()
    stream = batches(recipe)
    for step in range(recipe.steps):
        batch = next(stream)
        # The mask changes nothing for the real tokens (pads trail them); passing it keeps
        # transformers from warning about unmasked padding on every build.
        logits = model(input_ids=batch.input_ids, attention_mask=batch.input_ids.ne(PAD_ID).long()).logits
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), batch.labels[:, 1:].reshape(-1), ignore_index=-100
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if on_step is not None:
            on_step(step + 1, recipe.steps, time.perf_counter() - start)
        if log_every and (step % log_every == 0 or step == recipe.steps - 1):
            print(f"{recipe.name} step {step:4d} loss {loss.item():.4f} {time.perf_counter() - start:6.1f}s")
    seconds = time.perf_counter() - start
    model.eval()

    # Generic callers (model.generate with no extra arguments) stop at EOS and pad left.
    # Only token ids: a saved length limit such as max_new_tokens would override the limit
    # of a tool that loads the model and sets its own (lm-evaluation-harness, for one).
    model.generation_config = GenerationConfig(eos_token_id=EOS_ID, pad_token_id=PAD_ID, bos_token_id=EOS_ID)
    return model, tokenizer, seconds
