package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rpcNodeDemoteFromMC drops this node's copy of the configuration, after
// a backup, unless it is the master.
func rpcNodeDemoteFromMC(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	master, err := n.paths.readSsconf("master_node")
	if err != nil {
		return nil, err
	}
	if master == n.fqdn() {
		return nil, errors.New("ssconf status shows I'm the master node, will not demote")
	}
	if _, err := n.runCommand(command{Args: []string{n.paths.DaemonUtil, "check", "ganeti-masterd"}, Timeout: daemonUtilTimeout}); err == nil {
		return nil, errors.New("The master daemon is running, will not demote")
	}
	conf := n.paths.ClusterConfFile
	if fileIsRegular(conf) {
		backup := fmt.Sprintf("%s.backup-%s.", conf, time.Now().Format("2006-01-02_15_04_05"))
		if err := copyFileTemp(conf, backup); err != nil {
			return nil, fmt.Errorf("Error while backing up cluster file: %v", err)
		}
	}
	if err := os.Remove(conf); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return nil, nil
}

// powercycleDelay gives the reply time to reach the master.
const powercycleDelay = 5 * time.Second

// rpcNodePowercycle answers, then hard-reboots the node after a delay:
// [hypervisor, hvparams].
func rpcNodePowercycle(n *node, args []json.RawMessage) (any, error) {
	var hvName string
	var hvparams map[string]any
	if err := decodeArgs(args, &hvName, &hvparams); err != nil {
		return nil, err
	}
	if _, err := n.hypervisorFor(hvName); err != nil {
		return nil, err
	}
	delay := cmp.Or(n.waits.powercycle, powercycleDelay)
	n.log.Warningf("powercycle requested: rebooting in %s", delay)
	go func() {
		time.Sleep(delay)
		n.powercycle()
	}()
	return fmt.Sprintf("Reboot scheduled in %d seconds", int(delay.Seconds())), nil
}

// powercycle reboots at once through sysrq (no sync, as Ganeti), or with
// "reboot -n -f" where sysrq is unavailable.
func (n *node) powercycle() {
	f, err := os.OpenFile(n.paths.SysrqTrigger, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write([]byte("b"))
		f.Close()
	}
	if err != nil {
		n.log.Errorf("Can't open the sysrq-trigger file: %v", err)
		if _, err := n.runCommand(command{Args: []string{"reboot", "-n", "-f"}, Timeout: time.Minute}); err != nil {
			n.log.Errorf("Can't run shutdown: %v", err)
		}
	}
}

