"""The service manager: registration checks, lookup, lifecycle, runtime replacement, listeners."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Protocol

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caruso.errors import (
    DependencyError,
    ServiceDefinitionError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStateError,
)
from caruso.services.base import Health, Service, ServiceContext
from caruso.services.manager import ServiceEvent, ServiceHandle, ServiceInfo, ServiceManager

# -- services used by the tests ---------------------------------------------------------


class Greeter(Protocol):
    def greet(self, who: str) -> str: ...


class Storage(ABC):
    @abstractmethod
    def load(self, key: str) -> str: ...


class Recorder(Service):
    """Records its lifecycle into a shared journal; refuses calls once stopped."""

    def __init__(self, journal: list[str] | None = None, tag: str = "", fail_start: bool = False, fail_stop: bool = False):
        self.journal = journal if journal is not None else []
        self.tag = tag
        self.fail_start = fail_start
        self.fail_stop = fail_stop
        self.stopped = False

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.context.name} cannot reach its database")
        self.journal.append(f"start {self.context.name}")

    def on_stop(self) -> None:
        self.stopped = True
        self.journal.append(f"stop {self.context.name}")
        if self.fail_stop:
            raise RuntimeError("disk full")

    def greet(self, who: str) -> str:
        if self.stopped:
            raise RuntimeError(f"{self.tag} called after stop")
        return f"{self.tag} greets {who}"


class English(Recorder):
    provides = (Greeter,)
    version = "1.2"


class Disk(Recorder):
    provides = (Storage,)

    def load(self, key: str) -> str:
        return f"{self.tag}:{key}"


class Plain:
    """A ready-made object without a lifecycle."""

    colour = "blue"

    def greet(self, who: str) -> str:
        return f"plain greets {who}"


def started(*services: tuple[str, object]) -> ServiceManager:
    """A running manager with these (name, service) pairs registered."""
    manager = ServiceManager()
    for name, service in services:
        manager.register(name, service)
    manager.start_all()
    return manager


# -- registration -------------------------------------------------------------------------


def test_register_describes_the_service_in_a_snapshot():
    """register() returns the registration as a frozen ServiceInfo with the class defaults applied."""
    manager = ServiceManager()
    info = manager.register("english", English(), properties={"lang": "en"}, ranking=5, plugin="greetings")
    expected = ServiceInfo(
        name="english",
        interfaces=(Greeter,),
        implementation=f"{__name__}.English",
        version="1.2",
        plugin="greetings",
        state="registered",
        health=Health("down", "registered"),
        ranking=5,
        properties={"lang": "en"},
        requires=(),
    )
    assert expected == info


def test_plain_object_is_always_active():
    """An object without start() and stop() is active from registration and through stop_all()."""
    manager = ServiceManager()
    manager.register("plain", Plain())
    assert ("active", Health()) == (manager.info("plain").state, manager.info("plain").health)
    assert "plain greets ann" == manager.get("plain").greet("ann")
    manager.start_all()
    manager.stop_all()
    assert "active" == manager.info("plain").state


def test_explicit_arguments_override_class_attributes():
    """provides/requires/version given to register() win over the class attributes."""
    manager = ServiceManager()
    info = manager.register("x", English(), provides=(), requires=["other"], version="9")
    assert ((), ("other",), "9") == (info.interfaces, info.requires, info.version)


def test_duplicate_name_names_the_plugin_holding_it():
    """A taken name is refused, naming the plugin and the implementation that hold it."""
    manager = ServiceManager()
    manager.register("greeter", English(), plugin="caruso-greetings")
    with pytest.raises(ServiceDefinitionError) as caught:
        manager.register("greeter", Plain(), plugin="other")
    message = str(caught.value)
    assert "'greeter' is already taken by plugin 'caruso-greetings'" in message
    assert f"{__name__}.English" in message
    assert "manager.replace('greeter', ...)" in message


@pytest.mark.parametrize("name", ["", "   ", 42, None])
def test_name_must_be_a_non_empty_string(name):
    """Service names are non-empty strings."""
    with pytest.raises(ServiceDefinitionError, match="non-empty string"):
        ServiceManager().register(name, Plain())


class NoContext:
    def start(self):
        pass


class StopWithArgument:
    def stop(self, force):
        pass


class HealthWithArgument:
    def health(self, verbose):
        return Health()


class AsyncStart:
    async def start(self, context):
        pass


class NotCallableStop:
    stop = "soon"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (NoContext(), "start() does not fit the service interface; expected start(context)"),
        (StopWithArgument(), "stop(force) does not fit the service interface; expected stop()"),
        (HealthWithArgument(), "health(verbose) does not fit the service interface; expected health()"),
        (AsyncStart(), "start() must be a plain method start(context), not async"),
        (NotCallableStop(), "stop must be a method stop(), not a str"),
    ],
)
def test_lifecycle_signatures_are_checked_at_registration(service, expected):
    """A wrong start/stop/health signature fails at register(), naming service, method and signature."""
    with pytest.raises(ServiceDefinitionError) as caught:
        ServiceManager().register("svc", service)
    assert f"service 'svc' ({__name__}.{type(service).__name__})" in str(caught.value)
    assert expected in str(caught.value)


def test_flexible_lifecycle_signatures_are_accepted():
    """Defaults and *args fit the calls the manager makes."""

    class Flexible:
        def start(self, context, retries=3):
            pass

        def stop(self, *args):
            pass

    ServiceManager().register("flexible", Flexible())


def test_provides_must_list_classes():
    """provides entries are interfaces (classes)."""
    with pytest.raises(ServiceDefinitionError, match="provides must list interfaces .classes., got 'Greeter'"):
        ServiceManager().register("x", Plain(), provides=("Greeter",))


def test_provided_interface_must_be_implemented_listing_what_is_missing():
    """An object claiming an interface it does not implement is refused with the missing methods."""

    class Archive(Protocol):
        def load(self, key: str) -> str: ...

        def store(self, key: str, value: str) -> None: ...

    with pytest.raises(ServiceDefinitionError) as caught:
        ServiceManager().register("archive", Plain(), provides=(Archive,))
    assert "does not implement" in str(caught.value)
    assert "it lacks load(), store()" in str(caught.value)


def test_interfaces_are_matched_nominally_or_structurally():
    """A subclass of an ABC, or any object with the Protocol's methods, provides it."""
    manager = ServiceManager()
    manager.register("disk", Disk(tag="d"))  # nominal: Disk subclasses Storage
    manager.register("plain", Plain(), provides=(Greeter,))  # structural: has greet()
    assert ["disk"] == [info.name for info in manager.find(Storage)]
    assert ["plain"] == [info.name for info in manager.find(Greeter)]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"requires": (3,)}, "requires must list service names .str. or interfaces .classes., got 3"),
        ({"requires": ("",)}, "requires must list service names"),
        ({"ranking": "high"}, "ranking must be an int, got 'high'"),
        ({"ranking": True}, "ranking must be an int, got True"),
        ({"properties": ["region"]}, "properties must be a dict, got list"),
        ({"provides": 7}, "provides must be a tuple, got 7"),
    ],
)
def test_other_registration_arguments_are_checked(arguments, expected):
    """requires, ranking, properties and provides of the wrong kind are refused, naming the service."""
    with pytest.raises(ServiceDefinitionError, match=f"service 'x': {expected}"):
        ServiceManager().register("x", Plain(), **arguments)


