package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// hotplugNICTypes are the NIC models QEMU can hot-add.
var hotplugNICTypes = []string{"e1000", "i82551", "i82559er", "i82557b", "ne2k_pci", "paravirtual", "pcnet", "rtl8139"}

// HotplugSupported needs a running qemu of version 1.7 or later.
func (h *kvmHypervisor) HotplugSupported(inst *instance) error {
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return &hotplugError{hypervisorError{"Instance is probably down"}}
	}
	defer c.Close()
	q, _ := c.Version["qemu"].(map[string]any)
	major, _ := q["major"].(float64)
	minor, _ := q["minor"].(float64)
	if major == 0 {
		return &hotplugError{hypervisorError{"Cannot parse qemu version via monitor"}}
	}
	if major < 1 || (major == 1 && minor < 7) {
		return &hotplugError{hypervisorError{"Hotplug not supported for qemu versions < 1.7"}}
	}
	return nil
}

// hotplug runs one hot-add, hot-remove or hot-modify of a NIC; disks come
// later. It returns the removed device's hvinfo for removals.
func (h *kvmHypervisor) hotplug(inst *instance, action, devType string, device json.RawMessage, seq int) (any, error) {
	if devType != "nic" {
		return nil, hvErrorf("Hotplug of %ss is not implemented for KVM on this node yet", devType)
	}
	rt, err := h.loadRuntime(inst.Name)
	if err != nil {
		return nil, err
	}
	if t := hvStr(rt.HVParams, "nic_type"); !contains(hotplugNICTypes, t) {
		return nil, hvErrorf("Hotplug is not supported for device type %s", t)
	}
	var nic map[string]any
	if err := json.Unmarshal(device, &nic); err != nil {
		return nil, fmt.Errorf("bad NIC: %v", err)
	}
	uuid, _ := nic["uuid"].(string)
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return nil, hvErrorf("Instance is probably down")
	}
	defer c.Close()
	switch action {
	case "hotadd":
		return nil, h.hotAddNIC(c, inst, rt, nic, nil, seq)
	case "hotremove":
		return h.hotDelNIC(c, inst, rt, uuid, seq)
	case "hotmod":
		hvinfo, err := h.hotDelNIC(c, inst, rt, uuid, seq)
		if err != nil {
			return nil, err
		}
		return nil, h.hotAddNIC(c, inst, rt, nic, hvinfo, seq)
	}
	return nil, fmt.Errorf("invalid hotplug action '%s'", action)
}

var pciAddr = regexp.MustCompile(`^0x([0-9a-fA-F]+)$`)

// freePCISlot is the lowest slot not reserved and not used by a device
// of the runtime.
func freePCISlot(rt *kvmRuntime) (string, error) {
	used := map[int]bool{}
	reserved := hvInt(rt.HVParams, "kvm_pci_reservations")
	if _, ok := rt.HVParams["kvm_pci_reservations"]; !ok {
		reserved = 12
	}
	for i := 0; i < reserved; i++ {
		used[i] = true
	}
	mark := func(hvinfo any) {
		if m, ok := hvinfo.(map[string]any); ok && m["bus"] == "pci.0" {
			if s, _ := m["addr"].(string); pciAddr.MatchString(s) {
				n, _ := strconv.ParseInt(s[2:], 16, 32)
				used[int(n)] = true
			}
		}
	}
	for _, nic := range rt.NICs {
		mark(nic["hvinfo"])
	}
	for _, d := range rt.Disks {
		if obj, ok := d[0].(map[string]any); ok {
			mark(obj["hvinfo"])
		}
	}
	for i := 0; i < 32; i++ {
		if !used[i] {
			return fmt.Sprintf("0x%x", i), nil
		}
	}
	return "", hvErrorf("All slots occupied")
}

