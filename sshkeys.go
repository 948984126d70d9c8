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

var sshUpdateTool = pkgLibDir + "/ssh-update"

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
	var lines [][2]string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		chunks := strings.Split(line, " ")
		if len(chunks) < 2 {
			return fmt.Errorf("Error parsing public SSH key file. Line: '%s'", line)
		}
		lines = append(lines, [2]string{chunks[0], strings.TrimRight(strings.Join(chunks[1:], " "), " \t\r")})
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
	family := "-4"
	if primaryIPFamily(n.paths) == 6 {
		family = "-6"
	}
	return []string{"ssh", "-oEscapeChar=none", "-oHashKnownHosts=no",
		"-oGlobalKnownHostsFile=" + n.paths.KnownHostsFile, "-oUserKnownHostsFile=/dev/null",
		"-oCheckHostIp=no", "-oConnectTimeout=10", "-oPort=" + strconv.Itoa(port),
		"-oStrictHostKeyChecking=no", family, "root@" + node, remote}
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
	argv := n.sshArgv(node, port, "/bin/sh -c "+sshUpdateTool)
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
	var uuid, name string
	var potMCs []string
	var toAuth, toPub, getPub bool
	if err := decodeArgs(args, &uuid, &name, &potMCs, &toAuth, &toPub, &getPub); err != nil {
		return nil, err
	}
	return n.addNodeSSHKey(uuid, name, potMCs, toAuth, toPub, getPub)
}

