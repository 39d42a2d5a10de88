"""Packs a local code directory into a zip for ``POST /api/v1/code``, honouring ``.gitignore``.

Supported gitignore syntax (the common subset): blank lines and ``#`` comments; ``*``, ``?``,
``[...]`` and ``**`` globs; a pattern without ``/`` matches a name at any depth; a leading or
inner ``/`` anchors it to the directory of that ``.gitignore``; a trailing ``/`` matches
directories only; ``!`` re-includes what an earlier pattern excluded (not inside an excluded
directory, as in git). ``.gitignore`` files in subdirectories apply below them. Not supported:
``.git/info/exclude``, the global excludes file, and escaped trailing spaces.
Always left out: ``.git``, ``__pycache__``, ``.venv``, ``node_modules``, ``.pytest_cache``,
``.mypy_cache`` and ``*.pyc`` (Griffin never copies them into a run either). Symbolic links are
refused (Griffin refuses them in uploads): pack the file itself.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_BYTES", "CodeTooLarge", "PackedCode", "pack_directory"]

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MAX_FILES = 10_000
ALWAYS_SKIPPED = frozenset({".git", "__pycache__", ".venv", "node_modules", ".pytest_cache", ".mypy_cache"})


class CodeTooLarge(ValueError):
    """The directory holds more than the size or file limit allows (after .gitignore)."""


@dataclass(frozen=True)
class PackedCode:
    data: bytes
    files: list[str]
    unpacked_bytes: int


def _glob_to_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _parse_gitignore(text: str) -> list[_Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        prefix = "" if anchored else "(?:.*/)?"
        rules.append(_Rule(re.compile(f"^{prefix}{_glob_to_regex(line)}$"), negate, dir_only))
    return rules


def _ignored(rel: str, is_dir: bool, scopes: list[tuple[str, list[_Rule]]]) -> bool:
    """The last matching rule decides, deeper .gitignore files after shallower ones (as git does)."""
    result = False
    for base, rules in scopes:
        sub = rel[len(base) + 1 :] if base else rel
        for rule in rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(sub):
                result = not rule.negate
    return result


def pack_directory(directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> PackedCode:
    """
    The directory's files as a zip (deflate), leaving out what ``.gitignore`` ignores.

    :raises CodeTooLarge: more than ``max_bytes`` of files, or more than 10,000 files.
    :raises ValueError: not a directory, or it holds a symbolic link.
    """
    root = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(root):
        raise ValueError(f"code directory {directory!s} does not exist or is not a directory")
    files: list[tuple[str, str, int]] = []
    total = 0

    def walk(path: str, rel: str, scopes: list[tuple[str, list[_Rule]]]) -> None:
        nonlocal total
        ignore_file = os.path.join(path, ".gitignore")
        if os.path.isfile(ignore_file):
            with open(ignore_file, encoding="utf-8", errors="replace") as f:
                scopes = scopes + [(rel, _parse_gitignore(f.read()))]
        for name in sorted(os.listdir(path)):
            child_rel = f"{rel}/{name}" if rel else name
            full = os.path.join(path, name)
            info = os.lstat(full)
            is_dir = stat.S_ISDIR(info.st_mode)
            if name in ALWAYS_SKIPPED or name.endswith(".pyc") or _ignored(child_rel, is_dir, scopes):
                continue
            if stat.S_ISLNK(info.st_mode):
                raise ValueError(f"{child_rel} is a symbolic link; Griffin does not take links in uploaded code (copy the file, or add it to .gitignore)")
            if is_dir:
                walk(full, child_rel, scopes)
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
                if total > max_bytes:
                    raise CodeTooLarge(f"{directory!s} holds more than {max_bytes} bytes of code after .gitignore; add data and outputs to .gitignore, or raise max_bytes")
                if len(files) >= MAX_FILES:
                    raise CodeTooLarge(f"{directory!s} holds more than {MAX_FILES} files after .gitignore")
                files.append((child_rel, full, info.st_mode))

    walk(root, "", [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, full, mode in files:
            # A fixed timestamp: the same files give the same bytes, so a re-upload is free.
            entry = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = ((stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16)
            entry.create_system = 3
            with open(full, "rb") as f:
                archive.writestr(entry, f.read())
    return PackedCode(buffer.getvalue(), [rel for rel, _, _ in files], total)
