package main

// Formatting that must match what Ganeti's Python code prints: the master
// and operators compare these strings with the Python daemon's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
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

// pyFloat formats a float as Python's repr (and "%s") does: the shortest
// digits that read back the same, ".0" when whole, an exponent below 1e-4
// and from 1e16.
func pyFloat(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".IN") {
		s += ".0"
	}
	return s
}

// pyList formats strings as Python prints a list of them.
func pyList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = pyRepr(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// pyRepr quotes a string as Python's repr does (ASCII-safe strings).
func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, q, `\`+q)
	return q + r.Replace(s) + q
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

// pyFloorDiv is Python's x // y for floats, which is not always
// math.Floor(x/y): 10300 // 1.03 is 9999.0, floor(10300/1.03) 10000 (the
// quotient rounds up to a whole number before the floor).
func pyFloorDiv(x, y float64) float64 {
	mod := math.Mod(x, y)
	div := (x - mod) / y
	if mod != 0 && (y < 0) != (mod < 0) {
		div -= 1
	}
	if div == 0 {
		return math.Copysign(0, x/y)
	}
	floor := math.Floor(div)
	if div-floor > 0.5 {
		floor++
	}
	return floor
}

// pyShlexSplit is Python's shlex.split: words split at blanks, with
// '...' literal, "..." honouring \" and \\, and \ quoting any character
// outside quotes. The errors are Python's.
func pyShlexSplit(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	const (
		bare = iota
		single
		double
	)
	state := bare
	end := func() {
		if inWord || quoted {
			words = append(words, word.String())
		}
		word.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case single:
			if c == '\'' {
				state = bare
			} else {
				word.WriteByte(c)
			}
		case double:
			switch {
			case c == '"':
				state = bare
			case c == '\\':
				if i+1 >= len(s) {
					return nil, errors.New("No escaped character")
				}
				i++
				if s[i] != '"' && s[i] != '\\' {
					word.WriteByte('\\')
				}
				word.WriteByte(s[i])
			default:
				word.WriteByte(c)
			}
		default:
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				end()
			case c == '\'' || c == '"':
				inWord, quoted = true, true
				state = map[byte]int{'\'': single, '"': double}[c]
			case c == '\\':
				if i+1 >= len(s) {
					return nil, errors.New("No escaped character")
				}
				i++
				inWord = true
				word.WriteByte(s[i])
			default:
				inWord = true
				word.WriteByte(c)
			}
		}
	}
	if state != bare {
		return nil, errors.New("No closing quotation")
	}
	end()
	return words, nil
}
