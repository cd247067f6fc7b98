"""rnnlab.modules.classifier: the many-to-one classifier the intent and API-call tasks share. Its state-dict keys
and parameter order are what saved bundles and seeded runs rely on; its steps are left-to-right guesses."""
import pytest
import torch

from rnnlab.modules.classifier import IntentModel, IntentModelConfig

CFG = IntentModelConfig(cell="lstm", embed_size=8, hidden_size=6, num_layers=2, dropout=0.3, word_dropout=0.5)


def model(cfg: IntentModelConfig = CFG) -> IntentModel:
    torch.manual_seed(0)
    return IntentModel(vocab_size=20, n_intents=4, cfg=cfg, pad_id=0, unk_id=1)


def test_state_dict_keys_and_order_are_those_saved_bundles_hold():
    # creation order: embedding, recurrent stack, head (word dropout and dropout hold no weights)
    assert [(k, tuple(v.shape)) for k, v in model().state_dict().items()] == [
        ("embed.weight", (20, 8)),
        ("encoder.weight_ih_l0", (24, 8)), ("encoder.weight_hh_l0", (24, 6)),
        ("encoder.bias_ih_l0", (24,)), ("encoder.bias_hh_l0", (24,)),
        ("encoder.weight_ih_l1", (24, 6)), ("encoder.weight_hh_l1", (24, 6)),
        ("encoder.bias_ih_l1", (24,)), ("encoder.bias_hh_l1", (24,)),
        ("head.weight", (4, 6)), ("head.bias", (4,)),
    ]
    assert model().embed.padding_idx == 0 and not model().encoder.bidirectional


def test_the_intent_task_re_exports_the_same_classes():
    from rnnlab.tasks import intent

    assert intent.IntentModel is IntentModel and intent.IntentModelConfig is IntentModelConfig
    assert intent.IntentTask.ModelConfig is IntentModelConfig


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm"])
def test_the_decision_is_the_step_at_each_true_end_and_ignores_padding(cell):
    m = model(IntentModelConfig(cell=cell, embed_size=8, hidden_size=6, num_layers=2)).eval()
    torch.manual_seed(1)
    tokens = torch.randint(2, 20, (3, 5))  # (B, T)
    lengths = torch.tensor([5, 2, 3])
    final, steps = m(tokens, lengths)
    assert final.shape == (3, 4) and steps.shape == (3, 5, 4)
    torch.testing.assert_close(final, steps[torch.arange(3), lengths - 1])
    padded = tokens.clone()
    padded[1, 2:], padded[2, 3:] = 0, 7  # whatever lies past a sequence's end
    torch.testing.assert_close(m(padded, lengths)[0], final)
    # left to right: the guess after word t does not depend on the words after it
    changed = tokens.clone()
    changed[0, 3:] = 19
    torch.testing.assert_close(m(changed, lengths)[1][0, :3], steps[0, :3])


def test_embedded_replaces_the_lookup():
    m = model().eval()
    tokens, lengths = torch.tensor([[3, 4, 5]]), torch.tensor([3])
    final, steps = m(tokens, lengths, embedded=m.embed(tokens))
    torch.testing.assert_close(final, m(tokens, lengths)[0])
    other = m(tokens, lengths, embedded=torch.zeros(1, 3, 8))[0]
    assert not torch.allclose(other, final)


def test_word_dropout_only_in_training():
    m = model(IntentModelConfig(embed_size=8, hidden_size=6, dropout=0.0, word_dropout=0.9))
    tokens, lengths = torch.randint(2, 20, (8, 6)), torch.full((8,), 6)
    m.eval()
    torch.testing.assert_close(m(tokens, lengths)[0], m(tokens, lengths)[0])
    m.train()
    torch.manual_seed(0)
    assert (m.word_dropout(tokens) == 1).float().mean() > 0.5  # most words become <unk> ...
    assert not (m.word_dropout(torch.zeros_like(tokens)) == 1).any()  # ... never padding
