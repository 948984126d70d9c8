package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Disk import and export: import_start and export_start start a transfer
// process (transfer.go) in its own directory under
// /var/run/ganeti/import-export; the directory's name is the handle the
// master polls (impexp_status), aborts and cleans up.

// impexpOptions is Ganeti's ImportExportOptions; absent means None.
type impexpOptions struct {
	KeyName        *string `json:"key_name"`
	CAPem          *string `json:"ca_pem"`
	Compress       *string `json:"compress"`
	Magic          *string `json:"magic"`
	IPv6           *bool   `json:"ipv6"`
	ConnectTimeout *int    `json:"connect_timeout"`
}

// transferIO is the data end of a transfer: the shell fragments around
// the stream, extra environment and the expected size.
type transferIO struct {
	env            []string
	prefix, suffix string
	expectedSize   string
}

func (l *layout) importExportDir() string { return filepath.Join(l.RunDir, "import-export") }

// rpcImportStart: [options, instance, component, [io kind, io args]].
func rpcImportStart(n *node, args []json.RawMessage) (any, error) {
	var opts impexpOptions
	var rawInst json.RawMessage
	var component string
	var ioSpec []json.RawMessage
	if err := decodeArgs(args, &opts, &rawInst, &component, &ioSpec); err != nil {
		return nil, err
	}
	return n.startTransfer("import", &opts, "", 0, rawInst, component, ioSpec)
}

// rpcExportStart: [options, host, port, instance, component, [io kind, io args]].
func rpcExportStart(n *node, args []json.RawMessage) (any, error) {
	var opts impexpOptions
	var host *string
	var port *int
	var rawInst json.RawMessage
	var component string
	var ioSpec []json.RawMessage
	if err := decodeArgs(args, &opts, &host, &port, &rawInst, &component, &ioSpec); err != nil {
		return nil, err
	}
	if host == nil || port == nil || *host == "" || *port == 0 {
		return nil, errors.New("Host and port must be specified for an export")
	}
	if !hostnamePattern.MatchString(*host) && !isIPAddress(*host) {
		return nil, fmt.Errorf("Invalid host '%s'", *host)
	}
	if *port < 1 || *port > 65535 {
		return nil, fmt.Errorf("Invalid port %d", *port)
	}
	return n.startTransfer("export", &opts, *host, *port, rawInst, component, ioSpec)
}

func isIPAddress(s string) bool { return net.ParseIP(s) != nil }

// startTransfer checks the request, then starts the transfer process
// detached in a new directory whose name is the handle returned.
func (n *node) startTransfer(mode string, opts *impexpOptions, host string, port int, rawInst json.RawMessage, component string, ioSpec []json.RawMessage) (any, error) {
	if err := opts.check(component); err != nil {
		return nil, err
	}
	inst, tio, err := n.transferEnds(mode, rawInst, ioSpec)
	if err != nil {
		return nil, err
	}
	keyFile, certFile, caPEM, err := n.transferTLS(opts)
	if err != nil {
		return nil, err
	}
	dir, err := n.newTransferDir(mode, component)
	if err != nil {
		return nil, fmt.Errorf("%s_start: %w", mode, err)
	}
	argv := transferArgv(dir, mode, keyFile, certFile, host, port, opts, tio)
	logFile := n.osLogName(mode, inst.OS, inst.Name+"-"+component)
	if err := n.launchTransfer(dir, caPEM, argv, tio.env, logFile); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s_start: %w", mode, err)
	}
	return filepath.Base(dir), nil
}

// check refuses options that would not make a safe command line.
func (opts *impexpOptions) check(component string) error {
	if (opts.KeyName == nil) != (opts.CAPem == nil) {
		return errors.New("Cluster certificate can only be used for both key and CA")
	}
	if !componentPattern.MatchString(component) {
		return fmt.Errorf("Invalid component '%s'", component)
	}
	if opts.Magic != nil && *opts.Magic != "" && !transferMagicPattern.MatchString(*opts.Magic) {
		return fmt.Errorf("Invalid magic value '%s'", *opts.Magic)
	}
	if opts.Compress != nil && *opts.Compress != "none" && !compressToolPattern.MatchString(*opts.Compress) {
		return fmt.Errorf("Invalid compression tool '%s'", *opts.Compress)
	}
	if opts.ConnectTimeout != nil && (*opts.ConnectTimeout < 0 || *opts.ConnectTimeout > 86400) {
		return fmt.Errorf("Invalid connect timeout %d", *opts.ConnectTimeout)
	}
	return nil
}

