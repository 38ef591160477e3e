#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""setup-programs.py - every program the scripts and tests run comes from a package setup installs.

On a fresh Debian 12 machine the README's two commands,
"scripts/setup.sh && scripts/test.sh" and "scripts/setup.sh &&
scripts/demo.sh", must find every program they run.  A program that a
machine happens to have (Debian's qemu-system-x86 once hid that
libvirtd wanted a system QEMU) makes them fail on the next fresh one.
Two steps:

  scan      read every script and test (scripts/, tests/, bench/, .ci/:
            shell command positions, Python subprocess argument lists,
            and the argv[0] of programs qdamo's C code spawns) and list
            the programs they run; each must be in PROGRAMS below, so a
            newly used program makes this fail until it is added there
            (and its package to setup);
  packages  each program in PROGRAMS is in the system's directories
            (SYSTEM_PATH: what a fresh machine's PATH finds, without
            /usr/local or a user's own Python), and dpkg -S on its
            resolved path names a package that setup installs: one that
            "scripts/setup.sh --print-packages" names (setup.sh's,
            setup-libvirt.sh's and build-qemu.sh's lists), one they
            depend on (apt-cache depends, first alternatives), or one of
            Debian's base system (Essential or Priority required, which
            debootstrap always installs).

Prints a PASS/FAIL line per step and a RESULT line; exits 0 only if
both passed.
"""

import ast
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, env, report  # noqa: E402
from harness.report import Failed  # noqa: E402

# What the scripts and tests run, and for what.  Those found by the scan
# must all be here; some are not found by it (run through a variable).
PROGRAMS = {
    # building and running the tests (scripts/test.sh, demo.sh, .ci/run)
    "meson": "configures the builds (test.sh, demo.sh, tests/libvirt)",
    "ninja": "builds (test.sh, demo.sh, mkinitrd.sh, build-qemu.sh)",
    "cc": "the C compiler meson and QEMU's configure find",
    "gcc": "tests/guest/build.sh",
    "ld": "tests/guest/build.sh links the workload guest",
    "objcopy": "tests/guest/build.sh",
    "pkg-config": "meson's and QEMU's dependency lookups",
    "python3": "the Python tests, benchmarks and demo; QEMU's configure",
    "setarch": "test.sh runs the TSan tests under setarch -R",
    "timeout": "test.sh bounds every test",
    # the libvirt test and qdamo
    "virsh": "tests/libvirt",
    "libvirtd": "tests/libvirt starts it (harness.libvirt)",
    "virtlogd": "tests/libvirt starts it (harness.libvirt)",
    "gnuplot": "qdamo report heatmap --output (tests/libvirt)",
    # packages and sources
    "apt-get": "setup.sh, setup-libvirt.sh, build-qemu.sh, mkinitrd.sh",
    "apt-cache": "build-qemu.sh, mkinitrd.sh",
    "dpkg": "version comparisons (apt-lib.sh, build-qemu.sh)",
    "dpkg-query": "apt-lib.sh's missing_pkgs, tests/libvirt",
    "dpkg-source": "build-qemu.sh unpacks QEMU's source package",
    "dpkg-deb": "mkinitrd.sh unpacks the kernel and busybox",
    "patch": "build-qemu.sh applies qemu-patches/",
    "rsync": "build-qemu.sh updates _work/qemu-src",
    "ccache": "build-qemu.sh's compiler (--cc='ccache cc')",
    "getent": "setup-libvirt.sh",
    "groupadd": "setup-libvirt.sh makes the libvirt-qemu group",
    "useradd": "setup-libvirt.sh makes the libvirt-qemu user",
    # the nested-KVM harness's initramfs (tests/nested/mkinitrd.sh)
    "cpio": "mkinitrd.sh",
    "xz": "mkinitrd.sh decompresses the kernel modules",
    "gzip": "mkinitrd.sh compresses the initramfs",
    "ldd": "mkinitrd.sh copies QEMU's libraries",
    "strip": "mkinitrd.sh strips the inner QEMU",
    "modinfo": "mkinitrd.sh checks the module order",
    "flock": "build-qemu.sh, mkinitrd.sh and build-kernel.sh: one build at a time",
    # the nested-KVM harness's own kernel (tests/nested/build-kernel.sh)
    "make": "build-kernel.sh builds Debian's linux-source-6.12",
    "nice": "build-kernel.sh runs make at nice 10",
    "flex": "the kernel build (build-kernel.sh checks it is there)",
    "bison": "the kernel build (build-kernel.sh checks it is there)",
    "bc": "the kernel build (build-kernel.sh checks it is there)",
    "setpriv": "mkinitrd.sh copies it in to run the inner QEMU unprivileged; "
               "tests/qdamo/test-idle-page.py runs qdamo as nobody",
    # shell tools
    "awk": "", "basename": "", "cat": "", "chmod": "", "cmp": "", "cp": "",
    "cut": "", "date": "", "dirname": "", "du": "", "env": "", "find": "", "grep": "",
    "head": "", "id": "", "ln": "", "mkdir": "", "mktemp": "", "mv": "", "nproc": "", "od": "",
    "readlink": "", "realpath": "", "rm": "", "sed": "", "sha256sum": "",
    "sleep": "", "sort": "", "stat": "", "tail": "", "tar": "", "tee": "", "touch": "",
    "tr": "", "uname": "",
}
# Used only in cases setup does not bring about: not checked.
NOT_NEEDED = {
    "qemu-system-x86_64": "Debian's QEMU (qemu-system-x86), used only if there: "
    "tests/libvirt's err-no-damon step is SKIPped without it and the nested "
    "harness tries it as the outer QEMU when ours fails; every test runs "
    "qdamon's own QEMU, and libvirt needs no system QEMU (harness.libvirt)",
    "sudo": "only when not root (the README's commands run as root or with sudo)",
    "zstd": "only for a kernel whose modules are .ko.zst (bookworm-backports' 6.12 has .ko.xz)",
}

SCAN_DIRS = ("scripts", "tests", "bench", ".ci")
# Where packages put programs; /usr/local is the administrator's
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
C_DIRS = ("src",)

# ---------------------------------------------------------------------------
# The scan: shell

SHELL_WORDS = set("""
    ! [ [[ ]] { } case do done elif else esac fi for function if in select then
    time until while . : alias bg break builtin cd command continue declare echo
    eval exec exit export false fg getopts hash jobs kill let local printf pwd
    read readonly return set shift source test trap true type typeset ulimit
    umask unalias unset wait mapfile readarray
""".split())
# Run their argument as a command: sudo CMD, env [VAR=V] CMD, ...
WRAPPERS = {"sudo", "env", "exec", "command", "nice", "nohup", "time", "timeout", "xargs"}
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")
FUNC_RE = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)", re.M)
HEREDOC_RE = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


def strip_heredocs(text):
    """The text with the bodies of here-documents blanked (they are data,
    or run elsewhere: mkinitrd.sh's /init runs in the outer VM)."""
    out, end = [], None
    for line in text.split("\n"):
        if end is not None:
            out.append("")
            if line.strip() == end:
                end = None
            continue
        m = HEREDOC_RE.search(line) if "<<<" not in line else None
        if m:
            end = m.group(2)
        out.append(line)
    return "\n".join(out)


def _matching(text, i, open_, close):
    """Index just past the close that matches text[i - 1] == open_,
    minding quotes and nesting."""
    depth, quote = 1, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def shell_tokens(text, subst):
    """Words and operators of shell text: ("w", word, plain, line) and
    ("op", text, None, line).  A word is plain when it has no quotes or
    expansions.  Each $(...) and `...` is handed to subst(text, line)
    and left out; arithmetic, ${...} and array literals stay inside
    their word."""
    toks, i, n, line = [], 0, len(text), 1
    word, plain, quote = "", True, None

    def flush():
        nonlocal word, plain
        if word:
            toks.append(("w", word, plain, line))
        word, plain = "", True

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if quote == "'":
            word += c
            quote = None if c == "'" else quote
            i += 1
            continue
        if c == "\\" and text.startswith("\n", i + 1):       # a continued line
            line += 1
            i += 2
            continue
        if c == "\\" and i + 1 < n:
            word += text[i:i + 2]
            plain = False
            i += 2
            continue
        if c == "$" and text.startswith("$((", i):
            j = _matching(text, i + 3, "(", ")")
            word, plain = word + text[i:j + 1], False
            line += text[i:j + 1].count("\n")
            i = j + 1
            continue
        if c == "$" and text.startswith("$(", i):
            j = _matching(text, i + 2, "(", ")")
            subst(text[i + 2:j - 1], line)
            word, plain = word + "$_", False
            line += text[i:j].count("\n")
            i = j
            continue
        if c == "`":
            j = text.find("`", i + 1)
            j = n if j < 0 else j
            subst(text[i + 1:j], line)
            word, plain = word + "$_", False
            line += text[i:j].count("\n")
            i = j + 1
            continue
        if c == "$" and text.startswith("${", i):
            j = _matching(text, i + 2, "{", "}")
            word, plain = word + text[i:j], False
            line += text[i:j].count("\n")
            i = j
            continue
        if c == "$":
            plain = False
        if quote == '"':
            word += c
            quote = None if c == '"' else quote
            i += 1
            continue
        if c in "'\"":
            quote, plain = c, False
            word += c
            i += 1
            continue
        if c == "(" and word.endswith("="):          # NAME=( ... )
            j = _matching(text, i + 1, "(", ")")
            word += text[i:j]
            line += text[i:j].count("\n")
            i = j
            continue
        if c == "#" and not word:                   # a comment
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if c in " \t\r\n;&|()<>":
            flush()
            if c in " \t\r":
                i += 1
                continue
            j = i + 1
            while j < n and text[j] in ";&|<>" and c in ";&|<>":
                j += 1
            op = text[i:j]
            if c in "<>" and text.startswith("&", j):     # >&2, 2>&1
                j += 1
                while j < n and (text[j].isdigit() or text[j] == "-"):
                    j += 1
                op = text[i:j]
            toks.append(("op", op, None, line))
            i = j
            continue
        word += c
        i += 1
    flush()
    return toks


def shell_commands(text, functions):
    """[(program, line)] that shell text runs: the words in command
    position that are plain names, not shell words or functions."""
    found = []
    toks = shell_tokens(strip_heredocs(text), lambda sub, line: found.extend(
        (p, line + l - 1) for p, l in shell_commands(sub, functions)))
    cmd = True          # the next word is in command position
    wrapped = None      # the wrapper whose command comes next
    skip_to = None      # words to pass over until this one
    redirect = False    # the next word is a redirection's target
    case_pattern = []   # per open case: in its patterns now?
    for k, (kind, text_, plain, line) in enumerate(toks):
        if kind == "op":
            if case_pattern and case_pattern[-1] and text_ == ")":
                case_pattern[-1] = False
                cmd = True
            elif text_ in (";;", ";&", ";;&") and case_pattern:
                case_pattern[-1] = True
            elif text_[0] in "<>":
                redirect = "&" not in text_         # >&2 takes no word
            elif skip_to not in ("in", "]]"):
                cmd, wrapped, redirect = True, None, False
            continue
        word = text_
        if skip_to:
            if word == skip_to:
                if skip_to == "in" and case_pattern:
                    case_pattern[-1] = True
                skip_to = None
            continue
        if redirect:
            redirect = False
            continue
        if case_pattern and case_pattern[-1]:
            if word == "esac":
                case_pattern.pop()
            continue
        if wrapped:
            if word.startswith("-") or re.match(r"^\w+=", word) or \
                    (wrapped == "timeout" and word[0].isdigit()):
                continue
            wrapped = None
            cmd = True
        if not cmd:
            continue
        cmd = False
        if word in ("$SUDO", '"$SUDO"', "${SUDO}"):
            wrapped, cmd = "sudo", True
            continue
        if re.match(r"^[A-Za-z_]\w*(\[[^]]*\])?\+?=", word):       # VAR=value cmd
            cmd = True
            continue
        if word == "case":
            case_pattern.append(False)
            skip_to = "in"
            continue
        if word == "esac" and case_pattern:
            case_pattern.pop()
            continue
        if word == "for":
            skip_to = "do"
            continue
        if word == "[[":
            skip_to = "]]"
            continue
        if word in ("if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"):
            cmd = True
            continue
        if word == "function":          # the next word names a function
            continue
        if not plain or not NAME_RE.match(word) or word in SHELL_WORDS:
            if word in ("exec", "command"):
                wrapped, cmd = word, True
            continue
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if word in functions or (nxt and nxt[1] == "("):
            continue
        found.append((word, line))
        if word in WRAPPERS:
            wrapped, cmd = word, True
    return found


# ---------------------------------------------------------------------------
# The scan: Python and C

SPAWN_CALLS = {"run", "Popen", "call", "check_call", "check_output", "command"}


SYSTEM_PROGRAM_RE = re.compile(r"^/(?:usr/)?s?bin/([A-Za-z][A-Za-z0-9_.+-]*)$")


def python_commands(text):
    """[(program, line)]: the first element of a list given to
    subprocess.run/Popen/... (or a run() helper), when it is a string
    that is a program name rather than a path; and every string that is
    the path of a system program (/usr/bin/X and the like)."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = SYSTEM_PROGRAM_RE.match(node.value)
            if m:
                found.append((m.group(1), node.lineno))
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name not in SPAWN_CALLS:
            continue
        argv = node.args[0]
        while isinstance(argv, ast.BinOp):
            argv = argv.left
        if isinstance(argv, (ast.List, ast.Tuple)) and argv.elts and \
                isinstance(argv.elts[0], ast.Constant) and \
                isinstance(argv.elts[0].value, str) and NAME_RE.match(argv.elts[0].value):
            found.append((argv.elts[0].value, node.lineno))
    return found


C_SPAWN_RE = re.compile(r'argv\[0\]\s*=\s*(?:\([^)]*\))?\s*"([^"/]+)"'
                        r'|\b(?:execlp|execvp|g_spawn_command_line_\w+)\s*\(\s*"([^" /]+)')


def c_commands(text):
    return [(m.group(1) or m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in C_SPAWN_RE.finditer(text)]


def source_files():
    """(path, kind) of every script, test and tool source to scan."""
    for top, kinds in ((SCAN_DIRS, ("sh", "py")), (C_DIRS, ("c",))):
        for d in top:
            for base, dirs, files in os.walk(os.path.join(env.ROOT, d)):
                dirs[:] = [x for x in dirs if x != "__pycache__"]
                for f in sorted(files):
                    path = os.path.join(base, f)
                    kind = f.rsplit(".", 1)[-1] if "." in f else None
                    if kind is None and os.access(path, os.X_OK):
                        with open(path, errors="replace") as fh:
                            first = fh.readline()
                        kind = "sh" if "sh" in first else "py" if "python" in first else None
                    if kind in kinds:
                        yield path, kind


def scan():
    """{program: ["file:line", ...]} of everything the sources run."""
    files = list(source_files())
    texts = {}
    for path, _ in files:
        with open(path, errors="replace") as f:
            texts[path] = f.read()
    functions = set()
    for path, kind in files:
        if kind == "sh":
            functions.update(FUNC_RE.findall(texts[path]))
    used = {}
    for path, kind in files:
        text = texts[path]
        found = {"sh": lambda t: shell_commands(t, functions),
                 "py": python_commands, "c": c_commands}[kind](text)
        for prog, line in found:
            used.setdefault(prog, []).append("%s:%d" % (os.path.relpath(path, env.ROOT), line))
    return used


# ---------------------------------------------------------------------------
# Packages

def command(argv, check=True):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise Failed("%s exited %d: %s" % (" ".join(argv), p.returncode,
                                           (p.stderr or p.stdout).strip()[-300:]))
    return p.stdout


def setup_packages():
    """The packages scripts/setup.sh installs by name, with the script
    that names each."""
    out = command([os.path.join(env.ROOT, "scripts", "setup.sh"), "--print-packages"])
    named = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2:
            named.setdefault(f[1], f[0])
    if not named:
        raise Failed("scripts/setup.sh --print-packages named no package")
    return named


def depends(names):
    """{package: [packages it needs]}: Depends and Pre-Depends, the first
    of each set of alternatives, a virtual package's first provider."""
    out = command(["apt-cache", "depends", "--no-recommends", "--no-suggests",
                   "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
                  + sorted(names), check=False)
    deps, pkg, pick, alt = {}, None, None, False
    for line in out.splitlines():
        if not line.startswith(" "):
            pkg = line.strip()
            deps[pkg] = []
            pick, alt = None, False
            continue
        s = line.strip()
        if ":" in s and s.split(":", 1)[0].lstrip("|") in ("Depends", "PreDepends"):
            target = s.split(":", 1)[1].strip()
            if not alt:                 # the first of a set of alternatives
                pick = target
                if not target.startswith("<"):
                    deps[pkg].append(target.split(":")[0])
            alt = s.startswith("|")
        elif line.startswith("    ") and pick and pick.startswith("<"):
            deps[pkg].append(s.split(":")[0])      # the virtual package's provider
            pick = None
    return deps


def closure(names):
    """Every package that installing names brings in."""
    seen, todo = set(), set(names)
    while todo:
        seen |= todo
        found = depends(todo)
        todo = {d for ds in found.values() for d in ds} - seen
    return seen


def base_system():
    """Installed packages every Debian system has: Essential, or
    Priority required."""
    out = command(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\n"])
    return {f[0] for f in (line.split("\t") for line in out.splitlines())
            if len(f) == 3 and (f[1] == "yes" or f[2] == "required")}


def package_of(prog):
    """(resolved path, package) of a program in SYSTEM_PATH; package
    None when dpkg knows no package for it."""
    path = shutil.which(prog, path=SYSTEM_PATH)
    if path is None:
        return None, None
    real = os.path.realpath(path)
    tries = []
    for p in (real, path):
        tries.append(p)
        # merged /usr: dpkg may know /bin/x for /usr/bin/x and the reverse
        if p.startswith("/usr/"):
            tries.append(p[4:])
        else:
            tries.append("/usr" + p)
    for p in tries:
        out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pkgs, _, file = line.partition(": ")
            if file.strip() == p and not pkgs.startswith("diversion"):
                return real, pkgs.split(",")[0].strip().split(":")[0]
    return real, None


# ---------------------------------------------------------------------------

def step_scan(rep):
    used = scan()
    unknown = {p: where for p, where in used.items()
               if p not in PROGRAMS and p not in NOT_NEEDED}
    for prog, where in sorted(used.items()):
        rep.info("%-12s %s%s" % (prog, ", ".join(where[:3]),
                                 " (+%d)" % (len(where) - 3) if len(where) > 3 else ""))
    if unknown:
        raise Failed("run by the scripts or tests but not in PROGRAMS (add it there, "
                     "and its package to setup): %s"
                     % "; ".join("%s at %s" % (p, ", ".join(w[:3]))
                                 for p, w in sorted(unknown.items())))
    rep.figures["programs_found"] = len(used)
    rep.ok("scan", "%d programs run by %d scripts and tests, all in the list of %d"
           % (len(used), len(list(source_files())), len(PROGRAMS)))


def step_packages(rep):
    named = setup_packages()
    installed = closure(named)
    base = base_system()
    bad = []
    for prog in sorted(PROGRAMS):
        path, pkg = package_of(prog)
        if path is None:
            bad.append("%s: not in %s" % (prog, SYSTEM_PATH))
            continue
        mine = shutil.which(prog)
        if mine and os.path.realpath(mine) != path:
            rep.info("%-12s note: this PATH finds %s first" % (prog, mine))
        if pkg is None:
            bad.append("%s: %s belongs to no package (dpkg -S)" % (prog, path))
            continue
        if pkg in named:
            how = "named by %s" % named[pkg]
        elif pkg in installed:
            how = "a dependency"
        elif pkg in base:
            how = "base system"
        else:
            bad.append("%s: %s is in package %s, which setup does not install"
                       % (prog, path, pkg))
            continue
        rep.info("%-12s %-34s %-26s %s" % (prog, path, pkg, how))
    if bad:
        raise Failed("; ".join(bad))
    rep.figures.update(packages_named=len(named), packages_with_deps=len(installed))
    rep.ok("packages", "%d programs, each from a package setup installs (%d named by "
           "setup.sh, setup-libvirt.sh and build-qemu.sh, %d with their dependencies) "
           "or from the base system" % (len(PROGRAMS), len(named), len(installed)))


def run(rep):
    report.run_steps(rep, [("scan", lambda: step_scan(rep)),
                           ("packages", lambda: step_packages(rep))])


if __name__ == "__main__":
    harg.parser(__doc__).parse_args()
    report.main("setup-programs", run)
