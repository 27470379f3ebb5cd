"""sim.search.pareto: the one Pareto front — dominance, the tie rule, front order, refusals, and a brute-force check."""
import io
import math

import pytest
from hypothesis import given, strategies as st

from sim.ir.mapping import MappingError
from sim.search.pareto import pareto, pareto_front
from sim.search.progress import CallbackBar, ForeignBar, SilentBar, TextBar, progress_bar


def test_front_drops_dominated_points_and_is_in_lexicographic_order():
    pts = [(3, 1), (1, 5), (2, 2), (2, 3), (1, 6)]
    assert pareto_front(pts) == [1, 2, 0]


def test_identical_points_are_kept_once_the_first():
    """The tie rule: identical points count as one, the first in input order is kept."""
    pts = [(2, 2, 2), (1, 5, 1), (2, 2, 2), (1, 5, 1)]
    assert pareto_front(pts) == [1, 0]


def test_equal_in_one_coordinate_is_dominated_when_worse_in_another():
    assert pareto_front([(1, 5, 2), (1, 5, 1)]) == [1]


def test_pareto_of_items_with_a_key():
    rows = [{"lat": 2, "en": 1}, {"lat": 1, "en": 2}, {"lat": 2, "en": 2}]
    assert pareto(rows, key=lambda r: (r["lat"], r["en"])) == [rows[1], rows[0]]


def test_infinite_coordinates_are_ranked_last():
    assert pareto_front([(math.inf, 0), (1, 1), (1, math.inf)]) == [1, 0]


def test_empty_input_gives_an_empty_front():
    assert pareto_front([]) == [] and pareto([], key=lambda x: x) == []


@pytest.mark.parametrize("points,fragment", [
    ([(1, math.nan)], "point 0 has a NaN"),
    ([(1, 2), (1, 2, 3)], "point 1 has 3 coordinates, point 0 has 2"),
    ([(1, None)], "point 0 must be a sequence of numbers"),
    (["ab"], "point 0 must be a sequence of numbers"),
    ([(True, 1)], "point 0 must be a sequence of numbers"),
    ([()], "point 0 has 0 coordinates"),
    ([tuple(range(17))], "17 coordinates (1 to 16 allowed)"),
])
def test_bad_points_are_refused_by_index(points, fragment):
    with pytest.raises(MappingError) as e:
        pareto_front(points)
    assert fragment in str(e.value) and len(str(e.value)) < 200


@given(st.lists(st.tuples(*(st.integers(0, 6),) * 3), max_size=40))
def test_front_equals_brute_force(points):
    """Exactly the distinct non-dominated points, each once at its first index, in lexicographic order."""
    def dominated(p):
        return any(all(q[k] <= p[k] for k in range(3)) and q != p for q in points)
    expected = sorted({p: points.index(p) for p in points if not dominated(p)}.items())
    assert pareto_front(points) == [i for _, i in expected]


# ---- progress ----------------------------------------------------------------------------------------------------

def test_text_bar_redraws_one_bounded_line_and_finishes_it_at_the_total():
    out = io.StringIO()
    bar = TextBar(4, "sweep " + "x" * 200, stream=out)
    for k in range(4):
        bar.update(note=f"cell {k} " + "y" * 100)
    bar.close()                                     # already finished: no second newline
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and "4/4" in text
    assert max(len(line) for line in text.split("\r")) < 200


def test_text_bar_without_a_total_counts():
    out = io.StringIO()
    bar = TextBar(None, "explore", stream=out)
    bar.update(3)
    bar.close()
    assert "explore 3 " in out.getvalue() and out.getvalue().endswith("\n")


def test_progress_bar_kinds():
    calls = []
    assert isinstance(progress_bar(None, 3, "x"), SilentBar) and isinstance(progress_bar(False, 3, "x"), SilentBar)
    assert isinstance(progress_bar(True, 3, "x"), TextBar)
    cb = progress_bar(lambda d, t, l: calls.append((d, t, l)), 3, "x")
    assert isinstance(cb, CallbackBar)
    cb.update(2)
    cb.update()
    assert calls == [(2, 3, "x"), (3, 3, "x")]

    class Foreign:
        n, closed = 0, False

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True
    f = Foreign()
    bar = progress_bar(f, 3, "x")
    assert isinstance(bar, ForeignBar)
    bar.update(2, note="ignored")
    bar.close()
    assert f.n == 2 and f.closed


def test_progress_bar_refuses_other_values():
    with pytest.raises(MappingError, match="progress must be None, True, False"):
        progress_bar(3, 1, "x")
