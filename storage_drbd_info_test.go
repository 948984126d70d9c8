package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ganetiDRBDProc is one line of testdata/drbd/ganeti/proc.jsonl: what
// Ganeti 3.0's parser made of a /proc/drbd text (record.py).
type ganetiDRBDProc struct {
	File          string                     `json:"file"`
	Error         string                     `json:"error"`
	Version       map[string]any             `json:"version"`
	VersionString string                     `json:"version_string"`
	Minors        []int                      `json:"minors"`
	Used          []int                      `json:"used"`
	UsedError     string                     `json:"used_error"`
	Unused        *int                       `json:"unused"`
	UnusedError   string                     `json:"unused_error"`
	Status        map[string]json.RawMessage `json:"status"`
}

// drbdTestdata is a file of testdata/drbd.
func drbdTestdata(t *testing.T, name string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata/drbd", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// pyErrorText is the message of a recorded "Class: message" error.
func pyErrorText(s string) string {
	_, msg, _ := strings.Cut(s, ": ")
	return msg
}

// TestDRBDProcAgainstGaneti: every /proc/drbd text parses as Ganeti's
// parser reads it: version, minors, minors in use, the first free
// minor, and each minor's state, roles, disks and sync progress.
func TestDRBDProcAgainstGaneti(t *testing.T) {
	for _, rec := range readJSONLines[ganetiDRBDProc](t, "testdata/drbd/ganeti/proc.jsonl") {
		t.Run(rec.File, func(t *testing.T) {
			p, err := parseDRBDProc(drbdTestdata(t, rec.File))
			if rec.Error != "" && rec.Minors == nil {
				if err == nil || err.Error() != pyErrorText(rec.Error) {
					t.Fatalf("error %v, want %q", err, pyErrorText(rec.Error))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := p.version
			got := map[string]any{"k_major": v.major, "k_minor": v.minor, "k_point": v.point, "api": v.api, "proto": v.proto}
			if v.fixSep != "" {
				got["k_fix_separator"], got["k_fix"] = v.fixSep, v.fix
			}
			if v.proto2 != "" {
				got["proto2"] = v.proto2
			}
			if !jsonEqual(mustJSON(got), mustJSON(rec.Version)) || v.String() != rec.VersionString {
				t.Errorf("version %v %q, want %v %q", got, v.String(), rec.Version, rec.VersionString)
			}
			if !jsonEqual(mustJSON(p.minors), mustJSON(rec.Minors)) {
				t.Errorf("minors %v, want %v", p.minors, rec.Minors)
			}
			used, err := p.usedMinors()
			checkPyResult(t, "used", used, err, rec.Used, rec.UsedError)
			unused, err := p.unusedMinor()
			checkPyResult(t, "unused", unused, err, rec.Unused, rec.UnusedError)
			for minorText, want := range rec.Status {
				minor, _ := strconv.Atoi(minorText)
				st, err := p.status(minor)
				var wantErr struct{ Error string }
				json.Unmarshal(want, &wantErr)
				if wantErr.Error != "" {
					if err == nil || err.Error() != pyErrorText(wantErr.Error) {
						t.Errorf("minor %d: error %v, want %q", minor, err, wantErr.Error)
					}
					continue
				}
				if err != nil {
					t.Errorf("minor %d: %v", minor, err)
					continue
				}
				orNil := func(s string) any {
					if s == "" {
						return nil
					}
					return s
				}
				got := map[string]any{"cstatus": st.cstatus, "lrole": orNil(st.lrole), "rrole": orNil(st.rrole),
					"ldisk": orNil(st.ldisk), "rdisk": orNil(st.rdisk), "sync_percent": st.syncPercent, "est_time": st.estTime,
					"is_in_use": st.inUse(), "is_in_resync": st.inResync(), "is_standalone": st.isStandalone(),
					"is_connected": st.isConnected(), "is_primary": st.isPrimary(), "peer_primary": st.peerPrimary(),
					"is_diskless": st.isDiskless(), "is_disk_uptodate": st.diskUpToDate()}
				if !jsonEqual(mustJSON(got), want) {
					t.Errorf("minor %d:\n got %s\nwant %s", minor, mustJSON(got), want)
				}
			}
		})
	}
}

// checkPyResult compares a result or its error with a recorded one.
func checkPyResult(t *testing.T, what string, got any, err error, want any, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != pyErrorText(wantErr) {
			t.Errorf("%s: error %v, want %q", what, err, pyErrorText(wantErr))
		}
		return
	}
	if err != nil || !jsonEqual(mustJSON(got), mustJSON(want)) {
		t.Errorf("%s: %v (%v), want %v", what, got, err, mustJSON(want))
	}
}

// ganetiDRBDShow is one line of testdata/drbd/ganeti/show.jsonl.
type ganetiDRBDShow struct {
	File   string         `json:"file"`
	Result map[string]any `json:"result"`
	Error  string         `json:"error"`
}

// TestDRBDShowAgainstGaneti: drbdsetup show's output gives the fields
// Ganeti's 8.4 parser extracts; what it cannot parse is refused (with
// this parser's own reason after Ganeti's prefix).
func TestDRBDShowAgainstGaneti(t *testing.T) {
	for _, rec := range readJSONLines[ganetiDRBDShow](t, "testdata/drbd/ganeti/show.jsonl") {
		t.Run(rec.File, func(t *testing.T) {
			info, err := parseDRBDShow(drbdTestdata(t, rec.File))
			if rec.Error != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "Can't parse drbdsetup show output: ") {
					t.Fatalf("got %+v, %v; want an error like %q", info, err, rec.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			if info.hasLocalDev {
				got["local_dev"] = info.localDev
			}
			if info.hasMetaDev {
				got["meta_dev"] = info.metaDev
			}
			if info.hasMetaIndex {
				got["meta_index"] = info.metaIndex
			}
			if info.hasLocal {
				got["local_addr"] = []any{info.localAddr.host, info.localAddr.port}
			}
			if info.hasRemote {
				got["remote_addr"] = []any{info.remoteAddr.host, info.remoteAddr.port}
			}
			if !jsonEqual(mustJSON(got), mustJSON(rec.Result)) {
				t.Errorf("\n got %s\nwant %s", mustJSON(got), mustJSON(rec.Result))
			}
		})
	}
}
