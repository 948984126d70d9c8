package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
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

// drbdFlowDeltas are where this daemon answers otherwise, and why.
var drbdFlowDeltas = map[string]struct{ reply, why string }{}

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

// drbdCommands are the DRBD commands of a run (drbdsetup, drbdmeta, the
// metadata wipe), repeated reads of the same configuration once.
func drbdCommands(calls [][]string) [][]string {
	var out [][]string
	for _, c := range calls {
		if c[0] != "drbdsetup" && c[0] != "drbdmeta" && c[0] != "dd" && !(c[0] == "blockdev" && c[1] == "--getsize") {
			continue
		}
		if c[0] == "drbdsetup" && c[1] == "show" && len(out) > 0 && slices.Equal(out[len(out)-1], c) {
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
			if d, ok := drbdFlowDeltas[rec.Op]; ok {
				want = json.RawMessage(d.reply)
			}
			if !jsonEqual(got, want) {
				t.Errorf("reply\n got %s\nwant %s", got, want)
			}
			var wantCalls [][]string
			for _, r := range replies[rec.Op] {
				wantCalls = append(wantCalls, r.Argv)
			}
			if g, w := drbdCommands(fake.calls(t)), drbdCommands(wantCalls); !jsonEqual(mustJSON(g), mustJSON(w)) {
				t.Errorf("DRBD commands\n got %q\nwant %q", g, w)
			}
		})
	}
}
