"""The command line behaves like the kernel's and git's tools: --version, -h, shell
completion, errors that name the file and line, text wrapped to the terminal
and paged on a terminal only, NO_COLOR.

Terminal behaviour is tested on a real pseudo-terminal (the pty module), with
the pager a plain command that marks what went through it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from conftest import NETGUARD, REPO

EXAMPLE = str(REPO / "examples" / "zap-shmem-uffd-v4.mbox")
MARK = "PAGED:"


def run_pty(*args: str, env: dict | None = None, columns: int = 80) -> str:
    """Run reviewkit with stdout and stderr on a pseudo-terminal COLUMNS wide; return
    what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full = {k: v for k, v in os.environ.items()
            if k not in ("COLUMNS", "LINES", "NO_COLOR", "PAGER", "REVIEWKIT_PAGER")}
    full.update(PYTHONPATH=str(NETGUARD), TERM="xterm", **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "reviewkit", *args], stdin=slave,
                            stdout=slave, stderr=slave, cwd=REPO, env=full, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_version_and_short_help(cli):
    from reviewkit import __version__

    for args in (("--version",), ("version",)):
        proc = cli(*args)
        assert (proc.returncode, proc.stdout.decode()) == (0, f"reviewkit {__version__}\n")
    for args in (("-h",), ("review", "-h"), ("rules", "show", "-h"), ("b4-check", "-h")):
        proc = cli(*args)
        assert proc.returncode == 0 and b"Usage: reviewkit " in proc.stdout, args
    assert b"--no-pager" in cli("-h").stdout


def test_bash_completion_completes_commands_and_choices(cli, tmp_path):
    script = cli("completion", "bash").stdout.decode()
    assert "_REVIEWKIT_COMPLETE" in script
    # a real bash, with reviewkit on PATH as installed
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "reviewkit").write_text(f"#!/bin/sh\nexec {sys.executable} -m reviewkit \"$@\"\n")
    (bindir / "reviewkit").chmod(0o755)
    (tmp_path / "completion.bash").write_text(script)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        proc = subprocess.run(
            ["bash", "--norc", "-c", f'source {tmp_path / "completion.bash"}; '
             f'COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _reviewkit_completion reviewkit; '
             'printf "%s\\n" "${COMPREPLY[@]}"'],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
                 "PYTHONPATH": str(NETGUARD)})
        return proc.stdout.split()

    assert "review" in complete("reviewkit", "rev")
    assert complete("reviewkit", "review", "--for") == ["--format"]
    assert complete("reviewkit", "review", "--format", "''") == [
        "text", "terse", "json", "email", "html"]
    assert complete("reviewkit", "check", "--format", "j") == ["json"]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_waiver_with_unknown_rule_names_file_and_line(cli, tmp_path):
    w = write(tmp_path / "waivers.yaml",
              "- rule: mm/zap-details-skip-helper-sense\n"
              "  reason: renamed in v5\n"
              "\n"
              "- rule: mm/zap-detials-skip-helper-sense\n"
              "  reason: typo in the id\n")
    proc = cli("review", EXAMPLE, "--waivers", str(w))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode() == (
        f"reviewkit: error: {w}:4: waiver 2: 'mm/zap-detials-skip-helper-sense' names no rule "
        "(see 'reviewkit rules list')\n")
    # a glob that names rules is fine, and waives
    ok = write(tmp_path / "ok.yaml", "- rule: 'mm/zap-*'\n  reason: discussed\n")
    proc = cli("review", EXAMPLE, "--waivers", str(ok), "-f", "terse")
    assert proc.returncode == 1 and b"zap-details-skip-helper-sense" not in proc.stdout


