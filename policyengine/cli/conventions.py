"""What every ``policyengine`` command shares, applied once to the whole command tree.

Two conventions live here, so that no command has to implement them itself:

- **Global options on either side of the command.** ``--policies/-p``, ``--env/-e``,
  ``--format/-f`` and ``--db`` may be written before the command (``policyengine -e prod query
  ...``) or after it (``policyengine query -e prod ...``). The arguments are normalised before
  click parses them: ``--policies`` goes to the root (where it is declared), the others go to the
  command, which must take them, or the run is a usage error naming the command (never silently
  ignored). Old spellings of renamed options (``derive --output``) are rewritten to the current
  one here too, so they keep working without showing up in ``--help``.
- **Clean help.** typer shows a type after every option, ``<bool>`` for flags and ``--help``
  included; flags take no value, so nothing is shown for them, and a repeatable option shows its
  element type followed by ``...`` instead of ``<list[str]>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from typer import _click
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

#: long name -> short name of the options accepted before or after the command
GLOBAL_OPTIONS: dict[str, str | None] = {"--policies": "-p", "--env": "-e", "--format": "-f", "--db": None}
#: declared by the root callback: these stay (or are moved) in front of the command
ROOT_OPTIONS = frozenset({"--policies"})
#: an old spelling -> the current one, for a command that takes the current one and not the old
RENAMED_OPTIONS: dict[str, str] = {"--output": "--out"}

_SHORT_TO_LONG = {short: long for long, short in GLOBAL_OPTIONS.items() if short}


@dataclass(frozen=True)
class _Found:
    """A global option met in the arguments: its long name, its value, and how many tokens it took."""

    name: str
    value: str | None
    width: int


def _global_option(args: Sequence[str], at: int) -> _Found | None:
    """The global option at ``args[at]`` (``--env x``, ``--env=x``, ``-e x``, ``-ex``), if it is one."""
    token = args[at]
    if token.startswith("--"):
        name, equals, inline = token.partition("=")
        if name not in GLOBAL_OPTIONS:
            return None
    elif token[:2] in _SHORT_TO_LONG:
        name, inline = _SHORT_TO_LONG[token[:2]], token[2:]
        equals = "=" if inline else ""
    else:
        return None
    if equals:
        return _Found(name, inline, 1)
    if at + 1 < len(args):
        return _Found(name, args[at + 1], 2)
    return _Found(name, None, 1)  # no value: click will say so


def _options(command: _click.Command) -> dict[str, bool]:
    """Every option spelling of ``command`` -> whether it takes a value."""
    spellings: dict[str, bool] = {}
    for param in command.params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for spelling in [*param.opts, *param.secondary_opts]:
            spellings[spelling] = takes_value
    return spellings


def _resolve(root: TyperGroup, args: Sequence[str], at: int) -> tuple[list[str], _click.Command | None, int]:
    """The command path starting at ``args[at]``: its names, the command (None unless a leaf), and where its
    own arguments begin."""
    path: list[str] = []
    command: _click.Command = root
    while isinstance(command, TyperGroup) and at < len(args):
        found = command.commands.get(args[at])
        if found is None:
            break
        path.append(args[at])
        command = found
        at += 1
    return path, (None if isinstance(command, TyperGroup) else command), at


def normalise_arguments(root: TyperGroup, args: Sequence[str]) -> list[str]:
    """``args`` with global options moved to where they are declared and renamed options respelled.

    Raises click's ``UsageError`` when a global option is given to a command that does not take it.
    """
    args = list(args)
    front: list[str] = []  # the root's own options, kept in order
    moved: list[_Found] = []  # global options written before the command, for the command
    at = 0
    while at < len(args):
        token = args[at]
        if token == "--" or not token.startswith("-") or token == "-":
            break
        found = _global_option(args, at)
        if found is not None and found.name not in ROOT_OPTIONS and found.value is not None:
            moved.append(found)
        else:
            front.extend(args[at:at + (found.width if found else 1)])
        at += found.width if found else 1
    path, command, start = _resolve(root, args, at)
    if command is None:
        # no command to give them to (a group, a typo, --help): the root's callback says what is wrong
        return args
    spellings = _options(command)
    for found in moved:
        if found.name not in spellings:
            raise UsageError(f"{found.name} is not an option of `policyengine {' '.join(path)}`; "
                             f"it goes with the commands that take it (see `policyengine "
                             f"{' '.join(path)} --help`)")
    # right after the command's name: when an option is given on both sides, the later one (after the
    # command) wins, as when an option is repeated
    given = [token for found in moved for token in (found.name, str(found.value))]
    rest: list[str] = []
    at = start
    while at < len(args):
        token = args[at]
        if token == "--":
            rest.extend(args[at:])
            break
        name, equals, inline = token.partition("=")
        if token.startswith("--") and name not in spellings and RENAMED_OPTIONS.get(name) in spellings:
            token = RENAMED_OPTIONS[name] + equals + inline
            name = RENAMED_OPTIONS[name]
        found = _global_option(args, at) if token.startswith("-") else None
        if found is not None and found.name in ROOT_OPTIONS and found.name not in spellings \
                and GLOBAL_OPTIONS[found.name] not in spellings:
            front.extend(args[at:at + found.width])
            at += found.width
            continue
        takes_value = spellings.get(name if token.startswith("--") else token[:2])
        if takes_value and not equals and (token.startswith("--") or len(token) == 2) and at + 1 < len(args):
            rest.extend([token, args[at + 1]])
            at += 2
            continue
        rest.append(token)
        at += 1
    return [*front, *path, *given, *rest]


def _walk(command: _click.Command) -> Iterator[_click.Command]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _walk(sub)


_LIST = re.compile(r"^<list\[(?P<element>.*)\]>$")


def unwrap(text: str) -> str:
    """A docstring's paragraphs as single lines: typer's rich help keeps the source's line breaks, so a
    docstring wrapped at 110 columns would be shown broken in mid-sentence at whatever width the terminal has."""
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in paragraph.splitlines()) for paragraph in paragraphs)


def tidy_help(root: TyperGroup) -> None:
    """Command help as paragraphs; no type shown for flags (``--help`` included); ``<str>...`` for a repeatable
    option, ``<str>`` for the values of a variadic argument (already shown as ``NAME...``)."""
    for command in _walk(root):
        if command.help:
            command.help = unwrap(command.help)
        context: Any = _click.Context(command)
        help_option = command.get_help_option(context)
        for param in [*command.params, *([help_option] if help_option is not None else [])]:
            if getattr(param, "param_type_name", None) == "argument" and param.nargs != 1:
                # a variadic argument is already shown as NAME...: its type is the element's
                shown = _LIST.match(param.display_type(context) or "")
                if shown:
                    element = f"<{shown['element']}>"
                    param.display_type_rich = lambda ctx, element=element: element  # type: ignore[method-assign]
                continue
            if getattr(param, "param_type_name", None) != "option" or param.metavar is not None:
                continue
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                param.metavar = ""
            elif getattr(param, "multiple", False):
                shown = _LIST.match(param.display_type(context) or "")
                if shown:
                    param.metavar = f"<{shown['element']}>..."
