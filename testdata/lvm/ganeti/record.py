#!/usr/bin/python3
"""Record the LVM command lines Ganeti 3.0's node-daemon code runs.

Run (from testdata/lvm/ganeti): PYTHONPATH=/usr/share/ganeti/3.0 \
        /usr/bin/python3 record.py --with-output > argv.jsonl 2> results.jsonl

Imports Ganeti's own code, replaces ganeti.utils.RunCmd (and the two
places that captured it as a default argument) with a fake that keeps a
tiny in-memory LVM model and answers with plausible lvm(8) stdout.

stdout: one JSON object per executed command:
  {"op": <scenario label>, "argv": [...]}       (list commands)
  {"op": ..., "argv": [...], "shell": "<string>"} (string cmd -> /bin/sh -c;
                                                    argv = shlex.split)
  With --with-output each line also has "rc", "stdout", "stderr" (the
  canned answer), so a Go test can feed the same text to its parser.
stderr: one JSON object per scenario: {"op":..., "ok": bool,
  "result": <JSON-able return value> | "error": "<ExcClass>: <str(exc)>"}
  plus, for backend-level scenarios, "rpc": the (status, payload) pair the
  noded HTTP handler would send.
Nothing touches the real system (os.stat is faked for /dev/fake*).
"""

import json
import logging
import os
import re
import shlex
import stat as stat_mod
import sys
import copy

from ganeti import utils
from ganeti import errors
from ganeti import objects
from ganeti import constants
from ganeti import backend
from ganeti.utils import process
from ganeti.storage import bdev
from ganeti.storage import container

logging.disable(logging.CRITICAL)

OP = ["<none>"]
# --with-output: also put the canned "rc", "stdout", "stderr" in each line
WITH_OUTPUT = "--with-output" in sys.argv[1:]


def jdump(obj):
  return json.dumps(obj, sort_keys=False, default=_jdefault)


def _jdefault(o):
  if isinstance(o, (set, frozenset)):
    return sorted(o)
  if isinstance(o, tuple):
    return list(o)
  if hasattr(o, "ToDict"):
    return o.ToDict()
  return repr(o)


# --------------------------------------------------------------------------
# Fake LVM model
# --------------------------------------------------------------------------

def initial_state():
  return {
    # PV name -> info. size/free in MiB.
    "pvs": {
      "/dev/sda1": {"vg": "xenvg", "size": 10236.0, "attr": "a--"},
      "/dev/sdb1": {"vg": "xenvg", "size": 10236.0, "attr": "a--"},
      "/dev/sdc1": {"vg": "xenvg", "size": 10236.0, "attr": "a--"},
      "/dev/sdd1": {"vg": "othervg", "size": 20476.0, "attr": "a--"},
      "/dev/sde1": {"vg": "", "size": 1000.0, "attr": "---"},
      },
    "vgs": {
      "xenvg": {"attr": "wz--n-", "extent_kib": 4096},
      "othervg": {"attr": "wz--n-", "extent_kib": 4096},
      },
    # (vg, lv) -> info; "segs": list of (pv, MiB) used
    "lvs": {
      ("xenvg", "disk0"): {"size": 5120.0, "attr": "-wi-ao----",
                           "minor": 0, "stripes": 1,
                           "segs": [("/dev/sda1", 5120.0)],
                           "tags": ["originstname+inst0.example.com"]},
      ("xenvg", "olddisk"): {"size": 0.0, "attr": "vwi-a-v---",
                             "minor": 1, "stripes": 1, "segs": [],
                             "tags": []},
      ("xenvg", "inact"): {"size": 0.0, "attr": "-wi-------",
                           "minor": -1, "stripes": 1, "segs": [],
                           "tags": []},
      },
    "next_minor": 2,
    }


STATE = initial_state()
# list of (predicate(argv) -> bool, (exit_code, stdout, stderr), once?)
FAIL_RULES = []
RECORDS = []


def pv_used(pv):
  return sum(sz for lv in STATE["lvs"].values()
             for (p, sz) in lv["segs"] if p == pv)


def pv_free(pv):
  return STATE["pvs"][pv]["size"] - pv_used(pv)


def vg_size(vg):
  return sum(p["size"] for p in STATE["pvs"].values() if p["vg"] == vg)


def vg_free(vg):
  return sum(pv_free(n) for (n, p) in STATE["pvs"].items() if p["vg"] == vg)


def fmt_size(mib, units):
  if units == "k":
    return "%.2f" % (mib * 1024)
  return "%.2f" % mib


def parse_report_args(argv):
  """Parse lvs/pvs/vgs options we care about."""
  opts = {"fields": None, "sep": None, "units": "m", "names": []}
  i = 1
  while i < len(argv):
    a = argv[i]
    if a.startswith("--separator="):
      opts["sep"] = a.split("=", 1)[1]
    elif a == "--separator":
      i += 1
      opts["sep"] = argv[i]
    elif a.startswith("--units="):
      opts["units"] = a.split("=", 1)[1]
    elif a == "--units":
      i += 1
      opts["units"] = argv[i]
    elif a.startswith("--options="):
      opts["fields"] = a.split("=", 1)[1].split(",")
    elif a in ("--options", "-o"):
      i += 1
      opts["fields"] = argv[i].split(",")
    elif a.startswith("-o"):
      opts["fields"] = a[2:].split(",")
    elif a.startswith("-"):
      pass
    else:
      opts["names"].append(a)
    i += 1
  return opts


