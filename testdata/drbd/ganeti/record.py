#!/usr/bin/python3
"""Record what Ganeti 3.0's DRBD code makes of this directory's inputs.

Run (from testdata/drbd/ganeti): PYTHONPATH=/usr/share/ganeti/3.0 \
        /usr/bin/python3 record.py

Imports Ganeti's own parsers (storage/drbd_info.py) and command
generators (storage/drbd_cmdgen.py) and writes, one JSON object a line:
  proc.jsonl    each ../proc/*.txt (and ../real/proc-*.txt): the version,
                its string, the minors, those in use, each minor's status
  show.jsonl    each ../show/*.txt (and ../real/show-*.txt), with the 8.4
                parser: the extracted fields, or the error
  cmdgen.jsonl  every 8.4 generator method on the cases below (this
                daemon drives DRBD 8.4 only)
Nothing runs a command; nothing touches the system.
"""

import glob
import json
import logging
import os
import sys

from ganeti import constants
from ganeti import errors
from ganeti.storage import drbd
from ganeti.storage import drbd_cmdgen
from ganeti.storage import drbd_info

logging.disable(logging.CRITICAL)
HERE = os.path.dirname(os.path.abspath(__file__))


def inputs(kind):
  files = sorted(glob.glob(os.path.join(HERE, "..", kind, "*.txt")))
  files += sorted(glob.glob(os.path.join(HERE, "..", "real", kind + "-*.txt")))
  return [os.path.relpath(f, os.path.join(HERE, "..")) for f in files]


def error(err):
  return "%s: %s" % (err.__class__.__name__, err)


def record_proc(out):
  for name in inputs("proc"):
    rec = {"file": name}
    with open(os.path.join(HERE, "..", name), "rb") as f:
      lines = f.read().decode("utf-8").splitlines()
    try:
      info = drbd_info.DRBD8Info(lines)
    except Exception as err:  # pylint: disable=W0703
      rec["error"] = error(err)
      out.write(json.dumps(rec) + "\n")
      continue
    rec["version"] = info.GetVersion()
    rec["version_string"] = info.GetVersionString()
    rec["minors"] = info.GetMinors()
    # DRBD8's class methods, on this text instead of /proc/drbd.
    drbd.DRBD8.GetProcInfo = staticmethod(lambda: info)
    for key, fn in (("used", drbd.DRBD8.GetUsedDevs), ("unused", drbd.DRBD8.FindUnusedMinor)):
      try:
        rec[key] = fn()
      except Exception as err:  # pylint: disable=W0703
        rec[key + "_error"] = error(err)
    status = {}
    for minor in info.GetMinors():
      try:
        st = info.GetMinorStatus(minor)
      except Exception as err:  # pylint: disable=W0703
        status[str(minor)] = {"error": error(err)}
        continue
      status[str(minor)] = {
        "cstatus": st.cstatus, "lrole": st.lrole, "rrole": st.rrole,
        "ldisk": st.ldisk, "rdisk": st.rdisk,
        "sync_percent": st.sync_percent, "est_time": st.est_time,
        "is_in_use": st.is_in_use, "is_in_resync": st.is_in_resync,
        "is_standalone": st.is_standalone, "is_connected": st.is_connected,
        "is_primary": st.is_primary, "peer_primary": st.peer_primary,
        "is_diskless": st.is_diskless, "is_disk_uptodate": st.is_disk_uptodate,
      }
    rec["status"] = status
    out.write(json.dumps(rec, sort_keys=True) + "\n")


def record_show(out):
  for name in inputs("show"):
    with open(os.path.join(HERE, "..", name)) as f:
      text = f.read()
    rec = {"file": name}
    try:
      rec["result"] = drbd_info.DRBD84ShowInfo.GetDevInfo(text)
    except Exception as err:  # pylint: disable=W0703
      rec["error"] = error(err)
    out.write(json.dumps(rec, sort_keys=True) + "\n")


LD = dict(constants.DISK_LD_DEFAULTS[constants.DT_DRBD8])


def params(**kw):
  p = dict(LD)
  p.update((k.replace("_", "-"), v) for k, v in kw.items())
  return p


