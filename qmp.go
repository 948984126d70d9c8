package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// qmpClient speaks QEMU's machine protocol: JSON objects over a Unix
// socket, one per line. After the greeting the client negotiates
// capabilities; every command gets a "return" or an "error", with
// asynchronous "event" objects in between.
type qmpClient struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	Version map[string]any // from the greeting
}

const qmpTimeout = 30 * time.Second

// qmpError is an error QEMU answered to a command.
type qmpError struct {
	Command, Class, Desc string
}

func (e *qmpError) Error() string {
	return fmt.Sprintf("QMP %s: error %s: %s", e.Command, e.Class, e.Desc)
}

// dialQMP connects, reads the greeting and enters command mode.
func dialQMP(path string, timeout time.Duration) (*qmpClient, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to QMP socket %s: %w", path, err)
	}
	c := &qmpClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: timeout}
	greeting, err := c.readMessage(time.Now().Add(timeout))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("QMP greeting: %w", err)
	}
	var g struct {
		QMP struct {
			Version map[string]any `json:"version"`
		} `json:"QMP"`
	}
	if json.Unmarshal(greeting, &g) != nil || g.QMP.Version == nil {
		conn.Close()
		return nil, fmt.Errorf("QMP greeting not understood: %s", truncate(string(greeting), 200))
	}
	c.Version = g.QMP.Version
	if _, err := c.Execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *qmpClient) Close() error { return c.conn.Close() }

// maxQMPMessage bounds one message from QEMU.
const maxQMPMessage = 16 << 20

// readMessage reads one line; a deadline set once per command keeps a
// stream of events from delaying its answer without end.
func (c *qmpClient) readMessage(deadline time.Time) ([]byte, error) {
	c.conn.SetReadDeadline(deadline)
	var line []byte
	for {
		chunk, isPrefix, err := c.r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxQMPMessage {
			return nil, errors.New("QMP message too large")
		}
		if !isPrefix {
			return line, nil
		}
	}
}

// Execute runs one command and returns its "return" value, skipping
// events that arrive meanwhile.
func (c *qmpClient) Execute(command string, args map[string]any) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.timeout)
	c.conn.SetWriteDeadline(deadline)
	if _, err := c.conn.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	for {
		msg, err := c.readMessage(deadline)
		if err != nil {
			return nil, fmt.Errorf("QMP %s: %w", command, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(msg, &resp); err != nil {
			return nil, fmt.Errorf("QMP %s: bad reply: %v", command, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			return nil, &qmpError{command, resp.Error.Class, resp.Error.Desc}
		case resp.Return != nil:
			return resp.Return, nil
		}
		return nil, fmt.Errorf("QMP %s: reply has neither return nor error: %s", command, truncate(string(msg), 200))
	}
}

// SendFD passes a file descriptor to QEMU (SCM_RIGHTS with one space
// byte); a following getfd or add-fd command picks it up.
func (c *qmpClient) SendFD(f *os.File) error {
	uc, ok := c.conn.(*net.UnixConn)
	if !ok {
		return errors.New("QMP connection cannot pass file descriptors")
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, _, err := uc.WriteMsgUnix([]byte(" "), syscall.UnixRights(int(f.Fd())), nil); err != nil {
		return fmt.Errorf("Passing fd %d via SCM_RIGHTS failed: %v", f.Fd(), err)
	}
	return nil
}

// HasCommand tells whether QEMU offers a QMP command.
func (c *qmpClient) HasCommand(name string) bool {
	return c.lists("query-commands", "name", name)
}

// lists tells whether a query answering a list of objects has one whose
// key is value (false when the query fails).
func (c *qmpClient) lists(query, key, value string) bool {
	ret, err := c.Execute(query, nil)
	if err != nil {
		return false
	}
	var items []map[string]any
	json.Unmarshal(ret, &items)
	for _, it := range items {
		if it[key] == value {
			return true
		}
	}
	return false
}
