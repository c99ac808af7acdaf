"""caruso.xml: safe parsing (no XXE, no entity bombs) and DTD validation with located problems."""

from __future__ import annotations

import pytest

from caruso.errors import DocumentError, Problem
from caruso.xml import Schema, describe, parse, problem_at

BOM = Schema.named("bom.dtd")


def refusal(data: bytes, filename: str = "evil.xml") -> Problem:
    with pytest.raises(DocumentError) as caught:
        parse(data, filename=filename)
    assert 1 == len(caught.value.problems)
    return caught.value.problems[0]


def test_external_entity_is_refused_without_reading_the_file(tmp_path):
    """An XXE pointing at a local file is refused before parsing; the secret never appears."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    data = (
        f'<?xml version="1.0"?>\n<!DOCTYPE model [\n  <!ENTITY leak SYSTEM "file://{secret}">\n]>\n'
        "<model><description>&leak;</description></model>"
    ).encode()
    problem = refusal(data)
    assert ("evil.xml", 2) == (problem.file, problem.line)
    assert "declares entities" in problem.message
    assert "TOP-SECRET" not in str(problem)


def test_billion_laughs_is_refused_before_expanding():
    """Nested internal entities (an expansion bomb) are refused from the DOCTYPE alone."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = ("<!DOCTYPE model [" + "".join(levels) + "]>\n<model>&lol9;</model>").encode()
    problem = refusal(data)
    assert "refused: the DOCTYPE declares entities" in problem.message


def test_parameter_entity_is_refused():
    """A parameter entity reference (the way out-of-band XXE starts) is refused too."""
    data = b'<!DOCTYPE model [ %remote; ]><model/>'
    assert "declares entities" in refusal(data).message


def test_doctype_pointing_at_an_external_dtd_is_refused():
    """A SYSTEM identifier is an external reference: refused, with how to fix it."""
    data = b'<?xml version="1.0"?>\n<!DOCTYPE model SYSTEM "http://127.0.0.1:1/bom.dtd">\n<model/>'
    problem = refusal(data)
    assert 2 == problem.line
    assert "remove the SYSTEM/PUBLIC part" in problem.message


def test_public_identifier_is_refused():
    """A PUBLIC identifier is refused as well."""
    data = b'<!DOCTYPE model PUBLIC "-//X//DTD//EN" "bom.dtd"><model/>'
    assert "external file" in refusal(data).message


def test_entity_declaration_in_utf16_is_refused():
    """The prolog is read in the document's own encoding, so UTF-16 hides nothing."""
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE m [<!ENTITY x "y">]><model>&x;</model>'
    assert "declares entities" in refusal(text.encode("utf-16")).message


def test_entity_behind_a_comment_is_still_found():
    """Comments and processing instructions before the DOCTYPE are skipped, not trusted."""
    data = b'<?xml version="1.0"?><!-- hello --><?pi x?><!DOCTYPE model [<!ENTITY a "b">]><model/>'
    assert "declares entities" in refusal(data).message


def test_bare_doctype_is_accepted():
    """A DOCTYPE without entities or external references is harmless and allowed."""
    tree = parse(b"<!DOCTYPE model>\n<model/>", filename="ok.xml")
    assert "model" == tree.getroot().tag


def test_undefined_entity_is_a_syntax_error_with_line():
    """An entity reference with no declaration is malformed XML, reported at its line."""
    problem = refusal(b"<model>\n<description>&nope;</description></model>", filename="m.xml")
    assert ("m.xml", 2) == (problem.file, problem.line)
    assert problem.message.startswith("malformed XML:")


def test_malformed_xml_names_file_and_line(tmp_path):
    """A broken tag is reported with the file path and the line of the fault."""
    path = tmp_path / "broken.xml"
    path.write_text("<model>\n  <object name='A'>\n</model>\n")
    with pytest.raises(DocumentError) as caught:
        parse(path)
    problem = caught.value.problems[0]
    assert (str(path), 3) == (problem.file, problem.line)
    assert "malformed XML" in problem.message


def test_missing_file_is_a_document_error(tmp_path):
    """A file that cannot be read is a problem naming the file, not an OSError."""
    with pytest.raises(DocumentError) as caught:
        parse(tmp_path / "nope.xml")
    assert "cannot read the file" in caught.value.problems[0].message


def test_dtd_violations_are_all_reported_with_lines():
    """Validation reports every violation, each at its line, naming the element."""
    data = b"""<model>
  <object>
    <attribute name="a" type="money"/>
  </object>
  <unknown/>
</model>"""
    with pytest.raises(DocumentError) as caught:
        BOM.parse(data, filename="m.xml")
    lines = sorted({p.line for p in caught.value.problems})
    assert [1, 2, 3, 5] == lines
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "m.xml:2: breaks bom.dtd:" in text
    assert "object" in text and "unknown" in text and "money" in text


def test_defaults_come_from_the_dtd():
    """Schema.get falls back to the DTD's default, and None where there is none."""
    tree = BOM.parse(b'<model><object name="A"><reference name="b" object="B"/></object></model>')
    reference = tree.getroot()[0][0]
    assert ("restrict", "yes", None) == (
        BOM.get(reference, "on-delete"), BOM.get(reference, "indexed"), BOM.get(reference, "column")
    )


def test_problem_at_locates_and_names_the_element():
    """problem_at gives file:line and shows the element as written in the file."""
    tree = parse(b'<model>\n\n<object name="Customer"/></model>', filename="crm.xml")
    element = tree.getroot()[0]
    assert '<object name="Customer">' == describe(element)
    assert 'crm.xml:3: <object name="Customer">: wrong' == str(problem_at(element, "wrong"))


def test_unknown_schema_name_is_a_value_error():
    """Asking for a DTD that does not ship is a programmer mistake, with the known names."""
    with pytest.raises(ValueError, match="bom.dtd"):
        Schema.named("nope.dtd")


def test_oversized_document_is_refused_unread(tmp_path, monkeypatch):
    """A file above the size limit is refused without reading it all."""
    import caruso.xml

    monkeypatch.setattr(caruso.xml, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "big.xml"
    path.write_text("<model>" + "<!-- padding -->" * 200 + "</model>")
    with pytest.raises(DocumentError, match="refused: more than 1,000 bytes"):
        parse(path)
