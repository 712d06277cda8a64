"""``grader similarity`` on a small class of lesson 02 (issue #14: the similarity report).

The class, written into ``<course>/submitted/<student>/02_general_case/`` from the released lesson:

* ``ada`` and ``grace`` solved the four exercises independently, in different styles (both correct:
  checked against course_lib below);
* ``ken`` copied ada's answers, renaming every variable and changing comments and spacing;
* ``yann`` answered only the last exercise, with grace's answer under new names;
* ``tim`` pasted course_lib's code (mlp.mlp_forward, mlp.mlp_backward, losses.MSELoss);
* ``hedy`` handed in the lesson untouched (the template only).
"""
from __future__ import annotations

import builtins
import csv
import html
import io
import keyword
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.pipeline import similarity as sim
from grader.pipeline import styles
from grader.pipeline.cli import main

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
LESSON = "02_general_case"

ADA = {
    "mlp_forward": '''
        layer_acts = activation_names(activation, len(Ws))
        a = np.array(X, dtype=np.float64)
        zs, activations_seen = [], [a]
        for i in range(len(Ws)):
            z = np.dot(a, Ws[i]) + bs[i]          # pre-activation of layer i + 1
            a = get_activation(layer_acts[i])[0](z)
            zs.append(z)
            activations_seen.append(a)
        return a, {"A": activations_seen, "Z": zs, "activations": layer_acts}
    ''',
    "mse_loss": '''
        diff = np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)
        batch = diff.shape[0]
        return float((diff * diff).sum() / (2 * batch))
    ''',
    "mse_grad": '''
        batch = np.shape(y_hat)[0]
        return (np.asarray(y_hat, dtype=float) - y) / batch
    ''',
    "mlp_backward": '''
        As, Zs, acts = cache["A"], cache["Z"], cache["activations"]
        n_layers = len(Ws)
        gW, gb = [], []
        upstream = np.asarray(grad_y_hat, dtype=float)
        for i in range(n_layers - 1, -1, -1):
            deriv = get_activation(acts[i])[1]
            d = upstream * deriv(Zs[i])               # dL/dZ of layer i + 1
            gW.insert(0, As[i].T.dot(d))
            gb.insert(0, np.sum(d, axis=0))
            upstream = d.dot(Ws[i].T)
        return gW, gb
    ''',
}

GRACE = {
    "mlp_forward": '''
        depth = len(Ws)
        kinds = [activation] * depth if isinstance(activation, str) else list(activation)
        outs = [np.asarray(X, dtype=float)] + [None] * depth
        pre = [None] * depth
        k = 0
        while k < depth:
            pre[k] = np.einsum("bi,io->bo", outs[k], Ws[k]) + bs[k][None, :]
            outs[k + 1] = get_activation(kinds[k])[0](pre[k])
            k += 1
        return outs[depth], dict(A=outs, Z=pre, activations=kinds)
    ''',
    "mse_loss": '''
        r = np.subtract(y_hat, y)
        return 0.5 * float(np.einsum("bd,bd->", r, r)) / len(r)
    ''',
    "mse_grad": '''
        return np.subtract(y_hat, y) / len(y_hat)
    ''',
    "mlp_backward": '''
        outs, pre, kinds = cache["A"], cache["Z"], cache["activations"]
        depth = len(Ws)
        grads_W = [np.zeros_like(W, dtype=float) for W in Ws]
        grads_b = [np.zeros(W.shape[1]) for W in Ws]
        g = np.array(grad_y_hat, dtype=float)
        k = depth - 1
        while k >= 0:
            local = g * get_activation(kinds[k])[1](pre[k])
            grads_W[k] = np.einsum("bi,bo->io", outs[k], local)
            grads_b[k] = local.sum(0)
            g = np.einsum("bo,io->bi", local, Ws[k])
            k -= 1
        return grads_W, grads_b
    ''',
}

