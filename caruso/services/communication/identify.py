"""Who is calling? Matching a contact's phone number or e-mail address to a customer.

The business objects say where the numbers and addresses are
(``[services.communication.settings.identify]``: the object, its phone and
e-mail attributes). A number is compared in its E.164 form (``+31201234567``,
parsed with the ``phonenumbers`` library, national numbers read with the
configured country code) and as the channel wrote it, so a model that stores
numbers either way is matched; addresses are compared without case. Nothing
matched, or more than one customer matched: the contact stays unidentified,
and the agent asks (the dialogue script's identify steps).

A priority expression over the customer (``10 if customer.segment == 'vip'
else 0``) runs in the scripts' sandbox, so a VIP moves up every queue.
"""

from __future__ import annotations

import logging
from typing import Any

import phonenumbers
import sqlalchemy as sa

from caruso.errors import CarusoError, ConfigError, UnknownName

__all__ = ["CustomerIdentifier", "normalise_number", "phone_forms"]

log = logging.getLogger("caruso.communication.identify")

PHONE_CHANNELS = frozenset({"voice", "sms", "callback", "voicemail"})


def normalise_number(number: str, country: str | None = None) -> str | None:
    """``number`` in E.164 (``+31201234567``), or None when it is not a possible phone number.
    A national number needs ``country``, the calling code (``31``); a ``tel:`` URI is read too.
    The one place numbers are normalised: identification, campaigns, the SMS channel, leads."""
    text = str(number).strip()
    if text.startswith("tel:"):
        text = text[4:]
    region = None
    if not text.startswith("+") and country and str(country).isdigit():
        region = phonenumbers.region_code_for_country_code(int(country))
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_forms(number: str, country: str | None = None) -> list[str]:
    """The forms a stored number may have: as written, E.164, and national with a leading 0."""
    forms = [number.strip()]
    region = phonenumbers.region_code_for_country_code(int(country)) if country and country.isdigit() else None
    try:
        parsed = phonenumbers.parse(number, region if not number.strip().startswith("+") else None)
    except phonenumbers.NumberParseException:
        return forms
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    national = "0" + str(parsed.national_number)
    for form in (e164, national, e164.lstrip("+")):
        if form not in forms:
            forms.append(form)
    return forms


class CustomerIdentifier:
    """Looks contacts up in the business objects through the ``bom`` service."""

    def __init__(self, settings: Any, bom: Any):
        self.settings = settings
        self.bom = bom
        self._priority = None
        if settings.priority:
            from caruso.services.scripts.expressions import ExpressionEngine
            from caruso.services.scripts.model import Expr, Where

            where = Where("caruso.toml [services.communication.settings.identify] priority", None)
            try:
                self._priority = ExpressionEngine().compile_value(Expr(settings.priority, where))
            except CarusoError as exc:
                raise ConfigError(f"services.communication.settings.identify.priority: {exc}") from exc

    @classmethod
    def for_settings(cls, settings: Any, manager: Any) -> CustomerIdentifier | None:
        """An identifier, or None when no object is configured (contacts stay unidentified)."""
        if settings.object is None:
            return None
        bom = manager.get("bom")
        model = bom.model
        if settings.object not in model:
            raise UnknownName("business object", settings.object, model.classes)
        cls_ = model[settings.object]
        names = set(cls_.__caruso__.keys) if hasattr(cls_, "__caruso__") else set()
        for attribute in (*settings.phone, *settings.email):
            if names and attribute not in names:
                raise UnknownName(f"attribute of {settings.object}", attribute, names)
        return cls(settings, bom)

    def identify(self, channel: str, address: str) -> tuple[Any, int]:
        """(customer key or None, extra priority) for a contact from ``address``."""
        settings = self.settings
        attributes = settings.phone if channel in PHONE_CHANNELS else settings.email
        if not attributes:
            return None, 0
        cls = self.bom.model[settings.object]
        if channel in PHONE_CHANNELS:
            forms = phone_forms(address, settings.country)
            clauses = [getattr(cls, attribute).in_(forms) for attribute in attributes]
        else:
            wanted = address.strip().lower()
            clauses = [sa.func.lower(getattr(cls, attribute)) == wanted for attribute in attributes]
        try:
            with self.bom.session() as session:
                found = list(session.scalars(sa.select(cls).where(sa.or_(*clauses)).limit(2)))
                if len(found) != 1:
                    return None, 0
                customer = found[0]
                key = sa.inspect(customer).identity
                key = key[0] if key and len(key) == 1 else key
                return key, self._priority_of(customer)
        except CarusoError as exc:  # the database is down: route the contact unidentified
            log.warning("could not identify %s contact %r: %s", channel, address, exc)
            return None, 0

    def _priority_of(self, customer: Any) -> int:
        if self._priority is None:
            return 0
        from caruso.services.scripts.expressions import ScriptObject

        snapshot = ScriptObject(type(customer).__name__, customer.to_dict())
        try:
            value = self._priority({"customer": snapshot})
        except CarusoError as exc:
            log.warning("identify priority expression failed for %r: %s", customer, exc)
            return 0
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
