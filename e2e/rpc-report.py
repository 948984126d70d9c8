#!/usr/bin/python3
"""Markdown report of the RPCs a real Ganeti 3.0 master sent in the e2e suite.

Usage: e2e/rpc-report.py TRACE.jsonl [OUT.md]

TRACE.jsonl is the trace that e2e/noded-trace.py writes with
`NODED=python TRACE=1 [E2E_PROBES=1] e2e/run.sh`
(e2e/results/python/logs/rpc-trace.jsonl). The report lists, per scenario,
the procedures called with counts, then one or more exact request bodies and
the Python daemon's replies for each procedure.
"""

import base64
import collections
import json
import sys
import zlib

# Procedures the Go developers asked for first, in this order.
IMPORTANT = [
  "node_info", "node_verify", "node_verify_light", "hooks_runner",
  "node_crypto_tokens", "node_start_master_daemons", "node_activate_master_ip",
  "node_stop_master", "node_deactivate_master_ip", "node_leave_cluster",
  "upload_file", "upload_file_single", "write_ssconf_files",
  "jobqueue_update", "jobqueue_rename", "jobqueue_purge",
  "jobqueue_set_drain_flag", "instance_list", "all_instances_info",
  "os_diagnose", "storage_list", "lv_list", "vg_list", "drbd_helper",
  "bdev_sizes", "hypervisor_validate_params",
]

SCENARIO_ORDER = [
  "cluster-init", "cluster-verify", "node-list", "node-info", "redist-conf",
  "renew-crypto", "watcher-pause", "debug-delay", "hook", "rpc-probes",
  "cluster-destroy",
]

LIMIT = 1500
BIG_LIMIT = {"node_verify": 8000, "node_info": 3000, "write_ssconf_files": 4000,
             "instance_list": 3500, "all_instances_info": 3500,
             "node_verify_light": 3500, "hypervisor_validate_params": 2000}


def clip(text, limit):
  text = text.rstrip("\n")
  if len(text) <= limit:
    return text
  return text[:limit] + " …[%d more chars]" % (len(text) - limit)


def elide(value, maxlen=160):
  """The value with strings over maxlen characters shortened."""
  if isinstance(value, str) and len(value) > maxlen:
    return value[:100] + "…(%d chars)" % len(value)
  if isinstance(value, list):
    return [elide(v, maxlen) for v in value]
  if isinstance(value, dict):
    return dict((k, elide(v, maxlen)) for k, v in value.items())
  return value


def show_body(text, limit):
  """(label, text): verbatim if short enough, else with long strings
  shortened (re-serialised with the same separators), else clipped."""
  text = text.rstrip("\n")
  if len(text) <= limit:
    return "verbatim", text
  try:
    value = json.loads(text)
  except ValueError:
    return "verbatim, clipped", clip(text, limit)
  compact = ", " not in text and ": " not in text
  seps = (",", ":") if compact else (", ", ": ")
  short = json.dumps(elide(value), separators=seps, ensure_ascii=False)
  if len(short) <= limit:
    return ("%d chars; long strings shortened, re-serialised" % len(text),
            short)
  return ("%d chars; long strings shortened, re-serialised, clipped" %
          len(text), clip(short, limit))


def decode_compressed(body):
  """Decoded [1, "<base64 zlib>"] and [0, "text"] arguments of a request."""
  out = []
  try:
    args = json.loads(body)
  except ValueError:
    return out

  def walk(value, path):
    if (isinstance(value, list) and len(value) == 2 and value[0] in (0, 1)
        and isinstance(value[1], str) and not isinstance(value[0], bool)):
      if value[0] == 1:
        try:
          text = zlib.decompress(base64.b64decode(value[1])).decode("utf-8",
                                                                    "replace")
        except Exception: # pylint: disable=W0703
          return
        out.append((path, "zlib+base64", text))
      elif path:
        out.append((path, "plain", value[1]))
      return
    if isinstance(value, list):
      for i, v in enumerate(value):
        walk(v, "%s[%d]" % (path, i))
    elif isinstance(value, dict):
      for k, v in value.items():
        walk(v, "%s[%r]" % (path, k))

  if isinstance(args, list):
    for i, a in enumerate(args):
      walk(a, "arg%d" % i)
  return out


