package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// kvmCPUMasks parses Ganeti's cpu_mask: "all", one CPU list such as
// "0-2,5" for the whole qemu process, or one list per vCPU separated by
// ':' ("0:1-3:all"). It returns nil when nothing is to be pinned. With
// vcpus >= 0 a per-vCPU mask must have one entry per vCPU.
func kvmCPUMasks(mask string, vcpus int) ([][]int, error) {
	masks, ok := parseMultiCPUMask(mask)
	if !ok {
		return nil, hvErrorf("Parameter 'cpu_mask' fails syntax check: Multiple CPU mask definition is not well-formed (current value: '%s')", mask)
	}
	if len(masks) > 1 && vcpus >= 0 && len(masks) != vcpus {
		return nil, hvErrorf("Number of vCPUs [%d] does not match the CPU mask [%s]", vcpus, mask)
	}
	if len(masks) == 0 || (len(masks) == 1 && masks[0] == nil) {
		return nil, nil
	}
	return masks, nil
}

// parseMultiCPUMask splits a mask at ':'; an "all" entry is nil, and so
// is an empty one (Ganeti accepts it as an empty CPU list, which pinning
// takes as every CPU).
func parseMultiCPUMask(mask string) ([][]int, bool) {
	if mask == "" {
		return nil, true
	}
	var out [][]int
	for _, part := range strings.Split(mask, ":") {
		if part == "all" || part == "" {
			out = append(out, nil)
			continue
		}
		cpus, ok := parseCPUList(part)
		if !ok {
			return nil, false
		}
		out = append(out, cpus)
	}
	return out, true
}

// parseCPUList reads "0-2,5" (sorted, without duplicates).
func parseCPUList(s string) ([]int, bool) {
	set := map[int]bool{}
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a < 0 || a > b || strings.Count(r, "-") > 1 || b-a > 1<<16 {
			return nil, false
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	cpus := make([]int, 0, len(set))
	for c := range set {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	return cpus, true
}

// pinCPUs applies the masks to the paused qemu: one mask pins every
// thread of the process, several pin each vCPU thread (ids from
// query-cpus-fast) to its own list; "all" means every online CPU.
func (h *kvmHypervisor) pinCPUs(c *qmpClient, name string, masks [][]int) error {
	pid := h.pid(name)
	if len(masks) == 1 {
		// Ganeti (psutil) pins only the main thread, which leaves the
		// vCPU threads qemu has already started free; pin them all.
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return hvErrorf("Failed to list the threads of instance %s: %v", name, err)
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if err := setAffinity(tid, masks[0]); err != nil {
				return hvErrorf("Failed to pin instance %s: %v", name, err)
			}
		}
		return nil
	}
	ret, err := c.Execute("query-cpus-fast", nil)
	if err != nil {
		return hvErrorf("Failed to get the vCPU threads of instance %s: %v", name, err)
	}
	var cpus []struct {
		Index    int `json:"cpu-index"`
		ThreadID int `json:"thread-id"`
	}
	if err := json.Unmarshal(ret, &cpus); err != nil {
		return hvErrorf("Failed to get the vCPU threads of instance %s: %v", name, err)
	}
	if len(cpus) != len(masks) {
		return hvErrorf("Number of vCPUs [%d] does not match the CPU mask of instance %s", len(cpus), name)
	}
	for _, cpu := range cpus {
		if cpu.Index < 0 || cpu.Index >= len(masks) {
			return hvErrorf("Unexpected vCPU index %d of instance %s", cpu.Index, name)
		}
		if err := setAffinity(cpu.ThreadID, masks[cpu.Index]); err != nil {
			return hvErrorf("Failed to pin vCPU %d of instance %s: %v", cpu.Index, name, err)
		}
	}
	return nil
}

// setAffinity is sched_setaffinity(2) for one thread; nil cpus means all
// online CPUs.
func setAffinity(tid int, cpus []int) error {
	if cpus == nil {
		online, err := readFileLimited("/sys/devices/system/cpu/online", 4096)
		if err != nil {
			return err
		}
		var ok bool
		if cpus, ok = parseCPUList(strings.TrimSpace(string(online))); !ok {
			return fmt.Errorf("cannot parse the online CPUs %q", online)
		}
	}
	var set [1024 / 64]uint64 // the kernel's default cpu_set_t size
	for _, c := range cpus {
		if c >= len(set)*64 {
			return fmt.Errorf("CPU %d is out of range", c)
		}
		set[c/64] |= 1 << (uint(c) % 64)
	}
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set[0])))
	if errno != 0 {
		return fmt.Errorf("sched_setaffinity(%d, %v): %v", tid, cpus, errno)
	}
	return nil
}