def test_start_receives_its_context(tmp_path):
    """start(context) gets the name, settings, manager, root and app."""
    app = object()
    manager = ServiceManager(root=tmp_path, app=app)
    service = Recorder()
    manager.register("rec", service, settings={"dsn": "x"})
    manager.start_all()
    expected = ServiceContext(name="rec", settings={"dsn": "x"}, manager=manager, root=tmp_path, app=app)
    assert expected == service.context


def test_registering_while_running_starts_the_service_at_once():
    """Once the manager runs, a new service starts during register()."""
    journal: list[str] = []
    manager = started(("a", Recorder(journal)))
    info = manager.register("b", Recorder(journal), requires=("a",))
    assert ("active", ["start a", "start b"]) == (info.state, journal)


def test_registering_while_running_needs_active_requirements():
    """A new service whose requirement is missing or inactive is refused and not kept."""
    manager = started(("a", Recorder()))
    with pytest.raises(DependencyError, match="cannot start 'b' now: it requires 'c', which is not registered"):
        manager.register("b", Recorder(), requires=("c",))
    with pytest.raises(DependencyError, match="requires .*Storage, and no active service provides it"):
        manager.register("b", Recorder(), requires=(Storage,))
    assert "b" not in manager


def test_registering_while_running_rolls_back_a_failed_start():
    """A start() raising during register() leaves nothing registered."""
    manager = started(("a", Recorder()))
    with pytest.raises(ServiceStartError, match="service 'b' failed to start: RuntimeError: b cannot reach its database"):
        manager.register("b", Recorder(fail_start=True))
    assert ["a"] == [info.name for info in manager]


# -- lookup ---------------------------------------------------------------------------------


