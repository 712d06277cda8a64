"""grader.delegation: a graded function that delegates to course_lib's reference of the same exercise earns nothing.

Static analysis only (no kernel): every alias form is found, honest solutions
and the source's own public imports are not findings, and references.json of
every lesson names real course_lib objects and real cells.
"""
import copy
import functools
import json
from pathlib import Path

import nbformat
import pytest

from grader.delegation import (Finding, apply_delegation, find_delegation, load_references, references_path,
                               resolve_reference)
from grader.submissions import complete

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())


@functools.lru_cache(maxsize=None)
def _read(path):
    return nbformat.read(path, as_version=4)


def _source(lesson):
    return copy.deepcopy(_read(ROOT / "solutions" / lesson / f"{lesson}.ipynb"))


def _honest(lesson):
    """The released lesson with every solution cell answered (what a complete, honest student submits)."""
    return complete(_source(lesson), _read(ROOT / "lessons" / lesson / f"{lesson}.ipynb"))


def _refs(lesson):
    return references_path(ROOT / "solutions" / lesson / f"{lesson}.ipynb")


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_solution(lesson, grade_id, code, insert_before=None):
    nb = copy.deepcopy(_honest(lesson))
    i = _index(nb, grade_id)
    nb.cells[i].source = code
    if insert_before is not None:
        nb.cells.insert(i, nbformat.v4.new_code_cell(insert_before))
    return nb


def _find(lesson, nb, source=None):
    return find_delegation(nb, source or _source(lesson), _refs(lesson))


# ------------------------------------------------------------------ references.json
@pytest.mark.parametrize("lesson", LESSONS)
def test_references_name_real_cells_and_course_lib_objects(lesson):
    path = _refs(lesson)
    assert path.exists(), f"{path} is missing"
    entries = load_references(path)
    src = _source(lesson)
    solutions = {c.metadata.nbgrader["grade_id"] for c in src.cells if c.metadata.get("nbgrader", {}).get("solution")}
    grades = {c.metadata.nbgrader["grade_id"] for c in src.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert {e["exercise"] for e in entries} == solutions, "one entry per exercise"
    for entry in entries:
        assert entry["grade_ids"] and set(entry["grade_ids"]) <= grades, entry
        for name in entry["references"]:
            resolve_reference(name)  # raises for a name that is not a course_lib object


@pytest.mark.parametrize("lesson", LESSONS)
def test_honest_solutions_and_public_cell_imports_are_not_findings(lesson):
    # the public cells of every lesson import course_lib (functional helpers, data, fallbacks for the demos)
    assert _find(lesson, _honest(lesson)) == []


# ------------------------------------------------------------------ alias forms
HEAD = 'def mlp_forward(X, Ws, bs, activation="sigmoid"):\n    """doc"""\n'
FORMS = {
    "attribute": "import course_lib.mlp\n" + HEAD + "    return course_lib.mlp.mlp_forward(X, Ws, bs, activation)\n",
    "module alias": "import course_lib.mlp as m\n" + HEAD + "    return m.mlp_forward(X, Ws, bs, activation)\n",
    "from package import module": "from course_lib import mlp\n" + HEAD + "    return mlp.mlp_forward(X, Ws, bs, activation)\n",
    "from module import function as f": "from course_lib.mlp import mlp_forward as f\n" + HEAD + "    return f(X, Ws, bs, activation)\n",
    "getattr with a constant": "import course_lib.mlp\n" + HEAD + "    return getattr(course_lib.mlp, 'mlp_forward')(X, Ws, bs, activation)\n",
    "importlib.import_module": "import importlib\n" + HEAD + "    return importlib.import_module('course_lib.mlp').mlp_forward(X, Ws, bs, activation)\n",
    "import_module aliased inside the function": HEAD + "    from importlib import import_module as im\n    mod = im('course_lib.mlp')\n"
                                                 "    return mod.mlp_forward(X, Ws, bs, activation)\n",
    "module name built at run time": "import importlib\n" + HEAD + "    return importlib.import_module('course_lib.' + 'mlp').mlp_forward(X, Ws, bs, activation)\n",
    "__import__": HEAD + "    return __import__('course_lib.mlp', fromlist=['mlp_forward']).mlp_forward(X, Ws, bs, activation)\n",
    "sys.modules": "import sys\n" + HEAD + "    return sys.modules['course_lib.mlp'].mlp_forward(X, Ws, bs, activation)\n",
    "vars(module)[name]": "import course_lib.mlp as m\n" + HEAD + "    return vars(m)['mlp_forward'](X, Ws, bs, activation)\n",
    "default argument": "import course_lib.mlp as m\n" + 'def mlp_forward(X, Ws, bs, activation="sigmoid", impl=m.mlp_forward):\n'
                        "    return impl(X, Ws, bs, activation)\n",
    "rebinding the graded name": "import course_lib.mlp as m\nmlp_forward = m.mlp_forward\n",
    "importing the graded name": "from course_lib.mlp import mlp_forward\n",
    "star import": "from course_lib.mlp import *\n",
    "lambda": "import course_lib.mlp as m\nmlp_forward = lambda *args: m.mlp_forward(*args)\n",
}


@pytest.mark.parametrize("form", FORMS)
def test_every_alias_form_is_found(form):
    nb = _with_solution("02_general_case", "mlp_forward", FORMS[form])
    findings = _find("02_general_case", nb)
    assert [(f.exercise, f.grade_ids, f.reference) for f in findings] == \
        [("mlp_forward", ("test_mlp_forward",), "course_lib.mlp.mlp_forward")], findings
    f = findings[0]
    assert f.cell_index == _index(nb, "mlp_forward") and f.line >= 1
    assert f.message.startswith("mlp_forward ") and "course_lib.mlp.mlp_forward" in f.message
    assert f.message.endswith("(the reference implementation of this exercise): no points for test_mlp_forward")


def test_message_of_a_direct_call():
    nb = _with_solution("02_general_case", "mlp_forward", FORMS["module alias"])
    assert _find("02_general_case", nb)[0].message == (
        "mlp_forward calls course_lib.mlp.mlp_forward (the reference implementation of this exercise): "
        "no points for test_mlp_forward")


def test_a_helper_in_a_cell_the_student_added_is_followed():
    nb = _with_solution("02_general_case", "mlp_forward", HEAD + "    return helper(X, Ws, bs, activation)\n",
                        insert_before="import course_lib.mlp as ref\n\ndef helper(*args):\n    return ref.mlp_forward(*args)\n")
    (f,) = _find("02_general_case", nb)
    assert f.exercise == "mlp_forward" and "through helper" in f.message
    assert (f.cell_index, f.line) == (_index(nb, "mlp_forward"), 3)  # where the exercise's code calls the helper


def test_a_reference_used_only_to_compare_in_a_demo_cell_is_not_a_finding():
    nb = copy.deepcopy(_honest("02_general_case"))
    i = _index(nb, "mlp_forward")
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(
        "import course_lib.mlp as ref\nX0, W0, b0 = np.ones((2, 3)), [np.eye(3)], [np.zeros(3)]\n"
        "print(ref.mlp_forward(X0, W0, b0)[0] - mlp_forward(X0, W0, b0)[0])\n"))
    assert _find("02_general_case", nb) == []