def test_waiver_yaml_errors_carry_the_line(cli, tmp_path):
    w = write(tmp_path / "broken.yaml",
              "- rule: mm/zap-details-skip-helper-sense\n"
              "  reason: fine\n"
              "- rule: [unclosed\n"
              "  reason: x\n")
    proc = cli("review", EXAMPLE, "--waivers", str(w))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.startswith(f"reviewkit: error: {w}: waivers: not valid YAML: line ")
    line = int(err.split("YAML: line ")[1].split(":")[0])
    assert line in (3, 4, 5)
    assert "Traceback" not in err
    missing = write(tmp_path / "missing.yaml", "- rule: mm/zap-details-skip-helper-sense\n"
                                               "  reason: fine\n\n"
                                               "- reason: no rule\n")
    proc = cli("review", EXAMPLE, "--waivers", str(missing))
    assert proc.stderr.decode().startswith(f"reviewkit: error: {missing}:4: waiver 2: 'rule'")


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
def test_unknown_rule_patterns_are_errors(cli, flag):
    proc = cli("review", EXAMPLE, flag, "mm/no-such-rule")
    assert proc.returncode == 2
    assert proc.stderr.decode() == (f"reviewkit: error: {flag}: 'mm/no-such-rule' matches no "
                                    "rule (see 'reviewkit rules list')\n")


def test_text_pages_on_a_terminal_only():
    pager = {"PAGER": f"sed s/^/{MARK}/"}
    shown = run_pty("review", EXAMPLE, env={**pager, "NO_COLOR": "1"})
    lines = [ln for ln in shown.splitlines() if ln]
    assert lines and all(ln.startswith(MARK) for ln in lines)
    assert any("mm/dirty-pte-mkdirty-unconditional" in ln for ln in lines)
    # REVIEWKIT_PAGER wins over PAGER; an empty one means no pager
    own = run_pty("review", EXAMPLE, env={**pager, "REVIEWKIT_PAGER": "sed s/^/OWN:/",
                                          "NO_COLOR": "1"})
    assert all(ln.startswith("OWN:") for ln in own.splitlines() if ln)
    plain = run_pty("review", EXAMPLE, env={**pager, "REVIEWKIT_PAGER": "", "NO_COLOR": "1"})
    assert MARK not in plain and "mm/dirty-pte-mkdirty-unconditional" in plain
    # --no-pager, as git's
    for args in (("--no-pager", "review", EXAMPLE), ("-P", "review", EXAMPLE)):
        out = run_pty(*args, env={**pager, "NO_COLOR": "1"})
        assert MARK not in out and "mm/dirty-pte-mkdirty-unconditional" in out
    # never when the output is not a terminal
    piped = subprocess.run([sys.executable, "-m", "reviewkit", "review", EXAMPLE],
                           capture_output=True, cwd=REPO, timeout=120,
                           env={**os.environ, **pager, "PYTHONPATH": str(NETGUARD)})
    assert MARK.encode() not in piped.stdout and b"mfill_atomic_install_pte" in piped.stdout
    # rules show pages too
    doc = run_pty("rules", "show", "mm/pte-used-after-unmap", env={**pager, "NO_COLOR": "1"})
    assert all(ln.startswith(MARK) for ln in doc.splitlines() if ln)


def test_text_wraps_to_the_terminal():
    piped = subprocess.run([sys.executable, "-m", "reviewkit", "review", EXAMPLE],
                           capture_output=True, cwd=REPO, timeout=120, text=True,
                           env={**os.environ, "PYTHONPATH": str(NETGUARD)})
    assert max(len(ln) for ln in piped.stdout.splitlines()) > 100  # a file is not wrapped
    shown = run_pty("--no-pager", "review", EXAMPLE, env={"NO_COLOR": "1"}, columns=72)
    lines = shown.splitlines()
    prose = [ln for ln in lines if not ln.strip().startswith(("|", "http"))]
    assert max(len(ln) for ln in prose) <= 72
    # the wrapped message keeps its indent, and no word is lost
    joined = " ".join(" ".join(lines).split())
    assert ("mfill_atomic_install_pte() now applies pte_mkdirty() unconditionally; before the "
            "patch it was guarded by") in joined
    start = next(i for i, ln in enumerate(lines) if "now applies pte_mkdirty()" in ln)
    assert lines[start].startswith("      ") and lines[start + 1].startswith("      ")
    # quoted code is never wrapped
    assert any(ln.strip().startswith("| +") for ln in lines)


def test_no_color_everywhere():
    coloured = run_pty("--no-pager", "review", EXAMPLE)
    assert "\x1b[" in coloured  # a terminal gets colour ...
    for args in (("--no-pager", "review", EXAMPLE), ("-h",), ("review", "-h"),
                 ("review", "/no/such/file")):
        out = run_pty(*args, env={"NO_COLOR": "1"})
        assert "\x1b[" not in out, args  # ... unless NO_COLOR says otherwise
