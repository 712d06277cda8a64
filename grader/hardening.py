"""Undo, before every cell and around every check, what student code replaced.

A student's code runs in the same kernel as the grade cells.  Without care a
cell that says ``np.allclose = lambda *a, **k: True``,
``checks.Cases.score = lambda self: 10.0``, ``builtins.isinstance = ...`` or
``get_ipython().display_formatter.formatters["text/plain"].for_type(float, ...)``
turns a wrong solution into points.  :func:`install` is called once in every
grading kernel, before any student code runs (the zygote calls it right after
``IPKernelApp.initialize``); it

1. takes a *snapshot* of everything the checks rely on:

   * **library**: the ``builtins`` module (``isinstance``, ``len``, ``float``,
     ``AssertionError``, ``__import__``...), numpy and every loaded
     ``numpy.*`` module, ``course_lib`` and all its submodules (the reference
     implementations the checks compare with), ``grader``, ``grader.checks``
     and this module, ``math``, ``random``, ``warnings``, ``contextlib``...:
     every module attribute, the ``__dict__`` of every Python class defined
     there (``Cases``, ``course_lib.modules.Linear``, ``np.errstate``...),
     the code object and defaults of every Python function (numpy's
     dispatchers included), module-level dicts, lists and arrays of
     ``course_lib`` and ``grader.checks``, and their ``sys.modules`` entries;
   * **machinery**: the IPython shell, kernel, session and iopub socket (no
     method overridden on the instance, their classes' ``__dict__``), the
     ``pre_execute`` / ``pre_run_cell`` callback lists, input and AST
     transformers, the compiler, the history manager, the display hook and
     its message hooks;
   * **display**: the formatters (``for_type`` printers, ``%precision``...)
     and ``IPython.lib.pretty``;

2. registers ``pre_execute`` and ``pre_run_cell`` callbacks (first in their
   lists) that restore the snapshot before every cell: a library or display
   change made by an earlier cell is undone silently (honest code does not
   make any, but ``%precision`` does); a machinery change that can act on a
   cell *before* these callbacks run (an input transformer, a replaced
   ``run_cell`` / ``do_execute``, another ``pre_execute`` callback) makes the
   callback raise :class:`TamperingDetected`, so the cell gets an error
   output and, if it is a grade cell, 0 points;

3. makes ``grader.checks`` read-only (``checks.assert_gradient = ...``
   raises; its classes already are) and registers a guard with
   :class:`grader.checks.Cases`: each case restores the snapshot when it
   starts and ends, runs with a display hook that publishes nothing (so the
   code under test cannot print a fake score as the cell's result), and the
   score restores everything again (history included: a faked trailing ``;``
   would hide the score) before it is displayed.  Any library or machinery
   change found by the guard was made by the code under test *while it was
   being checked*: that grade cell scores 0 and says why.

What this does not stop (in-process protection has limits; the complete fix
is to compute the checks outside the student's kernel, from values the kernel
only reports):

* Bypassing the locks with the object model: ``type.__setattr__`` or
  ``object.__setattr__``, writing ``checks.__dict__`` directly, replacing a
  function's ``__code__`` or a closure cell *during* a check and undoing it
  before the case ends, ``ctypes`` writes to memory.  Changes still present
  when a case ends are caught; a change made and reverted inside one call is
  not.
* Reaching the snapshot itself (``gc.get_objects()``, this module's
  ``_INSTALLED``, ``checks._guards``) and editing it so the "pristine" value is
  the fake one, or unregistering the callbacks and the guard together.
* Finding the grade cell's own objects through frames or the garbage
  collector (``sys._getframe(1).f_locals["cases"]``) and appending passed
  cases to them.
* Talking to Jupyter directly: sending an ``execute_result`` message through
  the kernel's session and iopub socket with the grade cell's parent header
  (nbgrader takes the *first* ``execute_result`` of a cell;
  ``grader.grade_outputs`` scores a grade cell with more than one at 0), or a background thread that acts
  between the last restore and the display of the score.
* What this snapshot does not cover: other modules (``matplotlib``,
  ``sklearn``, the standard library beyond the ones listed), ``post_execute``
  / ``post_run_cell`` callbacks (they run after the score is published; they
  are left alone because the inline matplotlib backend uses one), numpy's
  module-level containers, the C level.
* Reading hidden tests or solutions from disk, the gradebook, the network:
  that is the sandbox's job (``grader/SANDBOX.md``).
"""
from __future__ import annotations

