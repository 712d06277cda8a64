"""The trusted-checker grade cells of lesson 01 (grader.checks.lesson01) against the solution, blanks and bugs."""
from __future__ import annotations

import pytest
from lesson_harness import Lesson, LessonTests

from grader.pipeline.regions import strip_regions

#: The hint the old grade cell printed for each planted bug (by exercise).
BUG_HINTS = {
    "chain": "derivative taken at the output a_l instead of the input z_l",
    "worked_gradients": "off by a factor 1/2",
    "node_ops": "overwritten (=) instead of accumulated (+=)",
    "node_div": "the minus sign is missing",
    "node_backward": "reverse topological order",
}
LESSON = Lesson("01_scalar_backprop", seed=12345, bug_seed=12345, bug_hints=BUG_HINTS,
                grade_ids={"test_chain", "test_worked_gradients", "test_node_ops", "test_node_div", "test_node_backward"})
POINTS = LESSON.points
solution_ns = LESSON.solution_fixture()


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON


# one wrong answer per exercise, in a style bugs.json does not plant
WRONG = [
    ("chain", "grad_a = delta * float(ws[l - 1])", "grad_a = delta", "test_chain", "grad_ws"),
    ("worked_gradients", "return grad_W, grad_V", "return grad_W.T, grad_V", "test_worked_gradients",
     "transposed"),
    ("node_ops", "self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
     "self.grad += self.data * out.grad\n            other.grad += other.data * out.grad", "test_node_ops",
     "swapped"),
    ("node_div", "other.grad += -self.data / other.data ** 2 * out.grad",
     "other.grad += -self.data / other.data * out.grad", "test_node_div", "the square of y is missing"),
    ("node_div", "self.grad += out.grad / other.data", "self.grad = out.grad / other.data", "test_node_div",
     "x.grad was overwritten (=) instead of accumulated (+=)"),
    ("node_div", "other.grad += -self.data / other.data ** 2 * out.grad",
     "other.grad = -self.data / other.data ** 2 * out.grad", "test_node_div",
     "y.grad was overwritten (=) instead of accumulated (+=)"),
]


@pytest.mark.parametrize("exercise, find, replace, grade_id, expect", WRONG, ids=[w[0] for w in WRONG])
def test_wrong_answer_loses_points(solution_ns, exercise, find, replace, grade_id, expect):
    ns = LESSON.patched(solution_ns, exercise, find, replace)
    score, text = LESSON.score(ns, grade_id)
    assert score < POINTS[grade_id], text
    assert expect in text, text


RECURSIVE_SORT = '''
def topological_order(root):
    out, seen = [], set()
    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for child in node._prev:
                visit(child)
            out.append(node)
    visit(root)
    return out
'''

NAIVE_RECURSION = '''
def node_backward(root):
    root.grad = 1.0
    def push(node):
        node._backward()
        for child in node._prev:
            push(child)
    push(root)
'''

BAD_ORDER = '''
def topological_order(root):
    order, seen, todo = [], set(), [root]
    while todo:
        node = todo.pop()
        if id(node) not in seen:
            seen.add(id(node))
            order.append(node)
            todo.extend(node._prev)
    return order[::-1]
'''


@pytest.mark.parametrize("code, expect", [(RECURSIVE_SORT, "RecursionError"), (NAIVE_RECURSION, "more than once"),
                                          (BAD_ORDER, "topological_order")],
                         ids=["recursive-sort", "naive-recursion", "preorder"])
def test_wrong_backward_loses_points(solution_ns, code, expect):
    ns = _with(solution_ns, code)
    score, text = LESSON.score(ns, "test_node_backward")
    assert score < POINTS["test_node_backward"], text
    assert expect in text, text
    for other in ("test_node_ops", "test_chain"):
        assert LESSON.score(ns, other)[0] == POINTS[other]


def test_node_backward_ignores_the_students_local_rules(solution_ns):
    """Exercise 4 is graded with correct local rules, whatever the student's Node computes."""
    ns = LESSON.patched(solution_ns, "node_ops", "self.grad += 2.0 * self.data * out.grad", "self.grad += 0.0")
    assert LESSON.score(ns, "test_node_ops")[0] < POINTS["test_node_ops"]
    assert LESSON.score(ns, "test_node_backward")[0] == POINTS["test_node_backward"]


# ------------------------------------------------------------------ fair verdicts (misgradings fixed)
LEAVES_LEFT_OUT = '''
def topological_order(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            if node._prev:
                order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in node._prev if id(c) not in seen)
    return order
'''

ONLY_THE_ROOT = '''
def node_backward(root):
    root.grad = 1.0
    root._backward()
'''

ROOT_GRAD_NOT_SET = '''
def node_backward(root):
    for node in reversed(topological_order(root)):
        node._backward()
'''


def _with(solution_ns, code: str) -> dict:
    """The solution's node_backward cell followed by ``code`` (which redefines one of its functions)."""
    return LESSON.with_cells(solution_ns, {"node_backward": LESSON.solution_cells["node_backward"] + "\n" + code})


