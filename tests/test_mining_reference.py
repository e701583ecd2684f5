"""BUCC mining against a brute-force reference written here: LASER's "max" retrieval with the ratio
margin on random small embedding sets (both directions, the greedy one-use-per-sentence pass,
duplicate sentences), and XTREME's F1-optimal threshold with ties, from every cut by hand."""
from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import torch

from xtransfer.engine import mining
from xtransfer.metrics.ranking import pair_f1


# ---- the reference ---------------------------------------------------------------------------
def reference_candidates(sim: np.ndarray, k: int) -> list[tuple[float, int, int, str]]:
    """Every proposal (margin, source, target, direction) from the full similarity matrix."""
    n, m = sim.shape
    kx, ky = min(k, m), min(k, n)
    x_nn = [sorted(range(m), key=lambda j: -sim[i, j])[:kx] for i in range(n)]
    y_nn = [sorted(range(n), key=lambda i: -sim[i, j])[:ky] for j in range(m)]
    x_mean = [np.mean([sim[i, j] for j in x_nn[i]]) for i in range(n)]
    y_mean = [np.mean([sim[i, j] for i in y_nn[j]]) for j in range(m)]

    def margin(i: int, j: int) -> float:
        return sim[i, j] / ((x_mean[i] + y_mean[j]) / 2)

    forward = [(margin(i, j), i, j, "fwd") for i in range(n) for j in [max(x_nn[i], key=lambda j: margin(i, j))]]
    backward = [(margin(i, j), i, j, "bwd") for j in range(m) for i in [max(y_nn[j], key=lambda i: margin(i, j))]]
    return forward + backward


def reference_mine(sim: np.ndarray, k: int) -> tuple[list[tuple[int, int, float]], dict[str, int]]:
    """Kept pairs best first, and how often each branch of the greedy pass was taken."""
    candidates = reference_candidates(sim, k)
    kept, used_src, used_trg = [], set(), set()
    branches = {"src_used": 0, "trg_used": 0, "bwd_only": 0, "k_capped": int(k > min(sim.shape))}
    fwd_pairs = {(i, j) for _, i, j, d in candidates if d == "fwd"}
    for score, i, j, _ in sorted(candidates, key=lambda c: -c[0]):
        if i in used_src:
            branches["src_used"] += 1
        elif j in used_trg:
            branches["trg_used"] += 1
        else:
            used_src.add(i)
            used_trg.add(j)
            kept.append((i, j, score))
            branches["bwd_only"] += (i, j) not in fwd_pairs
    return kept, branches


def _well_separated(sim: np.ndarray, k: int) -> bool:
    """No near-ties that float32 (the code) and float64 (the reference) could order differently."""
    def apart(values) -> bool:
        values = np.sort(np.asarray(values, dtype=float))
        return bool(np.all(np.diff(values) > 1e-4))
    candidates = reference_candidates(sim, k)
    denominators_ok = all(abs(c[0]) < 1e3 for c in candidates)
    return (apart(sim.ravel()) and denominators_ok
            and apart(sorted({round(c[0], 12) for c in candidates})))


