# Chiffon's Ansible callback plugin: streams one JSON object per line over the Unix socket
# named by CHIFFON_EVENTS_SOCKET, so the infra agent gets structured, live events instead of
# scraping text. Shipped inside the chiffon binary and written out next to its data dir.
#
# Enabled with ANSIBLE_CALLBACK_PLUGINS=<dir> and ANSIBLE_CALLBACKS_ENABLED=chiffon_events;
# the normal stdout callback keeps printing the human log.
from __future__ import annotations

DOCUMENTATION = """
name: chiffon_events
type: notification
short_description: Stream structured run events to the Chiffon infra agent
description:
  - Writes playbook, play, task and result events as JSON lines to a Unix socket.
  - Honours no_log; failure messages are truncated.
requirements:
  - CHIFFON_EVENTS_SOCKET set to the socket path the agent listens on
"""

import difflib
import hashlib
import json
import os
import shlex
import socket
import time

from ansible.plugins.callback import CallbackBase

MAX_MSG = 2000
MAX_DIFF = 20000
# The most bytes of a file's content kept for undo (Chiffon's MAX_KEPT_CONTENT).
MAX_KEPT = 256 * 1024

# Modules whose changes are files, and the result key that names the file.
FILE_MODULES = {
    "template": "dest", "copy": "dest", "lineinfile": "path", "blockinfile": "path",
    "replace": "path", "file": "path", "get_url": "dest", "unarchive": "dest",
    "assemble": "dest", "ini_file": "path",
}
COMMAND_MODULES = {"command", "shell", "raw", "script", "expect"}
PACKAGE_MODULES = {"package", "apt", "dnf", "yum", "pip", "apk", "pacman", "zypper", "snap"}
SERVICE_MODULES = {"service", "systemd", "systemd_service", "sysvinit"}
CONTAINER_MODULES = {
    "docker_container", "docker_compose_v2", "docker_compose", "podman_container",
    "docker_image", "podman_image", "docker_network", "docker_volume",
}
# A debug message that starts so is a warning for the person (see _warnings_of).
WARNING_PREFIX = "WARNING:"
# A task tagged so matters: skipping it is a warning.
KEY_TAG = "chiffon_key"
# Where Ansible keeps its temporary copies (never a path the person knows).
TEMP_MARKS = ("/.ansible/tmp/", "/ansible-local-", "/ansible-tmp-")
DEBUG_ACTIONS = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")


