package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// ganetiDRBDFlow is one procedure of testdata/drbd/ganeti/flows-results.jsonl:
// what Ganeti 3.0's backend answered on a fake DRBD 8.4 kernel (flows.py),
// with /proc/drbd as it was before the call.
type ganetiDRBDFlow struct {
	Op       string            `json:"op"`
	Proc     string            `json:"proc"`
	Args     []json.RawMessage `json:"args"`
	RPC      json.RawMessage   `json:"rpc"`
	ProcDRBD string            `json:"proc_drbd"`
}

// drbdFlowDeltas are where this daemon answers otherwise, and why: the
// reply (empty: Ganeti's), and the DRBD commands (empty: Ganeti's).
var drbdFlowDeltas = map[string]struct{ reply, commands, why string }{
	"snapshot/diskless": {reply: `[false, "DRBD device '('node-a', 'node-b', 11000, 0, 1, None)' without backing storage cannot be snapshotted"]`,
		why: "Ganeti's message names an attribute Disk does not have"},
	"assemble/no-port": {commands: `null`,
		why: "Ganeti runs drbdsetup disconnect with the port None (ipv4:192.0.2.2:None), which cannot work; " +
			"this daemon disconnects only what drbdsetup show has connected, here nothing"},
	"assemble/no-port-connected": {reply: `[false, "Error while assembling disk: drbd3: device has correct local storage, wrong remote peer and is unable to disconnect in order to attach to the correct peer: the disk has no port"]`,
		commands: `null`,
		why: "Ganeti disconnects with the port None, which real drbdsetup refuses (its reply then is this one, with drbdsetup's error); " +
			"this daemon refuses without running it, so the connection stays"},
}

// fastDRBD makes DRBD's waits instant for a test.
func fastDRBD(t *testing.T) {
	t.Helper()
	saved := []time.Duration{drbdPoll, drbdSyncParamsWithin, drbdNetConfigWithin, drbdDisconnectWithin, drbdReconnectWithin, drbdSyncStartWithin}
	drbdPoll, drbdSyncParamsWithin, drbdNetConfigWithin = time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
	drbdDisconnectWithin, drbdReconnectWithin, drbdSyncStartWithin = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	readableWas := drbdMetaReadable
	drbdMetaReadable = func(string) bool { return true }
	t.Cleanup(func() {
		drbdPoll, drbdSyncParamsWithin, drbdNetConfigWithin = saved[0], saved[1], saved[2]
		drbdDisconnectWithin, drbdReconnectWithin, drbdSyncStartWithin = saved[3], saved[4], saved[5]
		drbdMetaReadable = readableWas
	})
}

// drbdCommands are the commands of a run that change DRBD (drbdsetup,
// drbdmeta, the metadata wipe and its size check). Reads of a minor's
// configuration (drbdsetup show) are left out: this daemon reads before
// a disconnect, where Ganeti does not.
func drbdCommands(calls [][]string) [][]string {
	var out [][]string
	for _, c := range calls {
		if c[0] != "drbdsetup" && c[0] != "drbdmeta" && c[0] != "dd" && !(c[0] == "blockdev" && c[1] == "--getsize") {
			continue
		}
		if c[0] == "drbdsetup" && c[1] == "show" {
			continue
		}
		out = append(out, c)
	}
	return out
}

// TestDRBDAgainstGaneti replays every recorded DRBD procedure: the same
// arguments, the same answers from LVM and DRBD; this daemon must run
// the same DRBD commands and give the same reply.
func TestDRBDAgainstGaneti(t *testing.T) {
	fastDRBD(t)
	replies := map[string][]fakeReply{}
	for _, r := range readJSONLines[fakeReply](t, "testdata/drbd/ganeti/flows-argv.jsonl") {
		replies[r.Op] = append(replies[r.Op], r)
	}
	for _, rec := range readJSONLines[ganetiDRBDFlow](t, "testdata/drbd/ganeti/flows-results.jsonl") {
		t.Run(rec.Op, func(t *testing.T) {
			fake := newFakeLVM(t, replies[rec.Op])
			if err := os.WriteFile(fakeProcDRBD(fake.dir), []byte(rec.ProcDRBD), 0o644); err != nil {
				t.Fatal(err)
			}
			n, _ := newTestNode(t)
			n.paths.DRBDProcFile = fakeProcDRBD(fake.dir)
			noRemoveRetry(t)
			body, _ := json.Marshal(rec.Args)
			// The test node's paths are below its root.
			got := bytes.ReplaceAll(callRaw(t, n, "POST", rec.Proc, string(body)).Body.Bytes(), []byte(n.paths.Root), nil)
			want := rec.RPC
			delta := drbdFlowDeltas[rec.Op]
			if delta.reply != "" {
				want = json.RawMessage(delta.reply)
			}
			if !jsonEqual(got, want) {
				t.Errorf("reply\n got %s\nwant %s", got, want)
			}
			var wantCalls [][]string
			for _, r := range replies[rec.Op] {
				if !r.Extra {
					wantCalls = append(wantCalls, r.Argv)
				}
			}
			w := mustJSON(drbdCommands(wantCalls))
			if delta.commands != "" {
				w = []byte(delta.commands)
			}
			if g := drbdCommands(fake.calls(t)); !jsonEqual(mustJSON(g), w) {
				t.Errorf("DRBD commands\n got %q\nwant %s", g, w)
			}
		})
	}
}

