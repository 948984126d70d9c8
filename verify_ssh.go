package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pubKeysFile is the cluster's shared list of nodes' public keys.
func (l *layout) pubKeysFile() string { return l.DataDir + "/ganeti_pub_keys" }

// readPubKeys parses ganeti_pub_keys: "<uuid> <key...>" per line.
func readPubKeys(path string) (map[string][]string, error) {
	data, err := readFileLimited(path, 16<<20)
	if err != nil {
		return nil, err
	}
	lines, err := parsePubKeyLines(data)
	if err != nil {
		return nil, err
	}
	keys := map[string][]string{}
	for _, l := range lines {
		keys[l[0]] = append(keys[l[0]], l[1])
	}
	return keys, nil
}

// parsePubKeyLines splits ganeti_pub_keys into [uuid, key] pairs in
// file order, skipping blank lines.
func parsePubKeyLines(data []byte) ([][2]string, error) {
	var lines [][2]string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		chunks := strings.Split(line, " ")
		if len(chunks) < 2 {
			return nil, fmt.Errorf("Error parsing public SSH key file. Line: '%s'", line)
		}
		lines = append(lines, [2]string{chunks[0], strings.TrimRight(strings.Join(chunks[1:], " "), " \t\r")})
	}
	return lines, nil
}

// sshKeyMatches compares an authorized_keys line with a key: for RSA and
// DSA keys the type and key material, otherwise the whole line.
func sshKeyMatches(line, key string) bool {
	a, b := strings.Fields(line), strings.Fields(key)
	if len(a) > 0 && (a[0] == "ssh-dss" || a[0] == "ssh-rsa") {
		return len(a) >= 2 && len(b) >= 2 && a[0] == b[0] && a[1] == b[1]
	}
	return slices.Equal(a, b)
}

func authorizedKeysHas(lines []string, key string) bool {
	for _, l := range lines {
		if sshKeyMatches(l, key) {
			return true
		}
	}
	return false
}

// sshNodeStatus is [uuid, name, is_master_candidate, is_potential_mc, online].
type sshNodeStatus struct {
	UUID, Name                   string
	MasterCandidate, PotentialMC bool
	Online                       bool
}

func (s *sshNodeStatus) UnmarshalJSON(b []byte) error {
	if err := decodeTuple(b, &s.UUID, &s.Name, &s.MasterCandidate, &s.PotentialMC, &s.Online); err != nil {
		return fmt.Errorf("ssh node status must have 5 fields: %v", err)
	}
	return nil
}

// checkSSHSetup compares the shared public keys file, this node's own key
// and root's authorized_keys with the master's view of the nodes.
func (v *verifier) checkSSHSetup(raw json.RawMessage) error {
	var nodes *[]sshNodeStatus
	var keyType string
	if err := decodeTuple(raw, &nodes, &keyType); err != nil {
		return fmt.Errorf("node_verify: ssh-setup must be [node_status_list, key_type]: %v", err)
	}
	if keyType != "rsa" && keyType != "dsa" && keyType != "ecdsa" {
		return fmt.Errorf("node_verify: unknown ssh key type '%s'", keyType)
	}
	msgs, err := v.sshSetupProblems(nodes, keyType)
	if err != nil {
		return err
	}
	v.result["ssh-setup"] = msgs
	if _, ok := v.what["ssh-clutter"]; ok && nodes != nil {
		var names []string
		for _, nd := range *nodes {
			names = append(names, nd.Name)
		}
		v.result["ssh-clutter"] = v.sshClutter(names)
	}
	return nil
}

// sshSetupProblems lists what is wrong with this node's key files; a
// missing node list or public key file is a problem, not an error.
func (v *verifier) sshSetupProblems(nodes *[]sshNodeStatus, keyType string) ([]string, error) {
	if nodes == nil {
		return []string{"No node list to check against the pub_key_file received."}, nil
	}
	me := findSSHNode(*nodes, v.myName)
	if me == nil {
		return []string{fmt.Sprintf("Cannot find node information for node '%s'.", v.myName)}, nil
	}
	pubFile := v.n.paths.pubKeysFile()
	pubKeys, err := readPubKeys(pubFile)
	if errors.Is(err, os.ErrNotExist) {
		return []string{fmt.Sprintf("The public key file '%s' does not exist. Consider running 'gnt-cluster renew-crypto --new-ssh-keys [--no-ssh-key-check]' to fix this.", pubFile)}, nil
	}
	if err != nil {
		return nil, err
	}
	msgs := []string{}
	var missing []string
	if me.PotentialMC {
		var listMsgs, ownMsgs []string
		listMsgs, missing = v.pubKeyListProblems(*nodes, pubKeys, pubFile)
		if ownMsgs, err = v.ownPubKeyProblems(me, pubKeys, pubFile, keyType); err != nil {
			return nil, err
		}
		msgs = append(append(msgs, listMsgs...), ownMsgs...)
	}
	return append(msgs, v.authorizedKeysProblems(*nodes, me, pubKeys, missing)...), nil
}

