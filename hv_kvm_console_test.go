package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The console of a KVM instance is what Ganeti 3.0's
// KVMHypervisor.GetInstanceConsole returns for the same request (what
// luxid sends: the node and group unfilled), port included only when the
// ndparams set one.
func TestKVMConsoleMatchesGaneti(t *testing.T) {
	n, _ := newTestNode(t)
	hvp := func(serial bool, vnc, spice string) map[string]any {
		return map[string]any{"serial_console": serial, "vnc_bind_address": vnc, "spice_bind": spice}
	}
	type nd = map[string]any
	inst := func(name string, port any) map[string]any {
		m := map[string]any{"name": name, "hypervisor": "kvm", "primary_node": "uuid-1", "hvparams": map[string]any{}, "beparams": map[string]any{}, "nics": []any{}, "disks": []any{}}
		if port != nil {
			m["network_port"] = port
		}
		return m
	}
	req := map[string]any{}
	for _, c := range []struct {
		name        string
		port        any
		node, group nd
		hv          map[string]any
	}{
		{"no-port.example.com", 11000, nd{}, nd{}, hvp(true, "", "")},
		{"node-port.example.com", nil, nd{"ssh_port": 2222}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"group-port.example.com", nil, nd{}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"null-port.example.com", nil, nd{"ssh_port": nil}, nd{"ssh_port": 2022}, hvp(true, "", "")},
		{"vnc.example.com", 5901, nd{}, nd{}, hvp(false, "0.0.0.0", "")},
		{"vnc-low.example.com", 5900, nd{}, nd{}, hvp(false, "0.0.0.0", "")},
		{"spice.example.com", 11001, nd{}, nd{}, hvp(false, "", "127.0.0.1")},
		{"spice-no-port.example.com", nil, nd{}, nd{}, hvp(false, "", "127.0.0.1")},
		{"none.example.com", nil, nd{}, nd{}, hvp(false, "", "")},
	} {
		req[c.name] = map[string]any{"instance": inst(c.name, c.port),
			"node": map[string]any{"name": "node1.example.com", "ndparams": c.node}, "group": map[string]any{"name": "default", "ndparams": c.group},
			"hvParams": c.hv, "beParams": map[string]any{}}
	}
	body := mustJSON(req)
	want := runGanetiPython(t, `
import json
from ganeti import objects
from ganeti.hypervisor import hv_kvm
out = {}
for name, r in json.load(sys.stdin).items():
    c = hv_kvm.KVMHypervisor.GetInstanceConsole(objects.Instance.FromDict(r["instance"]),
        objects.Node.FromDict(r["node"]), objects.NodeGroup.FromDict(r["group"]), r["hvParams"], r["beParams"])
    out[name] = c.ToDict()
json.dump(out, sys.stdout)
`, body)
	var reply rpcReply
	rec := callRaw(t, n, "POST", "instance_console_info", string(body))
	reply = decodeReply(t, rec.Body.Bytes())
	var got, exp map[string]any
	mustOK(t, reply, &got)
	// Ganeti's paths are the installed ones; the test's run directory is
	// elsewhere.
	gotJSON := strings.ReplaceAll(string(mustJSON(got)), n.paths.RunDir+"/", "/var/run/ganeti/")
	json.Unmarshal([]byte(gotJSON), &got)
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	for name := range req {
		if g, w := string(mustJSON(got[name])), string(mustJSON(exp[name])); g != w {
			t.Errorf("%s: console\n%s\nGaneti's\n%s", name, g, w)
		}
	}
}
