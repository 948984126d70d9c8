package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// osEnvironment is what OS scripts get for an instance: the OS core
// environment plus the instance, its disks and NICs, and its parameters.
func (n *node) osEnvironment(inst *instance, def *osDefinition) ([]string, error) {
	params := maps.Clone(inst.OSParams)
	if params == nil {
		params = map[string]any{}
	}
	maps.Copy(params, inst.OSParamsPrivate)
	env := append(osCoreEnv(inst.OS, def, params), instanceEnv(inst)...)
	for i, d := range inst.DisksInfo {
		denv, err := n.osDiskEnv(inst, i, d)
		if err != nil {
			return nil, err
		}
		env = append(env, denv...)
	}
	for i, nic := range inst.NICs {
		env = append(env, osNICEnv(inst, i, nic)...)
	}
	env = append(env, instanceParamsEnv(inst)...)
	for _, kv := range env {
		if strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("invalid character in OS environment entry %q", kv)
		}
	}
	return env, nil
}

// instanceEnv describes the instance itself.
func instanceEnv(inst *instance) []string {
	return []string{
		"INSTANCE_NAME=" + inst.Name,
		"INSTANCE_OS=" + inst.OS,
		"INSTANCE_UUID=" + inst.UUID,
		"INSTANCE_CTIME=" + pyStr(inst.CTime),
		"INSTANCE_MTIME=" + pyStr(inst.MTime),
		"INSTANCE_PRIMARY_NODE=" + inst.PrimaryNode,
		"HYPERVISOR=" + inst.Hypervisor,
		"DISK_COUNT=" + strconv.Itoa(len(inst.DisksInfo)),
		"NIC_COUNT=" + strconv.Itoa(len(inst.NICs)),
		"INSTANCE_SECONDARY_NODES=" + strings.Join(inst.SecondaryNodes, " "),
	}
}

// osDiskEnv describes disk i as DISK_<i>_*; the disk must be set up, as
// the script gets its device path.
func (n *node) osDiskEnv(inst *instance, i int, d *disk) ([]string, error) {
	dev, err := n.findDevice(d)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("Block device '%s' is not set up", d)
	}
	var env []string
	add := func(k, v string) { env = append(env, fmt.Sprintf("DISK_%d_", i)+k+"="+v) }
	add("ACCESS", d.Mode)
	add("UUID", d.UUID)
	add("SIZE", strconv.FormatInt(int64(d.Size), 10))
	add("PATH", dev.Path())
	if d.Name != nil && *d.Name != "" {
		add("NAME", *d.Name)
	}
	if t, ok := inst.HVParams["disk_type"]; ok {
		add("FRONTEND_TYPE", pyStr(t))
	}
	var id []string
	if json.Unmarshal(d.LogicalID, &id) == nil && len(id) == 2 && (d.DevType == "file" || d.DevType == "sharedfile" || d.DevType == "gluster") {
		add("BACKEND_TYPE", "file:"+id[0])
	} else {
		add("BACKEND_TYPE", "block")
	}
	return env, nil
}

// osNICEnv describes NIC i as NIC_<i>_*, with the network it is on.
func osNICEnv(inst *instance, i int, nic map[string]any) []string {
	p := fmt.Sprintf("NIC_%d_", i)
	var env []string
	add := func(k, v string) { env = append(env, p+k+"="+v) }
	str := func(k string) string { s, _ := nic[k].(string); return s }
	add("MAC", str("mac"))
	add("UUID", str("uuid"))
	if v := str("name"); v != "" {
		add("NAME", v)
	}
	if v := str("ip"); v != "" {
		add("IP", v)
	}
	np, _ := nic["nicparams"].(map[string]any)
	mode, _ := np["mode"].(string)
	link, _ := np["link"].(string)
	add("MODE", mode)
	if mode == "bridged" {
		add("BRIDGE", link)
	}
	if link != "" {
		add("LINK", link)
	}
	if netinfo, _ := nic["netinfo"].(map[string]any); len(netinfo) > 0 {
		env = append(env, networkEnv(p, netinfo)...)
	}
	if t, ok := inst.HVParams["nic_type"]; ok {
		add("FRONTEND_TYPE", pyStr(t))
	}
	return env
}

// instanceParamsEnv passes the instance's backend and hypervisor
// parameters as INSTANCE_BE_* and INSTANCE_HV_*.
func instanceParamsEnv(inst *instance) []string {
	var env []string
	for kind, src := range map[string]map[string]any{"BE": inst.BEParams, "HV": inst.HVParams} {
		for k, v := range src {
			env = append(env, "INSTANCE_"+kind+"_"+k+"="+pyStr(v))
		}
	}
	return env
}

