package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// disk is Ganeti's objects.Disk as the master sends it; unknown fields are
// ignored. Sizes are in MiB.
type disk struct {
	DevType       string          `json:"dev_type"`
	LogicalID     json.RawMessage `json:"logical_id"`
	Children      []*disk         `json:"children"`
	IVName        string          `json:"iv_name"`
	Size          mebibytes       `json:"size"`
	Mode          string          `json:"mode"`
	Params        map[string]any  `json:"params"`
	DynamicParams map[string]any  `json:"dynamic_params"`
	UUID          string          `json:"uuid"`
	Name          *string         `json:"name"`
	Spindles      *count          `json:"spindles"`

	// lvs, when set, is the one volume listing a procedure about many
	// disks shares among their volumes (shareLVListing).
	lvs *lvListing
}

// String is the disk as Ganeti's objects.Disk prints itself in messages.
func (d *disk) String() string {
	var b strings.Builder
	var id []string
	var drbdID []any
	switch {
	case d.DevType == "plain" && json.Unmarshal(d.LogicalID, &id) == nil && len(id) == 2:
		fmt.Fprintf(&b, "<LogicalVolume(/dev/%s/%s", id[0], id[1])
	case d.DevType == "drbd" && json.Unmarshal(d.LogicalID, &drbdID) == nil && len(drbdID) == 6:
		fmt.Fprintf(&b, "<DRBD8(hosts=%s/%s-%s/%s, port=%s", pyStr(drbdID[0]), pyStr(drbdID[3]), pyStr(drbdID[1]), pyStr(drbdID[4]), pyStr(drbdID[2]))
		if len(d.Children) == 2 && d.Children[0] != nil && d.Children[1] != nil {
			fmt.Fprintf(&b, ", backend=%s, metadev=%s", d.Children[0], d.Children[1])
		} else {
			b.WriteString(", no local storage")
		}
	default:
		children := "[]"
		if len(d.Children) > 0 {
			children = fmt.Sprintf("[%d disks]", len(d.Children))
		}
		fmt.Fprintf(&b, "<Disk(type=%s, logical_id=%s, children=%s", d.DevType, pyLogicalID(d.LogicalID), children)
	}
	if d.IVName == "" {
		b.WriteString(", not visible")
	} else {
		fmt.Fprintf(&b, ", visible as /dev/%s", d.IVName)
	}
	if d.Spindles != nil {
		fmt.Fprintf(&b, ", spindles=%d", *d.Spindles)
	}
	fmt.Fprintf(&b, ", size=%dm)>", d.Size)
	return b.String()
}

// assembleOnSecondary tells whether a disk's device is active on its
// secondary nodes too (objects.Disk.AssembleOnSecondary), and
// openOnSecondary whether it is opened there.
func (d *disk) assembleOnSecondary() bool { return d.DevType == "drbd" || d.DevType == "plain" }
func (d *disk) openOnSecondary() bool     { return d.DevType == "plain" }

// blockDevice is one kind of storage behind a disk, with the life cycle of
// Ganeti's storage.base.BlockDev, so that the blockdev_* procedures work
// on any kind without naming it. A device is built from its disk object
// unattached; Attach binds it to what is on the node, Create makes it.
type blockDevice interface {
	// Path is the device's path on this node (what instances use).
	Path() string
	// UniqueID is the logical id the master stores for the device.
	UniqueID() any
	// Children are the devices this one is built on (DRBD's volumes).
	Children() []blockDevice
	// Attach tells whether the device is present on this node; an error
	// means the node cannot tell.
	Attach() (bool, error)
	// Create makes the device of size MiB; a refusal Ganeti raises as a
	// ProgrammerError (exclusive storage a kind cannot honour) is a
	// *programmerError.
	Create(size mebibytes, exclStor bool) error
	// Assemble makes an existing device usable on this node.
	Assemble() error
	// Shutdown is Assemble's reverse; the data stays.
	Shutdown() error
	// Open makes an assembled device ready for an instance's I/O.
	Open(exclusive bool) error
	// Close is Open's reverse.
	Close() error
	// Status is the device's objects.BlockDevStatus, its children's
	// combined.
	Status() (blockDevStatus, error)
	// SetInfo records the master's text in the device's metadata, where
	// a kind has any; a kind built on children passes it on to them, as
	// Ganeti's BlockDev does.
	SetInfo(text string) error
	// SizeBytes is the current size.
	SizeBytes() (int64, error)
	// Grow adds amount MiB; dryrun checks only; backingstore false means
	// only the logical layer (DRBD over its grown volumes).
	Grow(amount mebibytes, dryrun, backingstore, exclStor bool) error
	// Rename gives the device the new logical id.
	Rename(newID json.RawMessage) error
	// Remove deletes the device and its data.
	Remove() error
}

