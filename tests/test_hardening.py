"""grader.hardening: tampering from a student's cells does not turn a wrong solution into points.

Every scenario runs in a real IPython kernel (nbclient, the virtualenv's
``python3`` kernel): a short notebook made of lesson 02's cells, with

1. a first cell that calls ``hardening.install()`` (what the zygote does at
   kernel start-up, before any student code),
2. the imports a student's notebook has,
3. the exercise's solution cell replaced by a WRONG implementation (or the
   honest one),
4. an attack cell (or an attack inside the wrong function itself),
5. the exercise's real grade cell (hidden tests included),

and the grade cell is scored as nbgrader scores it (``determine_grade``: an
error or stderr output is 0, else the first ``execute_result``).  A few
controls run an attack *without* ``install()`` to show that the scenario
would have paid off; and honest solutions keep full marks with hardening.

The scenarios run concurrently (three kernels at a time) in one fixture.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "solutions" / "02_general_case" / "02_general_case.ipynb"

INSTALL = "from grader import hardening\nhardening.install()\n"
SETUP = """\
import numpy as np
from grader import checks
from course_lib.functional import get_activation


def activation_names(activation, num_layers):
    return [activation] * num_layers if isinstance(activation, str) else list(activation)
"""

# ------------------------------------------------------------------ solutions
HONEST_MSE_GRAD = '''\
def mse_grad(y_hat, y):
    """honest"""
    y_hat = np.asarray(y_hat, dtype=float)
    return (y_hat - np.asarray(y, dtype=float)) / y_hat.shape[0]
'''
WRONG_MSE_GRAD = '''\
def mse_grad(y_hat, y):
    """wrong: no work at all"""
    return np.zeros_like(np.asarray(y_hat, dtype=float))
'''
PARTLY_RIGHT_MSE_GRAD = '''\
def mse_grad(y_hat, y):
    """right unless d = 5: 3 of the 4 cases pass, 1.5 of 2 points"""
    y_hat = np.asarray(y_hat, dtype=float)
    wrong = 2.0 if y_hat.shape[1] == 5 else 1.0
    return wrong * (y_hat - np.asarray(y, dtype=float)) / y_hat.shape[0]
'''
WRONG_MLP_FORWARD = '''\
def mlp_forward(X, Ws, bs, activation="sigmoid"):
    """wrong: zeros of the right shape"""
    names = activation_names(activation, len(Ws))
    A = [np.asarray(X, dtype=float)] + [np.zeros((len(X), W.shape[1])) for W in Ws]
    return A[-1], {"A": A, "Z": A[1:], "activations": names}
'''
ALWAYS_EQUAL = '''\
class AlwaysEqual:
    """Equal to everything, close to everything, true, and shaped like anything."""
    shape = property(lambda self: self.want)
    def __init__(self, want=()):
        self.want = want
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
    def __sub__(self, other):
        return 0.0
    __rsub__ = __sub__
    def __abs__(self):
        return 0.0
    def __len__(self):
        return 3
    def __iter__(self):
        return iter([self, self, self])
    def __getitem__(self, key):
        return self
    def __hash__(self):
        return 0

'''
ALWAYS_EQUAL_MSE_GRAD = ALWAYS_EQUAL + '''\
def mse_grad(y_hat, y):
    return AlwaysEqual(np.shape(y_hat))
'''
ALWAYS_EQUAL_MLP_FORWARD = ALWAYS_EQUAL + '''\
def mlp_forward(X, Ws, bs, activation="sigmoid"):
    L = len(Ws)
    return AlwaysEqual(), {"A": [AlwaysEqual()] * (L + 1), "Z": [AlwaysEqual()] * L,
                           "activations": [AlwaysEqual()] * L}
'''
LIAR_MSE_GRAD = '''\
class Liar(np.ndarray):
    """An ndarray of zeros whose operators, views and conversions all claim a perfect match."""
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)
    def __sub__(self, other):
        return np.zeros(np.shape(self))
    __rsub__ = __sub__
    def __abs__(self):
        return np.zeros(np.shape(self))
    def view(self, *args, **kwargs):
        return self
    def __array__(self, dtype=None, copy=None):
        return self.target
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.shape(self))


def mse_grad(y_hat, y):
    liar = np.zeros(np.shape(y_hat)).view(Liar)
    liar.target = np.full(np.shape(y_hat), 123.0)
    return liar
'''


def _wrong_mse_grad_that(body: str) -> str:
    """A wrong mse_grad that runs ``body`` (an attack during the check) before returning zeros."""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f'def mse_grad(y_hat, y):\n    """wrong, and tampers while it is checked"""\n{lines}' \
           "    return np.zeros_like(np.asarray(y_hat, dtype=float))\n"


# ------------------------------------------------------------------ attacks (cells run before the grade cell)
ATTACKS = {
    "np.allclose": "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)",
    "np.testing.assert_allclose": "import numpy.testing\nnp.testing.assert_allclose = lambda *a, **k: None\n"
                                  "np.testing.assert_array_almost_equal = lambda *a, **k: None",
    "np.linalg.norm": "np.linalg.norm = lambda *a, **k: 0.0",
    "np.all / np.any / np.array_equal": "np.all = lambda *a, **k: True\nnp.any = lambda *a, **k: False\n"
                                        "np.array_equal = lambda *a, **k: True",
    "np.sum / np.abs / np.sqrt / np.asarray": "np.sum = lambda *a, **k: 0.0\nnp.abs = lambda x: x * 0\n"
                                              "np.sqrt = lambda x: x * 0\nnp.asarray = lambda x, *a, **k: np.zeros(1)",
    "numpy internals": "import numpy._core._methods as m\nm.umr_sum = lambda *a, **k: 0.0\n"
                       "import numpy._core.fromnumeric as f\nf._wrapreduction = lambda *a, **k: 0.0",
    "checks.assert_gradient (assignment)": "checks.assert_gradient = lambda *a, **k: 0.0",
    "checks.assert_gradient (module __dict__)": "checks.__dict__['assert_gradient'] = lambda *a, **k: 0.0\n"
                                                "checks.__dict__['assert_close'] = lambda *a, **k: 0.0",
    "checks.assert_gradient.__code__": "checks.assert_gradient.__code__ = (lambda *a, **k: 0.0).__code__",
    "checks.Cases.score (assignment)": "checks.Cases.score = lambda self: 2.0",
    "checks.Cases.score (type.__setattr__)": "type.__setattr__(checks.Cases, 'score', lambda self: 2.0)",
    "checks.Cases.run (type.__setattr__)": "def run(self, label, check):\n    self._results.append((label, True, ''))\n"
                                           "    return True\ntype.__setattr__(checks.Cases, 'run', run)",
    "course_lib reference patched": "import course_lib.losses\n"
                                    "course_lib.losses.MSELoss.forward = lambda self, y_hat, y: 0.0",
    "sys.modules entry replaced": "import sys, types\nfake = types.ModuleType('grader.checks')\n"
                                  "sys.modules['grader.checks'] = fake\nimport grader\n"
                                  "object.__setattr__(grader, 'checks', fake)",
    # lies to the notebook's code only: replacing them for everyone would crash the kernel's own threads
    "builtins isinstance / len / float": (
        "import builtins, sys\n"
        "def lying(original, lie):\n"
        "    def replacement(*args, **kwargs):\n"
        "        caller = sys._getframe(1).f_code.co_filename\n"
        "        if '/ipykernel_' in caller or caller.startswith('<ipython-input'):  # a cell's code\n"
        "            return lie(*args, **kwargs)\n"
        "        return original(*args, **kwargs)\n"
        "    return replacement\n"
        "builtins.isinstance = lying(isinstance, lambda *a: True)\n"
        "builtins.len = lying(len, lambda x: 3)\n"
        "builtins.float = lying(float, lambda *a: 2.0)\n"
        "builtins.abs = lying(abs, lambda x: 0.0)\n"
        "builtins.print = lying(print, lambda *a, **k: None)"),
    "AssertionError never raised": "import builtins\nclass Never(Exception):\n    pass\nbuiltins.AssertionError = Never",
    "np.random reseeded and default_rng replaced": (
        "import random\nrandom.seed(0)\nnp.random.seed(0)\n"
        "class Zeros:\n    def __getattr__(self, name):\n        return lambda *a, size=None, **k: np.zeros(size or ())\n"
        "np.random.default_rng = lambda *a, **k: Zeros()\nimport numpy.random\nnumpy.random.default_rng = np.random.default_rng"),
    "float printed as full marks": "get_ipython().display_formatter.formatters['text/plain'].for_type(float, "
                                   "lambda x, p, cycle: p.text('2.0'))",
    "execute_result message rewritten": "def hook(msg):\n    msg['content']['data']['text/plain'] = '2.0'\n    return msg\n"
                                        "get_ipython().displayhook.register_hook(hook)",
    "grade cell rewritten by an input transformer": "get_ipython().input_transformers_post.append("
                                                    "lambda lines: [l.replace('cases.score()', '2.0') for l in lines])",
    "pre_run_cell callback re-patching numpy": "def again(*a):\n    np.allclose = lambda *a, **k: True\n"
                                               "    checks.__dict__['assert_gradient'] = lambda *a, **k: 0.0\n"
                                               "get_ipython().events.register('pre_run_cell', again)",
    # determined: the cell callbacks are removed first; the case guard inside Cases.run still restores
    "callbacks unregistered, then Cases.score replaced": (
        "for event in ('pre_execute', 'pre_run_cell'):\n"
        "    callbacks = get_ipython().events.callbacks[event]\n"
        "    callbacks[:] = [cb for cb in callbacks if 'hardening' not in getattr(cb, '__module__', '')]\n"
        "type.__setattr__(checks.Cases, 'score', lambda self: 2.0)"),
}

# (exercise, grade cell, solution code, attack cell[, expected score]) per scenario; the expected score is 0 by default
SCENARIOS: dict[str, tuple] = {name: ("mse_grad", "test_mse_grad", WRONG_MSE_GRAD, code) for name, code in ATTACKS.items()}
SCENARIOS["%precision 0 rounding 1.5 points up to 2"] = ("mse_grad", "test_mse_grad", PARTLY_RIGHT_MSE_GRAD, "%precision 0", 1.5)
SCENARIOS["builtins isinstance / len / float"] = ("mlp_forward", "test_mlp_forward", WRONG_MLP_FORWARD,
                                                  ATTACKS["builtins isinstance / len / float"])
SCENARIOS.update({
    "always-equal object returned": ("mse_grad", "test_mse_grad", ALWAYS_EQUAL_MSE_GRAD, ""),
    "always-equal objects in a cache": ("mlp_forward", "test_mlp_forward", ALWAYS_EQUAL_MLP_FORWARD, ""),
    "ndarray subclass with lying operators": ("mse_grad", "test_mse_grad", LIAR_MSE_GRAD, ""),
    # attacks made by the wrong function while the check runs it
    "during the check: course_lib and checks patched": ("mse_grad", "test_mse_grad", _wrong_mse_grad_that(
        "import course_lib.losses\ncourse_lib.losses.MSELoss.forward = lambda self, a, b: 0.0\n"
        "checks.__dict__['assert_gradient'] = lambda *a, **k: 0.0"), ""),
    "during the check: builtins patched": ("mlp_forward", "test_mlp_forward", WRONG_MLP_FORWARD.replace(
        '    """wrong: zeros of the right shape"""\n',
        '    """wrong, and patches builtins"""\n    import builtins\n    builtins.isinstance = lambda *a: True\n'), ""),
    "during the check: a result displayed": ("mse_grad", "test_mse_grad", _wrong_mse_grad_that(
        "get_ipython().displayhook(2.0)\nimport sys\nsys.displayhook(2.0)"), ""),
    "during the check: history ends with ';' (hides the score)": ("mse_grad", "test_mse_grad", _wrong_mse_grad_that(
        "get_ipython().history_manager.input_hist_parsed.append('pass;')"), ""),
    "during the check: float printer replaced": ("mse_grad", "test_mse_grad", _wrong_mse_grad_that(
        "get_ipython().display_formatter.formatters['text/plain'].for_type(float, lambda x, p, c: p.text('2.0'))"), ""),
})
HONEST = {
    "honest": ("mse_grad", "test_mse_grad", HONEST_MSE_GRAD, ""),
    "honest, with seeding, %precision, printoptions and a plot": ("mse_grad", "test_mse_grad", HONEST_MSE_GRAD, (
        "%precision 1\nimport random\nrandom.seed(1)\nnp.random.seed(0)\nnp.set_printoptions(precision=2)\n"
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")),
}
# without install(): these attacks pay off, so the scenarios above would catch a hardening that does nothing
CONTROLS = ["checks.Cases.score (type.__setattr__)", "float printed as full marks", "%precision 0 rounding 1.5 points up to 2",
            "grade cell rewritten by an input transformer", "during the check: history ends with ';' (hides the score)"]


def _notebook(exercise: str, grade_id: str, solution: str, attack: str, expected: float = 0.0, harden: bool = True):
    src = nbformat.read(LESSON, as_version=4)
    grade = next(copy.deepcopy(c) for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    sol = next(copy.deepcopy(c) for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id") == exercise)
    sol.source = solution
    cells = [nbformat.v4.new_code_cell(INSTALL)] if harden else []
    cells += [nbformat.v4.new_code_cell(SETUP), sol]
    if attack:
        cells.append(nbformat.v4.new_code_cell(attack))
    cells.append(grade)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


async def _run_all(notebooks: dict, parallel: int = 3) -> dict:
    gate = asyncio.Semaphore(parallel)

    async def one(nb):
        async with gate:
            client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                                    resources={"metadata": {"path": str(ROOT)}})
            await client.async_execute()
        return nb

    done = await asyncio.gather(*(one(nb) for nb in notebooks.values()))
    return dict(zip(notebooks, done))


@pytest.fixture(scope="module")
def graded():
    """Scenario name -> (score of the grade cell as nbgrader reads it, its text outputs)."""
    notebooks = {name: _notebook(*spec) for name, spec in {**SCENARIOS, **HONEST}.items()}
    notebooks.update({f"control: {name}": _notebook(*SCENARIOS[name][:4], harden=False) for name in CONTROLS})
    results = {}
    for name, nb in asyncio.run(_run_all(notebooks)).items():
        grade_cell = nb.cells[-1]
        score, _ = determine_grade(grade_cell)
        text = "\n".join(o.get("text", "") or o.get("evalue", "") or str(o.get("data", "")) for o in grade_cell.outputs)
        results[name] = (score, text, nb)
    return results


def _outputs(nb) -> str:
    return "\n".join(f"[{i}] {o.get('output_type')}: {o.get('text') or o.get('evalue') or o.get('data')}"
                     for i, c in enumerate(nb.cells) for o in c.get("outputs", []))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_attack_earns_nothing(graded, name):
    score, text, nb = graded[name]
    expected = SCENARIOS[name][4] if len(SCENARIOS[name]) > 4 else 0.0
    assert score == expected, f"{name}: the solution scored {score}, its own work earns {expected}\n{_outputs(nb)}"


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_solution_keeps_full_marks(graded, name):
    score, text, nb = graded[name]
    assert score == 2.0, f"{name}: scored {score}\n{_outputs(nb)}"
    assert "4/4 checks passed" in text


@pytest.mark.parametrize("name", CONTROLS)
def test_without_hardening_the_attack_pays_off(graded, name):
    score, text, nb = graded[f"control: {name}"]
    assert score == 2.0, f"control {name}: expected the attack to earn full marks without hardening\n{_outputs(nb)}"


def test_tampering_during_a_check_is_reported(graded):
    for name in ("during the check: course_lib and checks patched", "during the check: builtins patched"):
        score, text, nb = graded[name]
        assert "changed the grader while it was being checked" in text, _outputs(nb)


def test_a_rewritten_grade_cell_gets_an_error(graded):
    score, text, nb = graded["grade cell rewritten by an input transformer"]
    assert any(o.output_type == "error" and "TamperingDetected" in o.ename for o in nb.cells[-1].outputs), _outputs(nb)


def test_checks_is_read_only_once_installed(graded):
    # the attack cell itself fails: the assignment raises
    score, text, nb = graded["checks.assert_gradient (assignment)"]
    attack = nb.cells[-2]
    assert any(o.output_type == "error" and "read-only" in o.evalue for o in attack.outputs), _outputs(nb)
    score, text, nb = graded["checks.Cases.score (assignment)"]
    assert any(o.output_type == "error" and "read-only" in o.evalue for o in nb.cells[-2].outputs), _outputs(nb)


# ------------------------------------------------------------------ grader.checks on its own (no kernel)
def test_checks_numpy_and_classes_are_read_only(monkeypatch):
    import numpy as np

    from grader import checks

    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np.linalg, "norm", lambda *a, **k: 0.0)
    monkeypatch.setattr(np.random, "default_rng", lambda *a, **k: None)
    assert checks.numpy.allclose is not np.allclose and not checks.numpy.allclose([1.0], [2.0])
    assert checks.numpy.linalg.norm([3.0, 4.0]) == 5.0 and checks.norm([3.0, 4.0]) == 5.0
    assert checks.rng(7).random() == checks.numpy.random.default_rng(7).random()
    for attempt in (lambda: setattr(checks.numpy, "allclose", None), lambda: setattr(checks.Cases, "score", None),
                    lambda: setattr(checks.Cases("x", 1), "points", 100), lambda: delattr(checks.Cases, "run")):
        with pytest.raises(AttributeError, match="read-only"):
            attempt()


def test_checks_readers_refuse_what_only_pretends():
    import numpy as np

    from grader import checks

    class Nested:  # a "sequence" whose items are itself: numpy would try to read 3**32 numbers
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return self

    with pytest.raises(AssertionError, match="expected an array of numbers, got Nested"):
        checks.to_float64(Nested(), "x")
    assert checks.to_float(np.float64(2.5), "x") == 2.5
    with pytest.raises(AssertionError, match="expected one number"):
        checks.to_float([1.0, 2.0], "x")
    assert checks.to_bool(np.bool_(True), "x") is True and checks.to_bool(np.array([0]), "x") is False
    with pytest.raises(AssertionError, match="expected True or False"):
        checks.to_bool(np.ones(2), "x")

    class Sneaky(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    names = checks.to_names([Sneaky("0.W")], "names")
    assert names == ["0.W"] and type(names[0]) is str and names != ["0.b"]
    with pytest.raises(AssertionError, match="expected a string"):
        checks.to_names([1], "names")
    assert checks.all_true([True, 1]) and not checks.any_true(np.zeros(3)) and checks.all_finite([1.0])
    assert checks.array_equal(np.eye(2), np.eye(2)) and not checks.array_equal(np.eye(2), np.eye(3))


def test_checks_numerical_gradient_is_course_libs_bit_for_bit():
    import numpy as np

    from course_lib.gradcheck import numerical_gradient
    from grader import checks

    x = checks.random_array(checks.rng("ng"), (3, 4))
    f = lambda z: float(np.sum(np.sin(z) * z))  # noqa: E731
    assert np.array_equal(checks.numerical_gradient(f, x.copy()), numerical_gradient(f, x.copy()))


INSTALL_WITHOUT_IPYTHON = r"""
import builtins, time
import numpy as np
from grader import checks, hardening
import course_lib.modules as M
h = hardening.install()
assert hardening.install() is h
original = (np.allclose, builtins.len, M.Linear.forward, checks.Cases.run, checks.assert_close.__code__)
np.allclose = lambda *a, **k: True
builtins.len = lambda x: 3
M.Linear.forward = lambda self, X: X
type.__setattr__(checks.Cases, "run", lambda *a: True)
checks.assert_close.__code__ = (lambda *a, **k: 0.0).__code__
try:
    checks.assert_gradient = None
