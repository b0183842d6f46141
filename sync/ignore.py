"""Which paths of a folder are never indexed: the engine's own files and the user's ignore rules.

Always ignored, at any depth: the engine directory ``.cove/`` (index, marker, staging) and temp
files the engine writes next to their targets before an atomic rename (names starting with
:data:`TEMP_PREFIX`). User rules come from ``.coveignore`` at the folder root, in gitignore syntax
(pathspec's ``GitIgnoreSpec``, which follows git's own precedence rules). The ``.coveignore`` file
itself is an ordinary file and syncs, like ``.gitignore``, so every device applies the same rules.

As in git, a file under an ignored directory is ignored even if a later ``!`` rule names it: the
walker prunes ignored directories and never looks inside them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pathspec import GitIgnoreSpec

from sync.config import MARKER_DIR as ENGINE_DIR
from sync.config import TEMP_PREFIX

TEMP_PATTERN = TEMP_PREFIX + "*"  # the one glob for engine temp files; see is_engine_name
IGNORE_FILE = ".coveignore"


def is_engine_name(name: str) -> bool:
    """A path component the engine owns: never indexed, never reported."""
    return name == ENGINE_DIR or name.startswith(TEMP_PREFIX)


class IgnoreRules:
    """Compiled ignore rules of one folder. Immutable; build a new one when ``.coveignore`` changes.

    Lines that are not valid patterns are skipped and listed in :attr:`invalid_lines`, so one typo
    does not stop a folder from syncing.
    """

    def __init__(self, lines: Iterable[str] = ()) -> None:
        good: list[str] = []
        self.invalid_lines: list[str] = []
        for line in lines:
            line = line.rstrip("\r\n")
            try:
                GitIgnoreSpec.from_lines([line])
            except Exception:  # pathspec raises its own error types per pattern flavour
                self.invalid_lines.append(line)
                continue
            good.append(line)
        self._spec: GitIgnoreSpec | None = (
            GitIgnoreSpec.from_lines(good)
            if any(ln.strip() and not ln.lstrip().startswith("#") for ln in good)
            else None
        )

    @staticmethod
    def from_text(text: str) -> IgnoreRules:
        return IgnoreRules(text.splitlines())

    def matches(self, path: str, is_dir: bool, name: str | None = None) -> bool:
        """True if ``path`` itself is ignored; the caller has already checked its ancestors.

        This is the walker's per-entry test; it does not look at ancestors (pruned already).
        ``name`` is the last component of ``path``, if the caller has it at hand.
        """
        if name is None:
            name = path.rpartition("/")[2]
        if name == ENGINE_DIR or name.startswith(TEMP_PREFIX):
            return True
        if self._spec is None:
            return False
        return self._spec.match_file(path + "/" if is_dir else path)

    def is_ignored(self, path: str, is_dir: bool = False) -> bool:
        """True if ``path`` or any of its ancestors is ignored (for paths from outside a walk)."""
        if path in ("", "."):
            return False
        parts = path.split("/")
        for i in range(1, len(parts)):
            if self.matches("/".join(parts[:i]), True):
                return True
        return self.matches(path, is_dir)
