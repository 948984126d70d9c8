#!/usr/bin/python3
"""Ganeti 3.0's answers to hypervisor parameter sets, for the Go tests.

Usage: hv-validate.py defaults        -> {hvname: default hvparams}
       hv-validate.py check < cases   -> [message or null, ...]

Each case is {"hv": name, "params": {...}}. A case gets what an operator
would see: the master's CheckParameterSyntax (when every parameter is
there), then the node's ValidateParameters; a failure other than a
HypervisorError comes back as the node daemon wraps it.
"""

import json
import sys

# Ganeti's package comes from PYTHONPATH (the Go test sets it).
from ganeti import constants, errors, hypervisor


def answer(case):
  try:
    cls = hypervisor.GetHypervisorClass(case["hv"])
  except errors.HypervisorError as err:
    return str(err)
  params = case["params"]
  try:
    if all(name in params for name in cls.PARAMETERS):
      cls.CheckParameterSyntax(params)
    cls.ValidateParameters(params)
  except errors.HypervisorError as err:
    return str(err)
  except Exception as err:  # pylint: disable=W0703
    return "Error while executing backend function: %s" % err
  return None


def main():
  if sys.argv[1] == "defaults":
    json.dump(constants.HVC_DEFAULTS, sys.stdout)
  else:
    json.dump([answer(c) for c in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
  main()