# ada's answers with every name changed, comments rewritten, spacing changed.
KEN = {
    "mlp_forward": '''
        names_per_layer = activation_names(activation,len(Ws))
        h = np.array(X,dtype=np.float64)
        pre_acts, outs = [],[h]
        # go through the layers one by one </pre><script>alert("ken")</script>
        for j in range( len(Ws) ):
            pre = np.dot(h,Ws[j]) + bs[j]
            h = get_activation(names_per_layer[j])[0](pre)
            pre_acts.append(pre)

            outs.append(h)
        return h, {"A": outs, "Z": pre_acts, "activations": names_per_layer}
    ''',
    "mse_loss": '''
        residual = np.asarray(y_hat, dtype = float) - np.asarray(y, dtype = float)
        n = residual.shape[0]  # batch size
        return float((residual * residual).sum() / (2 * n))
    ''',
    "mse_grad": '''
        n = np.shape(y_hat)[0]
        return (np.asarray(y_hat, dtype=float) - y)/n
    ''',
    "mlp_backward": '''
        outs, pre_acts, names_per_layer = cache["A"], cache["Z"], cache["activations"]
        count = len(Ws)
        dWs, dbs = [], []
        g = np.asarray(grad_y_hat, dtype=float)
        # backwards over the layers
        for j in range(count - 1, -1, -1):
            slope = get_activation(names_per_layer[j])[1]
            dz = g * slope(pre_acts[j])
            dWs.insert(0, outs[j].T.dot(dz))
            dbs.insert(0, np.sum(dz, axis=0))
            g = dz.dot(Ws[j].T)
        return dWs, dbs
    ''',
}

# course_lib's code pasted into the solution cells (course_lib.mlp and course_lib.losses.MSELoss).
TIM = {
    "mlp_forward": '''
        from course_lib._validate import as_float_array, check_shape
        from course_lib.mlp import _activations, check_layers
        Ws, bs = check_layers(Ws, bs)
        X = as_float_array(X, "X", ndim=2)
        check_shape(X, (None, Ws[0].shape[0]), "X")
        names = _activations(activation, None, len(Ws))
        A, Z = [X], []
        for W, b, name in zip(Ws, bs, names):
            phi, _ = get_activation(name)
            Z.append(A[-1] @ W + b)  # (B, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,) -> (B, n_l)
            A.append(phi(Z[-1]))
        return A[-1], {"A": A, "Z": Z, "activations": names}
    ''',
    "mse_loss": '''
        from course_lib._validate import as_float_array, check_shape
        y_hat = as_float_array(y_hat, "MSELoss y_hat", ndim=2)
        y = as_float_array(y, "MSELoss y")
        if y.ndim == 1 and y_hat.shape[1] == 1:
            y = y[:, None]
        check_shape(y, y_hat.shape, "MSELoss y")
        diff = y_hat - y  # (B, d)
        return float(0.5 * np.sum(diff ** 2) / y_hat.shape[0])
    ''',
    "mse_grad": '''
        diff = np.asarray(y_hat, dtype=float) - y
        return diff / diff.shape[0]  # (B, d)
    ''',
    "mlp_backward": '''
        from course_lib._validate import as_float_array, check_shape
        A, Z, names = cache["A"], cache["Z"], cache["activations"]
        G = as_float_array(grad_y_hat, "grad_y_hat", ndim=2)
        check_shape(G, A[-1].shape, "grad_y_hat")
        L = len(Z)
        grad_Ws = [None] * L
        grad_bs = [None] * L
        for l in reversed(range(L)):
            _, phi_prime = get_activation(names[l])
            delta = G * phi_prime(Z[l])          # (B, n_l): dL/dZ_l, phi' taken at the input Z_l
            grad_Ws[l] = A[l].T @ delta          # (n_{l-1}, B) @ (B, n_l) -> (n_{l-1}, n_l)
            grad_bs[l] = delta.sum(axis=0)       # (B, n_l) -> (n_l,): every example's share
            G = delta @ np.asarray(Ws[l]).T      # (B, n_l) @ (n_l, n_{l-1}) -> (B, n_{l-1}) = dL/dA_{l-1}
        return grad_Ws, grad_bs
    ''',
}

