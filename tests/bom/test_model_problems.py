"""Bad models: every problem is reported at once, located as file:line, naming what is wrong."""

from __future__ import annotations

import pytest

from caruso.bom.model import check_models, load_model
from caruso.errors import ModelError

CUSTOMER = """
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" length="100"/>
</object>
"""


def messages(problems) -> list[str]:
    return [str(p) for p in problems]


def test_a_clean_model_has_no_problems(write_model):
    """The reference model checks clean."""
    assert [] == check_models([write_model(CUSTOMER)])


def test_malformed_xml_is_reported_with_file_and_line(write_model):
    """A broken file is one problem at its line; loading raises ModelError carrying it."""
    path = write_model("<model>\n<object name='A'>\n</model>", raw=True)
    with pytest.raises(ModelError) as caught:
        load_model([path])
    [problem] = caught.value.problems
    assert (str(path), 3) == (problem.file, problem.line)


def test_dtd_violation_is_reported(write_model):
    """An attribute without a type breaks the DTD, located at its line."""
    path = write_model('<object name="A">\n  <attribute name="id"/>\n</object>')
    [problem] = check_models([path])
    assert (str(path), 3) == (problem.file, problem.line)
    assert "does not carry attribute type" in problem.message


def test_reference_to_unknown_object_suggests_the_right_one(write_model):
    """A reference to a misspelt object names it and suggests the close match."""
    path = write_model(CUSTOMER + """
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <reference name="customer" object="Custmer"/>
</object>""")
    [problem] = check_models([path])
    assert 9 == problem.line
    assert "Contact.customer refers to unknown object 'Custmer' (did you mean 'Customer'?)" in problem.message
    assert '<reference name="customer">' in problem.message


def test_rule_on_unknown_attribute(write_model):
    """A rule naming an attribute the object lacks is located at the rule."""
    path = write_model(CUSTOMER.replace("</object>", '  <range attribute="nmae" min="1"/>\n</object>'))
    [problem] = check_models([path])
    assert 5 == problem.line
    assert "Customer has no attribute 'nmae' (did you mean 'name'?)" in problem.message


def test_two_objects_on_one_table(write_model):
    """Two objects mapped onto the same table by mistake are refused, naming both."""
    path = write_model(CUSTOMER + """
<object name="Client" table="customer">
  <attribute name="id" type="integer" primary-key="yes"/>
</object>""")
    [problem] = check_models([path])
    assert 7 == problem.line
    assert f"objects Customer ({path}:2) and Client both map table 'customer'" in problem.message


def test_object_defined_twice_points_to_extend(write_model):
    """Redefining an object in another file is refused with the way to extend it instead."""
    first = write_model(CUSTOMER, name="a.xml")
    second = write_model(CUSTOMER, name="b.xml")
    [problem] = check_models([first, second])
    assert str(second) == problem.file
    assert f'already defined at {first}:2; to add to it, write <extend object="Customer">' in problem.message


def test_extension_of_unknown_object(write_model):
    """Extending an object nobody defines is a problem at the extend element."""
    path = write_model(CUSTOMER + '<extend object="Costumer"/>')
    [problem] = check_models([path])
    assert "extends unknown object 'Costumer' (did you mean 'Customer'?)" in problem.message


def test_every_problem_is_reported_at_once(write_model):
    """Several independent mistakes come back together, in file order."""
    path = write_model("""
<object name="Order">
  <attribute name="total" type="decimal" precision="10" scale="2" default="abc"/>
  <attribute name="status" type="string" default="new"><value>x</value></attribute>
  <reference name="customer" object="Nobody"/>
  <collection name="lines" object="Line"/>
  <pattern attribute="total" regex="x"/>
</object>""")
    found = messages(check_models([path]))
    assert 6 == len(found), found
    assert any("has no primary key" in m for m in found)
    assert any("default 'abc' does not fit type decimal" in m for m in found)
    assert any("<value> elements belong to enum attributes" in m for m in found)
    assert any("unknown object 'Nobody'" in m for m in found)
    assert any("collects unknown object 'Line'" in m for m in found)
    assert any("a pattern rule does not apply to Order.total of type decimal" in m for m in found)