// transferEnds decodes the instance and builds the data end from the
// [kind, arguments] I/O spec.
func (n *node) transferEnds(mode string, rawInst json.RawMessage, ioSpec []json.RawMessage) (*instance, *transferIO, error) {
	inst, err := decodeInstanceOnly(rawInst)
	if err != nil {
		return nil, nil, err
	}
	// The OS name is part of the log file's name.
	if strings.ContainsAny(inst.OS, "/\x00") {
		return nil, nil, fmt.Errorf("Invalid OS name '%s'", inst.OS)
	}
	if len(ioSpec) != 2 {
		return nil, nil, &argError{msg: "the I/O argument must be [kind, arguments]"}
	}
	var kind string
	if err := json.Unmarshal(ioSpec[0], &kind); err != nil {
		return nil, nil, &argError{msg: "the I/O kind must be a string"}
	}
	tio, err := n.transferIO(inst, mode, kind, ioSpec[1])
	if err != nil {
		return nil, nil, err
	}
	return inst, tio, nil
}

// transferTLS picks the key and certificate (the node's own, or a named
// pair from the crypto directory) and the CA to trust.
func (n *node) transferTLS(opts *impexpOptions) (keyFile, certFile string, caPEM []byte, err error) {
	keyFile, certFile = n.paths.NodedCertFile, n.paths.NodedCertFile
	if opts.KeyName != nil {
		if !componentPattern.MatchString(*opts.KeyName) {
			return "", "", nil, fmt.Errorf("Invalid key name '%s'", *opts.KeyName)
		}
		dir := filepath.Join(n.paths.cryptoDir(), *opts.KeyName)
		keyFile, certFile = filepath.Join(dir, "key"), filepath.Join(dir, "cert")
	}
	for _, f := range []string{keyFile, certFile} {
		if _, err := os.Stat(f); err != nil {
			return "", "", nil, fmt.Errorf("File '%s' does not exist", f)
		}
	}
	if opts.CAPem != nil {
		return keyFile, certFile, []byte(*opts.CAPem), nil
	}
	if caPEM, err = readFileLimited(n.paths.NodedCertFile, 1<<20); err != nil {
		return "", "", nil, fmt.Errorf("cannot read the cluster certificate: %w", err)
	}
	return keyFile, certFile, caPEM, nil
}

// newTransferDir makes the transfer's own directory; mode, component
// and time in its name tell the transfers apart when listed.
func (n *node) newTransferDir(mode, component string) (string, error) {
	base := n.paths.importExportDir()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	stamp := time.Now().Format("2006-01-02_15_04_05")
	return os.MkdirTemp(base, fmt.Sprintf("%s-%s-%s-", mode, component, stamp))
}

// transferArgv is the transfer process's command line, as Ganeti's
// import-export daemon takes it.
func transferArgv(dir, mode, keyFile, certFile, host string, port int, opts *impexpOptions, tio *transferIO) []string {
	argv := []string{filepath.Join(dir, "status"), mode, "--key=" + keyFile, "--cert=" + certFile, "--ca=" + filepath.Join(dir, "ca")}
	if mode == "export" {
		argv = append(argv, "--host="+host, "--port="+strconv.Itoa(port))
	}
	if opts.IPv6 != nil && *opts.IPv6 {
		argv = append(argv, "--ipv6")
	} else {
		argv = append(argv, "--ipv4")
	}
	if opts.Compress != nil && *opts.Compress != "" {
		argv = append(argv, "--compress="+*opts.Compress)
	}
	if opts.Magic != nil && *opts.Magic != "" {
		argv = append(argv, "--magic="+*opts.Magic)
	}
	if tio.expectedSize != "" {
		argv = append(argv, "--expected-size="+tio.expectedSize)
	}
	if tio.prefix != "" {
		argv = append(argv, "--cmd-prefix="+tio.prefix)
	}
	if tio.suffix != "" {
		argv = append(argv, "--cmd-suffix="+tio.suffix)
	}
	if mode == "export" {
		argv = append(argv, "--connect-retries=10", "--connect-timeout=20")
	} else if opts.ConnectTimeout != nil {
		argv = append(argv, "--connect-timeout="+strconv.Itoa(*opts.ConnectTimeout))
	}
	return argv
}

