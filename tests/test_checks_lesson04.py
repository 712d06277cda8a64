"""The grade cells of lesson 04 (modules), run by the trusted checker against a local student.

The solution scores full points with two seeds; the unanswered notebook scores 0; every planted bug of
bugs.json costs points in exactly its grade cells (with its hint); one more wrong answer per exercise
costs points too.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lesson_harness import Lesson, LessonTests

from grader.sandbox.checker import run_grade_source

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
QUIZ = {"test_quiz_weight_matrices", "test_quiz_init", "test_quiz_deep"}

HINTS = {  # exercise of a bug in bugs.json -> a hint the old grade cell gave for it
    "linear": "the bias b is missing from the forward pass",
    "tanh": "derivative taken at the output a instead of the input z",
    "sequential": "from the last layer to the first",
    "named_parameters": "the prefix of the outer container(s) is lost",
    "sgd": "the parameter did not change",
    "layer_norm": "the variance was treated as a constant",
    "quiz": "the answer is 'c'. zeros or any constant",
}
LESSON = Lesson("04_modules", seed=7, bug_seed=7, bug_hints=HINTS, blank_text=dict.fromkeys(QUIZ, "is not answered yet"),
                grade_ids={"test_linear", "test_tanh", "test_sequential", "test_named_parameters", "test_sgd",
                           "test_layer_norm"} | QUIZ, quizzes=QUIZ)
NOTEBOOK, SOURCES, POINTS = LESSON.notebook_path, LESSON.sources, LESSON.points
solution_ns = LESSON.solution_fixture()


class TestLesson(LessonTests):
    """Full points for the solution, 0 for the blank notebook, each planted bug costs exactly its cells."""

    lesson = LESSON

OTHER_BUGS = [  # (exercise, find, replace, grade cell, text expected in the report)
    ("linear", "self.grad_W += self.X.T @ grad_output", "self.grad_W = self.X.T @ grad_output", "test_linear",
     "grad_W is overwritten (=) instead of accumulated (+=)"),
    ("tanh", "return grad_output * (1.0 - np.tanh(self.z) ** 2)", "return grad_output * (1.0 - self.z ** 2)", "test_tanh",
     "1 - z^2 is not the derivative of tanh"),
    ("sequential", "            X = layer.forward(X)\n", "            layer.forward(X)\n", "test_sequential",
     "Sequential.forward(X of shape"),
    ("named_parameters", 'out.extend(layer.named_parameters(prefix + str(i) + "."))',
     'out.extend((n, p.copy()) for n, p in layer.named_parameters(prefix + str(i) + "."))', "test_named_parameters",
     "expected the module's own array (not a copy)"),
    ("sgd", "p -= self.lr * g", "p += self.lr * g", "test_sgd", "the step went uphill"),
    ("layer_norm", "mean_g = G_hat.mean(axis=1, keepdims=True)", "mean_g = 0.0", "test_layer_norm",
     "the mean was treated as a constant"),
    ("layer_norm", "G_hat = G * self.gamma  # (B, d): dL/dX_hat", "G_hat = G  # (B, d): dL/dX_hat", "test_layer_norm",
     "gamma is missing from grad_input"),
    ("layer_norm", "self.grad_gamma += np.sum(G * self.X_hat, axis=0)", "self.grad_gamma = np.sum(G * self.X_hat, axis=0)",
     "test_layer_norm", "grad_gamma is overwritten (=) instead of accumulated (+=)"),
    ("layer_norm", "self.std = np.sqrt(var + self.eps)", "self.std = np.sqrt(var) + self.eps", "test_layer_norm",
     "eps was added to the standard deviation"),
    ("layer_norm", "mean_g = G_hat.mean(axis=1, keepdims=True)", "mean_g = G_hat.mean(axis=0, keepdims=True)",
     "test_layer_norm", "LayerNorm.backward grad_input"),
    ("quiz", "answer_weight_matrices = 2", "answer_weight_matrices = 3", "test_quiz_weight_matrices",
     "the answer is 2. one matrix per layer"),
    ("quiz", 'answer_deep = "b"', 'answer_deep = "a"', "test_quiz_deep", "the answer is 'b'"),
]


def test_grade_cells_open_with_a_one_line_docstring_and_the_import():
    for gid, src in SOURCES.items():
        lines = src.strip().splitlines()
        assert lines[0].startswith('"""Check th'), gid
        assert lines[1] == ("from grader.checks import quiz" if gid in QUIZ else "from grader.checks import lesson04"), gid


def test_notebook_does_not_use_the_checks_outside_grade_cells():
    for cell in LESSON.nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if src in SOURCES.values():
            continue
        assert "checks." not in src, src[:80]


@pytest.mark.parametrize("exercise, find, replace, gid, message", OTHER_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(OTHER_BUGS)])
def test_other_wrong_answer_loses_points(solution_ns, exercise, find, replace, gid, message):
    value, text = LESSON.score(LESSON.patched(solution_ns, exercise, find, replace), gid)
    assert value < POINTS[gid], text
    assert message in text, text


_AGENT = '''
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
import course_lib
assert course_lib.__file__.startswith(sys.argv[1]), course_lib.__file__
from grader.protocol import Agent
ns = {"__name__": "__main__"}
with contextlib.redirect_stdout(io.StringIO()):
    for cell in json.load(open(sys.argv[2]))["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or "def coupled_bprop" in "".join(cell["source"]):
            continue
        if meta.get("grade_id") == "test_quiz_deep":
            break
        if not (meta.get("grade") and not meta.get("solution")):
            exec("".join(cell["source"]), ns)
agent = Agent(ns)
print("READY", flush=True)
for line in sys.stdin:
    print(agent.respond(line.strip()), flush=True)
'''


