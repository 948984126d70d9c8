package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sshTestNode is a master node with three nodes in ssconf, root's ssh
// directory in a temporary place, and a fake ssh that records each call's
// target and JSON input.
func sshTestNode(t *testing.T) (*node, string) {
	n, _ := newTestNode(t)
	n.paths.SSHDir = t.TempDir()
	ssconf := map[string]string{
		"cluster_name": "cluster.example.com", "master_node": "node1.example.com",
		"node_list":    "node1.example.com\nnode2.example.com\nnode3.example.com",
		"online_nodes": "node1.example.com\nnode2.example.com\nnode3.example.com",
		"ssh_ports":    "node1.example.com=22\nnode2.example.com=22\nnode3.example.com=2222",
	}
	for k, v := range ssconf {
		os.WriteFile(n.paths.ssconfPath(k), []byte(v+"\n"), 0o444)
	}
	os.WriteFile(n.paths.pubKeysFile(), []byte("uuid-1 ssh-rsa AAAA1 root@node1\nnode3.example.com ssh-rsa AAAA3 root@node3\n"), 0o600)
	os.WriteFile(filepath.Join(n.paths.SSHDir, "authorized_keys"), []byte("ssh-rsa AAAA1 root@node1\n"), 0o600)
	calls := filepath.Join(t.TempDir(), "ssh-calls")
	bin := withFakePath(t)
	// The last two arguments are root@node and the remote command.
	fakeTool(t, bin, "ssh", `for a; do target=$prev; prev=$a; done; printf "%s %s\n" "$target" "$(cat)" >> `+calls)
	return n, calls
}

func sshCalls(t *testing.T, path string) map[string]map[string]any {
	data, _ := os.ReadFile(path)
	out := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		target, body, _ := strings.Cut(line, " ")
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("ssh-update input %q: %v", body, err)
		}
		if !strings.Contains(m["node_daemon_certificate"].(string), "BEGIN CERTIFICATE") || m["cluster_name"] != "cluster.example.com" {
			t.Fatalf("ssh-update input lacks the cluster's credentials: %v", m)
		}
		out[target] = m
	}
	return out
}

func TestNodeSSHKeyAdd(t *testing.T) {
	n, calls := sshTestNode(t)
	var errs [][]string
	mustOK(t, call(t, n, "node_ssh_key_add", "uuid-3", "node3.example.com", []string{"node2.example.com", "node3.example.com"}, true, true, true), &errs)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	// The name must become the uuid.
	if !fileHolds(t, n.paths.pubKeysFile(), "uuid-1 ssh-rsa AAAA1 root@node1\nuuid-3 ssh-rsa AAAA3 root@node3\n") {
		t.FailNow()
	}
	if data, _ := os.ReadFile(filepath.Join(n.paths.SSHDir, "authorized_keys")); !strings.Contains(string(data), "AAAA3") {
		t.Fatalf("authorized_keys %q", data)
	}
	got := sshCalls(t, calls)
	// node2 (a potential candidate) gets the key both ways; node3 itself
	// too (it is in the list) after it got the whole key file.
	if pk, _ := json.Marshal(got["root@node2.example.com"]["public_keys"]); string(pk) != `["replace_or_add",{"uuid-3":["ssh-rsa AAAA3 root@node3"]}]` {
		t.Errorf("node2 public keys %s", pk)
	}
	if ak, _ := json.Marshal(got["root@node2.example.com"]["authorized_keys"]); string(ak) != `["add",{"uuid-3":["ssh-rsa AAAA3 root@node3"]}]` {
		t.Errorf("node2 authorized keys %s", ak)
	}
	if _, ok := got["root@node1.example.com"]; ok {
		t.Error("the master pushed to itself")
	}
	mustFail(t, call(t, n, "node_ssh_key_add", "uuid-9", "node9.example.com", []string{}, false, true, false), "No keys found for the new node 'node9.example.com' (UUID uuid-9)")
}

func TestNodeSSHKeyRemove(t *testing.T) {
	n, calls := sshTestNode(t)
	os.WriteFile(n.paths.pubKeysFile(), []byte("uuid-1 ssh-rsa AAAA1 root@node1\nuuid-3 ssh-rsa AAAA3 root@node3\n"), 0o600)
	os.WriteFile(filepath.Join(n.paths.SSHDir, "authorized_keys"), []byte("ssh-rsa AAAA1 root@node1\nssh-rsa AAAA3 root@node3\n"), 0o600)
	var errs [][]string
	mustOK(t, call(t, n, "node_ssh_key_remove", "uuid-3", "node3.example.com", []string{"uuid-1"}, []string{"node2.example.com"}, true, true, true, false, false), &errs)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	if !fileHolds(t, n.paths.pubKeysFile(), "uuid-1 ssh-rsa AAAA1 root@node1\n") {
		t.FailNow()
	}
	if data, _ := os.ReadFile(filepath.Join(n.paths.SSHDir, "authorized_keys")); strings.Contains(string(data), "AAAA3") {
		t.Fatalf("authorized_keys still has the key: %q", data)
	}
	got := sshCalls(t, calls)
	if ak, _ := json.Marshal(got["root@node3.example.com"]["authorized_keys"]); string(ak) != `["remove",{"uuid-1":["ssh-rsa AAAA1 root@node1"]}]` {
		t.Errorf("leaving node's authorized keys %s", ak)
	}
	if pk, _ := json.Marshal(got["root@node2.example.com"]["public_keys"]); string(pk) != `["remove",{"uuid-3":["ssh-rsa AAAA3 root@node3"]}]` {
		t.Errorf("node2 public keys %s", pk)
	}
	mustFail(t, call(t, n, "node_ssh_key_remove", "uuid-1", "node1.example.com", []string{}, []string{}, true, false, false, false, false), "Cannot remove the master node's keys.")
	mustFail(t, call(t, n, "node_ssh_key_remove", "uuid-7", "node7.example.com", []string{}, []string{}, true, false, false, false, false), "It seems someone tries to remove a key from outside the cluster!")
	mustFail(t, call(t, n, "node_ssh_key_remove", "uuid-3", "node3.example.com", []string{}, []string{}, false, false, false, false, false), "No removal from any key file was requested.")
}

