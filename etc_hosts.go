package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
)

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
