package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// How long Ganeti's helper programs may take.
const (
	daemonUtilTimeout       = 5 * time.Minute
	masterIPCommandsTimeout = 2 * time.Minute
)

func (l *layout) externalMasterSetup() string { return l.ConfDir + "/scripts/master-ip-setup" }

// rpcNodeStartMasterDaemons starts wconfd, luxid and rapi: [no_voting].
func rpcNodeStartMasterDaemons(n *node, args []json.RawMessage) (any, error) {
	var noVoting bool
	if err := decodeArgs(args, &noVoting); err != nil {
		return nil, err
	}
	extra := ""
	if noVoting {
		extra = "--no-voting --yes-do-it"
	}
	res, err := n.runCommand(command{Args: []string{n.paths.DaemonUtil, "start-master"}, Timeout: daemonUtilTimeout,
		Env: []string{"EXTRA_LUXID_ARGS=" + extra, "EXTRA_WCONFD_ARGS=" + extra}})
	if err != nil {
		return nil, fmt.Errorf("Can't start Ganeti master: %s", outputOf(res, err))
	}
	return nil, nil
}

// rpcNodeStopMaster stops the master daemons; a failure is only logged,
// as in Ganeti.
func rpcNodeStopMaster(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	if _, err := n.runCommand(command{Args: []string{n.paths.DaemonUtil, "stop-master"}, Timeout: daemonUtilTimeout}); err != nil {
		n.log.Errorf("Could not stop Ganeti master: %v", err)
	}
	return nil, nil
}

// masterNetParams is the master's MasterNetworkParameters object.
type masterNetParams struct {
	UUID     string `json:"uuid"`
	IP       string `json:"ip"`
	Netmask  int    `json:"netmask"`
	Netdev   string `json:"netdev"`
	IPFamily int    `json:"ip_family"`
}

// ipVersion maps Python's address family numbers to 4 or 6.
func (p *masterNetParams) ipVersion() (int, error) {
	switch p.IPFamily {
	case 2:
		return 4, nil
	case 10:
		return 6, nil
	}
	return 0, fmt.Errorf("%d is not a valid IP address family", p.IPFamily)
}

func (p *masterNetParams) validate() error {
	if net.ParseIP(p.IP) == nil {
		return fmt.Errorf("Invalid master IP address '%s'", p.IP)
	}
	if !isValidIfaceName(p.Netdev) {
		return fmt.Errorf("Invalid master network device '%s'", p.Netdev)
	}
	if p.Netmask < 0 || p.Netmask > 128 {
		return fmt.Errorf("Invalid master netmask %d", p.Netmask)
	}
	return nil
}

// isValidIfaceName is what Linux accepts as an interface name.
func isValidIfaceName(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/ \t\n:\x00")
}

// rpcNodeActivateMasterIP brings the master IP up on this node (see
// changeMasterIP for the arguments).
func rpcNodeActivateMasterIP(n *node, args []json.RawMessage) (any, error) {
	return nil, n.changeMasterIP(args, "start")
}

// rpcNodeDeactivateMasterIP takes the master IP down on this node.
func rpcNodeDeactivateMasterIP(n *node, args []json.RawMessage) (any, error) {
	return nil, n.changeMasterIP(args, "stop")
}

// changeMasterIP runs the master IP setup script (Ganeti's, or the user's
// external one) with the master-ip-turnup/turndown hooks around it:
// [master_params, use_external_mip_script].
func (n *node) changeMasterIP(args []json.RawMessage, action string) error {
	var p masterNetParams
	var external bool
	if err := decodeArgs(args, &p, &external); err != nil {
		return err
	}
	ver, err := p.ipVersion()
	if err != nil {
		return err
	}
	if err := p.validate(); err != nil {
		return err
	}
	env := []string{"MASTER_NETDEV=" + p.Netdev, "MASTER_IP=" + p.IP,
		"MASTER_NETMASK=" + strconv.Itoa(p.Netmask), "CLUSTER_IP_VERSION=" + strconv.Itoa(ver)}
	hpath, opcode := "master-ip-turnup", "OP_CLUSTER_IP_TURNUP"
	if action == "stop" {
		hpath, opcode = "master-ip-turndown", "OP_CLUSTER_IP_TURNDOWN"
	}
	hookEnv, err := n.localHookEnv(hpath, opcode, env)
	if err != nil {
		return err
	}
	if err := n.runLocalHooks(hpath, "pre", hookEnv, env); err != nil {
		return err
	}
	script := n.paths.MasterIPSetup
	if external {
		script = n.paths.externalMasterSetup()
	}
	res, err := n.runCommand(command{Args: []string{script, action}, Env: env, Reset: true, Dir: "/", Timeout: masterIPCommandsTimeout})
	if err != nil {
		if res == nil {
			return err
		}
		return fmt.Errorf("Failed to %s the master IP. Script return value: %d, output: '%s'", action, res.ExitCode, res.Output)
	}
	n.runLocalHooks(hpath, "post", hookEnv, env)
	return nil
}