# (label, params) for the disk and sync commands.
PARAM_CASES = [
  ("defaults", params()),
  ("barriers-bdf-md", params(disabled_barriers="bdf", disable_meta_flush=True,
                             disk_custom="--al-extents 3389 --c-max-rate=102400")),
  ("barriers-f", params(disabled_barriers="f")),
  ("barriers-d", params(disabled_barriers="d")),
  ("barriers-b", params(disabled_barriers="b")),
  ("barriers-df", params(disabled_barriers="fd")),
  ("barriers-bad", params(disabled_barriers="nb")),
  ("barriers-empty", params(disabled_barriers="")),
  ("dynamic", params(dynamic_resync=True)),
  ("dynamic-custom", params(dynamic_resync=True, c_plan_ahead=10, c_fill_target=100,
                            c_delay_target=5, c_max_rate=102400, c_min_rate=1024)),
  ("dynamic-plan-ahead-0", params(dynamic_resync=True, c_plan_ahead=0)),
  ("resync-rate", params(resync_rate=1024)),
  ("net-custom", params(net_custom="--max-buffers 8000 --sndbuf-size=0 'a b'")),
  ("protocol-A", params(protocol="A")),
]

# (label, family, lhost, lport, rhost, rport, protocol, dual_pri, hmac, secret)
NET_CASES = [
  ("v4", "ipv4", "192.0.2.1", 11000, "192.0.2.2", 11000, "C", False, "md5", "s3cr3t"),
  ("v4-dual", "ipv4", "192.0.2.1", 11001, "192.0.2.2", 11001, "C", True, "md5", "s3cr3t"),
  ("v6", "ipv6", "2001:db8::1", 11003, "2001:db8::2", 11003, "C", False, "md5", "s3cr3t"),
  ("no-secret", "ipv4", "192.0.2.1", 11000, "192.0.2.2", 11000, "A", False, "md5", ""),
]

VERSION = {"k_major": 8, "k_minor": 4, "k_point": 11, "api": 1, "proto": 86, "proto2": "101"}


def record_cmdgen(out):
  def emit(method, args, fn, p=None):
    rec = {"method": method, "args": args}
    if p is not None:
      rec["params"] = p
    try:
      rec["argv"] = stringify(fn())
    except Exception as err:  # pylint: disable=W0703
      rec["error"] = error(err)
    out.write(json.dumps(rec) + "\n")

  g = drbd_cmdgen.DRBD84CmdGenerator(VERSION)
  for label, p in PARAM_CASES:
    for size in (1024, 0):
      emit("local_init", [label, 3, "/dev/xenvg/u.data", "/dev/xenvg/u.meta", size],
           lambda: g.GenLocalInitCmds(3, "/dev/xenvg/u.data", "/dev/xenvg/u.meta", size, p), p)
    emit("sync_params", [label, 3], lambda: g.GenSyncParamsCmd(3, p), p)
    for net in NET_CASES:
      emit("net_init", [label, 3] + list(net[1:]), lambda: g.GenNetInitCmds(3, *(net[1:] + (p,))), p)
  emit("show", [3], lambda: g.GenShowCmd(3))
  emit("init_meta", [3, "/dev/xenvg/u.meta"], lambda: g.GenInitMetaCmd(3, "/dev/xenvg/u.meta"))
  emit("pause_sync", [3], lambda: g.GenPauseSyncCmd(3))
  emit("resume_sync", [3], lambda: g.GenResumeSyncCmd(3))
  emit("primary", [3, False], lambda: g.GenPrimaryCmd(3, False))
  emit("primary", [3, True], lambda: g.GenPrimaryCmd(3, True))
  emit("secondary", [3], lambda: g.GenSecondaryCmd(3))
  emit("detach", [3], lambda: g.GenDetachCmd(3))
  for net in NET_CASES:
    emit("disconnect", [net[0], 3] + list(net[1:6]), lambda: g.GenDisconnectCmd(3, *net[1:6]))
  emit("down", [3], lambda: g.GenDownCmd(3))
  emit("resize", [3, 2048], lambda: g.GenResizeCmd(3, 2048))


def stringify(v):
  # RunCmd runs str() of every argument.
  if isinstance(v, list):
    return [stringify(x) for x in v]
  return str(v)


def main():
  with open(os.path.join(HERE, "proc.jsonl"), "w") as out:
    record_proc(out)
  with open(os.path.join(HERE, "show.jsonl"), "w") as out:
    record_show(out)
  with open(os.path.join(HERE, "cmdgen.jsonl"), "w") as out:
    record_cmdgen(out)


if __name__ == "__main__":
  sys.exit(main())