def test_a_name_a_public_cell_bound_to_a_reference_is_delegation():
    # lesson 06's first cell does `from course_lib.train import fit`; fit records the gradient norms
    code = ('def layer_grad_norms(model, loss, X, y):\n    """doc"""\n'
            "    hist = fit(model, loss, X, y, lr=1e-300, num_epochs=1)\n"
            "    return {k: v[0] for k, v in hist.grad_norms.items() if k.endswith('W')}\n")
    nb = _with_solution("06_vanishing_gradients", "layer_grad_norms", code)
    (f,) = _find("06_vanishing_gradients", nb)
    assert (f.exercise, f.reference, f.grade_ids) == ("layer_grad_norms", "course_lib.train.fit", ("test_layer_grad_norms",))


def test_an_alias_made_in_a_public_cell_of_the_source():
    src = copy.deepcopy(_source("04_modules"))
    src.cells.insert(1, nbformat.v4.new_code_cell("from course_lib.modules import Linear as RefLinear\n"))
    nb = copy.deepcopy(complete(src, nbformat.read(ROOT / "lessons/04_modules/04_modules.ipynb", as_version=4)))
    nb.cells.insert(1, copy.deepcopy(src.cells[1]))  # the released lesson would show that cell too
    assert find_delegation(nb, src, _refs("04_modules")) == []  # the import alone is not a finding
    nb.cells[_index(nb, "linear")].source = "class Linear(RefLinear):\n    pass\n"
    (f,) = find_delegation(nb, src, _refs("04_modules"))
    assert (f.exercise, f.reference) == ("linear", "course_lib.modules.Linear")
    assert f.message.startswith("Linear subclasses course_lib.modules.Linear")