// localHookEnv is the environment Ganeti gives hooks the node runs on its
// own (master IP turnup/turndown). Ganeti 3.0 swaps the cluster and master
// names into GANETI_OBJECT_TYPE and GANETI_CLUSTER; we keep that, so that
// hook scripts written against it work the same.
func (n *node) localHookEnv(hpath, opcode string, scriptEnv []string) ([]string, error) {
	master, err := n.paths.readSsconf("master_node")
	if err != nil {
		return nil, err
	}
	cluster, err := n.paths.readSsconf("cluster_name")
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "GANETI_HOOKS_VERSION=2",
		"GANETI_OP_CODE=" + opcode, "GANETI_DATA_DIR=" + n.paths.DataDir,
		"GANETI_HOOKS_PATH=" + hpath, "GANETI_OBJECT_TYPE=" + cluster, "GANETI_CLUSTER=" + master}
	for _, kv := range scriptEnv {
		env = append(env, "GANETI_"+kv)
	}
	return env, nil
}

// runLocalHooks runs one phase; a failing pre hook aborts, post failures
// are logged.
func (n *node) runLocalHooks(hpath, phase string, env, scriptEnv []string) error {
	env = append(env, "GANETI_HOOKS_PHASE="+phase)
	if phase == "post" {
		for _, kv := range scriptEnv {
			env = append(env, "GANETI_POST_"+kv)
		}
	}
	subdir := hpath + "-" + phase + ".d"
	var failed []string
	for _, r := range n.runParts(n.paths.HooksBaseDir+"/"+subdir, env, hookTimeout) {
		if r.status == hookFail {
			failed = append(failed, fmt.Sprintf("('%s', '%s/%s', '%s')", n.fqdn(), subdir, r.name, r.output))
			n.log.Outputf(levelWarning, r.output, "On %s script %s/%s failed, output:", n.fqdn(), subdir, r.name)
		}
	}
	if phase == "pre" && len(failed) > 0 {
		return errors.New("Error while executing backend function: [" + strings.Join(failed, ", ") + "]")
	}
	return nil
}

// rpcNodeChangeMasterNetmask moves the master IP to a new prefix length:
// [old_netmask, netmask, master_ip, master_netdev].
func rpcNodeChangeMasterNetmask(n *node, args []json.RawMessage) (any, error) {
	var oldMask, newMask int
	var ip, dev string
	if err := decodeArgs(args, &oldMask, &newMask, &ip, &dev); err != nil {
		return nil, err
	}
	if oldMask == newMask {
		return nil, nil
	}
	p := masterNetParams{IP: ip, Netdev: dev, Netmask: newMask}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if oldMask < 0 || oldMask > 128 {
		return nil, fmt.Errorf("Invalid master netmask %d", oldMask)
	}
	if !ownsAddress(ip) {
		return nil, errors.New("The master IP address is not up, not attempting to change its netmask")
	}
	label := dev + ":0"
	if _, err := n.runCommand(command{Args: []string{n.paths.IPCommand, "address", "add", fmt.Sprintf("%s/%d", ip, newMask), "dev", dev, "label", label}, Timeout: masterIPCommandsTimeout}); err != nil {
		return nil, errors.New("Could not set the new netmask on the master IP address")
	}
	if _, err := n.runCommand(command{Args: []string{n.paths.IPCommand, "address", "del", fmt.Sprintf("%s/%d", ip, oldMask), "dev", dev, "label", label}, Timeout: masterIPCommandsTimeout}); err != nil {
		return nil, errors.New("Could not bring down the master IP address with the old netmask")
	}
	return nil, nil
}

// ownsAddress binds a UDP socket to the address, as Ganeti checks it.
func ownsAddress(address string) bool {
	ip := net.ParseIP(address)
	if ip == nil || strings.Contains(address, "%") {
		return false
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