// findSSHNode is the entry of the named node, or nil.
func findSSHNode(nodes []sshNodeStatus, name string) *sshNodeStatus {
	var found *sshNodeStatus
	for i := range nodes {
		if nodes[i].Name == name {
			found = &nodes[i]
		}
	}
	return found
}

// pubKeyListProblems compares the public key file's UUIDs with the
// online nodes; it also returns the UUIDs missing there, sorted.
func (v *verifier) pubKeyListProblems(nodes []sshNodeStatus, pubKeys map[string][]string, pubFile string) (msgs, missing []string) {
	offline := map[string]bool{}
	for _, nd := range nodes {
		if !nd.Online {
			offline[nd.UUID] = true
		}
	}
	var unknown []string
	listed := map[string]bool{}
	for _, nd := range nodes {
		if !offline[nd.UUID] {
			listed[nd.UUID] = true
		}
	}
	for uuid := range pubKeys {
		if !offline[uuid] && !listed[uuid] {
			unknown = append(unknown, uuid)
		}
	}
	for uuid := range listed {
		if _, ok := pubKeys[uuid]; !ok {
			missing = append(missing, uuid)
		}
	}
	sort.Strings(unknown)
	sort.Strings(missing)
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("The following node UUIDs are listed in the shared public keys file %s:%s, but are not potential master candidates: %s.", v.myName, pubFile, strings.Join(unknown, ", ")))
	}
	if len(missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("The following node UUIDs of potential master candidates are missing in the shared public keys file %s:%s: %s.", v.myName, pubFile, strings.Join(missing, ", ")))
	}
	return msgs, missing
}

// ownPubKeyProblems checks that the public key file holds this node's
// own key, and only that one.
func (v *verifier) ownPubKeyProblems(me *sshNodeStatus, pubKeys map[string][]string, pubFile, keyType string) ([]string, error) {
	myKeys, ok := pubKeys[me.UUID]
	if !ok {
		return nil, fmt.Errorf("node %s (%s) has no key in %s", v.myName, me.UUID, pubFile)
	}
	own, err := v.n.readLocalPubKey("id_" + keyType + ".pub")
	if err != nil {
		return nil, err
	}
	var msgs []string
	if !slices.Contains(myKeys, own) {
		msgs = append(msgs, fmt.Sprintf("The key for node %s in the cluster config does not match this node's key in the node public key file %s:%s.", v.myName, v.myName, pubFile))
	}
	if len(myKeys) != 1 {
		msgs = append(msgs, fmt.Sprintf("There is more than one key for node %s in the node public key file %s:%s.", v.myName, v.myName, pubFile))
	}
	return msgs, nil
}

// authorizedKeysProblems checks that authorized_keys lets in exactly the
// master candidates' keys (and this node's own).
func (v *verifier) authorizedKeysProblems(nodes []sshNodeStatus, me *sshNodeStatus, pubKeys map[string][]string, missing []string) []string {
	var msgs []string
	authorized := readLines(v.n.localAuthorizedKeys())
	for _, nd := range nodes {
		if !nd.Online || slices.Contains(missing, nd.UUID) {
			continue
		}
		for _, key := range pubKeys[nd.UUID] {
			has := authorizedKeysHas(authorized, key)
			switch {
			case nd.MasterCandidate && !has:
				msgs = append(msgs, fmt.Sprintf("A SSH key of master candidate '%s' (UUID: '%s') is not in the 'authorized_keys' file of node '%s'.", nd.Name, nd.UUID, v.myName))
			case !nd.MasterCandidate && nd.UUID != me.UUID && has:
				msgs = append(msgs, fmt.Sprintf("A SSH key of normal node '%s' (UUID: '%s') is in the 'authorized_keys' file of node '%s'.", nd.Name, nd.UUID, v.myName))
			case !nd.MasterCandidate && nd.UUID == me.UUID && !has:
				msgs = append(msgs, fmt.Sprintf("A SSH key of normal node '%s' (UUID: '%s') is not in the 'authorized_keys' file of itself.", v.myName, nd.UUID))
			}
		}
	}
	return msgs
}