def test_handle_proxies_methods_and_attributes():
    """A handle forwards method calls (positional, keyword, defaults) and reads attributes fresh."""

    class Shop:
        def __init__(self):
            self.open = True

        def price(self, item, quantity=1, discount=0):
            return 10 * quantity - discount

        def order(self, *items, express=False):
            return (items, express)

    manager = ServiceManager()
    shop = Shop()
    manager.register("shop", shop)
    handle = manager.get("shop")
    assert (10, 30, 25) == (handle.price("tea"), handle.price("tea", 3), handle.price(item="tea", discount=5, quantity=3))
    assert ((("tea", "milk"), True)) == handle.order("tea", "milk", express=True)
    shop.open = False
    assert False is handle.open


def test_handle_calls_decorated_methods_as_they_are_called_directly():
    """A decorator that changes the arguments (while copying the signature) works through a handle."""

    def with_connection(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            return method(self, "connection", *args, **kwargs)

        return wrapper

    class Repository:
        @with_connection
        def find(self, connection, key):
            return (connection, key)

    manager = ServiceManager()
    manager.register("repository", Repository())
    assert ("connection", "k") == manager.get("repository").find("k")


def test_handle_reaches_attributes_made_up_on_demand():
    """An implementation with __getattr__ (a remote proxy) is reachable for every name it makes up."""

    class Remote:
        def ping(self):
            return "pong"

        def __getattr__(self, name):
            if name.startswith("remote_"):
                return lambda *args: (name, args)
            raise AttributeError(name)

    manager = ServiceManager()
    manager.register("remote", Remote())
    handle = manager.get("remote")
    assert ("pong", ("remote_sum", (1, 2))) == (handle.ping(), handle.remote_sum(1, 2))
    with pytest.raises(AttributeError):
        handle.local_thing  # noqa: B018


def test_same_key_gives_the_same_handle():
    """get() hands out one handle per name or interface."""
    manager = started(("en", English()))
    assert manager.get("en") is manager.get("en")
    assert manager.get(Greeter) is manager.get(Greeter)


def test_interface_lookup_picks_highest_ranking_active_provider():
    """By interface: highest ranking active provider, ties to the earliest registered, at call time."""
    manager = ServiceManager()
    manager.register("first", English(tag="first"))
    manager.register("second", English(tag="second"))
    manager.start_all()
    greeter = manager.get(Greeter)
    assert "first greets ann" == greeter.greet("ann")
    manager.update("second", ranking=10)
    assert "second greets ann" == greeter.greet("ann")
    manager.register("third", English(tag="third"), ranking=20)
    assert "third greets ann" == greeter.greet("ann")
    manager.unregister("third")
    assert "second greets ann" == greeter.greet("ann")
    assert "second" == manager.find(Greeter)[0].name


def test_unknown_name_lists_close_names():
    """An unknown name raises ServiceNotFound suggesting close names."""
    manager = ServiceManager()
    manager.register("billing", Plain())
    manager.register("storage", Plain())
    with pytest.raises(ServiceNotFound, match="no service 'biling' .did you mean 'billing'.."):
        manager.get("biling")
    with pytest.raises(ServiceNotFound, match="registered: billing, storage"):
        manager.resolve("zzz")


def test_unknown_interface_is_not_found():
    """An interface nobody provides raises ServiceNotFound naming it."""
    with pytest.raises(ServiceNotFound, match=r"no service '.*\.Storage'; no services are registered"):
        ServiceManager().get(Storage)


def test_lookup_key_must_be_a_name_or_a_class():
    """Anything else is a programmer mistake: TypeError."""
    with pytest.raises(TypeError, match="by name .str. or interface .class., not int"):
        ServiceManager().get(3)


def test_calls_wait_for_the_service_to_start():
    """Calling a registered but unstarted service says so and how to fix it."""
    manager = ServiceManager()
    manager.register("en", English())
    handle = manager.get("en")
    with pytest.raises(ServiceStateError, match="service 'en' is registered, so it takes no calls"):
        handle.greet("ann")
    manager.start_all()
    assert " greets ann" == handle.greet("ann")
    manager.stop_all()
    with pytest.raises(ServiceStateError, match="service 'en' is stopped"):
        handle.greet("ann")


def test_handle_is_read_only_and_hides_the_lifecycle():
    """Handles refuse attribute writes and do not expose start()/stop() or dunders of the service."""
    manager = started(("en", English()))
    handle = manager.get("en")
    with pytest.raises(AttributeError, match="handles are read-only"):
        handle.tag = "x"
    with pytest.raises(AttributeError, match="stop.. is not reachable through a service handle"):
        handle.stop()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        handle.missing  # noqa: B018
    assert isinstance(handle, ServiceHandle)
    assert "greet" in dir(handle)
    assert f"<ServiceHandle 'en' -> {__name__}.English>" == repr(handle)


def test_resolve_returns_the_implementation():
    """resolve() gives the object itself, by name or by interface."""
    english = English()
    manager = started(("en", english))
    assert (english, english) == (manager.resolve("en"), manager.resolve(Greeter))


def test_find_filters_on_properties_and_sorts_by_ranking():
    """find(): dict equality (list = any of) or a callable; ranking desc, then registration order."""
    manager = ServiceManager()
    manager.register("nl", Plain(), properties={"region": "nl", "tier": 1})
    manager.register("de", Plain(), properties={"region": "de", "tier": 2}, ranking=3)
    manager.register("be", Plain(), properties={"region": "be", "tier": 1})
    manager.register("bare", Plain())

    def names(**kwargs):
        return [info.name for info in manager.find(**kwargs)]

    assert ["de", "nl", "be", "bare"] == names()
    assert ["nl"] == names(filter={"region": "nl"})
    assert ["de", "be"] == names(filter={"region": ["be", "de"]})
    assert ["nl", "be"] == names(filter=lambda properties: properties.get("tier") == 1)
    assert [] == names(filter={"missing": 1})
    with pytest.raises(TypeError, match="filter must be a dict"):
        manager.find(filter="region=nl")


def test_listing_reports_health():
    """Iteration lists every service; health comes from health() when active, else 'down' with the state."""

    class Flaky(Service):
        def health(self):
            raise ConnectionError("no route")

    class Liar(Service):
        def health(self):
            return "fine"

    class Degraded(Service):
        def health(self):
            return Health("degraded", "slow replies")

    manager = ServiceManager()
    for name, service in [("flaky", Flaky()), ("liar", Liar()), ("degraded", Degraded())]:
        manager.register(name, service)
    manager.register("late", Recorder())
    assert 4 == len(manager) and "flaky" in manager and "nope" not in manager
    assert Health("down", "registered") == manager.info("late").health
    manager.start_all()
    expected = {
        "flaky": Health("down", "health() raised ConnectionError: no route"),
        "liar": Health("down", "health() returned 'fine', not a caruso Health"),
        "degraded": Health("degraded", "slow replies"),
        "late": Health(),
    }
    assert expected == {info.name: info.health for info in manager}


# -- lifecycle ------------------------------------------------------------------------------


def test_start_all_follows_requirements_and_stop_all_reverses():
    """Services start after what they require (by name or interface) and stop in reverse order."""
    journal: list[str] = []
    manager = ServiceManager()
    manager.register("web", Recorder(journal), requires=("scripts", Storage))
    manager.register("scripts", Recorder(journal), requires=("disk",))
    manager.register("disk", Disk(journal))
    assert ["disk", "scripts", "web"] == manager.start_order()
    manager.start_all()
    assert manager.running
    manager.stop_all()
    assert not manager.running
    assert ["start disk", "start scripts", "start web", "stop web", "stop scripts", "stop disk"] == journal


def test_missing_requirement_names_the_chain():
    """A missing requirement is reported with the chain of services leading to it."""
    manager = ServiceManager()
    manager.register("a", Plain(), requires=("b",))
    manager.register("b", Plain(), requires=("c",))
    manager.register("cc", Plain())
    with pytest.raises(DependencyError) as caught:
        manager.start_all()
    assert "a requires b, b requires 'c', which is not registered (did you mean 'cc'?)" == str(caught.value)
    assert ["a", "b", "c"] == caught.value.chain


def test_missing_interface_requirement_says_how_to_fix():
    """A required interface without provider names the interface and the fix."""
    manager = ServiceManager()
    manager.register("web", Plain(), requires=(Storage,))
    with pytest.raises(DependencyError, match=r"web requires .*\.Storage, which no registered service provides; register a service with provides=\(Storage,\)"):
        manager.start_order()


def test_cycle_is_reported_in_requirement_order():
    """A cycle is named as 'a -> b -> c -> a', each service requiring the next."""
    manager = ServiceManager()
    manager.register("a", Plain(), requires=("b",))
    manager.register("b", Plain(), requires=("c",))
    manager.register("c", Plain(), requires=("a",))
    with pytest.raises(DependencyError, match="dependency cycle: a -> b -> c -> a") as caught:
        manager.start_all()
    assert ["a", "b", "c", "a"] == caught.value.chain


def test_failed_start_stops_the_others_in_reverse_order():
    """start() raising: that service is failed, those started before are stopped in reverse, error chained."""
    journal: list[str] = []
    manager = ServiceManager()
    manager.register("a", Recorder(journal))
    manager.register("b", Recorder(journal), requires=("a",))
    manager.register("c", Recorder(journal, fail_start=True), requires=("b",))
    manager.register("d", Recorder(journal), requires=("c",))
    with pytest.raises(ServiceStartError, match="service 'c' failed to start: RuntimeError: c cannot reach its database") as caught:
        manager.start_all()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert ["start a", "start b", "stop b", "stop a"] == journal
    assert {"a": "stopped", "b": "stopped", "c": "failed", "d": "registered"} == {i.name: i.state for i in manager}
    assert not manager.running


def test_failing_stop_is_logged_and_the_others_still_stop(caplog):
    """A stop() raising is logged on 'caruso.services'; the other services stop all the same."""
    journal: list[str] = []
    manager = ServiceManager()
    manager.register("a", Recorder(journal))
    manager.register("b", Recorder(journal, fail_stop=True), requires=("a",))
    manager.start_all()
    with caplog.at_level(logging.ERROR, logger="caruso.services"):
        manager.stop_all()
    assert ["start a", "start b", "stop b", "stop a"] == journal
    assert {"a": "stopped", "b": "failed"} == {i.name: i.state for i in manager}
    assert [f"service 'b' ({__name__}.Recorder) raised in stop(); carrying on with the others"] == [
        r.getMessage() for r in caplog.records if r.name == "caruso.services"
    ]


def test_start_all_again_retries_what_is_not_active():
    """After a failed start is fixed, start_all() starts what is not active yet."""
    journal: list[str] = []
    broken = Recorder(journal, fail_start=True)
    manager = ServiceManager()
    manager.register("a", Recorder(journal))
    manager.register("b", broken)
    with pytest.raises(ServiceStartError):
        manager.start_all()
    broken.fail_start = False
    manager.start_all()
    assert ["start a", "stop a", "start a", "start b"] == journal


@st.composite
def dependency_graphs(draw, with_cycle: bool):
    """name -> required names, registered in a random order; acyclic unless with_cycle."""
    size = draw(st.integers(min_value=1, max_value=8))
    names = [f"s{i}" for i in range(size)]
    requires: dict[str, set[str]] = {name: set() for name in names}
    for i, name in enumerate(names):  # edges only to lower numbers: acyclic
        requires[name] = set(draw(st.lists(st.sampled_from(names[:i]), max_size=3))) if i else set()
    if with_cycle:
        loop = draw(st.lists(st.sampled_from(names), min_size=1, max_size=size, unique=True))
        for here, there in zip(loop, loop[1:] + loop[:1]):
            requires[here].add(there)
    order = draw(st.permutations(names))
    return {name: sorted(requires[name]) for name in order}


@settings(max_examples=60, deadline=None)
@given(dependency_graphs(with_cycle=False))
def test_start_order_always_respects_requirements(graph):
    """For any acyclic graph, every service starts after everything it requires."""
    journal: list[str] = []
    manager = ServiceManager()
    for name, requires in graph.items():
        manager.register(name, Recorder(journal), requires=requires)
    manager.start_all()
    position = {entry.removeprefix("start "): i for i, entry in enumerate(journal)}
    assert sorted(graph) == sorted(position)
    for name, requires in graph.items():
        assert all(position[required] < position[name] for required in requires)


@settings(max_examples=60, deadline=None)
@given(dependency_graphs(with_cycle=True))
def test_a_cycle_is_always_reported(graph):
    """For any graph with a cycle, start_all() raises and the chain reported is a real cycle."""
    manager = ServiceManager()
    for name, requires in graph.items():
        manager.register(name, Plain(), requires=requires)
    with pytest.raises(DependencyError, match="dependency cycle") as caught:
        manager.start_all()
    chain = caught.value.chain
    assert chain[0] == chain[-1]
    assert all(there in graph[here] for here, there in zip(chain, chain[1:]))


# -- replacement ----------------------------------------------------------------------------


def test_replace_switches_callers_and_stops_the_old_one():
    """After replace(), the same handle calls the new implementation; the old one is stopped."""
    journal: list[str] = []
    old, new = English(journal, tag="old"), English(journal, tag="new")
    manager = started(("en", old))
    handle = manager.get("en")
    greet = handle.greet  # a method captured before the replacement follows it too
    info = manager.replace("en", new, version="2.0", settings={"lang": "en-GB"})
    assert ("new greets ann", "new greets bob") == (handle.greet("ann"), greet("bob"))
    assert ["start en", "start en", "stop en"] == journal
    assert (True, "2.0", "active") == (old.stopped, info.version, info.state)
    assert {"lang": "en-GB"} == new.context.settings


def test_replace_keeps_settings_unless_given():
    """Without settings=, the new implementation starts with the old one's settings."""
    manager = ServiceManager()
    manager.register("en", English(), settings={"lang": "nl"})
    manager.start_all()
    new = English()
    manager.replace("en", new)
    assert {"lang": "nl"} == new.context.settings


def test_replace_with_failing_start_keeps_the_old_one():
    """If the new implementation cannot start, the old one stays current and the error is raised."""
    old = English(tag="old")
    manager = started(("en", old))
    with pytest.raises(ServiceStartError, match="service 'en' failed to start"):
        manager.replace("en", English(tag="new", fail_start=True))
    assert ("old greets ann", False) == (manager.get("en").greet("ann"), old.stopped)
    assert manager.resolve("en") is old


def test_replace_of_a_stopped_service_just_swaps():
    """A service that is not started is swapped without starting or stopping anything."""
    journal: list[str] = []
    manager = ServiceManager()
    manager.register("en", English(journal))
    info = manager.replace("en", English(journal))
    assert ("registered", []) == (info.state, journal)


class Incomplete:
    def hello(self):
        return "hi"


class AsyncEnglish(English):
    async def greet(self, who):
        return who


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (Incomplete(), "does not implement .*Greeter, which it claims to provide: it lacks greet()"),
        (AsyncEnglish(), r"greet\(\) changes between sync and async"),
    ],
)
def test_replace_refuses_an_incompatible_implementation(new, expected):
    """A replacement lacking an interface method or flipping sync/async is refused."""
    manager = started(("en", English()))
    with pytest.raises(ServiceDefinitionError, match=expected):
        manager.replace("en", new)


