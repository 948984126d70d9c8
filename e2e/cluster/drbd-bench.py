#!/usr/bin/python3
"""DRBD disks outside any instance, for the bench-drbd scenario.

Run on node 1 (the master) in the test bed, as root:

  drbd-bench.py create COUNT PRIMARY SECONDARY
  drbd-bench.py status COUNT PRIMARY SECONDARY CALLS
  drbd-bench.py remove COUNT PRIMARY SECONDARY

create makes COUNT small DRBD disks (4 MiB of data, Ganeti's 128 MiB of
metadata) on the two nodes at once and waits until they are in sync; status
calls blockdev_getmirrorstatus_multi on the primary with all of them,
CALLS times, and prints "calls N ok N p50_ms X mean_ms Y"; remove removes
them from both nodes. Every request goes through Ganeti's own RPC client
(pycurl, the cluster's client certificate) with the disk objects built and
annotated by Ganeti's own code (the cluster's disk parameters, the dynamic
DRBD parameters), so each body is the one the master would send. Minors
100+ and ports 14000+ keep clear of what the master allocates.
"""

import sys
import time

sys.path.insert(0, "/usr/share/ganeti/default")

from ganeti import constants
from ganeti import objects
from ganeti import pathutils
from ganeti import serializer
from ganeti.rpc import node as rpc

FIRST_MINOR = 100
FIRST_PORT = 14000
DATA_MIB = 4


def load_config():
  with open(pathutils.CLUSTER_CONF_FILE) as f:
    return serializer.LoadJson(f.read())


def find_node(cfg, name):
  for uuid, node in cfg["nodes"].items():
    if node["name"] == name:
      return uuid, node
  sys.exit("no node %s in the configuration" % name)


def bench_disks(count, puuid, suuid):
  """The COUNT disks, as Ganeti objects (the same on every run)."""
  disks = []
  for i in range(count):
    lv_name = "bench%d.disk0" % i
    data = objects.Disk(dev_type=constants.DT_PLAIN, size=DATA_MIB,
                        logical_id=("xenvg", lv_name + "_data"), params={})
    meta = objects.Disk(dev_type=constants.DT_PLAIN,
                        size=constants.DRBD_META_SIZE,
                        logical_id=("xenvg", lv_name + "_meta"), params={})
    secret = "%040x" % (0xbe7c000000 + i)
    disk = objects.Disk(dev_type=constants.DT_DRBD8, size=DATA_MIB,
                        logical_id=(puuid, suuid, FIRST_PORT + i,
                                    FIRST_MINOR + i, FIRST_MINOR + i, secret),
                        children=[data, meta], iv_name="disk/0",
                        uuid="00000000-0000-4000-8000-%012d" % i,
                        mode=constants.DISK_RDWR, params={})
    disks.append(disk)
  return disks


def annotated(cfg, disks, target_uuid):
  """Disk dicts as the master sends them to target_uuid."""
  cluster = objects.Cluster.FromDict(cfg["cluster"])
  group = objects.NodeGroup.FromDict(list(cfg["nodegroups"].values())[0])
  diskparams = cluster.SimpleFillDP(group.diskparams)
  ips = dict((u, n["secondary_ip"]) for u, n in cfg["nodes"].items())
  out = []
  for disk in rpc.AnnotateDiskParams(disks, diskparams):
    disk.UpdateDynamicDiskParams(target_uuid, ips)
    out.append(disk.ToDict(include_dynamic_params=True))
  return out


