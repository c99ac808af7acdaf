"""The bom service inside an application: models from plugins and the app folder, checks, sessions."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from caruso.app import Application
from caruso.bom.service import BusinessObjects
from caruso.errors import ModelError, ServiceStartError

PLUGIN = '''
from pathlib import Path
from caruso.hookspecs import hookimpl


class ContactBehaviour:
    def label(self):
        return f"{self.name} <{self.email}>"


@hookimpl
def register_models(app):
    return [Path(__file__).with_name("crm_models.xml")]
'''

PLUGIN_MODELS = """<model>
<object name="Customer" auditable="yes">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <collection name="contacts" object="Contact"/>
</object>
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string"/>
  <reference name="customer" object="Customer" required="yes"/>
</object>
</model>
"""

APP_MODELS = """<model>
<extend object="Contact" behaviour="crm_plugin:ContactBehaviour">
  <attribute name="email" type="string"/>
  <pattern attribute="email" regex=".+@.+"/>
</extend>
</model>
"""


def make_application(folder: Path, models: str = APP_MODELS, settings: str = "") -> Application:
    """An application folder with a plugin contributing models and an app model extending them."""
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / "crm_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (folder / "plugins" / "crm_models.xml").write_text(PLUGIN_MODELS)
    (folder / "models").mkdir()
    (folder / "models" / "local.xml").write_text(models)
    (folder / "caruso.toml").write_text(textwrap.dedent(f"""\
        [application]
        name = "Test CRM"
        [storage]
        url = "sqlite:///crm.db"
        [plugins]
        folders = ["plugins"]
        {settings}
    """))
    return Application.from_folder(folder)


@pytest.fixture(autouse=True)
def forget_plugin_module():
    yield
    sys.modules.pop("crm_plugin", None)


def test_hook_register_models(tmp_path):
    """Plugin models load first, the app's extensions apply on top; classes by name; audit knows the user."""
    app = make_application(tmp_path / "app")
    with app:
        bom = app.services.get("bom")
        storage = app.services.get("storage")
        storage.upgrade()
        with bom.unit_of_work(user="agent-7") as session:
            customer = bom.Customer(name="Ada")
            customer.contacts.append(bom.Contact(name="Amy", email="amy@example.com"))
            session.add(customer)
        with bom.session() as session:
            contact = session.scalars(bom.Contact.select()).one()
            assert "Amy <amy@example.com>" == contact.label()
            assert ["agent-7"] == session.scalars(sa.select(bom.AuditEntry.who)).all()
        assert bom.model["Customer"] is bom.Customer
        assert {"customer", "contact", "caruso_audit"} == set(bom.metadata.tables)
        assert app.services.resolve("bom")["Contact"] is bom.Contact


def test_service_provides_the_interface(tmp_path):
    """The bom service is found by its interface too."""
    app = make_application(tmp_path / "app")
    with app:
        assert app.services.get(BusinessObjects).Customer is app.services.get("bom").Customer


def test_check_application_reports_model_problems(tmp_path):
    """`caruso check` gets model problems as file:line problems, without starting anything."""
    bad = APP_MODELS.replace('regex=".+@.+"', 'regex="(unclosed"').replace('object="Contact"', 'object="Contakt"')
    app = make_application(tmp_path / "app", models=bad)
    problems = app.check()
    local = str(tmp_path / "app" / "models" / "local.xml")
    assert [(local, 2)] == [(p.file, p.line) for p in problems]
    assert "extends unknown object 'Contakt' (did you mean 'Contact'?)" in problems[0].message


def test_bad_models_stop_the_service_from_starting(tmp_path):
    """A model problem refuses the start, naming the file and line."""
    bad = APP_MODELS.replace('regex=".+@.+"', 'regex="(unclosed"')
    app = make_application(tmp_path / "app", models=bad)
    with pytest.raises(ServiceStartError) as caught:
        app.start()
    assert isinstance(caught.value.__cause__, ModelError)
    assert "local.xml:4: <pattern attribute=\"email\">: Contact.email: regex '(unclosed' does not compile" in str(
        caught.value.__cause__
    )


def test_models_setting_names_other_files(tmp_path):
    """[services.bom.settings] models = [...] replaces the default models folder."""
    app = make_application(tmp_path / "app", settings='[services.bom.settings]\nmodels = ["more"]')
    (tmp_path / "app" / "more").mkdir()
    (tmp_path / "app" / "more" / "notes.xml").write_text(
        '<model><object name="Note"><attribute name="id" type="integer" primary-key="yes"/></object></model>'
    )
    with app:
        bom = app.services.get("bom")
        assert "Note" in bom.model
        assert "email" not in {c.name for c in bom.metadata.tables["contact"].columns}


def test_replacing_the_service_hands_the_model_over(tmp_path):
    """A new bom service replacing the running one takes over the tables in storage."""
    from caruso.bom.service import BomService

    app = make_application(tmp_path / "app")
    with app:
        storage = app.services.get("storage")
        old_metadata = app.services.get("bom").metadata
        app.services.replace("bom", BomService())
        new_metadata = app.services.get("bom").metadata
        assert new_metadata is not old_metadata
        assert [new_metadata] == [m for m in storage.metadatas if "customer" in m.tables]


def test_stopping_the_service_unregisters_its_tables(tmp_path):
    """After stop, storage no longer knows the model's tables (a restart registers them again)."""
    app = make_application(tmp_path / "app")
    with app:
        storage = app.services.resolve("storage")
    assert () == storage.metadatas
