package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// ganetiDRBDCmd is one line of testdata/drbd/ganeti/cmdgen.jsonl: a
// command (or commands) Ganeti 3.0's DRBD 8.4 generator made.
type ganetiDRBDCmd struct {
	Method string            `json:"method"`
	Args   []json.RawMessage `json:"args"`
	Params map[string]any    `json:"params"`
	Argv   json.RawMessage   `json:"argv"`
	Error  string            `json:"error"`
}

// drbdCmdDeltas are the cases this daemon answers otherwise, and why.
// The value is the error this daemon gives.
var drbdCmdDeltas = map[string]string{
	`sync_params ["dynamic-plan-ahead-0",3]`: "A value of 0 for c-plan-ahead disables the dynamic sync speed controller at DRBD level. If you want to disable it, please set the dynamic-resync disk parameter to False.",
}

// TestDRBDCommandsAgainstGaneti: every command line is Ganeti's for the
// same minor, devices, addresses and disk parameters.
func TestDRBDCommandsAgainstGaneti(t *testing.T) {
	for _, rec := range readJSONLines[ganetiDRBDCmd](t, "testdata/drbd/ganeti/cmdgen.jsonl") {
		name := rec.Method + " " + string(mustJSON(rec.Args))
		t.Run(name, func(t *testing.T) {
			arg := func(i int, v any) {
				t.Helper()
				if err := json.Unmarshal(rec.Args[i], v); err != nil {
					t.Fatal(err)
				}
			}
			var p drbdParams
			if rec.Params != nil {
				var err error
				if p, err = decodeDRBDParams(rec.Params); err != nil {
					t.Fatal(err)
				}
			}
			var minor int
			var got any
			var err error
			switch rec.Method {
			case "local_init":
				var data, meta string
				var size mebibytes
				arg(1, &minor)
				arg(2, &data)
				arg(3, &meta)
				arg(4, &size)
				got, err = drbdLocalInitCmds(minor, data, meta, size, p)
			case "net_init":
				var family, lhost, rhost, protocol, hmac, secret string
				var lport, rport int
				var dual bool
				for i, v := range []any{&minor, &family, &lhost, &lport, &rhost, &rport, &protocol, &dual, &hmac, &secret} {
					arg(i+1, v)
				}
				if hmac != drbdHMAC {
					t.Fatalf("hmac %q", hmac)
				}
				got, err = drbdNetInitCmds(minor, family, lhost, lport, rhost, rport, protocol, dual, secret, p)
			case "sync_params":
				arg(1, &minor)
				got, err = drbdSyncParamsCmd(minor, p)
			case "disconnect":
				var family, lhost, rhost string
				var lport, rport int
				for i, v := range []any{&minor, &family, &lhost, &lport, &rhost, &rport} {
					arg(i+1, v)
				}
				got = drbdDisconnectCmd(family, lhost, lport, rhost, rport)
			case "init_meta":
				var meta string
				arg(0, &minor)
				arg(1, &meta)
				got = drbdInitMetaCmd(minor, meta)
			case "primary":
				var force bool
				arg(0, &minor)
				arg(1, &force)
				got = drbdPrimaryCmd(minor, force)
			case "resize":
				var size mebibytes
				arg(0, &minor)
				arg(1, &size)
				got = drbdResizeCmd(minor, size)
			default:
				arg(0, &minor)
				got = map[string]func(int) []string{
					"show": drbdShowCmd, "down": drbdDownCmd,
					"pause_sync":  func(m int) []string { return drbdMinorCmd("pause-sync", m) },
					"resume_sync": func(m int) []string { return drbdMinorCmd("resume-sync", m) },
					"secondary":   func(m int) []string { return drbdMinorCmd("secondary", m) },
					"detach":      func(m int) []string { return drbdMinorCmd("detach", m) },
				}[rec.Method](minor)
			}
			if want, ok := drbdCmdDeltas[name]; ok {
				// Ganeti returns this message as the command to run.
				if err == nil || err.Error() != want {
					t.Fatalf("%s: got %q, %v; want the error %q", name, got, err, want)
				}
				return
			}
			if rec.Error != "" {
				if err == nil || err.Error() != pyErrorText(rec.Error) {
					t.Fatalf("got %q, %v; want error %q", got, err, rec.Error)
				}
				return
			}
			if err != nil || !jsonEqual(mustJSON(got), rec.Argv) {
				t.Fatalf("\n got %s (%v)\nwant %s", mustJSON(got), err, rec.Argv)
			}
		})
	}
}