def lv_row(key, lv, field, units):
  vg, name = key
  if field == "vg_name":
    return vg
  if field == "lv_name":
    return name
  if field == "lv_attr":
    return lv["attr"]
  if field == "lv_kernel_major":
    return "253" if lv["minor"] >= 0 else "-1"
  if field == "lv_kernel_minor":
    return str(lv["minor"])
  if field == "vg_extent_size":
    return fmt_size(STATE["vgs"][vg]["extent_kib"] / 1024.0, units)
  if field == "stripes":
    return str(lv["stripes"])
  if field == "devices":
    return ",".join("%s(0)" % p for (p, _) in lv["segs"])
  if field == "lv_size":
    return fmt_size(lv["size"], units)
  if field in ("tags", "lv_tags"):
    return ",".join(lv["tags"])
  raise KeyError(field)


def pv_row(pv, field, units, lvname=""):
  p = STATE["pvs"][pv]
  if field == "pv_name":
    return pv
  if field == "vg_name":
    return p["vg"]
  if field == "pv_free":
    return fmt_size(pv_free(pv), units)
  if field == "pv_size":
    return fmt_size(p["size"], units)
  if field == "pv_used":
    return fmt_size(pv_used(pv), units)
  if field == "pv_attr":
    return p["attr"]
  if field == "lv_name":
    return lvname
  raise KeyError(field)


def vg_row(vg, field, units):
  if field in ("vg_name", "name"):
    return vg
  if field == "vg_attr":
    return STATE["vgs"][vg]["attr"]
  if field in ("vg_size", "size"):
    return fmt_size(vg_size(vg), units)
  if field == "vg_free":
    return fmt_size(vg_free(vg), units)
  raise KeyError(field)


def emit(rows, sep):
  out = []
  for r in rows:
    if sep is None:
      out.append("  " + "   ".join(r))
    else:
      out.append("  " + sep.join(r))
  return "\n".join(out) + ("\n" if out else "")


def lv_key_from_path(p):
  if p.startswith("/dev/"):
    p = p[5:]
  vg, lv = p.split("/", 1)
  return (vg, lv)


def fake_lvs(argv):
  o = parse_report_args(argv)
  fields = o["fields"] or ["lv_name", "vg_name", "lv_attr", "lv_size"]
  rows = []
  for key in sorted(STATE["lvs"]):
    lv = STATE["lvs"][key]
    if o["names"]:
      ok = False
      for n in o["names"]:
        if "/" in n:
          ok = ok or lv_key_from_path(n) == key
        else:
          ok = ok or n == key[0]
      if not ok:
        continue
    rows.append([lv_row(key, lv, f, o["units"]) for f in fields])
  if o["names"] and not rows and any("/" in n for n in o["names"]):
    return (5, "", "  Failed to find logical volume \"%s\"\n" % o["names"][0])
  return (0, emit(rows, o["sep"]), "")


def fake_pvs(argv):
  o = parse_report_args(argv)
  rows = []
  for pv in sorted(STATE["pvs"]):
    if o["names"] and pv not in o["names"]:
      continue
    if "lv_name" in o["fields"]:
      lvnames = [k[1] for (k, lv) in sorted(STATE["lvs"].items())
                 for (p, _) in lv["segs"] if p == pv]
      if pv_free(pv) > 0:
        lvnames.append("")  # free segment row
      for ln in lvnames or [""]:
        rows.append([pv_row(pv, f, o["units"], ln) for f in o["fields"]])
    else:
      rows.append([pv_row(pv, f, o["units"]) for f in o["fields"]])
  return (0, emit(rows, o["sep"]), "")


def fake_vgs(argv):
  o = parse_report_args(argv)
  fields = o["fields"] or ["vg_name", "pv_count", "lv_count", "snap_count",
                           "vg_attr", "vg_size", "vg_free"]
  rows = []
  for vg in sorted(STATE["vgs"]):
    if o["names"] and vg not in o["names"]:
      continue
    if o["fields"] is None:
      npv = len([1 for p in STATE["pvs"].values() if p["vg"] == vg])
      nlv = len([1 for k in STATE["lvs"] if k[0] == vg])
      rows.append([vg, str(npv), str(nlv), "0", STATE["vgs"][vg]["attr"],
                   fmt_size(vg_size(vg), "m"), fmt_size(vg_free(vg), "m")])
    else:
      rows.append([vg_row(vg, f, o["units"]) for f in fields])
  if o["names"] and not rows:
    return (5, "", "  Volume group \"%s\" not found\n" % o["names"][0])
  return (0, emit(rows, o["sep"]), "")


def fake_lvcreate(argv):
  size = name = None
  stripes = 1
  snap = False
  pos = []
  for a in argv[1:]:
    if a.startswith("-L"):
      size = float(a[2:].rstrip("m"))
    elif a.startswith("-n"):
      name = a[2:]
    elif a.startswith("-i"):
      stripes = int(a[2:])
    elif a == "-s":
      snap = True
    elif a.startswith("-"):
      pass
    else:
      pos.append(a)
  if snap:
    origin = lv_key_from_path(pos[0])
    vg = origin[0]
    pvlist = [n for (n, p) in sorted(STATE["pvs"].items()) if p["vg"] == vg]
    stripes = 1
  else:
    vg = pos[0]
    pvlist = pos[1:] or [n for (n, p) in sorted(STATE["pvs"].items())
                         if p["vg"] == vg]
  if (vg, name) in STATE["lvs"]:
    return (5, "", "  Logical volume \"%s\" already exists in volume group"
            " \"%s\"\n" % (name, vg))
  if stripes > len(pvlist):
    return (5, "", "  Number of stripes (%d) must not exceed number of"
            " physical volumes (%d)\n" % (stripes, len(pvlist)))
  per = size / stripes
  cand = [p for p in pvlist if pv_free(p) >= per][:stripes]
  if len(cand) < stripes:
    return (5, "", "  Insufficient suitable allocatable extents for logical"
            " volume %s\n" % name)
  STATE["lvs"][(vg, name)] = {
    "size": size, "attr": "swi-a-s---" if snap else "-wi-a-----",
    "minor": STATE["next_minor"], "stripes": stripes,
    "segs": [(p, per) for p in cand], "tags": []}
  STATE["next_minor"] += 1
  return (0, "  Logical volume \"%s\" created.\n" % name, "")


