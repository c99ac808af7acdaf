"""Reading dialogue scripts: safe XML, validated against ``dialogue.dtd``, into the model.

The DTD catches the shape (unknown elements, a question without a prompt, a
kind that does not exist); this module resolves ``<include>``s (relative to
the including file, each file once, cycles refused) and catches what a DTD
cannot say (an unknown mode, two prompts in one language). What a script
*means* - targets that exist, conditions that parse - is ``check.py``'s job.
Problems are collected, not raised, so one run reports every one of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from caruso.errors import DocumentError, Problem, did_you_mean
from caruso.services.scripts.model import (
    MODES,
    ActionCall,
    Binding,
    Choice,
    End,
    Expr,
    Info,
    Prompt,
    Question,
    Script,
    Step,
    Transition,
    Where,
    default_variable,
)
from caruso.xml import Schema, describe, xml_files

__all__ = ["read_script", "read_scripts", "script_files"]

SCHEMA = "dialogue.dtd"
ROOTS = ("script", "fragment")


def script_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[Problem]]:
    """The script files named by ``paths``: files as given, folders as their ``*.xml`` sorted by name."""
    return xml_files(paths, kind="script")


def read_scripts(paths: Iterable[Path | str]) -> tuple[list[Script], list[Problem]]:
    """Every script under ``paths`` with the problems found reading them.

    Fragments are left out: they are read through the scripts that include
    them (a fragment cannot be started), and checked there.
    """
    files, problems = script_files(paths)
    scripts: list[Script] = []
    for path in files:
        script, found = read_script(path)
        problems.extend(found)
        if script is not None and not script.fragment:
            scripts.append(script)
    return scripts, problems


def read_script(source: Path | str | bytes, *, filename: str | None = None) -> tuple[Script | None, list[Problem]]:
    """One script (or fragment) file with its includes merged, and the problems found.

    Args:
        source: a path, or the document's bytes.
        filename: how to name the document in messages when ``source`` is
            bytes; its folder is where relative includes are looked up.

    Returns:
        The script, or None when the file itself cannot be parsed; and every
        problem, each located as file:line. A script returned with problems
        may lack the steps of an include that failed.
    """
    reader = _Reader(Schema.named(SCHEMA))
    return reader.read(source, filename), reader.problems


class _Reader:
    """Reads one file and its includes, noting problems as it goes."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.problems: list[Problem] = []
        self.steps: dict[str, Step] = {}
        self.duplicates: list[Step] = []
        self.bindings: list[Binding] = []
        self.included: list[str] = []
        self.seen: set[str] = set()

    def read(self, source: Path | str | bytes, filename: str | None) -> Script | None:
        try:
            root = self.schema.parse(source, filename=filename).getroot()
        except DocumentError as exc:
            self.problems.extend(exc.problems)
            return None
        if root.tag not in ROOTS:
            self._problem(root, f"a dialogue file starts with <script> or <fragment>, not <{root.tag}>")
            return None
        self.seen.add(_identity(root.base))
        self._contents(root, [_identity(root.base)])
        languages = self._words(root, "languages")
        first_step = next(iter(self.steps), "")
        return Script(
            id=root.get("id"),
            title=root.get("title") or root.get("id"),
            version=self._get(root, "version") or "",
            languages=languages,
            start=root.get("start") or first_step,
            steps=self.steps,
            bindings=tuple(self.bindings),
            includes=tuple(self.included),
            where=_where(root),
            description=_description(root),
            fragment=root.tag == "fragment",
            exits=self._words(root, "exits"),
            duplicates=tuple(self.duplicates),
        )

    def _contents(self, root: etree._Element, stack: list[str]) -> None:
        """The file's bindings and steps, then those of its includes (so its own come first)."""
        language = (root.get("languages") or "").split()[:1] or [""]
        self.bindings.extend(self._binding(e) for e in root.iterchildren("bind"))
        for element in root.iterchildren("question", "info", "end"):
            step = self._step(element, language[0])
            if step.id in self.steps:
                self.duplicates.append(step)
            else:
                self.steps[step.id] = step
        for element in root.iterchildren("include"):
            self._include(element, stack)

    def _include(self, element: etree._Element, stack: list[str]) -> None:
        written = element.get("file")
        path = Path(os.path.dirname(element.base or "")) / written
        identity = _identity(str(path))
        if identity in stack:
            chain = [*stack[stack.index(identity):], identity]
            self._problem(element, "include cycle: " + " -> ".join(_short(p) for p in chain)
                          + "; a fragment cannot include itself, directly or through others")
            return
        if identity in self.seen:
            return  # shared by two includes: merged once
        if not path.is_file():
            self._problem(element, f"no such file {str(path)!r} (an include is relative to the including file)")
            return
        try:
            root = self.schema.parse(path).getroot()
        except DocumentError as exc:
            self.problems.extend(exc.problems)
            return
        if root.tag != "fragment":
            self._problem(element, f"{written!r} is a <{root.tag}>; only a <fragment> can be included")
            return
        self.seen.add(identity)
        self.included.append(str(path))
        self._contents(root, [*stack, identity])

    def _step(self, element: etree._Element, language: str) -> Step:
        step_id = element.get("id")
        where = _where(element)
        on_enter = tuple(self._action(a) for a in element.iterchildren("action"))
        if element.tag == "end":
            prompts = list(element.iterchildren("prompt"))
            return End(id=step_id, outcome=element.get("outcome"),
                       prompt=self._prompt(prompts, language) if prompts else None,
                       on_enter=on_enter, where=where)
        prompt = self._prompt(list(element.iterchildren("prompt")), language)
        modes = self._modes(element)
        transitions = tuple(self._transition(g) for g in element.iterchildren("go"))
        if element.tag == "info":
            return Info(id=step_id, prompt=prompt, modes=modes, on_enter=on_enter,
                        transitions=transitions, where=where)
        return Question(
            id=step_id,
            kind=element.get("kind"),
            prompt=prompt,
            variable=self._variable(element),
            required=self._get(element, "required") == "yes",
            minimum=element.get("min"),
            maximum=element.get("max"),
            pattern=element.get("pattern"),
            choices=tuple(self._choice(c, language) for c in element.iterchildren("choice")),
            prefill=self._expr(element, "prefill"),
            confirm=self._get(element, "confirm") == "yes",
            # a yes/no is this session's decision (open a request? block the card?): never reused
            reuse=element.get("reuse", "no" if element.get("kind") == "yesno" else "yes") == "yes",
            modes=modes,
            on_enter=on_enter,
            transitions=transitions,
            where=where,
        )

    def _prompt(self, elements: list[etree._Element], language: str) -> Prompt:
        """One Prompt from the <prompt>s (or <label>s) of an element, keyed by language."""
        texts: dict[str, str] = {}
        for element in elements:
            lang = element.get("lang") or language
            if lang in texts:
                self._problem(element, f"a second text in {lang!r}; give each language one <{element.tag}>"
                              + ("" if element.get("lang") else " (no lang means the file's first language)"))
                continue
            texts[lang] = " ".join((element.text or "").split())
        return Prompt(texts=texts, where=_where(elements[0]))

    def _choice(self, element: etree._Element, language: str) -> Choice:
        return Choice(value=element.get("value"), label=self._prompt(list(element.iterchildren("label")), language),
                      dtmf=element.get("dtmf"))

    def _transition(self, element: etree._Element) -> Transition:
        return Transition(target=element.get("to"), condition=self._expr(element, "if"),
                          actions=tuple(self._action(a) for a in element.iterchildren("action")),
                          where=_where(element))

    def _action(self, element: etree._Element) -> ActionCall:
        arguments: dict[str, Expr] = {}
        for arg in element.iterchildren("arg"):
            name = arg.get("name")
            if name in arguments:
                self._problem(arg, f"action {element.get('name')!r} is given argument {name!r} twice")
            arguments[name] = Expr(arg.get("value"), _where(arg))
        return ActionCall(name=element.get("name"), arguments=arguments, on_error=element.get("on-error"),
                          where=_where(element))

    def _binding(self, element: etree._Element) -> Binding:
        match: dict[str, Expr] = {}
        for child in element.iterchildren("match"):
            match[child.get("attribute")] = Expr(child.get("value"), _where(child))
        key = self._expr(element, "key")
        if key is None and not match:
            self._problem(element, "say which object to load: a key expression or <match> children")
        return Binding(name=element.get("name"), object=element.get("object"), key=key, match=match,
                       many=self._get(element, "many") == "yes", where=_where(element))

    def _variable(self, element: etree._Element) -> str:
        written = element.get("variable")
        if written is None:
            return default_variable(element.get("id"))
        if not written.isidentifier():
            self._problem(element, f"variable {written!r} is not a name expressions can use;"
                          f" write letters, digits and _ ({default_variable(written)})")
        return written

    def _modes(self, element: etree._Element) -> tuple[str, ...]:
        modes = self._words(element, "modes")
        for mode in modes:
            if mode not in MODES:
                self._problem(element, f"unknown mode {mode!r}{did_you_mean(mode, MODES)};"
                              f" the modes are {', '.join(MODES)}")
        return tuple(m for m in modes if m in MODES)

    def _expr(self, element: etree._Element, attribute: str) -> Expr | None:
        source = element.get(attribute)
        return None if source is None else Expr(source, _where(element))

    def _words(self, element: etree._Element, attribute: str) -> tuple[str, ...]:
        return tuple((self._get(element, attribute) or "").split())

    def _get(self, element: etree._Element, attribute: str) -> str | None:
        return self.schema.get(element, attribute)

    def _problem(self, element: etree._Element, message: str) -> None:
        self.problems.append(Problem(element.base, element.sourceline, f"{_describe(element)}: {message}"))


def _describe(element: etree._Element) -> str:
    """The element as written, named by the attribute a reader looks for: ``<question id="x">``."""
    for key in ("id", "file", "to"):
        value = element.get(key)
        if value is not None:
            return f'<{element.tag} {key}="{value}">'
    return describe(element)


def _where(element: etree._Element) -> Where:
    return Where(element.base or "", element.sourceline)


def _identity(name: str | None) -> str:
    """One spelling per file, however a path names it, for cycle and repeat detection."""
    return os.path.realpath(name or "")


def _short(identity: str) -> str:
    return os.path.basename(identity)


def _description(element: etree._Element) -> str:
    found = element.find("description")
    return " ".join((found.text or "").split()) if found is not None else ""