def test_replace_of_an_object_without_interfaces_keeps_its_methods():
    """Without declared interfaces, the old object's public methods are what callers may use."""
    manager = ServiceManager()
    manager.register("plain", Plain())
    with pytest.raises(ServiceDefinitionError, match=r"cannot replace service 'plain' .* it lacks greet\(\), which callers may use"):
        manager.replace("plain", Incomplete())


@pytest.fixture
def busy_threads():
    """Hand the GIL over more often, so threads interleave finely (and replacements drain fast)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    yield
    sys.setswitchinterval(interval)


def test_replacement_under_load_loses_no_call(busy_threads):
    """8 threads call in a loop while the service is replaced 30 times: no failure, no call after stop."""
    manager = started(("en", English(tag="v0")))
    handle = manager.get("en")
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: list[set[str]] = [set() for _ in range(8)]

    def caller(index: int) -> None:
        while not stop.is_set():
            try:
                seen[index].add(handle.greet("x").split()[0])
            except BaseException as exc:  # noqa: BLE001 - any failure counts
                failures.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    replaced = [manager.resolve("en")]
    for generation in range(1, 31):
        time.sleep(0.002)
        replaced.append(English(tag=f"v{generation}"))
        manager.replace("en", replaced[-1])
    time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert [] == failures
    assert [True] * 30 + [False] == [service.stopped for service in replaced]
    assert all(len(tags) > 1 for tags in seen), "every thread saw several implementations"


def test_callers_holding_an_old_method_do_not_hold_up_the_drain(busy_threads, caplog):
    """Threads calling a method captured before the replacements follow them, and every drain completes."""
    manager = ServiceManager(drain_timeout=2)
    manager.register("en", English(tag="v0"))
    manager.start_all()
    greet = manager.get("en").greet
    stop = threading.Event()
    failures: list[BaseException] = []

    def caller() -> None:
        while not stop.is_set():
            try:
                greet("x")
            except BaseException as exc:  # noqa: BLE001 - any failure counts
                failures.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    with caplog.at_level(logging.WARNING, logger="caruso.services"):
        for generation in range(1, 11):
            time.sleep(0.002)
            manager.replace("en", English(tag=f"v{generation}"))
    stop.set()
    for thread in threads:
        thread.join()
    assert ([], "", "v10 greets x") == (failures, caplog.text, greet("x"))


class SlowGreeter(English):
    """greet() blocks until released, and fails loudly if it was stopped in the meantime."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()

    def greet(self, who):
        self.entered.set()
        self.release.wait(5)
        if self.stopped:
            raise RuntimeError("stopped while a call was running")
        return f"slow greets {who}"