def _answer_absent_peeks():
    """Spare Ansible's diff one module run per file a task creates.

    With --diff (real runs capture the previous content; dry runs show it), Ansible's copy and
    template actions look at the destination again before writing: a `file` module run with
    `_diff_peek` (does it exist, is it binary), then `slurp` when it does. The same action ran
    `stat` on that path just before, so when that stat said the file does not exist, the peek's
    answer is known: "absent". This answers that one question from the stat; every other peek,
    and every file that exists, goes through Ansible's own code unchanged. Installed only when
    Ansible's internals have the names and parameters read here, so another Ansible version at
    worst runs its own, slower path. Workers are forked from the process that loads this
    plugin, so they inherit it.
    """
    try:
        import inspect

        from ansible.plugins.action import ActionBase
    except Exception:  # not inside ansible-playbook
        return False
    if getattr(ActionBase, "_chiffon_absent_peeks", False):
        return True
    remote_stat = getattr(ActionBase, "_execute_remote_stat", None)
    diff_data = getattr(ActionBase, "_get_diff_data", None)
    try:
        expected = (
            list(inspect.signature(remote_stat).parameters)[:4] == ["self", "path", "all_vars", "follow"]
            and list(inspect.signature(diff_data).parameters)[:4] == ["self", "destination", "source", "task_vars"]
            and "module_args" in inspect.signature(ActionBase._execute_module).parameters
        )
    except (TypeError, ValueError, AttributeError):
        expected = False
    if not expected:
        return False

    def stat_and_remember(self, path, all_vars, follow, *args, **kwargs):
        found = remote_stat(self, path, all_vars, follow, *args, **kwargs)
        self._chiffon_stat = (path, bool(found.get("exists")))
        return found

    def diff_with_known_absence(self, destination, *args, **kwargs):
        seen, self._chiffon_stat = getattr(self, "_chiffon_stat", None), None
        if seen != (destination, False):
            return diff_data(self, destination, *args, **kwargs)
        run_module = self._execute_module

        def answered(*margs, **mkwargs):
            module_args = mkwargs.get("module_args", margs[1] if len(margs) > 1 else None) or {}
            if module_args.get("_diff_peek") and module_args.get("path") == destination:
                return {"changed": False, "state": "absent"}
            return run_module(*margs, **mkwargs)

        self._execute_module = answered
        try:
            return diff_data(self, destination, *args, **kwargs)
        finally:
            del self._execute_module

    ActionBase._execute_remote_stat = stat_and_remember
    ActionBase._get_diff_data = diff_with_known_absence
    ActionBase._chiffon_absent_peeks = True
    return True


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "chiffon_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sock = None
        self._task_started = {}
        # Set by the agent on real runs: record what each task changed, with enough to undo it.
        self._capture = os.environ.get("CHIFFON_CAPTURE") == "1"
        _answer_absent_peeks()
        path = os.environ.get("CHIFFON_EVENTS_SOCKET")
        if path:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(path)
            except OSError as err:
                self._display.warning("chiffon_events: cannot connect to %s: %s" % (path, err))
                self._sock = None

    def _emit(self, **event):
        if self._sock is None:
            return
        line = json.dumps(event, default=str, separators=(",", ":")) + "\n"
        try:
            self._sock.sendall(line.encode("utf-8", "replace"))
        except OSError:
            self._sock = None

    # -- playbook structure -------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        self._emit(kind="playbook_start", msg=os.path.basename(playbook._file_name))

    def v2_playbook_on_play_start(self, play):
        self._emit(kind="play_start", play=play.get_name().strip())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.monotonic()
        self._emit(kind="task_start", task=task.get_name().strip())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    # -- results --------------------------------------------------------------------------

    def _result(self, result, status, msg=None):
        task = result._task
        started = self._task_started.get(task._uuid)
        event = dict(
            kind="task_result",
            task=task.get_name().strip(),
            host=result._host.get_name(),
            status=status,
        )
        if started is not None:
            event["duration_ms"] = int((time.monotonic() - started) * 1000)
        if msg:
            event["msg"] = msg
        self._emit(**event)
        self._warnings_of(result, status)

    @staticmethod
    def _message(result):
        if result._task.no_log or result._result.get("_ansible_no_log"):
            return "output hidden by no_log"
        res = result._result
        parts = [res.get("msg"), res.get("stderr"), res.get("reason")]
        text = "\n".join(str(p).strip() for p in parts if p)
        return text[:MAX_MSG] if text else None

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get("changed") else "ok")
        if self._capture and result._result.get("changed"):
            try:
                self._capture_changes(result)
            except Exception as err:  # never let capture break a run: say what is unknown
                self._emit_change(result, dict(
                    module=result._task.action, kind="other", target="",
                    reversible=False, note="Chiffon could not read this change: %s" % err))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed", self._message(result))

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable", self._message(result))

    # -- warnings: what the person must hear even when the run succeeds ----------------------
    #
    # The convention (docs/repositories.md, "warnings"): a `debug` task whose message starts with "WARNING:",
    # a task tagged `chiffon_key` that is skipped, and Ansible's own module warnings.

    def _warnings_of(self, result, status):
        task = result._task
        if task.no_log or result._result.get("_ansible_no_log"):
            return
        name = task.get_name().strip()
        host = result._host.get_name()
        if status == "ok" and task.action in DEBUG_ACTIONS:
            text = result._result.get("msg")
            if isinstance(text, str) and text.lstrip().upper().startswith(WARNING_PREFIX):
                self._warn(name, host, text.lstrip()[len(WARNING_PREFIX):].strip())
        # A dry run skips what it cannot do in check mode: no alarm about key tasks there.
        if status == "skipped" and KEY_TAG in (task.tags or []) and not self._check_mode():
            short = name.split(" : ", 1)[-1]
            self._warn(name, host, "A key task was skipped on %s: %s" % (host, short))
        for text in result._result.get("warnings") or []:
            self._warn(name, host, str(text))

    @staticmethod
    def _check_mode():
        try:
            from ansible import context

            return bool(context.CLIARGS.get("check"))
        except Exception:  # an Ansible without CLIARGS: treat it as a real run
            return False

    def _warn(self, task, host, text):
        if text:
            self._emit(kind="warning", task=task, host=host, msg=text[:MAX_MSG])

    # -- diffs (with --diff: what a task changes, or would change in check mode) ------------

    def v2_on_file_diff(self, result):
        # A real run's changes travel as `change` records (kept by the store, not the event log).
        if self._capture:
            return
        if result._task.no_log or result._result.get("_ansible_no_log"):
            return
        res = result._result
        diffs = []
        if result._task.loop and "results" in res:
            diffs = [r.get("diff") for r in res["results"] if r.get("diff") and r.get("changed")]
        elif res.get("diff"):
            diffs = [res["diff"]]
        text = ""
        for diff in diffs:
            try:
                text += self._get_diff(self._with_real_paths(diff, res))
            except Exception:  # a diff shape this Ansible cannot print: leave it out
                continue
        if text.strip():
            self._emit(
                kind="diff",
                task=result._task.get_name().strip(),
                host=result._host.get_name(),
                msg=text[:MAX_DIFF],
            )

    # -- what changed (real runs, CHIFFON_CAPTURE=1) -------------------------------------------

    def _emit_change(self, result, change):
        change.setdefault("host", result._host.get_name())
        change.setdefault("task", result._task.get_name().strip())
        self._emit(kind="change", change=change)

    def _capture_changes(self, result):
        task = result._task
        res = result._result
        hidden = bool(task.no_log or res.get("_ansible_no_log"))
        items = res["results"] if task.loop and isinstance(res.get("results"), list) else [res]
        for item in items:
            if isinstance(item, dict) and item.get("changed"):
                for change in _changes(task.action, item, hidden):
                    self._emit_change(result, change)
    @staticmethod
    def _with_real_paths(diff, res):
        """A template's diff names Ansible's temporary copy of the source; the person wants
        the file it writes (the task's `dest`)."""
        if isinstance(diff, list):
            return [CallbackModule._with_real_paths(d, res) for d in diff]
        if not isinstance(diff, dict):
            return diff
        args = (res.get("invocation") or {}).get("module_args") or {}
        dest = res.get("dest") or args.get("dest") or args.get("path")
        if not dest:
            return diff
        fixed = dict(diff)
        for key in ("before_header", "after_header"):
            header = fixed.get(key)
            if header is None or any(mark in str(header) for mark in TEMP_MARKS):
                fixed[key] = str(dest)
        return fixed

    # -- the recap ------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            hosts[host] = {
                "ok": s.get("ok", 0),
                "changed": s.get("changed", 0),
                "failed": s.get("failures", 0),
                "skipped": s.get("skipped", 0),
                "unreachable": s.get("unreachable", 0),
                "rescued": s.get("rescued", 0),
                "ignored": s.get("ignored", 0),
            }
        self._emit(kind="stats", hosts=hosts)


