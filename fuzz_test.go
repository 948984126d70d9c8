package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// unfuzzed are procedures a fuzzer must not drive: they act on the host
// or the network (master IP, daemons, ssh, TCP probes, downloads,
// programs named by the caller, LVM, reboot) or sleep on purpose.
var unfuzzed = map[string]bool{
	"test_delay": true, "import_start": true, "export_start": true, "run_oob": true, "restricted_command": true, "node_powercycle": true,
	"node_start_master_daemons": true, "node_stop_master": true, "node_activate_master_ip": true,
	"node_deactivate_master_ip": true, "node_change_master_netmask": true, "node_leave_cluster": true,
	"node_ensure_daemon": true, "node_configure_ovs": true, "node_demote_from_mc": true,
	"node_ssh_key_add": true, "node_ssh_key_remove": true, "node_ssh_keys_renew": true,
	"node_verify": true, "node_verify_light": true, "node_info": true, "hypervisor_validate_params": true,
	"instance_metadata_modify": true, "storage_modify": true, "storage_execute": true,
	"blockdev_image": true, "blockdev_wipe": true, "blockdev_convert": true, "iallocator_runner": true,
	"instance_os_add": true, "instance_run_rename": true, "os_validate": true,
}

// FuzzRPCBody sends arbitrary bodies to every procedure but those above:
// whatever arrives, the reply is a well-formed [bool, value] or an HTTP
// error, and nothing panics past the handler.
func FuzzRPCBody(f *testing.F) {
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range procedures {
			if !unfuzzed[name] && !yield(name) {
				return
			}
		}
	})
	for _, seed := range []string{`[]`, `[null]`, `[[0, "x"]]`, `[{"a": 1}]`, `["/etc/passwd", [1, "eJw="], 420, "root", "root", 1, 2]`, `[[["a", "b"]]]`, `{}`, `[`, `[1e999]`,
		// Numbers at the integer limits, where an integer is needed, in
		// disk and instance objects.
		`[{"dev_type": "file", "logical_id": ["loop", "/x"], "size": 17592186044416}, 9223372036854775807, false, true, false]`,
		`[{"dev_type": "file", "logical_id": ["loop", "/x"], "size": -1, "spindles": 1.5}, 4611686018427387904, "i", true, null, false]`,
		`[{"name": "i1", "hypervisor": "fake", "beparams": {"maxmem": 1e308, "vcpus": 1.5}, "network_port": 65536}, 4611686018427387904]`,
		`[1e308, -1, 1.5, 9223372036854775808, -9223372036854775809]`} {
		f.Add(uint8(0), seed)
		f.Add(uint8(7), seed)
	}
	n, _ := newTestNode(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		name := names[int(which)%len(names)]
		rec := callRaw(t, n, http.MethodPost, name, body)
		switch rec.Code {
		case http.StatusOK:
			var pair []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &pair); err != nil || len(pair) != 2 {
				t.Fatalf("%s %q: reply %q", name, body, rec.Body)
			}
			var ok bool
			if json.Unmarshal(pair[0], &ok) != nil {
				t.Fatalf("%s %q: first element not a bool: %q", name, body, rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %q: status %d", name, body, rec.Code)
		}
	})
}

// FuzzRequestNumbers: whatever JSON arrives, a bounded type either
// refuses it or holds a value within its bounds, whose conversion
// (bytes, Duration) does not overflow.
func FuzzRequestNumbers(f *testing.F) {
	for _, seed := range []string{"0", "-1", "1.5", "1e308", "-1e308", "1099511627776", "1099511627777",
		"9223372036854775807", "9223372036854775808", "-0", "1e-400", `"5"`, "null", "0.000001"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var m mebibytes
		if m.UnmarshalJSON([]byte(in)) == nil && (m < 0 || m > maxMiB || m.bytes() < 0) {
			t.Fatalf("mebibytes %q = %d", in, m)
		}
		var s seconds
		if s.UnmarshalJSON([]byte(in)) == nil && (s < 0 || s > maxRequestSeconds || s.duration() < 0) {
			t.Fatalf("seconds %q = %v", in, s)
		}
		var u unixTime
		if u.UnmarshalJSON([]byte(in)) == nil && (u < -maxUnixTime || u > maxUnixTime) {
			t.Fatalf("unixTime %q = %v", in, u)
		}
	})
}

// FuzzClientCheck drives the certificate rules and the candidate-map
// parser with arbitrary certificates and maps: nothing panics, a
// certificate is admitted only if it is byte for byte the listed candidate
// (or, in bootstrap, the cluster certificate), and a map the parser
// accepts holds only well-formed pairs.
func FuzzClientCheck(f *testing.F) {
	client := rawCert(f, "testdata/certs/client.pem")
	cluster := rawCert(f, "testdata/certs/cluster.pem")
	for _, m := range []string{"", "uuid=" + clientDigest + "\n", "bogus\n", "a=b=c", "\n\n", "u=" + clusterDigest} {
		f.Add(client, m)
		f.Add(cluster, m)
		f.Add([]byte("garbage"), m)
	}
	l := newTestRoot(f)
	_, clusterLeaf, err := loadKeyPair(l.NodedCertFile, l.NodedCertFile)
	if err != nil {
		f.Fatal(err)
	}
	mapFile := l.ssconfPath("master_candidates_certs")
	c := &clientCheck{cluster: clusterLeaf, candidates: mapFile, now: time.Now}
	// The oracle is live: the candidate passes with a good map, so the
	// early return below is not where every input ends.
	os.WriteFile(mapFile, []byte("uuid="+clientDigest+"\n"), 0o600)
	if err := c.verify([][]byte{client}); err != nil {
		f.Fatalf("the candidate is refused with a good map: %v", err)
	}
	f.Fuzz(func(t *testing.T, cert []byte, candidates string) {
		parsed, perr := parseCandidateMap([]byte(candidates))
		if perr == nil {
			for uuid, digest := range parsed {
				if uuid == "" || digest == "" || strings.ContainsAny(uuid+digest, "=\n") {
					t.Fatalf("map %q parsed into %q=%q", candidates, uuid, digest)
				}
			}
		}
		if err := os.WriteFile(mapFile, []byte(candidates), 0o600); err != nil {
			t.Fatal(err)
		}
		if c.verify([][]byte{cert}) != nil {
			return
		}
		switch {
		case perr != nil:
			t.Fatalf("certificate admitted with a malformed map %q", candidates)
		case len(parsed) == 0:
			if !bytes.Equal(cert, cluster) {
				t.Fatalf("bootstrap admitted a certificate that is not the cluster's")
			}
		default:
			digest := certDigest(&x509.Certificate{Raw: cert})
			if !slices.Contains(slices.Collect(maps.Values(parsed)), digest) {
				t.Fatalf("admitted %s, not in the map %q", digest, candidates)
			}
			if !bytes.Equal(cert, client) && !bytes.Equal(cert, cluster) {
				t.Fatalf("admitted a certificate that is neither the candidate nor the cluster's")
			}
		}
	})
}