// networkEnv describes the network a NIC is on (Ganeti's
// Network.HooksDict), each name after prefix: name, uuid and tags, then
// the subnets, gateways and MAC prefix it has. kvm-ifup gets it without a
// prefix, OS scripts with NIC_<n>_.
func networkEnv(prefix string, netinfo map[string]any) []string {
	str := func(k string) string { s, _ := netinfo[k].(string); return s }
	var tags []string
	if list, ok := netinfo["tags"].([]any); ok {
		for _, t := range list {
			tags = append(tags, pyStr(t))
		}
	}
	env := []string{prefix + "NETWORK_NAME=" + str("name"), prefix + "NETWORK_UUID=" + str("uuid"),
		prefix + "NETWORK_TAGS=" + strings.Join(tags, " ")}
	for _, kv := range [][2]string{{"network", "NETWORK_SUBNET"}, {"gateway", "NETWORK_GATEWAY"},
		{"network6", "NETWORK_SUBNET6"}, {"gateway6", "NETWORK_GATEWAY6"}, {"mac_prefix", "NETWORK_MAC_PREFIX"}} {
		if v := str(kv[0]); v != "" {
			env = append(env, prefix+kv[1]+"="+v)
		}
	}
	return env
}

// instanceOSEnvironment finds an instance's OS definition and builds the
// environment its scripts get. The OS name goes into log file names and
// environment files: its variant, which Ganeti takes from the OS's
// variants.list, may hold no slash and no control character.
func (n *node) instanceOSEnvironment(inst *instance) (*osDefinition, []string, error) {
	name, variant := splitOSName(inst.OS)
	if strings.ContainsFunc(variant, func(r rune) bool { return r == '/' || unicode.IsControl(r) }) {
		return nil, nil, fmt.Errorf("Invalid OS name '%s'", inst.OS)
	}
	def, err := n.findOS(name)
	if err != nil {
		return nil, nil, err
	}
	env, err := n.osEnvironment(inst, def)
	if err != nil {
		return nil, nil, err
	}
	return def, env, nil
}

// osLogName is a script log in /var/log/ganeti/os, named as Ganeti names it.
func (n *node) osLogName(kind, osName, instName string) string {
	return filepath.Join(n.paths.LogDir, "os", fmt.Sprintf("%s-%s-%s-%s.log", kind, osName, instName, time.Now().Format("2006-01-02_15_04_05")))
}

// runOSScript runs one script of an instance's OS at a debug level with
// its output in the log file (<logKind>-<os>-<logName>-<time>.log),
// reporting the log's last lines on failure.
func (n *node) runOSScript(inst *instance, script string, debug int, extraEnv []string, logKind, logName, failWhat string) error {
	def, env, err := n.instanceOSEnvironment(inst)
	if err != nil {
		return err
	}
	path := def.Scripts[script]
	if path == "" {
		return fmt.Errorf("OS '%s' has no %s script", def.Name, script)
	}
	env = append(setEnv(env, "DEBUG_LEVEL", strconv.Itoa(debug)), extraEnv...)
	logFile := n.osLogName(logKind, inst.OS, logName)
	if err := os.MkdirAll(filepath.Dir(logFile), 0o750); err != nil {
		return fmt.Errorf("Cannot create the OS log directory: %v", err)
	}
	logOut, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("Cannot open the OS log file: %v", err)
	}
	defer logOut.Close()
	// As Ganeti's, the script writes into the log as it runs, all of its
	// output, however long (the captured output is bounded).
	res, err := n.runCommand(command{Args: []string{path}, Env: env, Reset: true, Dir: def.Path, Timeout: osScriptTimeout,
		StdoutTo: logOut, MergeStderr: true})
	if err != nil {
		lines := []string{err.Error()}
		if res != nil {
			lines = tailLines(logFile, 20)
		}
		for i := range lines {
			lines[i] = safeEncode(lines[i])
		}
		return fmt.Errorf("OS %s script failed (%s), last lines in the log file:\n%s", failWhat, exitReason(res, err), strings.Join(lines, "\n"))
	}
	return nil
}