except AttributeError as exc:
    assert "read-only" in str(exc)
else:
    raise SystemExit("grader.checks is writable")
changed = sorted(label for kind, label in h.restore())
assert (np.allclose, builtins.len, M.Linear.forward, checks.Cases.run, checks.assert_close.__code__) == original, changed
for label in ("numpy.allclose", "builtins.len", "course_lib.modules.Linear.forward", "grader.checks.Cases.run",
              "grader.checks.assert_close.__code__"):
    assert label in changed, (label, changed)
assert h.restore() == []
start = time.perf_counter()
for _ in range(20):
    h.restore()
print(f"restore {(time.perf_counter() - start) / 20 * 1000:.2f} ms")
"""


def test_install_outside_ipython_restores_and_reports(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", INSTALL_WITHOUT_IPYTHON], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "restore" in out.stdout


ZYGOTE_FLOW = r"""
import os, sys, tempfile
import numpy, course_lib, ipykernel.ipkernel, IPython.core.interactiveshell
from grader import hardening
h = hardening.install()                      # the zygote, once, before it forks: the library snapshot
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize(["-f", os.path.join(tempfile.mkdtemp(), "kernel.json")])
assert hardening.install(app.shell) is h     # the forked kernel, after initialize: the shell's part
h._pre_execute()
h._pre_run_cell(None)                        # raises TamperingDetected if start-up looked like tampering
sys.__stdout__.write(f"changes after start-up: {h.restore()}\n")
"""


def test_zygote_flow_install_before_fork_then_attach_the_shell():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ZYGOTE_FLOW], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "changes after start-up: []" in out.stdout, out.stdout + out.stderr
