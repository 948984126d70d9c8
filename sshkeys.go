package main

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SSH key distribution. These procedures run on the master node: they edit
// its own ganeti_pub_keys and authorized_keys, and push changes to the
// other nodes by running Ganeti's ssh-update tool over ssh with JSON on
// standard input, exactly as Ganeti's Python master does.

const (
	sshUpdateRetries = 3
	sshUpdateTimeout = 5 * time.Minute
)

// pubKeyFile is the cluster's ganeti_pub_keys with its edit operations.
type pubKeyFile struct{ path string }

// query returns the keys of the given identifiers (all for nil).
func (f pubKeyFile) query(ids []string) (map[string][]string, error) {
	all, err := readPubKeys(f.path)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		return all, nil
	}
	out := map[string][]string{}
	for _, id := range ids {
		if k, ok := all[id]; ok {
			out[id] = k
		}
	}
	return out, nil
}

// rewrite applies edit to the ordered lines of the file and writes it
// back atomically; a missing file starts empty.
func (f pubKeyFile) rewrite(edit func(lines [][2]string) [][2]string) error {
	data, err := readFileLimited(f.path, 16<<20)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	lines, err := parsePubKeyLines(data)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range edit(lines) {
		fmt.Fprintf(&b, "%s %s\n", l[0], l[1])
	}
	return writeFile(f.path, []byte(b.String()), 0o600)
}

func (f pubKeyFile) add(id, key string) error {
	return f.rewrite(func(lines [][2]string) [][2]string {
		if slices.Contains(lines, [2]string{id, key}) {
			return lines
		}
		return append(lines, [2]string{id, key})
	})
}

func (f pubKeyFile) remove(id string) error {
	return f.rewrite(func(lines [][2]string) [][2]string {
		return slices.DeleteFunc(lines, func(l [2]string) bool { return l[0] == id })
	})
}

func (f pubKeyFile) replaceNameByUUID(uuid, name string) error {
	return f.rewrite(func(lines [][2]string) [][2]string {
		for i := range lines {
			if lines[i][0] == name {
				lines[i][0] = uuid
			}
		}
		return lines
	})
}

// sshUpdateBase is the part of every ssh-update request that proves the
// caller belongs to the cluster.
func (n *node) sshUpdateBase() (map[string]any, error) {
	cluster, err := n.paths.readSsconf("cluster_name")
	if err != nil {
		return nil, err
	}
	_, cert, err := loadKeyPair(n.paths.NodedCertFile, n.paths.NodedCertFile)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"cluster_name":            cluster,
		"node_daemon_certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
	}, nil
}

// sshPortMap reads ssconf_ssh_ports ("name=port" lines).
func (n *node) sshPortMap() (map[string]int, error) {
	text, err := n.paths.readSsconf("ssh_ports")
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		name, port, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		p, err := strconv.Atoi(strings.TrimSpace(port))
		if err != nil {
			return nil, fmt.Errorf("bad ssh port in ssconf_ssh_ports: %q", line)
		}
		ports[name] = p
	}
	return ports, nil
}

// sshArgv is the ssh command line Ganeti's master uses to run a command
// on another node as root (no host key prompt, cluster known_hosts).
func (n *node) sshArgv(node string, port int, remote string) []string {
	if port == 0 {
		port = 22
	}
	return []string{"ssh", "-oEscapeChar=none", "-oHashKnownHosts=no",
		"-oGlobalKnownHostsFile=" + n.paths.KnownHostsFile, "-oUserKnownHostsFile=/dev/null",
		"-oCheckHostIp=no", "-oConnectTimeout=10", "-oPort=" + strconv.Itoa(port),
		"-oStrictHostKeyChecking=no", n.sshFamilyFlag(), "root@" + node, remote}
}

// sshFamilyFlag makes ssh use the cluster's primary IP family.
func (n *node) sshFamilyFlag() string {
	if primaryIPFamily(n.paths) == 6 {
		return "-6"
	}
	return "-4"
}

