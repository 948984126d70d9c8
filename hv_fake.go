package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fakeHypervisor keeps "instances" as files in its directory, so the
// master's logic can be exercised without virtualisation.
type fakeHypervisor struct {
	n   *node
	dir string
}

// fakeParamChecks are the PARAMETERS of Ganeti 3.0's FakeHypervisor.
var fakeParamChecks = []hvParamCheck{hvMigrationModeCheck}

const runDirsMode = 0o775 // Ganeti's RUN_DIRS_MODE

// open makes the instance directory.
func (h *fakeHypervisor) open() error {
	if err := ensureDir(h.dir, runDirsMode); err != nil {
		return fmt.Errorf("fake hypervisor: %w", err)
	}
	return nil
}

// ValidateParams checks the parameter table (fakeParamChecks).
func (h *fakeHypervisor) ValidateParams(params map[string]any) error {
	return hvParamTable(fakeParamChecks).ValidateParams(params)
}

func (h *fakeHypervisor) ListInstances(map[string]any) ([]string, error) {
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// AllInstancesInfo reads the instance files: id, memory and vcpus, a line
// each.
func (h *fakeHypervisor) AllInstancesInfo(map[string]any) (map[string]instanceInfo, error) {
	names, err := h.ListInstances(nil)
	if err != nil {
		return nil, fmt.Errorf("Failed to list instances: %v", err)
	}
	out := map[string]instanceInfo{}
	for _, name := range names {
		data, err := readFileLimited(filepath.Join(h.dir, name), 4096)
		if err != nil {
			return nil, fmt.Errorf("Failed to list instances: %v", err)
		}
		lines := strings.Split(string(data), "\n")
		var info instanceInfo
		if len(lines) > 2 {
			info.Memory, _ = strconv.Atoi(strings.TrimSpace(lines[1]))
			info.VCPUs, _ = strconv.Atoi(strings.TrimSpace(lines[2]))
		}
		out[name] = info
	}
	return out, nil
}

// instanceMemory sums the memory (MiB) of the instances.
func (h *fakeHypervisor) instanceMemory() int {
	infos, _ := h.AllInstancesInfo(nil)
	total := 0
	for _, info := range infos {
		total += info.Memory
	}
	return total
}

func (h *fakeHypervisor) NodeInfo(map[string]any) (map[string]any, error) {
	info, err := h.n.linuxNodeInfo()
	if err != nil {
		return nil, err
	}
	free := info["memory_free"].(int)
	info["memory_free"] = free - min(free, h.instanceMemory())
	return info, nil
}

func (h *fakeHypervisor) Verify(map[string]any) string {
	if _, err := os.Stat(h.dir); err != nil {
		return fmt.Sprintf("The required directory '%s' does not exist", h.dir)
	}
	return ""
}

func (h *fakeHypervisor) file(name string) string { return filepath.Join(h.dir, name) }

func (h *fakeHypervisor) alive(name string) bool {
	_, err := os.Stat(h.file(name))
	return err == nil
}

// markUp records a running instance: id, memory and vcpus, a line each.
func (h *fakeHypervisor) markUp(inst *instance, memMiB int) error {
	vcpus, err := inst.beInt("vcpus")
	if err != nil {
		return err
	}
	return writeFile(h.file(inst.Name), []byte(fmt.Sprintf("0\n%d\n%d\n", memMiB, vcpus)), 0o600)
}

func (h *fakeHypervisor) markDown(name string) error {
	if err := os.Remove(h.file(name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// startupMemory uses what the node has free after the other instances.
func (h *fakeHypervisor) startupMemory(inst *instance) (int, error) {
	info, err := h.NodeInfo(nil)
	if err != nil {
		return 0, hvErrorf("%v", err)
	}
	return inst.startupMemory(info["memory_free"].(int))
}

func (h *fakeHypervisor) InstanceInfo(name string, _ map[string]any) (*instanceInfo, error) {
	infos, err := h.AllInstancesInfo(nil)
	if err != nil {
		return nil, hvErrorf("Failed to list instance %s: %v", name, err)
	}
	if info, ok := infos[name]; ok {
		return &info, nil
	}
	return nil, nil
}

func (h *fakeHypervisor) StartInstance(inst *instance, _ []string, _ bool) error {
	if h.alive(inst.Name) {
		return hvErrorf("Failed to start instance %s: already running", inst.Name)
	}
	mem, err := h.startupMemory(inst)
	if err != nil {
		return err
	}
	if err := h.markUp(inst, mem); err != nil {
		var he *hypervisorError
		if errors.As(err, &he) {
			return err
		}
		return hvErrorf("Failed to start instance %s: %v", inst.Name, err)
	}
	return nil
}

func (h *fakeHypervisor) StopInstance(inst *instance, _, _ bool, _ time.Duration) error {
	if !h.alive(inst.Name) {
		return hvErrorf("Failed to stop instance %s: not running", inst.Name)
	}
	return h.markDown(inst.Name)
}

func (h *fakeHypervisor) RebootInstance(*instance) error { return nil }

func (h *fakeHypervisor) BalloonMemory(inst *instance, mem int) error {
	if !h.alive(inst.Name) {
		return hvErrorf("Failed to balloon memory for %s: not running", inst.Name)
	}
	if err := h.markUp(inst, mem); err != nil {
		return hvErrorf("Failed to balloon memory for %s: %s", inst.Name, errnoName(err))
	}
	return nil
}

func (h *fakeHypervisor) Console(inst *instance, _ consolePlace) map[string]any {
	return map[string]any{"instance": inst.Name, "kind": "msg", "message": "Console not available for fake hypervisor"}
}

func (h *fakeHypervisor) MigrationInfo(*instance) (string, error) { return "", nil }

func (h *fakeHypervisor) AcceptInstance(inst *instance, _, _ string) error {
	if h.alive(inst.Name) {
		return hvErrorf("Can't accept instance, already running")
	}
	return nil
}

func (h *fakeHypervisor) MigrateInstance(_ string, _ *instance, _ string, _ bool) error { return nil }

func (h *fakeHypervisor) FinalizeMigrationDst(inst *instance, _ string, success bool) error {
	if !success {
		return h.markDown(inst.Name)
	}
	mem, err := h.startupMemory(inst)
	if err != nil {
		return err
	}
	return h.markUp(inst, mem)
}

func (h *fakeHypervisor) FinalizeMigrationSource(inst *instance, success, _ bool) error {
	if success {
		return h.markDown(inst.Name)
	}
	return nil
}

func (h *fakeHypervisor) MigrationStatus(*instance) (map[string]any, error) {
	return map[string]any{"status": "completed"}, nil
}

func (h *fakeHypervisor) HotplugSupported(*instance) error {
	return &hotplugError{hypervisorError{"Hotplug is not supported by this hypervisor"}}
}
