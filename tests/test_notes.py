"""grader.pipeline.notes: a fixed vocabulary of what happened to a submission."""
from __future__ import annotations

import pytest

from grader.pipeline import notes


def test_notes_only_take_known_codes():
    with pytest.raises(ValueError, match="unknown note code 'oops'"):
        notes.Notes().add("oops", "x")
    n = notes.Notes()
    n.add("missing", "no   notebook\nat all")
    n.add("missing", "no notebook at all")
    assert n.as_list() == ["missing: no notebook at all"] and n.has("missing") and not n.has("renamed")
    assert notes.markdown(n).startswith(notes.HEADING)