def fake_lvextend(argv):
  amount_k = None
  test = False
  pos = []
  i = 1
  while i < len(argv):
    a = argv[i]
    if a == "-L":
      i += 1
      amount_k = float(argv[i].lstrip("+").rstrip("k"))
    elif a == "--test":
      test = True
    elif a == "--alloc":
      i += 1
    else:
      pos.append(a)
    i += 1
  key = lv_key_from_path(pos[0])
  lv = STATE["lvs"][key]
  mib = amount_k / 1024.0
  pvlist = pos[1:] or [p for (p, _) in lv["segs"]]
  per = mib / max(1, lv["stripes"])
  if sum(1 for p in pvlist if pv_free(p) >= per) < lv["stripes"]:
    return (5, "", "  Insufficient free space: %d extents needed\n" %
            int(amount_k // 4096))
  pre = "  TEST MODE: Metadata will NOT be updated and volumes will not be" \
        " (de)activated.\n" if test else ""
  if not test:
    lv["size"] += mib
    lv["segs"] = [(p, s + per) for (p, s) in lv["segs"]]
  return (0, "  Size of logical volume %s/%s changed.\n  Logical volume %s"
          " successfully resized.\n" % (key[0], key[1], key[1]), pre)


def fake_lvchange(argv):
  dev = argv[-1]
  key = lv_key_from_path(dev)
  if key not in STATE["lvs"]:
    return (5, "", "  Failed to find logical volume \"%s/%s\"\n" % key)
  lv = STATE["lvs"][key]
  if argv[1] == "-ay":
    if lv["minor"] < 0:
      lv["minor"] = STATE["next_minor"]
      STATE["next_minor"] += 1
      lv["attr"] = lv["attr"][:4] + "a" + lv["attr"][5:]
    return (0, "", "")
  if argv[1] == "--deltag":
    if argv[2] in lv["tags"]:
      lv["tags"].remove(argv[2])
    return (0, "  Logical volume %s/%s changed.\n" % key, "")
  if argv[1] == "--addtag":
    if argv[2] not in lv["tags"]:
      lv["tags"].append(argv[2])
    return (0, "  Logical volume %s/%s changed.\n" % key, "")
  return (3, "", "  unsupported in fake\n")


def fake_lvrename(argv):
  vg, old, new = argv[1:4]
  if (vg, old) not in STATE["lvs"]:
    return (5, "", "  Existing logical volume \"%s\" not found in volume"
            " group \"%s\"\n" % (old, vg))
  STATE["lvs"][(vg, new)] = STATE["lvs"].pop((vg, old))
  return (0, "  Renamed \"%s\" to \"%s\" in volume group \"%s\"\n" %
          (old, new, vg), "")


def fake_lvremove(argv):
  key = lv_key_from_path(argv[-1])
  if key not in STATE["lvs"]:
    return (5, "", "  Failed to find logical volume \"%s/%s\"\n" % key)
  del STATE["lvs"][key]
  return (0, "  Logical volume \"%s\" successfully removed\n" % key[1], "")


def fake_pvchange(argv):
  flag, name = argv[2], argv[3]
  if name not in STATE["pvs"]:
    return (5, "", "  Failed to find physical volume \"%s\".\n" % name)
  STATE["pvs"][name]["attr"] = ("a" if flag == "y" else "-") + \
      STATE["pvs"][name]["attr"][1:]
  return (0, "  Physical volume \"%s\" changed\n  1 physical volume changed"
          " / 0 physical volumes not changed\n" % name, "")


VGREDUCE_MODE = ["consistent"]


def fake_vgreduce(argv):
  vg = argv[-1]
  force = "--force" in argv
  mode = VGREDUCE_MODE[0]
  if mode == "wrote":
    return (0, "  Wrote out consistent volume group %s\n" % vg, "")
  if mode == "consistent":
    return (0, "  Volume group \"%s\" is already consistent\n" % vg, "")
  if mode == "needs-force":
    if force:
      return (0, "  Wrote out consistent volume group %s\n" % vg, "")
    return (5, "", "  WARNING: Partial LV disk1 needs to be repaired or"
            " removed.\n  There are still partial LVs in VG %s.\n  To remove"
            " them unconditionally use: vgreduce --removemissing --force.\n"
            % vg)
  if mode == "broken":
    return (5, "", "  Couldn't find device with uuid"
            " abcdef-1234-5678-9abc-def0-1234-567890.\n")
  raise AssertionError(mode)


def fake_blockdev(argv):
  # blockdev --getsize64 PATH
  path = argv[2]
  if path.startswith("/dev/fake") or path.startswith("/dev/xenvg/"):
    return (0, "%d\n" % (10 * 1024 * 1024 * 1024), "")
  return (1, "", "blockdev: cannot open %s: No such file or directory\n" % path)


def fake_dd_pipe(cmd):
  return (0, "", "10+0 records in\n10+0 records out\n")


DISPATCH = {
  "lvs": fake_lvs, "pvs": fake_pvs, "vgs": fake_vgs,
  "lvcreate": fake_lvcreate, "lvextend": fake_lvextend,
  "lvchange": fake_lvchange, "lvrename": fake_lvrename,
  "lvremove": fake_lvremove, "pvchange": fake_pvchange,
  "vgreduce": fake_vgreduce, "blockdev": fake_blockdev,
  }


def fake_runcmd(cmd, env=None, output=None, cwd="/", reset_env=False,
                interactive=False, timeout=None, noclose_fds=None,
                input_fd=None, postfork_fn=None):
  rec = {"op": OP[0]}
  if isinstance(cmd, str):
    strcmd = cmd
    try:
      argv = shlex.split(cmd)
    except ValueError:
      argv = [cmd]
    rec["argv"] = argv
    rec["shell"] = cmd
  else:
    argv = [str(v) for v in cmd]
    strcmd = utils.ShellQuoteArgs(argv)
    rec["argv"] = argv
  if timeout is not None:
    rec["timeout"] = timeout
  res = None
  for idx, (pred, canned, once) in enumerate(FAIL_RULES):
    if pred(argv):
      res = canned
      if once:
        del FAIL_RULES[idx]
      break
  if res is None:
    if isinstance(cmd, str) and " | " in cmd:
      res = fake_dd_pipe(cmd)
    elif argv[0] in DISPATCH:
      res = DISPATCH[argv[0]](argv)
    else:
      res = (127, "", "fake: unknown command %s\n" % argv[0])
  (rc, out, err) = res
  if WITH_OUTPUT:
    rec.update({"rc": rc, "stdout": out, "stderr": err})
  RECORDS.append(rec)
  print(jdump(rec))
  return process.RunResult(rc, None, out, err, strcmd,
                           process._TIMEOUT_NONE, timeout)


# patch all the places
utils.RunCmd = fake_runcmd
process.RunCmd = fake_runcmd
bdev.LogicalVolume.GetLvGlobalInfo.__defaults__ = (fake_runcmd, )
container.LvmVgStorage._RemoveMissing.__defaults__ = (fake_runcmd, )
backend.DevCacheManager.UpdateCache = classmethod(lambda *a, **k: None)
backend.DevCacheManager.RemoveCache = classmethod(lambda *a, **k: None)
backend.utils.SimpleRetry = \
    lambda expected, fn, delay, timeout, args=None, **kw: fn()  # no sleeping

_real_stat = os.stat


class _FakeSt(object):
  st_mode = stat_mod.S_IFBLK | 0o660


def fake_stat(path, *a, **kw):
  if isinstance(path, str) and path.startswith("/dev/fake"):
    if path.startswith("/dev/fakemissing"):
      raise FileNotFoundError(2, "No such file or directory", path)
    return _FakeSt()
  return _real_stat(path, *a, **kw)


backend.os.stat = fake_stat


# --------------------------------------------------------------------------
# Scenario driver
# --------------------------------------------------------------------------

def result_line(op, ok, value=None, error=None, rpc=None, proc=None,
                args=None):
  d = {"op": op, "ok": ok}
  if proc:
    d["proc"], d["args"] = proc, args
  if ok:
    d["result"] = value
  else:
    d["error"] = error
  if rpc is not None:
    d["rpc"] = rpc
  sys.stderr.write(jdump(d) + "\n")


def run(op, fn, *args, **kwargs):
  OP[0] = op
  try:
    val = fn(*args, **kwargs)
  except Exception as err:  # pylint: disable=W0703
    result_line(op, False, error="%s: %s" % (err.__class__.__name__, err))
    return None
  result_line(op, True, value=val)
  return val


def run_rpc(op, fn, *args, proc=None):
  """Like run(), but mimics server/noded.py HandleRequest wrapping. With
  proc, the line also carries the procedure and its arguments as the
  master sends them, for the Go tests to replay."""
  OP[0] = op
  wire = json.loads(jdump(list(args))) if proc else None
  try:
    val = fn(*args)
    rpc = [True, json.loads(jdump(val))]
  except backend.RPCFail as err:
    rpc = [False, str(err)]
  except Exception as err:  # pylint: disable=W0703
    rpc = [False, "Error while executing backend function: %s" % str(err)]
  result_line(op, rpc[0], value=rpc[1] if rpc[0] else None,
              error=None if rpc[0] else rpc[1], rpc=rpc, proc=proc, args=wire)


def reset():
  STATE.clear()
  STATE.update(initial_state())
  del FAIL_RULES[:]
  VGREDUCE_MODE[0] = "consistent"


def lv_disk(lv, size=1024, vg="xenvg", spindles=None, stripes=1):
  return objects.Disk.FromDict({
    "dev_type": constants.DT_PLAIN, "logical_id": [vg, lv], "size": size,
    "spindles": spindles, "params": {constants.LDP_STRIPES: stripes},
    "children": [], "iv_name": "disk/0", "uuid": "uuid-" + lv,
    "name": None, "dynamic_params": {}, "mode": "rw"})


P1 = {constants.LDP_STRIPES: 1}
P2 = {constants.LDP_STRIPES: 2}
P3 = {constants.LDP_STRIPES: 3}
LV = bdev.LogicalVolume


def status_of(dev):
  return dev.GetSyncStatus().ToDict() if dev else None


def main():
  # ---------------- info queries ----------------
  reset()
  run("GetPVInfo/xenvg", lambda: [p.ToDict() for p in LV.GetPVInfo(["xenvg"])])
  run("GetPVInfo/all-noalloc-lvs",
      lambda: [p.ToDict() for p in LV.GetPVInfo([], filter_allocatable=False,
                                                include_lvs=True)])
  run("GetVGInfo/xenvg", LV.GetVGInfo, ["xenvg"], False)
  run("GetVGInfo/all", LV.GetVGInfo, [], False)
  run("GetVGInfo/xenvg-exclstor", LV.GetVGInfo, ["xenvg"], True)
  run("GetVgSpindlesInfo/xenvg", LV.GetVgSpindlesInfo, "xenvg")
  run("GetLvGlobalInfo", LV.GetLvGlobalInfo)
  FAIL_RULES.append((lambda a: a[0] == "pvs", (5, "", "  fake pvs error\n"),
                     True))
  run("GetPVInfo/pvs-fails", LV.GetPVInfo, ["xenvg"])
  FAIL_RULES.append((lambda a: a[0] == "pvs",
                     (0, "  /dev/sda1|xenvg|100.00|a--\n", ""), True))
  run("GetPVInfo/bad-line", LV.GetPVInfo, ["xenvg"])
  FAIL_RULES.append((lambda a: a[0] == "lvs", (5, "", "  fake lvs error\n"),
                     True))
  run("GetLvGlobalInfo/lvs-fails", LV.GetLvGlobalInfo)
  FAIL_RULES.append((lambda a: a[0] == "lvs",
                     (0, "  xenvg|x|-wi-a-----|253|5|4096.00|1\n", ""), True))
  run("GetLvGlobalInfo/bad-line", LV.GetLvGlobalInfo)
  FAIL_RULES.append((lambda a: a[0] == "lvs",
                     (0, "  xenvg|x|-wi-a-----|253|5|4096.00|2|"
                      "/dev/sda1(0),/dev/sdb1(10)|\n", ""), True))
  run("GetLvGlobalInfo/trailing-sep", LV.GetLvGlobalInfo)
  FAIL_RULES.append((lambda a: a[0] == "lvs",
                     (0, "  xenvg|x|-wi-a-----|253|5|4096.00|1|/dev/sda1\n",
                      ""), True))
  run("GetLvGlobalInfo/bad-devices", LV.GetLvGlobalInfo)
  FAIL_RULES.append((lambda a: a[0] == "vgs", (5, "", "  fake vgs error\n"),
                     True))
  run("GetVGInfo/vgs-fails", LV.GetVGInfo, ["xenvg"], False)

  # ---------------- constructor / attach ----------------
  reset()
  run("ctor+Attach/existing",
      lambda: status_of(LV(("xenvg", "disk0"), [], 5120, P1, {})))
  run("ctor+Attach/virtual(degraded)",
      lambda: status_of(LV(("xenvg", "olddisk"), [], 1, P1, {})))
  run("ctor+Attach/inactive",
      lambda: status_of(LV(("xenvg", "inact"), [], 1, P1, {})))
  run("ctor+Attach/missing",
      lambda: LV(("xenvg", "nosuch"), [], 1, P1, {}).attached)
  run("ctor/invalid-name", LV, ("xenvg", "bad/name"), [], 1, P1, {})
  run("ctor/invalid-name-snapshot", LV, ("xenvg", "snapshot"), [], 1, P1, {})
  run("ctor/invalid-name-_mlog", LV, ("xenvg", "a_mlog"), [], 1, P1, {})
  run("ctor/bad-unique-id", LV, ("xenvg",), [], 1, P1, {})
  run("ctor+Attach/lvs_cache-hit",
      lambda: LV(("xenvg", "disk0"), [], 1, P1, {},
                 lvs_cache=LV.GetLvGlobalInfo()).attached)

  # ---------------- create ----------------
  reset()
  run("Create/plain-stripes1",
      lambda: status_of(LV.Create(("xenvg", "new1"), [], 1024, None, P1,
                                  False, {})))
  run("Create/plain-stripes2",
      lambda: status_of(LV.Create(("xenvg", "new2"), [], 2048, None, P2,
                                  False, {})))
  # first lvcreate (-i2) fails, retried with -i1
  FAIL_RULES.append((lambda a: a[0] == "lvcreate" and "-i2" in a,
                     (5, "", "  Insufficient suitable allocatable extents for"
                      " logical volume new3: 128 more required\n"), True))
  run("Create/plain-stripes2-retry-i1",
      lambda: status_of(LV.Create(("xenvg", "new3"), [], 1024, None, P2,
                                  False, {})))
  run("Create/stripes3-only3pvs",
      lambda: LV.Create(("xenvg", "new4"), [], 512, None, P3, False,
                        {}).stripe_count)
  run("Create/out-of-space", LV.Create, ("xenvg", "huge"), [], 999999, None,
      P1, False, {})
  FAIL_RULES.append((lambda a: a[0] == "lvcreate",
                     (5, "", "  Volume group \"xenvg\" has insufficient free"
                      " space (10 extents): 256 required.\n"), False))
  run("Create/lvcreate-fails-all", LV.Create, ("xenvg", "failx"), [], 1024,
      None, P2, False, {})
  reset()
  run("Create/no-pvs-in-vg", LV.Create, ("novg", "x"), [], 1, None, P1,
      False, {})
  FAIL_RULES.append((lambda a: a[0] == "pvs",
                     (0, "  /dev/disk/by-path/pci-0:1|xenvg|100.00|a--|100.00|"
                      "/dev/disk/by-path/pci-0:1\n", ""), True))
  run("Create/pv-name-with-colon", LV.Create, ("xenvg", "c"), [], 1, None,
      P1, False, {})
  run("Create/invalid-name", LV.Create, ("xenvg", "x y"), [], 1, None, P1,
      False, {})

  # exclusive storage: sda1 partially used, sdb1/sdc1 empty
  reset()
  run("Create/excl-spindles1",
      lambda: LV.Create(("xenvg", "es1"), [], 1024, 1, P1, True,
                        {}).pv_names)
  reset()
  run("Create/excl-spindles2-stripes1",
      lambda: LV.Create(("xenvg", "es2"), [], 2048, 2, P1, True,
                        {}).pv_names)
  reset()
  run("Create/excl-spindles-none", LV.Create, ("xenvg", "es3"), [], 1024,
      None, P1, True, {})
  run("Create/excl-spindles-too-few", LV.Create, ("xenvg", "es4"), [], 15000,
      1, P1, True, {})
  run("Create/excl-not-enough-empty-pvs", LV.Create, ("xenvg", "es5"), [],
      1024, 3, P1, True, {})
  run("Create/excl-no-pvs", LV.Create, ("novg", "es6"), [], 1024, 1, P1, True,
      {})

  # ---------------- assemble / shutdown / open / close ----------------
  reset()
  OP[0] = "setup:LV(xenvg/inact)"
  d = LV(("xenvg", "inact"), [], 1, P1, {})
  run("Assemble/inactive", d.Assemble)
  run("Shutdown", d.Shutdown)
  run("Open", d.Open)
  run("Close", d.Close)
  FAIL_RULES.append((lambda a: a[0] == "lvchange",
                     (5, "", "  Volume group \"xenvg\" not found\n"), True))
  run("Assemble/fails", d.Assemble)
  run("GetActualDimensions", d.GetActualDimensions)
  run("GetUserspaceAccessUri/kvm", d.GetUserspaceAccessUri, "kvm")

  # ---------------- snapshot ----------------
  reset()
  OP[0] = "setup:LV(xenvg/disk0)"
  d = LV(("xenvg", "disk0"), [], 5120, P1, {})
  run("Snapshot/default-name-size", d.Snapshot)
  run("Snapshot/again-removes-existing", d.Snapshot)
  run("Snapshot/named-sized", d.Snapshot, snap_name="disk0.snap2",
      snap_size=512)
  run("Snapshot/no-space", d.Snapshot, snap_name="big.snap",
      snap_size=999999)

  # ---------------- setinfo ----------------
  reset()
  OP[0] = "setup:LV(xenvg/disk0)"
  d = LV(("xenvg", "disk0"), [], 5120, P1, {})
  run("SetInfo/simple", d.SetInfo, "originstname+inst1.example.com")
  run("SetInfo/sanitise", d.SetInfo,
      "-bad tag/with:chars\u00e9" + "x" * 200)

  # ---------------- grow ----------------
  reset()
  OP[0] = "setup:LV(xenvg/disk0)"
  d = LV(("xenvg", "disk0"), [], 5120, P1, {})
  run("Grow/not-backingstore", d.Grow, 1024, False, False, False)
  run("Grow/dryrun", d.Grow, 1001, True, True, False)
  run("Grow/real", d.Grow, 1024, False, True, False)
  FAIL_RULES.append((lambda a: a[0] == "lvextend" and "contiguous" in a,
                     (5, "", "  Insufficient suitable contiguous allocatable"
                      " extents for logical volume disk0\n"), True))
  run("Grow/contiguous-fails-cling-ok", d.Grow, 10, False, True, False)
  FAIL_RULES.append((lambda a: a[0] == "lvextend",
                     (5, "", "  Insufficient free space: 25600 extents"
                      " needed, but only 1279 available\n"), False))
  run("Grow/all-fail", d.Grow, 100000, False, True, False)
  reset()
  OP[0] = "setup:Create(xenvg/es1,excl)+LV(xenvg/es1)"
  LV.Create(("xenvg", "es1"), [], 1024, 1, P1, True, {})
  d = LV(("xenvg", "es1"), [], 1024, P1, {})
  run("Grow/excl", d.Grow, 1024, False, True, True)
  run("Grow/excl-too-much", d.Grow, 20000, False, True, True)

  # ---------------- rename / remove ----------------
  reset()
  OP[0] = "setup:LV(xenvg/disk0)"
  d = LV(("xenvg", "disk0"), [], 5120, P1, {})
  run("Rename/ok", lambda: (d.Rename(("xenvg", "disk0.renamed")),
                            d.dev_path)[1])
  run("Rename/across-vg", d.Rename, ("othervg", "x"))
  FAIL_RULES.append((lambda a: a[0] == "lvrename",
                     (5, "", "  Logical volume \"x\" already exists in"
                      " volume group \"xenvg\"\n"), True))
  run("Rename/fails", d.Rename, ("xenvg", "x"))
  run("Remove/ok", d.Remove)
  run("Remove/already-gone", d.Remove)
  OP[0] = "setup:LV(xenvg/inact)"
  d2 = LV(("xenvg", "inact"), [], 1, P1, {})
  FAIL_RULES.append((lambda a: a[0] == "lvremove",
                     (5, "", "  Logical volume xenvg/inact contains a"
                      " filesystem in use.\n"), True))
  run("Remove/fails", d2.Remove)

  # ---------------- container: lvm-vg / lvm-pv ----------------
  reset()
  vgst = container.GetStorage(constants.ST_LVM_VG)
  pvst = container.GetStorage(constants.ST_LVM_PV)
  allf = ["name", "size", "used", "free", "allocatable"]
  # As noded calls them: [su_name, su_args, name, fields/changes/op].
  def su_call_list(su, su_args, name, fields):
    return container.GetStorage(su, *su_args).List(name, fields)

  def su_call_modify(su, su_args, name, changes):
    return container.GetStorage(su, *su_args).Modify(name, changes)

  def su_call_execute(su, su_args, name, op):
    return container.GetStorage(su, *su_args).Execute(name, op)

  run_rpc("lvm-vg/List/all-fields", su_call_list, "lvm-vg", [], None, allf, proc="storage_list")
  run_rpc("lvm-vg/List/name-xenvg", su_call_list, "lvm-vg", [], "xenvg", ["name", "free"], proc="storage_list")
  run_rpc("lvm-vg/List/used-only", su_call_list, "lvm-vg", [], None, ["used"], proc="storage_list")
  run_rpc("lvm-vg/List/unknown-field", su_call_list, "lvm-vg", [], None, ["name", "bogus"], proc="storage_list")
  run_rpc("lvm-pv/List/all-fields", su_call_list, "lvm-pv", [], None, allf, proc="storage_list")
  run_rpc("lvm-pv/List/one", su_call_list, "lvm-pv", [], "/dev/sdb1", ["name", "allocatable"], proc="storage_list")
  run_rpc("lvm-pv/Modify/allocatable-false", su_call_modify, "lvm-pv", [], "/dev/sdb1",
      {"allocatable": False}, proc="storage_modify")
  run_rpc("lvm-pv/Modify/allocatable-true", su_call_modify, "lvm-pv", [], "/dev/sdb1",
      {"allocatable": True}, proc="storage_modify")
  run_rpc("lvm-pv/Modify/other-field", su_call_modify, "lvm-pv", [], "/dev/sdb1", {"size": 3}, proc="storage_modify")
  run_rpc("lvm-pv/Modify/empty", su_call_modify, "lvm-pv", [], "/dev/sdb1", {}, proc="storage_modify")
  FAIL_RULES.append((lambda a: a[0] == "pvchange",
                     (5, "", "  Failed to find physical volume"
                      " \"/dev/nope\".\n"), True))
  run_rpc("lvm-pv/Modify/fails", su_call_modify, "lvm-pv", [], "/dev/nope", {"allocatable": True}, proc="storage_modify")
  run_rpc("lvm-vg/Modify/anything", su_call_modify, "lvm-vg", [], "xenvg", {"allocatable": True}, proc="storage_modify")
  run_rpc("lvm-vg/Execute/fix-consistency-consistent", su_call_execute, "lvm-vg", [], "xenvg",
      constants.SO_FIX_CONSISTENCY, proc="storage_execute")
  VGREDUCE_MODE[0] = "wrote"
  run_rpc("lvm-vg/Execute/fix-consistency-wrote-out", su_call_execute, "lvm-vg", [], "xenvg",
      constants.SO_FIX_CONSISTENCY, proc="storage_execute")
  VGREDUCE_MODE[0] = "needs-force"
  run_rpc("lvm-vg/Execute/fix-consistency-needs-force", su_call_execute, "lvm-vg", [], "xenvg",
      constants.SO_FIX_CONSISTENCY, proc="storage_execute")
  VGREDUCE_MODE[0] = "broken"
  FAIL_RULES.append((lambda a: a[0] == "vgs" and a[-1] == "xenvg" and
                     "--separator" not in a,
                     (5, "", "  Couldn't find device with uuid"
                      " abcdef-1234.\n"), True))
  run_rpc("lvm-vg/Execute/fix-consistency-still-broken", su_call_execute, "lvm-vg", [], "xenvg",
      constants.SO_FIX_CONSISTENCY, proc="storage_execute")
  run_rpc("lvm-vg/Execute/unknown-op", su_call_execute, "lvm-vg", [], "xenvg", "bogus", proc="storage_execute")
  run_rpc("lvm-pv/Execute/any", su_call_execute, "lvm-pv", [], "/dev/sda1",
      constants.SO_FIX_CONSISTENCY, proc="storage_execute")
  run("GetStorage/unknown", container.GetStorage, "lvm-xx")

  # ---------------- backend / RPC level ----------------
  reset()
  run_rpc("rpc:lv_list/[xenvg]", backend.GetVolumeList, ["xenvg"], proc="lv_list")
  run_rpc("rpc:lv_list/[]", backend.GetVolumeList, [], proc="lv_list")
  run_rpc("rpc:vg_list", backend.ListVolumeGroups, proc="vg_list")
  run_rpc("rpc:node_volumes", backend.NodeVolumes, proc="node_volumes")
  run_rpc("rpc:bdev_sizes", backend.GetBlockDevSizes,
          ["/dev/fake0", "/etc/passwd", "/dev/fakemissing",
           "/dev/../dev/fake1"], proc="bdev_sizes")
  run_rpc("rpc:bdev_sizes/relative-path", backend.GetBlockDevSizes,
          ["dev/fake0"])
  run_rpc("rpc:storage_list/lvm-vg",
          lambda su, su_args, name, fields:
          container.GetStorage(su, *su_args).List(name, fields),
          "lvm-vg", [], None, allf, proc="storage_list")
  for excl in (False, True):
    for st in ("lvm-vg", "lvm-pv"):
      run_rpc("rpc:node_info-storage/%s/excl=%s" % (st, excl),
              backend._ApplyStorageInfoFunction, st, "xenvg", [excl])
  run_rpc("rpc:node_info-storage/lvm-vg/missing-vg",
          backend._ApplyStorageInfoFunction, "lvm-vg", "novg", [False])
  run_rpc("rpc:node_info-storage/lvm-vg/bad-params",
          backend._ApplyStorageInfoFunction, "lvm-vg", "xenvg", [])
  run_rpc("rpc:node_verify/lvm",
          backend.VerifyNode,
          {constants.NV_LVLIST: "xenvg", constants.NV_VGLIST: None,
           constants.NV_PVLIST: ["xenvg"], constants.NV_EXCLUSIVEPVS: True},
          "cluster", {}, proc="node_verify")
  run_rpc("rpc:node_verify/pvlist-no-excl",
          backend.VerifyNode, {constants.NV_PVLIST: ["xenvg"]}, "cluster", {},
          proc="node_verify")

  reset()
  run_rpc("rpc:blockdev_create/plain", backend.BlockdevCreate,
          lv_disk("rnew"), 1024, "inst1.example.com", True,
          "originstname+inst1.example.com", False, proc="blockdev_create")
  run_rpc("rpc:blockdev_create/secondary", backend.BlockdevCreate,
          lv_disk("rnew2"), 1024, "inst1.example.com", False,
          "originstname+inst1.example.com", False, proc="blockdev_create")
  run_rpc("rpc:blockdev_create/excl-no-empty-pv-left", backend.BlockdevCreate,
          lv_disk("rnew3", spindles=1), 1024, "inst1.example.com", True,
          "originstname+inst1.example.com", True, proc="blockdev_create")
  run_rpc("rpc:blockdev_create/out-of-space", backend.BlockdevCreate,
          lv_disk("rbig", size=999999), 999999, "i", True, "x", False, proc="blockdev_create")
  run_rpc("rpc:blockdev_create/invalid-name", backend.BlockdevCreate,
          lv_disk("bad name"), 1024, "i", True, "x", False, proc="blockdev_create")
  FAIL_RULES.append((lambda a: a[0] == "lvchange" and a[1] == "-ay",
                     (5, "", "  activation failed\n"), True))
  run_rpc("rpc:blockdev_create/assemble-fails", backend.BlockdevCreate,
          lv_disk("rnewa"), 64, "i", True, "x", False, proc="blockdev_create")
  FAIL_RULES.append((lambda a: a[0] == "lvchange" and a[1] == "--addtag",
                     (5, "", "  tag failed\n"), True))
  run_rpc("rpc:blockdev_create/addtag-fails", backend.BlockdevCreate,
          lv_disk("rnewt"), 64, "i", True, "bad tag!", False, proc="blockdev_create")
  run_rpc("rpc:blockdev_find", lambda d: backend.BlockdevFind(d).ToDict(),
          lv_disk("rnew"))
  run_rpc("rpc:blockdev_find/missing", backend.BlockdevFind,
          lv_disk("nosuch"), proc="blockdev_find")
  run_rpc("rpc:blockdev_getmirrorstatus_multi",
          lambda ds: [(s, st.ToDict() if s else st) for (s, st) in
                      backend.BlockdevGetmirrorstatusMulti(ds)],
          [lv_disk("rnew"), lv_disk("nosuch"), lv_disk("olddisk")])
  run_rpc("rpc:blockdev_getdimensions", backend.BlockdevGetdimensions,
          [lv_disk("rnew"), lv_disk("nosuch")], proc="blockdev_getdimensions")
  run_rpc("rpc:blockdev_grow", backend.BlockdevGrow, lv_disk("rnew"), 512,
          False, True, False, proc="blockdev_grow")
  run_rpc("rpc:blockdev_grow/dryrun", backend.BlockdevGrow, lv_disk("rnew"),
          512, True, True, False, proc="blockdev_grow")
  run_rpc("rpc:blockdev_grow/missing", backend.BlockdevGrow,
          lv_disk("nosuch"), 512, False, True, False, proc="blockdev_grow")
  run_rpc("rpc:blockdev_snapshot", backend.BlockdevSnapshot,
          lv_disk("rnew"), None, None, proc="blockdev_snapshot")
  run_rpc("rpc:blockdev_snapshot/no-space", backend.BlockdevSnapshot,
          lv_disk("rnew"), "rnew.snapX", 999999, proc="blockdev_snapshot")
  run_rpc("rpc:blockdev_snapshot/bad-name", backend.BlockdevSnapshot,
          lv_disk("rnew"), "bad name", 10, proc="blockdev_snapshot")
  run_rpc("rpc:blockdev_setinfo", backend.BlockdevSetInfo, lv_disk("rnew"),
          "originstname+inst2.example.com", proc="blockdev_setinfo")
  run_rpc("rpc:blockdev_rename", backend.BlockdevRename,
          [(lv_disk("rnew2"), ("xenvg", "rnew2.ren"))], proc="blockdev_rename")
  FAIL_RULES.append((lambda a: a[0] == "lvrename",
                     (5, "", "  Logical volume \"x\" already exists in"
                      " volume group \"xenvg\"\n"), True))
  run_rpc("rpc:blockdev_rename/fails", backend.BlockdevRename,
          [(lv_disk("rnew2.ren"), ("xenvg", "x"))], proc="blockdev_rename")
  run_rpc("rpc:blockdev_rename/across-vg", backend.BlockdevRename,
          [(lv_disk("rnew2.ren"), ("othervg", "x"))], proc="blockdev_rename")
  run_rpc("rpc:blockdev_rename/missing", backend.BlockdevRename,
          [(lv_disk("nosuch"), ("xenvg", "x"))], proc="blockdev_rename")
  run_rpc("rpc:blockdev_assemble-ish(_RecursiveAssembleBD)",
          lambda d: backend._RecursiveAssembleBD(d, "inst1", True).dev_path,
          lv_disk("inact"))
  run_rpc("rpc:blockdev_shutdown", backend.BlockdevShutdown, lv_disk("rnew"), proc="blockdev_shutdown")
  run_rpc("rpc:blockdev_remove", backend.BlockdevRemove, lv_disk("rnew"), proc="blockdev_remove")
  run_rpc("rpc:blockdev_remove/missing", backend.BlockdevRemove,
          lv_disk("nosuch"), proc="blockdev_remove")
  FAIL_RULES.append((lambda a: a[0] == "lvremove",
                     (5, "", "  Logical volume xenvg/disk0 in use.\n"), True))
  run_rpc("rpc:blockdev_remove/fails", backend.BlockdevRemove,
          lv_disk("disk0"), proc="blockdev_remove")
  reset()
  run_rpc("rpc:blockdev_create/excl", backend.BlockdevCreate,
          lv_disk("rnew3", spindles=1), 1024, "inst1.example.com", True,
          "originstname+inst1.example.com", True, proc="blockdev_create")
  run_rpc("rpc:blockdev_grow/excl", backend.BlockdevGrow, lv_disk("rnew3"),
          1024, False, True, True, proc="blockdev_grow")
  run_rpc("rpc:blockdev_convert/plain->plain", backend.BlockdevConvert,
          lv_disk("inact", size=1024), lv_disk("rnew3"), proc="blockdev_convert")


if __name__ == "__main__":
  main()
