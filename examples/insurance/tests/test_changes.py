"""Step 8: the administrator's change procedures, each done as the procedure says."""

from __future__ import annotations

import shutil

import pytest

from caruso import Application
from caruso.errors import LegacySystemError
from caruso.testing import run_cli

CHANGES = "changes"


def cli(*args):
    result = run_cli(*map(str, args))
    assert 0 == result.exit_code, result.output
    return result.output


def test_adding_an_attribute_and_rolling_it_back(fresh_folder):
    """Procedure 1 (add no-claims years) and procedure 3 (roll it back from the backup)."""
    folder = fresh_folder
    cli("db", "upgrade", folder)
    with Application.from_folder(folder) as app:
        app.services.get("portfolio").sync_all()
    shutil.copy(folder / "insurance.db", folder / "insurance.db.backup")           # 1. back up

    shutil.copy(folder / CHANGES / "models" / "no-claims-years.xml", folder / "models")   # 2. add the files
    shutil.copy(folder / CHANGES / "views" / "no-claims-years.xml", folder / "views")
    assert "ok" in cli("check", folder)                                                 # 3. check
    assert "+ add column policy.no_claims_years" in cli("db", "status", folder)        # 4. look
    cli("db", "upgrade", folder)                                                        # 5. upgrade
    with Application.from_folder(folder) as app:                                        # 6. try it
        bom = app.services.get("bom")
        with bom.unit_of_work(user="admin") as session:
            policy = bom.Policy.get(session, "AU-100231")
            assert (None, "active") == (policy.no_claims_years, policy.status)   # old rows keep working
            policy.no_claims_years = 7

    (folder / "models" / "no-claims-years.xml").unlink()                                # rollback
    (folder / "views" / "no-claims-years.xml").unlink()
    assert "! drop column policy.no_claims_years" in cli("db", "status", folder)
    shutil.copy(folder / "insurance.db.backup", folder / "insurance.db")
    assert "the database matches the models" in cli("db", "status", folder)


def test_replacing_the_pas_wrapper_while_running_and_rolling_back(app, folder, browser):
    """Procedure 2: a new wrapper version replaces the running one on the admin page; the old
    version comes back the same way."""
    app.services.get("web").users.add("ingrid", "ingrid-password", roles=["admin"])
    admin = browser("ingrid", "ingrid-password")
    pas = app.services.get("pas")
    with pytest.raises(LegacySystemError, match="unknown policy"):
        pas.policy("au 100231")

    shutil.copy(folder / CHANGES / "pas_wrapper_v2.py", folder / "plugins")
    admin.page("/admin")
    replaced = admin.post("/admin/services/pas/replace", {"implementation": "pas_wrapper_v2:PolicyAdministration"})
    assert "pas now runs" in admin.page(replaced.headers["location"]).text
    assert "pas_wrapper_v2.PolicyAdministration" == app.services.info("pas").implementation
    assert "AU-100231" == pas.policy("au 100231").number        # the same handle reaches version 2

    admin.page("/admin")
    admin.post("/admin/services/pas/replace", {"implementation": "pas_wrapper:PolicyAdministration"})
    assert "pas_wrapper.PolicyAdministration" == app.services.info("pas").implementation
    with pytest.raises(LegacySystemError, match="unknown policy"):
        pas.policy("au 100231")
