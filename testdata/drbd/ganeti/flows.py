#!/usr/bin/python3
"""Record the commands Ganeti 3.0's node daemon runs for DRBD disks.

Run (from testdata/drbd/ganeti): PYTHONPATH=/usr/share/ganeti/3.0 \
        /usr/bin/python3 flows.py > flows-argv.jsonl 2> flows-results.jsonl

Builds on the LVM recorder (../../lvm/ganeti/record.py, imported: its
fake LVM answers lvs, lvchange, blockdev, ...) and adds a fake DRBD 8.4
kernel: drbdsetup and drbdmeta change a small model of the minors, from
which /proc/drbd and `drbdsetup show` are printed. Ganeti's backend
functions then run as noded calls them.

stdout: one JSON object per command: op, argv, rc, stdout, stderr and,
  after a DRBD command, "proc": /proc/drbd as it then reads.
stderr: one JSON object per procedure: op, proc (the RPC), args (as the
  master sends them), rpc (noded's reply) and "proc_drbd" (the file
  before the call).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lvm", "ganeti"))
sys.argv.append("--with-output")
import record as lvm  # noqa: E402  (the LVM recorder, patches applied)

from ganeti import backend, constants, objects, serializer, utils  # noqa: E402
from ganeti.storage import drbd, drbd_info  # noqa: E402
from ganeti.utils import process  # noqa: E402

VERSION = "version: 8.4.11 (api:1/proto:86-101)\n" \
          "srcversion: 4A3A1F6A0B3C2D1E0F9A8B7 \n"

# minor -> {"disk": (data, meta) or None, "net": (local, remote) or None,
#           "role": "Primary"/"Secondary", "peer": connection state}
MINORS = {}
# What the peer does when we connect: "Connected" (up, in sync),
# "WFConnection" (not there).
PEER = ["Connected"]


def proc_text():
  lines = [VERSION.rstrip("\n").split("\n")[0], VERSION.split("\n")[1]]
  for m in sorted(MINORS):
    st = MINORS[m]
    disk = "UpToDate" if st["disk"] else "Diskless"
    if st["net"] is None:
      cs, peer_role, peer_disk, proto = "StandAlone", "Unknown", "DUnknown", " "
    elif st["peer"] == "Syncing":
      lines.append(" %d: cs:SyncSource ro:%s/Secondary ds:UpToDate/Inconsistent C r-----" % (m, st["role"]))
      lines.append("    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:524288")
      lines.append("\t[=======>............] sync'ed: 42.5% (512/1024)M")
      lines.append("\tfinish: 0:01:10 speed: 7,488 (7,488) K/sec")
      continue
    elif st["peer"] == "Connected":
      cs, peer_role, peer_disk, proto = "Connected", st.get("peer_role", "Secondary"), "UpToDate", "C"
    else:
      cs, peer_role, peer_disk, proto = "WFConnection", "Unknown", "DUnknown", "C"
    lines.append(" %d: cs:%s ro:%s/%s ds:%s/%s %s r-----" %
                 (m, cs, st["role"], peer_role, disk, peer_disk, proto))
    lines.append("    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0")
  return "\n".join(lines) + "\n"


def show_text(m):
  st = MINORS.get(m)
  if st is None:
    return ""
  out = ["resource resource%d {" % m, "    options {", "    }", "    net {", "    }"]
  if st["net"]:
    out += ["    _remote_host {", "        address\t\t\tipv4 %s;" % st["net"][1], "    }"]
  out += ["    _this_host {"]
  if st["net"]:
    out += ["        address\t\t\tipv4 %s;" % st["net"][0]]
  out += ["        volume 0 {", "            device\t\t\tminor %d;" % m]
  if st["disk"]:
    out += ['            disk\t\t\t"%s";' % st["disk"][0],
            '            meta-disk\t\t\t"%s";' % st["disk"][1]]
  out += ["        }", "    }", "}"]
  return "\n".join(out) + "\n"


def minor_of(arg):
  return int(arg.replace("resource", ""))


def fake_drbd(argv):
  """(rc, stdout, stderr) of a DRBD command, changing the model."""
  if argv[0] == "drbdmeta":
    return (0, "", "")
  verb = argv[1]
  if verb == "show":
    return (0, show_text(int(argv[2])), "")
  if verb == "new-resource":
    return (0, "", "")
  if verb == "new-minor":
    MINORS.setdefault(int(argv[3]), {"disk": None, "net": None, "role": "Secondary", "peer": None})
    return (0, "", "")
  if verb == "disconnect":
    for st in MINORS.values():
      if st["net"] and st["net"][0] == argv[2].split(":", 1)[1]:
        st["net"], st["peer"] = None, None
    return (0, "", "")
  m = minor_of(argv[2])
  if m not in MINORS and verb != "down":
    return (10, "", "%d: Failure: (127) Device minor not allocated\n" % m)
  st = MINORS.get(m)
  if verb == "attach":
    st["disk"] = (argv[3], argv[4])
  elif verb == "connect":
    st["net"] = (argv[3].split(":", 1)[1], argv[4].split(":", 1)[1])
    st["peer"] = PEER[0]
  elif verb == "primary":
    st["role"] = "Primary"
  elif verb == "secondary":
    st["role"] = "Secondary"
  elif verb == "detach":
    st["disk"] = None
  elif verb == "down":
    MINORS.pop(m, None)
  return (0, "", "")


_lvm_runcmd = lvm.fake_runcmd


def fake_runcmd(cmd, **kw):
  argv = [str(v) for v in cmd] if not isinstance(cmd, str) else None
  if argv is None or argv[0] not in ("drbdsetup", "drbdmeta", "dd"):
    return _lvm_runcmd(cmd, **kw)
  if argv[0] == "dd":
    rc, out, err = (0, "", "128+0 records in\n128+0 records out\n")
  else:
    rc, out, err = fake_drbd(argv)
  rec = {"op": lvm.OP[0], "argv": argv, "rc": rc, "stdout": out, "stderr": err}
  if argv[:2] == ["drbdsetup", "show"]:
    SHOWN.add(int(argv[2]))
  if argv[0] != "dd" and argv[1] != "show":
    rec["proc"] = proc_text()
  print(lvm.jdump(rec))
  return process.RunResult(rc, None, out, err, utils.ShellQuoteArgs(argv),
                           process._TIMEOUT_NONE, None)


utils.RunCmd = fake_runcmd
process.RunCmd = fake_runcmd
drbd.utils.RunCmd = fake_runcmd
drbd.DRBD8Info.CreateFromFile = staticmethod(
  lambda filename=None: drbd_info.DRBD8Info.CreateFromLines(proc_text().splitlines()))
drbd._CanReadDevice = lambda path: True
_fake_blockdev = lvm.DISPATCH["blockdev"]


META_SECTORS = [128 * 2048]


def fake_blockdev(argv):
  # The meta volume's size in 512-byte sectors (blockdev --getsize).
  if argv[1] == "--getsize":
    return (0, "%d\n" % META_SECTORS[0], "")
  return _fake_blockdev(argv)


lvm.DISPATCH["blockdev"] = fake_blockdev
# The links to the instance's disks: named, not made (no /dev/drbdN here).
backend._SymlinkBlockDev = lambda name, path, idx: backend._GetBlockDevSymlinkPath(name, idx)
backend._RemoveBlockDevLinks = lambda name, disks: None
# No waiting: the model answers at once.
drbd.time.sleep = lambda s: None


def wire_json(v):
  # noded's replies carry private values (the DRBD secret) as null.
  return json.loads(json.dumps(v, default=lambda o: None if isinstance(o, serializer.Private)
                               else lvm._jdefault(o)))


def request_json(v):
  # The master sends objects as dicts, private values in clear.
  def conv(o):
    if isinstance(o, objects.Disk):
      return conv(o.ToDict(include_dynamic_params=True))
    if isinstance(o, Inst):
      return {"name": o.name, "uuid": o.uuid}
    if isinstance(o, serializer.Private):
      return o.Get()
    if isinstance(o, dict):
      return dict((k, conv(x)) for k, x in o.items())
    if isinstance(o, (list, tuple)):
      return [conv(x) for x in o]
    return o
  return conv(v)


# The minors whose configuration the current procedure read.
SHOWN = set()


def rpc(op, proc, fn, *args):
  """Runs a backend function as noded would and records its reply.

  This daemon reads a minor's configuration before disconnecting it,
  where Ganeti does not: for a minor the procedure did not read, an
  "extra" answer (the configuration before the call) is recorded, which
  the Go test gives but does not expect to be asked for."""
  lvm.OP[0] = op
  before = proc_text()
  shows = dict((m, show_text(m)) for m in MINORS)
  SHOWN.clear()
  wire = request_json(list(args))
  try:
    reply = [True, wire_json(fn(*args))]
  except backend.RPCFail as err:
    reply = [False, str(err)]
  except Exception as err:  # pylint: disable=W0703
    reply = [False, "Error while executing backend function: %s" % err]
  for m in sorted(set(shows) - SHOWN):
    print(lvm.jdump({"op": op, "argv": ["drbdsetup", "show", str(m)], "rc": 0, "stdout": shows[m],
                     "stderr": "", "extra": True}))
  sys.stderr.write(json.dumps({"op": op, "proc": proc, "args": wire, "rpc": reply,
                               "proc_drbd": before}) + "\n")


PARAMS = dict(constants.DISK_LD_DEFAULTS[constants.DT_DRBD8])
SECRET = "0123456789abcdef0123"


def drbd_disk(minor=0, peer_minor=1, port=11000, children=True, local="192.0.2.1", remote="192.0.2.2"):
  kids = []
  if children:
    kids = [{"dev_type": "plain", "logical_id": ["xenvg", "u%d.disk0_data" % minor], "size": 1024,
             "params": {"stripes": 1}, "iv_name": "disk/0", "uuid": "data-uuid", "mode": "rw",
             "children": []},
            {"dev_type": "plain", "logical_id": ["xenvg", "u%d.disk0_meta" % minor], "size": 128,
             "params": {"stripes": 1}, "iv_name": "disk/0", "uuid": "meta-uuid", "mode": "rw",
             "children": []}]
  d = objects.Disk.FromDict({
    "dev_type": "drbd", "logical_id": ["node-a", "node-b", port, minor, peer_minor, SECRET],
    "size": 1024, "params": dict(PARAMS), "iv_name": "disk/0", "uuid": "drbd-uuid-%d" % minor,
    "mode": "rw", "children": kids,
    "dynamic_params": {"local-ip": local, "remote-ip": remote, "local-minor": minor,
                       "remote-minor": peer_minor}})
  return d


def add_lvs(minor):
  for name, size in (("u%d.disk0_data" % minor, 1024.0), ("u%d.disk0_meta" % minor, 128.0)):
    lvm.STATE["lvs"][("xenvg", name)] = {"size": size, "attr": "-wi-------", "minor": -1, "stripes": 1,
                                         "segs": [("/dev/sda1", size)], "tags": []}


class Inst(object):
  name = "inst1.example.com"
  uuid = "inst1-uuid"
  disks = []
  disk_template = "drbd"


def main():
  lvm.reset()
  add_lvs(0)
  add_lvs(3)
  d = drbd_disk()
  rpc("create/primary", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True,
      "originstname+inst1.example.com", False)
  rpc("find", "blockdev_find", backend.BlockdevFind, d)
  rpc("mirror-status", "blockdev_getmirrorstatus", backend.BlockdevGetmirrorstatus, [d])
  rpc("assemble/again", "blockdev_assemble", backend.BlockdevAssemble, d, Inst(), True, 0)
  rpc("needs-activation", "drbd_needs_activation", backend.DrbdNeedsActivation, [d])
  rpc("wait-sync", "drbd_wait_sync", backend.DrbdWaitSync, [d])
  rpc("disconnect", "drbd_disconnect_net", backend.DrbdDisconnectNet, [d])
  rpc("needs-activation/standalone", "drbd_needs_activation", backend.DrbdNeedsActivation, [d])
  rpc("assemble/standalone", "blockdev_assemble", backend.BlockdevAssemble, d, Inst(), True, 0)
  rpc("disconnect/again", "drbd_disconnect_net", backend.DrbdDisconnectNet, [d])
  rpc("attach-net/multimaster", "drbd_attach_net", backend.DrbdAttachNet, [d], True)
  rpc("close", "blockdev_close", backend.BlockdevClose, None, [d])
  rpc("open", "blockdev_open", backend.BlockdevOpen, "inst1.example.com", [d], True)
  rpc("grow/dryrun", "blockdev_grow", backend.BlockdevGrow, d, 512, True, True, False)
  rpc("grow/drbd", "blockdev_grow", backend.BlockdevGrow, d, 512, False, False, False)
  rpc("remove-children", "blockdev_removechildren", backend.BlockdevRemovechildren, d, d.children)
  rpc("find/diskless", "blockdev_find", backend.BlockdevFind, drbd_disk(children=False))
  rpc("add-children", "blockdev_addchildren", backend.BlockdevAddchildren, drbd_disk(children=False),
      d.children)
  rpc("snapshot", "blockdev_snapshot", backend.BlockdevSnapshot, d, None, None)
  rpc("snapshot/diskless", "blockdev_snapshot", backend.BlockdevSnapshot, drbd_disk(children=False), None, None)
  rpc("rename", "blockdev_rename", backend.BlockdevRename, [(d, ("a", "b", 11000, 0, 1, SECRET))])
  rpc("shutdown", "blockdev_shutdown", backend.BlockdevShutdown, d)
  rpc("find/gone", "blockdev_find", backend.BlockdevFind, d)
  # A secondary whose peer is not up yet; then the primary's end.
  PEER[0] = "WFConnection"
  s = drbd_disk(minor=3, peer_minor=4, port=11003, local="192.0.2.2", remote="192.0.2.1")
  rpc("create/secondary", "blockdev_create", backend.BlockdevCreate, s, 1024, "inst2.example.com", False,
      "originstname+inst2.example.com", False)
  rpc("find/wfconnection", "blockdev_find", backend.BlockdevFind, s)
  rpc("remove", "blockdev_remove", backend.BlockdevRemove, s)
  # replace-disks -n: the new secondary's device is made without a port
  # (off the network), then drbd_attach_net connects it with the port.
  add_lvs(3)
  alone = drbd_disk(minor=3, peer_minor=4, port=None, local="192.0.2.2", remote="192.0.2.1")
  rpc("create/no-port", "blockdev_create", backend.BlockdevCreate, alone, 1024, "inst2.example.com", False,
      "originstname+inst2.example.com", False)
  rpc("find/no-port", "blockdev_find", backend.BlockdevFind, alone)
  rpc("assemble/no-port", "blockdev_assemble", backend.BlockdevAssemble, alone, Inst(), False, 0)
  rpc("attach-net/no-port", "drbd_attach_net", backend.DrbdAttachNet, [alone], False)
  rpc("attach-net/new-secondary", "drbd_attach_net", backend.DrbdAttachNet, [s], False)
  # A disk without a port for a minor on the network: no disconnect, no
  # re-assembly onto no peer.
  rpc("disconnect/no-port", "drbd_disconnect_net", backend.DrbdDisconnectNet, [alone])
  rpc("assemble/no-port-connected", "blockdev_assemble", backend.BlockdevAssemble, alone, Inst(), False, 0)
  rpc("remove/new-secondary", "blockdev_remove", backend.BlockdevRemove, s)
  rpc("create/exclusive", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True,
      "x", True)
  MINORS[0] = {"disk": None, "net": None, "role": "Secondary", "peer": None}
  rpc("create/minor-in-use", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True,
      "x", False)
  MINORS.clear()
  MINORS.clear()
  PEER[0] = "Syncing"
  rpc("create/syncing", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True, "x", False)
  rpc("wait-sync/syncing", "drbd_wait_sync", backend.DrbdWaitSync, [d])
  rpc("mirror-status/syncing", "blockdev_getmirrorstatus", backend.BlockdevGetmirrorstatus, [d])
  rpc("shutdown/syncing", "blockdev_shutdown", backend.BlockdevShutdown, d)
  META_SECTORS[0] = 64 * 2048
  rpc("create/meta-too-small", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True, "x", False)
  META_SECTORS[0] = 2048 * 2048
  rpc("create/meta-too-big", "blockdev_create", backend.BlockdevCreate, d, 1024, "inst1.example.com", True, "x", False)
  META_SECTORS[0] = 128 * 2048
  rpc("find/no-dynamic-params", "blockdev_find", backend.BlockdevFind,
      objects.Disk.FromDict(dict(d.ToDict(), dynamic_params={})))


if __name__ == "__main__":
  main()