# only the last exercise answered, by copying grace's with new names (the rest left as the stub)
YANN = {
    "mlp_backward": '''
        a_list, z_list, fn_names = cache["A"], cache["Z"], cache["activations"]
        n = len(Ws)
        dW = [np.zeros_like(w, dtype=float) for w in Ws]
        db = [np.zeros(w.shape[1]) for w in Ws]
        up = np.array(grad_y_hat, dtype=float)
        idx = n - 1
        while idx >= 0:
            dz = up * get_activation(fn_names[idx])[1](z_list[idx])
            dW[idx] = np.einsum("bi,bo->io", a_list[idx], dz)
            db[idx] = dz.sum(0)
            up = np.einsum("bo,io->bi", dz, Ws[idx])
            idx -= 1
        return dW, db
    ''',
}

CLASS = {"ada": ADA, "grace": GRACE, "ken": KEN, "tim": TIM, "hedy": None, "yann": YANN}
BROKEN = "frances"  # hands in half a notebook
STUB = "raise NotImplementedError()"


def _released():
    return nbformat.read(str(REPO / "lessons" / LESSON / f"{LESSON}.ipynb"), as_version=4)


def _answered(released, answers: dict[str, str] | None):
    """The released lesson with each solution cell's stub replaced by the student's body."""
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            body = textwrap.indent(textwrap.dedent(answers[gid]).strip("\n"), "    ")
            head = cell.source.split("    # YOUR CODE HERE")[0]
            assert STUB in cell.source and head != cell.source, f"unexpected template in {gid}"
            cell.source = head + body
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("simclass") / "course"
    released = _released()
    for student, answers in CLASS.items():
        path = root / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_answered(released, answers), str(path))
    broken = root / "submitted" / BROKEN / LESSON / f"{LESSON}.ipynb"
    broken.parent.mkdir(parents=True)
    text = nbformat.writes(_answered(released, ADA))
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def report(course):
    return sim.similarity(course, SOLUTIONS, lesson=LESSON)


def _pairs(report) -> dict[frozenset, sim.Match]:
    return {frozenset((m.first, m.second)): m for m in report.matches}