# -- reading a changed result into a change record (kept in step with src/model/change.rs) --


def _short(action):
    return action.rsplit(".", 1)[-1]


def _diffs(res):
    diff = res.get("diff")
    if isinstance(diff, dict):
        return [diff]
    if isinstance(diff, list):
        return [d for d in diff if isinstance(d, dict)]
    return []


def _text_diff(res):
    """The first diff with text on both sides, and whether its file existed before."""
    for diff in _diffs(res):
        before, after = diff.get("before"), diff.get("after")
        if isinstance(before, str) and isinstance(after, str):
            return before, after, "before_header" in diff
    return None


def _exact(text):
    """The text if Chiffon may keep it (UTF-8, within the cap), and the SHA-1 of its bytes."""
    try:
        data = text.encode("utf-8")
    except UnicodeError:  # undecodable bytes Ansible carried as surrogates: not text
        return None, None
    return (text if len(data) <= MAX_KEPT else None), hashlib.sha1(data).hexdigest()


def _file_state(res, state=None):
    out = {}
    for key in ("mode", "owner", "group", "size"):
        if res.get(key) is not None:
            out[key] = res[key]
    if res.get("checksum"):
        out["sha1"] = res["checksum"]
    out["state"] = state or res.get("state") or "file"
    if out["state"] == "touch":
        out["state"] = "file"
    return out


