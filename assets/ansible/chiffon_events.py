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

import json
import os
import socket
import time

from ansible.plugins.callback import CallbackBase

MAX_MSG = 2000
MAX_DIFF = 20000
# A debug message that starts so is a warning for the person (see _warnings_of).
WARNING_PREFIX = "WARNING:"
# A task tagged so matters: skipping it is a warning.
KEY_TAG = "chiffon_key"
# Where Ansible keeps its temporary copies (never a path the person knows).
TEMP_MARKS = ("/.ansible/tmp/", "/ansible-local-", "/ansible-tmp-")
DEBUG_ACTIONS = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "chiffon_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sock = None
        self._task_started = {}
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
