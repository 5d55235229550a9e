"""The number tokenizer and the ${tokenizer:...} resolver."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from xlm.tokenizer import NumberTokenizer, register_resolvers


def test_special_tokens_come_first_with_fixed_ids(tokenizer):
    assert tokenizer.encode("<pad> <bos> <eos> <mask> <sep>") == [0, 1, 2, 3, 4]
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, tokenizer.sep_token_id) == (0, 3, 4)
    assert tokenizer.full_vocab_size == len(tokenizer) == 25


def test_encode_decode_round_trip(tokenizer):
    ids = tokenizer.encode("<bos> 0 7 19 <sep> 3")
    assert ids == [1, 5, 12, 24, 4, 8]
    assert tokenizer.decode(ids) == "<bos> 0 7 19 <sep> 3"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "0 7 19 3"
    assert tokenizer.batch_decode([[5, 6], [0, 7]], skip_special_tokens=True) == ["0 1", "2"]


@pytest.mark.parametrize("text", ["20", "-1", "x", "<unk>"])
def test_tokens_outside_the_vocabulary_are_rejected(tokenizer, text):
    with pytest.raises(ValueError):
        tokenizer.encode(text)


def test_ids_outside_the_vocabulary_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokenizer.decode([25])


def test_resolver_reads_the_tokenizer_the_config_describes():
    register_resolvers()
    register_resolvers()  # idempotent
    cfg = OmegaConf.create(
        {
            "tokenizer": {"_target_": "xlm.tokenizer.NumberTokenizer", "num_ids": "${data.ids}"},
            "data": {"ids": 7},
            "model": {"num_embeddings": "${tokenizer:full_vocab_size}", "mask": "${tokenizer:mask_token_id}"},
        }
    )
    assert cfg.model.num_embeddings == 12
    assert cfg.model.mask == 3
    cfg.data.ids = 50
    assert cfg.model.num_embeddings == 55


def test_resolver_without_a_tokenizer_node_says_so():
    register_resolvers()
    cfg = OmegaConf.create({"model": {"n": "${tokenizer:full_vocab_size}"}})
    with pytest.raises(Exception, match="needs a 'tokenizer' node"):
        _ = cfg.model.n


def test_num_ids_must_be_positive():
    with pytest.raises(ValueError):
        NumberTokenizer(0)