def _changes(action, res, hidden):
    """The change records of one changed result: one per package a package manager named
    (`_package_changes`), else the one `_describe` reads."""
    if _short(action) in PACKAGE_MODULES and not hidden:
        found = _package_changes(action, res)
        if found:
            return found
    return [_describe(action, res, hidden)]


def _describe(action, res, hidden):
    module = _short(action)
    change = dict(module=action, kind="other", target="", reversible=False)
    if module in FILE_MODULES:
        _describe_file(change, module, res, hidden)
    elif _compose_up(module, res):
        runtime, project, directory = _compose_up(module, res)
        change.update(
            kind="compose",
            target=directory,
            after={"state": "up", "project": project, "runtime": runtime},
            reversible=True,
            note="compose project %s brought up in %s: undo brings it back to the compose file "
            "as it was before the run (or takes it down when the run made it)" % (project, directory),
        )
    elif module in COMMAND_MODULES:
        argv = res.get("cmd")
        name = argv[0] if isinstance(argv, list) and argv else str(argv or module).split(" ")[0]
        change.update(
            kind="command",
            target=os.path.basename(str(name)),
            note="a command ran (%s): Chiffon cannot know what it changed, so it cannot undo it" % action,
        )
    elif module in PACKAGE_MODULES:
        names = res.get("name") or res.get("invocation", {}).get("module_args", {}).get("name")
        change.update(
            kind="package",
            target=", ".join(map(str, names)) if isinstance(names, list) else str(names or ""),
            note="packages changed (%s): Chiffon could not tell from its output which were newly "
            "installed (it reads apt's and dnf's), so undo leaves them; do it by hand" % action,
        )
        if hidden:
            change["note"] = "packages changed (%s): its output was not read, so undo leaves them" % action
    elif module in SERVICE_MODULES:
        _describe_service(change, action, res)
    elif module in CONTAINER_MODULES:
        _describe_container(change, action, res, hidden)
    else:
        change["note"] = "%s changed something Chiffon cannot read back" % action
    if hidden and change["kind"] != "file":
        change["note"] = (change.get("note") or "") + " (no_log task: nothing of it kept)"
    return change


def _compose_up(module, res):
    """(runtime, project, directory) when the task brought a compose project up on a folder
    Chiffon knows: a `docker compose … up` command (or podman's, or docker-compose), or
    community.docker's `docker_compose_v2` with `project_src`; None for anything else."""
    args = (res.get("invocation") or {}).get("module_args") or {}
    if module in ("docker_compose_v2", "docker_compose"):
        directory = args.get("project_src")
        if args.get("state", "present") != "present" or not directory or not os.path.isabs(str(directory)):
            return None
        directory = os.path.normpath(str(directory))
        project = args.get("project_name") or os.path.basename(directory).lower()
        return "docker", str(project), directory
    if module not in COMMAND_MODULES:
        return None
    argv = res.get("cmd")
    if isinstance(argv, str):
        try:
            argv = shlex.split(argv)
        except ValueError:
            return None
    if not isinstance(argv, list) or not argv:
        return None
    argv = [str(a) for a in argv]
    program = os.path.basename(argv[0])
    if program in ("docker", "podman") and "compose" in argv[1:3]:
        rest = argv[argv.index("compose", 1) + 1:]
    elif program in ("docker-compose", "podman-compose"):
        rest = argv[1:]
    else:
        return None
    options = {}
    words = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("-p", "--project-name", "--project-directory", "-f", "--file") and i + 1 < len(rest):
            options.setdefault(arg, rest[i + 1])
            i += 2
            continue
        if "=" in arg and arg.split("=", 1)[0] in ("--project-name", "--project-directory", "--file"):
            key, value = arg.split("=", 1)
            options.setdefault(key, value)
        elif not arg.startswith("-"):
            words.append(arg)
        i += 1
    if not words or words[0] != "up":
        return None
    directory = options.get("--project-directory")
    compose_file = options.get("-f") or options.get("--file")
    if not directory and compose_file and os.path.isabs(compose_file):
        directory = os.path.dirname(compose_file)
    directory = directory or args.get("chdir") or ""
    if not directory or not os.path.isabs(directory):
        return None
    directory = os.path.normpath(directory)
    project = options.get("-p") or options.get("--project-name") or os.path.basename(directory).lower()
    runtime = "podman" if program.startswith("podman") else "docker"
    return runtime, project, directory


