package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// run_oob and restricted_command: the two ways the master runs a program
// of the administrator's choosing on a node.

const oobLinger = 5 * time.Second

// rpcRunOOB runs an out-of-band helper: [program, command, node, timeout]
// → its JSON output (null when silent).
func rpcRunOOB(n *node, args []json.RawMessage) (any, error) {
	var program, cmd, target string
	var timeout seconds
	if err := decodeArgs(args, &program, &cmd, &target, &timeout); err != nil {
		return nil, err
	}
	switch cmd {
	case "power-on", "power-off", "power-cycle", "power-status", "health":
	default:
		return nil, fmt.Errorf("Unknown out-of-band command '%s'", cmd)
	}
	if !filepath.IsAbs(program) || filepath.Clean(program) != program {
		return nil, fmt.Errorf("Out-of-band program '%s' is not an absolute path", program)
	}
	if !hostnamePattern.MatchString(target) {
		return nil, fmt.Errorf("Invalid node name '%s'", target)
	}
	if timeout <= 0 || timeout > 24*3600 {
		return nil, fmt.Errorf("Invalid out-of-band timeout %v", timeout)
	}
	argv := []string{program, cmd, target}
	res, err := n.runCommand(command{Args: argv, Timeout: timeout.duration() + oobLinger})
	if err != nil {
		why := err.Error()
		if res != nil {
			why = fmt.Sprintf("exited with exit code %d", res.ExitCode)
			if res.TimedOut {
				why = fmt.Sprintf("terminated after timeout of %.2f seconds", timeout)
			}
		}
		return nil, fmt.Errorf("'%s' failed with reason '%s'; output: %s", strings.Join(argv, " "), why, outputOf(res, err))
	}
	if strings.TrimSpace(res.Stdout) == "" {
		return nil, nil
	}
	var out any
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		return nil, fmt.Errorf("Error while executing backend function: out-of-band helper output is not JSON: %v", err)
	}
	return out, nil
}

const (
	restrictedLockTimeout = 8 * time.Second
	restrictedFailDelay   = 10 * time.Second
	restrictedTimeout     = time.Hour
)

func (l *layout) restrictedCommandsLock() string {
	return l.LockDir + "/ganeti-restricted-commands.lock"
}

// rpcRestrictedCommand runs a command from /etc/ganeti/restricted-commands:
// [name] → its output. The reason a request is refused is only logged; the
// caller gets a generic message after a delay, as Ganeti does.
func rpcRestrictedCommand(n *node, args []json.RawMessage) (any, error) {
	var name string
	if err := decodeArgs(args, &name); err != nil {
		return nil, err
	}
	failureDelay := cmp.Or(n.waits.restrictedFailure, restrictedFailDelay)
	unlock, err := lockFile(n.paths.restrictedCommandsLock(), restrictedLockTimeout)
	if err != nil {
		n.log.Errorf("restricted_command: %v", err)
		time.Sleep(failureDelay)
		return nil, fmt.Errorf("Executing command '%s' failed", name)
	}
	release := sync.OnceFunc(unlock)
	defer release()
	path, err := n.checkRestrictedCommand(name)
	if err != nil {
		n.log.Errorf("restricted_command %q refused: %v; sleeping for %s before returning", name, err, failureDelay)
		time.Sleep(failureDelay)
		return nil, fmt.Errorf("Executing command '%s' failed", name)
	}
	// The lock serialises the checks and the start, not the run: a hung
	// command must not hold back the next one (Ganeti unlocks after fork).
	res, err := n.runCommand(command{Args: []string{path}, Reset: true, Dir: "/", Timeout: restrictedTimeout, Started: release})
	if err != nil {
		return nil, fmt.Errorf("Restricted command '%s' failed: %s; output: %s", name, exitReason(res, err), outputOf(res, err))
	}
	return res.Output, nil
}

func exitReason(res *cmdResult, err error) string {
	switch {
	case res == nil:
		return err.Error()
	case res.TimedOut:
		return "terminated after timeout"
	case res.ExitCode < 0:
		return "terminated by signal"
	}
	return fmt.Sprintf("exited with exit code %d", res.ExitCode)
}

// checkRestrictedCommand applies Ganeti's rules: the directory and the
// command are owned by root:root, not writable by others, and the name is a
// plain plugin name.
func (n *node) checkRestrictedCommand(name string) (string, error) {
	dir := n.paths.RestrictedCommandsDir
	if err := checkOwned(dir, true, n.restrictedOwner); err != nil {
		return "", err
	}
	if strings.TrimSpace(name) == "" {
		return "", errors.New("Missing command name")
	}
	if filepath.Base(name) != name {
		return "", errors.New("Invalid command name")
	}
	if !pluginName.MatchString(name) {
		return "", errors.New("Command name contains forbidden characters")
	}
	path := filepath.Join(dir, name)
	if err := checkOwned(path, false, n.restrictedOwner); err != nil {
		return "", err
	}
	if !isExecutableFile(path) {
		return "", fmt.Errorf("access(2) thinks '%s' can't be executed", path)
	}
	return path, nil
}

// checkOwned refuses a restricted command or its directory unless owner
// owns it and nobody else may write it.
func checkOwned(path string, wantDir bool, owner [2]uint32) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("Can't stat(2) '%s': %v", path, err)
	}
	if st.Mode().Perm()&^0o755 != 0 || st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		return fmt.Errorf("Permissions on '%s' are too permissive", path)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid != owner[0] || sys.Gid != owner[1] {
		return fmt.Errorf("'%s' is not owned by %d:%d", path, owner[0], owner[1])
	}
	if wantDir && !st.IsDir() {
		return fmt.Errorf("Path '%s' is not a directory", path)
	}
	return nil
}
