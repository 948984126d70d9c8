package main

import (
	"fmt"
	"path/filepath"
)

// Console is the serial console over ssh, VNC, or a message.
func (h *kvmHypervisor) Console(inst *instance, where consolePlace) map[string]any {
	hvp := inst.HVParams
	ctrl := filepath.Join(h.rootDir, "ctrl", inst.Name)
	// Like Ganeti's InstanceConsole.ToDict, a port that is not known is
	// left out rather than null.
	if isTrue(hvp["serial_console"]) {
		c := map[string]any{"instance": inst.Name, "kind": "ssh", "host": where.Node, "user": "root",
			"command": []string{h.n.paths.KVMConsoleWrapper, socatPath, shellQuote(inst.Name), shellQuote(ctrl + ".monitor"),
				"STDIO,raw,echo=0,escape=0x1d", "UNIX-CONNECT:" + ctrl + ".serial"}}
		if where.SSHPort != nil {
			c["port"] = *where.SSHPort
		}
		return c
	}
	if vnc := hvStr(hvp, "vnc_bind_address"); vnc != "" && inst.NetworkPort != nil && *inst.NetworkPort > 5900 {
		return map[string]any{"instance": inst.Name, "kind": "vnc", "host": vnc, "port": *inst.NetworkPort, "display": int(*inst.NetworkPort) - 5900}
	}
	if spice := hvStr(hvp, "spice_bind"); spice != "" {
		c := map[string]any{"instance": inst.Name, "kind": "spice", "host": spice}
		if inst.NetworkPort != nil {
			c["port"] = *inst.NetworkPort
		}
		return c
	}
	return map[string]any{"instance": inst.Name, "kind": "msg", "message": fmt.Sprintf("No serial shell for instance %s", inst.Name)}
}
