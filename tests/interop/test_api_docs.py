"""The Python API: its public names, its error tree, lazy imports, the source forms it takes,
and every example of docs/api.md run as written against a real ``pigeon serve`` on loopback."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pigeon
from pigeon import errors
from tests.helpers import free_port, pigeon_server, source_root

pytestmark = pytest.mark.interop

NOTES = b"notes from the pigeon api test\n"
DOC = source_root() / "docs" / "api.md"


@pytest.fixture
def notes_server(tmp_path: Path) -> Iterator[int]:
    """pigeon serve on 127.0.0.1 sharing a folder with notes.txt; yields its port."""
    share = tmp_path / "share"
    share.mkdir()
    (share / "notes.txt").write_bytes(NOTES)
    port = free_port()
    with pigeon_server(["serve", str(share), "--port", str(port), "--bind", "127.0.0.1", "-q"]):
        yield port


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_api_page_has_an_example_for_each_public_function() -> None:
    code = "\n".join(_examples())
    functions = [n for n in pigeon.__all__ if inspect.isfunction(getattr(pigeon, n))]
    assert sorted(functions) == ["download", "download_async"]
    for name in functions:
        assert f"pigeon.{name}(" in code, name


@pytest.mark.parametrize("index", range(len(_examples())))
def test_each_example_of_the_api_page_runs(notes_server: int, tmp_path: Path, index: int) -> None:
    code = _examples()[index].replace("127.0.0.1:7890", f"127.0.0.1:{notes_server}")
    assert ":7890" not in code, "an example reaches port 7890 in a form not pointed at the test"
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{code}\n{result.stderr.decode()}"
    assert b"Traceback" not in result.stderr
    for written in work.rglob("*"):  # nothing but the file served, under any name
        assert written.is_dir() or written.read_bytes() in (NOTES, b"something else\n")


def test_dir_lists_the_public_names() -> None:
    """It used to show only TYPE_CHECKING."""
    names = dir(pigeon)
    assert names == sorted(pigeon.__all__)
    for name in ("download", "download_async", "DownloadResult", "PigeonError", "__version__"):
        assert name in names
    assert "TYPE_CHECKING" not in names


def test_every_error_a_caller_may_catch_is_exported() -> None:
    tree = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.PigeonError)
    }
    assert len(tree) == 21
    for name, cls in tree.items():
        assert name in pigeon.__all__, name
        assert getattr(pigeon, name) is cls
    assert pigeon.IntegrityError.exit_code == 15
    unknown = "Nope"  # by name: the type checker already refuses pigeon.Nope
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        getattr(pigeon, unknown)


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, check=True, timeout=30
    ).stdout
    return set(out.decode().split())


def test_imports_stay_lazy() -> None:
    plain = _modules_after("import pigeon")
    assert not {"asyncio", "h11", "pigeon.errors", "pigeon.aio.get"} & plain
    caught = _modules_after("import pigeon\npigeon.PigeonError")
    assert "pigeon.errors" in caught and "asyncio" not in caught
    assert "asyncio" in _modules_after("import pigeon\npigeon.download")


def test_help_starts_without_the_heavy_modules() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pigeon", "--help"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.decode().splitlines()}
    assert "pigeon.cli.main" in imported
    assert not {"asyncio", "h11", "rich", "pigeon.aio.get", "psutil"} & imported


@pytest.mark.parametrize(
    "form", ["http://127.0.0.1:{port}/notes.txt", "127.0.0.1:{port}/notes.txt"]
)
def test_download_takes_the_forms_its_docstring_names(
    notes_server: int, tmp_path: Path, form: str
) -> None:
    result = pigeon.download(form.format(port=notes_server), tmp_path / "got.txt")
    assert result.path == tmp_path / "got.txt" and result.bytes == len(NOTES)
    assert result.verified and (tmp_path / "got.txt").read_bytes() == NOTES


def test_download_takes_a_v6_host_port_path(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "notes.txt").write_bytes(NOTES)
    port = free_port(socket.SOCK_STREAM, host="::1")
    with pigeon_server(["serve", str(share), "--port", str(port), "--bind", "::1", "-q"]):
        result = pigeon.download(f"[::1]:{port}/notes.txt", f"{tmp_path}/v6/")
    assert result.path == tmp_path / "v6" / "notes.txt" and result.verified


def test_a_refused_download_raises_at_once(tmp_path: Path) -> None:
    port = free_port()
    notices: list[object] = []

    async def attempt() -> None:
        await pigeon.download_async(f"127.0.0.1:{port}/notes.txt", tmp_path, emit=notices.append)

    with pytest.raises(pigeon.ConnectionRefused):
        asyncio.run(attempt())
    assert notices == []  # no "retrying in ..." notice


def test_the_type_checkers_view_names_what_the_package_hands_out() -> None:
    """``pigeon/__init__.pyi`` (what mypy and editors read) and ``__init__.py`` (what runs)
    list the same public names, and the stub imports each one it lists."""
    stub = Path(pigeon.__file__).with_suffix(".pyi")
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    listed: list[str] = []
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            listed = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.ImportFrom):
            imported |= {alias.asname or alias.name for alias in node.names}
    assert listed == list(pigeon.__all__)
    assert imported == set(listed) - {"__version__"}
