"""Extensions (``<extend>``, Odoo's _inherit) and behaviour classes, applied in plugin order."""

from __future__ import annotations

import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from caruso.bom.model import load_model
from caruso.errors import ModelError, ValidationError

BASE = """
<object name="Customer" behaviour="crm_base:CustomerBase">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
</object>
"""

BILLING = """
<extend object="Customer" behaviour="crm_billing:BillingMixin" auditable="yes">
  <attribute name="iban" type="string" length="34"/>
  <attribute name="credit" type="decimal" precision="10" scale="2" default="0"/>
  <pattern attribute="iban" regex="[A-Z]{2}[0-9]{2}[A-Z0-9]+"/>
  <range attribute="credit" max="5000"/>
  <collection name="invoices" object="Invoice"/>
</extend>
<object name="Invoice">
  <attribute name="id" type="integer" primary-key="yes"/>
  <reference name="customer" object="Customer" required="yes"/>
</object>
"""

APPLICATION = """
<extend object="Customer" behaviour="crm_local:LocalMixin">
  <attribute name="segment" type="enum" default="retail"><value>retail</value><value>sme</value></attribute>
  <required attribute="iban"/>
</extend>
"""


@pytest.fixture
def behaviours(tmp_path, monkeypatch):
    """Three behaviour modules, as three plugins would ship them."""
    folder = tmp_path / "behaviours"
    folder.mkdir()
    (folder / "crm_base.py").write_text(
        "class CustomerBase:\n"
        "    def greeting(self):\n        return f'Dear {self.name}'\n"
        "    def origin(self):\n        return 'base'\n"
    )
    (folder / "crm_billing.py").write_text(
        "class BillingMixin:\n"
        "    def can_order(self, amount):\n        return amount <= self.credit\n"
        "    def origin(self):\n        return 'billing, then ' + super().origin()\n"
    )
    (folder / "crm_local.py").write_text(
        "class LocalMixin:\n"
        "    def origin(self):\n        return 'local, then ' + super().origin()\n"
    )
    yield folder
    for name in ("crm_base", "crm_billing", "crm_local"):
        sys.modules.pop(name, None)


@pytest.fixture
def model(write_model, behaviours):
    paths = [write_model(BASE, "1-base.xml"), write_model(BILLING, "2-billing.xml"),
             write_model(APPLICATION, "3-app.xml")]
    loaded = load_model(paths, search_paths=[behaviours])
    yield loaded
    loaded.dispose()


def test_extensions_add_attributes_and_collections(model):
    """The extended object has the attributes every extension added, on its one table."""
    table = model.metadata.tables["customer"]
    assert ["id", "name", "iban", "credit", "segment"] == [c.name for c in table.columns]
    assert "invoices" in sa.inspect(model.Customer).relationships


def test_later_behaviour_overrides_earlier(model):
    """Behaviours stack in plugin order: the application's first, the defining model's last."""
    customer = model.Customer(name="Ada", iban="NL91ABNA0417164300")
    assert "local, then billing, then base" == customer.origin()
    assert "Dear Ada" == customer.greeting()
    assert customer.can_order(0)
    assert ["LocalMixin", "BillingMixin", "CustomerBase", "BusinessObject"] == [
        k.__name__ for k in model.Customer.__mro__[1:5]
    ]


def test_extension_rules_and_flags_apply(model):
    """Rules from two extensions, and auditable from one, all hold for the object."""
    engine = sa.create_engine("sqlite://")
    model.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(model.Customer(name="Ada", iban="bad", credit=9000))
        with pytest.raises(ValidationError) as caught:
            session.commit()
        assert {"iban", "credit"} == {v.attribute for v in caught.value.violations}
        session.rollback()
        session.add(model.Customer(name="Bo"))
        with pytest.raises(ValidationError, match="Customer.iban = None: is required"):
            session.commit()
    assert model.Customer.__caruso__.audit is not None


def test_extension_may_not_redefine_an_attribute(write_model):
    """Adding an attribute the object already has is a problem at the extension."""
    path = write_model(BASE.replace(' behaviour="crm_base:CustomerBase"', "")
                       + '<extend object="Customer"><attribute name="name" type="text"/></extend>')
    with pytest.raises(ModelError) as caught:
        load_model([path])
    [problem] = caught.value.problems
    assert (str(path), 6) == (problem.file, problem.line)
    assert "Customer already has a member named 'name'" in problem.message
