package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hotplugTypes are the NIC and disk models that can be hot-plugged.
var hotplugTypes = map[string][]string{
	"nic":  {"e1000", "i82551", "i82559er", "i82557b", "ne2k_pci", "paravirtual", "pcnet", "rtl8139"},
	"disk": {"paravirtual", "scsi-block", "scsi-generic", "scsi-hd", "scsi-cd"},
}

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

// hotplug runs one hot-add, hot-remove or hot-modify of a NIC or a disk.
// It returns the removed device's hvinfo for removals.
func (h *kvmHypervisor) hotplug(inst *instance, action, devType string, device, extra json.RawMessage, seq int) (any, error) {
	rt, err := h.loadRuntime(inst.Name)
	if err != nil {
		return nil, err
	}
	if t := hvStr(rt.HVParams, devType+"_type"); !slices.Contains(hotplugTypes[devType], t) {
		return nil, hvErrorf("Hotplug is not supported for device type %s", t)
	}
	var dev map[string]any
	if err := json.Unmarshal(device, &dev); err != nil {
		return nil, fmt.Errorf("bad %s: %v", devType, err)
	}
	uuid, _ := dev["uuid"].(string)
	if err := checkKVMDeviceUUID(devType, uuid); err != nil {
		return nil, err
	}
	if devType == "nic" && action != "hotremove" {
		if err := checkKVMNICMAC(dev["mac"]); err != nil {
			return nil, err
		}
	}
	c, err := dialQMP(h.qmpSocket(inst.Name), qmpTimeout)
	if err != nil {
		return nil, hvErrorf("Instance is probably down")
	}
	defer c.Close()
	if devType == "disk" {
		return h.hotplugDisk(c, inst, rt, action, dev, uuid, extra)
	}
	switch action {
	case "hotadd":
		return nil, h.hotAddNIC(c, inst, rt, dev, nil, seq)
	case "hotremove":
		return h.hotDelNIC(c, inst, rt, uuid, seq)
	case "hotmod":
		hvinfo, err := h.hotDelNIC(c, inst, rt, uuid, seq)
		if err != nil {
			return nil, err
		}
		return nil, h.hotAddNIC(c, inst, rt, dev, hvinfo, seq)
	}
	return nil, fmt.Errorf("invalid hotplug action '%s'", action)
}

var pciAddr = regexp.MustCompile(`^0x([0-9a-fA-F]+)$`)

// runtimeBusSlots are the bus slots of a running instance: the reserved
// ones and those of every device in its runtime.
func runtimeBusSlots(rt *kvmRuntime) kvmBusSlots {
	slots := newKVMBusSlots(rt.HVParams)
	for _, nic := range rt.NICs {
		slots.markUsed(nic["hvinfo"])
	}
	for _, d := range rt.Disks {
		if obj, ok := d[0].(map[string]any); ok {
			slots.markUsed(obj["hvinfo"])
		}
	}
	return slots
}

// hvinfoMap is a device's hvinfo as stored in the runtime file.
func hvinfoMap(info orderedHVInfo) map[string]any {
	m := map[string]any{}
	for _, kv := range info {
		m[pyStr(kv[0])] = kv[1]
	}
	return m
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
		info, err := runtimeBusSlots(rt).hvinfo(kvmNICDriver(rt.HVParams), kvmDeviceID("nic", uuid), kvmPCIBus)
		if err != nil {
			return err
		}
		hvinfo = hvinfoMap(info)
	}
	info, _ := hvinfo.(map[string]any)
	id, _ := info["id"].(string)
	kvm := kvmPath(rt.HVParams)
	help, err := h.kvmHelp(kvm)
	if err != nil {
		return err
	}
	feat, err := kvmNICFeatures(rt.HVParams, h.deviceList(kvm), help, h.n.paths.VhostNetDevice)
	if err != nil {
		return err
	}
	tap, err := openTap(feat.tap)
	if err != nil {
		return hvErrorf("%v", err)
	}
	defer tap.close()
	if err := h.runIfup(inst, seq, nic, tap.name); err != nil {
		return err
	}
	netdev, err := sendTapFDs(c, tap, id)
	if err != nil {
		return err
	}
	if feat.tap.vhost {
		netdev["vhost"] = true
	}
	if _, err := c.Execute("netdev_add", netdev); err != nil {
		return hvErrorf("%v", err)
	}
	args := map[string]any{"netdev": id, "mac": nic["mac"]}
	if isTrue(inst.HVParams["use_chroot"]) {
		args["romfile"] = "" // the option ROM is not reachable in the chroot
	}
	for _, k := range []string{"driver", "id", "bus", "addr"} {
		if v, ok := info[k]; ok {
			args[k] = v
		}
	}
	if feat.tap.queues > 1 {
		args["mq"], args["vectors"] = "on", 2*feat.tap.queues+2
	}
	if _, err := c.Execute("device_add", args); err != nil {
		return hvErrorf("%v", err)
	}
	if !h.devicePresent(c, id, true, false) {
		return hvErrorf("Device %s should have been added but is missing", id)
	}
	h.saveNICTap(inst.Name, seq, tap.name)
	entry := map[string]any{}
	for k, v := range nic {
		entry[k] = v
	}
	entry["hvinfo"] = info
	rt.NICs = append(rt.NICs, entry)
	return h.saveRuntime(inst.Name, rt)
}

