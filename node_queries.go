package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// maxTestDelay bounds test_delay so that a call cannot pin a connection
// slot for ever.
const maxTestDelay = 24 * time.Hour

// rpcVersion: [] → the RPC protocol version the master checks.
func rpcVersion(n *node, args []json.RawMessage) (any, error) {
	return protocolVersion, nil
}

// rpcTestDelay sleeps for the given seconds: [duration].
func rpcTestDelay(n *node, args []json.RawMessage) (any, error) {
	var delay seconds
	if err := decodeArgs(args, &delay); err != nil {
		return nil, numberRefusal(err, "Invalid sleep duration")
	}
	if float64(delay) > maxTestDelay.Seconds() {
		return nil, fmt.Errorf("Invalid sleep duration: more than %s", maxTestDelay)
	}
	time.Sleep(delay.duration())
	return nil, nil
}

// rpcMasterNodeName: [] → the master's name from ssconf.
func rpcMasterNodeName(n *node, args []json.RawMessage) (any, error) {
	name, err := n.paths.readSsconf("master_node")
	if err != nil {
		return nil, fmt.Errorf("Cluster configuration incomplete: %w", err)
	}
	return name, nil
}

// rpcNodeHasIPAddress tells whether the node owns an address, by binding a
// UDP socket to it as Ganeti does (an invalid address is not owned).
func rpcNodeHasIPAddress(n *node, args []json.RawMessage) (any, error) {
	var address string
	if err := decodeArgs(args, &address); err != nil {
		return nil, err
	}
	return ownsAddress(address), nil
}

// rpcBridgesExist fails listing the bridges this node lacks: [[names]].
func rpcBridgesExist(n *node, args []json.RawMessage) (any, error) {
	var bridges []string
	if err := decodeArgs(args, &bridges); err != nil {
		return nil, err
	}
	var missing []string
	for _, b := range bridges {
		if !n.bridgeExists(b) {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("Missing bridges %s", strings.Join(missing, ", "))
	}
	return nil, nil
}

func (n *node) bridgeExists(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") {
		return false
	}
	st, err := os.Stat(n.paths.SysClassNet + "/" + name + "/bridge")
	return err == nil && st.IsDir()
}
