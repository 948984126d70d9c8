package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// kvmVNCArgs are -vnc (and the TLS object before it). An interface name
// stands for its first IPv4 address; a path gives a Unix socket there.
func (h *kvmHypervisor) kvmVNCArgs(addr string, inst *instance) []any {
	hvp := inst.HVParams
	if h.n.isNetInterface(addr) {
		if v4, _, _ := interfaceAddresses(addr); len(v4) > 0 {
			addr = v4[0]
		} else {
			h.n.log.Errorf("Could not determine IPv4 address of interface %s", addr)
		}
	}
	if net.ParseIP(addr) == nil {
		// Ganeti 3.0 crashes on a path (see docs/reference/kvm.md 2.3).
		return []any{"-vnc", "unix:" + addr + "/" + inst.Name + ".vnc"}
	}
	port := 0
	if inst.NetworkPort != nil {
		port = int(*inst.NetworkPort)
	}
	arg := "none"
	switch display := port - 5900; {
	case port <= 5900:
		h.n.log.Errorf("Network port is not a valid VNC display (%d < 5900), not starting VNC", port)
	case addr == "0.0.0.0":
		arg = fmt.Sprintf(":%d", display)
	case strings.Contains(addr, ":"):
		arg = fmt.Sprintf("[%s]:%d", addr, display)
	default:
		arg = fmt.Sprintf("%s:%d", addr, display)
	}
	var args []any
	if isTrue(hvp["vnc_tls"]) {
		arg += ",tls-creds=vnctls0"
		creds := "tls-creds-anon,id=vnctls0,endpoint=server"
		dir := hvStr(hvp, "vnc_x509_path")
		switch {
		case isTrue(hvp["vnc_x509_verify"]):
			creds = "tls-creds-x509,id=vnctls0,endpoint=server,dir=" + dir + ",verify-peer=yes"
		case dir != "":
			creds = "tls-creds-x509,id=vnctls0,endpoint=server,dir=" + dir + ",verify-peer=no"
		}
		args = append(args, "-object", creds)
	}
	if hvStr(hvp, "vnc_password_file") != "" {
		arg += ",password"
	}
	return append(args, "-vnc", arg)
}

// kvmSpiceArgs are -spice and its agent channel. An interface name stands
// for one of its addresses: of spice_ip_version if set, else of the only
// family it has, else of the cluster's primary family.
func (h *kvmHypervisor) kvmSpiceArgs(bind string, inst *instance) ([]any, error) {
	hvp := inst.HVParams
	addr, ipVersion := bind, 0
	if h.n.isNetInterface(bind) {
		v4, v6, _ := interfaceAddresses(bind)
		byVersion := map[int][]string{4: v4, 6: v6}
		ipVersion = hvInt(hvp, "spice_ip_version")
		switch {
		case ipVersion != 0:
			if len(byVersion[ipVersion]) == 0 {
				return nil, hvErrorf("SPICE: Unable to get an IPv%d address for %s", ipVersion, bind)
			}
		case len(v4) > 0 && len(v6) > 0:
			ipVersion = 4
			if fam, _ := h.n.paths.readSsconf("primary_ip_family"); strings.TrimSpace(fam) == "10" {
				ipVersion = 6
			}
		case len(v4) > 0:
			ipVersion = 4
		case len(v6) > 0:
			ipVersion = 6
		default:
			return nil, hvErrorf("SPICE: Unable to get an IP address for %s", bind)
		}
		addr = byVersion[ipVersion][0]
	}
	port := 0
	if inst.NetworkPort != nil {
		port = int(*inst.NetworkPort)
	}
	arg := "addr=" + addr
	if isTrue(hvp["spice_use_tls"]) {
		arg += fmt.Sprintf(",tls-port=%d,x509-cacert-file=%s,x509-key-file=%s,x509-cert-file=%s",
			port, h.n.paths.SpiceCACertFile, h.n.paths.SpiceCertFile, h.n.paths.SpiceCertFile)
		if c := hvStr(hvp, "spice_tls_ciphers"); c != "" {
			arg += ",tls-ciphers=" + c
		}
	} else {
		arg += fmt.Sprintf(",port=%d", port)
	}
	if hvStr(hvp, "spice_password_file") == "" {
		arg += ",disable-ticketing"
	}
	if ipVersion != 0 {
		arg += fmt.Sprintf(",ipv%d", ipVersion)
	}
	for _, o := range [][2]string{{"spice_image_compression", "image-compression"}, {"spice_jpeg_wan_compression", "jpeg-wan-compression"},
		{"spice_zlib_glz_wan_compression", "zlib-glz-wan-compression"}, {"spice_streaming_video", "streaming-video"}} {
		if v := hvStr(hvp, o[0]); v != "" {
			arg += "," + o[1] + "=" + v
		}
	}
	if !isTrue(hvp["spice_playback_compression"]) {
		arg += ",playback-compression=off"
	}
	var args []any
	if !isTrue(hvp["spice_use_vdagent"]) {
		arg += ",agent-mouse=off"
	} else {
		args = append(args, "-device", "virtio-serial-pci,id=spice",
			"-device", "virtserialport,chardev=spicechannel0,name=com.redhat.spice.0",
			"-chardev", "spicevmc,id=spicechannel0,name=vdagent")
	}
	h.n.log.Infof("KVM: SPICE will listen on port %d", port)
	return append(args, "-spice", arg), nil
}

// readOneLineFile is the file's only non-empty line (Ganeti's strict
// ReadOneLineFile, used for VNC and SPICE passwords).
func readOneLineFile(path string) (string, error) {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		return "", err
	}
	full := strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' || r == '\r' })
	switch {
	case len(full) == 0:
		return "", &oneLinerError{fmt.Sprintf("No data in one-liner file %s", path)}
	case len(full) > 1:
		return "", &oneLinerError{fmt.Sprintf("Too many lines in one-liner file %s", path)}
	}
	return full[0], nil
}

// oneLinerError is a password file with no line or several; Ganeti lets
// it through without the "Failed to open" wrapping.
type oneLinerError struct{ msg string }

func (e *oneLinerError) Error() string { return e.msg }

// readPasswordFile reads a VNC or SPICE password file before qemu starts.
func readPasswordFile(kind, path string) (string, error) {
	pwd, err := readOneLineFile(path)
	var one *oneLinerError
	switch {
	case errors.As(err, &one):
		return "", hvErrorf("%s", one.msg)
	case err != nil:
		return "", hvErrorf("Failed to open %s password file %s: %s", kind, path, pyEnvError(err))
	}
	return pwd, nil
}
