"""Tiny randomly initialised causal LMs (model + tokenizer) built in code, for offline tests."""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Question: What is the boiling point of water? Answer: 100 degrees Celsius.",
    "It was a wonderful, moving film. The plot was dull and the acting was terrible.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Mercury is the planet closest to the sun; Neptune is the farthest.",
    "positive negative true false yes no the a an of in on at to is was are",
]

ARCH_KW = {
    "llama": dict(model_type="llama", num_hidden_layers="L", hidden_size="H", intermediate_size="2H",
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512),
    "qwen2": dict(model_type="qwen2", num_hidden_layers="L", hidden_size="H", intermediate_size="2H",
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512),
    "mistral": dict(model_type="mistral", num_hidden_layers="L", hidden_size="H", intermediate_size="2H",
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512),
    "gemma": dict(model_type="gemma", num_hidden_layers="L", hidden_size="H", intermediate_size="2H",
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512),
    "gpt2": dict(model_type="gpt2", n_layer="L", n_embd="H", n_head=4, n_positions=512),
    "opt": dict(model_type="opt", num_hidden_layers="L", hidden_size="H", ffn_dim="2H", num_attention_heads=4,
                max_position_embeddings=512, word_embed_proj_dim="H"),
    "gpt_neox": dict(model_type="gpt_neox", num_hidden_layers="L", hidden_size="H", intermediate_size="2H",
                     num_attention_heads=4, max_position_embeddings=512),
}


def make_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on CORPUS (every string is encodable)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<|pad|>")


def make_tiny_llm(folder: str | Path | None = None, n_layers: int = 4, arch: str = "llama", hidden: int = 64,
                  seed: int = 0):
    """Build (model, tokenizer) of family ``arch`` with ``n_layers`` decoder blocks; save to ``folder`` if given."""
    tokenizer = make_tokenizer()
    kw = {}
    for key, val in ARCH_KW[arch].items():
        kw[key] = {"L": n_layers, "H": hidden, "2H": 2 * hidden}.get(val, val) if isinstance(val, str) else val
    model_type = kw.pop("model_type")
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **kw)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    if folder is not None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return model, tokenizer
