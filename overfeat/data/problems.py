"""What was wrong with the input data of ``overfeat data prepare``, and what was done about it.

Nothing is dropped or changed silently: every problem is counted, the first few of each kind are
logged with the file they came from, and ``summary_lines()`` is printed at the end of a run.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

LOGGER = logging.getLogger("overfeat.data.prepare")

# An example left out of the dataset, or kept after a documented correction (a CMYK JPEG
# converted to RGB, a box clipped to the image or dropped from it).
SKIPPED = "skipped"
CORRECTED = "corrected"


@dataclasses.dataclass
class _Tally:
    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)


class DataProblems:
    """Counts of data problems by (outcome, split, kind), with the first few places each came from.

    ``kind`` is a short phrase ("truncated JPEG", "box clipped to the image"); ``where`` names the
    file (or archive member) so that a user can look at it.
    """

    def __init__(self, examples_per_kind: int = 5, logger: logging.Logger = LOGGER):
        self.examples_per_kind = examples_per_kind
        self._logger = logger
        self._tallies: dict[tuple[str, str, str], _Tally] = collections.defaultdict(_Tally)

    def skipped(self, split: str, kind: str, where: str, detail: str = "") -> None:
        """Records an example left out of ``split``."""
        self._record(SKIPPED, split, kind, where, detail)

    def corrected(self, split: str, kind: str, where: str, detail: str = "") -> None:
        """Records an example kept in ``split`` after a correction."""
        self._record(CORRECTED, split, kind, where, detail)

    def _record(self, outcome: str, split: str, kind: str, where: str, detail: str) -> None:
        tally = self._tallies[(outcome, split, kind)]
        tally.count += 1
        message = f"{split}: {outcome} ({kind}): {where}" + (f": {detail}" if detail else "")
        if len(tally.examples) < self.examples_per_kind:
            tally.examples.append(where)
            self._logger.warning(message)
        else:
            self._logger.debug(message)

    def count(self, outcome: str | None = None, split: str | None = None,
              kind: str | None = None) -> int:
        """How many problems match the given outcome, split and kind (None matches any)."""
        return sum(
            tally.count for (o, s, k), tally in self._tallies.items()
            if outcome in (None, o) and split in (None, s) and kind in (None, k)
        )

    def as_dict(self) -> dict:
        """``{outcome: {split: {kind: {"count": n, "examples": [...]}}}}``, JSON-ready."""
        result: dict = {}
        for (outcome, split, kind), tally in sorted(self._tallies.items()):
            result.setdefault(outcome, {}).setdefault(split, {})[kind] = {
                "count": tally.count, "examples": list(tally.examples)}
        return result

    def summary_lines(self) -> list[str]:
        """Human-readable summary: one line per (outcome, split, kind), or a line saying none."""
        if not self._tallies:
            return ["no data problems found"]
        lines = []
        by_split = sorted(self._tallies.items(), key=lambda item: (item[0][1], item[0]))
        for (outcome, split, kind), tally in by_split:
            shown = tally.examples[:3]
            more = f", ... ({tally.count - len(shown)} more)" if tally.count > len(shown) else ""
            lines.append(f"{split}: {tally.count} {outcome} ({kind}): {', '.join(shown)}{more}")
        return lines