import builtins
import importlib
import itertools
import operator
import pkgutil
import sys
import types
from typing import Any, Iterable

__all__ = ["TamperingDetected", "Hardening", "Snapshot", "install", "installed", "load_ipython_extension"]

LIBRARY, MACHINERY, DISPLAY = "library", "machinery", "display"

_MISSING = object()
_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8

# Private references: this module must keep working when the public ones are replaced.
_getattr, _setattr, _isinstance, _len, _id, _type = getattr, setattr, isinstance, len, id, type
_vars, _callable, _list, _tuple, _frozenset, _zip = vars, callable, list, tuple, frozenset, zip
_any, _all, _dict, _delattr, _map = any, all, dict, delattr, map
_is = operator.is_
_chain = itertools.chain.from_iterable
_values = operator.methodcaller("values")
_get_kwdefaults = operator.attrgetter("__kwdefaults__")
_get_code, _get_defaults = operator.attrgetter("__code__"), operator.attrgetter("__defaults__")
_dict_fromkeys = dict.fromkeys
_type_setattr, _type_delattr = type.__setattr__, type.__delattr__
_object_setattr = object.__setattr__
_FunctionType, _ModuleType = types.FunctionType, types.ModuleType
_staticmethod, _classmethod, _property = staticmethod, classmethod, property
_sys_modules = sys.modules
_Exception = Exception

#: builtins that IPython itself sets and removes around every cell.
_BUILTINS_MANAGED = frozenset({"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__",
                               "runfile", "__warningregistry__", "input", "raw_input"})  # ipykernel swaps input per request
#: keys Python or the standard library add to a class or module on its own.
_SKIP_KEYS = frozenset({"__slotnames__", "__abstractmethods__", "_abc_impl", "__warningregistry__", "__annotations__",
                        "_instance"})  # traitlets' SingletonConfigurable.instance() caches the instance on the class

#: modules whose attributes, classes and functions are restored silently before a cell
#: and reported as tampering when the code under test changed them during a check.
LIBRARY_MODULES = ("math", "random", "warnings", "contextlib", "io", "traceback", "zlib", "copy", "functools", "operator")
LIBRARY_PACKAGES = ("numpy", "course_lib", "grader")
GRADER_MODULES = ("grader", "grader.checks", "grader.hardening", "grader.delegation")
#: the execution and output path of the kernel.
MACHINERY_MODULES = (
    "IPython.core.interactiveshell", "IPython.core.displayhook", "IPython.core.displaypub", "IPython.core.events",
    "IPython.core.inputtransformer2", "IPython.core.compilerop", "IPython.core.history", "IPython.core.display_trap",
    "IPython.core.builtin_trap", "IPython.core.prefilter", "IPython.core.async_helpers",
    "ipykernel.zmqshell", "ipykernel.ipkernel", "ipykernel.kernelbase", "ipykernel.displayhook",
    "ipykernel.iostream", "ipykernel.jsonutil", "jupyter_client.session", "jupyter_client.jsonutil",
    "zmq.sugar.socket",
)
#: module attributes the standard library itself reassigns (warnings.catch_warnings swaps the filter list)
_VOLATILE = {"warnings": ("filters", "_filters_version", "showwarning", "_showwarnmsg", "_showwarnmsg_impl",
                          "formatwarning", "_formatwarnmsg", "defaultaction", "onceregistry")}
DISPLAY_MODULES = ("IPython.core.formatters", "IPython.lib.pretty", "IPython.core.display_functions")

_PLAIN_TEXT_TRAITS = ("enabled", "pprint", "float_precision", "float_format", "max_seq_length", "verbose", "max_width", "newline")
_FORMATTER_TRAITS = ("enabled",)
#: shell attributes whose objects run or show a cell.
_SHELL_ATTRS = ("displayhook", "display_formatter", "display_pub", "display_trap", "builtin_trap", "events",
                "input_transformer_manager", "input_transformers_post", "ast_transformers", "compile",
                "history_manager", "prefilter_manager", "kernel")


class TamperingDetected(RuntimeError):
    """A cell was about to run with the kernel's execution machinery changed by an earlier cell."""


