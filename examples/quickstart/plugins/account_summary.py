"""A plugin-folder plugin: a small service built on the billing wrapper.

It shows the three things an integrator does most: contribute a service through
the ``register_services`` hook, declare what it requires, and reach the other
service through a handle (so the billing wrapper can be replaced while running).
"""

from __future__ import annotations

from caruso import Service, ServiceDefinition, hookimpl


class AccountSummary(Service):
    """What an agent says first: the balance and the open invoices, in one sentence."""

    requires = ("billing",)
    version = "1.0"

    def on_start(self) -> None:
        self.billing = self.context.manager.get("billing")

    def summary(self, customer_no: str) -> str:
        invoices = [i for i in self.billing.invoices(customer_no) if not i.paid]
        balance = self.billing.balance(customer_no)
        if not invoices:
            return f"{customer_no}: balance {balance:.2f} EUR, no open invoices"
        listed = ", ".join(f"{i.number} ({i.amount:.2f})" for i in invoices)
        return f"{customer_no}: balance {balance:.2f} EUR, open invoices: {listed}"


@hookimpl
def register_services(app):
    return [ServiceDefinition("account-summary", AccountSummary)]