def scenario_key(name):
  try:
    return SCENARIO_ORDER.index(name)
  except ValueError:
    return len(SCENARIO_ORDER)


def pick_examples(proc, entries):
  """One example, or two for procedures whose reply shape varies."""
  ok = [e for e in entries if e.get("reply", "").startswith("[true")]
  pool = ok or entries
  pool = sorted(pool, key=lambda e: (scenario_key(e["scenario"]), e["t"]))
  if proc == "hooks_runner":
    empty = [e for e in pool if json.loads(e["reply"])[1] == []]
    full = [e for e in pool if json.loads(e["reply"])[1] not in ([], None)]
    return (empty[:1] + full[:1]) or pool[:1]
  if proc == "node_verify":
    # the hook scenario's call also carries the failing hook's context
    return pool[:1]
  # One example per kind of caller: the Haskell daemons and Python's
  # jobs sometimes send different arguments for the same procedure.
  picked, kinds = [], set()
  for e in pool:
    kind = is_compact(e["request"])
    if kind not in kinds:
      kinds.add(kind)
      picked.append(e)
  failed = [e for e in entries if e.get("reply", "").startswith("[false")]
  return picked + ([failed[0]] if ok and failed else [])


def is_compact(body):
  """Whether a Haskell daemon sent the body: Python's serializer ends every
  body with a newline (and separates with ", " and ": "), Haskell's
  Text.JSON writes compact JSON without one."""
  return not body.endswith("\n")