// TestDRBDReviewCases: what a hostile review found, each refused before
// anything is changed.
func TestDRBDReviewCases(t *testing.T) {
	t.Run("secret never logged", func(t *testing.T) {
		n, logs := newTestNode(t)
		_, err := n.runCommand(command{Args: []string{"sh", "-c", "exit 3", "drbdsetup", "--shared-secret", "topsecret"}})
		if err == nil || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "<redacted>") {
			t.Errorf("error %v", err)
		}
		if strings.Contains(logs.String(), "topsecret") {
			t.Errorf("the secret is in the log: %s", logs.String())
		}
	})
	t.Run("volumes in use", func(t *testing.T) {
		open := &lvDevice{vg: "xenvg", lv: "other.meta", info: lvInfo{attr: "-wi-ao----"}}
		free := &lvDevice{vg: "xenvg", lv: "new.meta", info: lvInfo{attr: "-wi-a-----"}}
		if err := checkVolumesFree(0, free, open); err == nil || !strings.Contains(err.Error(), "/dev/xenvg/other.meta is in use") {
			t.Errorf("open volume: %v", err)
		}
		if err := checkVolumesFree(0, free, &drbdDevice{minor: 5}); err == nil || !strings.Contains(err.Error(), "/dev/drbd5 is not a logical volume") {
			t.Errorf("a DRBD device as metadata: %v", err)
		}
		if err := checkVolumesFree(0, free, free); err != nil {
			t.Error(err)
		}
	})
	t.Run("bad trees", func(t *testing.T) {
		fastDRBD(t)
		good := func() map[string]any {
			var d map[string]any
			rec := readJSONLines[ganetiDRBDFlow](t, "testdata/drbd/ganeti/flows-results.jsonl")[0]
			if err := json.Unmarshal(rec.Args[0], &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
		for name, change := range map[string]func(d map[string]any){
			"nil child":         func(d map[string]any) { d["children"] = []any{nil, d["children"].([]any)[1]} },
			"one child":         func(d map[string]any) { d["children"] = d["children"].([]any)[:1] },
			"drbd child":        func(d map[string]any) { d["children"].([]any)[1] = good() },
			"no dynamic":        func(d map[string]any) { d["dynamic_params"] = map[string]any{} },
			"port out of range": func(d map[string]any) { d["logical_id"].([]any)[2] = 80 },
			"short id":          func(d map[string]any) { d["logical_id"] = d["logical_id"].([]any)[:5] },
			"same ends":         func(d map[string]any) { d["dynamic_params"].(map[string]any)["remote-ip"] = "192.0.2.1" },
			"secret with space": func(d map[string]any) { d["logical_id"].([]any)[5] = "a b" },
		} {
			t.Run(name, func(t *testing.T) {
				fake := newFakeLVM(t, nil)
				n, _ := newTestNode(t)
				n.paths.DRBDProcFile = fakeProcDRBD(fake.dir)
				os.WriteFile(n.paths.DRBDProcFile, []byte("version: 8.4.11 (api:1/proto:86-101)\n"), 0o644)
				d := good()
				change(d)
				r := call(t, n, "blockdev_create", d, 1024, "inst1.example.com", true, "x", false)
				mustFail(t, r, "Invalid")
				if strings.Contains(string(r.Result), "0123456789abcdef0123") {
					t.Errorf("the secret is in the reply: %s", r.Result)
				}
				mustFail(t, call(t, n, "blockdev_remove", d), "Invalid")
				mustFail(t, call(t, n, "blockdev_assemble", d, map[string]any{"name": "inst1.example.com"}, true, 0), "Invalid")
				if calls := fake.calls(t); len(calls) != 0 {
					t.Errorf("ran %q", calls)
				}
			})
		}
	})
}