class Snapshot:
    """Pristine references and how to put them back.

    ``restore()`` puts back everything that differs and returns
    ``[(kind, label), ...]`` for what it had to restore (``kind`` is
    ``"library"``, ``"machinery"`` or ``"display"``).  Unchanged state is
    recognised by identity comparisons done in C (``map(operator.is_, ...)``),
    so a restore of ~20,000 references costs about a millisecond.
    """

    def __init__(self) -> None:
        # [mapping, keys, values, kind, label, set, delete, exact]: a dict, a module's dict or a class's __dict__
        self._maps: list = []
        self._always: list = []     # (mapping, keys, values, kind, label): compared key by key every time
        self._funcs: list = []      # Python functions: their code, defaults and keyword defaults are restored
        self._codes: list = []
        self._defaults: list = []
        self._func_meta: list = []  # (kind, label) per function
        self._kwdefaults: list = []  # (function, items, kind, label) for functions with keyword-only defaults
        self._lists: list = []      # (list, tuple of items, kind, label)
        self._attrs: list = []      # (object, name, value, kind, label)
        self._shadows: list = []    # (object, instance keys, kind, label): methods set on the instance later are removed
        self._arrays: list = []     # (array, bytes, shape, dtype, kind, label)
        self._modules: list = []    # (name, module): sys.modules entries
        self._seen_ids: set = set()
        self._frozen = None

    # ------------------------------------------------------------------ building
    def _once(self, obj: object, tag: str) -> bool:
        key = (_id(obj), tag)
        if key in self._seen_ids:
            return False
        self._seen_ids.add(key)
        return True

    def _add_map(self, mapping, kind: str, label: str, setter, deleter, exact: bool, skip) -> None:
        items = [(k, v) for k, v in _list(mapping.items()) if k not in skip]
        keys = _tuple(k for k, _ in items)
        values = _tuple(v for _, v in items)
        self._maps.append((mapping, keys, values, kind, label, setter, deleter, exact, skip))

    def add_mapping(self, mapping: dict, kind: str, label: str, exact: bool = False, skip: Iterable[str] = ()) -> None:
        """Entries of ``mapping`` are put back; with ``exact``, keys added later are removed too."""
        if self._once(mapping, "mapping"):
            self._add_map(mapping, kind, label, mapping.__setitem__, mapping.__delitem__, exact,
                          _frozenset(skip) | _SKIP_KEYS)

    def add_builtins(self, mapping: dict, skip: Iterable[str]) -> None:
        """The builtins module's dict: IPython adds and removes names around every cell, so it is compared key by key."""
        items = [(k, v) for k, v in _list(mapping.items()) if k not in skip]
        self._always.append((mapping, _tuple(k for k, _ in items), _tuple(v for _, v in items), LIBRARY, "builtins"))

    def add_list(self, lst: list, kind: str, label: str) -> None:
        if self._once(lst, "list"):
            self._lists.append((lst, _tuple(lst), kind, label))

    def add_attr(self, obj: object, name: str, kind: str, label: str) -> None:
        if self._once(obj, "attr:" + name):
            self._attrs.append((obj, name, _getattr(obj, name, _MISSING), kind, f"{label}.{name}"))

    def add_function(self, func: object, kind: str, label: str) -> None:
        if _type(func) is not _FunctionType or not self._once(func, "function"):
            return
        self._funcs.append(func)
        self._codes.append(func.__code__)
        self._defaults.append(func.__defaults__)
        self._func_meta.append((kind, label))
        if func.__kwdefaults__ is not None:
            kw = func.__kwdefaults__
            self._kwdefaults.append((func, kw, _tuple(kw), _tuple(kw.values()), kind, label))

    def add_class(self, cls: type, kind: str, label: str | None = None) -> None:
        flags = _getattr(cls, "__flags__", 0)
        if not flags & _HEAPTYPE or flags & _IMMUTABLETYPE or cls is object or not self._once(cls, "class"):
            return
        label = label or f"{cls.__module__}.{cls.__qualname__}"
        setter = lambda key, value, cls=cls: _type_setattr(cls, key, value)  # noqa: E731
        deleter = lambda key, cls=cls: _type_delattr(cls, key)  # noqa: E731
        self._add_map(cls.__dict__, kind, label, setter, deleter, True, _SKIP_KEYS)
        for key, value in _list(cls.__dict__.items()):
            if _type(value) in (_staticmethod, _classmethod):
                value = value.__func__
            if _type(value) is _property:
                for part in (value.fget, value.fset, value.fdel):
                    self.add_function(part, kind, f"{label}.{key}")
                continue
            self.add_function(value, kind, f"{label}.{key}")

    def add_module(self, module: types.ModuleType, kind: str, containers: bool = False, skip: Iterable[str] = ()) -> None:
        """A module's attributes (keys added later are left alone), and the classes and functions defined in it."""
        name = module.__name__
        if not self._once(module, "module"):
            return
        self._modules.append((name, module))
        self._add_map(module.__dict__, kind, name, module.__dict__.__setitem__, None, False,
                      _frozenset(skip) | _SKIP_KEYS)
        for key, value in _list(module.__dict__.items()):
            if _isinstance(value, type):
                if _getattr(value, "__module__", None) == name:
                    self.add_class(value, kind)
            elif _type(value) is _FunctionType:
                self.add_function(value, kind, f"{name}.{key}")
            else:
                impl = _getattr(value, "_implementation", None)  # numpy's array-function dispatchers
                if _type(impl) is _FunctionType:
                    self.add_function(impl, kind, f"{name}.{key}")
            if containers and not key.startswith("__"):
                if _type(value) is dict:
                    self.add_mapping(value, kind, f"{name}.{key}", exact=True)
                elif _type(value) is list:
                    self.add_list(value, kind, f"{name}.{key}")
                elif _type(value).__name__ == "ndarray" and _type(value).__module__ == "numpy":
                    self._arrays.append((value, value.tobytes(), value.shape, value.dtype, kind, f"{name}.{key}"))

    def add_instance(self, obj: object, kind: str, label: str) -> None:
        """Methods may not be overridden on ``obj`` itself; its classes' ``__dict__`` are restored."""
        if obj is None or not self._once(obj, "instance"):
            return
        inst = _getattr(obj, "__dict__", None)
        if inst is not None:
            for key, value in _list(inst.items()):
                if _callable(value) and not _isinstance(value, type):
                    self.add_attr(obj, key, kind, label)
            self._shadows.append((obj, _frozenset(inst), kind, label))
        for cls in _type(obj).__mro__:
            self.add_class(cls, kind)

    def freeze(self) -> None:
        """Done adding: prepare the tuples the fast comparisons use."""
        self._frozen = (_tuple(self._funcs), _tuple(self._codes), _tuple(self._defaults))
        self._map_objs = _tuple(entry[0] for entry in self._maps)
        self._kw = (_tuple(e[0] for e in self._kwdefaults), _tuple(e[1] for e in self._kwdefaults))
        self._refresh_seen()

    def _refresh_seen(self) -> None:
        objs = self._map_objs
        self._seen = (_tuple(_map(_len, objs)), _tuple(_chain(objs)), _tuple(_chain(_map(_values, objs))))
        kwdicts = self._kw[1]
        self._seen_kw = (_tuple(_map(_len, kwdicts)), _tuple(_chain(_map(_values, kwdicts))))

    def _unchanged(self) -> bool:
        """Whether every mapping, function and keyword-default dict is as last seen (compared in C)."""
        is_ = _is
        objs = self._map_objs
        lens, keys, values = self._seen
        funcs, codes, defaults = self._frozen
        kwfuncs, kwdicts = self._kw
        kwlens, kwvalues = self._seen_kw
        return (_tuple(_map(_len, objs)) == lens and _all(_map(_is, _chain(objs), keys))
                and _all(_map(_is, _chain(_map(_values, objs)), values))
                and _all(_map(_is, _map(_get_code, funcs), codes)) and _all(_map(_is, _map(_get_defaults, funcs), defaults))
                and _all(_map(_is, _map(_get_kwdefaults, kwfuncs), kwdicts))
                and _tuple(_map(_len, kwdicts)) == kwlens and _all(_map(_is, _chain(_map(_values, kwdicts)), kwvalues)))

    # ------------------------------------------------------------------ restoring
    def _restore_slow(self, note) -> None:
        missing = _MISSING
        for entry in self._maps:
            mapping, keys, values, kind, label, setter, deleter, exact, skip = entry[:9]
            for key, value in _zip(keys, values):
                if mapping.get(key, missing) is not value:
                    setter(key, value)
                    note((kind, f"{label}.{key}" if _isinstance(key, str) else f"{label}[{key!r}]"))
            if exact and deleter is not None and _len(mapping) != _len(keys):
                known = _frozenset(keys)
                for key in [k for k in mapping if k not in known and k not in skip]:
                    deleter(key)
                    note((kind, f"{label}.{key} (added)" if _isinstance(key, str) else f"{label}[{key!r}] (added)"))
        funcs, codes, defaults = self._frozen
        for func, code, default, (kind, label) in _zip(funcs, codes, defaults, self._func_meta):
            if func.__code__ is not code:
                func.__code__ = code
                note((kind, f"{label}.__code__"))
            if func.__defaults__ is not default:
                func.__defaults__ = default
                note((kind, f"{label}.__defaults__"))
        for func, kw, keys, values, kind, label in self._kwdefaults:
            now = func.__kwdefaults__
            if now is not kw or _len(kw) != _len(keys) or not (_all(_map(_is, kw, keys)) and _all(_map(_is, kw.values(), values))):
                kw.clear()
                kw.update(_zip(keys, values))
                func.__kwdefaults__ = kw
                note((kind, f"{label}.__kwdefaults__"))
        self._refresh_seen()

    def restore(self) -> list:
        if self._frozen is None:
            self.freeze()
        changes: list = []
        note = changes.append
        missing = _MISSING
        modules = _sys_modules
        for name, module in self._modules:
            if modules.get(name, missing) is not module:
                modules[name] = module
                note((LIBRARY, f"sys.modules[{name!r}]"))
        for mapping, keys, values, kind, label in self._always:  # builtins: IPython adds and removes names every cell
            for key, value in _zip(keys, values):
                if mapping.get(key, missing) is not value:
                    mapping[key] = value
                    note((kind, f"{label}.{key}"))
        if not self._unchanged():  # the slow path: find and restore what differs
            self._restore_slow(note)
        for lst, items, kind, label in self._lists:
            if _len(lst) != _len(items) or not _all(_map(_is, lst, items)):
                lst[:] = items
                note((kind, label))
        for obj, name, value, kind, label in self._attrs:
            if _getattr(obj, name, missing) is not value:
                try:
                    if value is missing:
                        _delattr(obj, name)
                    else:
                        _setattr(obj, name, value)
                except _Exception:
                    _object_setattr(obj, name, value)
                note((kind, label))
        for obj, keys, kind, label in self._shadows:
            inst = obj.__dict__
            if _len(inst) != _len(keys):
                cls = _type(obj)
                for key in [k for k in inst if k not in keys]:
                    if _callable(_getattr(cls, key, None)) and _callable(inst[key]):
                        del inst[key]
                        note((kind, f"{label}.{key} (set on the instance)"))
        for array, data, shape, dtype, kind, label in self._arrays:
            if array.shape != shape or array.dtype != dtype or array.tobytes() != data:
                try:
                    if array.shape != shape:
                        array.shape = shape
                    array.flags.writeable = True
                    array[...] = array.__class__(shape, dtype=dtype, buffer=data)
                except _Exception:
                    pass
                note((kind, label))
        return changes