def _describe_file(change, module, res, hidden):
    path = res.get(FILE_MODULES[module]) or res.get("path") or res.get("dest") or ""
    change.update(kind="file", target=str(path))
    if module == "file":
        _describe_file_state(change, res)
        return
    change["after"] = _file_state(res)
    if hidden:
        change["note"] = "no_log task: its content was not kept, so it cannot be undone"
        return
    found = _text_diff(res)
    if found is None:
        change["note"] = "the previous content was not reported (binary, too large, or %s gives no diff)" % module
        return
    before, after, existed = found
    if module not in ("template", "copy") and before == "":
        existed = None  # lineinfile and friends show a missing file as empty
    before_kept, before_sha1 = _exact(before)
    after_kept, after_sha1 = _exact(after)
    change["existed"] = existed
    change["before"] = {"state": "absent"} if existed is False else {"state": "file", "sha1": before_sha1}
    if after_sha1 and not change["after"].get("sha1"):
        change["after"]["sha1"] = after_sha1
    if existed is False:
        change["reversible"] = True
    elif before_kept is not None:
        change.update(before_content=before_kept, reversible=True)
    else:
        change["note"] = "the previous content was not kept (over %d bytes, or not UTF-8 text)" % MAX_KEPT
    if after_kept is not None:
        change["after_content"] = after_kept
    target = str(change["target"])
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), target, target)
    change["diff"] = "".join(lines)[:MAX_DIFF]


def _describe_file_state(change, res):
    """ansible.builtin.file: its diff holds the path's state and mode before and after."""
    diff = (_diffs(res) or [{}])[0]
    before = diff.get("before") if isinstance(diff.get("before"), dict) else {}
    after_state = res.get("state")
    before_state = before.get("state")
    change["after"] = _file_state(res, after_state)
    change["before"] = {k: str(before[k]) for k in ("state", "mode") if before.get(k) is not None}
    if after_state == "directory":
        change["kind"] = "directory"
    elif after_state in ("link", "hard"):
        change["kind"] = "link"
    if before_state == "absent":
        change.update(existed=False, reversible=True)
    elif after_state == "absent":
        change.update(existed=True, note="the path was removed and its content was not read before")
    elif before_state:
        change.update(existed=True, reversible=True)
    else:
        change["note"] = "the previous state was not reported"


# -- services: systemd's own answer, read before the module acts ---------------------------

# systemd's ActiveState, as the state a playbook asks for (the systemd module counts
# `activating` as running, and so does this).
ACTIVE_STATES = {
    "active": "started", "activating": "started", "reloading": "started",
    "inactive": "stopped", "failed": "stopped",
}
# systemd's UnitFileState, as `enabled: yes/no`; others (static, masked, indirect, generated…)
# are not something `enabled:` puts back.
UNIT_FILE_STATES = {"enabled": True, "disabled": False}


def _describe_service(change, action, res):
    """A service's state before and after. Ansible's systemd module (what `service` runs on
    systemd hosts) reads `systemctl show` into `status` BEFORE it starts, stops, enables or
    disables anything, so `status` is the state before; `state` and `enabled` are what it left.
    Other service managers report no previous state: the change then stays irreversible."""
    name = str(res.get("name") or "")
    args = (res.get("invocation") or {}).get("module_args") or {}
    status = res.get("status") if isinstance(res.get("status"), dict) else {}
    before = {}
    if ACTIVE_STATES.get(status.get("ActiveState")):
        before["state"] = ACTIVE_STATES[status["ActiveState"]]
    if status.get("UnitFileState") in UNIT_FILE_STATES:
        before["enabled"] = UNIT_FILE_STATES[status["UnitFileState"]]
    after = {}
    if res.get("state") in ("started", "stopped"):
        after["state"] = res["state"]
    if isinstance(res.get("enabled"), bool):
        after["enabled"] = res["enabled"]
    change.update(kind="service", target=name, before=before or None, after=after or None)
    if args.get("masked") is not None:
        change["note"] = "service %s masked or unmasked (%s): undo does not mask or unmask services" % (name, action)
        return
    if not status:
        change["note"] = (
            "service %s changed (%s): its previous state was not reported (only systemd reports "
            "it), so undo leaves it; do it by hand" % (name, action))
        return
    lasting = [key for key in ("state", "enabled") if key in after and before.get(key) != after[key]]
    unknown = [key for key in lasting if key not in before]
    if unknown:
        change["note"] = "service %s changed (%s): its previous %s was not reported, so undo leaves it" % (
            name, action, " and ".join("start at boot" if k == "enabled" else k for k in unknown))
        return
    change["reversible"] = True
    if not lasting:
        wanted = args.get("state") or "changed"
        change["note"] = "service %s %s: nothing lasting changed, so there is nothing to undo" % (name, wanted)
        return
    undo = []
    if "state" in lasting:
        undo.append("starts it again" if before["state"] == "started" else "stops it")
    if "enabled" in lasting:
        undo.append("enables it again" if before["enabled"] else "disables it")
    change["note"] = "service %s: undo %s" % (name, " and ".join(undo))


