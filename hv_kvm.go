package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	defaultKVMPath = "/usr/bin/kvm"
	socatPath      = "/usr/bin/socat"

	kvmQueryTimeout = 30 * time.Second
)

// kvmHypervisor runs instances as qemu processes.
type kvmHypervisor struct {
	n       *node
	rootDir string
}

// kvmSubdirs are the run-time directories Ganeti's KVM module keeps.
var kvmSubdirs = []string{"pid", "uid", "ctrl", "conf", "nic", "chroot", "chroot-quarantine"}

// open makes the run-time directories (kvmSubdirs).
func (h *kvmHypervisor) open() error {
	for _, d := range append([]string{""}, kvmSubdirs...) {
		if err := ensureDir(filepath.Join(h.rootDir, d), runDirsMode); err != nil {
			return fmt.Errorf("kvm hypervisor: %w", err)
		}
	}
	return nil
}

func kvmPath(hvparams map[string]any) string {
	if p, ok := hvparams["kvm_path"].(string); ok && p != "" {
		return p
	}
	return defaultKVMPath
}

// ListInstances names instances with a pid file whose process is alive.
func (h *kvmHypervisor) ListInstances(map[string]any) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(h.rootDir, "pid"))
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		if h.instanceAlive(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// instanceAlive checks the pid file and that the process is a qemu
// started for this instance (its command line names it).
func (h *kvmHypervisor) instanceAlive(name string) bool {
	pid := h.pid(name)
	if pid == 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-name" && (args[i+1] == name || strings.HasPrefix(args[i+1], name+",")) {
			return true
		}
	}
	return false
}

// AllInstancesInfo reports the instances with a saved configuration:
// running ones with the memory and CPUs of their command line, ones the
// guest shut down as state 1.
func (h *kvmHypervisor) AllInstancesInfo(map[string]any) (map[string]instanceInfo, error) {
	entries, err := os.ReadDir(filepath.Join(h.rootDir, "conf"))
	if err != nil {
		return nil, err
	}
	out := map[string]instanceInfo{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if h.instanceAlive(name) {
			out[name] = h.cmdlineInfo(name)
		} else if fileExists(h.shutdownFile(name)) {
			out[name] = instanceInfo{State: 1}
		}
	}
	return out, nil
}

// cmdlineInfo reads memory (-m) and CPUs (-smp) from the qemu command line.
func (h *kvmHypervisor) cmdlineInfo(name string) instanceInfo {
	var info instanceInfo
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.pid(name)))
	if err != nil {
		return info
	}
	args := strings.Split(string(cmdline), "\x00")
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-m":
			v, _, _ := strings.Cut(args[i+1], ",")
			info.Memory, _ = strconv.Atoi(strings.TrimPrefix(v, "size="))
		case "-smp":
			v, _, _ := strings.Cut(args[i+1], ",")
			info.VCPUs, _ = strconv.Atoi(v)
		}
	}
	return info
}

func (h *kvmHypervisor) qmpSocket(name string) string {
	return filepath.Join(h.rootDir, "ctrl", name+".qmp")
}

// pid is the pid qemu wrote for the instance (-pidfile), 0 if none.
func (h *kvmHypervisor) pid(name string) int {
	return readPidFile(filepath.Join(h.rootDir, "pid", name))
}

// shutdownFile is the marker ganeti-kvmd leaves when the guest powered
// itself off.
func (h *kvmHypervisor) shutdownFile(name string) string {
	return filepath.Join(h.rootDir, "ctrl", name+".shutdown")
}

func (h *kvmHypervisor) InstanceInfo(name string, _ map[string]any) (*instanceInfo, error) {
	if !h.instanceAlive(name) {
		if fileExists(h.shutdownFile(name)) {
			return &instanceInfo{State: 1}, nil // the guest powered off
		}
		return nil, nil
	}
	info := h.cmdlineInfo(name)
	// The balloon tells the memory the guest has now.
	if c, err := dialQMP(h.qmpSocket(name), 5*time.Second); err == nil {
		if ret, err := c.Execute("query-balloon", nil); err == nil {
			var b struct {
				Actual int64 `json:"actual"`
			}
			if json.Unmarshal(ret, &b) == nil && b.Actual > 0 {
				info.Memory = int(b.Actual >> 20)
			}
		}
		c.Close()
	}
	return &info, nil
}

func (h *kvmHypervisor) BalloonMemory(inst *instance, mem int) error {
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return hvErrorf("Failed to balloon memory for %s: %v", inst.Name, err)
	}
	defer c.Close()
	if _, err := c.Execute("balloon", map[string]any{"value": int64(mem) << 20}); err != nil {
		return hvErrorf("Failed to balloon memory for %s: %v", inst.Name, err)
	}
	return nil
}

var kvmVersionPattern = regexp.MustCompile(`\b(\d+)\.(\d+)(\.(\d+))?\b`)

// kvmVersion parses the first line of `kvm --help`.
func parseKVMVersion(help string) ([3]int, error) {
	first, _, _ := strings.Cut(help, "\n")
	m := kvmVersionPattern.FindStringSubmatch(first)
	if m == nil {
		return [3]int{}, errors.New("Unable to get KVM version")
	}
	var v [3]int
	v[0], _ = strconv.Atoi(m[1])
	v[1], _ = strconv.Atoi(m[2])
	if m[4] != "" {
		v[2], _ = strconv.Atoi(m[4])
	}
	return v, nil
}

func (h *kvmHypervisor) NodeInfo(hvparams map[string]any) (map[string]any, error) {
	info, err := h.n.linuxNodeInfo()
	if err != nil {
		return nil, err
	}
	res, err := h.n.runCommand(command{Args: []string{kvmPath(hvparams), "--help"}, Timeout: kvmQueryTimeout})
	if err != nil {
		return nil, fmt.Errorf("Unable to get KVM --help output: %v", err)
	}
	v, err := parseKVMVersion(res.Output)
	if err != nil {
		return nil, err
	}
	info["hv_version"] = v
	return info, nil
}

func (h *kvmHypervisor) Verify(hvparams map[string]any) string {
	var msgs []string
	if p := kvmPath(hvparams); !fileExists(p) {
		msgs = append(msgs, fmt.Sprintf("The KVM binary ('%s') does not exist", p))
	}
	if !fileExists(socatPath) {
		msgs = append(msgs, fmt.Sprintf("The socat binary ('%s') does not exist", socatPath))
	}
	return formatVerifyResults(msgs)
}

// formatVerifyResults joins hypervisor verify problems as Ganeti does.
func formatVerifyResults(msgs []string) string {
	if len(msgs) == 0 {
		return ""
	}
	return strings.Join(msgs, "; ")
}
