"""The plain-data protocol between checks and student code (grader/protocol.py)."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from grader.checks import Cases, student
from grader.checks.student import local_student
from grader.protocol import Agent, Handle, Peer, ProtocolError, StudentError, decode, encode, pack, unpack


def _roundtrip(value):
    return decode(json.loads(json.dumps(encode(value))))


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, "text", [1, [2.0, "x"]], (1, (2, 3)), {"a": 1, "b": [1, 2]}, {1: "one", (2, 3): "pair"},
    np.arange(6, dtype=np.float32).reshape(2, 3), np.array(True), np.int64(7), np.float64(0.25),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.zeros((0, 3)),
])
def test_plain_data_survives_the_round_trip_with_its_type_shape_and_dtype(value):
    back = _roundtrip(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    else:
        assert back == value


def test_an_ndarray_subclass_arrives_as_a_plain_array_whatever_its_operators_say():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    liar = np.arange(3.0).view(Liar)
    back = _roundtrip(liar)
    assert type(back) is np.ndarray and not np.array_equal(back, np.zeros(3))


@pytest.mark.parametrize("bad", [
    {"__nd__": ["|O", [1], ""]},                                  # object dtype
    {"__nd__": ["<f8", [2], base64.b64encode(b"x" * 8).decode()]},  # 8 bytes for 2 float64
    {"__nd__": ["<f8", [-1], ""]},                                # negative shape
    {"__evil__": 1},                                              # unknown marker
    {"__handle__": 1},                                            # a handle where none is expected
])
def test_malformed_data_is_refused_with_a_protocol_error(bad):
    with pytest.raises(ProtocolError):
        decode(bad)


def test_nesting_deeper_than_the_limit_is_refused():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ProtocolError, match="nested"):
        encode(deep)


def test_a_reply_that_is_not_protocol_text_is_refused():
    with pytest.raises(ProtocolError):
        unpack("this is not base64 json!")
    with pytest.raises(ProtocolError, match="larger"):
        unpack("A" * 1000, limit=100)


def test_objects_stay_with_the_student_behind_handles_that_read_set_and_call():
    class Box:
        def __init__(self, v):
            self.v = v

        def twice(self):
            return self.v * 2

    S = local_student({"Box": Box})
    h = S.call("Box", np.arange(3.0))
    assert isinstance(h, Handle) and h.type_name == "Box"
    assert np.array_equal(h.method("twice"), [0.0, 2.0, 4.0])
    h.set("v", 5)
    assert h.get("v") == 5
    add = S.lib("operator.add")
    assert add.call(2, 3) == 5


def test_arguments_are_copies_so_the_student_cannot_change_the_checks_arrays():
    def clobber(x):
        x[...] = 0.0
        return x

    X = np.ones(3)
    local_student({"clobber": clobber}).call("clobber", X)
    assert np.array_equal(X, np.ones(3))


def test_a_student_exception_arrives_as_a_student_error_naming_type_message_and_line():
    def broken(x):
        return x / undefined_name  # noqa: F821

    with pytest.raises(StudentError) as info:
        local_student({"broken": broken}).call("broken", 1.0)
    assert info.value.type_name == "NameError" and "undefined_name" in info.value.message


def test_only_allowed_library_modules_can_be_reached():
    with pytest.raises(StudentError, match="not in an allowed module"):
        local_student({}).lib("os.system")


def test_a_missing_name_says_which_and_what_to_do():
    with pytest.raises(StudentError, match="'nope' is not defined"):
        local_student({}).call("nope")


def test_a_hostile_agent_reply_cannot_reach_the_checks_objects():
    """Whatever the student's side answers, the check receives plain data or an error."""
    replies = [pack({"ok": {"__nd__": ["|O", [1], ""]}}), pack([1, 2]), "garbage", pack({"neither": 1})]
    for reply in replies:
        peer = Peer(lambda _req, r=reply: r)
        with pytest.raises((ProtocolError, StudentError)):
            peer.request("call", {"name": "f"})


def test_cases_turn_student_errors_into_one_line_messages_and_score_the_share_that_passed(capsys):
    S = local_student({"f": lambda x: x * 2, "g": lambda x: (_ for _ in ()).throw(NotImplementedError())})

    def check(label, name):
        assert np.allclose(S.call(name, np.ones(2)), 2.0), f"{name}: wrong"

    cases = Cases("demo", 4, check)
    cases.add("f works", name="f")
    cases.add("g is a stub", name="g")
    assert cases.score() == 2.0
    out = capsys.readouterr().out
    assert "PASS  f works" in out and "not implemented yet" in out and "Traceback" not in out


def test_outside_the_checker_the_student_is_the_calling_namespace():
    assert student().where == "notebook"


def test_the_agent_never_raises_even_for_garbage():
    agent = Agent({})
    assert "error" in unpack(agent.respond("%%%"))
    assert "error" in agent.handle({"op": "bogus", "target": {"name": "x"}})


def test_kept_values_are_changed_in_place_by_the_student_and_read_back():
    def step(params, lr):
        params["W"] -= lr * 2.0
        params["b"] = params["b"] + 1.0

    S = local_student({"step": step})
    params = S.keep({"W": np.ones(2), "b": np.zeros(1)})
    assert isinstance(params, Handle)
    S.call("step", params, 0.25)
    back = params.read()
    assert np.allclose(back["W"], 0.5) and np.allclose(back["b"], 1.0)


def test_read_refuses_objects_that_are_not_plain_data():
    S = local_student({"things": [object()]})
    assert S.keep([1, 2]).read() == [1, 2]
    things = S.keep(S.value("things"))  # a list holding an object (which came back as a handle)
    with pytest.raises(StudentError, match="not plain data"):
        things.read()