class Caller(object):
  def __init__(self, cfg):
    self._cfg = cfg
    self._proc = rpc._RpcProcessor(self._resolve, # pylint: disable=W0212
                                   constants.DEFAULT_NODED_PORT)

  def _resolve(self, hosts, _):
    return [(h, self._cfg["nodes"][h]["primary_ip"], h) for h in hosts]

  def call(self, node_uuid, procedure, args, timeout=constants.RPC_TMO_SLOW):
    return self.call_each(procedure, {node_uuid: args}, timeout)[node_uuid]

  def call_each(self, procedure, node_args, timeout=constants.RPC_TMO_SLOW):
    """One procedure on several nodes at once, each with its arguments."""
    body = dict((u, serializer.DumpJson(
      a, private_encoder=serializer.EncodeWithPrivateFields))
                for u, a in node_args.items())
    results = self._proc(list(node_args), procedure, body, timeout, None)
    out = {}
    for u, result in results.items():
      if result.fail_msg:
        raise RuntimeError("%s on %s: %s" % (procedure,
                                             self._cfg["nodes"][u]["name"],
                                             result.fail_msg))
      out[u] = result.payload
    return out


def create(caller, cfg, disks, puuid, suuid):
  # As the master creates a DRBD disk: the volumes, then the device (open
  # on the primary); here on both nodes at once, each disk in turn.
  owner, info = "bench.example", "originstname+bench"
  on_node = {puuid: annotated(cfg, disks, puuid),
             suuid: annotated(cfg, disks, suuid)}
  for i in range(len(disks)):
    for child in range(2):
      caller.call_each("blockdev_create", dict(
        (u, [ds[i]["children"][child], ds[i]["children"][child]["size"], owner,
             u == puuid, info, False]) for u, ds in on_node.items()))
    caller.call_each("blockdev_create", dict(
      (u, [ds[i], ds[i]["size"], owner, u == puuid, info, False])
      for u, ds in on_node.items()))
  deadline = time.time() + 600
  while True:
    stats = status(caller, cfg, disks, puuid)
    if all(s.get("sync_percent") is None and not s.get("is_degraded")
           for s in stats):
      return
    if time.time() > deadline:
      sys.exit("the bench disks did not sync within 600 s")
    time.sleep(2)


def status(caller, cfg, disks, puuid, request=None):
  """The disks' statuses; request: the disk dicts, if already made."""
  if request is None:
    request = annotated(cfg, disks, puuid)
  reply = caller.call(puuid, "blockdev_getmirrorstatus_multi", [request])
  out = []
  for ok, st in reply:
    if not ok:
      raise RuntimeError("a disk's status failed: %s" % st)
    out.append(st)
  return out


def remove(caller, cfg, disks, puuid, suuid):
  failed = []
  on_node = {puuid: annotated(cfg, disks, puuid),
             suuid: annotated(cfg, disks, suuid)}
  for i in range(len(disks)):
    for u, ds in on_node.items():
      try:
        caller.call(u, "blockdev_remove", [ds[i]])
      except RuntimeError as err:
        failed.append(str(err))
  if failed:
    sys.exit("\n".join(failed))


def main():
  cmd, count = sys.argv[1], int(sys.argv[2])
  cfg = load_config()
  puuid, _ = find_node(cfg, sys.argv[3])
  suuid, _ = find_node(cfg, sys.argv[4])
  disks = bench_disks(count, puuid, suuid)
  rpc.Init()
  caller = Caller(cfg)
  if cmd == "create":
    create(caller, cfg, disks, puuid, suuid)
  elif cmd == "status":
    times = []
    # Made once: only the call is timed, not this script's own work.
    request = annotated(cfg, disks, puuid)
    for _ in range(int(sys.argv[5])):
      start = time.time()
      stats = status(caller, cfg, disks, puuid, request)
      times.append(time.time() - start)
      if len(stats) != count or any(s.get("is_degraded") for s in stats):
        sys.exit("unexpected status: %s" % stats)
    times.sort()
    print("calls %d ok %d p50_ms %.0f mean_ms %.0f" %
          (len(times), len(times), times[len(times) // 2] * 1000,
           sum(times) / len(times) * 1000))
  elif cmd == "remove":
    remove(caller, cfg, disks, puuid, suuid)
  else:
    sys.exit("unknown command %s" % cmd)


if __name__ == "__main__":
  main()
