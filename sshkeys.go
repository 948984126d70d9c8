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

// runSSHUpdate runs ssh-update on node with data on standard input.
func (n *node) runSSHUpdate(node string, port int, data map[string]any) error {
	if !hostnamePattern.MatchString(node) {
		return fmt.Errorf("invalid node name '%s'", node)
	}
	input, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if port == 0 {
		port = 22
	}
	family := "-4"
	if primaryIPFamily(n.paths) == 6 {
		family = "-6"
	}
	argv := []string{"ssh", "-oEscapeChar=none", "-oHashKnownHosts=no",
		"-oGlobalKnownHostsFile=" + n.paths.KnownHostsFile, "-oUserKnownHostsFile=/dev/null",
		"-oCheckHostIp=no", "-oConnectTimeout=10", "-oPort=" + strconv.Itoa(port),
		"-oStrictHostKeyChecking=no", family, "root@" + node, "/bin/sh -c " + sshUpdateTool}
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
	var uuid, name string
	var mcUUIDs, potMCs []string
	var fromAuth, fromPub, clearAuth, clearPub, readd bool
	if err := decodeArgs(args, &uuid, &name, &mcUUIDs, &potMCs, &fromAuth, &fromPub, &clearAuth, &clearPub, &readd); err != nil {
		return nil, err
	}
	if !fromAuth && !fromPub && !clearAuth && !clearPub {
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
	if fromAuth || fromPub {
		if name == master {
			return nil, errors.New("Cannot remove the master node's keys.")
		}
		keys, err := pub.query([]string{uuid})
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 && !readd {
			return nil, fmt.Errorf("Node '%s' not found in the list of public SSH keys. It seems someone tries to remove a key from outside the cluster!", uuid)
		}
		toRemove = keys
	}
	errs := [][2]string{}
	if len(toRemove) > 0 {
		base, err := n.sshUpdateBase()
		if err != nil {
			return nil, err
		}
		if fromAuth {
			base["authorized_keys"] = []any{"remove", toRemove}
			if err := editAuthorizedKeys(filepath.Join(sshDir, "authorized_keys"), nil, toRemove[uuid]); err != nil {
				return nil, err
			}
		}
		potData := maps.Clone(base)
		if fromPub {
			potData["public_keys"] = []any{"remove", toRemove}
		}
		all, online, _, err := n.clusterNodes()
		if err != nil {
			return nil, err
		}
		for _, node := range all {
			if node == master || node == name || !slices.Contains(online, node) {
				continue
			}
			port, ok := ports[node]
			if !ok {
				return nil, fmt.Errorf("No SSH port information available for node '%s'.", node)
			}
			if slices.Contains(potMCs, node) || fromAuth {
				if err := n.runSSHUpdateRetrying(node, port, potData); err != nil {
					msg := fmt.Sprintf("When removing the key of node '%s', updating the SSH key files of node '%s' failed. Last error was: %v.", name, node, err)
					n.log.Errorf("%s", msg)
					errs = append(errs, [2]string{node, msg})
				}
			}
		}
	}
	if clearAuth || fromPub || clearPub {
		port, ok := ports[name]
		if !ok {
			return nil, fmt.Errorf("No SSH port information available for node '%s', which is leaving the cluster.", name)
		}
		data, err := n.sshUpdateBase()
		if err != nil {
			return nil, err
		}
		changed := false
		if clearAuth {
			others := slices.DeleteFunc(slices.Clone(mcUUIDs), func(u string) bool { return u == uuid })
			keys, err := pub.query(others)
			if err != nil {
				return nil, err
			}
			data["authorized_keys"] = []any{"remove", keys}
			changed = true
		}
		if clearPub {
			data["public_keys"] = []any{"clear", map[string]any{}}
			changed = true
		} else if fromPub && len(toRemove) > 0 {
			data["public_keys"] = []any{"remove", toRemove}
			changed = true
		}
		if !changed {
			return nil, nil
		}
		if err := n.runSSHUpdateRetrying(name, port, data); err != nil {
			msg := fmt.Sprintf("Removing SSH keys from node '%s' failed. This can happen when the node is already unreachable. Error: %v", name, err)
			n.log.Errorf("%s", msg)
			errs = append(errs, [2]string{name, msg})
		}
	}
	if len(toRemove) > 0 && fromPub {
		if err := pub.remove(uuid); err != nil {
			return nil, err
		}
	}
	return errs, nil
}