func TestSSHUpdateRetriesAndReports(t *testing.T) {
	n, _ := sshTestNode(t)
	bin := withFakePath(t)
	count := filepath.Join(t.TempDir(), "count")
	fakeTool(t, bin, "ssh", `echo x >> `+count+`; echo "connection refused" >&2; exit 255`)
	var errs [][]string
	mustOK(t, call(t, n, "node_ssh_key_add", "uuid-1", "node1.example.com", []string{"node2.example.com"}, false, true, false), &errs)
	if len(errs) != 1 || errs[0][0] != "node2.example.com" || !strings.Contains(errs[0][1], "failed after 3 retries") || !strings.Contains(errs[0][1], "connection refused") {
		t.Fatalf("errors %v", errs)
	}
	if data, _ := os.ReadFile(count); strings.Count(string(data), "x") != 3 {
		t.Fatalf("ssh ran %d times, want 3", strings.Count(string(data), "x"))
	}
}

func TestNodeSSHKeysRenew(t *testing.T) {
	n, calls := sshTestNode(t)
	os.WriteFile(n.paths.pubKeysFile(), []byte("uuid-1 ssh-rsa AAAA1 root@node1\nuuid-2 ssh-rsa AAAA2 root@node2\n"), 0o600)
	os.WriteFile(n.paths.ssconfPath("node_list"), []byte("node1.example.com\nnode2.example.com\n"), 0o444)
	os.WriteFile(n.paths.ssconfPath("online_nodes"), []byte("node1.example.com\nnode2.example.com\n"), 0o444)
	os.WriteFile(filepath.Join(n.paths.SSHDir, "id_rsa.pub"), []byte("ssh-rsa AAAA1 root@node1\n"), 0o644)
	os.WriteFile(filepath.Join(n.paths.SSHDir, "id_rsa"), []byte("old private"), 0o600)
	os.WriteFile(filepath.Join(n.paths.SSHDir, "authorized_keys"), []byte("ssh-rsa AAAA1 root@node1\nssh-rsa AAAA2 root@node2\n"), 0o600)
	bin := withFakePath(t)
	// A fake cluster: "cat" answers node2's new key; ssh-update with
	// "generate" on the master makes the temporary key pair.
	fakeTool(t, bin, "ssh", `for a; do target=$prev; prev=$a; done
case "$prev" in
cat*) [ "$target" = root@node2.example.com ] && echo "ssh-ecdsa NEW2 root@node2"; exit 0;;
esac
input=$(cat)
printf "%s %s\n" "$target" "$input" >> `+calls+`
case "$target $input" in
*node1.example.com*generate*) echo "ssh-ecdsa NEWMASTER root@node1" > `+n.paths.SSHDir+`/id_ecdsa_master_tmp.pub; echo priv > `+n.paths.SSHDir+`/id_ecdsa_master_tmp;;
esac`)
	var errs [][]string
	mustOK(t, call(t, n, "node_ssh_keys_renew", []string{"uuid-1", "uuid-2"}, []string{"node1.example.com", "node2.example.com"},
		[]string{"uuid-1", "uuid-2"}, []string{"node1.example.com", "node2.example.com"}, "rsa", "ecdsa", 256), &errs)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	keys, _ := readPubKeys(n.paths.pubKeysFile())
	if strings.Join(keys["uuid-2"], ",") != "ssh-ecdsa NEW2 root@node2" || strings.Join(keys["uuid-1"], ",") != "ssh-ecdsa NEWMASTER root@node1" {
		t.Fatalf("new keys %v", keys)
	}
	if data, _ := os.ReadFile(filepath.Join(n.paths.SSHDir, "id_ecdsa.pub")); !strings.Contains(string(data), "NEWMASTER") {
		t.Fatalf("master key not moved into place: %q", data)
	}
	auth, _ := os.ReadFile(filepath.Join(n.paths.SSHDir, "authorized_keys"))
	if strings.Contains(string(auth), "AAAA1") || !strings.Contains(string(auth), "NEWMASTER") || !strings.Contains(string(auth), "NEW2") {
		t.Fatalf("authorized_keys %q", auth)
	}
	if data, _ := os.ReadFile(calls); !strings.Contains(string(data), `"generate":["ecdsa",256,""]`) {
		t.Fatalf("node2 not asked to generate a key: %s", data)
	}
	mustFail(t, call(t, n, "node_ssh_keys_renew", []string{"uuid-1"}, []string{}, []string{}, []string{}, "rsa", "rsa", 2048), "does not match in length")
	mustFail(t, call(t, n, "node_ssh_keys_renew", []string{"uuid-9"}, []string{"node9"}, []string{}, []string{}, "ecdsa", "rsa", 2048), "No (unique) master UUID found")
}
