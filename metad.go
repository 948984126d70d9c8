package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Ganeti's metadata daemon (ganeti-metad) serves instance metadata; the
// node daemon hands it each instance's configuration over a Unix socket
// with Ganeti's LUXI framing (JSON messages ended by 0x03).

const (
	metadConnectTimeout = 30 * time.Second
	metadIOTimeout      = 3 * time.Minute
	luxiTerminator      = 0x03
)

func (l *layout) metadSocket() string  { return l.RunDir + "/socket/ganeti-metad" }
func (l *layout) metadPidFile() string { return l.RunDir + "/ganeti-metad.pid" }

// rpcInstanceMetadataModify passes an instance's configuration to metad,
// starting it if needed: [instance dict].
func rpcInstanceMetadataModify(n *node, args []json.RawMessage) (any, error) {
	var data map[string]json.RawMessage
	if err := decodeArgs(args, &data); err != nil {
		return nil, err
	}
	if !daemonAlive(n.paths.metadPidFile()) {
		if _, err := n.runCommand(command{Args: []string{n.paths.DaemonUtil, "start", "ganeti-metad"}, Timeout: daemonUtilTimeout}); err != nil {
			return nil, errors.New("Error while executing backend function: Failed to start metadata daemon")
		}
	}
	conn, err := dialRetry("unix", n.paths.metadSocket(), metadConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(metadIOTimeout))
	req, err := json.Marshal(map[string]any{"method": "updateConfig", "args": []any{data}})
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(req, luxiTerminator)); err != nil {
		return nil, fmt.Errorf("Error while executing backend function: %v", err)
	}
	reply, err := bufio.NewReader(conn).ReadBytes(luxiTerminator)
	if err != nil {
		return nil, fmt.Errorf("Error while executing backend function: no reply from metad: %v", err)
	}
	var resp struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(bytes.TrimSuffix(reply, []byte{luxiTerminator}), &resp); err != nil {
		return nil, fmt.Errorf("Error while executing backend function: Invalid response from server: %v", err)
	}
	if !resp.Success {
		return nil, fmt.Errorf("Error while executing backend function: %s", resp.Result)
	}
	return nil, nil
}

// dialRetry connects, retrying while the socket is missing or refuses
// (a daemon that is still starting).
func dialRetry(network, addr string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err == nil {
			return conn, nil
		}
		retry := errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, os.ErrNotExist)
		if !retry || time.Now().After(deadline) {
			return nil, fmt.Errorf("Connect timed out: %v", err)
		}
		time.Sleep(time.Second)
	}
}
