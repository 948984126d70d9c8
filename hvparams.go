package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// hvParamError is a parameter the hypervisor refuses; Ganeti reports these
// as plain messages (HypervisorError), other failures with its prefix.
type hvParamError struct{ msg string }

func (e *hvParamError) Error() string { return e.msg }

func hvParamFail(format string, args ...any) error {
	return &hvParamError{fmt.Sprintf(format, args...)}
}

// isEmptyParam is Python's falsiness for an optional parameter.
func isEmptyParam(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}

// hvParamCheck is one entry of a hypervisor's parameter table (Ganeti's
// PARAMETERS): whether the parameter needs a value, the syntax check the
// master runs with the reason it gives, and the check against this node
// with its reason. A nil check passes everything.
type hvParamCheck struct {
	name      string
	required  bool
	syntax    func(v any) bool
	syntaxWhy string
	node      func(v any) bool
	nodeWhy   string
}

const (
	hvAbsPathWhy = "must be an absolute normalized path"
	hvNonNegWhy  = "cannot be negative"
	// hvMaxInt bounds Ganeti's int parameters: a JSON number is exact as a
	// float64 up to 2^53, and hvNumber, hvInt and the syntax checks read
	// the same range, so a value the checks pass is the value used.
	hvMaxInt = 1 << 53
)

// hvNoCheck is a parameter that only has to be present.
func hvNoCheck(name string) hvParamCheck { return hvParamCheck{name: name} }

// hvSyntax is a parameter with a syntax check only.
func hvSyntax(name string, required bool, ok func(any) bool, why string) hvParamCheck {
	return hvParamCheck{name: name, required: required, syntax: ok, syntaxWhy: why}
}

// hvInSet is a parameter whose value must be one of values (listed in
// the message in the order given).
func hvInSet(name string, required bool, values ...string) hvParamCheck {
	return hvSyntax(name, required, func(v any) bool { s, ok := v.(string); return ok && slices.Contains(values, s) },
		"The value must be one of: "+strings.Join(values, ", "))
}

// hvFileCheck is a path that must name a regular file on the node.
func hvFileCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, hvNormAbsPath, hvAbsPathWhy,
		func(v any) bool { s, ok := v.(string); return ok && fileIsRegular(s) }, "not found or not a file"}
}

// hvDirCheck is a path that must name a directory on the node.
func hvDirCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, hvNormAbsPath, hvAbsPathWhy,
		func(v any) bool { s, ok := v.(string); return ok && isDir(s) }, "not found or not a directory"}
}

// hvFileOrURLCheck is a regular file on the node or an HTTP(S)/FTP(S) URL.
func hvFileOrURLCheck(name string, required bool) hvParamCheck {
	return hvParamCheck{name, required, func(v any) bool { return hvNormAbsPath(v) || hvIsURL(v) },
		"must be an absolute normalized path or a URL",
		func(v any) bool { s, ok := v.(string); return ok && (fileIsRegular(s) || urlPattern.MatchString(s)) },
		"not found or not a file or URL"}
}

// hvPortCheck is a required TCP port number.
func hvPortCheck(name string) hvParamCheck {
	return hvSyntax(name, true, hvIntIn(1, 65534), "invalid port number")
}

// hvNonNegCheck is a whole number that is not negative.
func hvNonNegCheck(name string, required bool) hvParamCheck {
	return hvSyntax(name, required, hvIntIn(0, hvMaxInt), hvNonNegWhy)
}

// hvMigrationModeCheck is the required migration_mode of the hypervisors
// that have one.
var hvMigrationModeCheck = hvSyntax("migration_mode", true, func(v any) bool { return v == "live" || v == "non-live" },
	"invalid migration mode")

// hvMultiCPUMaskCheck is an optional cpu_mask with one CPU list per vCPU.
var hvMultiCPUMaskCheck = hvSyntax("cpu_mask", false,
	func(v any) bool { s, ok := v.(string); _, good := parseMultiCPUMask(s); return ok && good },
	"Multiple CPU mask definition is not well-formed")

// hvNormAbsPath is Ganeti's IsNormAbsPath: absolute, and unchanged by
// Python's normpath (which keeps exactly two leading slashes).
func hvNormAbsPath(v any) bool {
	s, ok := v.(string)
	if !ok || !filepath.IsAbs(s) {
		return false
	}
	if strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "///") {
		s = s[1:]
	}
	return filepath.Clean(s) == s
}

func hvIsURL(v any) bool { s, ok := v.(string); return ok && urlPattern.MatchString(s) }

// hvNumber is a JSON number that is whole (Ganeti's ints), within
// ±hvMaxInt so that its conversion to int is exact on every platform.
func hvNumber(v any) (int, bool) {
	n, err := wholeParam(v, "", -hvMaxInt, hvMaxInt)
	return int(n), err == nil
}

// hvIntIn accepts whole numbers from lo to hi, both included.
func hvIntIn(lo, hi int) func(any) bool {
	return func(v any) bool { n, ok := hvNumber(v); return ok && n >= lo && n <= hi }
}

// isUnspecified is Ganeti's "no value": None or the empty string.
func isUnspecified(v any) bool { return v == nil || v == "" }

// missingHVParam is the failure of Ganeti's node on a parameter set that
// lacks a parameter (a KeyError, reported with the generic prefix).
func missingHVParam(name string) error {
	return fmt.Errorf("Error while executing backend function: '%s'", name)
}

// checkHVParamsPresent fails on the first parameter of table that params
// lacks.
func checkHVParamsPresent(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		if _, ok := params[c.name]; !ok {
			return missingHVParam(c.name)
		}
	}
	return nil
}

// checkHVParamSyntax is the table part of Ganeti's CheckParameterSyntax,
// without its test for unknown keys: the master runs it before it asks a
// node to validate, so a node that runs it too reports the same first
// problem, and a newer master may send more parameters.
func checkHVParamSyntax(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		v := params[c.name]
		if isUnspecified(v) {
			if c.required {
				return hvParamFail("Parameter '%s' is required but is currently not defined", c.name)
			}
			continue
		}
		if c.syntax != nil && !c.syntax(v) {
			return hvParamFail("Parameter '%s' fails syntax check: %s (current value: '%s')", c.name, c.syntaxWhy, pyStr(v))
		}
	}
	return nil
}

// checkHVParamNode is the table part of Ganeti's ValidateParameters: the
// checks against this node's files, in table order.
func checkHVParamNode(table []hvParamCheck, params map[string]any) error {
	for _, c := range table {
		v := params[c.name]
		if !c.required && isUnspecified(v) {
			continue
		}
		if c.node != nil && !c.node(v) {
			return hvParamFail("Parameter '%s' fails validation: %s (current value: '%s')", c.name, c.nodeWhy, pyStr(v))
		}
	}
	return nil
}

// hvParamTable is the paramValidator of a hypervisor whose checks are
// its table alone.
type hvParamTable []hvParamCheck

func (t hvParamTable) ValidateParams(params map[string]any) error {
	if err := checkHVParamsPresent(t, params); err != nil {
		return err
	}
	if err := checkHVParamSyntax(t, params); err != nil {
		return err
	}
	return checkHVParamNode(t, params)
}