// tailLines is Ganeti's TailFile: the last lines of the file's last 4 KiB.
func tailLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var data []byte
	if end, err := f.Seek(0, io.SeekEnd); err == nil {
		data = make([]byte, min(end, 4096))
		if _, err := f.ReadAt(data, end-int64(len(data))); err != nil {
			return []string{err.Error()}
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return lines[max(0, len(lines)-n):]
}

// rpcInstanceOSAdd installs an instance's OS: [instance, reinstall, debug].
func rpcInstanceOSAdd(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var reinstall bool
	var debug int
	if err := decodeArgs(args, &rawInst, &reinstall, &debug); err != nil {
		return nil, err
	}
	inst, err := decodeInstanceOnly(rawInst)
	if err != nil {
		return nil, err
	}
	var extra []string
	if reinstall {
		extra = append(extra, "INSTANCE_REINSTALL=1")
	}
	return nil, n.runOSScript(inst, "create", debug, extra, "add", inst.Name, "create")
}

// rpcInstanceRunRename runs the OS rename script: [instance, old_name,
// debug].
func rpcInstanceRunRename(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var oldName string
	var debug int
	if err := decodeArgs(args, &rawInst, &oldName, &debug); err != nil {
		return nil, err
	}
	inst, err := decodeInstanceOnly(rawInst)
	if err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(oldName) {
		return nil, fmt.Errorf("Invalid instance name '%s'", oldName)
	}
	// Ganeti names the log after both names: rename-<os>-<old>-<new>-<time>.log.
	return nil, n.runOSScript(inst, "rename", debug, []string{"OLD_INSTANCE_NAME=" + oldName}, "rename", oldName+"-"+inst.Name, "rename")
}

// rpcOSExport packs an instance's OS definition with its script
// environment into a .tgz (./os/..., ./environment) and returns its path:
// [instance, override_env].
func rpcOSExport(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var override map[string]string
	if err := decodeArgs(args, &rawInst, &override); err != nil {
		return nil, err
	}
	inst, err := decodeInstanceOnly(rawInst)
	if err != nil {
		return nil, err
	}
	def, env, err := n.instanceOSEnvironment(inst)
	if err != nil {
		return nil, err
	}
	if env, err = overrideEnv(env, override); err != nil {
		return nil, err
	}
	for _, kv := range env {
		if strings.Contains(kv, "\n") {
			k, _, _ := strings.Cut(kv, "=")
			return nil, fmt.Errorf("Invalid value of %s for the environment file: it has a newline", k)
		}
	}
	out, err := os.CreateTemp("", "*.tgz")
	if err != nil {
		return nil, fmt.Errorf("Failed to create OS archive: %v", err)
	}
	err = writeOSArchive(out, def.Path, env)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return nil, fmt.Errorf("Failed to create OS archive '%s': %v", out.Name(), err)
	}
	return out.Name(), nil
}

// overrideEnv sets the overriding variables in env (setEnv), those it
// does not have in name order.
func overrideEnv(env []string, override map[string]string) ([]string, error) {
	for _, k := range slices.Sorted(maps.Keys(override)) {
		v := override[k]
		if k == "" || strings.ContainsAny(k, "=\n\x00") || strings.ContainsAny(v, "\n\x00") {
			return nil, fmt.Errorf("Invalid environment override '%s'", k)
		}
		env = setEnv(env, k, v)
	}
	return env, nil
}

// setEnv sets k to v in env: in place of k's entry, as Ganeti's dict
// update, or after the others.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// writeOSArchive writes the gzipped tar: the OS directory (links
// followed) under ./os and the environment file.
func writeOSArchive(w io.Writer, osDir string, env []string) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	now := time.Now()
	add := func(name string, mode int64, data []byte, dir bool) error {
		h := &tar.Header{Name: name, Mode: mode, ModTime: now, Typeflag: tar.TypeReg, Size: int64(len(data))}
		if dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("./", 0o755, nil, true); err != nil {
		return err
	}
	if err := add("./os/", 0o755, nil, true); err != nil {
		return err
	}
	root, err := os.Stat(osDir)
	if err != nil {
		return err
	}
	if err := addOSTree(add, osDir, "./os/", []os.FileInfo{root}); err != nil {
		return err
	}
	if err := add("./environment", 0o600, []byte(strings.Join(env, "\n")+"\n"), false); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// addOSTree adds the files and directories below dir under prefix,
// following links as tar --dereference does. ancestors are the
// directories being added: a link back to one is a loop, and, as tar
// fails on it and on a dangling link, so does this.
func addOSTree(add func(name string, mode int64, data []byte, dir bool) error, dir, prefix string, ancestors []os.FileInfo) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path, name := filepath.Join(dir, e.Name()), prefix+e.Name()
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		switch {
		case st.IsDir():
			if slices.ContainsFunc(ancestors, func(a os.FileInfo) bool { return os.SameFile(a, st) }) {
				return fmt.Errorf("%s: file system loop", path)
			}
			if err := add(name+"/", int64(st.Mode().Perm()), nil, true); err != nil {
				return err
			}
			if err := addOSTree(add, path, name+"/", append(ancestors, st)); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			data, err := readFileLimited(path, 64<<20)
			if err != nil {
				return err
			}
			if err := add(name, int64(st.Mode().Perm()), data, false); err != nil {
				return err
			}
		}
	}
	return nil
}
