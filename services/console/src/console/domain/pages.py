"""Which pages and actions each role may use: the console's own copy of the APIs' role policy.

The console refuses early, so that a person sees a page they may not use as refused rather than as a
broken page; the APIs still decide every call with the person's own token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REVIEWER, MARKETER, AUDITOR, ADMIN, INTEGRATOR = "reviewer", "marketer", "auditor", "admin", "integrator"


@dataclass(frozen=True)
class Page:
    """A page of the console: where it is, whom it is for and which roles open it."""

    key: str
    title: str
    path: str
    roles: frozenset[str]
    audience: str


PAGES: tuple[Page, ...] = (
    Page("campaigns", "Campaigns", "/campaigns", frozenset({REVIEWER, MARKETER, AUDITOR, ADMIN}), "reviewer"),
    Page("review", "Review a campaign", "/campaigns/{id}/review", frozenset({REVIEWER}), "reviewer"),
    Page("checks", "Run a check", "/checks/new", frozenset({MARKETER}), "marketer"),
    Page("check", "A check", "/checks/{id}", frozenset({MARKETER, AUDITOR}), "marketer"),
    Page("contestations", "Contestations", "/contestations", frozenset({REVIEWER, ADMIN}), "reviewer"),
    Page("people", "People", "/people", frozenset({ADMIN}), "DPO"),
    Page("log", "Audit log", "/log", frozenset({AUDITOR}), "auditor"),
    Page("entry", "An audit entry", "/log/entries/{index}", frozenset({AUDITOR}), "auditor"),
    Page("checkpoint", "Signed checkpoint", "/log/checkpoint", frozenset({AUDITOR}), "auditor"),
    Page("verify", "Verify the log", "/log/verify", frozenset({AUDITOR}), "auditor"),
)
BY_KEY = {page.key: page for page in PAGES}
#: The pages shown in the menu (the others are reached from them).
MENU = ("campaigns", "contestations", "checks", "people", "log", "checkpoint", "verify")
#: Each role's main page, where signing in leads.
MAIN_PAGE = {REVIEWER: "campaigns", MARKETER: "checks", ADMIN: "people", AUDITOR: "log"}

#: Actions and the roles the APIs admit for them (docs/contract.md).
ACTIONS: dict[str, frozenset[str]] = {
    "approve": frozenset({REVIEWER}),
    "reject": frozenset({REVIEWER}),
    "check": frozenset({MARKETER}),
    "receipts": frozenset({MARKETER, AUDITOR}),
    "find_person": frozenset({INTEGRATOR, ADMIN}),
    "consents": frozenset({INTEGRATOR, MARKETER, REVIEWER, ADMIN}),
    "requests": frozenset({INTEGRATOR, ADMIN}),
    "start_request": frozenset({INTEGRATOR, ADMIN}),
    "person_receipts": frozenset({MARKETER, AUDITOR}),
    "proof_bundle": frozenset({AUDITOR, ADMIN}),
    "lift_restriction": frozenset({INTEGRATOR, ADMIN}),
    "review_contestation": frozenset({REVIEWER, ADMIN}),
}


@dataclass(frozen=True)
class Refusal:
    """Why a person may not open a page or take an action."""

    what: str
    needed: tuple[str, ...]
    held: tuple[str, ...]

    @property
    def message(self) -> str:
        """Returns the sentence the page shows."""
        held = ", ".join(self.held) or "no role"
        return f"{self.what} needs one of the roles {', '.join(self.needed)}; your token carries {held}."


def _refusal(what: str, allowed: frozenset[str], roles: Iterable[str]) -> Refusal | None:
    held = frozenset(roles)
    if held & allowed:
        return None
    return Refusal(what, tuple(sorted(allowed)), tuple(sorted(held)))


def page_refusal(key: str, roles: Iterable[str]) -> Refusal | None:
    """Returns why the roles may not open the page, or None when they may."""
    page = BY_KEY[key]
    return _refusal(f"The page “{page.title}”", page.roles, roles)


def action_refusal(action: str, roles: Iterable[str]) -> Refusal | None:
    """Returns why the roles may not take the action, or None when they may."""
    return _refusal(f"This action ({action.replace('_', ' ')})", ACTIONS[action], roles)


def menu_for(roles: Iterable[str]) -> list[Page]:
    """Returns the menu's pages the roles may open, in menu order."""
    held = frozenset(roles)
    return [BY_KEY[key] for key in MENU if BY_KEY[key].roles & held]


def main_page(roles: Iterable[str]) -> Page | None:
    """Returns where a person with these roles starts (the first role with a main page wins)."""
    held = frozenset(roles)
    for role in (REVIEWER, MARKETER, ADMIN, AUDITOR):
        if role in held:
            return BY_KEY[MAIN_PAGE[role]]
    return None
