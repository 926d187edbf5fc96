"""The message for a name that is not among the valid ones: the closest valid name first,
then all of them, so a typo is one glance from its fix."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown(what: str, name: str, valid: Iterable[str], *, none: str = "(none)",
            ordered: bool = False, also: str = "") -> str:
    """'unknown WHAT 'NAME'; did you mean 'A'? valid names: A, B, ...ALSO'.

    The names are sorted unless `ordered` (a registry whose order means something, e.g. the
    exact choice first); `none` stands in when there are none; `also` ends the message with
    what else is accepted (e.g. ' (or a path to a .csv file)')."""
    valid = list(valid) if ordered else sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown {what} {name!r}{hint} valid names: {', '.join(valid) or none}{also}"