// sshClutter finds cluster hosts with more than one key for the same user
// in authorized_keys. (Ganeti 3.0.2 crashes here; this is what it meant.)
func (v *verifier) sshClutter(nodeNames []string) []string {
	seen := map[string][]int{}
	var order []string
	for i, line := range readLines(v.n.localAuthorizedKeys()) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, tok := range strings.Fields(line) {
			if user, host, ok := strings.Cut(tok, "@"); ok && user != "" {
				if slices.Contains(nodeNames, host) {
					if _, ok := seen[tok]; !ok {
						order = append(order, tok)
					}
					seen[tok] = append(seen[tok], i+1)
				}
				break
			}
		}
	}
	var b strings.Builder
	for _, entry := range order {
		if lines := seen[entry]; len(lines) > 1 {
			var nums []string
			for _, l := range lines {
				nums = append(nums, strconv.Itoa(l))
			}
			fmt.Fprintf(&b, "Entry for '%s' in lines %s. ", entry, strings.Join(nums, ", "))
		}
	}
	if b.Len() == 0 {
		return []string{}
	}
	return []string{fmt.Sprintf("There are hosts which have more than one SSH key stored for the same user in the 'authorized_keys' file of node %s. This can be due to an unsuccessful operation which cluttered up the 'authorized_keys' file. We recommend to clean this up manually. %s", v.myName, b.String())}
}

func readLines(path string) []string {
	data, err := readFileLimited(path, 16<<20)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// sshCheckTimeout bounds one ssh hostname check (ssh's own connect
// timeout is 10 s; the remote command is trivial).
const sshCheckTimeout = 60 * time.Second

// checkNodeList, on a master candidate, logs in over ssh to every node as
// the master would and checks it reports the expected hostname.
func (v *verifier) checkNodeList(raw json.RawMessage) error {
	var nodes, mcs []string
	var bynode map[string][]string
	if decodeTuple(raw, &nodes, &bynode, &mcs) != nil {
		return errors.New("node_verify: nodelist must be [nodes, by_node, master_candidates]")
	}
	nodes = append(nodes, bynode[v.myName]...)
	ports, err := v.n.sshPortMap()
	if err != nil {
		return err
	}
	out := map[string]string{}
	v.result["nodelist"] = out
	if !slices.Contains(mcs, v.myName) {
		return nil
	}
	family := v.n.sshFamilyFlag()
	for _, node := range shuffle(nodes) {
		if !hostnamePattern.MatchString(node) {
			return fmt.Errorf("node_verify: invalid node name '%s'", node)
		}
		port, ok := ports[node]
		if !ok {
			return fmt.Errorf("node_verify: no ssh port known for node '%s'", node)
		}
		if msg := v.sshHostnameProblem(node, port, family); msg != "" {
			out[node] = msg
		}
	}
	return nil
}

func (v *verifier) sshHostnameProblem(node string, port int, family string) string {
	argv := []string{"ssh", "-oEscapeChar=none", "-oHashKnownHosts=no",
		"-oGlobalKnownHostsFile=" + v.n.paths.KnownHostsFile, "-oUserKnownHostsFile=/dev/null",
		"-oCheckHostIp=no", "-oConnectTimeout=10", "-oHostKeyAlias=" + v.clusterName}
	if port != 0 {
		argv = append(argv, "-oPort="+strconv.Itoa(port))
	}
	argv = append(argv, "-oBatchMode=yes", "-oStrictHostKeyChecking=yes", family, "root@"+node,
		`if test -z "$GANETI_HOSTNAME"; then  hostname --fqdn;else  echo "$GANETI_HOSTNAME";fi`)
	res, err := v.n.runCommand(command{Args: argv, Timeout: sshCheckTimeout})
	if err != nil {
		if res == nil {
			return "ssh problem: " + err.Error()
		}
		if out := strings.TrimSpace(res.Output); out != "" {
			return "ssh problem: " + res.Output
		}
		why := fmt.Sprintf("exited with exit code %d", res.ExitCode)
		if res.TimedOut {
			why = "timed out"
		}
		return "ssh problem: " + why + " (no output)"
	}
	remote := strings.TrimSpace(res.Stdout)
	if remote != "" && remote == node {
		return ""
	}
	if remote != "" && strings.HasPrefix(node, remote+".") {
		return fmt.Sprintf("hostname not FQDN: expected %s but got %s", node, remote)
	}
	return fmt.Sprintf("hostname mismatch: expected %s but got %s", node, remote)
}
