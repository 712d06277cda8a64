"""The grade cells of lesson 04 (modules), run by the trusted checker against a local student.

The solution scores full points with two seeds; the unanswered notebook scores 0; every planted bug of
bugs.json costs points in exactly its grade cells (with its hint); one more wrong answer per exercise
costs points too.
"""
from __future__ import annotations

import json
import linecache
import os
import re
from pathlib import Path

import pytest

from grader.checks.student import local_student
from grader.sandbox.checker import grade_sources, namespace_from_notebook, run_grade_source

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "solutions" / "04_modules"
NOTEBOOK = LESSON / "04_modules.ipynb"
LAST_GRADE_CELL = "test_quiz_deep"  # the exercises and their checks end here; the training demos follow
QUIZ = {"test_quiz_weight_matrices", "test_quiz_init", "test_quiz_deep"}

HINTS = {  # bug index in bugs.json -> a hint the old grade cell gave for it
    0: "the bias b is missing from the forward pass",
    1: "derivative taken at the output a instead of the input z",
    2: "from the last layer to the first",
    3: "the prefix of the outer container(s) is lost",
    4: "the parameter did not change",
    5: "the variance was treated as a constant",
    6: "the answer is 'c'. zeros or any constant",
}

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

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.DOTALL | re.MULTILINE)


def _prime_linecache(nb: dict) -> None:
    """namespace_from_notebook names its cells "<cell >": let inspect.getsource of the coupled demo find its source."""
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if "def coupled_bprop" in src:
            linecache.cache["<cell >"] = (len(src), None, src.splitlines(True), "<cell >")


def _namespace(nb: dict, tmp_path: Path, name: str) -> dict:
    """The namespace of ``nb`` (written to tmp_path) up to its last grade cell (grade cells skipped)."""
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb))
    _prime_linecache(nb)
    return namespace_from_notebook(path, stop_at=LAST_GRADE_CELL)


def _solution_cell(nb: dict, exercise: str) -> dict:
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == exercise:
            return cell
    raise KeyError(exercise)


def _patched(nb: dict, exercise: str, find: str, replace: str) -> dict:
    nb = json.loads(json.dumps(nb))
    cell = _solution_cell(nb, exercise)
    src = "".join(cell["source"])
    assert src.count(find) == 1, f"{find!r} must occur once in cell {exercise}"
    cell["source"] = src.replace(find, replace)
    return nb


def _grade_all(ns: dict, sources: dict, seed: int | None = 7) -> dict:
    out = {}
    for gid, src in sources.items():
        outputs, value = run_grade_source(src, local_student(ns), seed=seed)
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        errors = [o for o in outputs if o.get("output_type") == "error"]
        assert not errors, f"{gid}: the cell raised {errors}"
        out[gid] = (value, text)
    return out


@pytest.fixture(scope="module")
def nb() -> dict:
    return json.loads(NOTEBOOK.read_text())


@pytest.fixture(scope="module")
def sources(nb) -> dict:
    return grade_sources(nb)


