import numpy as np

from xtransfer.batching import LengthGroupedBatches, Rows, SortedBatches


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


def test_sorted_batches_are_longest_first():
    lens = [3, 9, 1, 7, 5]
    assert list(SortedBatches(lens, 2)) == [[1, 3], [4, 0], [2]]


def test_rows_carry_their_index():
    import datasets

    rows = Rows(datasets.Dataset.from_dict({"x": [10, 11, 12]}))
    assert rows.__getitems__([2, 0]) == [{"row": 2, "x": 12}, {"row": 0, "x": 10}]
