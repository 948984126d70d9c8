package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	t.Run("disconnect from another peer", func(t *testing.T) {
		fastDRBD(t)
		var rec ganetiDRBDFlow
		for _, r := range readJSONLines[ganetiDRBDFlow](t, "testdata/drbd/ganeti/flows-results.jsonl") {
			if r.Op == "disconnect" {
				rec = r
			}
		}
		var replies []fakeReply
		for _, r := range readJSONLines[fakeReply](t, "testdata/drbd/ganeti/flows-argv.jsonl") {
			if r.Op == "disconnect" {
				r.Stdout = strings.ReplaceAll(r.Stdout, "192.0.2.2:11000", "198.51.100.7:7789")
				replies = append(replies, r)
			}
		}
		fake := newFakeLVM(t, replies)
		os.WriteFile(fakeProcDRBD(fake.dir), []byte(rec.ProcDRBD), 0o644)
		n, _ := newTestNode(t)
		n.paths.DRBDProcFile = fakeProcDRBD(fake.dir)
		body, _ := json.Marshal(rec.Args)
		mustFail(t, callBody(t, n, rec.Proc, string(body)), "the minor is connected 192.0.2.1:11000 - 198.51.100.7:7789, not as this disk")
		for _, c := range fake.calls(t) {
			if c[0] == "drbdsetup" && c[1] == "disconnect" {
				t.Errorf("ran %q", c)
			}
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

// drbdStatusFixture is a node with count connected DRBD disks (minors
// 100 and up, 4 MiB on xenvg), the fake tools and /proc/drbd saying so,
// and the disks as the master sends them to blockdev_getmirrorstatus_multi.
func drbdStatusFixture(tb testing.TB, count int) (*node, []any) {
	var lvs, proc strings.Builder
	proc.WriteString("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73C670A7EC572DB9CF3E5B \n")
	var disks []any
	for i := range count {
		m := 100 + i
		fmt.Fprintf(&lvs, "  xenvg|bench%d.disk0_data|-wi-ao----|253|%d|4096.00|1|/dev/vda(%d)\n", i, 2*i, 34*i)
		fmt.Fprintf(&lvs, "  xenvg|bench%d.disk0_meta|-wi-ao----|253|%d|4096.00|1|/dev/vda(%d)\n", i, 2*i+1, 34*i+1)
		fmt.Fprintf(&proc, "%3d: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n"+
			"    ns:4096 nr:0 dw:0 dr:4096 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n", m)
		params := map[string]any{}
		for k, v := range drbdTestParams {
			params[k] = v
		}
		disks = append(disks, map[string]any{"dev_type": "drbd",
			"logical_id": []any{"node-a", "node-b", firstDRBDPort + i, m, m, "0123456789abcdef0123"},
			"children": []any{plainDisk("xenvg", fmt.Sprintf("bench%d.disk0_data", i), 4),
				plainDisk("xenvg", fmt.Sprintf("bench%d.disk0_meta", i), 128)},
			"iv_name": "disk/0", "size": 4, "mode": "rw", "uuid": fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			"params":         params,
			"dynamic_params": map[string]any{"local-ip": "192.0.2.1", "remote-ip": "192.0.2.2", "local-minor": m, "remote-minor": m}})
	}
	fake := newFakeLVM(tb, []fakeReply{{Argv: []string{"lvs", "--noheadings", "--separator=|", "--units=k", "--nosuffix", "-o" + lvsFields},
		Stdout: lvs.String()}})
	n, _ := newTestNode(tb)
	n.paths.DRBDProcFile = fakeProcDRBD(fake.dir)
	if err := os.WriteFile(n.paths.DRBDProcFile, []byte(proc.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	readableWas := drbdMetaReadable
	drbdMetaReadable = func(string) bool { return true }
	tb.Cleanup(func() { drbdMetaReadable = readableWas })
	return n, disks
}

// drbdTestParams are Ganeti 3.0's DRBD disk parameters, as the master
// fills them in.
var drbdTestParams = map[string]any{"c-delay-target": 1, "c-fill-target": 0, "c-max-rate": 61440, "c-min-rate": 4096,
	"c-plan-ahead": 20, "default-metavg": "xenvg", "disable-meta-flush": false, "disabled-barriers": "n",
	"disk-custom": "", "dynamic-resync": false, "net-custom": "", "protocol": "C", "resync-rate": 61440}

// BenchmarkMirrorStatusDRBD50 is blockdev_getmirrorstatus_multi for 50
// DRBD disks (make bench measures it on real DRBD against Ganeti's).
func BenchmarkMirrorStatusDRBD50(b *testing.B) {
	n, disks := drbdStatusFixture(b, 50)
	for b.Loop() {
		var out []any
		mustOK(b, call(b, n, "blockdev_getmirrorstatus_multi", disks), &out)
	}
}

// TestMirrorStatusDRBDMany: every one of many DRBD disks gets its own
// status, through the shared parse of /proc/drbd.
func TestMirrorStatusDRBDMany(t *testing.T) {
	n, disks := drbdStatusFixture(t, 50)
	var out [][]any
	mustOK(t, call(t, n, "blockdev_getmirrorstatus_multi", disks), &out)
	for i, r := range out {
		st, _ := r[1].(map[string]any)
		if r[0] != true || st["dev_path"] != fmt.Sprintf("/dev/drbd%d", 100+i) || st["is_degraded"] != false {
			t.Fatalf("disk %d: %v", i, r)
		}
	}
}

// TestDRBDProcCache: the same text gives the same parse, a changed text a
// new one, and a text that does not parse is not kept.
func TestDRBDProcCache(t *testing.T) {
	var c drbdProcCache
	one := "version: 8.4.11 (api:1/proto:86-101)\n 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n"
	two := strings.Replace(one, "cs:Connected", "cs:StandAlone", 1)
	a, err := c.parse(one)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.parse(one); b != a {
		t.Error("the same text parsed again")
	}
	b, err := c.parse(two)
	if err != nil || b == a {
		t.Fatalf("changed text: %v, same parse %v", err, b == a)
	}
	if st, _ := b.status(0); !st.isStandalone() {
		t.Errorf("changed text's status: %+v", st)
	}
	if _, err := c.parse("garbage\n"); err == nil {
		t.Error("a text that does not parse")
	}
	if got, _ := c.parse(two); got != b {
		t.Error("a failed parse replaced the kept one")
	}
}