// runSSHUpdate runs ssh-update on node with data on standard input.
func (n *node) runSSHUpdate(node string, port int, data map[string]any) error {
	if !hostnamePattern.MatchString(node) {
		return fmt.Errorf("invalid node name '%s'", node)
	}
	input, err := json.Marshal(data)
	if err != nil {
		return err
	}
	argv := n.sshArgv(node, port, "/bin/sh -c "+n.paths.SSHUpdateTool)
	_, err = n.runCommand(command{Args: argv, Stdin: append(input, '\n'), Timeout: sshUpdateTimeout})
	return err
}

// runSSHUpdateRetrying tries three times, as Ganeti does.
func (n *node) runSSHUpdateRetrying(node string, port int, data map[string]any) error {
	var err error
	for i := 0; i < sshUpdateRetries; i++ {
		if err = n.runSSHUpdate(node, port, data); err == nil {
			return nil
		}
	}
	return fmt.Errorf("Error after %d retries. Last exception: %v.", sshUpdateRetries, err)
}

// clusterNodes returns ssconf's node list, online nodes and master.
func (n *node) clusterNodes() (all, online []string, master string, err error) {
	var text string
	if text, err = n.paths.readSsconf("node_list"); err != nil {
		return
	}
	all = strings.Fields(text)
	if text, err = n.paths.readSsconf("online_nodes"); err != nil {
		return
	}
	online = strings.Fields(text)
	master, err = n.paths.readSsconf("master_node")
	return
}

// rpcNodeSSHKeyAdd distributes a node's public key: [uuid, name,
// potential_master_candidates, to_authorized_keys, to_public_keys,
// get_public_keys] → [[node, error], ...].
func rpcNodeSSHKeyAdd(n *node, args []json.RawMessage) (any, error) {
	var a keyAddition
	if err := decodeArgs(args, &a.uuid, &a.name, &a.potMCs, &a.toAuth, &a.toPub, &a.getPub); err != nil {
		return nil, err
	}
	return n.addNodeSSHKey(a)
}

// keyAddition describes one node's keys joining the key files.
type keyAddition struct {
	uuid, name    string
	potMCs        []string
	toAuth, toPub bool
	getPub        bool // first send the node the whole public key file
}

// addNodeSSHKey returns the per-node errors of spreading the key; what
// stops it on the way is the error.
func (n *node) addNodeSSHKey(a keyAddition) ([][2]string, error) {
	pub := pubKeyFile{n.paths.pubKeysFile()}
	if a.toPub {
		if err := pub.fileUnderUUID(a.uuid, a.name); err != nil {
			return nil, err
		}
	}
	keys, err := pub.query([]string{a.uuid})
	if err != nil {
		return nil, err
	}
	if a.toAuth {
		if err := n.authorizeLocally(keys, a.uuid); err != nil {
			return nil, err
		}
	}
	base, err := n.sshUpdateBase()
	if err != nil {
		return nil, err
	}
	ports, err := n.sshPortMap()
	if err != nil {
		return nil, err
	}
	if a.getPub {
		if err := n.sendAllPubKeys(a, pub, base, ports[a.name]); err != nil {
			return nil, err
		}
	}
	return n.spreadNodeKey(a, keys, base, ports)
}

// fileUnderUUID makes sure the new node's key is filed under its UUID:
// it may have been written under the node's name, before the node had one.
func (f pubKeyFile) fileUnderUUID(uuid, name string) error {
	byName, err := f.query([]string{name})
	if err != nil {
		return err
	}
	byUUID, err := f.query([]string{uuid})
	if err != nil {
		return err
	}
	if len(byName) == 0 && len(byUUID) == 0 {
		return fmt.Errorf("No keys found for the new node '%s' (UUID %s) in the list of public SSH keys, neither for the name or the UUID", name, uuid)
	}
	if len(byName) > 0 {
		return f.replaceNameByUUID(uuid, name)
	}
	return nil
}