def test_replace_waits_for_calls_in_flight():
    """The old implementation is stopped only after its running calls return."""
    slow = SlowGreeter()
    manager = started(("en", slow))
    results: list[str] = []
    caller = threading.Thread(target=lambda: results.append(manager.get("en").greet("ann")))
    caller.start()
    slow.entered.wait(5)
    replacer = threading.Thread(target=manager.replace, args=("en", English(tag="new")))
    replacer.start()
    replacer.join(0.05)
    assert (True, False) == (replacer.is_alive(), slow.stopped)
    assert "new greets bob" == manager.get("en").greet("bob")  # new calls already go to the new one
    slow.release.set()
    caller.join(5)
    replacer.join(5)
    assert (["slow greets ann"], True) == (results, slow.stopped)


def test_a_service_may_replace_itself(caplog):
    """replace() called from inside a call to the old implementation does not wait for that call."""

    class Upgrading(English):
        def upgrade(self):
            self.context.manager.replace("en", English(tag="upgraded"))
            return "done"

    manager = ServiceManager(drain_timeout=5)
    old = Upgrading()
    manager.register("en", old)
    manager.start_all()
    with caplog.at_level(logging.WARNING, logger="caruso.services"):
        assert "done" == manager.get("en").upgrade()
    assert ("upgraded greets ann", True, "") == (manager.get("en").greet("ann"), old.stopped, caplog.text)