def test_an_incomplete_topological_order_is_named_plainly(solution_ns):
    """It used to be told "a node comes before one of its inputs" (or to crash the check with a KeyError)."""
    score, text = LESSON.score(_with(solution_ns, LEAVES_LEFT_OUT), "test_node_backward")
    assert score < POINTS["test_node_backward"], text
    assert "topological_order returned" in text and "missing (a leaf with data" in text, text
    assert "comes before" not in text and "KeyError" not in text and "Traceback" not in text, text


def test_nodes_never_called_are_named_not_the_order(solution_ns):
    """Only the root's _backward called: not an ordering mistake, so no reverse-topological-order hint."""
    score, text = LESSON.score(_with(solution_ns, ONLY_THE_ROOT), "test_node_backward")
    assert score == 0.0, text
    assert "never called the _backward of" in text, text
    assert "reverse topological order" not in text, text


def test_root_grad_not_set_is_named_not_the_order(solution_ns):
    score, text = LESSON.score(_with(solution_ns, ROOT_GRAD_NOT_SET), "test_node_backward")
    assert score == 0.0, text
    assert "root.grad is 0.0 after node_backward, expected 1" in text, text
    assert "Hint" not in text, text


def test_a_node_constructor_that_returns_no_node_gets_a_plain_message(solution_ns):
    ns = dict(solution_ns)
    exec("def Node(data, _children=(), _op='', label=''):\n    return float(data)\n", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_node_ops")
    assert score == 0.0, text
    assert "Node(x): expected a Node, got float" in text, text
    assert "AttributeError" not in text, text


def test_a_wrong_shape_gets_no_batch_hint_it_does_not_fit(solution_ns):
    """A (1, 3) answer at B = 1 used to be told "the batch axis should have been summed away"."""
    ns = dict(solution_ns)
    exec("def worked_gradients(X, W, V, T):\n    return [[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]\n", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_worked_gradients")
    assert score == 0.0, text
    assert "grad_W (B = 1): expected shape (2, 2), got shape (1, 3)." in text, text
    assert "Hint" not in text, text


def test_division_is_graded_on_its_own(solution_ns):
    """A wrong division costs only its cell; the other cells keep full points."""
    ns = LESSON.patched(solution_ns, "node_div", "self.grad += out.grad / other.data", "self.grad += out.grad * other.data")
    assert LESSON.score(ns, "test_node_div")[0] == 0.0
    for other in ("test_node_ops", "test_node_backward", "test_chain"):
        assert LESSON.score(ns, other)[0] == POINTS[other]


def test_division_x_over_x_names_the_lost_contribution(solution_ns):
    """A rule right for x / y but not for x / x (the second line reads a stale value) is told about x / x."""
    same = "Node.__truediv__ = node_truediv"
    ns = LESSON.patched(solution_ns, "node_div", same, same)        # a fresh Node class: the shared one stays untouched
    exec("""
def node_truediv(self, other):
    other = other if isinstance(other, Node) else Node(other)
    out = Node(self.data / other.data, (self, other), "/")
    def _backward():
        before = other.grad
        self.grad += out.grad / other.data
        if self is other:
            return
        other.grad = before - self.data / other.data ** 2 * out.grad
    out._backward = _backward
    return out
Node.__truediv__ = node_truediv
""", ns)  # noqa: S102
    score, text = LESSON.score(ns, "test_node_div")
    assert score == 0.0, text
    assert "expected 0 (x / x = 1 does not depend on x)" in text, text
    assert "the second contribution (-x / x**2 * out.grad) is missing" in text, text


def test_division_undefined_is_named(solution_ns):
    ns = dict(solution_ns)
    del ns["node_truediv"]
    score, text = LESSON.score(ns, "test_node_div")
    assert score == 0.0 and "node_truediv is not defined" in text, text


def test_topological_order_skeleton_leaves_two_places_to_fill():
    """Exercise 5 gives the stack loop: the student writes only the two marked places, not the whole sort."""
    src = LESSON.solution_cells["node_backward"]
    head = src.split("def node_backward")[0]
    assert head.count("### BEGIN SOLUTION") == 2
    shown = strip_regions(head, "### BEGIN SOLUTION", "### END SOLUTION", "raise NotImplementedError()")
    assert "while stack:" in shown and "visited.add(id(node))" in shown
    assert "order.append(node)" not in shown and "stack.append((node, True))" not in shown


def test_the_solution_earns_node_backward_s_points_on_every_grading_seed(solution_ns):
    """A random graph of saturated sigmoids can have a gradient of 1e-7 that central differences cannot
    measure to the threshold (grading seed 1025 did: correct work lost 0.21 points); such graphs are drawn again."""
    lost = {}
    for seed in (*range(1, 31), 1025):
        value, text = LESSON.score(solution_ns, "test_node_backward", seed=seed)
        if value != LESSON.points["test_node_backward"]:
            lost[seed] = [line for line in text.splitlines() if "FAIL" in line]
    assert not lost, f"the solution lost points on grading seeds {lost}"