// launchTransfer writes the CA the process trusts, then starts it
// detached (this binary again, told by the environment to transfer).
func (n *node) launchTransfer(dir string, caPEM []byte, argv, env []string, logFile string) error {
	if err := writeFile(filepath.Join(dir, "ca"), caPEM, 0o400); err != nil {
		return err
	}
	exe := n.transferExe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	env = append([]string{transferEnv + "=1"}, env...)
	return n.startDetached(command{Args: append([]string{exe}, argv...), Env: env}, filepath.Join(dir, "pid"), logFile)
}

// transferIO builds the data end, as Ganeti: a file in the export
// directory, a disk read or written with dd, or the OS's import or export
// script.
func (n *node) transferIO(inst *instance, mode, kind string, raw json.RawMessage) (*transferIO, error) {
	switch kind {
	case "file":
		var path string
		if err := decodeList(raw, &path); err != nil {
			return nil, err
		}
		return n.exportFileIO(mode, path)
	case "raw":
		var d disk
		if err := decodeList(raw, &d); err != nil {
			return nil, err
		}
		dev, err := n.findDevice(&d)
		if err != nil {
			return nil, err
		}
		if dev == nil {
			return nil, fmt.Errorf("Block device '%s' is not set up", &d)
		}
		if mode == "import" {
			return &transferIO{suffix: "| " + shellQuoteArgs(ddImportArgs(dev.Path(), d.Size))}, nil
		}
		return &transferIO{prefix: shellQuoteArgs(ddExportArgs(dev.Path(), d.Size)) + " |", expectedSize: strconv.FormatInt(int64(d.Size), 10)}, nil
	case "script":
		var d disk
		var idx index
		if err := decodeList(raw, &d, &idx); err != nil {
			return nil, err
		}
		return n.scriptIO(inst, mode, &d, int(idx))
	}
	return nil, fmt.Errorf("Invalid %s I/O mode '%s'", mode, kind)
}

// decodeList decodes a JSON list into dst, one element each.
func decodeList(raw json.RawMessage, dst ...any) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return &argError{msg: fmt.Sprintf("I/O arguments: %v", err)}
	}
	return decodeArgs(items, dst...)
}

func (n *node) exportFileIO(mode, path string) (*transferIO, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("Path '%s' is not normalized or absolute", path)
	}
	real := resolveExisting(path)
	exportDir := resolveExisting(n.paths.ExportDir)
	if !strings.HasPrefix(real, exportDir+"/") {
		return nil, fmt.Errorf("File '%s' is not under exports directory '%s': %s", path, n.paths.ExportDir, real)
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", filepath.Dir(real), err)
	}
	if mode == "import" {
		return &transferIO{suffix: "> " + shellQuote(path)}, nil
	}
	tio := &transferIO{suffix: "< " + shellQuote(path)}
	if st, err := os.Stat(path); err == nil {
		tio.expectedSize = strconv.FormatInt(int64(math.RoundToEven(float64(st.Size())/(1<<20))), 10)
	}
	return tio, nil
}