def test_drain_timeout_logs_and_stops_anyway(caplog):
    """A call outlasting drain_timeout is logged as a warning and the old one is stopped regardless."""
    slow = SlowGreeter()
    manager = ServiceManager(drain_timeout=0.05)
    manager.register("en", slow)
    manager.start_all()
    outcome: list[str] = []

    def call() -> None:
        try:
            manager.get("en").greet("ann")
        except RuntimeError as exc:
            outcome.append(str(exc))

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    slow.entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="caruso.services"):
        manager.replace("en", English())
    slow.release.set()
    caller.join(5)
    assert ["stopped while a call was running"] == outcome  # what the timeout gives up on
    assert f"service 'en': 1 call(s) still in flight on {__name__}.SlowGreeter after 0.1 s" in caplog.text


def test_async_replacement_waits_for_coroutines_in_flight():
    """areplace() waits for running coroutines without blocking the event loop, then stops the old one."""

    class AsyncGreeter(Service):
        provides = (Greeter,)

        def __init__(self, tag):
            self.tag = tag
            self.stopped = False
            self.release = asyncio.Event()

        def on_stop(self):
            self.stopped = True

        async def greet(self, who):
            await self.release.wait()
            if self.stopped:
                raise RuntimeError("stopped while a coroutine was running")
            return f"{self.tag} greets {who}"

    async def scenario():
        old, new = AsyncGreeter("old"), AsyncGreeter("new")
        new.release.set()
        manager = started(("en", old))
        greeter = manager.get(Greeter)
        calls = [asyncio.create_task(greeter.greet(f"caller{i}")) for i in range(5)]
        await asyncio.sleep(0.01)
        replacing = asyncio.create_task(manager.areplace("en", new))
        ticks = 0
        for _ in range(10):  # the loop keeps running while the replacement waits
            await asyncio.sleep(0.002)
            ticks += 1
        still_waiting = (not replacing.done(), old.stopped, await greeter.greet("late"))
        old.release.set()
        info = await replacing
        return ticks, still_waiting, [await call for call in calls], old.stopped, info.state

    ticks, still_waiting, results, old_stopped, state = asyncio.run(scenario())
    assert (10, (True, False, "new greets late")) == (ticks, still_waiting)
    assert [f"old greets caller{i}" for i in range(5)] == results
    assert (True, "active") == (old_stopped, state)