func (n *node) addNodeSSHKey(uuid, name string, potMCs []string, toAuth, toPub, getPub bool) ([][2]string, error) {
	pub := pubKeyFile{n.paths.pubKeysFile()}
	if toPub {
		byName, err := pub.query([]string{name})
		if err != nil {
			return nil, err
		}
		byUUID, err := pub.query([]string{uuid})
		if err != nil {
			return nil, err
		}
		if len(byName) == 0 && len(byUUID) == 0 {
			return nil, fmt.Errorf("No keys found for the new node '%s' (UUID %s) in the list of public SSH keys, neither for the name or the UUID", name, uuid)
		}
		if len(byName) > 0 {
			if err := pub.replaceNameByUUID(uuid, name); err != nil {
				return nil, err
			}
		}
	}
	keys, err := pub.query([]string{uuid})
	if err != nil {
		return nil, err
	}
	if toAuth {
		k, ok := keys[uuid]
		if !ok {
			return nil, fmt.Errorf("Error while executing backend function: '%s'", uuid)
		}
		if err := editAuthorizedKeys(filepath.Join(sshDir, "authorized_keys"), k, nil); err != nil {
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
	if getPub {
		all, err := pub.query(nil)
		if err != nil {
			return nil, err
		}
		data := maps.Clone(base)
		data["public_keys"] = []any{"override", all}
		if err := n.runSSHUpdateRetrying(name, ports[name], data); err != nil {
			if toPub {
				pub.remove(uuid)
			}
			return nil, err
		}
	}
	if toAuth {
		base["authorized_keys"] = []any{"add", keys}
	}
	potData := maps.Clone(base)
	if toPub {
		potData["public_keys"] = []any{"replace_or_add", keys}
	}
	all, online, master, err := n.clusterNodes()
	if err != nil {
		return nil, err
	}
	errs := [][2]string{}
	for _, node := range all {
		if node == master || !slices.Contains(online, node) {
			continue
		}
		if slices.Contains(potMCs, node) {
			if err := n.runSSHUpdateRetrying(node, ports[node], potData); err != nil {
				msg := fmt.Sprintf("When adding the key of node '%s', updating SSH key files of node '%s' failed after %d retries. Not trying again. Last error was: %v.", node, name, sshUpdateRetries, err)
				n.log.Errorf("%s", msg)
				errs = append(errs, [2]string{node, msg})
			}
		} else if toAuth {
			if err := n.runSSHUpdate(node, ports[node], base); err != nil {
				return nil, err
			}
		}
	}
	return errs, nil
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
		if r.name == master && len(r.keysToRemove) == 0 {
			return nil, errors.New("Cannot remove the master node's keys.")
		}
		if len(r.keysToRemove) > 0 {
			toRemove = r.keysToRemove
		} else {
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
			toRemove = keys
		}
	}
	errs := [][2]string{}
	if len(toRemove) > 0 {
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
			if err := editAuthorizedKeys(filepath.Join(sshDir, "authorized_keys"), nil, flat); err != nil {
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
		for _, node := range all {
			if node == master || node == r.name || !slices.Contains(online, node) {
				continue
			}
			port, ok := ports[node]
			if !ok {
				return nil, fmt.Errorf("No SSH port information available for node '%s'.", node)
			}
			if slices.Contains(r.potMCs, node) || r.fromAuth {
				if err := n.runSSHUpdateRetrying(node, port, potData); err != nil {
					msg := fmt.Sprintf("When removing the key of node '%s', updating the SSH key files of node '%s' failed. Last error was: %v.", r.name, node, err)
					n.log.Errorf("%s", msg)
					errs = append(errs, [2]string{node, msg})
				}
			}
		}
	}
	if r.clearAuth || r.fromPub || r.clearPub {
		port, ok := ports[r.name]
		if !ok {
			return nil, fmt.Errorf("No SSH port information available for node '%s', which is leaving the cluster.", r.name)
		}
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
		if err := n.runSSHUpdateRetrying(r.name, port, data); err != nil {
			msg := fmt.Sprintf("Removing SSH keys from node '%s' failed. This can happen when the node is already unreachable. Error: %v", r.name, err)
			n.log.Errorf("%s", msg)
			errs = append(errs, [2]string{r.name, msg})
		}
	}
	if len(toRemove) > 0 && r.fromPub {
		if err := pub.remove(r.uuid); err != nil {
			return nil, err
		}
	}
	return errs, nil
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
	var uuids, names, mcUUIDs, potMCs []string
	var oldType, newType string
	var bits int
	if err := decodeArgs(args, &uuids, &names, &mcUUIDs, &potMCs, &oldType, &newType, &bits); err != nil {
		return nil, err
	}
	if len(uuids) != len(names) {
		return nil, errors.New("List of nodes UUIDs and node names does not match in length.")
	}
	if !slices.Contains(sshKeyTypes, oldType) || !slices.Contains(sshKeyTypes, newType) {
		return nil, fmt.Errorf("Unsupported SSH key type '%s' or '%s'", oldType, newType)
	}
	if bits < 0 || bits > 16384 {
		return nil, fmt.Errorf("Invalid SSH key size %d", bits)
	}
	pub := pubKeyFile{n.paths.pubKeysFile()}
	oldMasterKeyData, err := readFileLimited(filepath.Join(sshDir, "id_"+oldType+".pub"), 1<<20)
	if err != nil {
		return nil, err
	}
	oldMasterKey := strings.TrimSpace(string(oldMasterKeyData))
	master, err := n.paths.readSsconf("master_node")
	if err != nil {
		return nil, err
	}
	var masterUUIDs []string
	for i, name := range names {
		if name == master {
			masterUUIDs = append(masterUUIDs, uuids[i])
		}
	}
	if len(masterUUIDs) != 1 {
		return nil, fmt.Errorf("No (unique) master UUID found. Master node name: '%s', Master UUID: '%v'", master, masterUUIDs)
	}
	masterUUID := masterUUIDs[0]
	ports, err := n.sshPortMap()
	if err != nil {
		return nil, err
	}

	errs := [][2]string{}
	// Candidates whose key differs from the master's lose it from
	// authorized_keys before they get new ones.
	for i, uuid := range uuids {
		name := names[i]
		if name == master {
			continue
		}
		keys, err := pub.query([]string{uuid})
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("No public key of node %s (UUID %s) found, not generating a new key.", name, uuid)
		}
		if slices.Contains(mcUUIDs, uuid) {
			key, err := n.fetchRemoteFile(name, ports[name], filepath.Join(sshDir, "id_"+oldType+".pub"))
			if err == nil && key != oldMasterKey {
				e, err := n.removeNodeSSHKey(keyRemoval{uuid: uuid, name: name, mcUUIDs: mcUUIDs, potMCs: potMCs, fromAuth: true, masterUUID: masterUUID})
				if err != nil {
					return nil, err
				}
				errs = append(errs, e...)
			}
		}
	}
	for i, uuid := range uuids {
		name := names[i]
		if name == master {
			continue
		}
		data, err := n.sshUpdateBase()
		if err != nil {
			return nil, err
		}
		data["generate"] = []any{newType, bits, ""}
		if err := n.runSSHUpdate(name, ports[name], data); err != nil {
			return nil, err
		}
		key, err := n.fetchRemoteFile(name, ports[name], filepath.Join(sshDir, "id_"+newType+".pub"))
		if err != nil || key == "" {
			return nil, fmt.Errorf("Could not fetch key of node %s (UUID %s)", name, uuid)
		}
		isPMC := slices.Contains(potMCs, name)
		if isPMC {
			if err := pub.remove(uuid); err != nil {
				return nil, err
			}
			if err := pub.add(uuid, key); err != nil {
				return nil, err
			}
		}
		e, err := n.addNodeSSHKey(uuid, name, potMCs, slices.Contains(mcUUIDs, uuid), isPMC, true)
		if err != nil {
			return nil, err
		}
		errs = append(errs, e...)
	}

	// The master last: a temporary key pair first, so that it can still
	// reach the others while they learn the new key.
	oldMasterKeys, err := pub.query([]string{masterUUID})
	if err != nil {
		return nil, err
	}
	if len(oldMasterKeys) == 0 {
		return nil, fmt.Errorf("No public key of the master node (UUID '%s') found, not generating a new key.", masterUUID)
	}
	data, err := n.sshUpdateBase()
	if err != nil {
		return nil, err
	}
	data["generate"] = []any{newType, bits, "_master_tmp"}
	if err := n.runSSHUpdate(master, ports[master], data); err != nil {
		return nil, err
	}
	var newKeys []string
	for _, t := range sshKeyTypes {
		if k, err := readFileLimited(filepath.Join(sshDir, "id_"+t+"_master_tmp.pub"), 1<<20); err == nil {
			newKeys = append(newKeys, strings.TrimSpace(string(k)))
		}
	}
	if len(newKeys) == 0 {
		return nil, errors.New("Cannot find any type of temporary SSH key.")
	}
	if err := pub.remove(masterUUID); err != nil {
		return nil, err
	}
	for _, k := range newKeys {
		if err := pub.add(masterUUID, k); err != nil {
			return nil, err
		}
	}
	e, err := n.addNodeSSHKey(masterUUID, master, potMCs, true, true, false)
	if err != nil {
		return nil, err
	}
	errs = append(errs, e...)
	moved := false
	stamp := time.Now().Format("2006-01-02_15_04_05")
	for _, t := range sshKeyTypes {
		for _, suffix := range []string{"", ".pub"} {
			cur := filepath.Join(sshDir, "id_"+t+suffix)
			tmp := filepath.Join(sshDir, "id_"+t+"_master_tmp"+suffix)
			if !fileExists(tmp) {
				continue
			}
			if fileExists(cur) {
				copyFileTemp(cur, cur+".backup-"+stamp+".")
			}
			if err := os.Rename(tmp, cur); err != nil {
				return nil, err
			}
			moved = true
		}
	}
	if !moved {
		return nil, errors.New("Could not move at least one master SSH key.")
	}
	e, err = n.removeNodeSSHKey(keyRemoval{uuid: masterUUID, name: master, mcUUIDs: mcUUIDs, potMCs: potMCs,
		fromAuth: true, keysToRemove: oldMasterKeys})
	if err != nil {
		return nil, err
	}
	return append(errs, e...), nil
}
