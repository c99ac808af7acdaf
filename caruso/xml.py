"""Safe XML parsing and DTD validation for every file format Caruso publishes.

Models, dialogue scripts and views are XML that integrators write by hand and
that may also arrive from elsewhere (a plugin, an upload). Two classic attacks
hide in a DOCTYPE: an external entity (XXE) that makes the parser read a local
file or fetch a URL, and nested internal entities (a "billion laughs" bomb)
that expand a few hundred bytes into gigabytes. Caruso's formats need neither,
so a document is refused *before* parsing when its DOCTYPE declares an entity,
uses a parameter entity or points at anything external; the parser itself is
configured not to resolve entities, load DTDs or touch the network, and the
parsed tree is checked once more. Files are validated against Caruso's own
copy of the DTD in ``caruso/schemas/``, never one the document names.

Every fault is reported as a ``caruso.errors.Problem`` located as
``file:line`` and naming the element, collected in a ``DocumentError``::

    schema = Schema.named("bom.dtd")
    tree = schema.parse("models/crm.xml")        # DocumentError if anything is wrong
    schema.get(element, "on-delete")             # the value, or the DTD's default
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
import functools
import os
import re
from importlib import resources
from pathlib import Path

from lxml import etree

from caruso.errors import DocumentError, Problem

__all__ = ["Schema", "describe", "parse", "problem_at", "xml_files"]

SCHEMA_FOLDER = "schemas"
"""Where the DTDs ship, inside the caruso package (package data, see pyproject.toml)."""

MAX_DOCUMENT_BYTES = 16 * 2**20
"""Larger documents are refused unread: no hand-written model comes near it."""

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    remove_blank_text=False,
)

_ENCODING_DECLARATION = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_PARAMETER_ENTITY_REFERENCE = re.compile(r"%[A-Za-z_:][\w.:-]*;")


def parse(source: str | os.PathLike | bytes, *, filename: str | None = None) -> etree._ElementTree:
    """Parse an XML document safely, without validating it.

    Args:
        source: a path, or the document's bytes.
        filename: how to name the document in messages when ``source`` is bytes.

    Raises:
        DocumentError: the file cannot be read, is not well-formed XML or is
            unsafe (entity declarations, external references).
    """
    data, name = _read(source, filename)
    refusal = _unsafe_prolog(data)
    if refusal:
        raise DocumentError(Problem(name, refusal[0], f"refused: {refusal[1]}"))
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser, base_url=name))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or None
        raise DocumentError(Problem(name, line, f"malformed XML: {exc.msg}")) from None
    internal = tree.docinfo.internalDTD
    if internal is not None and any(True for _ in internal.iterentities()):
        raise DocumentError(Problem(name, 1, "refused: the DOCTYPE declares entities"))
    return tree


def describe(element: etree._Element) -> str:
    """The element as a reader finds it in the file: ``<object name="Customer">``."""
    for key in ("name", "object", "attribute", "view", "collection"):
        value = element.get(key)
        if value is not None:
            return f'<{element.tag} {key}="{value}">'
    return f"<{element.tag}>"


def problem_at(element: etree._Element, message: str) -> Problem:
    """A Problem located at ``element`` (file:line) that names it."""
    return Problem(element.base, element.sourceline, f"{describe(element)}: {message}")


class Schema:
    """A DTD shipped in ``caruso/schemas/``, with the parse-and-validate step built in.

    Attribute defaults live in the DTD only; ``get`` reads them from there, so
    the published DTD and the code can never disagree about a default.
    """

    def __init__(self, name: str, dtd: etree.DTD):
        self.name = name
        self.dtd = dtd
        self._defaults = {
            (element.name, attribute.name): attribute.default_value
            for element in dtd.iterelements()
            for attribute in element.iterattributes()
            if attribute.default_value is not None
        }

    @classmethod
    @functools.cache
    def named(cls, name: str) -> Schema:
        """The schema ``caruso/schemas/NAME`` (loaded once per process)."""
        folder = resources.files("caruso").joinpath(SCHEMA_FOLDER)
        resource = folder.joinpath(name)
        if not resource.is_file():
            known = sorted(p.name for p in folder.iterdir() if p.name.endswith(".dtd"))
            raise ValueError(f"no DTD {name!r} in caruso/{SCHEMA_FOLDER}; known: {', '.join(known)}")
        with resource.open("rb") as stream:
            return cls(name, etree.DTD(stream))

    def parse(self, source: str | os.PathLike | bytes, *, filename: str | None = None) -> etree._ElementTree:
        """Parse ``source`` safely (see ``parse``) and validate it against this DTD.

        Raises:
            DocumentError: every problem found, each as file:line naming the element.
        """
        tree = parse(source, filename=filename)
        problems = self.validate(tree)
        if problems:
            raise DocumentError(problems)
        return tree

    def validate(self, tree: etree._ElementTree) -> list[Problem]:
        """Every way ``tree`` breaks this DTD, located; empty when it is valid."""
        if self.dtd.validate(tree):
            return []
        name = tree.docinfo.URL
        return [
            Problem(name, entry.line or None, f"breaks {self.name}: {entry.message}")
            for entry in self.dtd.error_log.filter_from_errors()
        ]

    def get(self, element: etree._Element, attribute: str) -> str | None:
        """The attribute's value on ``element``, else the DTD's default, else None."""
        value = element.get(attribute)
        if value is None:
            return self._defaults.get((element.tag, attribute))
        return value


def _read(source: str | os.PathLike | bytes, filename: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        data, name = source, filename or "<string>"
    else:
        path = Path(source)
        name = filename or str(path)
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise DocumentError(Problem(name, None, f"cannot read the file: {exc.strerror or exc}")) from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(Problem(name, None, (
            f"refused: more than {MAX_DOCUMENT_BYTES:,} bytes; a model, script or view that big"
            " is a mistake - split it into several files"
        )))
    return data, name


def _prolog_text(data: bytes) -> str | None:
    """The document decoded well enough to read its prolog; None for an unknown encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    if data[:2] == b"\x00<":
        return data.decode("utf-16-be", errors="replace")
    if data[:2] == b"<\x00":
        return data.decode("utf-16-le", errors="replace")
    stripped = data.lstrip(b" \t\r\n")
    if stripped and not stripped.startswith(b"<"):
        return None
    declared = _ENCODING_DECLARATION.match(stripped)
    if declared:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii"))
        except LookupError:
            return None
        if codec.name.startswith(("utf-16", "utf-32")):
            return None
    # Every other encoding lxml accepts here is ASCII-compatible: the markup of
    # the prolog reads the same through latin-1.
    return data.decode("latin-1")


