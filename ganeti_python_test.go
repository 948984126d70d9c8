package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// ganetiPythonDir is Debian's Ganeti 3.0 (its Python package), the
// reference the tests below compare with.
const ganetiPythonDir = "/usr/share/ganeti/3.0"

// ganetiPythonInterpreter is the system's Python, which has Ganeti's
// dependencies (OpenSSL, pyparsing, ...) that another python3 on PATH may
// lack.
const ganetiPythonInterpreter = "/usr/bin/python3"

// runGanetiPython runs script with Ganeti's Python package importable as
// "ganeti", stdin as its input, and returns its standard output; the test
// is skipped when Ganeti 3.0 is not installed.
func runGanetiPython(t *testing.T, script string, stdin []byte) []byte {
	t.Helper()
	return runGanetiPythonArgs(t, stdin, "-c", "import sys\nsys.path.insert(0, "+pyQuote(ganetiPythonDir)+")\n"+script)
}

// runGanetiPythonArgs runs Ganeti's Python with args (a script file of
// testdata and its arguments, say), with Ganeti's package on PYTHONPATH;
// skipped as runGanetiPython, and a failure fails the test.
func runGanetiPythonArgs(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	for _, p := range []string{ganetiPythonDir + "/ganeti", ganetiPythonInterpreter} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("Ganeti 3.0's Python is not installed (%v)", err)
		}
	}
	cmd := exec.Command(ganetiPythonInterpreter, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+ganetiPythonDir)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Ganeti's Python %v failed: %v\n%s", args[0], err, stderr.String())
	}
	return out
}

// pyQuote is a Python string literal for s (no quotes or backslashes in s).
func pyQuote(s string) string { return "'" + s + "'" }
