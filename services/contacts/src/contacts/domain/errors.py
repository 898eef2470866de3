"""Errors of the contacts domain; messages never quote personal data."""


class ContactsError(Exception):
    """Base of every contacts domain error."""


class ContactNotFoundError(ContactsError):
    """No contact with this id (or it was erased)."""

    def __init__(self, contact_id: str) -> None:
        super().__init__(f"contact {contact_id} does not exist")
        self.contact_id = contact_id


class DuplicateContactError(ContactsError):
    """A contact with the same e-mail or phone already exists."""

    def __init__(self, existing_id: str, matched_on: str) -> None:
        super().__init__(f"a contact with the same {matched_on} already exists: {existing_id}")
        self.problem_extra = {"existing_contact_id": existing_id, "matched_on": matched_on}


class VersionConflictError(ContactsError):
    """The contact changed since the caller read it (If-Match does not match)."""

    def __init__(self, contact_id: str, expected: int, actual: int) -> None:
        super().__init__(f"contact {contact_id} is at version {actual}, not {expected}")
        self.problem_extra = {"current_version": actual}


class ContactErasedError(ContactsError):
    """The contact was erased; its personal data no longer exists."""

    def __init__(self, contact_id: str) -> None:
        super().__init__(f"contact {contact_id} was erased")


class InteractionRejectedError(ContactsError):
    """An interaction lacks a field its kind requires, or carries one its kind does not take (422)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(
            "invalid interaction: " + "; ".join(f"{name} {message}" for name, message in problems)
        )
        self.problem_extra = {
            "errors": [
                {"field": name, "message": message, "type": "interaction_invalid"}
                for name, message in problems
            ]
        }
