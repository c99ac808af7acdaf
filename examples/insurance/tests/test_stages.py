"""Step 6: each stage of the rollout is a working application on its own."""

from __future__ import annotations

from caruso import Application
from caruso.testing import run_cli

RENEWALS_QUEUE = '''[[services.communication.settings.queues]]
name = "renewals"
requires = "skills HAS 'renewals'"
wrapup = 30
'''


def test_stage_1_is_the_claims_line_without_the_renewal_desk(fresh_folder):
    """Stage 1: the folder without the renewal script, its report and its queue still checks
    clean and starts, with the claim script only."""
    (fresh_folder / "scripts" / "renewal-call.xml").unlink()
    (fresh_folder / "reports" / "renewal-desk.xml").unlink()
    descriptor = fresh_folder / "caruso.toml"
    text = descriptor.read_text(encoding="utf-8")
    assert RENEWALS_QUEUE in text
    descriptor.write_text(text.replace(RENEWALS_QUEUE, ""), encoding="utf-8")

    result = run_cli("check", str(fresh_folder))
    assert 0 == result.exit_code, result.output
    with Application.from_folder(fresh_folder) as app:
        assert ["claim-notification"] == sorted(app.services.get("scripts").scripts)
        assert "renewals" not in [queue.name for queue in app.services.get("communication").queue_status()]