func (h *kvmHypervisor) hotAddNIC(c *qmpClient, inst *instance, rt *kvmRuntime, nic map[string]any, hvinfo any, seq int) error {
	if !c.HasCommand("getfd") {
		return &hotplugError{hypervisorError{"Cannot hot-add NIC: getfd qmp command is not supported."}}
	}
	if !c.HasCommand("netdev_add") {
		return &hotplugError{hypervisorError{"Cannot hot-add NIC: netdev_add qmp command is not supported."}}
	}
	uuid, _ := nic["uuid"].(string)
	if hvinfo == nil {
		addr, err := freePCISlot(rt)
		if err != nil {
			return err
		}
		hvinfo = map[string]any{"driver": kvmNICDriver(rt.HVParams), "id": kvmDeviceID("nic", uuid), "bus": "pci.0", "addr": addr}
	}
	info, _ := hvinfo.(map[string]any)
	id, _ := info["id"].(string)
	tap, f, err := openTap(true)
	if err != nil {
		return hvErrorf("%v", err)
	}
	defer f.Close()
	if err := h.runIfup(inst, seq, nic, tap); err != nil {
		return err
	}
	if err := c.SendFD(f); err != nil {
		return hvErrorf("%v", err)
	}
	if _, err := c.Execute("getfd", map[string]any{"fdname": id + "-0"}); err != nil {
		return hvErrorf("%v", err)
	}
	if _, err := c.Execute("netdev_add", map[string]any{"type": "tap", "id": id, "fds": id + "-0"}); err != nil {
		return hvErrorf("%v", err)
	}
	args := map[string]any{"netdev": id, "mac": nic["mac"]}
	for _, k := range []string{"driver", "id", "bus", "addr"} {
		if v, ok := info[k]; ok {
			args[k] = v
		}
	}
	if _, err := c.Execute("device_add", args); err != nil {
		return hvErrorf("%v", err)
	}
	if !h.pciDevicePresent(c, id, true) {
		return hvErrorf("Device %s should have been added but is missing", id)
	}
	nicDir := filepath.Join(h.rootDir, "nic", inst.Name)
	ensureDir(nicDir, runDirsMode)
	writeFile(filepath.Join(nicDir, strconv.Itoa(seq)), []byte(tap), 0o600)
	entry := map[string]any{}
	for k, v := range nic {
		entry[k] = v
	}
	entry["hvinfo"] = info
	rt.NICs = append(rt.NICs, entry)
	return h.saveRuntime(inst.Name, rt)
}

func (h *kvmHypervisor) hotDelNIC(c *qmpClient, inst *instance, rt *kvmRuntime, uuid string, seq int) (any, error) {
	idx := -1
	for i, n := range rt.NICs {
		if n["uuid"] == uuid {
			idx = i
		}
	}
	if idx < 0 {
		return nil, &hotplugError{hypervisorError{fmt.Sprintf("Cannot find runtime info for nic with UUID %s", uuid)}}
	}
	hvinfo := rt.NICs[idx]["hvinfo"]
	_, id, _ := deviceString(hvinfo)
	if _, err := c.Execute("device_del", map[string]any{"id": id}); err != nil {
		return nil, hvErrorf("%v", err)
	}
	if !h.pciDevicePresent(c, id, false) {
		return nil, hvErrorf("Device %s should have been removed but is still there", id)
	}
	if _, err := c.Execute("netdev_del", map[string]any{"id": id}); err != nil {
		h.n.log.Warningf("netdev_del %s: %v", id, err)
	}
	os.Remove(filepath.Join(h.rootDir, "nic", inst.Name, strconv.Itoa(seq)))
	rt.NICs = append(rt.NICs[:idx], rt.NICs[idx+1:]...)
	if err := h.saveRuntime(inst.Name, rt); err != nil {
		return nil, err
	}
	return hvinfo, nil
}

// pciDevicePresent waits (5 tries, a second apart) until the device is
// present (want) or gone (!want), and reports whether that happened.
func (h *kvmHypervisor) pciDevicePresent(c *qmpClient, id string, want bool) bool {
	for try := 0; try < 5; try++ {
		ret, err := c.Execute("query-pci", nil)
		if err == nil {
			var buses []struct {
				Devices []struct {
					QdevID string `json:"qdev_id"`
				} `json:"devices"`
			}
			json.Unmarshal(ret, &buses)
			found := false
			if len(buses) > 0 {
				for _, d := range buses[0].Devices {
					found = found || d.QdevID == id
				}
			}
			if found == want {
				return true
			}
		}
		time.Sleep(time.Second)
	}
	return false
}

// resizeDisk tells qemu the disk's new size (block_resize on its drive).
func (h *kvmHypervisor) resizeDisk(inst *instance, d *disk, newSize int64) error {
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return hvErrorf("Instance is probably down")
	}
	defer c.Close()
	if _, err := c.Execute("block_resize", map[string]any{"device": kvmDeviceID("disk", d.UUID), "size": newSize}); err != nil {
		return hvErrorf("%v", err)
	}
	return nil
}
