import numpy as np
import pytest

from xtransfer.engine.batching import LengthGroupedBatches, Rows, SortedBatches


def lengths(n=1000, seed=0):
    return np.random.default_rng(seed).integers(5, 300, size=n).tolist()


def test_length_grouped_batches_cover_every_row_once_and_group_lengths():
    lens = lengths()
    sampler = LengthGroupedBatches(lens, batch_size=16, group_size=10, seed=3)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lens)))
    assert len(batches) == len(sampler) == 63
    # Padding waste: grouped batches are far tighter than random ones.
    spread = np.mean([max(lens[i] for i in b) - min(lens[i] for i in b) for b in batches])
    random_batches = np.array_split(np.random.default_rng(0).permutation(len(lens)), 63)
    random_spread = np.mean([max(lens[i] for i in b) - min(lens[i] for i in b) for b in random_batches])
    assert spread < random_spread / 4


def test_length_grouped_batches_reshuffle_per_epoch_and_are_deterministic():
    sampler = LengthGroupedBatches(lengths(), batch_size=16, seed=1)
    first = list(sampler)
    assert first == list(LengthGroupedBatches(lengths(), batch_size=16, seed=1))
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_ranks_get_disjoint_equal_shares():
    lens = lengths(100)
    shards = [list(LengthGroupedBatches(lens, 8, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ranks_split_one_epoch_of_the_one_rank_batches(world_size):
    # 100 rows, batches of 8: 13 batches; each rank takes every world_size-th, as many as the fewest has.
    lens = lengths(100)
    whole = LengthGroupedBatches(lens, 8, seed=0)
    whole.set_epoch(2)
    shards = []
    for r in range(world_size):
        sampler = LengthGroupedBatches(lens, 8, seed=0, rank=r, world_size=world_size)
        sampler.set_epoch(2)  # Lightning sets the same epoch on every rank
        shards.append(list(sampler))
    per_rank = 13 // world_size
    assert [len(s) for s in shards] == [per_rank] * world_size
    assert [b for s in zip(*shards) for b in s] == list(whole)[:per_rank * world_size]
    drawn = [i for s in shards for b in s for i in b]
    assert len(drawn) == len(set(drawn))                     # disjoint
    dropped = {i for b in list(whole)[per_rank * world_size:] for i in b}
    assert set(drawn) | dropped == set(range(100))           # and cover the data but the dropped batches


def test_sorted_batches_are_longest_first():
    lens = [3, 9, 1, 7, 5]
    assert list(SortedBatches(lens, 2)) == [[1, 3], [4, 0], [2]]


def test_rows_carry_their_index():
    import datasets

    rows = Rows(datasets.Dataset.from_dict({"x": [10, 11, 12]}))
    assert rows.__getitems__([2, 0]) == [{"row": 2, "x": 12}, {"row": 0, "x": 10}]


# ---------------------------------------------------------------- token-budget batches

from xtransfer.engine.batching import TokenBudgetBatches, as_array, train_batches  # noqa: E402


def padded_size(batch, lens):
    return len(batch) * max(lens[i] for i in batch)


def test_token_budget_batches_fill_greedily_longest_first():
    # Sorted: 10(0) 9(4) 7(2) 3(1) 2(3) 1(5). [0,4]: 2x10=20 fits; +2 would be 30. [2,1]: 2x7=14; +3 would be 21.
    batches = list(TokenBudgetBatches([10, 3, 7, 2, 9, 1], max_tokens=20, pool_size=6))
    assert sorted(batches) == [[0, 4], [2, 1], [3, 5]]


def test_token_budget_never_exceeds_the_budget_and_covers_every_row_once_per_epoch():
    lens = lengths(1000) + [2000, 1500]  # two rows longer than the budget: one batch each
    sampler = TokenBudgetBatches(lens, max_tokens=1024, pool_size=400, seed=5)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(lens)))
        over = [b for b in batches if padded_size(b, lens) > 1024]
        assert sorted(over) == [[1000], [1001]]
        # Short rows share a batch: far fewer batches than rows.
        assert len(batches) < len(lens) / 5


def test_token_budget_is_deterministic_per_seed_and_epoch():
    make = lambda seed: TokenBudgetBatches(lengths(), max_tokens=2048, seed=seed)  # noqa: E731
    sampler = make(1)
    first = list(sampler)
    assert first == list(make(1)) and first != list(make(2))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_token_budget_splits_batches_across_ranks():
    lens = lengths(500)
    whole = list(TokenBudgetBatches(lens, 1024, seed=0))
    shards = [list(TokenBudgetBatches(lens, 1024, seed=0, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(whole) // 2
    assert shards[0] == whole[0::2][:len(whole) // 2] and shards[1] == whole[1::2][:len(whole) // 2]
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


def test_train_batches_picks_the_sampler_from_max_tokens():
    fixed = train_batches(lengths(100), batch_size=8, max_tokens=None, group_size=5, seed=3)
    assert isinstance(fixed, LengthGroupedBatches) and list(fixed) == list(LengthGroupedBatches(lengths(100), 8, 5, 3))
    budget = train_batches(lengths(100), batch_size=8, max_tokens=600, group_size=5, seed=3)
    assert isinstance(budget, TokenBudgetBatches) and budget.pool_size == 40 and budget.max_tokens == 600


def test_lengths_read_from_a_datasets_column():
    import datasets

    column = datasets.Dataset.from_dict({"length": [4, 2, 9]})["length"]
    assert as_array(column).tolist() == [4, 2, 9]
    assert list(SortedBatches(column, 2)) == [[2, 0], [1]]


def test_token_budget_and_fixed_batches_give_the_same_loss_and_gradient():
    """Padding is masked, so in eval mode (no dropout) an example's loss does not depend on its
    batch mates: over one pass of the same rows, the sum of per-example losses and its gradient
    must not depend on how the rows were batched. (Per-step means and updates do differ: the
    number of examples per step is a hyper-parameter, not a numerical detail.)"""
    import torch
    from transformers import XLMRobertaModel

    from xtransfer.engine.batching import loader
    from xtransfer.bench.workloads import WORKLOADS, encoder_config, synthetic_features
    from xtransfer.tasks import get_family

    workload = WORKLOADS["mnli"]
    features = synthetic_features(workload, 96, vocab_size=4000, seed=1)
    family = get_family("classification")
    torch.manual_seed(0)
    encoder = XLMRobertaModel(encoder_config("tiny"), add_pooling_layer=False).eval()
    head = family.build_head(128, workload.task()).eval()
    params = list(encoder.parameters()) + list(head.parameters())

    def one_pass(sampler):
        for p in params:
            p.grad = None
        total, count = 0.0, 0
        for batch in loader(features, sampler, family, pad_id=1, task_name="mnli"):
            loss_sum = family.loss(family.forward(encoder, head, batch), batch) * len(batch["row"])
            loss_sum.backward()
            total, count = total + loss_sum.item(), count + len(batch["row"])
        return total, count, [p.grad.clone() for p in params]

    fixed_sampler = LengthGroupedBatches(features["length"], batch_size=16, seed=0)
    budget_sampler = TokenBudgetBatches(features["length"], max_tokens=700, seed=0)
    assert len(budget_sampler) != len(fixed_sampler)  # the batches really differ
    fixed, budget = one_pass(fixed_sampler), one_pass(budget_sampler)
    assert fixed[1] == budget[1] == 96
    assert abs(fixed[0] - budget[0]) <= 1e-5 * abs(fixed[0])
    # float32 sums in another order; tolerance on the gradients' overall scale (a key bias's gradient is
    # zero up to rounding: softmax ignores a shift)
    scale = max(g.abs().max() for g in fixed[2])
    for a, b in zip(fixed[2], budget[2]):
        assert (a - b).abs().max() <= 1e-5 * scale
