package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// readDRBDFile reads a DRBD kernel file with Ganeti's messages.
func readDRBDFile(path string) (string, error) {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		if isNotExist(err) {
			return "", fmt.Errorf("The file %s cannot be opened, check if the module is loaded ([Errno 2] No such file or directory: '%s')", path, path)
		}
		return "", fmt.Errorf("Can't read the DRBD proc file %s: %v", path, err)
	}
	if len(data) == 0 {
		return "", fmt.Errorf("Can't read any data from %s", path)
	}
	return string(data), nil
}

// drbdProc reads /proc/drbd afresh each time (the kernel's state changes
// under the daemon) and parses it unless it is the text last parsed.
func (n *node) drbdProc() (*drbdProcInfo, error) {
	text, err := readDRBDFile(n.paths.DRBDProcFile)
	if err != nil {
		return nil, err
	}
	return n.drbdParsed.parse(text)
}

// drbdProcCache keeps the last /proc/drbd text and its parse. A call about
// many disks reads the file several times per disk (Ganeti does too), and
// each parse covers every minor: 50 disks made 5000 parses a call. The
// text, read afresh each time, is the key, so a change is always seen.
type drbdProcCache struct {
	mu   sync.Mutex
	text string
	info *drbdProcInfo // never changed once parsed
}

func (c *drbdProcCache) parse(text string) (*drbdProcInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info != nil && c.text == text {
		return c.info, nil
	}
	info, err := parseDRBDProc(text)
	if err != nil {
		return nil, err
	}
	c.text, c.info = text, info
	return info, nil
}

// drbdVersion formats /proc/drbd's version line as Ganeti does.
func (n *node) drbdVersion() (string, error) {
	p, err := n.drbdProc()
	if err != nil {
		return "", err
	}
	return p.version.String(), nil
}

// drbdMinors lists the minors in use (not Unconfigured).
func (n *node) drbdMinors() ([]int, error) {
	p, err := n.drbdProc()
	if err != nil {
		return nil, err
	}
	return p.usedMinors()
}

func (n *node) drbdHelper() (string, error) {
	text, err := readDRBDFile(n.paths.DRBDHelperFile)
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(text, "\n")
	return first, nil
}

// rpcDRBDHelper reports the DRBD usermode helper, or why it cannot.
func rpcDRBDHelper(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	return n.drbdHelper()
}

func (v *verifier) checkDRBDVersion(json.RawMessage) error {
	if ver, err := v.n.drbdVersion(); err != nil {
		v.result["drbd-version"] = err.Error()
	} else {
		v.result["drbd-version"] = ver
	}
	return nil
}

func (v *verifier) checkDRBDList(json.RawMessage) error {
	if minors, err := v.n.drbdMinors(); err != nil {
		v.result["drbd-list"] = err.Error()
	} else {
		v.result["drbd-list"] = minors
	}
	return nil
}

func (v *verifier) checkDRBDHelper(json.RawMessage) error {
	if h, err := v.n.drbdHelper(); err != nil {
		v.result["drbd-helper"] = []any{false, err.Error()}
	} else {
		v.result["drbd-helper"] = []any{true, h}
	}
	return nil
}
