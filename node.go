package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// node is the daemon's state shared by all procedures.
type node struct {
	paths *layout
	log   *logger

	ents    *ganetiEnts
	queueMu sync.Mutex // serialises job-queue procedures within the process

	drbdParsed drbdProcCache // the last /proc/drbd parsed

	// stop asks the daemon to shut down after the current reply (used by
	// node_leave_cluster); nil in tests that do not need it.
	stop func()

	// transferExe is the program disk transfers run; "" is this binary
	// again (tests use a built daemon or Ganeti's own helper).
	transferExe string

	// waits are the pauses Ganeti builds into some procedures; tests
	// shorten them on their own node, so those tests can run in parallel.
	waits waits

	// restrictedOwner is the uid and gid that restricted commands and
	// their directory must have: root's (zero) on a real node, the test's
	// own user in tests, which run unprivileged.
	restrictedOwner [2]uint32
}

// waits holds the pauses Ganeti builds into some procedures. A zero field
// is Ganeti's value, the constant beside the procedure.
type waits struct {
	queueLock         time.Duration // for the job queue lock (jobQueueLockTimeout)
	shutdownRetry     time.Duration // between soft stop tries (shutdownRetryDelay)
	hotplugCheck      time.Duration // between checks for a hot-plugged device (hotplugCheckDelay)
	powercycle        time.Duration // from the reply to the reboot (powercycleDelay)
	restrictedFailure time.Duration // before a refused restricted command answers (restrictedFailDelay)
}

// storageUnit is one [type, key, params] of node_info.
type storageUnit struct {
	Type, Key string
	Params    []any
}

func (u *storageUnit) UnmarshalJSON(b []byte) error {
	if err := decodeTuple(b, &u.Type, &u.Key, &u.Params); err != nil {
		return fmt.Errorf("storage unit must be [type, key, params]: %v", err)
	}
	return nil
}

// hvSpec is one [hypervisor name, hvparams] of node_info.
type hvSpec struct {
	Name   string
	Params map[string]any
}

func (s *hvSpec) UnmarshalJSON(b []byte) error {
	if err := decodeTuple(b, &s.Name, &s.Params); err != nil {
		return fmt.Errorf("hypervisor spec must be [name, hvparams]: %v", err)
	}
	return nil
}

// rpcNodeInfo answers [storage_units, hv_specs] with
// [boot_id, [storage info...], [hypervisor info...]]; a null list stays null.
func rpcNodeInfo(n *node, args []json.RawMessage) (any, error) {
	var units *[]storageUnit
	var specs *[]hvSpec
	if err := decodeArgs(args, &units, &specs); err != nil {
		return nil, err
	}
	boot, err := readFileLimited(n.paths.BootIDFile, 128)
	if err != nil {
		return nil, fmt.Errorf("cannot read boot id: %w", err)
	}
	var storage, hvs any
	if units != nil {
		list := []any{}
		for _, u := range *units {
			info, err := n.storageSpaceInfo(u)
			if err != nil {
				return nil, err
			}
			list = append(list, info)
		}
		storage = list
	}
	if specs != nil {
		list := []any{}
		for _, s := range *specs {
			hv, err := n.hypervisorFor(s.Name)
			if err != nil {
				return nil, err
			}
			info, err := hv.NodeInfo(s.Params)
			if err != nil {
				return nil, err
			}
			list = append(list, info)
		}
		hvs = list
	}
	return []any{strings.TrimRight(string(boot), "\n"), storage, hvs}, nil
}

// storageSpaceInfo reports free and total space of one storage unit.
func (n *node) storageSpaceInfo(u storageUnit) (map[string]any, error) {
	switch u.Type {
	case "file":
		if len(u.Params) != 0 {
			return nil, fmt.Errorf("Expected %d storage parameters, got %d", 0, len(u.Params))
		}
		return fileStorageSpaceInfo(u.Key)
	case "lvm-vg", "lvm-pv":
		return n.lvmSpaceInfo(u)
	}
	return nil, fmt.Errorf("Error while executing backend function: storage space reporting is not implemented for storage type '%s'", u.Type)
}