def _unsafe_prolog(data: bytes) -> tuple[int, str] | None:
    """(line, reason) when the prolog holds something Caruso refuses, else None."""
    text = _prolog_text(data)
    if text is None:
        return 1, "unknown or unsupported encoding; save the file as UTF-8"
    position = 0
    length = len(text)
    while position < length:
        while position < length and text[position] in " \t\r\n":
            position += 1
        if text.startswith("<?", position):
            end = text.find("?>", position)
        elif text.startswith("<!--", position):
            end = text.find("-->", position)
        elif text.startswith("<!DOCTYPE", position):
            return _doctype_refusal(text, position)
        else:
            return None
        if end < 0:
            return None  # unterminated: the parser reports it
        position = end + 2
    return None


def _doctype_refusal(text: str, start: int) -> tuple[int, str] | None:
    line = text.count("\n", 0, start) + 1
    header_end, subset = _split_doctype(text, start)
    header = text[start + len("<!DOCTYPE"):header_end]
    words = re.sub(r"(\"[^\"]*\"|'[^']*')", " ", header).split()
    if "SYSTEM" in words or "PUBLIC" in words:
        return line, (
            "the DOCTYPE points at an external file; Caruso validates against its own DTD,"
            " remove the SYSTEM/PUBLIC part (or the whole DOCTYPE)"
        )
    if subset is not None and ("<!ENTITY" in subset.upper() or _PARAMETER_ENTITY_REFERENCE.search(subset)):
        return line, "the DOCTYPE declares entities; Caruso's formats use none, remove them"
    return None


def _split_doctype(text: str, start: int) -> tuple[int, str | None]:
    """Where the DOCTYPE's header ends, and its internal subset (None if it has none).

    Quoted strings are skipped so a ``>`` or ``[`` inside a system literal does
    not end the header early. An unterminated subset is returned to the end of
    the text, which errs on the side of refusing.
    """
    position = start + len("<!DOCTYPE")
    quote = None
    while position < len(text):
        char = text[position]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == ">":
            return position, None
        elif char == "[":
            return position, _subset(text, position)
        position += 1
    return position, None


_SUBSET_END = re.compile(r"\]\s*>")


def _subset(text: str, open_bracket: int) -> str:
    """The internal subset from ``[`` up to the ``]`` that is followed by ``>``."""
    match = _SUBSET_END.search(text, open_bracket)
    return text[open_bracket + 1:match.start() if match else len(text)]


def xml_files(paths: Iterable[str | os.PathLike], *, kind: str) -> tuple[list[Path], list[Problem]]:
    """The files named by ``paths``: files as given, folders as their ``*.xml`` sorted by name.

    ``kind`` names what is looked for ("model", "script") in the problem reported
    for a path that does not exist.
    """
    found: list[Path] = []
    problems: list[Problem] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.xml") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), None, f"{kind} file or folder not found"))
    return found, problems
