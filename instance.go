package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// instance is Ganeti's objects.Instance as the master sends it (hvparams
// and beparams filled in, disks_info the full disk objects). Unknown
// fields are ignored.
type instance struct {
	Name            string           `json:"name"`
	UUID            string           `json:"uuid"`
	Hypervisor      string           `json:"hypervisor"`
	HVParams        map[string]any   `json:"hvparams"`
	BEParams        map[string]any   `json:"beparams"`
	OSParams        map[string]any   `json:"osparams"`
	OS              string           `json:"os"`
	PrimaryNode     string           `json:"primary_node"`
	DisksInfo       []*disk          `json:"disks_info"`
	NICs            []map[string]any `json:"nics"`
	NetworkPort     *portNumber      `json:"network_port"`
	AdminState      string           `json:"admin_state"`
	OSParamsPrivate map[string]any   `json:"osparams_private"`
	SecondaryNodes  []string         `json:"secondary_nodes"`
	Tags            []string         `json:"tags"`
	CTime           any              `json:"ctime"`
	MTime           any              `json:"mtime"`
}

// validate refuses names that could not be a file name in Ganeti's
// per-instance directories.
func (inst *instance) validate() error {
	if !hostnamePattern.MatchString(inst.Name) {
		return fmt.Errorf("Invalid instance name '%s'", inst.Name)
	}
	return nil
}

// beInt reads an integer backend parameter (memory in MiB, vcpus): a
// whole number in [0, maxMiB], so that memory in bytes cannot overflow.
func (inst *instance) beInt(key string) (int, error) {
	v, ok := inst.BEParams[key]
	if !ok {
		return 0, fmt.Errorf("Error while executing backend function: '%s'", key)
	}
	i, err := wholeParam(v, "beparams "+key, 0, maxMiB)
	if err != nil {
		return 0, fmt.Errorf("Error while executing backend function: %w", err)
	}
	return int(i), nil
}

// startupMemory is what an instance gets at start: its maximum, or what
// the node has free, but never below its minimum.
func (inst *instance) startupMemory(freeMiB int) (int, error) {
	maxMem, err := inst.beInt("maxmem")
	if err != nil {
		return 0, err
	}
	minMem, err := inst.beInt("minmem")
	if err != nil {
		return 0, err
	}
	return max(minMem, min(maxMem, freeMiB)), nil
}

// decodeInstanceOnly reads an Instance argument and checks its name.
func decodeInstanceOnly(raw json.RawMessage) (*instance, error) {
	var inst instance
	if err := json.Unmarshal(raw, &inst); err != nil {
		return nil, &argError{msg: fmt.Sprintf("bad instance: %v", err)}
	}
	if err := inst.validate(); err != nil {
		return nil, err
	}
	return &inst, nil
}

// hypervisorError marks failures Ganeti reports as HypervisorError; the
// procedures wrap them in their own messages.
type hypervisorError struct{ msg string }

func (e *hypervisorError) Error() string { return e.msg }

func hvErrorf(format string, args ...any) error {
	return &hypervisorError{fmt.Sprintf(format, args...)}
}

// hotplugError is Ganeti's HotplugError (a kind of hypervisor error).
type hotplugError struct{ hypervisorError }

// instanceHypervisor is what a hypervisor offers for running instances.
type instanceHypervisor interface {
	hypervisor
	// InstanceInfo is nil when the instance is not running here.
	InstanceInfo(name string, hvparams map[string]any) (*instanceInfo, error)
	StartInstance(inst *instance, links []string, paused bool) error
	StopInstance(inst *instance, force, retry bool, timeout time.Duration) error
	RebootInstance(inst *instance) error
	BalloonMemory(inst *instance, memMiB int) error
	Console(inst *instance, where consolePlace) map[string]any
	MigrationInfo(inst *instance) (string, error)
	AcceptInstance(inst *instance, info, target string) error
	MigrateInstance(cluster string, inst *instance, target string, live bool) error
	FinalizeMigrationDst(inst *instance, info string, success bool) error
	FinalizeMigrationSource(inst *instance, success, live bool) error
	MigrationStatus(inst *instance) (map[string]any, error)
	HotplugSupported(inst *instance) error
}