def _random_sides(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sides that share some meanings (translations + noise) and have some of their own."""
    n, m, d = rng.integers(1, 10), rng.integers(1, 10), 6
    shared = rng.normal(size=(min(n, m), d))
    x = np.concatenate([shared[: rng.integers(0, min(n, m) + 1)], rng.normal(size=(n, d))])[:n]
    y = np.concatenate([shared + 0.3 * rng.normal(size=shared.shape), rng.normal(size=(m, d))])[:m]
    y = y[rng.permutation(m)]
    return mining.normalize(torch.tensor(x)), mining.normalize(torch.tensor(y))


# ---- neighbour tables -----------------------------------------------------------------------
def test_normalize_scales_each_row_to_unit_length():
    assert torch.equal(mining.normalize(torch.tensor([[3.0, 4.0], [0.0, 2.0]])), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))


def test_top_k_in_blocks_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    x, y = mining.normalize(torch.randn(9, 4, generator=g)), mining.normalize(torch.randn(7, 4, generator=g))
    assert torch.equal(mining.top_k(x, y, 3, block=2), (x @ y.T).topk(3, dim=1).indices)
    assert mining.top_k(x, y, 10, block=4).shape == (9, 7)  # k capped at the other side's size


def test_every_table_lives_on_the_inputs_device():
    # the meta device stands in for a GPU: a table made on the default device could not take its blocks
    x, y = torch.empty(5, 4, device="meta"), torch.empty(6, 4, device="meta")
    assert {t.device.type for t in mining.knn_both(x, y, 3, block=2)} == {"meta"}
    assert mining.top_k(x, y, 2, block=2).device.type == "meta"


# ---- margin mining -------------------------------------------------------------------------
def test_margin_mine_equals_the_brute_force_reference_on_random_sides():
    rng = np.random.default_rng(2018)
    totals, trials = {"src_used": 0, "trg_used": 0, "bwd_only": 0, "k_capped": 0}, 0
    while trials < 300:
        x, y = _random_sides(rng)
        k = int(rng.integers(1, 6))
        sim = x.double().numpy() @ y.double().numpy().T
        if not _well_separated(sim, k):
            continue
        trials += 1
        expected, branches = reference_mine(sim, k)
        got = mining.margin_mine(x, y, k=k, block=int(rng.integers(1, 5)))
        assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in expected], (trials, k)
        assert [s for *_, s in got] == pytest.approx([s for *_, s in expected], rel=1e-4)
        assert len({i for i, _, _ in got}) == len(got) == len({j for _, j, _ in got})  # each sentence once
        totals = {name: totals[name] + branches[name] for name in totals}
    # every branch of the greedy pass is reached many times over the trials
    assert min(totals.values()) >= 20, totals


def test_tied_margins_keep_the_proposal_order():
    # Six isolated pairs (margin exactly 2) and six pairs with a distractor beside the target
    # (margin 1/.65 for the pair, .6/.55 for the distractor): ties of distinct pairs, kept in
    # proposal order (x's proposals by row, then y's), the same output every run.
    n, xs, ys = 12, [], []
    for p in range(n):
        e = torch.zeros(2 * n)
        e[2 * p] = 1.0
        xs.append(e)
        ys.append(e)
        if p >= 6:
            ys.append(0.6 * e + 0.8 * torch.nn.functional.one_hot(torch.tensor(2 * p + 1), 2 * n).float())
    got = mining.margin_mine(torch.stack(xs), torch.stack(ys), k=2)
    assert [(i, j) for i, j, _ in got] == [(p, p) for p in range(6)] + [(p, 2 * p - 6) for p in range(6, n)]
    assert [s for *_, s in got] == pytest.approx([2.0] * 6 + [1 / 0.65] * 6)


def test_margin_mine_defaults_to_xtremes_four_neighbours():
    g = torch.Generator().manual_seed(4)
    x, y = mining.normalize(torch.randn(8, 3, generator=g)), mining.normalize(torch.randn(8, 3, generator=g))
    assert mining.margin_mine(x, y) == mining.margin_mine(x, y, k=4) != mining.margin_mine(x, y, k=5)


def test_a_backward_proposal_is_kept_when_the_forward_one_lost_its_target():
    # cosines x0.y0 = 1, x0.y1 = 0, x1.y0 = .8, x1.y1 = .6; k = 1: neighbourhood means x0 1, x1 .8, y0 1, y1 .6.
    # forward: x0 -> y0 (1/1), x1 -> y0 (.8/.9); backward: y0 -> x0 (1), y1 -> x1 (.6/.7).
    # Greedy: (0, 0); x1 -> y0 loses (y0 used); y1's own proposal (1, 1) is kept.
    x = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    got = mining.margin_mine(x, y, k=1)
    assert [(i, j) for i, j, _ in got] == [(0, 0), (1, 1)]
    assert [s for *_, s in got] == pytest.approx([1.0, 0.6 / 0.7])


def test_duplicate_sentences_are_mined_once_and_every_id_pair_is_scored():
    rng = random.Random(7)
    for trial in range(60):
        src_texts = [rng.choice("abcdef") for _ in range(rng.randint(1, 8))]
        trg_texts = [rng.choice("abcdefg") for _ in range(rng.randint(1, 8))]
        vocab = {t: v for t, v in zip("abcdefg", mining.normalize(torch.randn(7, 5, generator=torch.Generator().manual_seed(trial))))}
        src_ids, trg_ids = [f"s{n}" for n in range(len(src_texts))], [f"t{n}" for n in range(len(trg_texts))]
        src_rows, src_groups = mining.unique(src_texts, src_ids)
        trg_rows, trg_groups = mining.unique(trg_texts, trg_ids)
        assert [src_texts[r] for r in src_rows] == list(dict.fromkeys(src_texts))  # first row of each text
        x = torch.stack([vocab[src_texts[r]] for r in src_rows])
        y = torch.stack([vocab[trg_texts[r]] for r in trg_rows])
        mined = mining.margin_mine(x, y, k=2)
        got = mining.expand_to_ids(mined, src_groups, trg_groups)
        # reference: every (source id, target id) whose texts are a mined pair of distinct texts
        texts = {(src_texts[src_rows[i]], trg_texts[trg_rows[j]]): s for i, j, s in mined}
        expected = {(sid, tid): texts[(st, tt)] for sid, st in zip(src_ids, src_texts)
                    for tid, tt in zip(trg_ids, trg_texts) if (st, tt) in texts}
        assert got == expected


# ---- the threshold and the extraction ------------------------------------------------------
def reference_best_threshold(candidates: dict, gold: set) -> float:
    """Every cut of the score-sorted list (stable on ties), exact F1 by pair_f1's definition;
    the first strictly best cut wins; the threshold is the midpoint to the next score."""
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    best, threshold = Fraction(0), 0.0
    for cut in range(1, len(items) + 1):
        kept = [pair for pair, _ in items[:cut]]
        correct = len(set(kept) & gold)
        if correct:
            p, r = Fraction(correct, cut), Fraction(correct, len(gold))
            f1 = 2 * p * r / (p + r)
            if f1 > best:
                best = f1
                threshold = (items[cut - 1][1] + items[cut][1]) / 2 if cut < len(items) else items[cut - 1][1]
    return threshold


def test_best_threshold_and_extraction_equal_the_reference_with_ties():
    rng = random.Random(3)
    for _ in range(400):
        pairs = [(f"s{i}", f"t{rng.randint(0, 5)}") for i in range(rng.randint(1, 10))]
        candidates = {pair: rng.choice([0.5, 0.75, 1.0, 1.25, 1.5]) for pair in pairs}  # many tied scores
        gold = {pair for pair in pairs if rng.random() < 0.5}
        if rng.random() < 0.5:
            gold.add(("s99", "t99"))  # a gold pair never proposed: recall stays below 1
        if not gold:
            continue
        threshold = mining.best_threshold(candidates, gold)
        assert threshold == reference_best_threshold(candidates, gold)
        result = mining.bucc_extract(candidates, gold, threshold)
        kept = {pair for pair, score in candidates.items() if score >= threshold}  # a tie at the threshold is kept
        assert set(result.pairs) == kept and len(result.pairs) == len(kept)
        assert [candidates[p] for p in result.pairs] == sorted((candidates[p] for p in kept), reverse=True)
        assert result.metrics == {**pair_f1(gold, kept), "threshold": threshold}


def test_threshold_ties_keep_every_tied_pair():
    candidates = {("a", "1"): 0.9, ("b", "2"): 0.7, ("c", "3"): 0.7, ("d", "4"): 0.5}
    gold = {("a", "1"), ("b", "2")}
    # cuts: 1 -> F1 2/3; 2 -> 1 (best: midpoint of .7 and .7 is .7); 3 -> 4/5; 4 -> 2/3
    assert mining.best_threshold(candidates, gold) == 0.7
    result = mining.bucc_extract(candidates, gold, 0.7)
    assert result.pairs == [("a", "1"), ("b", "2"), ("c", "3")]  # c ties with b, so it is kept too
    assert result.metrics == pytest.approx({"precision": 200 / 3, "recall": 100.0, "f1": 80.0, "threshold": 0.7})


def test_nothing_correct_gives_zero_scores_and_threshold():
    candidates = {("a", "1"): 0.9, ("b", "2"): 0.4}
    gold = {("a", "2")}
    assert mining.best_threshold(candidates, gold) == 0.0
    result = mining.bucc_extract(candidates, gold, 0.0)
    assert result.pairs == [("a", "1"), ("b", "2")]
    assert result.metrics == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": 0.0}
    assert pair_f1(gold, []) == pair_f1(set(), [("a", "1")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
