#!/usr/bin/python3
"""Prints what Ganeti 3.0 prints for "gnt-instance console --show-cmd NAME".

Part of the instance-kvm scenario (see scenarios.sh). Run inside the e2e
namespace on the master, as root. It takes the instance, its primary node
and their node group from the cluster's configuration (as the query daemon
sends them to the node daemon), asks Ganeti's own KVM hypervisor class for
the console, and formats it with gnt-instance's own code, so the output is
the Python node daemon's answer whichever daemon the cluster runs.
"""

import sys

# Ganeti's modules live beside its scripts, not on the default path.
sys.path.insert(0, "/usr/share/ganeti/default")

from ganeti import objects
from ganeti import pathutils
from ganeti import serializer
from ganeti import ssconf
from ganeti.client import gnt_instance
from ganeti.hypervisor import hv_kvm


def main(name):
  with open(pathutils.CLUSTER_CONF_FILE) as f:
    config = objects.ConfigData.FromDict(serializer.LoadJson(f.read()))
  instance = [i for i in config.instances.values() if i.name == name][0]
  node = config.nodes[instance.primary_node]
  group = config.nodegroups[node.group]
  cluster = config.cluster
  console = hv_kvm.KVMHypervisor.GetInstanceConsole(
    instance, node, group, cluster.FillHV(instance), cluster.FillBE(instance))
  gnt_instance._DoConsole(  # pylint: disable=W0212
    objects.InstanceConsole.FromDict(console.ToDict()), True,
    ssconf.SimpleStore().GetClusterName(),
    feedback_fn=lambda fmt, *args: print(fmt % args if args else fmt))


if __name__ == "__main__":
  main(sys.argv[1])
