"""Rollout stage 3: the renewal desk (requirements R7, R8)."""

from __future__ import annotations

from datetime import date


def start(objects, policy):
    (found,) = objects("Policy", number=policy)
    return {"mode": "agent", "channel": "voice", "customer": found["customer_id"],
            "context": {"policy_number": policy}}


def test_a_renewal_is_confirmed_in_the_pas_and_in_the_crm(walk, objects):
    """R8: the client keeps the cover; the PAS renews the policy for a year and the CRM shows it."""
    (before,) = objects("Policy", number="WO-200518")
    view = walk("renewal-call", ["yes", "yes", "yes"], **start(objects, "WO-200518"))
    (after,) = objects("Policy", number="WO-200518")
    expected = date(before["renews"].year + 1, before["renews"].month, before["renews"].day)
    assert ("renewed", expected) == (view.outcome, after["renews"])
    assert f"the policy now runs until {expected.isoformat()}" in view.prompt


def test_a_change_goes_to_the_account_manager(walk, objects):
    """R8: a client who moved gets an offer from their adviser."""
    view = walk("renewal-call", ["yes", "no", "moved", "New address: Oudegracht 12, Utrecht"],
                **start(objects, "AU-100231"))
    titles = [t["title"] for t in objects("Task", assignee="account-manager") if t["about"] == "Policy AU-100231"]
    assert ("follow-up", ["Renewal of AU-100231: moved - New address: Oudegracht 12, Utrecht"]) == (view.outcome, titles)


def test_not_a_good_moment_asks_for_a_call_back(walk, objects):
    view = walk("renewal-call", ["no"], **start(objects, "BU-300007"))
    assert ("callback", ["callback"]) == (view.outcome, [r["kind"] for r in view.requests])


def test_a_lapsed_policy_makes_a_task_for_the_account_manager(objects):
    """R7: the portfolio copy shows RE-400912 lapsed, and the rule has asked for a call."""
    titles = [t["title"] for t in objects("Task", assignee="account-manager")]
    assert "Policy RE-400912 has lapsed: call the client" in titles


def test_the_renewal_list_shows_the_soonest_first(app, browser):
    """The renewal desk's list, for an agent."""
    app.services.get("web").users.add("joost", "joost-password", roles=["agent"], agent="joost")
    page = browser("joost", "joost-password").page("/v/policy-renewals?status=active").text
    shown = [number for number in ("WO-200518", "AU-100231", "BU-300007") if number in page]
    assert sorted(shown, key=page.index) == sorted(shown, key=lambda n: objects_renews(app, n))
    assert 3 == len(shown)


def objects_renews(app, number):
    bom = app.services.get("bom")
    with bom.session() as session:
        return bom.Policy.get(session, number).renews