def test_type_options_are_checked_by_the_portable_types(write_model):
    """A decimal without precision is refused with the storage type's explanation."""
    path = write_model(CUSTOMER.replace('type="string" length="100"', 'type="decimal"'))
    [problem] = check_models([path])
    assert "Customer.name: type 'decimal' needs a precision" in problem.message


def test_names_must_be_identifiers(write_model):
    """Object names are capitalised identifiers; attribute names may not shadow methods."""
    path = write_model("""
<object name="customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="select" type="string"/>
  <attribute name="class" type="string"/>
</object>""")
    found = messages(check_models([path]))
    assert 3 == len(found), found
    assert any("should start with a capital letter, like a class (Customer)" in m for m in found)
    assert any("'select' is a method of every business object" in m for m in found)
    assert any("name 'class' is not a Python identifier" in m for m in found)


def test_bad_rules_are_model_problems(write_model):
    """A regex that does not compile and a range with min above max are found at load time."""
    path = write_model(CUSTOMER.replace("</object>", """
  <attribute name="age" type="integer"/>
  <pattern attribute="name" regex="([a-z"/>
  <range attribute="age" min="10" max="1"/>
  <range attribute="age" min="ten"/>
</object>"""))
    found = messages(check_models([path]))
    assert 3 == len(found), found
    assert any("does not compile" in m for m in found)
    assert any("min 10 is above max 1" in m for m in found)
    assert any("write a whole number like 42" in m for m in found)


def test_set_null_on_required_reference(write_model):
    """on-delete="set-null" cannot apply to a required reference."""
    path = write_model(CUSTOMER + """
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <reference name="customer" object="Customer" required="yes" on-delete="set-null"/>
</object>""")
    [problem] = check_models([path])
    assert "cannot clear a required reference" in problem.message


def test_collection_needs_a_reference_back(write_model):
    """A collection of objects that do not point back, or point back twice, is ambiguous."""
    path = write_model(CUSTOMER.replace("</object>", '<collection name="notes" object="Note"/></object>') + """
<object name="Note">
  <attribute name="id" type="integer" primary-key="yes"/>
  <reference name="author" object="Customer"/>
  <reference name="about" object="Customer"/>
</object>""")
    [problem] = check_models([path])
    assert "Note has 2 references to Customer (author, about); name the one this collection follows" in (
        problem.message
    )


def test_two_members_on_one_column(write_model):
    """Two attributes mapped onto the same column of the table are refused."""
    path = write_model(CUSTOMER.replace("</object>", '<attribute name="label" type="string" column="NAME"/></object>'))
    [problem] = check_models([path])
    assert "label and name both map column 'NAME' of table 'customer'" in problem.message


def test_behaviour_that_does_not_import(write_model):
    """A behaviour class that cannot be imported is a problem at the object."""
    path = write_model(CUSTOMER.replace('name="Customer"', 'name="Customer" behaviour="no_such_module:Mixin"'))
    [problem] = check_models([path])
    assert 2 == problem.line
    assert "behaviour: cannot import 'no_such_module:Mixin'" in problem.message


def test_behaviour_that_shadows_an_attribute(write_model, tmp_path):
    """A behaviour defining a method named like a model attribute would hide it: refused."""
    (tmp_path / "shadowing.py").write_text("class Mixin:\n    def name(self):\n        return 1\n")
    path = write_model(CUSTOMER.replace('name="Customer"', 'name="Customer" behaviour="shadowing:Mixin"'))
    [problem] = check_models([path], search_paths=[tmp_path])
    assert "behaviour 'shadowing:Mixin' defines name, which is also a member of Customer" in problem.message


def test_missing_model_path(tmp_path):
    """A model file or folder that does not exist is a problem naming it."""
    [problem] = check_models([tmp_path / "nope.xml"])
    assert f"{tmp_path / 'nope.xml'}: model file or folder not found" == str(problem)


def test_audit_entry_name_is_reserved(write_model):
    """AuditEntry is the audit trail's object; a model may not define its own."""
    path = write_model(CUSTOMER.replace('name="Customer"', 'name="AuditEntry"'))
    [problem] = check_models([path])
    assert "AuditEntry is Caruso's audit trail object" in problem.message
