#!/usr/bin/python3
"""Calls node-daemon procedures that a one-node cluster never sends by itself.

Part of the optional rpc-probes scenario (see scenarios.sh). Run inside the
e2e namespace on the master, as root, after cluster init. It uses Ganeti's
own RPC client classes and argument encoders, so each request body is the
one the master would send (to another node, for most of these). Only
harmless procedures and arguments: reads, a job-queue file of its own, an
upload of a file with its current content, and a start of master daemons
that already run.

Prints one line per call: "OK <proc>", "RPC-FAIL <proc>: <message>" for a
[false, message] reply, "FAIL <proc>: <message>" when the call itself went
wrong. Exits 1 if a call went wrong or a procedure outside EXPECTED_FAIL
replied [false, ...].
"""

import sys

# Ganeti's modules live beside its scripts, not on the default path.
sys.path.insert(0, "/usr/share/ganeti/default")

from ganeti import constants
from ganeti import pathutils
from ganeti import serializer
from ganeti import ssconf
from ganeti import _generated_rpc
from ganeti.rpc import node as rpc


# Procedures that reply [false, message] on these machines, with the Python
# daemon too: no DRBD module; daemon-util refuses to "start" a wconfd that
# runs (start-stop-daemon: "matching only on non-root pidfile ... is
# insecure").
EXPECTED_FAIL = frozenset(["drbd_helper", "node_start_master_daemons"])


class ProbeRunner(rpc._RpcClientBase, # pylint: disable=W0212
                  _generated_rpc.RpcClientDefault,
                  _generated_rpc.RpcClientBootstrap,
                  _generated_rpc.RpcClientDnsOnly,
                  _generated_rpc.RpcClientConfig,
                  _generated_rpc.RpcClientJobQueue):
  """All RPC wrappers, a static address, the config-free encoders."""

  def __init__(self, address):
    encoders = rpc._ENCODERS.copy() # pylint: disable=W0212
    encoders[rpc.rpc_defs.ED_FILE_DETAILS] = \
      lambda node, name: rpc._PrepareFileUpload(None, node, name) # pylint: disable=W0212
    self._address = address
    rpc._RpcClientBase.__init__(self, self._Resolve, encoders.get) # pylint: disable=W0212
    for base in (_generated_rpc.RpcClientDefault,
                 _generated_rpc.RpcClientBootstrap,
                 _generated_rpc.RpcClientDnsOnly,
                 _generated_rpc.RpcClientConfig,
                 _generated_rpc.RpcClientJobQueue):
      base.__init__(self)

  def _Resolve(self, hosts, _):
    return [(h, self._address, h) for h in hosts]


def main():
  node = sys.argv[1]
  address = sys.argv[2]
  store = ssconf.SimpleStore()
  cluster_name = store.GetClusterName()
  hvs = store.GetHypervisorList()
  # The master passes the cluster's hvparams from its configuration, with
  # typed values (ssconf has them as strings).
  with open(pathutils.CLUSTER_CONF_FILE) as f:
    all_hvparams = serializer.LoadJson(f.read())["cluster"]["hvparams"]
  qfile = pathutils.QUEUE_DIR + "/e2e-probe"
  qfile2 = pathutils.QUEUE_DIR + "/e2e-probe-renamed"

  r = ProbeRunner(address)
  calls = [
    ("node_crypto_tokens", lambda: r.call_node_crypto_tokens(
        node, [(constants.CRYPTO_TYPE_SSL_DIGEST, constants.CRYPTO_ACTION_GET,
                None)])),
    # What gnt-node add sends to the new node when the cluster has a VG.
    ("node_verify_light", lambda: r.call_node_verify_light(
        [node], {constants.NV_PVLIST: ["xenvg"]}, cluster_name,
        all_hvparams)),
    # As LUInstanceConsole and the iallocator call them.
    ("instance_list", lambda: r.call_instance_list(
        [node], [constants.HT_FAKE], all_hvparams)),
    ("all_instances_info", lambda: r.call_all_instances_info(
        [node], hvs, all_hvparams)),
    ("vg_list", lambda: r.call_vg_list([node])),
    ("lv_list", lambda: r.call_lv_list([node], None)),
    ("drbd_helper", lambda: r.call_drbd_helper([node])),
    ("bdev_sizes", lambda: r.call_bdev_sizes([node], ["/dev/null"])),
    ("node_volumes", lambda: r.call_node_volumes([node])),
    ("os_diagnose", lambda: r.call_os_diagnose([node])),
    ("hypervisor_validate_params", lambda: r.call_hypervisor_validate_params(
        [node], constants.HT_KVM, all_hvparams[constants.HT_KVM])),
    ("upload_file", lambda: r.call_upload_file(
        [node], pathutils.SSH_KNOWN_HOSTS_FILE)),
    ("jobqueue_update", lambda: r.call_jobqueue_update(
        [node], qfile, serializer.DumpJson({"e2e": "probe"}))),
    ("jobqueue_rename", lambda: r.call_jobqueue_rename(
        [node], [(qfile, qfile2)])),
    ("jobqueue_set_drain_flag", lambda: r.call_jobqueue_set_drain_flag(
        [node], False)),
    ("node_start_master_daemons", lambda: r.call_node_start_master_daemons(
        node, False)),
  ]

  failed = 0
  rpc.Init()
  try:
    for name, fn in calls:
      try:
        res = fn()
        if isinstance(res, dict):
          res = res[node]
      except Exception as err: # pylint: disable=W0703
        failed += 1
        print("FAIL %s: %s: %s" % (name, type(err).__name__, err))
        continue
      msg = res.fail_msg
      if not msg:
        print("OK %s" % name)
        continue
      msg = str(msg).replace("\n", " ")[:300]
      if res.offline or res.call != name or name not in EXPECTED_FAIL:
        failed += 1
        print("FAIL %s: %s" % (name, msg))
      else:
        print("RPC-FAIL %s: %s" % (name, msg))
  finally:
    rpc.Shutdown()
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