// rpcNodeConfigureOVS creates an Open vSwitch and connects it to a link:
// [ovs_name, ovs_link or null].
func rpcNodeConfigureOVS(n *node, args []json.RawMessage) (any, error) {
	var name string
	var link *string
	if err := decodeArgs(args, &name, &link); err != nil {
		return nil, err
	}
	if !isValidIfaceName(name) || (link != nil && *link != "" && !isValidIfaceName(*link)) {
		return nil, errors.New("Invalid switch or interface name")
	}
	res, err := n.runCommand(command{Args: []string{"ovs-vsctl", "--may-exist", "add-br", name}, Timeout: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("Failed to create openvswitch. Script return value: %s, output: '%s'", exitOf(res), outputOf(res, err))
	}
	if link != nil && *link != "" {
		res, err := n.runCommand(command{Args: []string{"ovs-vsctl", "--may-exist", "add-port", name, *link}, Timeout: time.Minute})
		if err != nil {
			return nil, fmt.Errorf("Failed to connect openvswitch to  interface %s. Script return value: %s, output: '%s'", *link, exitOf(res), outputOf(res, err))
		}
	}
	return nil, nil
}

func exitOf(res *cmdResult) string {
	if res == nil {
		return "None"
	}
	return fmt.Sprint(res.ExitCode)
}

func outputOf(res *cmdResult, err error) string {
	if res == nil {
		return err.Error()
	}
	return res.Output
}

// rpcNodeEnsureDaemon starts or stops ganeti-kvmd (the only daemon the
// master may ask for): [daemon, run] → whether it worked.
func rpcNodeEnsureDaemon(n *node, args []json.RawMessage) (any, error) {
	var name string
	var run bool
	if err := decodeArgs(args, &name, &run); err != nil {
		return nil, err
	}
	if name != "ganeti-kvmd" {
		return false, nil
	}
	action := "stop"
	if run {
		action = "check-and-start"
	}
	if _, err := n.runCommand(command{Args: []string{n.paths.DaemonUtil, action, name}, Timeout: daemonUtilTimeout}); err != nil {
		n.log.Errorf("Can't %s daemon '%s': %v", action, name, err)
		return false, nil
	}
	return true, nil
}

// rpcNodeLeaveCluster removes the node's cluster files and secrets, stops
// the node's other daemons, answers, then shuts this daemon down.
func rpcNodeLeaveCluster(n *node, args []json.RawMessage) (any, error) {
	var modifySSH bool
	if err := decodeArgs(args, &modifySSH); err != nil {
		return nil, err
	}
	p := n.paths
	for _, dir := range []struct{ path, keep string }{
		{p.DataDir, ""}, {p.cryptoDir(), ""}, {p.QueueDir, p.QueueLockFile}, {p.QueueArchiveDir, ""},
	} {
		if err := removeRegularFiles(dir.path, dir.keep); err != nil {
			return nil, err
		}
	}
	if modifySSH {
		n.removeOwnSSHKey("dsa")
	}
	for _, f := range []string{p.ConfdHmacKey, p.RapiCertFile, p.SpiceCertFile, p.SpiceCACertFile, p.NodedCertFile} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.log.Errorf("Error while removing cluster secrets: %v", err)
		}
	}
	for _, d := range []string{"ganeti-confd", "ganeti-mond", "ganeti-kvmd"} {
		n.runCommand(command{Args: []string{n.paths.DaemonUtil, "stop", d}, Timeout: daemonUtilTimeout})
	}
	n.log.Infof("Shutting down the node daemon, arguments: (True, 'Shutdown scheduled')")
	if n.stop != nil {
		n.stop() // graceful: this reply is sent before the server closes
	}
	return "Shutdown scheduled", nil
}

// removeOwnSSHKey drops root's key of one type from authorized_keys and
// deletes the key pair (Ganeti 3.0 does this for DSA keys only).
func (n *node) removeOwnSSHKey(keyType string) {
	priv := filepath.Join(n.paths.SSHDir, "id_"+keyType)
	pub, err := readFileLimited(priv+".pub", 1<<20)
	if err != nil {
		n.log.Warningf("At least one SSH file was not accessible: %v", err)
		return
	}
	if err := editAuthorizedKeys(filepath.Join(n.paths.SSHDir, "authorized_keys"), nil, []string{strings.TrimSpace(string(pub))}); err != nil {
		n.log.Warningf("Error while processing ssh files: %v", err)
	}
	os.Remove(priv)
	os.Remove(priv + ".pub")
}

// editAuthorizedKeys adds and removes keys in an authorized_keys file,
// atomically; keys already there are not added twice.
func editAuthorizedKeys(path string, add, remove []string) error {
	data, err := readFileLimited(path, 16<<20)
	if err != nil && !(errors.Is(err, os.ErrNotExist) && len(add) > 0) {
		return err
	}
	var lines []string
	if len(data) > 0 {
		lines = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	}
	var kept []string
	for _, l := range lines {
		drop := false
		for _, k := range remove {
			if sshKeyMatches(l, k) {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, l)
		}
	}
	for _, k := range add {
		k = strings.Trim(k, "\r\n")
		if !authorizedKeysHas(kept, k) {
			kept = append(kept, k)
		}
	}
	out := strings.Join(kept, "\n")
	if len(kept) > 0 {
		out += "\n"
	}
	return writeFile(path, []byte(out), 0o600)
}
