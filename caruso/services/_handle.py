"""Service handles: the references callers hold, which follow a service through replacements.

A handle never holds an implementation. It holds a *box*, a one-item list whose
item is the :class:`Target` that calls go to now; the manager swaps that item
when a service is replaced, stopped or outranked (``retarget``), and every call
made through the handle afterwards lands on the new target. Before the manager
stops an old implementation it waits until no call is *in flight* on it.

The call path has a budget of about twice a direct method call, which is why it
looks the way it does:

- **Stubs live on a class, not behind ``__getattr__``.** Each target has a
  handle class; retargeting assigns the handle's ``__class__``. The class has a
  forwarding descriptor per attribute of the implementation; the first access
  to a method replaces that descriptor with a *stub* function, so later calls
  are an ordinary, fully specialised method call on the handle. (A class with
  ``__getattr__`` would make every attribute lookup take the slow path.)
- **Stubs have the method's own shape.** Forwarding ``*args, **kwargs`` costs
  more than the rest of the stub, so a method with up to three plain parameters
  gets a stub of exactly that shape: the template's parameters are renamed after
  the method's (``code.replace``, no ``exec``), so keyword calls still work, and
  the method's defaults are copied. Other methods get a generic stub.
- **A sync call is in flight while its stub's frame is on a thread's stack.**
  Every stub gets a code object of its own, registered with its target, so
  counting the calls in flight on a target is a walk over
  ``sys._current_frames()`` looking for those code objects: nothing is counted
  per call. A stub checks, as its first step, that its target is still the one
  in the box, and otherwise hands the call to the current target through
  ``_forward`` (an old stub frame calling ``_forward`` is not counted, so a
  caller holding an old bound stub does not hold up the drain). So once the
  manager has switched the box and then seen no stub frame of the old target,
  no call can reach the old implementation any more.
- **An async call is counted.** A suspended coroutine is on no stack, so async
  stubs mark themselves in flight with ``deque.append`` / ``deque.pop`` (atomic,
  lock-free) for as long as the coroutine runs, re-checking the box after
  marking.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import CodeType, FunctionType
from typing import Any


class ServiceHandle:
    """A reference to a service that always resolves to its current implementation.

    Attribute access is proxied: methods become calls on whatever implementation
    is current at call time; other attributes are read from it on each access.
    Dunder names are not proxied, and a handle is read-only. Get one from
    ``ServiceManager.get(name or interface)``.
    """

    __slots__ = ("__box", "__label")

    def __init__(self, label: str, target: Target):
        object.__setattr__(self, "_ServiceHandle__box", [target])
        object.__setattr__(self, "_ServiceHandle__label", label)
        object.__setattr__(self, "__class__", target.handle_class())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"cannot set {name!r} through the handle of service {self.__label!r}: handles are "
            "read-only; set it on the implementation (manager.resolve(...)) or give the "
            "service a method for it"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {name!r} through the handle of service {self.__label!r}")

    def __dir__(self) -> list[str]:
        target = self.__box[0]
        return dir(target.impl) if target.available else []

    def __repr__(self) -> str:
        target = self.__box[0]
        if target.available:
            return f"<ServiceHandle {self.__label!r} -> {_qualified(type(target.impl))}>"
        return f"<ServiceHandle {self.__label!r}: {target.reason}>"


class Target:
    """One implementation as callers reach it, and what tells whether calls are still on it.

    An *unavailable* target stands in while a service cannot take calls (not
    started, stopped, unregistered, no provider): it holds no object, only the
    error a call raises, built at call time so that the message is current.
    """

    __slots__ = ("impl", "reason", "_problem", "_stubs", "_codes", "_async_calls", "_class")

    def __init__(self, impl: object, reason: str = "", problem: Callable[[], Exception] | None = None):
        self.impl = impl
        self.reason = reason
        self._problem = problem
        self._stubs: dict[str, FunctionType] = {}
        self._codes: dict[int, CodeType] = {}  # id -> code of every sync stub made for this target
        self._async_calls: deque[None] = deque()
        self._class: type | None = None

    @classmethod
    def unavailable(cls, reason: str, problem: Callable[[], Exception]) -> Target:
        return cls(None, reason, problem)

    @property
    def available(self) -> bool:
        return self._problem is None

    def resolve(self) -> object:
        """The implementation, or the error saying why there is none right now."""
        if self._problem is not None:
            raise self._problem()
        return self.impl

    def same_as(self, other: Target) -> bool:
        """True when retargeting from self to other would change nothing for a caller."""
        if self is other:
            return True
        return not self.available and not other.available and self.reason == other.reason

    def calls_in_flight(self) -> int:
        """Calls running on this implementation, not counting the calling thread's own."""
        count = len(self._async_calls)
        if not self._codes:
            return count
        codes = self._codes
        me = threading.get_ident()
        for thread_id, frame in sys._current_frames().items():
            if thread_id == me:
                continue  # waiting here for a call of our own would wait forever
            callee = None
            while frame is not None:
                code = frame.f_code
                if id(code) in codes and callee is not _FORWARD_CODE:
                    count += 1
                callee = code
                frame = frame.f_back
        return count

    def handle_class(self) -> type:
        """The class handles take while this is their target (made once per target)."""
        if self._class is None:
            self._class = _handle_class(self)
        return self._class

    def stub(self, name: str) -> FunctionType | None:
        """The stub for method ``name`` of the implementation, or None if it is not a method."""
        stub = self._stubs.get(name)
        if stub is None:
            impl = self.resolve()
            declared = inspect.getattr_static(type(impl), name, None)
            if declared is not None and not callable(declared) \
                    and not isinstance(declared, (staticmethod, classmethod)):
                return None  # a property or plain value: reading it here would run a getter twice
            method = getattr(impl, name)
            if getattr(method, "__self__", None) is not impl or not callable(method):
                return None
            stub = self._stubs[name] = _make_stub(self, name, method)
        return stub