func (n *node) instanceHypervisorFor(name string) (instanceHypervisor, error) {
	hv, err := n.hypervisorFor(name)
	if err != nil {
		return nil, err
	}
	ih, ok := hv.(instanceHypervisor)
	if !ok {
		return nil, fmt.Errorf("Hypervisor %s cannot run instances on this node yet", name)
	}
	return ih, nil
}

// decodeInstance reads an Instance argument and its hypervisor.
func (n *node) decodeInstance(raw json.RawMessage) (*instance, instanceHypervisor, error) {
	inst, err := decodeInstanceOnly(raw)
	if err != nil {
		return nil, nil, err
	}
	hv, err := n.instanceHypervisorFor(inst.Hypervisor)
	if err != nil {
		return nil, nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	return inst, hv, nil
}

// reasonTrail is the master's [[source, reason, timestamp ns], ...].
type reasonTrail []json.RawMessage

// withNodedEntry appends this daemon's entry, as Ganeti's noded does.
func (t reasonTrail) withNodedEntry(what string) reasonTrail {
	entry, _ := json.Marshal([]any{"gnt:daemon:noded:" + what, "", time.Now().UnixNano()})
	return append(append(reasonTrail{}, t...), entry)
}

// storeReasonTrail writes /var/run/ganeti/instance-reason/<name>.
func (n *node) storeReasonTrail(name string, trail reasonTrail) error {
	data, err := json.Marshal(trail)
	if err != nil {
		return err
	}
	dir := n.paths.RunDir + "/instance-reason"
	os.MkdirAll(dir, 0o755)
	return writeFile(dir+"/"+name, append(data, '\n'), 0o600)
}

// gatherAndLinkDisks finds each disk of a starting instance (the master
// assembled them) and links it under instance-disks.
func (n *node) gatherAndLinkDisks(inst *instance) ([]string, error) {
	var links []string
	for i, d := range inst.DisksInfo {
		dev, err := n.findDevice(d)
		if err != nil {
			return nil, err
		}
		if dev == nil {
			return nil, fmt.Errorf("Block device error: Block device '%s' is not set up.", d)
		}
		link, err := n.symlinkDisk(inst.Name, i, dev.Path())
		if err != nil {
			return nil, fmt.Errorf("Block device error: Cannot create block device symlink: %v", err)
		}
		links = append(links, link)
	}
	return links, nil
}

// removeDiskLinks drops an instance's instance-disks links.
func (n *node) removeDiskLinks(name string, count int) {
	for i := 0; i < count; i++ {
		link := n.paths.diskLinkPath(name, i)
		if st, err := os.Lstat(link); err == nil && st.Mode()&os.ModeSymlink != 0 {
			if err := os.Remove(link); err != nil {
				n.log.Errorf("Can't remove symlink '%s': %v", link, err)
			}
		}
	}
}

// startInstance is Ganeti's StartInstance: nothing to do when running.
func (n *node) startInstance(inst *instance, hv instanceHypervisor, paused bool, trail reasonTrail, storeReason bool) error {
	info, err := hv.InstanceInfo(inst.Name, inst.HVParams)
	if err != nil {
		return fmt.Errorf("Hypervisor error: %v", err)
	}
	if info != nil && info.State != 1 {
		n.log.Infof("Instance '%s' already running, not starting", inst.Name)
		return nil
	}
	links, err := n.gatherAndLinkDisks(inst)
	if err != nil {
		return err
	}
	if err := hv.StartInstance(inst, links, paused); err != nil {
		var he *hypervisorError
		if errors.As(err, &he) {
			n.removeDiskLinks(inst.Name, len(inst.DisksInfo))
			return fmt.Errorf("Hypervisor error: %v", err)
		}
		return err
	}
	if storeReason {
		return n.storeReasonTrail(inst.Name, trail)
	}
	return nil
}

// shutdownRetryDelay is Ganeti's pause between soft stop attempts.
const shutdownRetryDelay = 5 * time.Second

// shutdownInstance is Ganeti's InstanceShutdown: soft stops until the
// timeout, then a forced stop.
func (n *node) shutdownInstance(inst *instance, hv instanceHypervisor, timeout time.Duration, trail reasonTrail, storeReason bool) error {
	running := func() (bool, error) {
		info, err := hv.InstanceInfo(inst.Name, inst.HVParams)
		return info != nil, err
	}
	up, err := running()
	if err != nil {
		return fmt.Errorf("Error while executing backend function: %v", err)
	}
	if !up {
		n.log.Infof("Instance '%s' not running, doing nothing", inst.Name)
	} else {
		deadline := time.Now().Add(timeout)
		triedOnce, stopped := false, false
		for {
			err := hv.StopInstance(inst, false, triedOnce, timeout)
			if err != nil {
				if up, _ := running(); up {
					return fmt.Errorf("Failed to stop instance '%s': %v", inst.Name, err)
				}
				stopped = true
				break
			}
			if storeReason {
				if err := n.storeReasonTrail(inst.Name, trail); err != nil {
					return err
				}
			}
			triedOnce = true
			if up, _ := running(); !up {
				stopped = true
				break
			}
			if !time.Now().Before(deadline) {
				break
			}
			time.Sleep(cmp.Or(n.waits.shutdownRetry, shutdownRetryDelay))
		}
		if !stopped {
			n.log.Errorf("Shutdown of '%s' unsuccessful, forcing", inst.Name)
			if err := hv.StopInstance(inst, true, false, 0); err != nil {
				if up, _ := running(); up {
					return fmt.Errorf("Failed to force stop instance '%s': %v", inst.Name, err)
				}
			}
			time.Sleep(time.Second)
			if up, _ := running(); up {
				return fmt.Errorf("Could not shutdown instance '%s' even by destroy", inst.Name)
			}
		}
	}
	if c, ok := hv.(instanceCleaner); ok {
		if err := c.CleanupInstance(inst.Name); err != nil {
			n.log.Warningf("Failed to execute post-shutdown cleanup step: %v", err)
		}
	}
	n.removeDiskLinks(inst.Name, len(inst.DisksInfo))
	return nil
}

// instanceCleaner removes what a stopped instance left behind (KVM:
// sockets, runtime file, uid, chroot).
type instanceCleaner interface {
	CleanupInstance(name string) error
}

// rpcInstanceStart: [instance, startup_paused, reason].
func rpcInstanceStart(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var paused bool
	var trail *reasonTrail
	if err := decodeArgs(args, &rawInst, &paused, &trail); err != nil {
		return nil, err
	}
	if trail == nil {
		return nil, errors.New("Error while executing backend function: missing reason trail")
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	return nil, n.startInstance(inst, hv, paused, trail.withNodedEntry("start"), true)
}

// maxShutdownTimeout bounds the shutdown timeouts of instance_shutdown and
// instance_reboot.
const maxShutdownTimeout = 24 * 3600

// rpcInstanceShutdown: [instance, timeout seconds, reason].
func rpcInstanceShutdown(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var timeout seconds
	var trail *reasonTrail
	if err := decodeArgs(args, &rawInst, &timeout, &trail); err != nil {
		return nil, numberRefusal(err, "Invalid shutdown timeout")
	}
	if trail == nil {
		return nil, errors.New("Error while executing backend function: missing reason trail")
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	if timeout > maxShutdownTimeout {
		return nil, fmt.Errorf("Invalid shutdown timeout %v", timeout)
	}
	return nil, n.shutdownInstance(inst, hv, timeout.duration(), trail.withNodedEntry("shutdown"), true)
}

// rpcInstanceReboot: [instance, "soft"|"hard", shutdown timeout, reason].
func rpcInstanceReboot(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var kind string
	var timeout seconds
	var trail *reasonTrail
	if err := decodeArgs(args, &rawInst, &kind, &timeout, &trail); err != nil {
		return nil, numberRefusal(err, "Invalid shutdown timeout")
	}
	if timeout > maxShutdownTimeout {
		return nil, fmt.Errorf("Invalid shutdown timeout %v", timeout)
	}
	if trail == nil {
		return nil, errors.New("Error while executing backend function: missing reason trail")
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	info, err := hv.InstanceInfo(inst.Name, inst.HVParams)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	if info == nil {
		return nil, fmt.Errorf("Cannot reboot instance '%s' that is not running", inst.Name)
	}
	switch kind {
	case "soft":
		if err := hv.RebootInstance(inst); err != nil {
			return nil, fmt.Errorf("Failed to soft reboot instance '%s': %v", inst.Name, err)
		}
		return nil, nil
	case "hard":
		t := trail.withNodedEntry("reboot")
		if err := n.shutdownInstance(inst, hv, timeout.duration(), t, false); err != nil {
			return nil, err
		}
		if err := n.startInstance(inst, hv, false, t, false); err != nil {
			return nil, err
		}
		return nil, n.storeReasonTrail(inst.Name, t)
	}
	return nil, fmt.Errorf("Invalid reboot_type received: '%s'", kind)
}

// rpcInstanceInfo: [name, hypervisor, hvparams] → {memory, vcpus, state,
// time}, or {} when not running.
func rpcInstanceInfo(n *node, args []json.RawMessage) (any, error) {
	var name, hvName string
	var hvparams map[string]any
	if err := decodeArgs(args, &name, &hvName, &hvparams); err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(name) {
		return nil, fmt.Errorf("Invalid instance name '%s'", name)
	}
	hv, err := n.instanceHypervisorFor(hvName)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	info, err := hv.InstanceInfo(name, hvparams)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	if info == nil {
		return map[string]any{}, nil
	}
	return info, nil
}

// rpcInstanceConsoleInfo: the body is {name: {instance, node, group,
// hvParams, beParams}} → {name: console}.
func rpcInstanceConsoleInfo(n *node, args []json.RawMessage) (any, error) {
	var body map[string]json.RawMessage
	if err := decodeArgs(args, &body); err != nil {
		return nil, err
	}
	return n.consoleInfo(body)
}

// consoleInfo answers instance_console_info, whose body is an object.
func (n *node) consoleInfo(body map[string]json.RawMessage) (any, error) {
	out := map[string]any{}
	for name, raw := range body {
		var req struct {
			Instance json.RawMessage `json:"instance"`
			Node     struct {
				Name     string         `json:"name"`
				NDParams map[string]any `json:"ndparams"`
			} `json:"node"`
			Group struct {
				NDParams map[string]any `json:"ndparams"`
			} `json:"group"`
			HVParams map[string]any `json:"hvParams"`
			BEParams map[string]any `json:"beParams"`
		}
		if err := json.Unmarshal(raw, &req); err != nil || req.Instance == nil {
			return nil, fmt.Errorf("Error while executing backend function: bad console request for %s", name)
		}
		inst, hv, err := n.decodeInstance(req.Instance)
		if err != nil {
			return nil, err
		}
		if req.HVParams != nil {
			inst.HVParams = req.HVParams
		}
		// The node's ndparams over its group's, as NodeGroup.FillND; no
		// default: Ganeti leaves the port out (ssh's own) when neither
		// sets it.
		where := consolePlace{Node: req.Node.Name}
		for _, nd := range []map[string]any{req.Group.NDParams, req.Node.NDParams} {
			if v, set := nd["ssh_port"]; set {
				where.SSHPort = nil
				if v != nil {
					p, err := wholeParam(v, "ndparams ssh_port", 0, 65535)
					if err != nil {
						return nil, err
					}
					port := int(p)
					where.SSHPort = &port
				}
			}
		}
		out[name] = hv.Console(inst, where)
	}
	return out, nil
}

// consolePlace is where an instance's console is reached: its primary
// node, over ssh (on SSHPort when the ndparams set one).
type consolePlace struct {
	Node    string
	SSHPort *int
}

// rpcInstanceBalloonMemory: [instance, memory MiB]; nothing to do when the
// instance is not running.
func rpcInstanceBalloonMemory(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	var mem mebibytes
	if err := decodeArgs(args, &rawInst, &mem); err != nil {
		return nil, err
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	names, err := hv.ListInstances(inst.HVParams)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, inst.Name) {
		n.log.Infof("Instance %s is not running, cannot balloon", inst.Name)
		return nil, nil
	}
	if mem <= 0 {
		return nil, fmt.Errorf("Failed to balloon instance memory: invalid memory size %d", mem)
	}
	if err := hv.BalloonMemory(inst, int(mem)); err != nil {
		return nil, fmt.Errorf("Failed to balloon instance memory: %v", err)
	}
	return nil, nil
}

// rpcInstanceMigratable: [instance]; it must run here.
func rpcInstanceMigratable(n *node, args []json.RawMessage) (any, error) {
	var rawInst json.RawMessage
	if err := decodeArgs(args, &rawInst); err != nil {
		return nil, err
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	names, err := hv.ListInstances(inst.HVParams)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, inst.Name) {
		return nil, fmt.Errorf("Instance %s is not running", inst.Name)
	}
	for i := range inst.DisksInfo {
		link := n.paths.diskLinkPath(inst.Name, i)
		if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			n.log.Warningf("Instance %s is missing symlink %s for disk %d", inst.Name, link, i)
		}
	}
	return nil, nil
}

// instanceCall decodes [instance, ...rest] and runs fn.
func instanceCall(n *node, args []json.RawMessage, rest []any, fn func(*instance, instanceHypervisor) (any, error)) (any, error) {
	var rawInst json.RawMessage
	if err := decodeArgs(args, append([]any{&rawInst}, rest...)...); err != nil {
		return nil, err
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	return fn(inst, hv)
}

// rpcMigrationInfo (on the source): [instance] → what the target needs.
func rpcMigrationInfo(n *node, args []json.RawMessage) (any, error) {
	return instanceCall(n, args, nil, func(inst *instance, hv instanceHypervisor) (any, error) {
		info, err := hv.MigrationInfo(inst)
		if err != nil {
			return nil, fmt.Errorf("Failed to fetch migration information: %v", err)
		}
		return info, nil
	})
}

// rpcAcceptInstance (on the target): [instance, info, target address].
func rpcAcceptInstance(n *node, args []json.RawMessage) (any, error) {
	var info, target string
	return instanceCall(n, args, []any{&info, &target}, func(inst *instance, hv instanceHypervisor) (any, error) {
		if err := hv.AcceptInstance(inst, info, target); err != nil {
			return nil, fmt.Errorf("Failed to accept instance: %v", err)
		}
		return nil, nil
	})
}

// rpcInstanceMigrate (on the source): [cluster, instance, target, live].
func rpcInstanceMigrate(n *node, args []json.RawMessage) (any, error) {
	var cluster, target string
	var rawInst json.RawMessage
	var live bool
	if err := decodeArgs(args, &cluster, &rawInst, &target, &live); err != nil {
		return nil, err
	}
	inst, hv, err := n.decodeInstance(rawInst)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, errors.New("Failed to migrate instance: no target address")
	}
	if err := hv.MigrateInstance(cluster, inst, target, live); err != nil {
		return nil, fmt.Errorf("Failed to migrate instance: %v", err)
	}
	return nil, nil
}

// rpcFinalizeMigrationDst (on the target): [instance, info, success].
func rpcFinalizeMigrationDst(n *node, args []json.RawMessage) (any, error) {
	var info string
	var success bool
	return instanceCall(n, args, []any{&info, &success}, func(inst *instance, hv instanceHypervisor) (any, error) {
		if err := hv.FinalizeMigrationDst(inst, info, success); err != nil {
			return nil, fmt.Errorf("Failed to finalize migration on the target node: %v", err)
		}
		return nil, nil
	})
}

// rpcFinalizeMigrationSrc (on the source): [instance, success, live].
func rpcFinalizeMigrationSrc(n *node, args []json.RawMessage) (any, error) {
	var success, live bool
	return instanceCall(n, args, []any{&success, &live}, func(inst *instance, hv instanceHypervisor) (any, error) {
		if err := hv.FinalizeMigrationSource(inst, success, live); err != nil {
			return nil, fmt.Errorf("Failed to finalize the migration on the source node: %v", err)
		}
		return nil, nil
	})
}

// rpcMigrationStatus (on the source): [instance] → the migration's progress.
func rpcMigrationStatus(n *node, args []json.RawMessage) (any, error) {
	return instanceCall(n, args, nil, func(inst *instance, hv instanceHypervisor) (any, error) {
		st, err := hv.MigrationStatus(inst)
		if err != nil {
			return nil, fmt.Errorf("Failed to get migration status: %v", err)
		}
		return st, nil
	})
}

// rpcHotplugSupported: [instance]; fails when the instance's hypervisor
// cannot hot-plug devices into it.
func rpcHotplugSupported(n *node, args []json.RawMessage) (any, error) {
	return instanceCall(n, args, nil, func(inst *instance, hv instanceHypervisor) (any, error) {
		if err := hv.HotplugSupported(inst); err != nil {
			return nil, fmt.Errorf("Hotplug is not supported: %v", err)
		}
		return nil, nil
	})
}

// hotplugger is a hypervisor that can add and remove devices of a
// running instance.
type hotplugger interface {
	hotplug(inst *instance, action, devType string, device, extra json.RawMessage, seq int) (any, error)
}

// rpcHotplugDevice: [instance, action, dev_type, device, extra, seq].
func rpcHotplugDevice(n *node, args []json.RawMessage) (any, error) {
	var action, devType string
	var device, extra json.RawMessage
	var seq index
	return instanceCall(n, args, []any{&action, &devType, &device, &extra, &seq}, func(inst *instance, hv instanceHypervisor) (any, error) {
		if action != "hotadd" && action != "hotremove" && action != "hotmod" {
			return nil, fmt.Errorf("Error while executing backend function: invalid hotplug action '%s'", action)
		}
		if devType != "disk" && devType != "nic" {
			return nil, fmt.Errorf("Error while executing backend function: invalid hotplug device type '%s'", devType)
		}
		hp, ok := hv.(hotplugger)
		if !ok {
			return nil, errors.New("Hotplug is not supported: Hotplug is not supported.")
		}
		res, err := hp.hotplug(inst, action, devType, device, extra, int(seq))
		if err != nil {
			var he *hotplugError
			if errors.As(err, &he) {
				return nil, fmt.Errorf("Hotplug is not supported: %v", err)
			}
			return nil, fmt.Errorf("Error while executing backend function: %v", err)
		}
		return res, nil
	})
}

// diskResizer is a hypervisor that can tell a running guest about a
// grown disk.
type diskResizer interface {
	resizeDisk(inst *instance, d *disk, newSize int64) error
}

// rpcResizeDisk tells the hypervisor a disk grew (Ganeti 3.1):
// [instance, disk, new size in bytes].
func rpcResizeDisk(n *node, args []json.RawMessage) (any, error) {
	var d disk
	var size byteSize
	return instanceCall(n, args, []any{&d, &size}, func(inst *instance, hv instanceHypervisor) (any, error) {
		r, ok := hv.(diskResizer)
		if !ok {
			return nil, errors.New("Error while executing backend function: Disk resize is not supported by this hypervisor")
		}
		if size <= 0 {
			return nil, fmt.Errorf("Invalid disk size %d", size)
		}
		if err := r.resizeDisk(inst, &d, int64(size)); err != nil {
			return nil, fmt.Errorf("Error while executing backend function: %v", err)
		}
		return nil, nil
	})
}
