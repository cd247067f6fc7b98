"""rnnlab.modules.embedding: word and singleton dropout (training only, never padding), the char CNN."""
import torch

from rnnlab.modules.embedding import CharCNN, WordDropout

PAD, UNK = 0, 1


def tokens(b=400, t=12, vocab=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(2, vocab, (b, t), generator=g)
    x[:, -3:] = PAD  # every row padded at the end
    return x


def test_training_only_and_never_padding():
    x = tokens()
    drop = WordDropout(0.3, UNK, PAD)
    assert torch.equal(drop.eval()(x), x)  # eval: identity
    torch.manual_seed(0)
    y = drop.train()(x)
    replaced = y != x
    assert torch.equal(y[replaced], torch.full_like(y[replaced], UNK))  # replaced words become <unk>
    assert not replaced[x == PAD].any()
    assert abs(replaced[x != PAD].float().mean().item() - 0.3) < 0.03


def test_the_mask_is_the_first_uniform_draw():
    """One documented draw order (rand < p first, then the singleton draw), so a seed gives the same masks
    in every task and a run keeps its figures when the dropout moves between modules."""
    x = tokens(b=50)
    torch.manual_seed(3)
    expected = x.masked_fill((torch.rand(x.shape) < 0.2) & (x != PAD), UNK)
    torch.manual_seed(3)
    assert torch.equal(WordDropout(0.2, UNK, PAD).train()(x), expected)


def test_singleton_dropout_replaces_only_singletons():
    x = tokens()
    singletons = torch.zeros(10, dtype=torch.bool)
    singletons[[4, 7]] = True
    torch.manual_seed(0)
    y = WordDropout(0.0, UNK, PAD, singleton_p=0.5, singletons=singletons).train()(x)
    single = singletons[x]
    assert not (y != x)[~single].any()
    assert abs((y != x)[single].float().mean().item() - 0.5) < 0.05


def test_word_dropout_holds_no_state_dict_entries():
    """Bundles saved before word dropout was a module hold the same tensors (state_dict keys unchanged)."""
    drop = WordDropout(0.1, UNK, PAD, singleton_p=0.5, singletons=torch.zeros(10, dtype=torch.bool))
    assert drop.state_dict() == {} and drop.singletons is not None


def test_char_cnn_ignores_char_padding():
    torch.manual_seed(0)
    cnn = CharCNN(num_chars=20, dim=4, filters=6, width=3)
    word = torch.tensor([[[5, 6, 7]]])  # (B=1, T=1, L=3)
    padded = torch.tensor([[[5, 6, 7, 0, 0]]])  # the same word in a batch with longer words
    a, b = cnn(word), cnn(padded)
    assert a.shape == (1, 1, 6)
    # the pad char embeds to zeros, as the conv's own zero padding does, and padded positions never win the max
    assert torch.equal(a, b)
