import pytest

from qlongbench.hashing import ids_sha256
from qlongbench.run.scheduler import common_prefix_len, group_by_prefix, order_groups, tokens_to_prefill
from qlongbench.types import Sample


def sample(sid, ids, prefix_len, length=None):
    return Sample(sample_id=sid, task="t", language="en", instruction_language="en", length=length or len(ids),
                  index=0, seed=0, status="ok", prompt_ids=tuple(ids), prefix_len=prefix_len, max_new_tokens=4,
                  expected=("1",), prompt_sha256=ids_sha256(ids))


@pytest.mark.parametrize("a,b,n", [
    ((), (), 0), ((1, 2, 3), (), 0), ((1, 2, 3), (1, 2, 3), 3), ((1, 2, 3), (1, 2), 2),
    ((1, 2, 3), (1, 9, 3), 1), ((5,), (6,), 0), (tuple(range(1000)), tuple(range(999)) + (7,), 999),
])
def test_common_prefix_len(a, b, n):
    assert common_prefix_len(a, b) == n


def test_questions_on_one_context_form_one_group():
    ctx = list(range(100))
    samples = [sample("a", ctx + [1000, 1001], 100), sample("b", ctx + [2000], 100), sample("c", [7] * 50 + [3], 50)]
    groups = group_by_prefix(samples)
    assert [len(g.samples) for g in groups] == [2, 1]
    assert [s.sample_id for s in groups[0].samples] == ["a", "b"]


def test_nested_contexts_are_chained_longest_first():
    master = list(range(10, 1010))
    other = [3] * 600
    samples = [
        sample("n250", master[:250] + [1], 250), sample("o600", other + [1], 600),
        sample("n1000", master + [1], 1000), sample("n500", master[:500] + [1], 500),
    ]
    order = [g.samples[0].sample_id for g in order_groups(group_by_prefix(samples))]
    assert order == ["n1000", "n500", "n250", "o600"]
    # the nested chain costs its longest context once; the unrelated context is prefilled anew
    assert tokens_to_prefill(order_groups(group_by_prefix(samples))) == 1000 + 600


def test_naive_order_costs_every_prompt():
    master = list(range(1, 2001))
    samples = [sample(f"n{n}", master[:n] + [0], n) for n in (500, 1000, 1500, 2000)]
    chained = order_groups(group_by_prefix(samples))
    assert tokens_to_prefill(chained) == 2000
    assert sum(len(s.prompt_ids) for s in samples) == 5004


def test_batches_bucket_lone_prompts_by_length_and_keep_chains_whole():
    from qlongbench.run.scheduler import Batch, plan_batches

    master = list(range(10, 1010))
    nested = [sample("n1000", master + [1], 1000), sample("n500", master[:500] + [1], 500, length=600)]
    lone = [sample(f"a{i}", [100 + i] * 300 + [1], 300, length=400) for i in range(5)]
    lone += [sample(f"b{i}", [200 + i] * 700 + [1], 700, length=800) for i in range(2)]
    work = plan_batches(group_by_prefix(nested + lone), batch_size=2)
    kinds = [(type(w).__name__, [s.sample_id for s in w.samples]) for w in work]
    assert kinds == [
        ("PrefixGroup", ["n1000"]), ("PrefixGroup", ["n500"]),   # the nested chain, together, first
        ("Batch", ["b0", "b1"]),
        ("Batch", ["a0", "a1"]), ("Batch", ["a2", "a3"]), ("PrefixGroup", ["a4"]),
    ]
    assert all(len(w.samples) <= 2 for w in work if isinstance(w, Batch))
    # batch_size 1 is the plain chained order
    assert [w for w in plan_batches(group_by_prefix(nested + lone), 1)] == order_groups(group_by_prefix(nested + lone))


@pytest.mark.parametrize("n,ratio_to_1k", [(1024, 1.0), (2048, 8 / 3), (4096, 8.0), (8192, 80 / 3), (0, 0.0)])
def test_prefill_cost_is_quadratic_past_the_knee(n, ratio_to_1k):
    from qlongbench.run.scheduler import prefill_cost

    assert prefill_cost(n) / prefill_cost(1024) == pytest.approx(ratio_to_1k)


def test_chain_costs_put_the_prefill_on_the_first_answer():
    from qlongbench.run.scheduler import Cost, answer_cost, chains, chain_costs, prefill_cost

    master = list(range(10, 1010))
    samples = [sample("q1", master + [1], 1000), sample("q2", master + [2], 1000), sample("cut", master[:500] + [3], 500),
               sample("alone", [7] * 300 + [4], 300)]
    (long, alone) = chains(group_by_prefix(samples))
    costs = dict((s.sample_id, c) for s, c in chain_costs(long))
    assert costs == {"q1": Cost(prefill_cost(1000), answer_cost(1001)), "q2": Cost(0.0, answer_cost(1001)),
                     "cut": Cost(0.0, answer_cost(501))}
    assert {s.sample_id: c for s, c in chain_costs(alone)} == {"alone": Cost(prefill_cost(300), answer_cost(301))}


def test_a_sample_that_generates_nothing_has_no_answer_cost():
    """A log-prob document (max_new_tokens 0) costs its prefill only, so the progress counter does not
    read its zero decode seconds as a cheap answer."""
    from qlongbench.run.scheduler import Cost, chain_costs, chains, prefill_cost

    doc = sample("doc", list(range(10, 2058)), 2048).model_copy(update={"max_new_tokens": 0})
    assert [c for _, c in chain_costs(chains(group_by_prefix([doc]))[0])] == [Cost(prefill_cost(2048), 0.0)]
