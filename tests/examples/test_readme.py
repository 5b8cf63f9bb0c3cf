"""The README's, the tutorial's and the authentication how-to's shell commands, run as written.

The commands are read from the RST (README.rst's "Serve glancelet yourself"
blocks, the ``console`` blocks of doc/source/tutorial/first-image.rst and of
the "Try it by hand" section of doc/source/howto/authentication.rst) and
run one by one with bash, after the lab's rewrite (:mod:`lab.rewrite`, the
same as for every examples/ file) has changed their ports and paths: the
operator paths become the workspace's, ``/opt/glancelet`` and
``/opt/keystone`` the environment running the tests, ports 60999, 5000 and
11211 free ports of the test's own (not the examples session's Keystone and
memcached). Nothing else is changed.

What the test environment provides in place of the user's machine:

* the directory the commands run in stands for the checkout: its
  ``examples/`` holds the examples/ files, rewritten the same way; for the
  authentication how-to, which needs no checkout, it holds only the files
  its section offers as downloads (``:download:`` links), rewritten too;
* the ``python3 -m venv`` and ``pip install`` commands are not run:
  ``/opt/glancelet`` and ``/opt/keystone`` are the environment running the
  tests (re-creating it would replace the tests' own install), so the test
  checks that it has what those commands install;
* ``sudo apt-get install memcached`` is not run either: the test checks that
  memcached is installed and starts it on its port for 11211, as Debian's
  package starts its service;
* ``sudo`` runs its command as the test's user, who owns the workspace;
* the uWSGI start commands (glancelet's, Keystone's) run in the background
  (the docs start each in a terminal of its own), and the test waits until
  the server answers;
* an ``export`` command holds for the commands after it, as in the reader's
  shell.

The upload must round-trip: the downloaded copy equals the file
(``cmp``), and the image is active with the file's size and SHA-512.
"""

import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lab import keystone, launchers, memcached
from lab.client import CA_BUNDLE_VARIABLES, Api
from lab.harness import REPO_ROOT, Workspace, wait_ready

IMAGE_ID = "c0ffee00-1111-4a2b-8c3d-0123456789ab"
INSTALL_COMMANDS = ("python3 -m venv /opt/glancelet",
                    "/opt/glancelet/bin/pip install . uwsgi python-glanceclient")
START = "/opt/glancelet/bin/uwsgi --ini /etc/glancelet/glancelet-uwsgi.ini"
KEYSTONE_START = "/opt/keystone/bin/uwsgi --ini /etc/keystone/keystone-uwsgi.ini"
MEMCACHED_INSTALL = "sudo apt-get install memcached"
# Keystone's requirement line, which the authentication how-to spells out.
KEYSTONE_REQUIREMENT = next(
    line for line in (REPO_ROOT / "tests" / "keystone-requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#"))
# The authentication how-to's installs: {command: the programs (bin/) or
# modules it installs}.
AUTH_INSTALLS = {
    MEMCACHED_INSTALL: (),
    "python3 -m venv /opt/glancelet": (),
    "/opt/glancelet/bin/pip install '.[keystone]' uwsgi": (
        "uwsgi", "keystonemiddleware", "memcache", "cryptography"),
    "python3 -m venv /opt/keystone": (),
    "/opt/keystone/bin/pip install '%s' uwsgi python-openstackclient"
    % KEYSTONE_REQUIREMENT: ("keystone-manage", "uwsgi", "openstack"),
}
README_INSTALLS = {INSTALL_COMMANDS[0]: (), INSTALL_COMMANDS[1]: ("uwsgi", "glance")}
# The server starts: (name, port token it answers on, stop timeout, start deadline).
STARTS = {START: ("uwsgi", "60999", launchers.UWSGI_STOP_TIMEOUT, 60),
          KEYSTONE_START: ("keystone", "5000", 60, keystone.START_DEADLINE)}