# -- packages: what the package manager's own output says it did -----------------------------

def _package_changes(action, res):
    """One record per package the output names: newly installed (undo removes it), upgraded
    (irreversible, its previous version named) or removed (irreversible). apt: its `stdout`
    (the "NEW packages" list, dpkg's "Unpacking NAME (NEW) over (OLD)" and "Removing NAME
    (VERSION)" lines); dnf and dnf5: `results` ("Installed: NEVRA", "Removed: NEVRA"; an upgrade
    is both). Empty when the output says nothing Chiffon can read."""
    module = _short(action)
    if isinstance(res.get("results"), list) and any(
            isinstance(line, str) and line.startswith(("Installed: ", "Removed: ")) for line in res["results"]):
        found = _dnf_packages(res["results"])
    elif isinstance(res.get("stdout"), str) and module in ("apt", "package"):
        found = _apt_packages(res["stdout"])
    else:
        return []
    changes = []
    for name, (before, after) in found.items():
        change = dict(module=action, kind="package", target=name, reversible=False)
        if after is not None:
            change["after"] = {"state": "present"}
            if after:
                change["after"]["version"] = after
        else:
            change["after"] = {"state": "absent"}
        if before is None:
            change.update(existed=False, before={"state": "absent"}, reversible=True,
                          note="package %s newly installed: undo removes it" % name)
        else:
            change["existed"] = True
            change["before"] = {"state": "present"}
            if before:
                change["before"]["version"] = before
            was = (" (it was %s)" % before) if before else ""
            if after is None:
                change["note"] = "package %s removed%s: undo does not install packages; reinstall it by hand" % (name, was)
            else:
                change["note"] = "package %s went from %s to %s: undo does not downgrade or reinstall packages; do it by hand" % (
                    name, before or "an unreported version", after or "another version")
        changes.append(change)
    return changes


def _apt_packages(stdout):
    """{name: (previous version or "" or None, new version or "" or None)} from apt-get's and
    dpkg's output; None on a side means absent, "" present in an unreported version."""
    found = {}
    section = None
    for line in stdout.splitlines():
        if line.startswith("The following "):
            section = ("new" if "NEW packages" in line else "removed" if "REMOVED" in line
                       else "upgraded" if "will be upgraded" in line else None)
            continue
        if section and line.startswith(" "):
            for word in line.split():
                name = word.split(":", 1)[0]
                if section == "new":
                    found[name] = (None, "")
                elif section == "removed":
                    found[name] = ("", None)
                else:
                    found[name] = ("", "")
            continue
        section = None
        words = line.split()
        if len(words) >= 3 and words[0] == "Unpacking" and words[2].startswith("("):
            name = words[1].split(":", 1)[0]
            new = words[2].strip("()")
            old = words[4].strip("()") if len(words) >= 5 and words[3] == "over" else None
            before = found.get(name, (old, ""))[0]
            found[name] = (old if old is not None else before, new)
        elif len(words) >= 3 and words[0] == "Removing" and words[2].startswith("("):
            name = words[1].split(":", 1)[0]
            found[name] = (words[2].strip("()"), None)
    return found