// snapshotter is a device that can be snapshotted (LVM, RBD, ExtStorage
// in Ganeti); the others are refused by type.
type snapshotter interface {
	// Snapshot makes a snapshot of size MiB (the device's when nil) and
	// returns its logical id.
	Snapshot(name string, size *mebibytes) (any, error)
}

// spindleCounter is a device that knows how many spindles (physical
// volumes) it occupies; the others report none.
type spindleCounter interface {
	Spindles() int
}

// syncPauser is a mirroring device whose resynchronisation can be paused;
// others have no sync, so pausing it always succeeds.
type syncPauser interface {
	PauseResumeSync(pause bool) error
}

// forceOpener is a device whose opening right after creation must be
// forced (DRBD: primary over a peer that is not up to date).
type forceOpener interface {
	OpenForced() error
}

// programmerError is a refusal that Ganeti raises as ProgrammerError, not
// BlockDeviceError: handlers pass it on without their own prefix.
type programmerError struct{ msg string }

func (e *programmerError) Error() string { return e.msg }

// deviceKind builds the (unattached) device of a disk of one dev_type, or
// says why the disk object is unfit for it.
type deviceKind func(n *node, d *disk) (blockDevice, error)

// deviceKinds are Ganeti's disk types; nil ones are not implemented here
// yet. "diskless" is none: diskless instances have no block devices.
var deviceKinds = map[string]deviceKind{
	"file":       newFileDevice,
	"sharedfile": newFileDevice,
	"plain":      newLVDevice,
	"drbd":       nil, // newDRBDDevice, set by its init: it finds its children through this map
	"blockdev":   nil,
	"rbd":        nil,
	"ext":        nil,
	"gluster":    nil,
}

// deviceFor maps a disk to its device implementation.
func (n *node) deviceFor(d *disk) (blockDevice, error) {
	if err := checkDiskTree(d, 0); err != nil {
		return nil, err
	}
	kind, known := deviceKinds[d.DevType]
	if !known {
		return nil, fmt.Errorf("Error while executing backend function: Invalid block device type '%s'", d.DevType)
	}
	if kind == nil {
		return nil, fmt.Errorf("Disk template '%s' is not supported on this node yet", d.DevType)
	}
	return kind(n, d)
}

// checkDiskTree refuses a disk tree no master sends before anything is
// done with it: missing children, children under a kind that has none,
// more than DRBD's two levels.
func checkDiskTree(d *disk, depth int) error {
	if depth > 1 && len(d.Children) > 0 {
		return &programmerError{"Error while executing backend function: Invalid configuration data: disks nested too deep"}
	}
	if len(d.Children) > 0 && d.DevType != "drbd" {
		return &programmerError{fmt.Sprintf("Error while executing backend function: Invalid configuration data: a %s disk has no children", d.DevType)}
	}
	if d.DevType == "drbd" && len(d.Children) != 0 && len(d.Children) != 2 {
		return &programmerError{fmt.Sprintf("Error while executing backend function: Invalid configuration data: a DRBD disk has 0 or 2 children, not %d", len(d.Children))}
	}
	if d.DevType == "drbd" {
		if _, err := parseDRBDDisk(nil, d); err != nil {
			return err
		}
	}
	for _, c := range d.Children {
		if c == nil {
			return &programmerError{"Error while executing backend function: Invalid configuration data: a missing child disk"}
		}
		if d.DevType == "drbd" && c.DevType != "plain" {
			return &programmerError{fmt.Sprintf("Error while executing backend function: Invalid configuration data: a DRBD disk's children are plain volumes, not '%s'", c.DevType)}
		}
		if err := checkDiskTree(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// blockDevStatus is objects.BlockDevStatus on the wire.
type blockDevStatus struct {
	DevPath string `json:"dev_path"`
	// Unknown values are left out, as Ganeti's ToDict leaves out None.
	Major         *int     `json:"major,omitempty"`
	Minor         *int     `json:"minor,omitempty"`
	SyncPercent   *float64 `json:"sync_percent,omitempty"`
	EstimatedTime *int     `json:"estimated_time,omitempty"`
	IsDegraded    bool     `json:"is_degraded"`
	LDiskStatus   int      `json:"ldisk_status"`
}

// Ganeti's local disk states (constants.LDS_*).
const (
	ldiskOkay    = 1
	ldiskSync    = 2
	ldiskUnknown = 3
	ldiskFaulty  = 4
)

// deviceStatus is the status of a device that does not mirror: never
// syncing, never degraded (BlockDev.GetSyncStatus).
func deviceStatus(dev blockDevice) blockDevStatus {
	return blockDevStatus{DevPath: dev.Path(), LDiskStatus: ldiskOkay}
}
