package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DRBD 8.4's command lines, as Ganeti 3.0's DRBD84CmdGenerator makes them
// (testdata/drbd/ganeti/cmdgen.jsonl holds its output for the same
// cases; storage_drbd_cmd_test.go compares). One resource per minor,
// named resource<minor>, volume 0.

// drbdParams are a DRBD disk's parameters, which the master fills in
// from the cluster's, the group's and the template's.
type drbdParams struct {
	resyncRate                                           int64
	dynamicResync                                        bool
	planAhead, fillTarget, delayTarget, maxRate, minRate int64
	disabledBarriers                                     string
	noMetaFlush                                          bool
	diskCustom, netCustom                                string
	protocol                                             string
}

// drbdParamNames are the keys Ganeti requires of a DRBD disk's params.
var drbdParamNames = []string{"c-delay-target", "c-fill-target", "c-max-rate", "c-min-rate", "c-plan-ahead",
	"default-metavg", "disable-meta-flush", "disabled-barriers", "disk-custom", "dynamic-resync", "net-custom",
	"protocol", "resync-rate"}

// maxDRBDRate bounds the rates and controller values (KiB/s, tenths of
// a second): DRBD's own limits are far below.
const maxDRBDRate = 1<<31 - 1

func decodeDRBDParams(raw map[string]any) (drbdParams, error) {
	var missing []string
	for _, k := range drbdParamNames {
		if _, ok := raw[k]; !ok {
			missing = append(missing, "'"+k+"'")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return drbdParams{}, &programmerError{"Error while executing backend function: Block device is missing disk parameters: {" + strings.Join(missing, ", ") + "}"}
	}
	var p drbdParams
	var errs []error
	num := func(k string) int64 {
		v, err := wholeParam(raw[k], k, 0, maxDRBDRate)
		errs = append(errs, err)
		return v
	}
	flag := func(k string) bool {
		b, ok := raw[k].(bool)
		if !ok {
			errs = append(errs, fmt.Errorf("%s must be a boolean, got %s", k, pyStr(raw[k])))
		}
		return b
	}
	text := func(k string) string {
		s, ok := raw[k].(string)
		if !ok {
			errs = append(errs, fmt.Errorf("%s must be a string, got %s", k, pyStr(raw[k])))
		}
		return s
	}
	p.resyncRate = num("resync-rate")
	p.dynamicResync = flag("dynamic-resync")
	p.planAhead, p.fillTarget, p.delayTarget = num("c-plan-ahead"), num("c-fill-target"), num("c-delay-target")
	p.maxRate, p.minRate = num("c-max-rate"), num("c-min-rate")
	p.disabledBarriers, p.noMetaFlush = text("disabled-barriers"), flag("disable-meta-flush")
	p.diskCustom, p.netCustom = text("disk-custom"), text("net-custom")
	p.protocol = text("protocol")
	text("default-metavg") // the master's; checked for its type only
	if err := errors.Join(errs...); err != nil {
		return drbdParams{}, fmt.Errorf("Invalid DRBD disk parameters: %v", err)
	}
	if p.protocol != "A" && p.protocol != "B" && p.protocol != "C" {
		return drbdParams{}, fmt.Errorf("Invalid DRBD disk parameters: protocol must be A, B or C, not %s", pyRepr(p.protocol))
	}
	return p, nil
}

func drbdResource(minor int) string { return "resource" + strconv.Itoa(minor) }
func drbdDevPath(minor int) string  { return "/dev/drbd" + strconv.Itoa(minor) }

func drbdShowCmd(minor int) []string { return []string{"drbdsetup", "show", strconv.Itoa(minor)} }

func drbdInitMetaCmd(minor int, meta string) []string {
	return []string{"drbdmeta", "--force", drbdDevPath(minor), "v08", meta, "flex-external", "create-md"}
}

// drbdValidBarriers are the sets of disabled barriers DRBD accepts:
// b(arrier), d(rain), f(lush), or n(one).
var drbdValidBarriers = []string{"b", "bd", "bdf", "bf", "d", "df", "f", "n"}

// barrierArgs are the attach options of the disabled barriers.
func (p drbdParams) barrierArgs() ([]string, error) {
	set := []rune(p.disabledBarriers)
	slices.Sort(set)
	set = slices.Compact(set)
	if !slices.Contains(drbdValidBarriers, string(set)) {
		return nil, fmt.Errorf("%s is not a valid option set for DRBD barriers", p.disabledBarriers)
	}
	var args []string
	if p.noMetaFlush {
		args = append(args, "--md-flushes=no")
	}
	for _, b := range []struct {
		letter rune
		option string
	}{{'f', "--disk-flushes=no"}, {'d', "--disk-drain=no"}, {'b', "--disk-barrier=no"}} {
		if slices.Contains(set, b.letter) {
			args = append(args, b.option)
		}
	}
	return args, nil
}

// newMinorCmds make the resource and its minor; DRBD accepts both again
// for a minor that exists, so every attach starts with them.
func newMinorCmds(minor int) [][]string {
	return [][]string{
		{"drbdsetup", "new-resource", drbdResource(minor)},
		{"drbdsetup", "new-minor", drbdResource(minor), strconv.Itoa(minor), "0"},
	}
}

// drbdLocalInitCmds attach the data and metadata volumes to the minor,
// limited to size MiB (none when 0).
func drbdLocalInitCmds(minor int, data, meta string, size mebibytes, p drbdParams) ([][]string, error) {
	attach := []string{"drbdsetup", "attach", strconv.Itoa(minor), data, meta, "flexible", "--on-io-error=detach"}
	if size != 0 {
		attach = append(attach, "--size", fmt.Sprintf("%dm", size))
	}
	barriers, err := p.barrierArgs()
	if err != nil {
		return nil, err
	}
	custom, err := pyShlexSplit(p.diskCustom)
	if err != nil {
		return nil, fmt.Errorf("Invalid disk-custom parameter: %v", err)
	}
	attach = append(append(attach, barriers...), custom...)
	return append(newMinorCmds(minor),
		[]string{"drbdmeta", drbdDevPath(minor), "v08", meta, "flex-external", "apply-al"},
		attach), nil
}

// drbdEnd is one end of a DRBD connection: "ipv4:192.0.2.1:11000".
func drbdEnd(family, host string, port int) string {
	return family + ":" + host + ":" + strconv.Itoa(port)
}

// drbdNetInitCmds connect the minor to its peer; dualPrimary lets both
// be primary (live migration), and a secret authenticates the peers.
func drbdNetInitCmds(minor int, family, lhost string, lport int, rhost string, rport int, protocol string,
	dualPrimary bool, secret string, p drbdParams) ([][]string, error) {
	for _, port := range []int{lport, rport} {
		if port < firstDRBDPort || port > lastDRBDPort {
			return nil, fmt.Errorf("drbd%d: port %d outside Ganeti's DRBD ports %d-%d", minor, port, firstDRBDPort, lastDRBDPort)
		}
	}
	connect := []string{"drbdsetup", "connect", drbdResource(minor), drbdEnd(family, lhost, lport), drbdEnd(family, rhost, rport),
		"--protocol", protocol, "--after-sb-0pri", "discard-zero-changes", "--after-sb-1pri", "consensus"}
	if dualPrimary {
		connect = append(connect, "--allow-two-primaries")
	}
	if secret != "" {
		connect = append(connect, "--cram-hmac-alg", drbdHMAC, "--shared-secret", secret)
	}
	custom, err := pyShlexSplit(p.netCustom)
	if err != nil {
		return nil, fmt.Errorf("Invalid net-custom parameter: %v", err)
	}
	return append(newMinorCmds(minor), append(connect, custom...)), nil
}

// drbdHMAC is the peers' authentication, Ganeti's constant.
const drbdHMAC = "md5"

// drbdSyncParamsCmd sets the resync speed: a fixed rate, or DRBD's
// dynamic controller.
func drbdSyncParamsCmd(minor int, p drbdParams) ([]string, error) {
	args := []string{"drbdsetup", "disk-options", strconv.Itoa(minor)}
	if !p.dynamicResync {
		return append(args, "--resync-rate", strconv.FormatInt(p.resyncRate, 10)), nil
	}
	if p.planAhead == 0 {
		// Ganeti runs this message as a command; it is an error here.
		return nil, errors.New("A value of 0 for c-plan-ahead disables the dynamic sync speed controller at DRBD level. If you want to disable it, please set the dynamic-resync disk parameter to False.")
	}
	f := func(v int64) string { return strconv.FormatInt(v, 10) }
	return append(args, "--c-plan-ahead", f(p.planAhead), "--c-fill-target", f(p.fillTarget),
		"--c-delay-target", f(p.delayTarget), "--c-max-rate", f(p.maxRate), "--c-min-rate", f(p.minRate)), nil
}

func drbdMinorCmd(verb string, minor int) []string {
	return []string{"drbdsetup", verb, strconv.Itoa(minor)}
}

func drbdPrimaryCmd(minor int, force bool) []string {
	cmd := drbdMinorCmd("primary", minor)
	if force {
		cmd = append(cmd, "--force")
	}
	return cmd
}

func drbdDisconnectCmd(family, lhost string, lport int, rhost string, rport int) []string {
	return []string{"drbdsetup", "disconnect", drbdEnd(family, lhost, lport), drbdEnd(family, rhost, rport)}
}

func drbdDownCmd(minor int) []string { return []string{"drbdsetup", "down", drbdResource(minor)} }

func drbdResizeCmd(minor int, size mebibytes) []string {
	return []string{"drbdsetup", "resize", strconv.Itoa(minor), "--size", fmt.Sprintf("%dm", size)}
}