def _namespace(answers: dict[str, str]) -> dict:
    from course_lib.functional import get_activation

    source_nb = nbformat.read(str(SOLUTIONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    helper = next(c.source for c in source_nb.cells if c.source.startswith("def activation_names"))
    ns = {"np": np, "get_activation": get_activation}
    exec(helper.split("\n\n\n")[0], ns)
    nb = _answered(_released(), answers)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.metadata["nbgrader"]["grade_id"] in answers:
            exec(cell.source, ns)  # (the cells this class leaves as released, quizzes say, only raise)
    return ns


@pytest.mark.parametrize("student", ["ada", "grace", "ken", "tim"])
def test_every_answer_of_the_class_is_correct(student):
    """The premise: every student's code (honest, copied, pasted) computes what course_lib computes."""
    from course_lib.losses import MSELoss
    from course_lib.mlp import mlp_backward, mlp_forward

    ns = _namespace(CLASS[student])
    rng = np.random.default_rng(3)
    widths, acts = [4, 5, 3, 2], ["tanh", "sigmoid", "identity"]
    Ws = [rng.standard_normal((m, n)) for m, n in zip(widths[:-1], widths[1:])]
    bs = [rng.standard_normal(n) for n in widths[1:]]
    X, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    y_hat, cache = ns["mlp_forward"](X, Ws, bs, acts)
    ref_y_hat, ref_cache = mlp_forward(X, Ws, bs, acts)
    np.testing.assert_allclose(y_hat, ref_y_hat, rtol=1e-12)
    assert ns["mse_loss"](y_hat, y) == pytest.approx(MSELoss().forward(ref_y_hat, y), rel=1e-12)
    grad = ns["mse_grad"](y_hat, y)
    np.testing.assert_allclose(grad, (ref_y_hat - y) / 6, rtol=1e-12)
    grad_Ws, grad_bs = ns["mlp_backward"](cache, Ws, grad)
    ref_Ws, ref_bs, _ = mlp_backward(ref_cache, Ws, grad)
    for got, want in zip(list(grad_Ws) + list(grad_bs), ref_Ws + ref_bs):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_exercise_code_is_only_what_the_student_typed_into_solution_cells(course):
    nb = nbformat.read(str(course / "submitted" / "ada" / LESSON / f"{LESSON}.ipynb"), as_version=4)
    source_nb = nbformat.read(str(SOLUTIONS / LESSON / f"{LESSON}.ipynb"), as_version=4)
    templates = {c.metadata["nbgrader"]["grade_id"]: c.source for c in sim.released(source_nb).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    codes = sim.exercise_code(nb, templates)
    assert list(codes) == list(templates)  # every exercise of the lesson, in order
    assert [gid for gid, text in codes.items() if text] == ["mlp_forward", "mse_loss", "mse_grad", "mlp_backward"]
    assert codes["mse_grad"] == "batch = np.shape(y_hat)[0]\nreturn (np.asarray(y_hat, dtype=float) - y) / batch"
    assert codes["mlp_backward"].splitlines()[-1] == "return gW, gb"
    everything = "\n".join(codes.values())
    assert "def " not in everything and "Args:" not in everything  # the released def lines and docstrings
    assert "rng = np.random.default_rng(0)" not in everything  # the lesson's first cell is not an exercise
    blank = nbformat.read(str(course / "submitted" / "hedy" / LESSON / f"{LESSON}.ipynb"), as_version=4)
    assert sim.exercise_code(blank, templates) == dict.fromkeys(templates, "")


@pytest.mark.parametrize("lesson", sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir()))
def test_released_matches_the_committed_lesson(lesson):
    """The boilerplate is what students get: every code cell built here equals nbgrader's release in lessons/."""
    source_nb = nbformat.read(str(SOLUTIONS / lesson / f"{lesson}.ipynb"), as_version=4)
    ours = [c.source.rstrip("\n") for c in sim.released(source_nb).cells if c.cell_type == "code"]
    theirs = nbformat.read(str(REPO / "lessons" / lesson / f"{lesson}.ipynb"), as_version=4)
    assert ours == [c.source.rstrip("\n") for c in theirs.cells if c.cell_type == "code"]  # (a final newline aside)


def test_copied_pair_is_flagged(report):
    pair = _pairs(report)[frozenset(("ada", "ken"))]
    assert pair.flagged
    assert pair.score >= 0.8, pair


def test_copy_of_one_exercise_of_four_is_flagged(report):
    """yann's only answer is grace's: all of yann's code matches, a quarter or so of grace's."""
    pair = _pairs(report)[frozenset(("grace", "yann"))]
    yann_share, grace_share = (pair.first_share, pair.second_share) if pair.first == "yann" else \
        (pair.second_share, pair.first_share)
    assert pair.flagged and pair.score == yann_share
    assert yann_share >= 0.8 and grace_share < 0.5, pair


def test_course_lib_paste_is_flagged(report):
    paste = _pairs(report)[frozenset(("tim", sim.REFERENCE))]
    assert paste.flagged
    assert paste.kind == sim.REFERENCE


def test_honest_pairs_are_not_flagged(report):
    pairs = _pairs(report)
    flagged = {frozenset((m.first, m.second)) for m in report.flagged}
    assert flagged == {frozenset(("ada", "ken")), frozenset(("grace", "yann")), frozenset(("tim", sim.REFERENCE))}, flagged
    for honest in [("ada", "grace"), ("grace", "ken"), ("ada", "tim"), ("grace", "tim"), ("ken", "tim"), ("ada", "yann")]:
        assert not pairs[frozenset(honest)].flagged
    for student in ["ada", "grace", "ken", "hedy", "yann"]:
        assert not pairs[frozenset((student, sim.REFERENCE))].flagged
    # the untouched lesson shares only the template, which is boilerplate
    for other in ["ada", "grace", "ken", "tim", "yann"]:
        assert pairs[frozenset(("hedy", other))].score == 0.0


def test_shared_template_alone_is_not_similar(course, tmp_path):
    """Two students whose answers are one-liners share the def lines and docstrings: no match at all."""
    root = tmp_path / "course"
    released = _released()
    short = {"mse_grad": "return (y_hat - y) / len(y)", "mse_loss": "return float(((y_hat - y) ** 2).sum()) / 2 / len(y)"}
    other = {"mse_grad": "return np.subtract(y_hat, y) / y.shape[0]", "mse_loss": "return np.mean((y_hat - y) ** 2) / 2"}
    for student, answers in [("a1", short), ("b2", other)]:
        path = root / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_answered(released, answers), str(path))
    result = sim.similarity(root, SOLUTIONS, lesson=LESSON)
    pair = _pairs(result)[frozenset(("a1", "b2"))]
    assert pair.matched == 0 and not pair.flagged


def _section(page: str, first: str, second: str) -> str:
    start = page.index("<h4 id=")
    blocks = page[start:].split("<h4 id=")
    return next(b for b in blocks if f">{first} and {second}" in b or f">{second} and {first}" in b)


def _marked(pre: str) -> str:
    return html.unescape(" ".join(re.findall(r"<mark>(.*?)</mark>", pre, flags=re.S)))


def test_html_shows_both_sides_matching_lines(report):
    page = report.html_path.read_text(encoding="utf-8")
    block = _section(page, "ada", "ken")
    first, second = re.findall(r'<pre class="(?:first|second)">(.*?)</pre>', block, flags=re.S)
    pair = _pairs(report)[frozenset(("ada", "ken"))]
    ada_side, ken_side = (first, second) if pair.first == "ada" else (second, first)
    # the same statement on both sides, under each student's own names, highlighted
    assert "gW.insert(0, As[i].T.dot(d))" in _marked(ada_side)
    assert "dWs.insert(0, outs[j].T.dot(dz))" in _marked(ken_side)
    assert "z = np.dot(a, Ws[i]) + bs[i]" in _marked(ada_side)
    assert "pre = np.dot(h,Ws[j]) + bs[j]" in _marked(ken_side)
    # the paste: tim's lines and course_lib's source side by side
    paste = _section(page, "tim", "course_lib's reference code")
    tim_side, lib_side = re.findall(r'<pre class="(?:first|second)">(.*?)</pre>', paste, flags=re.S)
    assert "grad_Ws[l] = A[l].T @ delta" in _marked(tim_side)
    assert "grad_Ws[l] = A[l].T @ delta" in _marked(lib_side)
    assert "grad_Ws: list[Array] = [None] * L" in html.unescape(re.sub("</?mark>", "", lib_side))  # course_lib's text, not tim's
    # student code is shown as text, never as markup
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page
    # honest pairs are not shown side by side
    assert ">ada and grace" not in page and ">grace and ada" not in page


def test_unreadable_submission_is_named_not_compared(report):
    assert BROKEN not in report.submissions[LESSON]
    assert all(BROKEN not in (m.first, m.second) for m in report.matches)
    [(student, lesson, why)] = report.notes
    assert (student, lesson) == (BROKEN, LESSON)
    assert why.startswith("unreadable: ") and "not valid JSON" in why and "points" not in why
    assert f"{BROKEN}/{LESSON}: unreadable" in report.html_path.read_text(encoding="utf-8")


def test_csv_has_a_row_per_pair(report):
    rows = list(csv.DictReader(report.csv_path.open(encoding="utf-8")))
    n = len(CLASS)
    assert len(rows) == n * (n - 1) // 2 + n  # student pairs, then each student with course_lib
    by_pair = {frozenset((r["first"], r["second"])): r for r in rows}
    assert by_pair[frozenset(("ada", "ken"))]["flagged"] == "yes"
    assert by_pair[frozenset(("tim", "course_lib"))]["flagged"] == "yes"
    assert by_pair[frozenset(("ada", "grace"))]["flagged"] == "no"
    assert {r["lesson"] for r in rows} == {LESSON}
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
    assert sum(r["flagged"] == "yes" for r in rows) == 3


def test_cli_writes_the_report(course, tmp_path, capsys):
    out = tmp_path / "out" / "sim.html"
    code = main(["similarity", "--course", str(course), "--lesson", LESSON, "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert out.is_file() and out.with_suffix(".csv").is_file()
    assert "FLAGGED 02_general_case: " in printed
    assert re.search(r"FLAGGED 02_general_case: (ada ~ ken|ken ~ ada)", printed)
    assert "FLAGGED 02_general_case: tim ~ course_lib" in printed
    assert printed.count("FLAGGED") == 3
    assert f"  note {BROKEN}/{LESSON}: unreadable: " in printed


def test_every_lesson_by_default_and_only_those_with_submissions(course, tmp_path):
    result = sim.similarity(course, SOLUTIONS, out=tmp_path / "all.html")
    assert result.lessons == [LESSON]
    assert {(m.first, m.second) for m in result.flagged} == {(m.first, m.second) for m in sim.similarity(
        course, SOLUTIONS, lesson=LESSON, out=tmp_path / "one.html").flagged}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "similarity", *args], capture_output=True, text=True,
                          cwd=REPO)


def test_missing_course_folder_is_one_clear_line(tmp_path):
    proc = _run("--course", str(tmp_path / "nowhere"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: no course folder") and "nowhere" in lines[0] and "submitted/" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_course_without_submissions_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["similarity", "--course", str(tmp_path / "empty")]) != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no submitted/ folder" in lines[0] and "grader collect" in lines[0], captured.err
    assert captured.out == ""


def test_unknown_lesson_is_one_clear_line(course):
    proc = _run("--course", str(course), "--lesson", "02_general")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "unknown lesson '02_general'" in lines[0] and "02_general_case" in lines[0]


def test_bad_threshold_is_one_clear_line(course, capsys):
    assert main(["similarity", "--course", str(course), "--threshold", "1.5"]) != 0
    assert capsys.readouterr().err.strip().splitlines() == ["error: --threshold: expected a share in (0, 1], got 1.5"]


# ----------------------------------------------------------------------------- every lesson, from the corpus

def _disguise(code: str) -> str:
    """``code`` as a copier hides it: every name renamed (consistently), comments rewritten, spacing changed.

    ``self`` stays: copydetect keeps it (a pseudo-builtin to its tokenizer) as it keeps ``len``, so a copy that
    also renames ``self`` scores lower (04_modules: 0.21 instead of 1.0).
    """
    names: dict[str, str] = {}
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        text = tok.string
        if (tok.type == tokenize.NAME and not keyword.iskeyword(text) and not hasattr(builtins, text) and text != "self"
                and not (prev is not None and prev.string == ".")):
            text = names.setdefault(text, f"my_{len(names)}")
        elif tok.type == tokenize.COMMENT:
            text = "# my own comment"
        out.append((tok.type, text))
        prev = tok
    return tokenize.untokenize(out)


def _corpus_class(root: Path, lesson: str) -> list[str]:
    """Students ``style<i>``: the i-th alternative of every exercise of grader/pipeline/styles; ``copycat`` disguises style0."""
    alternatives = styles.alternatives(lesson)
    released = nbformat.read(str(REPO / "lessons" / lesson / f"{lesson}.ipynb"), as_version=4)
    count = min(len(v) for v in alternatives.values())
    students = {f"style{i}": {ex: answers[i][1].strip("\n") for ex, answers in alternatives.items()}
                for i in range(count)}
    students["copycat"] = {ex: _disguise(code) for ex, code in students["style0"].items()}
    for student, answers in students.items():
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
                cell.source = answers[gid]
        path = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    return sorted(students)


def test_disguise_changes_every_name_and_comment():
    code = "import numpy as np\n\ndef f(self, X, W):\n    Z = X @ W  # (B, d)\n    return np.tanh(Z).sum(axis=len(W.shape) - 2)\n"
    assert "".join(_disguise(code).split()) == (
        "importmy_0asmy_1defmy_2(self,my_3,my_4):my_5=my_3@my_4#myowncomment"
        "returnmy_1.tanh(my_5).sum(my_6=len(my_4.shape)-2)")


@pytest.mark.parametrize("lesson", sorted(p.name for p in SOLUTIONS.iterdir() if (p / "references.json").exists()))
def test_corpus_styles_are_not_flagged_and_a_disguised_copy_is(tmp_path, lesson):
    """Differently written correct answers (grader/pipeline/styles) are honest pairs; a renamed copy of one is flagged."""
    _corpus_class(tmp_path / "course", lesson)
    result = sim.similarity(tmp_path / "course", SOLUTIONS, lesson=lesson)
    flagged = {frozenset((m.first, m.second)) for m in result.flagged}
    assert flagged == {frozenset(("style0", "copycat"))}, [(m.first, m.second, m.score) for m in result.flagged]
    honest = [m for m in result.matches if "copycat" not in (m.first, m.second)]
    assert max(m.score for m in honest) < 0.4, max(honest, key=lambda m: m.score)
