package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxTestDelay bounds test_delay so that a call cannot pin a connection
// slot for ever.
const maxTestDelay = 24 * time.Hour

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

// watcherPauseGrace is how long after its end a pause file is kept.
const watcherPauseGrace = 3600

// rpcGetWatcherPause returns the pause end (Unix seconds) or null.
func rpcGetWatcherPause(n *node, args []json.RawMessage) (any, error) {
	path := n.paths.WatcherPauseFile
	data, err := readFileLimited(path, 4096)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	until, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		n.log.Warningf("Watcher pause file (%s) contains invalid value, removing it", path)
		os.Remove(path)
		return nil, nil
	}
	now := time.Now().Unix()
	if now > until+watcherPauseGrace {
		os.Remove(path)
		return nil, nil
	}
	if now > until {
		return nil, nil
	}
	return until, nil
}

// rpcSetWatcherPause writes the pause end, or removes it for null.
func rpcSetWatcherPause(n *node, args []json.RawMessage) (any, error) {
	var until *unixTime
	if len(args) == 1 && !isJSONNumberOrNull(args[0]) {
		return nil, errors.New("Duration must be numeric")
	}
	if err := decodeArgs(args, &until); err != nil {
		return nil, err
	}
	path := n.paths.WatcherPauseFile
	if until == nil {
		n.log.Infof("Received request to no longer pause watcher")
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	n.log.Infof("Received request to pause watcher until %d", int64(*until))
	return nil, writeFile(path, []byte(fmt.Sprintf("%d\n", int64(*until))), 0o644)
}

func isJSONNumberOrNull(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	_, isNum := v.(float64)
	return isNum || v == nil
}

// rpcBridgesExist fails listing the bridges this node lacks: [[names]].
func rpcBridgesExist(n *node, args []json.RawMessage) (any, error) {
	var bridges []string
	if err := decodeArgs(args, &bridges); err != nil {
		return nil, err
	}
	var missing []string
	for _, b := range bridges {
		if !bridgeExists(b) {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("Missing bridges %s", strings.Join(missing, ", "))
	}
	return nil, nil
}

// sysClassNet is where the kernel lists network interfaces.
var sysClassNet = "/sys/class/net"

func bridgeExists(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") {
		return false
	}
	st, err := os.Stat(sysClassNet + "/" + name + "/bridge")
	return err == nil && st.IsDir()
}
