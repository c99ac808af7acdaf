"""The ``knowledge`` service: the FAQ that self-service searches, and that grows from what it could not answer.

A customer's question that no published answer matches becomes a service request
(kind ``question``) for the front office, with the usual SLA; the agent's answer
can then be published back into the FAQ, with the request as its source, so the
next customer finds it alone - the knowledge base of the CRM literature.

Search is pushed down to the database and portable: each word of the question
(three letters or more) that appears in a published FAQ's question counts 2, in
its answer 1; the best scores first.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import UnknownName
from caruso.services.base import Service

__all__ = ["Answered", "KnowledgeBase"]

_WORD = re.compile(r"\w{3,}", re.UNICODE)
_MAX_WORDS = 12


@attrs.frozen
class Answered:
    """What ``ask`` found: the matching FAQs (best first), or the request opened because there were none."""

    matches: tuple[dict[str, Any], ...]
    request: int | None = None


class KnowledgeBase(Service):
    """The default ``knowledge`` service over the ``Faq`` business object."""

    requires = ("bom", "service-desk")

    def on_start(self) -> None:
        self.bom = self.context.manager.get("bom")
        if "Faq" not in self.bom.model:
            raise UnknownName("business object", "Faq", self.bom.model.classes)

    def search(self, text: str, *, limit: int = 5) -> list[dict[str, Any]]:
        """Published FAQs matching the words of ``text``, best first."""
        words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:_MAX_WORDS]
        if not words:
            return []
        Faq = self.bom.model.Faq
        question, answer = sa.func.lower(Faq.question), sa.func.lower(Faq.answer)
        score = sum((sa.case((question.contains(word, autoescape=True), 2), else_=0)
                     + sa.case((answer.contains(word, autoescape=True), 1), else_=0) for word in words),
                    sa.literal(0))
        query = (sa.select(Faq, score.label("score")).where(Faq.published.is_(True), score > 0)
                 .order_by(score.desc(), Faq.id).limit(limit))
        with self.bom.session() as session:
            return [{**faq.to_dict(), "score": int(points)} for faq, points in session.execute(query)]

    def ask(self, question: str, *, customer: Any = None, channel: str = "web",
            unanswered: bool = False) -> Answered:
        """Search for ``question``; with no match, open a request of kind ``question`` for the
        front office. ``unanswered``: the customer read the matches and found no answer in them,
        so the request is opened whatever the FAQ finds."""
        matches = () if unanswered else self.search(question)
        if matches:
            return Answered(tuple(matches))
        desk = self.context.manager.get("service-desk")
        request = desk.open(question[:200], customer=customer, kind="question", category="knowledge",
                            description=question, channel=channel)
        return Answered((), request)

    def publish(self, request: int, answer: str, *, question: str | None = None, category: str | None = None) -> int:
        """Answer a question request and publish the answer in the FAQ; the FAQ's key.
        The request is resolved with the answer.

        Raises:
            ValidationError: there is no such request.
        """
        desk = self.context.manager.get("service-desk")
        Faq, ServiceRequest = self.bom.model.Faq, self.bom.model.ServiceRequest
        desk.resolve(request, answer)  # refuses an unknown request before anything is published
        with self.bom.session() as session:
            source = ServiceRequest.get(session, request)
            asked, kind = source.description or source.subject, source.category
        with self.bom.unit_of_work() as session:
            faq = Faq(question=question or asked, answer=answer, category=category or kind, source_id=request)
            session.add(faq)
            session.flush()
            return faq.id