def current_target(handle: ServiceHandle) -> Target:
    return handle._ServiceHandle__box[0]


def retarget(handle: ServiceHandle, target: Target) -> None:
    """Send every later call through ``handle`` to ``target``."""
    handle._ServiceHandle__box[0] = target
    object.__setattr__(handle, "__class__", target.handle_class())


def wait_drained(target: Target, timeout: float) -> bool:
    """Block until no call is in flight on ``target`` or ``timeout`` passes; True if drained."""
    for pause in _drain_pauses(target, timeout):
        time.sleep(pause)
    return target.calls_in_flight() == 0


async def wait_drained_async(target: Target, timeout: float) -> bool:
    """``wait_drained`` for asyncio code: polls without blocking the event loop."""
    for pause in _drain_pauses(target, timeout):
        await asyncio.sleep(pause)
    return target.calls_in_flight() == 0


def _drain_pauses(target: Target, timeout: float) -> Iterator[float]:
    """How long to sleep between polls: short at first (most calls are short), then longer."""
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while target.calls_in_flight():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        yield min(pause, left)
        pause = min(pause * 2, 0.05)


# -- handle classes -------------------------------------------------------------------


class _Forward:
    """Stands on a handle class for one attribute of the implementation.

    A method is replaced on the class by its stub at first access; anything
    else is read from the current implementation at every access.
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, handle: ServiceHandle | None, owner: type) -> Any:
        if handle is None:
            return self
        return self.read(handle, owner)

    def read(self, handle: ServiceHandle, owner: type) -> Any:
        target = current_target(handle)
        stub = target.stub(self.name)
        if stub is None:
            return getattr(target.resolve(), self.name)
        if owner is target.handle_class():
            setattr(owner, self.name, stub)
        return stub.__get__(handle, owner)


class _Lifecycle(_Forward):
    """Stands for start() and stop(): the manager owns the lifecycle, callers must not reach it."""

    __slots__ = ()

    def read(self, handle: ServiceHandle, owner: type) -> Any:
        raise AttributeError(
            f"{self.name}() is not reachable through a service handle: the manager starts and "
            "stops services (start_all(), stop_all(), replace(), unregister())"
        )


_LIFECYCLE = ("start", "stop")


def _handle_class(target: Target) -> type:
    if not target.available:
        namespace = {"__slots__": (), "__getattr__": _unavailable_attribute}
        return type("ServiceHandle", (ServiceHandle,), namespace)
    impl = target.impl
    namespace: dict[str, Any] = {"__slots__": ()}
    for name in dir(impl):
        if not (name.startswith("__") and name.endswith("__")):
            namespace[name] = _Lifecycle(name) if name in _LIFECYCLE else _Forward(name)
    # Attributes made up on demand (a remote proxy's __getattr__). Not installed for
    # other classes: a class with __getattr__ takes Python's slow path for every
    # attribute lookup, which would double the cost of a call through the handle.
    # So an attribute a service sets on itself after its handle class was made is
    # not reachable through the handle; use a method or a property for it.
    if hasattr(type(impl), "__getattr__"):
        namespace["__getattr__"] = _dynamic_attribute
    return type(f"ServiceHandle[{_qualified(type(impl))}]", (ServiceHandle,), namespace)


def _unavailable_attribute(handle: ServiceHandle, name: str) -> Any:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    return current_target(handle).resolve()  # raises why there is no implementation


def _dynamic_attribute(handle: ServiceHandle, name: str) -> Any:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    # Python also lands here when a descriptor on the class raised AttributeError,
    # as _Lifecycle does: the lifecycle stays out of reach this way too.
    forward = _Lifecycle(name) if name in _LIFECYCLE else _Forward(name)
    return forward.read(handle, type(handle))


# -- stubs -------------------------------------------------------------------------------


def _redirect(handle: ServiceHandle, name: str) -> FunctionType:
    """Where a stub whose target is no longer current sends its call: the current target's stub."""
    target = current_target(handle)
    stub = target.stub(name)
    if stub is None:
        raise TypeError(f"{name!r} of {_qualified(type(target.impl))} is no longer a method")
    return stub


