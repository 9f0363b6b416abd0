"""Tiny random causal LMs and a byte-level BPE tokenizer built in code (no hub access).

Used by the evaluation tests until the shared ``tests/tiny_llm.py`` helper exists.
"""
from __future__ import annotations

import torch

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Question: What is the capital of France?\nAnswer: Paris, the city of light.",
    "Q: who wrote hamlet?\nA: William Shakespeare",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "This movie is wonderful. Is this sentence positive or negative? positive negative",
    "Numbers 0 1 2 3 4 5 6 7 8 9 and punctuation , . ; : ! ? ' \" ( ) - appear here.",
]


def make_tokenizer():
    """A byte-level BPE tokenizer (any text encodes) with bos/eos/pad set."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(SENTENCES * 4, vocab_size=400, min_frequency=1,
                            special_tokens=["<bos>", "<eos>", "<pad>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<bos>",
                                   eos_token="<eos>", pad_token="<pad>")


def make_tiny_llm(folder=None, n_layers: int = 4, seed: int = 0):
    """Random tiny Llama (hidden 32) and tokenizer; saved to ``folder`` when given."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = make_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    if folder is not None:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    return model, tok
