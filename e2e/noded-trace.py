#!/usr/bin/python3
"""Debian's Ganeti 3.0 node daemon, unchanged, with every RPC traced.

Bind-mounted over /usr/sbin/ganeti-noded inside the e2e namespace when
TRACE=1 (NODED=python). It imports the installed ganeti.server.noded and
wraps NodeRequestHandler.HandleRequest: each call appends one JSON line to
/var/log/ganeti/rpc-trace.jsonl with the scenario running (from
/run/e2e/scenario), the procedure, the raw request body and the raw reply.
The installed package files are not modified.
"""

import json
import os
import sys
import time

# Ganeti's modules live beside its scripts, not on the default path.
sys.path.insert(0, "/usr/share/ganeti/default")

import ganeti.server.noded as main

TRACE_FILE = "/var/log/ganeti/rpc-trace.jsonl"
SCENARIO_FILE = "/run/e2e/scenario"

_orig_handle = main.NodeRequestHandler.HandleRequest


def _scenario():
  try:
    with open(SCENARIO_FILE) as f:
      return f.read().strip()
  except OSError:
    return ""


def _text(data):
  if isinstance(data, bytes):
    return data.decode("utf-8", "replace")
  return data


def _record(entry):
  line = (json.dumps(entry) + "\n").encode("utf-8")
  fd = os.open(TRACE_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
  try:
    os.write(fd, line)
  finally:
    os.close(fd)


def HandleRequest(self, req):
  start = time.time()
  proc = req.request_path.lstrip("/")
  entry = {"t": round(start, 3), "pid": os.getpid(), "scenario": _scenario(),
           "method": req.request_method, "proc": proc,
           "request": _text(req.request_body)}
  try:
    reply = _orig_handle(self, req)
  except BaseException as err:
    entry["duration"] = round(time.time() - start, 4)
    entry["exception"] = "%s: %s" % (type(err).__name__, err)
    try:
      _record(entry)
    except Exception: # pylint: disable=W0703
      pass
    raise
  entry["duration"] = round(time.time() - start, 4)
  entry["reply"] = _text(reply)
  try:
    _record(entry)
  except Exception: # pylint: disable=W0703
    pass
  return reply


main.NodeRequestHandler.HandleRequest = HandleRequest

if __name__ == "__main__":
  sys.exit(main.Main())