def _submodules(package: str) -> list:
    """The package and its loaded submodules, importing course_lib's and grader's that are not loaded yet."""
    if package in ("course_lib",):
        try:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__, package + "."):
                try:
                    importlib.import_module(info.name)
                except Exception:
                    pass
        except Exception:
            return []
    prefix = package + "."
    return [m for name, m in _list(_sys_modules.items())
            if (name == package or name.startswith(prefix)) and _isinstance(m, _ModuleType)]


class _ReadOnlyModule(types.ModuleType):
    """Class of ``grader.checks`` once hardening is installed: attribute assignment raises."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.__name__} is read-only while grading: a notebook cannot change how it is graded")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__} is read-only while grading: a notebook cannot change how it is graded")


class Hardening:
    """What :func:`install` set up in this kernel (one per process)."""

    def __init__(self, shell=None) -> None:
        from grader import checks

        global _INSTALLED
        _INSTALLED = self  # before the snapshot, which includes this module's attributes
        self.shell = shell
        self.checks = checks
        self.snapshot = Snapshot()
        self.restores = 0
        self.last_changes: list = []
        self._pending: list = []
        self._history_expect: tuple | None = None
        self._silenced: tuple | None = None
        self._silent_hook = None
        self._transform = None
        # grader.checks first: read-only class, guard registered, then snapshot it as it is now
        guards, cls = checks._guards, _type(checks)
        checks._register_guard(_Guard(self))
        _object_setattr(checks, "__class__", _ReadOnlyModule)
        try:
            self._take_snapshot()
            if shell is not None:
                self.attach(shell)
            self.snapshot.freeze()
        except BaseException:  # leave the kernel as it was: a half-installed guard would fail honest cases
            _INSTALLED = None
            checks.__dict__["_guards"] = guards
            _object_setattr(checks, "__class__", cls)
            raise

    # ------------------------------------------------------------------ snapshot
    def _take_snapshot(self) -> None:
        snap = self.snapshot
        snap.add_builtins(builtins.__dict__, _BUILTINS_MANAGED)
        for name in LIBRARY_MODULES:
            module = _sys_modules.get(name) or importlib.import_module(name)
            snap.add_module(module, LIBRARY, skip=_VOLATILE.get(name, ()))
        for package in LIBRARY_PACKAGES:
            for module in _submodules(package):
                if package == "grader" and module.__name__ not in GRADER_MODULES:
                    continue  # the pipeline's own modules: not used by grade cells
                snap.add_module(module, LIBRARY, containers=package == "course_lib" or module.__name__ == "grader.checks")
        checks = self.checks
        snap._attrs.append((checks, "__class__", _ReadOnlyModule, LIBRARY, "grader.checks.__class__"))

    def attach(self, shell) -> None:
        """Add the IPython shell (machinery, display) to the snapshot and register the cell callbacks."""
        if self.shell is not None and self._silent_hook is not None:
            return
        self.shell = shell
        self._snapshot_shell(shell)
        self._register_callbacks()
        self.snapshot.freeze()

    def _snapshot_shell(self, shell) -> None:
        """The display and execution machinery, as the kernel's start-up left it."""
        snap = self.snapshot
        for name in DISPLAY_MODULES:
            module = _sys_modules.get(name)
            if module is not None:
                snap.add_module(module, DISPLAY)
        pretty = _sys_modules.get("IPython.lib.pretty")
        if pretty is not None:
            for key in ("_type_pprinters", "_deferred_type_pprinters", "_singleton_pprinters"):
                table = _getattr(pretty, key, None)
                if _isinstance(table, dict):
                    snap.add_mapping(table, DISPLAY, f"IPython.lib.pretty.{key}")
        for name in MACHINERY_MODULES:
            module = _sys_modules.get(name)
            if module is not None:
                snap.add_module(module, MACHINERY)
        for name in _SHELL_ATTRS:
            if _getattr(shell, name, _MISSING) is not _MISSING:
                snap.add_attr(shell, name, MACHINERY, "shell")
        snap.add_instance(shell, MACHINERY, "shell")
        for name in ("events", "displayhook", "display_trap", "builtin_trap", "input_transformer_manager", "compile",
                     "history_manager", "display_pub", "prefilter_manager"):
            snap.add_instance(_getattr(shell, name, None), MACHINERY, f"shell.{name}")
        events = shell.events
        snap.add_attr(events, "callbacks", MACHINERY, "shell.events")
        snap.add_mapping(events.callbacks, MACHINERY, "shell.events.callbacks")
        tm = shell.input_transformer_manager
        for name in ("cleanup_transforms", "line_transforms", "token_transformers"):
            if _isinstance(_getattr(tm, name, None), list):
                snap.add_attr(tm, name, MACHINERY, "shell.input_transformer_manager")
                snap.add_list(_getattr(tm, name), MACHINERY, f"shell.input_transformer_manager.{name}")
        snap.add_list(shell.input_transformers_post, MACHINERY, "shell.input_transformers_post")
        snap.add_list(shell.input_transformers_cleanup, MACHINERY, "shell.input_transformers_cleanup")
        snap.add_list(shell.ast_transformers, MACHINERY, "shell.ast_transformers")
        dh = shell.displayhook
        trap = shell.display_trap
        snap.add_attr(trap, "hook", MACHINERY, "shell.display_trap")
        for obj, label in ((dh, "shell.displayhook"), (shell.display_pub, "shell.display_pub")):
            for name in ("session", "pub_socket", "_thread_local", "topic"):
                if _getattr(obj, name, _MISSING) is not _MISSING:
                    snap.add_attr(obj, name, MACHINERY, label)
            hooks = _getattr(obj, "_hooks", None)  # ipykernel >= 7: transforms of outgoing messages
            if _isinstance(hooks, list):
                snap.add_list(hooks, MACHINERY, f"{label}._hooks")
            for name in ("session", "pub_socket"):
                snap.add_instance(_getattr(obj, name, None), MACHINERY, f"{label}.{name}")
        kernel = _getattr(shell, "kernel", None)
        if kernel is not None:
            snap.add_instance(kernel, MACHINERY, "kernel")
            for name in ("session", "iopub_socket", "shell"):
                if _getattr(kernel, name, _MISSING) is not _MISSING:
                    snap.add_attr(kernel, name, MACHINERY, "kernel")
            snap.add_instance(_getattr(kernel, "session", None), MACHINERY, "kernel.session")
            snap.add_instance(_getattr(kernel, "iopub_socket", None), MACHINERY, "kernel.iopub_socket")
        formatter = shell.display_formatter
        snap.add_instance(formatter, DISPLAY, "shell.display_formatter")
        snap.add_attr(formatter, "formatters", DISPLAY, "shell.display_formatter")
        snap.add_mapping(formatter.formatters, DISPLAY, "shell.display_formatter.formatters")
        if _isinstance(_getattr(formatter, "active_types", None), list):
            snap.add_attr(formatter, "active_types", DISPLAY, "shell.display_formatter")
            snap.add_list(formatter.active_types, DISPLAY, "shell.display_formatter.active_types")
        # printers added later (matplotlib's for figures) stay: only replaced or removed ones are put back
        for mime, fmt in _list(formatter.formatters.items()):
            label = f"shell.display_formatter.formatters[{mime!r}]"
            snap.add_instance(fmt, DISPLAY, label)
            for name in (_PLAIN_TEXT_TRAITS if mime == "text/plain" else _FORMATTER_TRAITS):
                if _getattr(fmt, name, _MISSING) is not _MISSING:
                    snap.add_attr(fmt, name, DISPLAY, label)
            for name in ("type_printers", "deferred_printers", "singleton_printers"):
                table = _getattr(fmt, name, None)
                if _isinstance(table, dict):
                    snap.add_attr(fmt, name, DISPLAY, label)
                    snap.add_mapping(table, DISPLAY, f"{label}.{name}")

    # ------------------------------------------------------------------ IPython callbacks
    def _register_callbacks(self) -> None:
        shell = self.shell
        from IPython.core.displayhook import DisplayHook
        from IPython.core.interactiveshell import InteractiveShell

        class _SilentDisplayHook(DisplayHook):
            """Installed while a case runs: nothing the code under test displays becomes the cell's result."""

            def __call__(self, result=None):
                return None

        self._silent_hook = _SilentDisplayHook(shell=shell, cache_size=0)
        transform = InteractiveShell.transform_cell
        self._transform = lambda raw: transform(shell, raw)
        callbacks = shell.events.callbacks
        callbacks["pre_execute"].insert(0, self._pre_execute)
        callbacks["pre_run_cell"].insert(0, self._pre_run_cell)
        # the callback lists as they must be before every cell (ours first)
        self._callbacks = {event: _tuple(callbacks[event]) for event in ("pre_execute", "pre_run_cell")}
        self.snapshot.add_list(callbacks["pre_execute"], MACHINERY, "shell.events.callbacks['pre_execute']")
        self.snapshot.add_list(callbacks["pre_run_cell"], MACHINERY, "shell.events.callbacks['pre_run_cell']")

    def _pre_execute(self) -> None:
        callbacks = self.shell.events.callbacks
        pending = []
        for event, expected in self._callbacks.items():
            current = callbacks.get(event)
            if current is None or _tuple(current) != expected:
                if event == "pre_execute" and current is not None and _any(
                        _all(cb is not e for e in expected) for cb in current):
                    pending.append("a pre_execute callback added by the notebook ran before this cell")
                if current is None:
                    callbacks[event] = _list(expected)
                else:
                    current[:] = expected  # drop callbacks the notebook added before they see this cell
        self._pending = pending

    def _pre_run_cell(self, info=None) -> None:
        changes = self.restore()
        problems = _list(self._pending)
        self._pending = []
        problems += [label for kind, label in changes if kind == MACHINERY]
        raw = _getattr(info, "raw_cell", None)
        transformed = _getattr(info, "transformed_cell", None)
        if raw is not None and transformed is not None and self._transform is not None:
            try:
                expected = self._transform(raw)
            except Exception:
                expected = transformed
            if expected != transformed:
                problems.append("the cell's source was rewritten before it ran (an input transformer or a replaced "
                                "transform_cell)")
            hm = _getattr(self.shell, "history_manager", None)
            hist = _getattr(hm, "input_hist_parsed", None)
            if _isinstance(hist, list):
                self._history_expect = (hist, _len(hist) + 1, expected.rstrip("\n"))
        if problems:
            seen = _list(_dict_fromkeys(problems))
            raise TamperingDetected(
                "grader.hardening: an earlier cell changed how this kernel runs cells, so this cell may not be the "
                "one in the notebook; it gets an error (a grade cell scores 0). Changed: "
                + "; ".join(seen[:8]) + ("; ..." if _len(seen) > 8 else ""))

    # ------------------------------------------------------------------ restoring
    def restore(self) -> list:
        """Restore the snapshot; ``[(kind, label)]`` of what had changed."""
        self.restores += 1
        changes = self.snapshot.restore()
        if changes:
            self.last_changes = changes
        return changes

    def reportable(self) -> list:
        """Restore; the labels of library and machinery changes (display settings are restored silently)."""
        return [label for kind, label in self.restore() if kind != DISPLAY]

    def silence_display(self) -> None:
        shell = self.shell
        if shell is None or self._silent_hook is None or self._silenced is not None:
            return
        silent = self._silent_hook
        self._silenced = (shell.displayhook, sys.displayhook, shell.display_trap.hook)
        shell.displayhook = silent
        sys.displayhook = silent
        shell.display_trap.hook = silent

    def unsilence_display(self) -> None:
        saved, self._silenced = self._silenced, None
        if saved is None:
            return
        shell = self.shell
        displayhook, sys_hook, trap_hook = saved
        shell.displayhook = displayhook
        sys.displayhook = sys_hook
        shell.display_trap.hook = trap_hook

    def check_history(self) -> list:
        """The last history entry must be this cell: IPython hides a cell's result when that entry ends with ';'."""
        expect, self._history_expect = self._history_expect, None
        if expect is None:
            return []
        hist, length, text = expect
        if _len(hist) > length or (_len(hist) == length and hist[-1] != text):
            del hist[length:]
            if _len(hist) == length:
                hist[-1] = text
            self._history_expect = expect
            return ["the input history (a trailing ';' hides a cell's result)"]
        self._history_expect = expect
        return []


