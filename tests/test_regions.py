"""grader.pipeline.regions: what counts as secret text of a source notebook."""
import nbformat

from grader.pipeline.regions import find_leaks, secret_lines


def _nb(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_solution_and_hidden_lines_are_secret_but_public_ones_are_not():
    nb = _nb(
        "def helper(Ws):\n    L = len(Ws)\n    return L",
        "def f(Ws):\n    ### BEGIN SOLUTION\n    L = len(Ws)\n    grads = [W.T @ W for W in Ws]\n    ### END SOLUTION",
        "cases = 1\n### BEGIN HIDDEN TESTS\ncases.run('hidden case', check)\n### END HIDDEN TESTS",
    )
    secrets = secret_lines(nb)
    assert "grads = [W.T @ W for W in Ws]" in secrets
    assert "cases.run('hidden case', check)" in secrets
    assert "L = len(Ws)" not in secrets  # shown in the public helper too
    leaks = list(find_leaks(["x = 1", "    grads = [W.T @ W for W in Ws]", "### END SOLUTION"], secrets))
    assert leaks == ["grads = [W.T @ W for W in Ws]", "### END SOLUTION"]


def test_a_markdown_quote_of_a_solution_line_does_not_make_it_public():
    nb = _nb("def f(Ws):\n    ### BEGIN SOLUTION\n    grads = [W.T @ W for W in Ws]\n    ### END SOLUTION")
    nb.cells.append(nbformat.v4.new_markdown_cell("Hint:\n\n    grads = [W.T @ W for W in Ws]\n"))
    assert "grads = [W.T @ W for W in Ws]" in secret_lines(nb)