def main():
  trace = sys.argv[1]
  out_path = sys.argv[2] if len(sys.argv) > 2 else None
  entries = [json.loads(l) for l in open(trace) if l.strip()]
  by_scen = collections.defaultdict(collections.Counter)
  by_proc = collections.defaultdict(list)
  for e in entries:
    by_scen[e.get("scenario") or "setup"][e["proc"]] += 1
    by_proc[e["proc"]].append(e)

  w = []
  w.append("# RPCs of a one-node Ganeti 3.0.2 cluster, per e2e scenario\n\n")
  w.append("Recorded with `NODED=python TRACE=1 E2E_PROBES=1 bash e2e/run.sh`: "
           "Debian's Python node daemon (3.0.2), unchanged, run through "
           "`e2e/noded-trace.py`, which logs every request body and the raw "
           "reply the daemon sent (`e2e/results/python/logs/rpc-trace.jsonl`). "
           "Regenerate with `python3 e2e/rpc-report.py "
           "e2e/results/python/logs/rpc-trace.jsonl /tmp/e2e-rpcs.md`.\n\n")
  w.append("Notes:\n\n")
  w.append("- Every call is `POST /<procedure>` with a JSON list; the reply is "
           "`[true, result]` or `[false, \"message\"]`. Bodies below are "
           "verbatim unless marked. Two kinds of callers: Python (the "
           "master's jobs, `gnt-*`) ends every body with a newline and "
           "separates with `\", \"` and `\": \"`; the Haskell daemons "
           "(wconfd, luxid; here: `write_ssconf_files`, `upload_file_single` "
           "of config.data, `master_node_name`, `node_activate_master_ip` at "
           "master start-up, `set_watcher_pause`, `instance_console_info`, "
           "and the queries `node_info` of gnt-node list and "
           "`all_instances_info` of gnt-instance list) send compact JSON "
           "without a newline. Replies are always Python's `[true, …]` with `\", \"`. "
           "A daemon must accept both request forms.\n")
  w.append("- A call is counted under the scenario that was running when it "
           "arrived; `node_activate_master_ip` of cluster-init takes ~5 s "
           "(fping, arping), calls from wconfd (`write_ssconf_files`) "
           "follow configuration changes asynchronously.\n")
  w.append("- One node means the master never calls itself for what it only "
           "sends to *other* nodes: `upload_file` (redist-conf ships files to "
           "other nodes only, so redist-conf makes no RPC at all here), "
           "`jobqueue_*` (replication to other master candidates), "
           "`node_crypto_tokens` (other nodes' certificates in renew-crypto, "
           "node add), `node_verify_light` (node add), "
           "`node_start_master_daemons` (master failover). gnt-node info "
           "reads the configuration only (no RPC). The optional "
           "`rpc-probes` scenario makes the cluster call more procedures "
           "(OS, storage, master IP, instances on the fake hypervisor) and "
           "calls the rest directly through Ganeti's own RPC client classes "
           "and encoders (`e2e/rpc-probe.py`), so those bodies are what a "
           "master sends to another node.\n")
  w.append("- `drbd_helper` fails on this machine (no drbd module) and "
           "`node_start_master_daemons` fails when the master daemons "
           "already run (start-stop-daemon refuses the wconfd pid file): "
           "those `[false, …]` replies are the Python daemon's real ones.\n")

  w.append("\n## Procedures per scenario (Python daemon)\n")
  for scen in sorted(by_scen, key=scenario_key):
    c = by_scen[scen]
    n = sum(c.values())
    w.append("\n### %s (%d call%s)\n\n" % (scen, n, "" if n == 1 else "s"))
    for proc, n in sorted(c.items(), key=lambda x: (-x[1], x[0])):
      w.append("- `%s` × %d\n" % (proc, n))
  w.append("\n### Scenarios with no RPC\n\n")
  none = [s for s in SCENARIO_ORDER if s not in by_scen]
  w.append(", ".join("`%s`" % s for s in none) + "\n" if none else "none\n")

  w.append("\n## All procedures seen\n\n| procedure | calls | scenarios |\n"
           "| --- | --- | --- |\n")
  for proc in sorted(by_proc):
    scens = sorted(set(e["scenario"] for e in by_proc[proc]), key=scenario_key)
    w.append("| `%s` | %d | %s |\n" % (proc, len(by_proc[proc]),
                                       ", ".join(scens)))
  missing = [p for p in IMPORTANT if p not in by_proc]
  if missing:
    w.append("\nAsked for but never called, even by the probes: %s\n" %
             ", ".join("`%s`" % p for p in missing))

  def example(proc, important):
    ents = by_proc[proc]
    limit = BIG_LIMIT.get(proc, LIMIT) if important else 800
    w.append("\n### `%s`\n\n" % proc)
    w.append("%d call(s): %s.\n" % (len(ents), ", ".join(
      "%s ×%d" % (s, n) for s, n in sorted(
        collections.Counter(e["scenario"] for e in ents).items(),
        key=lambda x: scenario_key(x[0])))))
    for e in pick_examples(proc, ents):
      label, text = show_body(e["request"], limit)
      caller = ("sent by a Haskell daemon" if is_compact(e["request"])
                else "sent by Python")
      w.append("\nScenario `%s`, %.4f s, %s. Request body (%s):\n\n"
               "```json\n%s\n```\n"
               % (e["scenario"], e.get("duration", 0), caller, label, text))
      for path, kind, text in decode_compressed(e["request"]):
        w.append("\n`%s` (%s) decoded:\n\n```\n%s\n```\n" %
                 (path, kind, clip(text, 800)))
      if "reply" in e:
        label, text = show_body(e["reply"], limit)
        w.append("\nReply (%s):\n\n```json\n%s\n```\n" % (label, text))
      else:
        w.append("\nNo reply; exception: `%s`\n" % e.get("exception"))

  w.append("\n## Examples: the procedures asked for\n")
  w.append("\nBodies over %d characters are truncated (limits: %s; others "
           "800); the full records are in the trace.\n" %
           (LIMIT, ", ".join("%s %d" % kv for kv in sorted(BIG_LIMIT.items()))))
  for proc in IMPORTANT:
    if proc in by_proc:
      example(proc, True)
  w.append("\n## Examples: every other procedure seen\n")
  for proc in sorted(by_proc):
    if proc not in IMPORTANT:
      example(proc, False)

  text = "".join(w)
  if out_path:
    with open(out_path, "w") as f:
      f.write(text)
  else:
    sys.stdout.write(text)


if __name__ == "__main__":
  main()
