"""Ignore rules: the engine's own paths, gitignore semantics from .coveignore, bad lines."""

from __future__ import annotations

import pytest

from sync.ignore import TEMP_PATTERN, TEMP_PREFIX, IgnoreRules, is_engine_name

RULES = IgnoreRules.from_text(
    "# comment\n*.log\n!keep.log\nbuild/\n/top-only.txt\ndocs/**/*.tmp\nnode_modules\n"
)


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("a.txt", False, False),
        ("x.log", False, True),
        ("deep/down/x.log", False, True),
        ("keep.log", False, False),
        ("build", True, True),
        ("build", False, False),  # "build/" names directories only
        ("src/build", True, True),
        ("top-only.txt", False, True),
        ("sub/top-only.txt", False, False),
        ("docs/a/b.tmp", False, True),
        ("docs/b.tmp", False, True),
        ("other/b.tmp", False, False),
        ("node_modules", True, True),
        (".cove", True, True),
        (".cove/folder.json", False, True),
        ("sub/.cove", True, True),
        (TEMP_PREFIX + "abc", False, True),
        ("sub/" + TEMP_PREFIX + "x.part", False, True),
        (".coveignore", False, False),
        ("# comment", False, False),
    ],
)
def test_matches_table(path, is_dir, ignored):
    assert RULES.is_ignored(path, is_dir) is ignored


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("build/x/y.c", True),  # below an ignored directory, whatever the rules say of it
        ("node_modules/pkg/index.js", True),
        ("a/.cove/x", True),
        ("src/main.c", False),
    ],
)
def test_is_ignored_looks_at_ancestors(path, ignored):
    assert RULES.is_ignored(path) is ignored


def test_no_rules_ignores_only_engine_paths():
    rules = IgnoreRules()
    assert not rules.is_ignored("anything/at/all.log")
    assert rules.is_ignored(".cove", True)
    assert not rules.is_ignored("", True)


def test_invalid_lines_are_skipped_and_listed():
    rules = IgnoreRules(["*.o", "!", "\\"])
    assert rules.invalid_lines == ["!", "\\"]
    assert rules.is_ignored("x.o")
    assert not rules.is_ignored("x.c")


def test_engine_names():
    assert TEMP_PATTERN == TEMP_PREFIX + "*"
    assert is_engine_name(".cove") and is_engine_name(TEMP_PREFIX + "1")
    assert not is_engine_name(".cove2") and not is_engine_name("cove")
