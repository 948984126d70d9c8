package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
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

// hostnamePattern admits DNS names (and the odd underscore); anything with
// spaces, newlines or '#' would corrupt /etc/hosts.
var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$`)

// rpcEtcHostsModify adds or removes a host in /etc/hosts: [mode, name, ip].
func rpcEtcHostsModify(n *node, args []json.RawMessage) (any, error) {
	var mode, name string
	var ip *string
	if err := decodeArgs(args, &mode, &name, &ip); err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(name) {
		return nil, fmt.Errorf("Invalid host name '%s'", name)
	}
	switch mode {
	case "add":
		if ip == nil || *ip == "" {
			return nil, errors.New("Mode 'add' needs 'ip' parameter, but parameter not present")
		}
		if net.ParseIP(*ip) == nil {
			return nil, fmt.Errorf("Invalid IP address '%s'", *ip)
		}
		short, _, _ := strings.Cut(name, ".")
		names := []string{name}
		if short != name {
			names = append(names, short)
		}
		err := editEtcHosts(n.paths.EtcHosts, func(lines []string) []string { return setHostsEntry(lines, *ip, names) })
		return true, err
	case "remove":
		if ip != nil && *ip != "" {
			return nil, errors.New("Mode 'remove' does not allow 'ip' parameter, but parameter is present")
		}
		short, _, _ := strings.Cut(name, ".")
		err := editEtcHosts(n.paths.EtcHosts, func(lines []string) []string {
			return removeHostsName(removeHostsName(lines, name), short)
		})
		return true, err
	default:
		return nil, fmt.Errorf("Mode not supported: '%s'", mode)
	}
}

// editEtcHosts rewrites the hosts file atomically, keeping its mode and
// owner (root:root 0644 for a new file).
func editEtcHosts(path string, edit func([]string) []string) error {
	data, err := readFileLimited(path, 16<<20)
	if err != nil {
		return fmt.Errorf("etc_hosts_modify: %w", err)
	}
	text := string(data)
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// A last line without newline gets one, so an appended entry starts on
	// its own line.
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	out := strings.Join(edit(lines), "")
	opt := writeOptions{Mode: 0o644, UID: -1, GID: -1}
	if st, err := os.Stat(path); err == nil {
		opt.Mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			opt.UID, opt.GID = int(sys.Uid), int(sys.Gid)
		}
	}
	if err := writeFileAtomic(path, []byte(out), opt); err != nil {
		return fmt.Errorf("etc_hosts_modify: %w", err)
	}
	return nil
}

// setHostsEntry puts "ip<TAB>names" in place of the first line for ip,
// drops later lines for the same ip, or appends the entry.
func setHostsEntry(lines []string, ip string, names []string) []string {
	entry := ip + "\t" + strings.Join(names, " ") + "\n"
	var out []string
	written := false
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) > 0 && !strings.HasPrefix(fields[0], "#") && fields[0] == ip {
			if !written {
				out = append(out, entry)
				written = true
			}
			continue
		}
		out = append(out, line)
	}
	if !written {
		out = append(out, entry)
	}
	return out
}

// removeHostsName removes name from every entry; an entry left without
// names is deleted.
func removeHostsName(lines []string, name string) []string {
	var out []string
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) > 1 && !strings.HasPrefix(fields[0], "#") && slices.Contains(fields[1:], name) {
			names := slices.DeleteFunc(slices.Clone(fields[1:]), func(s string) bool { return s == name })
			if len(names) > 0 {
				out = append(out, fields[0]+" "+strings.Join(names, " ")+"\n")
			}
			continue
		}
		out = append(out, line)
	}
	return out
}