func (n *node) scriptIO(inst *instance, mode string, d *disk, idx int) (*transferIO, error) {
	def, env, err := n.instanceOSEnvironment(inst)
	if err != nil {
		return nil, err
	}
	dev, err := n.findDevice(d)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return nil, fmt.Errorf("Block device '%s' is not set up", d)
	}
	upper := strings.ToUpper(mode)
	env = append(env, upper+"_DEVICE="+dev.Path(), upper+"_DISK_PATH="+dev.Path(), fmt.Sprintf("%s_INDEX=%d", upper, idx))
	script := def.Scripts[mode]
	if script == "" {
		return nil, fmt.Errorf("OS '%s' has no %s script", def.Name, mode)
	}
	if !osScriptPathPattern.MatchString(def.Path) || !osScriptPathPattern.MatchString(script) {
		return nil, fmt.Errorf("OS path or script contains characters unsafe for a shell: %s", script)
	}
	cmd := fmt.Sprintf("( cd %s && %s; )", def.Path, script)
	if mode == "import" {
		return &transferIO{env: env, suffix: "| " + cmd, expectedSize: "fd"}, nil
	}
	return &transferIO{env: env, prefix: cmd + " |", expectedSize: "fd"}, nil
}

// ddImportArgs and ddExportArgs copy a disk's data in and out, as Ganeti's
// block devices do.
func ddImportArgs(path string, sizeMiB mebibytes) []string {
	// count: a peer that sends more than the disk holds cannot grow a
	// file disk until the file system is full (fullblock: a pipe's short
	// reads still count whole MiB).
	return []string{"dd", "of=" + path, "bs=1048576", fmt.Sprintf("count=%d", sizeMiB), "iflag=fullblock", "oflag=direct", "conv=notrunc"}
}

func ddExportArgs(path string, sizeMiB mebibytes) []string {
	return []string{"dd", "if=" + path, "bs=1048576", fmt.Sprintf("count=%d", sizeMiB), "iflag=direct"}
}

func shellQuoteArgs(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// transferDir is a transfer's directory, from its name.
func (n *node) transferDir(name string) (string, error) {
	if !isPlainName(name) {
		return "", fmt.Errorf("Invalid import/export name '%s'", name)
	}
	return filepath.Join(n.paths.importExportDir(), name), nil
}

// transferArg decodes the [name] argument of abort and cleanup.
func (n *node) transferArg(args []json.RawMessage) (name, dir string, err error) {
	if err = decodeArgs(args, &name); err != nil {
		return "", "", err
	}
	dir, err = n.transferDir(name)
	return name, dir, err
}

// rpcImpexpStatus returns each transfer's status file, or null: [[names]].
func rpcImpexpStatus(n *node, args []json.RawMessage) (any, error) {
	var names []string
	if err := decodeArgs(args, &names); err != nil {
		return nil, err
	}
	result := make([]any, len(names))
	for i, name := range names {
		dir, err := n.transferDir(name)
		if err != nil {
			return nil, err
		}
		data, err := readFileLimited(filepath.Join(dir, "status"), 1<<20)
		if isNotExist(err) || (err == nil && len(strings.TrimSpace(string(data))) == 0) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("impexp_status %s: %w", name, err)
		}
		var status map[string]json.RawMessage
		if err := json.Unmarshal(data, &status); err != nil {
			return nil, fmt.Errorf("impexp_status %s: bad status file: %w", name, err)
		}
		result[i] = status
	}
	return result, nil
}

// rpcImpexpAbort asks a running transfer to stop: [name].
func rpcImpexpAbort(n *node, args []json.RawMessage) (any, error) {
	name, dir, err := n.transferArg(args)
	if err != nil {
		return nil, err
	}
	if pid := lockedPid(filepath.Join(dir, "pid")); pid > 0 {
		n.log.Infof("aborting transfer %s (pid %d)", name, pid)
		syscall.Kill(pid, syscall.SIGTERM)
	}
	return nil, nil
}

// rpcImpexpCleanup stops a transfer if needed and removes its directory.
func rpcImpexpCleanup(n *node, args []json.RawMessage) (any, error) {
	name, dir, err := n.transferArg(args)
	if err != nil {
		return nil, err
	}
	pidFile := filepath.Join(dir, "pid")
	if pid := lockedPid(pidFile); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for lockedPid(pidFile) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if lockedPid(pidFile) > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("impexp_cleanup %s: %w", name, err)
	}
	return nil, nil
}

// lockedPid returns the pid in a pid file whose writer still holds its
// lock, or 0 when nobody does (the process ended).
func lockedPid(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := tryLock(f); err == nil {
		unlock(f)
		return 0
	}
	data := make([]byte, 32)
	k, _ := f.Read(data)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:k])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