// localAuthorizedKeys is this (the master) node's own authorized_keys.
func (n *node) localAuthorizedKeys() string { return filepath.Join(n.paths.SSHDir, "authorized_keys") }

// authorizeLocally lets the node's keys log in to this node.
func (n *node) authorizeLocally(keys map[string][]string, uuid string) error {
	k, ok := keys[uuid]
	if !ok {
		return fmt.Errorf("Error while executing backend function: '%s'", uuid)
	}
	return editAuthorizedKeys(n.localAuthorizedKeys(), k, nil)
}

// sendAllPubKeys gives the joining node the whole public key file. If
// that fails, the key just filed for it is taken out again.
func (n *node) sendAllPubKeys(a keyAddition, pub pubKeyFile, base map[string]any, port int) error {
	all, err := pub.query(nil)
	if err != nil {
		return err
	}
	data := maps.Clone(base)
	data["public_keys"] = []any{"override", all}
	if err := n.runSSHUpdateRetrying(a.name, port, data); err != nil {
		if a.toPub {
			pub.remove(a.uuid)
		}
		return err
	}
	return nil
}

// spreadNodeKey pushes the node's keys to the other online nodes. A
// potential master candidate that fails is reported and the rest go on;
// a plain node that fails to take authorized_keys stops it.
func (n *node) spreadNodeKey(a keyAddition, keys map[string][]string, base map[string]any, ports map[string]int) ([][2]string, error) {
	if a.toAuth {
		base["authorized_keys"] = []any{"add", keys}
	}
	potData := maps.Clone(base)
	if a.toPub {
		potData["public_keys"] = []any{"replace_or_add", keys}
	}
	all, online, master, err := n.clusterNodes()
	if err != nil {
		return nil, err
	}
	errs := [][2]string{}
	for _, node := range onlineExcept(all, online, master) {
		if slices.Contains(a.potMCs, node) {
			if err := n.runSSHUpdateRetrying(node, ports[node], potData); err != nil {
				errs = append(errs, n.keyUpdateFailure(node, fmt.Sprintf("When adding the key of node '%s', updating SSH key files of node '%s' failed after %d retries. Not trying again. Last error was: %v.", node, a.name, sshUpdateRetries, err)))
			}
		} else if a.toAuth {
			if err := n.runSSHUpdate(node, ports[node], base); err != nil {
				return nil, err
			}
		}
	}
	return errs, nil
}

// onlineExcept lists the online nodes in node_list order, less skip.
func onlineExcept(all, online []string, skip ...string) []string {
	var out []string
	for _, node := range all {
		if !slices.Contains(skip, node) && slices.Contains(online, node) {
			out = append(out, node)
		}
	}
	return out
}

// keyUpdateFailure logs msg and makes it node's entry in the per-node
// error list: one unreachable node does not stop the others' update.
func (n *node) keyUpdateFailure(node, msg string) [2]string {
	n.log.Errorf("%s", msg)
	return [2]string{node, msg}
}

// rpcNodeSSHKeyRemove withdraws a node's key from the cluster: [uuid,
// name, master_candidate_uuids, potential_master_candidates,
// from_authorized_keys, from_public_keys, clear_authorized_keys,
// clear_public_keys, readd] → [[node, error], ...] or null.
func rpcNodeSSHKeyRemove(n *node, args []json.RawMessage) (any, error) {
	var r keyRemoval
	if err := decodeArgs(args, &r.uuid, &r.name, &r.mcUUIDs, &r.potMCs, &r.fromAuth, &r.fromPub, &r.clearAuth, &r.clearPub, &r.readd); err != nil {
		return nil, err
	}
	errs, err := n.removeNodeSSHKey(r)
	if err != nil || errs == nil {
		return nil, err
	}
	return errs, nil
}