def test_solution_scores_full_points_with_the_lessons_references_stubbed(tmp_path):
    """As when graded: the student's process sees course_lib with this lesson's references.json answers raising."""
    import subprocess
    import sys

    from grader.checks.student import Student
    from grader.protocol import Peer
    from grader.sandbox.isolation import references_of, write_stubs

    stubs = write_stubs(ROOT / "course_lib", references_of(ROOT / "solutions", "04_modules"), tmp_path / "stubs")
    (tmp_path / "agent.py").write_text(_AGENT)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "agent.py"), str(stubs), str(NOTEBOOK)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "READY"

        def send(request: str) -> str:
            proc.stdin.write(request + "\n")
            proc.stdin.flush()
            return proc.stdout.readline().strip()

        who = Student(Peer(send), where="sandbox")
        for gid, src in SOURCES.items():
            outputs, value = run_grade_source(src, who, seed=2024)
            text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
            assert value == POINTS[gid], f"{gid}: {value}\n{text}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


# ------------------------------------------------------------------ fair verdicts (misgradings fixed)
def _with_cell(solution_ns: dict, exercise: str, source: str) -> dict:
    """The solution with one answer changed (the other cells' functions still call the solution's)."""
    return LESSON.with_cells(solution_ns, {exercise: source}, every_cell=False)


def test_zero_grad_inside_step_is_named_as_such(solution_ns):
    source = LESSON.solution_cells["sgd"].replace("        for p, g in zip", "        self.zero_grad()\n        for p, g in zip")
    value, text = LESSON.score(_with_cell(solution_ns, "sgd", source), "test_sgd")
    assert value == 0.0, text
    assert "the gradients were set to zero before the update" in text, text
    assert "rebind" not in text, text


def test_a_linear_that_caches_only_its_first_input_loses_points(solution_ns):
    source = LESSON.solution_cells["linear"].replace("        self.X = X\n",
                                                     "        if self.X is None:\n            self.X = X\n")
    value, text = LESSON.score(_with_cell(solution_ns, "linear", source), "test_linear")
    assert value < POINTS["test_linear"], text
    assert "grad_W was computed with the input of an earlier forward call" in text, text


def test_a_tanh_that_caches_only_its_first_input_loses_points(solution_ns):
    source = LESSON.solution_cells["tanh"].replace(
        "        self.z = X\n        return np.tanh(self.z)\n",
        "        if self.z is None:\n            self.z = X\n        return np.tanh(X)\n")
    value, text = LESSON.score(_with_cell(solution_ns, "tanh", source), "test_tanh")
    assert value < POINTS["test_tanh"], text
    assert "the input of an earlier forward call" in text, text


def test_named_parameters_as_lists_pass_and_other_shapes_get_plain_messages(solution_ns):
    as_lists = ('def collect_named_parameters(container, prefix=""):\n    out = []\n'
                '    for i, layer in enumerate(container.layers):\n'
                '        out.extend([n, p] for n, p in layer.named_parameters(prefix + str(i) + "."))\n    return out\n')
    value, text = LESSON.score(_with_cell(solution_ns, "named_parameters", as_lists), "test_named_parameters")
    assert value == POINTS["test_named_parameters"], text
    names_only = as_lists.replace("[n, p] for n, p", "n for n, p")
    value, text = LESSON.score(_with_cell(solution_ns, "named_parameters", names_only), "test_named_parameters")
    assert value < POINTS["test_named_parameters"], text
    assert "item 0 is a str, expected a (name, array) pair" in text, text
    assert "ValueError" not in text and "<handle" not in text, text
    as_dict = as_lists.replace("out = []", "out = {}").replace(
        "out.extend([n, p] for n, p in", "out.update(").replace('"."))', '"."))')
    value, text = LESSON.score(_with_cell(solution_ns, "named_parameters", as_dict), "test_named_parameters")
    assert value < POINTS["test_named_parameters"], text
    assert "expected a list of (name, array) pairs, got a dict" in text, text
    assert "<handle" not in text and "array(" not in text, text


def test_float32_modules_in_networks_earn_full_points(solution_ns):
    linear32 = LESSON.solution_cells["linear"].replace(
        "        self.X = X\n        return X @ self.W + self.b",
        "        self.X = np.asarray(X, dtype=np.float32)\n        return self.X @ self.W.astype(np.float32) + self.b")
    linear32 = linear32.replace("return grad_output @ self.W.T", "return (grad_output @ self.W.T).astype(np.float32)")
    value, text = LESSON.score(_with_cell(solution_ns, "linear", linear32), "test_linear")
    assert value == POINTS["test_linear"], text
    tanh32 = LESSON.solution_cells["tanh"].replace("self.z = X\n", "self.z = np.asarray(X, dtype=np.float32)\n")
    value, text = LESSON.score(_with_cell(solution_ns, "tanh", tanh32), "test_tanh")
    assert value == POINTS["test_tanh"], text


def test_layer_norm_accepts_a_float32_module_and_a_cached_output(solution_ns):
    source = LESSON.solution_cells["layer_norm"].replace(
        "X = np.asarray(X, dtype=np.float64)", "X = np.asarray(X, dtype=np.float32)")
    value, text = LESSON.score(_with_cell(solution_ns, "layer_norm", source), "test_layer_norm")
    assert value == POINTS["test_layer_norm"], text


def test_an_unanswered_quiz_makes_the_demo_expect_zero_for_its_cells():
    import nbformat

    from grader.pipeline.deps import failing_grade_cells
    failing = failing_grade_cells(nbformat.read(NOTEBOOK, 4), {"quiz"})
    assert failing == QUIZ
