package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fakeHypervisor keeps "instances" as files in its directory, so the
// master's logic can be exercised without virtualisation.
type fakeHypervisor struct {
	dir string
}

const runDirsMode = 0o775 // Ganeti's RUN_DIRS_MODE

func newFakeHypervisor(n *node) (*fakeHypervisor, error) {
	h := &fakeHypervisor{dir: filepath.Join(n.paths.RunDir, "fake-hypervisor")}
	if err := ensureDir(h.dir, runDirsMode); err != nil {
		return nil, fmt.Errorf("fake hypervisor: %w", err)
	}
	return h, nil
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
	info, err := linuxNodeInfo()
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