def _blocks(rst):
    """The literal blocks of ``rst`` (after ``::`` or ``.. code-block::
    console``), each as its list of lines, indentation removed."""
    lines = rst.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if not (line.rstrip().endswith("::") and not line.lstrip().startswith(".. ")
                or line.strip() == ".. code-block:: console"):
            continue
        block = []
        for following in lines[i + 1:]:
            if following.strip() and not following.startswith(" "):
                break
            block.append(following)
        body = [b for b in block if b.strip()]
        indent = min(len(b) - len(b.lstrip()) for b in body)
        blocks.append([b[indent:] for b in body])
    return blocks


def commands(block):
    """(command, expected output lines) for each command of a block.

    With ``$`` prompts, the other lines are the command's output; without,
    every line is a command. A line ending in ``\\`` continues on the next."""
    prompted = any(line.startswith("$ ") for line in block)
    found = []
    continued = False
    for line in block:
        if continued:
            found[-1][0] += "\n" + line
        elif prompted and line.startswith("$ "):
            found.append([line[2:], []])
        elif prompted:
            found[-1][1].append(line)
        else:
            found.append([line, []])
        continued = line.endswith("\\")
    return [(cmd, output) for cmd, output in found]


def readme_commands():
    text = (REPO_ROOT / "README.rst").read_text()
    section = text[text.index("Serve glancelet yourself"):]
    return [c for block in _blocks(section) for c in commands(block)]


def tutorial_commands():
    text = (REPO_ROOT / "doc/source/tutorial/first-image.rst").read_text()
    return [c for block in _blocks(text) for c in commands(block)]


AUTH_PAGE = REPO_ROOT / "doc/source/howto/authentication.rst"
DOWNLOAD_RE = re.compile(r":download:`[^`<]*<([^>`]+)>`")


def auth_section():
    text = AUTH_PAGE.read_text()
    return text[text.index("\nTry it by hand\n"):text.index("\nHealth checks\n")]


def auth_commands():
    return [c for block in _blocks(auth_section()) for c in commands(block)]


def auth_downloads():
    """The files the section's ``:download:`` links offer."""
    return [(AUTH_PAGE.parent / target).resolve()
            for target in DOWNLOAD_RE.findall(auth_section())]


def test_the_commands_are_found():
    """The parser sees the blocks this test is about (a broken parser would
    otherwise run nothing and pass)."""
    for found in (readme_commands(), tutorial_commands()):
        cmds = [c for c, _ in found]
        assert cmds[0].startswith('sudo install -d -o "$(id -un)" /opt/glancelet '), cmds
        assert tuple(cmds[1:3]) == INSTALL_COMMANDS, cmds
        assert START in cmds
        assert any("image-create" in c and "--file test.img" in c for c in cmds), cmds
        assert "cmp test.img copy.img && echo same" in cmds


def test_the_auth_commands_are_found():
    """The authentication how-to's procedure, in its order: installs,
    Keystone, then glancelet with the drop-in, then the openstack client."""
    cmds = [c for c, _ in auth_commands()]
    assert set(AUTH_INSTALLS) <= set(cmds), cmds
    order = [KEYSTONE_START, "cp authtoken.conf /etc/glancelet/glancelet.conf.d/", START,
             "cmp test.img copy.img && echo same"]
    assert [c for c in cmds if c in order] == order, cmds
    assert any("openstack image create" in c and "--file test.img" in c for c in cmds), cmds


def test_the_auth_files_are_downloads_of_the_page():
    """No checkout: the commands name no repository path, and every file
    they install is offered by a link of the section, under its own name."""
    cmds = [c for c, _ in auth_commands()]
    assert not [c for c in cmds if "examples/" in c or "tests/" in c], cmds
    names = [path.name for path in auth_downloads()]
    assert sorted(names) == ["authtoken.conf", "glancelet-uwsgi.ini", "glancelet.conf",
                             "keystone-uwsgi.ini", "keystone.conf"], names
    assert all(path.parent.parent == REPO_ROOT / "examples" for path in auth_downloads())


def _sudo_as_the_user(bindir):
    """A ``sudo`` that runs its command as the test's user."""
    sudo = bindir / "sudo"
    sudo.write_text('#!/bin/sh\nexec "$@"\n')
    sudo.chmod(0o755)


