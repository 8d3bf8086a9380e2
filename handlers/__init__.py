"""Chat commands: text (Chinese or English) -> a command -> its effect -> a channel-neutral reply."""
from .context import Context, Refusal
from .router import dispatch, router
from . import activities, actions, choices, corrections, customers, offers, queries, report, stages, targets  # noqa: F401,E501  (register commands)

__all__ = ["Context", "Refusal", "dispatch", "router"]