class _Guard:
    """Registered with ``grader.checks``: called by every case and by the score."""

    def __init__(self, hardening: Hardening):
        self._h = hardening

    def enter_case(self) -> list:
        # the previous case's exit (or the cell's start) restored everything; only the grade cell ran since
        self._h.silence_display()
        return []

    def exit_case(self) -> list:
        self._h.unsilence_display()
        return self._h.reportable()

    def before_score(self) -> list:
        self._h.unsilence_display()
        return self._h.reportable() + self._h.check_history()


_INSTALLED: Hardening | None = None


def install(shell=None) -> Hardening:
    """Harden this kernel; call after the IPython shell exists and before any student code.

    ``shell`` defaults to ``get_ipython()``.  Without a shell (plain Python,
    or the zygote before it forks) the library snapshot, the read-only
    ``grader.checks`` and the case guard are installed; a later
    ``install(shell)`` in the same process (the forked kernel) adds the
    shell's part and the cell callbacks, which is all a kernel then pays.
    Further calls return the same installation.
    """
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except Exception:
            shell = None
    if _INSTALLED is None:
        Hardening(shell)  # sets _INSTALLED
    elif shell is not None:
        _INSTALLED.attach(shell)
    return _INSTALLED


def installed() -> Hardening | None:
    """The installation of this process, or None."""
    return _INSTALLED


def load_ipython_extension(shell) -> None:
    """``%load_ext grader.hardening`` / ``InteractiveShellApp.extensions``: the same as ``install(shell)``."""
    install(shell)
