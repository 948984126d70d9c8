package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kvmKillWait is how long qemu has to end after SIGTERM.
const kvmKillWait = 10 * time.Second

// StopInstance asks the guest to power down (ACPI), or kills qemu when
// forced or without ACPI.
func (h *kvmHypervisor) StopInstance(inst *instance, force, _ bool, timeout time.Duration) error {
	name := inst.Name
	defer os.Remove(h.shutdownFile(name))
	if !h.instanceAlive(name) {
		return nil
	}
	acpi, _ := inst.HVParams["acpi"].(bool)
	if force || !acpi {
		return h.kill(name)
	}
	c, err := dialQMP(h.qmpSocket(name), qmpTimeout)
	if err != nil {
		return hvErrorf("Failed to stop instance %s: %v", name, err)
	}
	defer c.Close()
	if _, err := c.Execute("system_powerdown", nil); err != nil {
		return hvErrorf("Failed to stop instance %s: %v", name, err)
	}
	return nil
}

// kill ends qemu: SIGTERM, then SIGKILL if it lingers. A pid file whose
// process is not this instance's qemu (it died, the pid was reused) is
// left alone: the signal would hit an unrelated process.
func (h *kvmHypervisor) kill(name string) error {
	if !h.instanceAlive(name) {
		return nil
	}
	pid := h.pid(name)
	if pid <= 0 {
		return nil
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(kvmKillWait)
	for time.Now().Before(deadline) {
		if !h.instanceAlive(name) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return hvErrorf("Failed to kill instance %s: %v", name, err)
	}
	return nil
}

// RebootInstance restarts qemu from the saved runtime: power down, kill,
// start again (Ganeti does not wait for the guest either).
func (h *kvmHypervisor) RebootInstance(inst *instance) error {
	if !h.instanceAlive(inst.Name) {
		return hvErrorf("Failed to reboot instance %s: not running", inst.Name)
	}
	rt, err := h.loadRuntime(inst.Name)
	if err != nil {
		return err
	}
	h.StopInstance(inst, false, false, 0)
	if err := h.kill(inst.Name); err != nil {
		return err
	}
	for deadline := time.Now().Add(kvmKillWait); h.instanceAlive(inst.Name) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	// The restarted qemu takes a new uid from the pool; Ganeti leaks the
	// old one's lock file here.
	if err := h.releaseInstanceUID(inst.Name); err != nil {
		return err
	}
	if err := h.saveRuntime(inst.Name, rt); err != nil {
		return err
	}
	help, _, err := h.probe(kvmPath(inst.HVParams))
	if err != nil {
		return err
	}
	return h.executeKVMRuntime(inst, rt, help, "")
}

// CleanupInstance removes what a stopped instance left: sockets, runtime,
// its uid, tap names and chroot.
func (h *kvmHypervisor) CleanupInstance(name string) error {
	if h.instanceAlive(name) {
		return hvErrorf("Cannot cleanup a live instance")
	}
	if err := h.removeRuntimeFiles(name); err != nil {
		return err
	}
	os.Remove(h.shutdownFile(name))
	return nil
}

// removeRuntimeFiles is Ganeti's order: pid, sockets, runtime, uid (given
// back to the pool), NIC files, then the chroot, which must be empty: one
// that is not goes to the quarantine for inspection.
func (h *kvmHypervisor) removeRuntimeFiles(name string) error {
	ctrl := filepath.Join(h.rootDir, "ctrl", name)
	for _, f := range []string{filepath.Join(h.rootDir, "pid", name), ctrl + ".monitor", ctrl + ".serial", ctrl + ".qmp", ctrl + ".qga", h.runtimePath(name)} {
		os.Remove(f)
	}
	if err := h.releaseInstanceUID(name); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(h.rootDir, "nic", name)); err != nil {
		return err
	}
	dir := h.chrootDir(name)
	err := syscall.Rmdir(dir)
	switch {
	case err == nil || errors.Is(err, syscall.ENOENT):
		return nil
	case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
		stamp := time.Now().Format("2006-01-02_15_04_05")
		q, err := os.MkdirTemp(filepath.Join(h.rootDir, "chroot-quarantine"), name+"-"+stamp+"-")
		if err != nil {
			return err
		}
		h.n.log.Warningf("The chroot directory of instance %s can not be removed as it is not empty. Moving it to the quarantine instead. Please investigate the contents (%s) and clean up manually", name, q)
		// rename(2) replaces the empty directory (os.Rename refuses).
		return syscall.Rename(dir, q)
	}
	return err
}

// releaseInstanceUID gives the pool uid an instance ran as (uid/<name>)
// back to the pool.
func (h *kvmHypervisor) releaseInstanceUID(name string) error {
	uidFile := filepath.Join(h.rootDir, "uid", name)
	uid := -1
	if data, err := readFileLimited(uidFile, 64); err == nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		if uid, err = strconv.Atoi(strings.TrimSpace(first)); err != nil {
			h.n.log.Warningf("Can't parse uid file contents of %s: %v", name, err)
			uid = -1
		}
	} else if !isNotExist(err) {
		h.n.log.Warningf("Can't read uid file of %s: %v", name, err)
	}
	os.Remove(uidFile)
	if uid < 0 {
		return nil
	}
	return h.n.releaseUID(uid)
}