// sendTapFDs hands the tap's queue and vhost-net descriptors to qemu
// (getfd) and returns the netdev_add arguments that name them.
func sendTapFDs(c *qmpClient, tap *tapDevice, id string) (map[string]any, error) {
	netdev := map[string]any{"type": "tap", "id": id}
	for _, kind := range []struct {
		files       []*os.File
		key, prefix string
	}{{tap.queues, "fds", id + "-"}, {tap.vhost, "vhostfds", id + "-vhost-"}} {
		var names []string
		for i, f := range kind.files {
			name := fmt.Sprintf("%s%d", kind.prefix, i)
			if err := c.SendFD(f); err != nil {
				return nil, hvErrorf("%v", err)
			}
			if _, err := c.Execute("getfd", map[string]any{"fdname": name}); err != nil {
				return nil, hvErrorf("%v", err)
			}
			names = append(names, name)
		}
		if len(names) > 0 {
			netdev[kind.key] = strings.Join(names, ":")
		}
	}
	return netdev, nil
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
	// As Ganeti: device_del and netdev_del, the NIC file goes, and only then
	// the check that the guest released the device, whose failure leaves
	// the runtime file as it was.
	if _, err := c.Execute("device_del", map[string]any{"id": id}); err != nil {
		return nil, hvErrorf("%v", err)
	}
	if _, err := c.Execute("netdev_del", map[string]any{"id": id}); err != nil {
		return nil, hvErrorf("%v", err)
	}
	os.Remove(h.nicFile(inst.Name, seq))
	if !h.devicePresent(c, id, false, false) {
		return nil, hvErrorf("Device %s should have been removed but is still there", id)
	}
	rt.NICs = append(rt.NICs[:idx], rt.NICs[idx+1:]...)
	if err := h.saveRuntime(inst.Name, rt); err != nil {
		return nil, err
	}
	return hvinfo, nil
}

// hotplugCheckDelay separates devicePresent's tries (Ganeti: a second).
const hotplugCheckDelay = time.Second

// devicePresent waits (5 tries, a second apart) until the device is
// present (want) or gone (!want), and reports whether that happened. A
// device counts as present on the first PCI bus or, with drives, as a
// block device (SCSI disks are not on the PCI bus).
func (h *kvmHypervisor) devicePresent(c *qmpClient, id string, want, drives bool) bool {
	for try := 0; try < 5; try++ {
		if kvmDeviceFound(c, id, drives) == want {
			return true
		}
		time.Sleep(cmp.Or(h.n.waits.hotplugCheck, hotplugCheckDelay))
	}
	return false
}