@pytest.fixture(scope="module")
def points(nb) -> dict:
    return {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"].get("solution")}


@pytest.fixture(scope="module")
def solution_ns(nb) -> dict:
    _prime_linecache(nb)
    return namespace_from_notebook(NOTEBOOK)


def test_grade_cells_are_in_the_new_form(sources):
    assert set(sources) == {"test_linear", "test_tanh", "test_sequential", "test_named_parameters", "test_sgd",
                            "test_layer_norm"} | QUIZ
    for gid, src in sources.items():
        lines = src.strip().splitlines()
        assert lines[0].startswith('"""Check th'), gid
        assert lines[1] == ("from grader.checks import quiz" if gid in QUIZ else "from grader.checks import lesson04"), gid
        assert lines[-1] == "cases.score()", gid
        assert "### BEGIN HIDDEN TESTS" in src and "### END HIDDEN TESTS" in src, gid


def test_notebook_does_not_import_grader_outside_grade_cells(nb, sources):
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if src in sources.values():
            continue
        assert "import grader" not in src and "from grader" not in src and "checks." not in src, src[:80]


@pytest.mark.parametrize("seed", [None, 12345])
def test_solution_scores_full_points(solution_ns, sources, points, seed):
    graded = _grade_all(solution_ns, sources, seed=seed)
    for gid, (value, text) in graded.items():
        assert value == points[gid], f"{gid}: {value} of {points[gid]}\n{text}"
        assert isinstance(value, float)


def test_unanswered_notebook_scores_zero(nb, sources, tmp_path):
    blank = json.loads(json.dumps(nb))
    for cell in blank["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            src = "".join(cell["source"])
            cell["source"] = _SOLUTION.sub(
                lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n", src)
    graded = _grade_all(_namespace(blank, tmp_path, "blank"), sources)
    for gid, (value, text) in graded.items():
        assert value == 0.0, f"{gid}: {value}\n{text}"
        assert ("is not answered yet" if gid in QUIZ else "not implemented yet") in text, gid


@pytest.mark.parametrize("index", range(7))
def test_planted_bug_costs_exactly_its_grade_cells(nb, sources, points, tmp_path, index):
    bugs = json.loads((LESSON / "bugs.json").read_text())
    bug = bugs[index]
    ns = _namespace(_patched(nb, bug["exercise"], bug["find"], bug["replace"]), tmp_path, f"bug{index}")
    graded = _grade_all(ns, sources)
    for gid, (value, text) in graded.items():
        if gid in bug["grade_ids"]:
            assert value < points[gid], f"{gid} kept its points with bug {index}\n{text}"
            assert bug["quantity"] in text, text
            assert HINTS[index] in text, text
        else:
            assert value == points[gid], f"{gid} lost points with bug {index} (of {bug['grade_ids']})\n{text}"


@pytest.mark.parametrize("exercise, find, replace, gid, message", OTHER_BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(OTHER_BUGS)])
def test_other_wrong_answer_loses_points(nb, sources, points, tmp_path, exercise, find, replace, gid, message):
    ns = _namespace(_patched(nb, exercise, find, replace), tmp_path, exercise)
    value, text = _grade_all(ns, {gid: sources[gid]})[gid]
    assert value < points[gid], text
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


def test_solution_scores_full_points_with_the_lessons_references_stubbed(sources, points, tmp_path):
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
        for gid, src in sources.items():
            outputs, value = run_grade_source(src, who, seed=2024)
            text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
            assert value == points[gid], f"{gid}: {value}\n{text}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


# ------------------------------------------------------------------ fair verdicts (misgradings fixed)
def _with_cell(solution_ns: dict, source: str) -> dict:
    ns = dict(solution_ns)
    exec(compile(source, "<changed cell>", "exec"), ns)  # noqa: S102 - a test's own answer
    return ns


def _solution_source(exercise: str) -> str:
    return "".join(_solution_cell(json.loads(NOTEBOOK.read_text()), exercise)["source"])


def test_zero_grad_inside_step_is_named_as_such(solution_ns, sources, points):
    source = _solution_source("sgd").replace("        for p, g in zip", "        self.zero_grad()\n        for p, g in zip")
    value, text = _grade_all(_with_cell(solution_ns, source), {"test_sgd": sources["test_sgd"]})["test_sgd"]
    assert value == 0.0, text
    assert "the gradients were set to zero before the update" in text, text
    assert "rebind" not in text, text


def test_a_linear_that_caches_only_its_first_input_loses_points(solution_ns, sources, points):
    source = _solution_source("linear").replace("        self.X = X\n", "        if self.X is None:\n            self.X = X\n")
    value, text = _grade_all(_with_cell(solution_ns, source), {"test_linear": sources["test_linear"]})["test_linear"]
    assert value < points["test_linear"], text
    assert "grad_W was computed with the input of an earlier forward call" in text, text


def test_a_tanh_that_caches_only_its_first_input_loses_points(solution_ns, sources, points):
    source = _solution_source("tanh").replace("        self.z = X\n        return np.tanh(self.z)\n",
                                              "        if self.z is None:\n            self.z = X\n        return np.tanh(X)\n")
    value, text = _grade_all(_with_cell(solution_ns, source), {"test_tanh": sources["test_tanh"]})["test_tanh"]
    assert value < points["test_tanh"], text
    assert "the input of an earlier forward call" in text, text


def test_named_parameters_as_lists_pass_and_other_shapes_get_plain_messages(solution_ns, sources, points):
    cell = {"test_named_parameters": sources["test_named_parameters"]}
    as_lists = ('def collect_named_parameters(container, prefix=""):\n    out = []\n'
                '    for i, layer in enumerate(container.layers):\n'
                '        out.extend([n, p] for n, p in layer.named_parameters(prefix + str(i) + "."))\n    return out\n')
    value, text = _grade_all(_with_cell(solution_ns, as_lists), cell)["test_named_parameters"]
    assert value == points["test_named_parameters"], text
    names_only = as_lists.replace("[n, p] for n, p", "n for n, p")
    value, text = _grade_all(_with_cell(solution_ns, names_only), cell)["test_named_parameters"]
    assert value < points["test_named_parameters"], text
    assert "item 0 is a str, expected a (name, array) pair" in text, text
    assert "ValueError" not in text and "<handle" not in text, text
    as_dict = as_lists.replace("out = []", "out = {}").replace(
        "out.extend([n, p] for n, p in", "out.update(").replace('"."))', '"."))')
    value, text = _grade_all(_with_cell(solution_ns, as_dict), cell)["test_named_parameters"]
    assert value < points["test_named_parameters"], text
    assert "expected a list of (name, array) pairs, got a dict" in text, text
    assert "<handle" not in text and "array(" not in text, text


def test_float32_modules_in_networks_earn_full_points(solution_ns, sources, points):
    linear32 = _solution_source("linear").replace(
        "        self.X = X\n        return X @ self.W + self.b",
        "        self.X = np.asarray(X, dtype=np.float32)\n        return self.X @ self.W.astype(np.float32) + self.b")
    linear32 = linear32.replace("return grad_output @ self.W.T", "return (grad_output @ self.W.T).astype(np.float32)")
    value, text = _grade_all(_with_cell(solution_ns, linear32), {"test_linear": sources["test_linear"]})["test_linear"]
    assert value == points["test_linear"], text
    tanh32 = _solution_source("tanh").replace("self.z = X\n", "self.z = np.asarray(X, dtype=np.float32)\n")
    value, text = _grade_all(_with_cell(solution_ns, tanh32), {"test_tanh": sources["test_tanh"]})["test_tanh"]
    assert value == points["test_tanh"], text


def test_points_add_up_to_ten(points):
    assert sum(points.values()) == 10
    assert all(value >= 1 for gid, value in points.items() if gid not in QUIZ)


def test_layer_norm_accepts_a_float32_module_and_a_cached_output(solution_ns, sources, points):
    source = _solution_source("layer_norm").replace(
        "X = np.asarray(X, dtype=np.float64)", "X = np.asarray(X, dtype=np.float32)")
    value, text = _grade_all(_with_cell(solution_ns, source), {"test_layer_norm": sources["test_layer_norm"]})["test_layer_norm"]
    assert value == points["test_layer_norm"], text


def test_an_unanswered_quiz_makes_the_demo_expect_zero_for_its_cells():
    import nbformat

    from grader.pipeline.deps import failing_grade_cells
    failing = failing_grade_cells(nbformat.read(NOTEBOOK, 4), {"quiz"})
    assert failing == QUIZ