def _checkout(ws, root):
    """A stand-in for the checkout: examples/, rewritten like every run."""
    for path in (REPO_ROOT / "examples").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            dst = root / path.relative_to(REPO_ROOT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(ws.rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")


def _downloads(ws, root):
    """A stand-in for the directory the reader saved the authentication
    how-to's downloads in: those files alone, rewritten like every run."""
    for path in auth_downloads():
        (root / path.name).write_text(ws.rewrite(path.read_text(encoding="utf-8")),
                                      encoding="utf-8")


def _run(command, cwd, env):
    primary, secondary = os.openpty()
    try:
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=cwd,
                              env=env, stdin=secondary, capture_output=True, text=True,
                              timeout=300)
    finally:
        os.close(primary)
        os.close(secondary)


def _check_installed(names):
    """Each of ``names`` is a program of the environment or a module it imports."""
    for name in names:
        assert ((Path(sys.prefix) / "bin" / name).exists()
                or importlib.util.find_spec(name) is not None), name


def _image_by_id(base_url, shell):
    return Api(base_url).get_image(IMAGE_ID)


def _image_named_first(base_url, shell):
    """Image ``first``, read with a token of the page's user (its exports);
    glancelet is behind Keystone: without a token, 401."""
    assert Api(base_url, user=None).request("GET", "/v2/images").status == 401
    openstack = Path(sys.prefix) / "bin" / "openstack"
    token = shell("%s token issue -f value -c id" % openstack).stdout.strip()
    images = [i for i in Api(base_url, token=token).list_images() if i["name"] == "first"]
    assert len(images) == 1, images
    return images[0]


# Each source: its commands, its installs (checked, not run), how the test
# finds the uploaded image, and what the directory the commands run in holds.
SOURCES = {"README": (readme_commands, README_INSTALLS, _image_by_id, _checkout),
           "tutorial": (tutorial_commands, README_INSTALLS, _image_by_id, _checkout),
           "authentication": (auth_commands, AUTH_INSTALLS, _image_named_first, _downloads)}


@pytest.mark.parametrize("name", list(SOURCES))
def test_commands_as_written(name, tmp_path):
    source, installs, find_image, workdir = SOURCES[name]
    ws = Workspace(tmp_path)
    checkout = tmp_path / "checkout"
    bindir = tmp_path / "bin"
    checkout.mkdir()
    bindir.mkdir()
    workdir(ws, checkout)
    _sudo_as_the_user(bindir)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in CA_BUNDLE_VARIABLES
           and k != "GLANCELET_CONFIG_FILE"}
    env["PATH"] = "%s:%s" % (bindir, env.get("PATH", "/usr/bin:/bin"))
    base_url = "http://127.0.0.1:%d" % ws.port("60999")
    exports = []
    started = {}

    def shell(command):
        done = _run("\n".join(exports + [command]), checkout, env)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done

    try:
        for command, output in source():
            if command in installs:
                _check_installed(installs[command])
                if command == MEMCACHED_INSTALL:
                    memcached.start_memcached(ws)
                continue
            if command in STARTS:
                server, port, stop_timeout, deadline = STARTS[command]
                started[server] = ws.spawn(server, shlex.split(ws.rewrite(command)),
                                           cwd=checkout, env=env, stop_timeout=stop_timeout,
                                           signal_ready=launchers.uwsgi_signal_ready)
                wait_ready("http://127.0.0.1:%d/" % ws.port(port), [started[server]],
                           deadline=deadline)
                continue
            command = ws.rewrite(command)
            uwsgi = started.get("uwsgi")
            if command.startswith("kill -TERM "):
                uwsgi.wait_signal_ready()
            done = shell(command)
            if command.startswith("export "):
                exports.append(command)
            if command.startswith("kill -TERM "):
                assert uwsgi.wait(launchers.UWSGI_STOP_TIMEOUT) == 0, uwsgi.log_text()
            if output:
                assert done.stdout.splitlines() == output, (command, done.stdout)
            if command.startswith("cmp test.img copy.img"):
                data = (checkout / "test.img").read_bytes()
                image = find_image(base_url, shell)
                assert (image["status"], image["size"]) == ("active", len(data))
                assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
        assert "uwsgi" in started, "no uWSGI start command"
    finally:
        errors = ws.stop_all()
    assert not errors, errors
    ws.remove()