# -- unregister -------------------------------------------------------------------------------


def test_unregister_refuses_while_active_services_require_it():
    """A requirement of an active service cannot go, by name or as the last provider of an interface."""
    manager = ServiceManager()
    manager.register("disk", Disk())
    manager.register("db", Recorder(), requires=("disk",))
    manager.register("web", Recorder(), requires=(Storage,))
    manager.start_all()
    with pytest.raises(ServiceStateError, match="cannot unregister service 'disk': active services require it: db, web"):
        manager.unregister("disk")
    manager.register("disk2", Disk())
    manager.unregister("db")
    manager.unregister("disk")  # web still has disk2
    assert ["web", "disk2"] == [info.name for info in manager]


def test_unregister_stops_emits_and_removes():
    """unregister(): stop, 'unregistering' event, gone; old handles say so; a new registration revives them."""
    journal: list[str] = []
    manager = started(("en", English(journal, tag="one")))
    handle = manager.get("en")
    events: list[tuple[str, str]] = []
    manager.add_listener(lambda event: events.append((event.kind, event.info.state)), name="en")
    manager.unregister("en")
    assert (["start en", "stop en"], [("registered", "active"), ("unregistering", "stopped")]) == (journal, events)
    with pytest.raises(ServiceNotFound, match="no service 'en'"):
        handle.greet("ann")
    with pytest.raises(ServiceNotFound):
        manager.unregister("en")
    manager.register("en", English(tag="two"))
    assert "two greets ann" == handle.greet("ann")


# -- listeners ----------------------------------------------------------------------------------


