"""Pure text parsing for chat commands: no I/O, no clock (callers pass `today`)."""
from .dates import DateError, parse_due, weekday_name
from .names import Candidate, Match, Matcher, initials_of, match_name
from .normalize import normalize, split_command
from .notes import NoteFacts, extract_note
from .numbers import cn_int, find_amount, parse_amount

__all__ = [
    "Candidate", "DateError", "Match", "Matcher", "NoteFacts",
    "cn_int", "extract_note", "find_amount", "initials_of", "match_name", "normalize",
    "parse_amount", "parse_due", "split_command", "weekday_name",
]
