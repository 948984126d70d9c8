package main

import (
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// MigrationInfo is the runtime file, which the target starts from.
func (h *kvmHypervisor) MigrationInfo(inst *instance) (string, error) {
	data, err := readFileLimited(h.runtimePath(inst.Name), 16<<20)
	if err != nil {
		return "", hvErrorf("Failed to load KVM runtime file: %v", err)
	}
	return string(data), nil
}

// migrationTarget is "address:port" for -incoming and migrate.
func migrationTarget(target string, hvp map[string]any) (string, error) {
	ip := net.ParseIP(target)
	port := hvInt(hvp, "migration_port")
	if ip == nil || port <= 0 || port > 65535 {
		return "", hvErrorf("Invalid migration target %s port %d", target, port)
	}
	return net.JoinHostPort(target, strconv.Itoa(port)), nil
}

// AcceptInstance starts qemu waiting for the incoming migration.
func (h *kvmHypervisor) AcceptInstance(inst *instance, info, target string) error {
	var rt kvmRuntime
	if err := json.Unmarshal([]byte(info), &rt); err != nil {
		return hvErrorf("Failed to load KVM runtime file: %v", err)
	}
	addr, err := migrationTarget(target, inst.HVParams)
	if err != nil {
		return err
	}
	help, _, err := h.probe(kvmPath(inst.HVParams))
	if err != nil {
		return err
	}
	h.localizeRuntime(&rt)
	return h.executeKVMRuntime(inst, &rt, help, addr)
}

// localizeRuntime points a runtime written on another node at this node's
// run-time and log files. On real nodes the paths are the same; in
// virtual clusters (one root per node) they differ by the root.
func (h *kvmHypervisor) localizeRuntime(rt *kvmRuntime) {
	real := newLayout("", "")
	markers := []string{real.KVMRunDir + "/", real.KVMLogDir + "/"}
	for i, a := range rt.Cmd {
		s, ok := a.(string)
		if !ok {
			continue
		}
		for _, marker := range markers {
			if idx := strings.Index(s, marker); idx >= 0 {
				// Keep what precedes the path inside the argument (unix:).
				start := strings.LastIndexAny(s[:idx], ":=,") + 1
				rt.Cmd[i] = s[:start] + h.n.paths.Root + s[idx:]
				break
			}
		}
	}
}

// MigrateInstance sends the instance to the target's waiting qemu.
func (h *kvmHypervisor) MigrateInstance(_ string, inst *instance, target string, live bool) error {
	if !h.instanceAlive(inst.Name) {
		return hvErrorf("Instance not running, cannot migrate")
	}
	addr, err := migrationTarget(target, inst.HVParams)
	if err != nil {
		return err
	}
	bandwidth, err := checkedMul(int64(hvInt(inst.HVParams, "migration_bandwidth")), 1<<20, "migration_bandwidth in bytes/s")
	if err != nil {
		return hvErrorf("%v", err)
	}
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return hvErrorf("%v", err)
	}
	defer c.Close()
	if !live {
		if _, err := c.Execute("stop", nil); err != nil {
			return hvErrorf("%v", err)
		}
	}
	params := map[string]any{"max-bandwidth": bandwidth, "downtime-limit": hvInt(inst.HVParams, "migration_downtime")}
	if _, err := c.Execute("migrate-set-parameters", params); err != nil {
		return hvErrorf("%v", err)
	}
	if _, err := c.Execute("migrate", map[string]any{"uri": "tcp:" + addr}); err != nil {
		return hvErrorf("%v", err)
	}
	return nil
}

// MigrationStatus polls query-migrate on the source.
func (h *kvmHypervisor) MigrationStatus(inst *instance) (map[string]any, error) {
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return nil, hvErrorf("%v", err)
	}
	defer c.Close()
	for try := 0; try < 5; try++ {
		ret, err := c.Execute("query-migrate", nil)
		if err == nil {
			var st struct {
				Status string `json:"status"`
				RAM    *struct {
					Transferred int64 `json:"transferred"`
					Total       int64 `json:"total"`
				} `json:"ram"`
			}
			json.Unmarshal(ret, &st)
			switch st.Status {
			case "active", "completed", "failed", "cancelled", "postcopy-active":
				out := map[string]any{"status": st.Status}
				if st.RAM != nil {
					out["transferred_ram"], out["total_ram"] = st.RAM.Transferred, st.RAM.Total
				}
				return out, nil
			}
			h.n.log.Warningf("KVM: unknown migration status '%s'", st.Status)
		}
		time.Sleep(2 * time.Second)
	}
	return map[string]any{"status": "failed"}, nil
}

// FinalizeMigrationDst keeps the runtime on success, kills qemu otherwise.
func (h *kvmHypervisor) FinalizeMigrationDst(inst *instance, info string, success bool) error {
	if !success {
		return h.kill(inst.Name)
	}
	var rt kvmRuntime
	if err := json.Unmarshal([]byte(info), &rt); err != nil {
		return hvErrorf("Failed to load KVM runtime file: %v", err)
	}
	h.localizeRuntime(&rt)
	return h.saveRuntime(inst.Name, &rt)
}

// FinalizeMigrationSource ends the source qemu on success, resumes it
// otherwise.
func (h *kvmHypervisor) FinalizeMigrationSource(inst *instance, success, _ bool) error {
	if success {
		if err := h.kill(inst.Name); err != nil {
			return err
		}
		if err := h.removeRuntimeFiles(inst.Name); err != nil {
			return err
		}
		os.Remove(h.shutdownFile(inst.Name))
		return nil
	}
	if !h.instanceAlive(inst.Name) {
		return h.CleanupInstance(inst.Name)
	}
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return hvErrorf("%v", err)
	}
	defer c.Close()
	_, err = c.Execute("cont", nil)
	return err
}