def test_listeners_see_every_kind_of_event():
    """registered, modified, replaced and unregistering reach a listener, in order."""
    manager = ServiceManager()
    events: list[ServiceEvent] = []
    remove = manager.add_listener(events.append)
    manager.register("en", English())
    manager.start_all()
    manager.update("en", properties={"lang": "en"})
    manager.replace("en", English())
    manager.unregister("en")
    remove()
    manager.register("late", Plain())
    assert ["registered", "modified", "replaced", "unregistering"] == [event.kind for event in events]
    assert {"lang": "en"} == events[1].info.properties


def test_listeners_filter_by_name_or_interface_and_see_existing_services():
    """A listener gets matching services already registered at once, then only matching events."""
    manager = ServiceManager()
    manager.register("disk", Disk())
    manager.register("en", English())
    by_interface: list[str] = []
    by_name: list[str] = []
    manager.add_listener(lambda e: by_interface.append(f"{e.kind} {e.info.name}"), interface=Storage)
    manager.add_listener(lambda e: by_name.append(f"{e.kind} {e.info.name}"), name="en")
    manager.register("disk2", Disk())
    manager.update("en", ranking=2)
    assert ["registered disk", "registered disk2"] == by_interface
    assert ["registered en", "modified en"] == by_name


def test_a_failing_listener_is_logged_and_breaks_nothing(caplog):
    """A listener that raises is logged; the registry and the other listeners carry on."""
    manager = ServiceManager()
    received: list[str] = []

    def broken(event):
        raise ValueError("listener bug")

    manager.add_listener(broken)
    manager.add_listener(lambda event: received.append(event.kind))
    with caplog.at_level(logging.ERROR, logger="caruso.services"):
        manager.register("en", Plain())
    assert (["registered"], ["en"]) == (received, [info.name for info in manager])
    assert "raised on the 'registered' event of service 'en'" in caplog.text


def test_events_are_frozen_snapshots():
    """ServiceEvent and ServiceInfo cannot be changed, and kinds are checked."""
    manager = ServiceManager()
    info = manager.register("en", Plain(), properties={"a": 1})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.state = "stopped"
    with pytest.raises(ValueError):
        ServiceEvent("exploded", info)
    info.properties["a"] = 2
    assert {"a": 1} == manager.info("en").properties


def test_root_defaults_to_the_working_directory():
    """Without root, services see the current directory as the application folder."""
    assert Path.cwd() == ServiceManager().root


class _Plain:
    def ping(self):
        return "pong"


def test_get_with_a_key_that_is_neither_name_nor_interface(tmp_path):
    """A list as key is a programmer mistake with a message that says what is expected."""
    manager = ServiceManager(root=tmp_path)
    manager.register("billing", object())
    with pytest.raises(TypeError, match="look services up by name"):
        manager.get(["billing"])


def test_replacing_a_service_with_itself_is_refused(tmp_path):
    """replace() stops what it replaces, so the same object is refused and stays active."""
    manager = started(("en", English()))
    with pytest.raises(ServiceDefinitionError, match="replace.. needs a new object"):
        manager.replace("en", manager.resolve("en"))
    assert "active" == manager.info("en").state


class _SlowToFinish:
    """A service whose work() blocks until released, to hold a stop in its drain."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()
        self.events = []

    def start(self, context):
        self.events.append("start")

    def stop(self):
        self.events.append("stop")

    def work(self):
        self.entered.set()
        self.release.wait(5)
        return "done"


def test_start_all_while_a_service_is_still_stopping_is_refused(tmp_path):
    """start_all() during a stop's drain refuses cleanly; the stop then completes, consistent."""
    manager = ServiceManager(root=tmp_path, drain_timeout=5)
    service = _SlowToFinish()
    manager.register("slow", service)
    manager.start_all()
    caller = threading.Thread(target=manager.get("slow").work)
    caller.start()
    assert service.entered.wait(2)
    stopper = threading.Thread(target=manager.stop_all)
    stopper.start()
    for _ in range(200):
        if manager.info("slow").state == "stopping":
            break
        threading.Event().wait(0.01)
    with pytest.raises(ServiceStateError, match="cannot start service 'slow' while it is stopping"):
        manager.start_all()
    service.release.set()
    caller.join(5)
    stopper.join(5)
    assert (False, "stopped", ["start", "stop"]) == (manager.running, manager.info("slow").state, service.events)


class _Counter:
    def __init__(self):
        self.reads = 0

    @property
    def next_number(self):
        self.reads += 1
        return self.reads


def test_a_property_read_through_a_handle_runs_its_getter_once(tmp_path):
    """Properties with side effects (a sequence) are read once per access through a handle."""
    manager = ServiceManager(root=tmp_path)
    manager.register("sequence", _Counter())
    handle = manager.get("sequence")
    assert [1, 2] == [handle.next_number, handle.next_number]