def _forward(handle: ServiceHandle, name: str, *args: Any, **kwargs: Any) -> Any:
    """Run a call that reached a stub of an old target on the current one instead.

    The old stub's frame stays on the stack meanwhile; ``calls_in_flight`` does
    not count a stub frame whose callee is this function, so a caller holding on
    to an old bound stub does not keep the old implementation from draining.
    """
    return _redirect(handle, name)(handle, *args, **kwargs)


_FORWARD_CODE = _forward.__code__


def _make_stub(target: Target, name: str, method: Any) -> FunctionType:
    if inspect.iscoroutinefunction(method):
        stub = _async_stub(target, name, method)
    else:
        stub = _fixed_stub(target, name, method) or _generic_stub(target, name, method)
        stub.__code__ = stub.__code__.replace(co_name=name)  # a code object of its own, for calls_in_flight
        target._codes[id(stub.__code__)] = stub.__code__
    stub.__name__ = name
    stub.__qualname__ = f"ServiceHandle.{name}"
    stub.__doc__ = getattr(method, "__doc__", None)
    return stub


def _fixed_stub(target: Target, name: str, method: Any) -> FunctionType | None:
    """A stub with the method's own parameter names and defaults, or None if it has no simple shape.

    Only a plain function's own signature counts: a decorated method may advertise
    the signature of what it wraps (``functools.wraps``) while taking something else.
    """
    function = getattr(method, "__func__", None)
    if not isinstance(function, FunctionType) or hasattr(function, "__signature__"):
        return None
    parameters = list(inspect.signature(method, follow_wrapped=False).parameters.values())
    if len(parameters) >= len(_FIXED_ARITY) or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in parameters):
        return None
    names = tuple(p.name for p in parameters)
    if "self" in names:
        return None
    stub = _FIXED_ARITY[len(parameters)](target, name, method)
    stub.__code__ = stub.__code__.replace(co_varnames=("self",) + names)
    stub.__defaults__ = tuple(p.default for p in parameters if p.default is not p.empty) or None
    return stub


# The templates differ only in how many arguments they forward; without exec, each
# arity needs its own ``def``. ``self`` is the handle. Keep the bodies alike.


def _stub0(target, name, method):
    def call(self):
        if self._ServiceHandle__box[0] is not target:
            return _forward(self, name)
        return method()

    return call


def _stub1(target, name, method):
    def call(self, a0):
        if self._ServiceHandle__box[0] is not target:
            return _forward(self, name, a0)
        return method(a0)

    return call


def _stub2(target, name, method):
    def call(self, a0, a1):
        if self._ServiceHandle__box[0] is not target:
            return _forward(self, name, a0, a1)
        return method(a0, a1)

    return call


def _stub3(target, name, method):
    def call(self, a0, a1, a2):
        if self._ServiceHandle__box[0] is not target:
            return _forward(self, name, a0, a1, a2)
        return method(a0, a1, a2)

    return call


_FIXED_ARITY = (_stub0, _stub1, _stub2, _stub3)


def _generic_stub(target, name, method):
    def call(self, *args, **kwargs):
        if self._ServiceHandle__box[0] is not target:
            return _forward(self, name, *args, **kwargs)
        return method(*args, **kwargs)

    return call


def _async_stub(target, name, method):
    """In flight from when the coroutine starts running until it finishes."""
    calls = target._async_calls

    async def call(self, *args, **kwargs):
        calls.append(None)
        if self._ServiceHandle__box[0] is not target:
            calls.pop()
            return await _redirect(self, name)(self, *args, **kwargs)
        try:
            return await method(*args, **kwargs)
        finally:
            calls.pop()

    return call


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