func kvmDeviceFound(c *qmpClient, id string, drives bool) bool {
	if ret, err := c.Execute("query-pci", nil); err == nil {
		var buses []struct {
			Devices []struct {
				QdevID string `json:"qdev_id"`
			} `json:"devices"`
		}
		json.Unmarshal(ret, &buses)
		if len(buses) > 0 {
			for _, d := range buses[0].Devices {
				if d.QdevID == id {
					return true
				}
			}
		}
	}
	return drives && c.lists("query-block", "device", id)
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

// hotplugDisk adds (or removes) a disk of a running instance: the image is
// handed over as an fd set, attached as a drive, then as a device.
func (h *kvmHypervisor) hotplugDisk(c *qmpClient, inst *instance, rt *kvmRuntime, action string, d map[string]any, uuid string, extra json.RawMessage) (any, error) {
	switch action {
	case "hotadd":
		var linkURI []any
		json.Unmarshal(extra, &linkURI)
		link := ""
		if len(linkURI) > 0 {
			link, _ = linkURI[0].(string)
		}
		return nil, h.hotAddDisk(c, inst, rt, d, link)
	case "hotremove":
		return h.hotDelDisk(c, inst, rt, uuid)
	case "hotmod":
		return nil, nil // Ganeti changes nothing for disks
	}
	return nil, fmt.Errorf("invalid hotplug action '%s'", action)
}

func (h *kvmHypervisor) hotAddDisk(c *qmpClient, inst *instance, rt *kvmRuntime, d map[string]any, link string) error {
	if !c.HasCommand("add-fd") {
		return &hotplugError{hypervisorError{"Cannot hot-add disk: add-fd qmp command is not supported."}}
	}
	// The daemon opens the link read-write and hands it to the guest: only
	// the instance's own instance-disks link (blockdev_assemble made it)
	// is accepted.
	if !h.isDiskLinkOf(inst.Name, link) {
		return hvErrorf("Cannot hot-add disk: '%s' is not a disk link of instance %s", link, inst.Name)
	}
	uuid, _ := d["uuid"].(string)
	id := kvmDeviceID("disk", uuid)
	diskType := hvStr(rt.HVParams, "disk_type")
	hvinfo, err := runtimeBusSlots(rt).hvinfo(kvmDiskDriver(rt.HVParams), id, kvmDiskBus(diskType))
	if err != nil {
		return err
	}
	info := hvinfoMap(hvinfo)
	f, err := os.OpenFile(link, os.O_RDWR, 0)
	if err != nil {
		return hvErrorf("Cannot open disk %s: %v", link, err)
	}
	defer f.Close()
	if err := c.SendFD(f); err != nil {
		return hvErrorf("%v", err)
	}
	ret, err := c.Execute("add-fd", nil)
	if err != nil {
		return hvErrorf("%v", err)
	}
	var fdset struct {
		ID int `json:"fdset-id"`
	}
	json.Unmarshal(ret, &fdset)
	opts := kvmAIOCache(rt.HVParams, map[string]any{"dev_type": hvStr(rt.HVParams, "disk_type")})
	if disc := hvStr(rt.HVParams, "disk_discard"); disc != "" && disc != "default" {
		opts += ",discard=" + disc
	}
	cmdline := fmt.Sprintf("drive_add dummy file=/dev/fdset/%d,if=none,id=%s,format=raw,auto-read-only=off%s", fdset.ID, id, opts)
	out, err := c.Execute("human-monitor-command", map[string]any{"command-line": cmdline})
	c.Execute("remove-fd", map[string]any{"fdset-id": fdset.ID})
	if err != nil {
		return hvErrorf("%v", err)
	}
	var text string
	json.Unmarshal(out, &text)
	if strings.TrimSpace(text) != "OK" && strings.TrimSpace(text) != "" {
		return hvErrorf("drive_add failed: %s", strings.TrimSpace(text))
	}
	args := map[string]any{"drive": id}
	for k, v := range info {
		args[k] = v
	}
	if _, err := c.Execute("device_add", args); err != nil {
		return hvErrorf("%v", err)
	}
	if !h.devicePresent(c, id, true, true) {
		return hvErrorf("Device %s should have been added but is missing", id)
	}
	d["hvinfo"] = hvinfo
	rt.Disks = append(rt.Disks, [3]any{d, link, nil})
	return h.saveRuntime(inst.Name, rt)
}

// isDiskLinkOf tells whether path is one of the instance's
// instance-disks symlinks.
func (h *kvmHypervisor) isDiskLinkOf(instance, path string) bool {
	idx, ok := strings.CutPrefix(filepath.Base(path), instance+":")
	if !ok {
		return false
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || path != h.n.paths.diskLinkPath(instance, i) {
		return false
	}
	st, err := os.Lstat(path)
	return err == nil && st.Mode()&os.ModeSymlink != 0
}

func (h *kvmHypervisor) hotDelDisk(c *qmpClient, inst *instance, rt *kvmRuntime, uuid string) (any, error) {
	idx := -1
	for i, entry := range rt.Disks {
		if obj, ok := entry[0].(map[string]any); ok && obj["uuid"] == uuid {
			idx = i
		}
	}
	if idx < 0 {
		return nil, &hotplugError{hypervisorError{fmt.Sprintf("Cannot find runtime info for disk with UUID %s", uuid)}}
	}
	obj := rt.Disks[idx][0].(map[string]any)
	hvinfo := obj["hvinfo"]
	_, id, _ := deviceString(hvinfo)
	// As Ganeti: device_del, then drive_del (its outcome unchecked: Ganeti
	// sends it through the human monitor and reads no answer), and only then
	// the check that the guest released the device. A guest that never does
	// (no OS, no ACPI hotplug) keeps a PCI device without its drive, and the
	// runtime file keeps the disk.
	if _, err := c.Execute("device_del", map[string]any{"id": id}); err != nil {
		return nil, hvErrorf("%v", err)
	}
	c.Execute("human-monitor-command", map[string]any{"command-line": "drive_del " + id})
	if !h.devicePresent(c, id, false, true) {
		return nil, hvErrorf("Device %s should have been removed but is still there", id)
	}
	rt.Disks = append(rt.Disks[:idx], rt.Disks[idx+1:]...)
	if err := h.saveRuntime(inst.Name, rt); err != nil {
		return nil, err
	}
	return hvinfo, nil
}