@pytest.mark.parametrize("code,reference", [
    # a method borrowed from the reference class
    ("import course_lib.modules as M\nclass Tanh(Module):\n    forward = M.Tanh.forward\n    backward = M.Tanh.backward\n",
     "course_lib.modules.Tanh"),
    # the reference class picked from a dict of course_lib
    ("from course_lib.modules import ACTIVATION_MODULES\nTanh = ACTIVATION_MODULES['tanh']\n", "course_lib.modules.Tanh"),
    # patching the graded class after defining it
    ("class Tanh(Module):\n    pass\n\nimport course_lib.modules\nTanh.backward = course_lib.modules.Tanh.backward\n",
     "course_lib.modules.Tanh"),
])
def test_borrowed_methods_dict_lookups_and_patches(code, reference):
    (f,) = _find("04_modules", _with_solution("04_modules", "tanh", code))
    assert (f.exercise, f.reference) == ("tanh", reference)


def test_a_reference_base_class_method_and_super():
    # Module (imported by the lesson's first cell) is course_lib's base class: subclassing it is the exercise,
    # but its generic named_parameters does the exercise's work
    direct = ('def collect_named_parameters(container, prefix=""):\n    """doc"""\n'
              "    return Module.named_parameters(container, prefix)\n")
    via_super = ("class Walker(Module):\n    def walk(self, prefix):\n        return super().named_parameters(prefix)\n\n\n"
                 'def collect_named_parameters(container, prefix=""):\n    """doc"""\n'
                 "    return Walker.walk(container, prefix)\n")
    for code, how in ((direct, "calls course_lib.modules.Module.named_parameters"), (via_super, "through Walker")):
        (f,) = _find("04_modules", _with_solution("04_modules", "named_parameters", code))
        assert (f.exercise, f.reference) == ("named_parameters", "course_lib.modules.Module.named_parameters")
        assert how in f.message, f.message


def test_a_public_demo_helper_that_falls_back_to_course_lib_is_followed():
    # lesson 03's course_lib_reference(name) looks a function of course_lib.functional up at run time
    code = 'def softmax(Z):\n    """doc"""\n    return course_lib_reference("softmax")(Z, axis=1)\n\n\n' \
           'def log_softmax(Z):\n    """doc"""\n    return np.log(softmax(Z))\n'
    findings = _find("03_softmax_cross_entropy", _with_solution("03_softmax_cross_entropy", "softmax", code))
    assert [f.exercise for f in findings] == ["softmax"]
    assert "through course_lib_reference" in findings[0].message


def test_another_exercise_delegating_is_judged_on_its_own():
    # cross_entropy calls the student's own softmax; only the softmax exercise delegates
    code = 'import course_lib.functional as F\n\ndef softmax(Z):\n    """doc"""\n    return F.softmax(Z, axis=1)\n\n\n' \
           'def log_softmax(Z):\n    """doc"""\n    return F.log_softmax(Z, axis=1)\n'
    findings = _find("03_softmax_cross_entropy", _with_solution("03_softmax_cross_entropy", "softmax", code))
    assert {f.exercise for f in findings} == {"softmax"}


def test_code_after_the_grade_cell_does_not_count_for_it():
    nb = copy.deepcopy(_honest("02_general_case"))
    nb.cells.append(nbformat.v4.new_code_cell("from course_lib.mlp import mlp_forward\n"))
    assert _find("02_general_case", nb) == []


# ------------------------------------------------------------------ grades
def test_apply_delegation_zeroes_the_exercise_and_is_pure():
    finding = Finding("mlp_forward", ("test_mlp_forward",), "course_lib.mlp.mlp_forward", 7, 4,
                      "mlp_forward calls course_lib.mlp.mlp_forward (the reference implementation of this exercise): "
                      "no points for test_mlp_forward")
    grades = {"test_mlp_forward": 3.0, "test_mse_loss": 1.0}
    new, messages = apply_delegation([finding, finding], grades)
    assert new == {"test_mlp_forward": 0.0, "test_mse_loss": 1.0}
    assert grades == {"test_mlp_forward": 3.0, "test_mse_loss": 1.0}
    assert messages == [finding.message]
    assert apply_delegation([], grades) == (grades, [])


def test_references_json_is_instructor_only_like_bugs_json():
    config = (ROOT / "grader" / "nbgrader_config.py").read_text()
    released = [p.name for p in (ROOT / "lessons").rglob("*")]
    assert "references.json" not in released, "references.json must never be released"
    if "references.json" not in config:
        pytest.skip("grader/nbgrader_config.py does not list references.json in CourseDirectory.ignore yet")


def test_load_references_validates_entries(tmp_path):
    assert load_references(tmp_path / "missing.json") == []
    (tmp_path / "references.json").write_text(json.dumps([{"exercise": "x"}]))
    with pytest.raises(ValueError, match="expected keys"):
        load_references(tmp_path)
