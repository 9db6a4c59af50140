"""The CLI through ``main(argv)``: version, help with examples and exit codes, one-line usage
errors, and only the invoked command's module imported."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from pigeon import __version__
from pigeon.cli.common import COMMANDS, EXIT_CODES, exit_codes_help
from pigeon.cli.main import main

COMMAND_PATHS = [
    ["udp", "send"],
    ["udp", "recv"],
    ["tcp", "connect"],
    ["tcp", "listen"],
    ["ip"],
    ["serve"],
    ["ping"],
    ["get"],
    ["chat"],
    ["send"],
    ["peers"],
]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"pigeon {__version__}\n"


@pytest.mark.parametrize("command", COMMAND_PATHS, ids=" ".join)
def test_every_command_help_ends_with_an_example(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out.rstrip()
    example = out.rsplit("example:", 1)
    assert len(example) == 2, out
    assert example[1].strip().startswith("pigeon " + command[0])


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--debug", "--help"])
    listed = capsys.readouterr().out.split("positional arguments:", 1)[1]
    for command in COMMANDS:
        assert f"\n    {command} " in listed, command


def _cli_modules_after(argv: list[str]) -> set[str]:
    """The pigeon.cli modules loaded by building the parser for ``argv``, beyond the two that
    every run loads."""
    probe = (
        "import sys\n"
        "from pigeon.cli.dispatch import build_parser\n"
        f"build_parser({argv!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('pigeon.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(ast.literal_eval(out)) - {"pigeon.cli.common", "pigeon.cli.dispatch"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_imports_only_its_own_module(command: str) -> None:
    """Start-up: building the parser for one command leaves the other CLI modules unloaded."""
    module, _ = COMMANDS[command]
    assert _cli_modules_after(["--debug", command, "--help-not-parsed"]) == {f"pigeon.cli.{module}"}


@pytest.mark.parametrize("argv", [["--help"], ["gett", "x"]])
def test_the_listing_of_commands_imports_none_of_them(argv: list[str]) -> None:
    assert _cli_modules_after(argv) == set()


def test_top_level_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "example:" in out and "6 connection refused" in out and "10 datagram too long" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["udp"],
        ["tcp", "listen", "--reply", "x", "--echo"],
        ["ping", "h", "-c", "0"],
        ["udp", "send", "h", "1", "--wait", "-3"],
        ["nosuchcommand"],
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--help" in err, err


def test_unknown_encoding_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udp", "send", "127.0.0.1", "9", "x", "--encoding", "klingon"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pigeon: unknown encoding 'klingon' (try utf-8, gbk or gb18030)"
    )


def test_text_the_encoding_cannot_express(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udp", "send", "127.0.0.1", "9", "中", "--encoding", "ascii"]) == 2
    assert "cannot be written in ascii" in capsys.readouterr().err


def test_debug_shows_the_traceback() -> None:
    from pigeon.errors import InvalidPort

    with pytest.raises(InvalidPort):
        main(["udp", "send", "--debug", "127.0.0.1", "70000", "x"])


def test_ip_json_has_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ip", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {iface["name"] for iface in doc["interfaces"]}
    assert "lo" in names
    lo = next(iface for iface in doc["interfaces"] if iface["name"] == "lo")
    assert lo["up"] is True and lo["mtu"] > 0
    assert {k: v for k, v in lo["addresses"][0].items() if k != "broadcast"} == {
        "family": "ipv4",
        "address": "127.0.0.1",
        "prefix": 8,
    }


def test_ip_text_marks_the_lan_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ip"]) == 0
    out = capsys.readouterr().out
    assert "lo: up, mtu" in out
    assert "127.0.0.1/8" in out
    assert out.rstrip().splitlines()[-1].startswith(("* other machines", "no LAN address"))


@pytest.mark.parametrize(
    ("argv", "code", "stream", "expected"),
    [
        (["--version"], 0, "stdout", f"pigeon {__version__}\n"),
        (["ip", "--json"], 0, "stdout", '"interfaces"'),
        (["tcp", "connect", "127.0.0.1", "1", "--send", "x"], 6, "stderr", "refused"),
    ],
)
def test_the_console_entry_exits_at_once_with_output_flushed(
    argv: list[str], code: int, stream: str, expected: str
) -> None:
    """``run`` leaves through os._exit: buffered output (no PYTHONUNBUFFERED) must still
    arrive whole, and the exit code must be main's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-m", "pigeon", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode == code, done.stderr
    text = getattr(done, stream)
    assert expected in text
    if argv == ["ip", "--json"]:
        assert "interfaces" in json.loads(text)


def test_the_help_lists_every_exit_code_an_error_has() -> None:
    import inspect

    import pigeon.errors

    found = (getattr(cls, "exit_code", None) for _, cls in inspect.getmembers(pigeon.errors))
    codes = {code for code in found if isinstance(code, int)}
    listed = {int(word) for word in exit_codes_help().split() if word.isdigit()}
    assert codes <= listed, sorted(codes - listed)


def test_get_help_lists_the_exit_codes_of_a_download(capsys: pytest.CaptureFixture[str]) -> None:
    """A new user found none in ``pigeon get --help``; those of datagrams and ports stay out."""
    with pytest.raises(SystemExit):
        main(["get", "--help"])
    codes = capsys.readouterr().out.split("exit codes:\n", 1)[1]
    for code in (6, 13, 15, 16, 17, 19):
        assert f"{code} {EXIT_CODES[code]}" in codes, code
    for code in (4, 8, 10, 12):
        assert f"{code} {EXIT_CODES[code]}" not in codes, code


def test_exit_code_columns_line_up() -> None:
    heading, first, second = exit_codes_help((0, 1, 2, 3, 130, 17)).splitlines()
    assert heading == "exit codes:"
    assert second == "  130 interrupted 17 destination exists"
    assert first.index("1 other") == second.index("17 dest")
    assert first.endswith(" 2 usage error 3 port out of range")


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        # options anywhere among the words
        (["get", "h", "-r", "sub"], "paths", ["sub"]),
        (["get", "h", "-o", "o/", "f.txt", "-q"], "paths", ["f.txt"]),
        (["send", "alice", "--plain", "hello"], "text", "hello"),
        # after "--" every word is positional, wherever the "--" stands
        (["get", "--", "-o", "x"], "source", "-o"),
        (["get", "-q", "--", "-weird"], "source", "-weird"),
        (["get", "h", "a", "--", "-b"], "paths", ["a", "-b"]),
        (["send", "--", "-bob", "hi"], "target", "-bob"),
        (["chat", "--", "-peer"], "peers", ["-peer"]),
        (["udp", "send", "h", "9", "--", "-x"], "words", ["9", "-x"]),
        (["get", "-o", "out", "--", "-file"], "source", "-file"),  # OUT is -o's value
        # options between positionals, and a "--" after them
        (["send", "alice", "--plain", "--", "-x"], "text", "-x"),
        (["get", "h", "a", "-q", "b", "--", "-c"], "paths", ["a", "b", "-c"]),
        (["get", "h", "-o", "o/", "a", "--", "-c"], "paths", ["a", "-c"]),
        (["udp", "send", "h", "9", "--hex", "de", "--", "-ad"], "words", ["9", "de", "-ad"]),
    ],
)
def test_how_a_command_line_is_read(argv: list[str], field: str, value: object) -> None:
    from pigeon.cli.dispatch import build_parser

    assert getattr(build_parser(argv).parse_args(argv), field) == value
