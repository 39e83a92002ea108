"""What a compatibility check reports, and how the seven Schema Registry modes pick the pairs to check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

Mode = Literal["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"]
MODES: tuple[str, ...] = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
Direction = Literal["backward", "forward", "both"]


@dataclass(frozen=True)
class Violation:
    """One reason a schema change breaks readers: where, which rule, and why in words."""

    path: str
    kind: str
    reason: str
    direction: Direction = "backward"
    against_version: int | None = None


@dataclass
class Verdict:
    compatible: bool
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    """Each pair checked, e.g. 'v3 reads v2 (backward)'."""


# A format's checker: (reader, writer) -> (violations, notes). Protobuf's wire rules are symmetric, so it
# is called with (old, new) for both directions and its violations carry direction "both".
PairCheck = Callable[[object, object], tuple[list[Violation], list[str]]]


def directions(mode: str) -> tuple[bool, bool, bool]:
    """(backward, forward, transitive) for a mode name."""
    mode = mode.upper()
    if mode not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; one of {', '.join(MODES)}")
    backward = mode.startswith(("BACKWARD", "FULL"))
    forward = mode.startswith(("FORWARD", "FULL"))
    return backward, forward, mode.endswith("_TRANSITIVE")


def check_mode(mode: str, new: object, previous: list[tuple[int, object]], pair: PairCheck, symmetric: bool = False) -> Verdict:
    """Check `new` against the latest previous version, or all of them for a transitive mode.

    BACKWARD: the new schema reads data written with the old one (new = reader).
    FORWARD: the old schema reads data written with the new one (old = reader). FULL: both.
    `previous` is [(version, schema)] oldest first.
    """
    backward, forward, transitive = directions(mode)
    verdict = Verdict(compatible=True)
    if not previous or not (backward or forward):
        verdict.notes.append("mode NONE: nothing is checked" if previous else "first version: nothing to check against")
        return verdict
    against = previous if transitive else previous[-1:]
    seen: set[tuple[str, ...]] = set()
    for version, old in reversed(against):
        runs: list[tuple[str, object, object]] = []
        if symmetric:
            runs.append(("both", old, new))
        else:
            if backward:
                runs.append(("backward", new, old))
            if forward:
                runs.append(("forward", old, new))
        for direction, reader, writer in runs:
            label = {"backward": f"new reads v{version}", "forward": f"v{version} reads new", "both": f"new vs v{version} (wire)"}[direction]
            verdict.checked.append(label)
            violations, notes = pair(reader, writer)
            for v in violations:
                key = (str(version), v.path, v.kind, v.reason)
                if (direction, *key) in seen:
                    continue
                seen.add((direction, *key))
                verdict.violations.append(replace(v, direction=direction, against_version=version))  # type: ignore[arg-type]
            verdict.notes += [f"v{version}: {n}" for n in notes if f"v{version}: {n}" not in verdict.notes]
    verdict.compatible = not verdict.violations
    return verdict
