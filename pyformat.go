package main

// Formatting that must match what Ganeti's Python code prints: the master
// and operators compare these strings with the Python daemon's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
)

// pyStr formats a parameter value as Python's "%s" would.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
	}
	return fmt.Sprint(v)
}

// pyEnvError renders a file error as Python's EnvironmentError does:
// "[Errno 2] No such file or directory: '/path'".
func pyEnvError(err error) string {
	var pe *os.PathError
	var errno syscall.Errno
	if errors.As(err, &pe) && errors.As(pe.Err, &errno) {
		return fmt.Sprintf("[Errno %d] %s: '%s'", int(errno), pyStrerror(errno), pe.Path)
	}
	return err.Error()
}

// pyStrerror is the C library's message, as Python prints it.
func pyStrerror(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pyLogicalID prints a logical id as Python prints the tuple Ganeti holds.
func pyLogicalID(raw json.RawMessage) string {
	var parts []any
	if json.Unmarshal(raw, &parts) != nil {
		return string(raw)
	}
	var s []string
	for _, p := range parts {
		if str, ok := p.(string); ok {
			s = append(s, "'"+str+"'")
		} else {
			s = append(s, pyStr(p))
		}
	}
	return "(" + strings.Join(s, ", ") + ")"
}

var shellSafe = regexp.MustCompile(`^[-.,=:/_+@A-Za-z0-9]+$`)

// shellQuote quotes an argument for a POSIX shell, as Ganeti does.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