// TestDRBDParamsRefused: parameters the master never sends are refused
// before any command is made of them.
func TestDRBDParamsRefused(t *testing.T) {
	good := map[string]any{"c-delay-target": 1.0, "c-fill-target": 0.0, "c-max-rate": 61440.0, "c-min-rate": 4096.0,
		"c-plan-ahead": 20.0, "default-metavg": "xenvg", "disable-meta-flush": false, "disabled-barriers": "n",
		"disk-custom": "", "dynamic-resync": false, "net-custom": "", "protocol": "C", "resync-rate": 61440.0}
	if _, err := decodeDRBDParams(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		val  any
		want string
	}{
		{"protocol", "D", "protocol must be A, B or C, not 'D'"},
		{"resync-rate", -1.0, "resync-rate -1 out of range"},
		{"resync-rate", 1e300, "out of range"},
		{"c-max-rate", 1.5, "c-max-rate must be an integer"},
		{"dynamic-resync", "yes", "dynamic-resync must be a boolean"},
		{"net-custom", 3.0, "net-custom must be a string"},
	} {
		p := map[string]any{}
		for k, v := range good {
			p[k] = v
		}
		p[c.key] = c.val
		if _, err := decodeDRBDParams(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%v: %v, want %q", c.key, c.val, err, c.want)
		}
	}
	p := map[string]any{}
	for k, v := range good {
		if k != "protocol" && k != "c-min-rate" {
			p[k] = v
		}
	}
	if _, err := decodeDRBDParams(p); err == nil || err.Error() != "Error while executing backend function: Block device is missing disk parameters: {'c-min-rate', 'protocol'}" {
		t.Errorf("missing: %v", err)
	}
	p = map[string]any{}
	for k, v := range good {
		p[k] = v
	}
	p["disk-custom"] = "--al-extents 'x"
	d, _ := decodeDRBDParams(p)
	if _, err := drbdLocalInitCmds(0, "/dev/a", "/dev/b", 0, d); err == nil || !strings.Contains(err.Error(), "No closing quotation") {
		t.Errorf("unbalanced quote: %v", err)
	}
}

// TestPyShlexSplit: Python's shlex.split on the same strings (python3).
func TestPyShlexSplit(t *testing.T) {
	for in, want := range map[string][]string{
		"": nil, "a b": {"a", "b"}, "a '' b": {"a", "", "b"}, `a\ b`: {"a b"}, `"a\"b\x"`: {`a"b\x`},
		"--max-buffers 8000 --sndbuf-size=0 'a b'": {"--max-buffers", "8000", "--sndbuf-size=0", "a b"},
		`x"y z"w`: {"xy zw"}, `"a\\b"`: {`a\b`}, " \ta\n": {"a"},
	} {
		if got, err := pyShlexSplit(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{`"a`: "No closing quotation", `a\`: "No escaped character", `'a`: "No closing quotation", `"a\`: "No escaped character"} {
		if _, err := pyShlexSplit(in); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestDRBDNetInitRefusesPorts: no connect command names a port outside
// Ganeti's DRBD range, whatever a caller passes.
func TestDRBDNetInitRefusesPorts(t *testing.T) {
	for _, port := range []int{0, -1, firstDRBDPort - 1, lastDRBDPort + 1, 65536} {
		if cmds, err := drbdNetInitCmds(0, "ipv4", "192.0.2.1", port, "192.0.2.2", firstDRBDPort, "C", false, "", drbdParams{}); err == nil {
			t.Errorf("local port %d: %q", port, cmds)
		}
		if cmds, err := drbdNetInitCmds(0, "ipv4", "192.0.2.1", firstDRBDPort, "192.0.2.2", port, "C", false, "", drbdParams{}); err == nil {
			t.Errorf("remote port %d: %q", port, cmds)
		}
	}
	if _, err := drbdNetInitCmds(0, "ipv4", "192.0.2.1", lastDRBDPort, "192.0.2.2", firstDRBDPort, "C", false, "", drbdParams{}); err != nil {
		t.Errorf("ports at the range's ends: %v", err)
	}
}
