"""Build a tiny, randomly initialised GPT-2 with a character-level tokenizer, for tests.

Nothing is downloaded: the tokenizer is made with the ``tokenizers`` library (one
token per character, plus ``<pad>``, ``<eos>`` and ``<unk>``) and both are written with
``save_pretrained``, so the backend loads them through the same
``AutoTokenizer`` / ``AutoModelForCausalLM.from_pretrained`` path a hub model takes.
"""

from __future__ import annotations

import string
from pathlib import Path

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = string.ascii_letters + string.digits + string.punctuation + " \n"


def build_tokenizer(eos: bool = True):
    """A ``PreTrainedTokenizerFast`` whose ``decode(encode(text)) == text`` for text over ``CHARS``;
    ``eos=False``: one without an end-of-sequence (or beginning-of-sequence) token."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for ch in CHARS:
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Every character, newline included, becomes its own pre-token.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    # Fuse joins the tokens back without the spaces the default decoder would insert.
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS if eos else None,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(
    path: str | Path,
    *,
    seed: int = 0,
    n_positions: int = 128,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 2,
    initializer_range: float = 0.5,
    eos: bool = True,
) -> Path:
    """Write a random GPT-2 and its tokenizer to ``path``; return ``path``.

    ``eos=False`` builds a model with neither a BOS nor an EOS token. A large ``initializer_range`` spreads the logits, so greedy decoding has no
    near-ties that float noise from padding could flip.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    path = Path(path)
    tokenizer = build_tokenizer(eos)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.eos_token_id if eos else None,
        eos_token_id=tokenizer.eos_token_id if eos else None,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
