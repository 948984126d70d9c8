package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// uploadAllowed lists the files the master may overwrite with upload_file:
// Ganeti's fixed list plus every hypervisor's ancillary files. Anything
// else is refused.
func (l *layout) uploadAllowed() []string {
	return []string{
		l.ClusterConfFile,
		l.EtcHosts,
		l.KnownHostsFile,
		l.VncPasswordFile,
		l.RapiCertFile,
		l.SpiceCertFile,
		l.SpiceCACertFile,
		l.RapiUsersFile,
		l.ConfdHmacKey,
		l.ClusterDomainSecret,
		// Xen (xen-pvm, xen-hvm); "xen/xl.conf" is Ganeti's own spelling.
		l.XenConfigDir + "/xend-config.sxp",
		l.XenConfigDir + "/xen/xl.conf",
		l.XenConfigDir + "/scripts/vif-bridge",
		// KVM
		l.ConfDir + "/kvm-vif-bridge",
	}
}

// uploadArgs are upload_file's seven fields.
type uploadArgs struct {
	Name         string
	Data         compressedText
	Mode         *fileMode
	User, Group  string
	Atime, Mtime *unixTime
}

func decodeUpload(args []json.RawMessage) (*uploadArgs, error) {
	var u uploadArgs
	var user, group any
	if err := decodeArgs(args, &u.Name, &u.Data, &u.Mode, &user, &group, &u.Atime, &u.Mtime); err != nil {
		return nil, err
	}
	var ok1, ok2 bool
	u.User, ok1 = user.(string)
	u.Group, ok2 = group.(string)
	if !ok1 || !ok2 {
		return nil, errors.New("Invalid username/groupname type")
	}
	return &u, nil
}

// rpcUploadFile: one argument, the list of seven fields.
func rpcUploadFile(n *node, args []json.RawMessage) (any, error) {
	var fields []json.RawMessage
	if err := decodeArgs(args, &fields); err != nil {
		return nil, err
	}
	u, err := decodeUpload(fields)
	if err != nil {
		return nil, err
	}
	return nil, n.uploadFile(u)
}

// rpcUploadFileSingle: the seven fields as seven arguments.
func rpcUploadFileSingle(n *node, args []json.RawMessage) (any, error) {
	u, err := decodeUpload(args)
	if err != nil {
		return nil, err
	}
	return nil, n.uploadFile(u)
}

func (n *node) uploadFile(u *uploadArgs) error {
	name := n.paths.localize(u.Name)
	if !filepath.IsAbs(name) {
		return fmt.Errorf("Filename passed to UploadFile is not absolute: '%s'", name)
	}
	if !slices.Contains(n.paths.uploadAllowed(), name) {
		return fmt.Errorf("Filename passed to UploadFile not in allowed upload targets: '%s'", name)
	}
	uid, ok := n.ents.users[u.User]
	if !ok {
		return fmt.Errorf("Unknown Ganeti user '%s'", u.User)
	}
	gid, ok := n.ents.groups[u.Group]
	if !ok {
		return fmt.Errorf("Unknown Ganeti group '%s'", u.Group)
	}
	if (u.Atime == nil) != (u.Mtime == nil) {
		return errors.New("Both atime and mtime must be either set or None")
	}
	opt := writeOptions{Mode: 0o600, UID: uid, GID: gid}
	if u.Mode != nil && *u.Mode != 0 {
		opt.Mode = os.FileMode(*u.Mode & 0o777)
		// setuid, setgid and sticky bits travel in st_mode too.
		if *u.Mode&0o4000 != 0 {
			opt.Mode |= os.ModeSetuid
		}
		if *u.Mode&0o2000 != 0 {
			opt.Mode |= os.ModeSetgid
		}
		if *u.Mode&0o1000 != 0 {
			opt.Mode |= os.ModeSticky
		}
	}
	if u.Atime != nil {
		opt.Times = &[2]time.Time{u.Atime.time(), u.Mtime.time()}
	}
	if err := writeFileAtomic(name, []byte(u.Data), opt); err != nil {
		return fmt.Errorf("upload_file %s: %w", name, err)
	}
	n.log.Infof("uploaded %s (%d bytes)", name, len(u.Data))
	return nil
}

// rpcGetFileInfo reports whether a path exists and its size, as Ganeti
// does: [true, {"size": N}] or [false, {}].
func rpcGetFileInfo(n *node, args []json.RawMessage) (any, error) {
	var path string
	if err := decodeArgs(args, &path); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return []any{false, map[string]any{}}, nil
	}
	return []any{true, map[string]any{"size": st.Size()}}, nil
}