def _nevra(text):
    """("htop", "3.3.0-1.fc40") from "htop-3.3.0-1.fc40.x86_64" (an epoch kept as dnf wrote it)."""
    base = text.rsplit(".", 1)[0] if "." in text else text
    parts = base.rsplit("-", 2)
    if len(parts) < 3:
        return text, ""
    return parts[0], "%s-%s" % (parts[1], parts[2])


def _dnf_packages(results):
    installed, removed = {}, {}
    for line in results:
        if not isinstance(line, str):
            continue
        if line.startswith("Installed: "):
            name, version = _nevra(line[len("Installed: "):].strip())
            installed[name] = version
        elif line.startswith("Removed: "):
            name, version = _nevra(line[len("Removed: "):].strip())
            removed[name] = version
    found = {}
    for name, version in installed.items():
        found[name] = (removed.get(name), version)
    for name, version in removed.items():
        if name not in installed:
            found[name] = (version, None)
    return found


# -- containers: the definition after the run, and the one before as the module's diff says ---

# community.docker's docker_container, run with --diff, reports each option it found different
# as `before` / `after` dicts keyed by the option's name (its DifferenceTracker), in its own
# comparison form. These options' `before` value is the module parameter's value (env's
# "NAME=value" list turns into the dict the parameter takes); any other changed option leaves
# the container irreversible.
DOCKER_DIFF_PARAMS = {
    "image": "image", "image_name": "image", "env": "env", "labels": "labels",
    "command": "command", "entrypoint": "entrypoint", "hostname": "hostname", "user": "user",
    "working_dir": "working_dir", "restart_policy": "restart_policy", "privileged": "privileged",
    "read_only": "read_only", "tty": "tty", "paused": "paused",
}
# What Ansible writes in place of a no_log parameter's value (or of that value inside another).
NO_LOG_MARKS = ("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "********")


def _describe_container(change, action, res, hidden):
    container = res.get("container") if isinstance(res.get("container"), dict) else {}
    args = (res.get("invocation") or {}).get("module_args") or {}
    image = (container.get("Config") or {}).get("Image") or args.get("image")
    name = str(container.get("Name") or res.get("name") or args.get("name") or "").lstrip("/")
    change.update(kind="container", target=name, after={"image": image} if image else None)
    if _short(action) == "docker_container" and not hidden:
        _describe_docker_container(change, action, res, args)
        return
    previous = _previous_image(res)
    if previous:
        change["before"] = {"image": previous}
    if previous is False:
        change.update(existed=False, before={"state": "absent"})
        change["note"] = "container created (%s): undo removes only docker_container's containers; do it by hand" % action
    elif _short(action) == "podman_container":
        change["note"] = (
            "container changed (%s)%s: containers.podman reports its differences in its own "
            "shortened form (an image without its registry or `:latest`, a command as one line), "
            "which Chiffon cannot pass back to the module as it was, so put it back by hand" % (
                action, " from %s" % previous if previous else ""))
    elif previous:
        change["note"] = (
            "container changed (%s): it ran %s before; its previous definition was not recorded, "
            "so put it back by hand" % (action, previous))
    else:
        change["note"] = "container changed (%s): its previous image and definition were not recorded" % action


def _describe_docker_container(change, action, res, args):
    """community.docker's docker_container: the definition after the run is the task's own
    parameters (`invocation.module_args`, unset ones left out); the one before is those with
    each option its --diff reports as changed set back to the value it reports before. Both are
    kept as JSON text in the record's content, which the agent drops (and the change becomes
    irreversible) if it holds a secret; a container the run created is undone by removing it."""
    name = change["target"]
    after = _defined(args)
    change["after"] = dict(change.get("after") or {}, state=str(after.get("state") or "started"))
    if any(_has_mark(value) for value in after.values()):
        change["note"] = (
            "container %s changed (%s): its definition holds a secret (a no_log value), so "
            "Chiffon kept none of it and cannot put it back" % (name, action))
        return
    after_text = json.dumps(after, indent=2, sort_keys=True) + "\n"
    diff = next((d for d in _diffs(res) if isinstance(d.get("before"), dict)), None)
    if diff is None:
        change["note"] = (
            "container %s changed (%s): its previous definition was not reported (docker_container "
            "reports it only with --diff)" % (name, action))
        return
    before_diff = diff["before"]
    after_diff = diff.get("after") if isinstance(diff.get("after"), dict) else {}
    if before_diff.get("exists") is False:
        change.update(existed=False, before={"state": "absent"}, reversible=True, after_content=after_text,
                      note="container %s created (%s): undo removes it" % (name, action))
        return
    if after_diff.get("exists") is False or after.get("state") == "absent":
        change.update(existed=True, before={"state": "present"}, after={"state": "absent"},
                      note="container %s removed (%s): its definition before was not recorded, so "
                      "undo cannot re-create it" % (name, action))
        return
    change["existed"] = True
    previous, why = _previous_definition(after, before_diff, after_diff)
    if not after.get("name"):
        previous, why = None, "its parameters were not reported (no invocation in the result)"
    if previous is None:
        previous_image = _previous_image(res)
        change["before"] = {"image": previous_image} if previous_image else None
        ran = "it ran %s before; " % previous_image if previous_image else ""
        change["note"] = "container %s changed (%s): %s%s, so undo cannot put it back" % (
            name, action, ran, why)
        return
    before_text = json.dumps(previous, indent=2, sort_keys=True) + "\n"
    change.update(
        before={"image": previous.get("image"), "state": str(previous.get("state") or "started")},
        before_content=before_text, after_content=after_text, reversible=True,
        diff="".join(difflib.unified_diff(
            before_text.splitlines(True), after_text.splitlines(True), name, name))[:MAX_DIFF])
    if before_text == after_text:
        change["note"] = "container %s: its definition did not change (%s), nothing to undo" % (name, action)
    else:
        change["note"] = "container %s: undo puts it back on its previous definition" % name


def _defined(value):
    """`value` without the unset (None) entries of its dicts, at any depth."""
    if isinstance(value, dict):
        return {k: _defined(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_defined(v) for v in value]
    return value


def _has_mark(value):
    if isinstance(value, dict):
        return any(_has_mark(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mark(v) for v in value)
    return isinstance(value, str) and any(mark in value for mark in NO_LOG_MARKS)


def _previous_definition(after, before_diff, after_diff):
    """(the definition before the run, None) from the one after and the diff's two sides, or
    (None, why) when an option the diff reports changed cannot be put back as the module's
    parameter."""
    previous = dict(after)
    unknown = []
    for key in sorted(set(before_diff) | set(after_diff)):
        if key == "restarted":  # a restart leaves nothing lasting
            continue
        if key not in before_diff:
            return None, "its previous %s was not reported" % key
        value = before_diff[key]
        if key == "running":
            if not isinstance(value, bool):
                return None, "its previous running state was not reported"
            if str(after.get("state") or "started") in ("started", "stopped", "healthy"):
                previous["state"] = "started" if value else "stopped"
            continue
        if key not in DOCKER_DIFF_PARAMS:
            unknown.append(key)
            continue
        if key == "image_name" and "image" in before_diff:
            continue  # the image ID is exact; a name's tag may have moved since
        if key == "env":
            if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
                return None, "its previous environment was not reported as NAME=value lines"
            value = dict(v.split("=", 1) for v in value)
            previous.pop("env_file", None)  # the list is the whole environment
        param = DOCKER_DIFF_PARAMS[key]
        if value is None:
            previous.pop(param, None)
        else:
            previous[param] = value
    if unknown:
        return None, "its previous %s %s reported in a form Chiffon cannot pass back to the module" % (
            ", ".join(unknown), "is" if len(unknown) == 1 else "are")
    return previous, None


def _previous_image(res):
    """The image the container ran before, from the module's --diff: community.docker's
    `before` ({"image": ID} or {"image_name": …}, {"exists": false} for a new container),
    containers.podman's `before` ({"image": …}, or its "image - …" text lines). False for a
    container that did not exist; None when the diff does not say."""
    for diff in _diffs(res):
        before = diff.get("before")
        if isinstance(before, dict):
            if before.get("exists") is False:
                return False
            image = before.get("image") or before.get("image_name")
            if isinstance(image, str) and image:
                return image
        elif isinstance(before, str):
            for line in before.splitlines():
                if line.startswith("image - ") and line[len("image - "):].strip():
                    return line[len("image - "):].strip()
    return None
