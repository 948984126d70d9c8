package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ssconfKeys are the keys Ganeti 3.0 knows (constants.VALID_SS_KEYS).
var ssconfKeys = []string{
	"cluster_name", "cluster_tags", "enabled_user_shutdown", "file_storage_dir",
	"gluster_storage_dir", "hvparams_chroot", "hvparams_fake", "hvparams_kvm",
	"hvparams_lxc", "hvparams_xen-hvm", "hvparams_xen-pvm", "hypervisor_list",
	"instance_list", "maintain_node_health", "master_candidates",
	"master_candidates_certs", "master_candidates_ips", "master_ip",
	"master_netdev", "master_netmask", "master_node", "networks", "node_list",
	"node_primary_ips", "node_secondary_ips", "node_vm_capable", "nodegroups",
	"offline_nodes", "online_nodes", "primary_ip_family", "release_version",
	"shared_file_storage_dir", "ssh_ports", "uid_pool",
}

const (
	ssconfMaxSize     = 128 << 10
	ssconfFileMode    = 0o444
	ssconfLockTimeout = 10 * time.Second
)

// readSsconf returns one key's value without trailing newlines.
func (l *layout) readSsconf(key string) (string, error) {
	path := l.ssconfPath(key)
	data, err := readFileLimited(path, ssconfMaxSize)
	if err != nil {
		return "", fmt.Errorf("Can't read ssconf file %s: %w", path, err)
	}
	return strings.TrimRight(string(data), "\n"), nil
}

// ssconfValue is a value of write_ssconf_files: the Python master sends a
// string, the Haskell one a list of lines.
type ssconfValue string

func (v *ssconfValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = ssconfValue(s)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return errors.New("ssconf value must be a string or a list of strings")
	}
	*v = ssconfValue(strings.Join(lines, "\n"))
	return nil
}

// rpcWriteSsconfFiles writes the given ssconf keys. Every key and size is
// checked before anything is written, so a bad call changes nothing.
func rpcWriteSsconfFiles(n *node, args []json.RawMessage) (any, error) {
	var values map[string]ssconfValue
	if err := decodeArgs(args, &values); err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(values))
	for key, v := range values {
		if !slices.Contains(ssconfKeys, key) {
			return nil, fmt.Errorf("Invalid key requested from SSConf: '%s'", key)
		}
		s := string(v)
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if len(s) > ssconfMaxSize {
			return nil, fmt.Errorf("Value '%s' has a length of %d bytes, but only up to %d are allowed", key, len(s), ssconfMaxSize)
		}
		data[key] = []byte(s)
	}
	unlock, err := lockFile(n.paths.SsconfLockFile, ssconfLockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// All keys or none: a full disk must not leave a mix of old and new.
	var files []fileContent
	for _, key := range slices.Sorted(maps.Keys(data)) {
		files = append(files, fileContent{Path: n.paths.ssconfPath(key), Data: data[key],
			Opt: writeOptions{Mode: ssconfFileMode, UID: -1, GID: -1}})
	}
	if err := writeFilesAtomic(files); err != nil {
		return nil, fmt.Errorf("write_ssconf_files: %w", err)
	}
	return nil, nil
}