// keyRemoval describes one node's keys leaving the key files.
type keyRemoval struct {
	uuid, name                             string
	mcUUIDs, potMCs                        []string
	fromAuth, fromPub, clearAuth, clearPub bool
	readd                                  bool
	masterUUID                             string              // never remove the master's own keys
	keysToRemove                           map[string][]string // keys not in the key file (old master keys)
}

// removeNodeSSHKey returns the per-node errors, or nil when the leaving
// node needed no update (Ganeti then answers null).
func (n *node) removeNodeSSHKey(r keyRemoval) ([][2]string, error) {
	if !r.fromAuth && !r.fromPub && !r.clearAuth && !r.clearPub {
		return nil, errors.New("No removal from any key file was requested.")
	}
	pub := pubKeyFile{n.paths.pubKeysFile()}
	master, err := n.paths.readSsconf("master_node")
	if err != nil {
		return nil, err
	}
	ports, err := n.sshPortMap()
	if err != nil {
		return nil, err
	}
	toRemove := map[string][]string{}
	if r.fromAuth || r.fromPub {
		if toRemove, err = r.keysToWithdraw(pub, master); err != nil {
			return nil, err
		}
	}
	errs := [][2]string{}
	if len(toRemove) > 0 {
		if errs, err = n.withdrawFromOthers(r, toRemove, master, ports); err != nil {
			return nil, err
		}
	}
	if r.clearAuth || r.fromPub || r.clearPub {
		port, ok := ports[r.name]
		if !ok {
			return nil, fmt.Errorf("No SSH port information available for node '%s', which is leaving the cluster.", r.name)
		}
		data, err := n.leavingNodeUpdate(r, pub, toRemove)
		if err != nil || data == nil {
			return nil, err // no data: nothing to change there, Ganeti answers null
		}
		if err := n.runSSHUpdateRetrying(r.name, port, data); err != nil {
			errs = append(errs, n.keyUpdateFailure(r.name, fmt.Sprintf("Removing SSH keys from node '%s' failed. This can happen when the node is already unreachable. Error: %v", r.name, err)))
		}
	}
	if len(toRemove) > 0 && r.fromPub {
		if err := pub.remove(r.uuid); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// keysToWithdraw picks the keys to take out: the old keys given, or the
// node's keys from the public key file less those the master shares.
func (r keyRemoval) keysToWithdraw(pub pubKeyFile, master string) (map[string][]string, error) {
	if r.name == master && len(r.keysToRemove) == 0 {
		return nil, errors.New("Cannot remove the master node's keys.")
	}
	if len(r.keysToRemove) > 0 {
		return r.keysToRemove, nil
	}
	keys, err := pub.query([]string{r.uuid})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 && !r.readd {
		return nil, fmt.Errorf("Node '%s' not found in the list of public SSH keys. It seems someone tries to remove a key from outside the cluster!", r.uuid)
	}
	if r.masterUUID != "" && len(keys) > 0 {
		masterKeys, err := pub.query([]string{r.masterUUID})
		if err != nil {
			return nil, err
		}
		keys[r.uuid] = slices.DeleteFunc(keys[r.uuid], func(k string) bool { return slices.Contains(masterKeys[r.masterUUID], k) })
	}
	return keys, nil
}

// withdrawFromOthers takes the keys out of this node's authorized_keys
// and off the other online nodes, but the one leaving; a node that fails
// is reported and the rest go on.
func (n *node) withdrawFromOthers(r keyRemoval, toRemove map[string][]string, master string, ports map[string]int) ([][2]string, error) {
	base, err := n.sshUpdateBase()
	if err != nil {
		return nil, err
	}
	if r.fromAuth {
		base["authorized_keys"] = []any{"remove", toRemove}
		var flat []string
		for _, ks := range toRemove {
			flat = append(flat, ks...)
		}
		if err := editAuthorizedKeys(n.localAuthorizedKeys(), nil, flat); err != nil {
			return nil, err
		}
	}
	potData := maps.Clone(base)
	if r.fromPub {
		potData["public_keys"] = []any{"remove", toRemove}
	}
	all, online, _, err := n.clusterNodes()
	if err != nil {
		return nil, err
	}
	errs := [][2]string{}
	for _, node := range onlineExcept(all, online, master, r.name) {
		port, ok := ports[node]
		if !ok {
			return nil, fmt.Errorf("No SSH port information available for node '%s'.", node)
		}
		if !slices.Contains(r.potMCs, node) && !r.fromAuth {
			continue
		}
		if err := n.runSSHUpdateRetrying(node, port, potData); err != nil {
			errs = append(errs, n.keyUpdateFailure(node, fmt.Sprintf("When removing the key of node '%s', updating the SSH key files of node '%s' failed. Last error was: %v.", r.name, node, err)))
		}
	}
	return errs, nil
}

// leavingNodeUpdate is the ssh-update request for the node that leaves:
// the other candidates' keys out of its authorized_keys, its public key
// file cleared or pruned. It is nil when there is nothing to change.
func (n *node) leavingNodeUpdate(r keyRemoval, pub pubKeyFile, toRemove map[string][]string) (map[string]any, error) {
	data, err := n.sshUpdateBase()
	if err != nil {
		return nil, err
	}
	changed := false
	if r.clearAuth {
		others := slices.DeleteFunc(slices.Clone(r.mcUUIDs), func(u string) bool { return u == r.uuid })
		keys, err := pub.query(others)
		if err != nil {
			return nil, err
		}
		data["authorized_keys"] = []any{"remove", keys}
		changed = true
	}
	if r.clearPub {
		data["public_keys"] = []any{"clear", map[string]any{}}
		changed = true
	} else if r.fromPub && len(toRemove) > 0 {
		data["public_keys"] = []any{"remove", toRemove}
		changed = true
	}
	if !changed {
		return nil, nil
	}
	return data, nil
}

// sshKeyTypes are the key types Ganeti manages.
var sshKeyTypes = []string{"dsa", "rsa", "ecdsa"}

// fetchRemoteFile reads a file on another node over ssh.
func (n *node) fetchRemoteFile(node string, port int, path string) (string, error) {
	if !hostnamePattern.MatchString(node) {
		return "", fmt.Errorf("invalid node name '%s'", node)
	}
	argv := n.sshArgv(node, port, "cat "+path)
	res, err := n.runCommand(command{Args: argv, Timeout: sshUpdateTimeout})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// rpcNodeSSHKeysRenew gives every node, then the master, a new key pair
// and redistributes the keys: [node_uuids, node_names,
// master_candidate_uuids, potential_master_candidates, old_key_type,
// new_key_type, new_key_bits] → [[node, error], ...].
func rpcNodeSSHKeysRenew(n *node, args []json.RawMessage) (any, error) {
	var r keyRenewal
	if err := decodeArgs(args, &r.uuids, &r.names, &r.mcUUIDs, &r.potMCs, &r.oldType, &r.newType, &r.bits); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	errs, err := n.renewSSHKeys(r)
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// keyRenewal is one renewal of every node's key pair, with the master's
// name, UUID and the ssh ports found on the way.
type keyRenewal struct {
	uuids, names, mcUUIDs, potMCs []string
	oldType, newType              string
	bits                          int
	master, masterUUID            string
	ports                         map[string]int
}

// check refuses requests Ganeti's master would not send.
func (r keyRenewal) check() error {
	if len(r.uuids) != len(r.names) {
		return errors.New("List of nodes UUIDs and node names does not match in length.")
	}
	if !slices.Contains(sshKeyTypes, r.oldType) || !slices.Contains(sshKeyTypes, r.newType) {
		return fmt.Errorf("Unsupported SSH key type '%s' or '%s'", r.oldType, r.newType)
	}
	if r.bits < 0 || r.bits > 16384 {
		return fmt.Errorf("Invalid SSH key size %d", r.bits)
	}
	return nil
}

// renewSSHKeys renews the other nodes' keys, then the master's.
func (n *node) renewSSHKeys(r keyRenewal) ([][2]string, error) {
	pub := pubKeyFile{n.paths.pubKeysFile()}
	oldMasterKey, err := n.readLocalPubKey("id_" + r.oldType + ".pub")
	if err != nil {
		return nil, err
	}
	if err := n.findMaster(&r); err != nil {
		return nil, err
	}
	errs, err := n.unauthorizeOldCandidateKeys(r, pub, oldMasterKey)
	if err != nil {
		return nil, err
	}
	for i, uuid := range r.uuids {
		if r.names[i] == r.master {
			continue
		}
		e, err := n.renewNodeKey(r, pub, uuid, r.names[i])
		if err != nil {
			return nil, err
		}
		errs = append(errs, e...)
	}
	e, err := n.renewMasterKey(r, pub)
	if err != nil {
		return nil, err
	}
	return append(errs, e...), nil
}

// readLocalPubKey reads one of this node's public key files in ~/.ssh.
func (n *node) readLocalPubKey(file string) (string, error) {
	data, err := readFileLimited(filepath.Join(n.paths.SSHDir, file), 1<<20)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// findMaster fills in the master's name and its one UUID in the
// request, and the nodes' ssh ports.
func (n *node) findMaster(r *keyRenewal) error {
	master, err := n.paths.readSsconf("master_node")
	if err != nil {
		return err
	}
	var masterUUIDs []string
	for i, name := range r.names {
		if name == master {
			masterUUIDs = append(masterUUIDs, r.uuids[i])
		}
	}
	if len(masterUUIDs) != 1 {
		return fmt.Errorf("No (unique) master UUID found. Master node name: '%s', Master UUID: '%v'", master, masterUUIDs)
	}
	ports, err := n.sshPortMap()
	if err != nil {
		return err
	}
	r.master, r.masterUUID, r.ports = master, masterUUIDs[0], ports
	return nil
}

// unauthorizeOldCandidateKeys takes the keys of candidates whose key
// differs from the master's out of authorized_keys before they get new
// ones; it also makes sure every node has a key to renew.
func (n *node) unauthorizeOldCandidateKeys(r keyRenewal, pub pubKeyFile, oldMasterKey string) ([][2]string, error) {
	errs := [][2]string{}
	for i, uuid := range r.uuids {
		name := r.names[i]
		if name == r.master {
			continue
		}
		keys, err := pub.query([]string{uuid})
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("No public key of node %s (UUID %s) found, not generating a new key.", name, uuid)
		}
		if !slices.Contains(r.mcUUIDs, uuid) {
			continue
		}
		key, err := n.fetchRemoteFile(name, r.ports[name], filepath.Join(n.paths.SSHDir, "id_"+r.oldType+".pub"))
		if err != nil || key == oldMasterKey {
			continue
		}
		e, err := n.removeNodeSSHKey(keyRemoval{uuid: uuid, name: name, mcUUIDs: r.mcUUIDs, potMCs: r.potMCs, fromAuth: true, masterUUID: r.masterUUID})
		if err != nil {
			return nil, err
		}
		errs = append(errs, e...)
	}
	return errs, nil
}

// generateKeyPair has node make a new key pair; a suffix keeps it apart
// from the pair in use.
func (n *node) generateKeyPair(node string, port int, keyType string, bits int, suffix string) error {
	data, err := n.sshUpdateBase()
	if err != nil {
		return err
	}
	data["generate"] = []any{keyType, bits, suffix}
	return n.runSSHUpdate(node, port, data)
}

// renewNodeKey gives one node other than the master a new key pair and
// spreads its new key as far as the node's role asks.
func (n *node) renewNodeKey(r keyRenewal, pub pubKeyFile, uuid, name string) ([][2]string, error) {
	if err := n.generateKeyPair(name, r.ports[name], r.newType, r.bits, ""); err != nil {
		return nil, err
	}
	key, err := n.fetchRemoteFile(name, r.ports[name], filepath.Join(n.paths.SSHDir, "id_"+r.newType+".pub"))
	if err != nil || key == "" {
		return nil, fmt.Errorf("Could not fetch key of node %s (UUID %s)", name, uuid)
	}
	isPMC := slices.Contains(r.potMCs, name)
	if isPMC {
		if err := pub.replace(uuid, key); err != nil {
			return nil, err
		}
	}
	return n.addNodeSSHKey(keyAddition{uuid: uuid, name: name, potMCs: r.potMCs,
		toAuth: slices.Contains(r.mcUUIDs, uuid), toPub: isPMC, getPub: true})
}

// replace files keys as id's only keys.
func (f pubKeyFile) replace(id string, keys ...string) error {
	if err := f.remove(id); err != nil {
		return err
	}
	for _, k := range keys {
		if err := f.add(id, k); err != nil {
			return err
		}
	}
	return nil
}

// renewMasterKey renews the master's pair last, through a temporary
// pair, so that it can still reach the others while they learn the new
// key; its old keys go only once the new ones are in place.
func (n *node) renewMasterKey(r keyRenewal, pub pubKeyFile) ([][2]string, error) {
	oldMasterKeys, err := pub.query([]string{r.masterUUID})
	if err != nil {
		return nil, err
	}
	if len(oldMasterKeys) == 0 {
		return nil, fmt.Errorf("No public key of the master node (UUID '%s') found, not generating a new key.", r.masterUUID)
	}
	newKeys, err := n.generateMasterTmpKeys(r)
	if err != nil {
		return nil, err
	}
	if err := pub.replace(r.masterUUID, newKeys...); err != nil {
		return nil, err
	}
	errs, err := n.addNodeSSHKey(keyAddition{uuid: r.masterUUID, name: r.master, potMCs: r.potMCs, toAuth: true, toPub: true})
	if err != nil {
		return nil, err
	}
	if err := n.installMasterTmpKeys(); err != nil {
		return nil, err
	}
	e, err := n.removeNodeSSHKey(keyRemoval{uuid: r.masterUUID, name: r.master, mcUUIDs: r.mcUUIDs, potMCs: r.potMCs,
		fromAuth: true, keysToRemove: oldMasterKeys})
	if err != nil {
		return nil, err
	}
	return append(errs, e...), nil
}

// generateMasterTmpKeys has the master make its temporary pair and
// returns the public keys of every type found.
func (n *node) generateMasterTmpKeys(r keyRenewal) ([]string, error) {
	if err := n.generateKeyPair(r.master, r.ports[r.master], r.newType, r.bits, "_master_tmp"); err != nil {
		return nil, err
	}
	var newKeys []string
	for _, t := range sshKeyTypes {
		if k, err := n.readLocalPubKey("id_" + t + "_master_tmp.pub"); err == nil {
			newKeys = append(newKeys, k)
		}
	}
	if len(newKeys) == 0 {
		return nil, errors.New("Cannot find any type of temporary SSH key.")
	}
	return newKeys, nil
}

// installMasterTmpKeys moves the temporary pair over the master's keys,
// keeping a dated backup of each file it replaces.
func (n *node) installMasterTmpKeys() error {
	moved := false
	stamp := time.Now().Format("2006-01-02_15_04_05")
	for _, t := range sshKeyTypes {
		for _, suffix := range []string{"", ".pub"} {
			cur := filepath.Join(n.paths.SSHDir, "id_"+t+suffix)
			tmp := filepath.Join(n.paths.SSHDir, "id_"+t+"_master_tmp"+suffix)
			if !fileExists(tmp) {
				continue
			}
			if fileExists(cur) {
				copyFileTemp(cur, cur+".backup-"+stamp+".")
			}
			if err := os.Rename(tmp, cur); err != nil {
				return err
			}
			moved = true
		}
	}
	if !moved {
		return errors.New("Could not move at least one master SSH key.")
	}
	return nil
}
