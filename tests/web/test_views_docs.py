"""The view format's documentation keeps up with its DTD, and its example passes ``caruso check``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from caruso.testing import make_app
from caruso.xml import Schema
from tests.web.conftest import DESCRIPTOR

DOCS = Path(__file__).parent.parent.parent / "docs"
DTD = Schema.named("views.dtd").dtd

METERS = """\
<model>
  <object name="Meter" table="meter">
    <attribute name="id" type="integer" primary-key="yes"/>
    <attribute name="number" type="string" length="20" required="yes"/>
    <attribute name="kind" type="enum"><value>electricity</value><value>gas</value><value>water</value></attribute>
    <attribute name="installed" type="date"/>
    <reference name="customer" object="Customer" required="yes"/>
    <collection name="readings" object="Reading" order-by="-taken"/>
  </object>
  <object name="Reading" table="meter_reading">
    <attribute name="id" type="integer" primary-key="yes"/>
    <attribute name="taken" type="date" required="yes"/>
    <attribute name="value" type="decimal" precision="12" scale="3" required="yes"/>
    <reference name="meter" object="Meter" required="yes"/>
  </object>
  <extend object="Customer">
    <collection name="meters" object="Meter" order-by="number"/>
  </extend>
</model>
"""


@pytest.mark.parametrize("element", [e.name for e in DTD.iterelements()])
def test_every_element_and_attribute_is_documented(element):
    text = (DOCS / "views.md").read_text()
    assert f"`<{element}>`" in text
    [declared] = [e for e in DTD.iterelements() if e.name == element]
    assert [] == [a.name for a in declared.iterattributes() if f"`{a.name}`" not in text]


def test_the_example_passes_caruso_check(tmp_path):
    [example] = re.findall(r"```xml\n(<views>.*?</views>)\n```", (DOCS / "views.md").read_text(), re.S)
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"),
                   {"models/meters.xml": METERS, "views/meters.xml": example})
    assert [] == app.check()
