package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// runGanetiHVValidate runs testdata/hv-validate.py with input on stdin.
func runGanetiHVValidate(t *testing.T, mode string, input any) []byte {
	t.Helper()
	var data []byte
	if input != nil {
		var err error
		if data, err = json.Marshal(input); err != nil {
			t.Fatal(err)
		}
	}
	return runGanetiPythonArgs(t, data, "testdata/hv-validate.py", mode)
}

var oneOfList = regexp.MustCompile(`The value must be one of: (.*) \(current value`)

// sortOneOf sorts the list of a "must be one of" message: Ganeti prints
// its sets in hash order, which changes from run to run.
func sortOneOf(msg string) string {
	return oneOfList.ReplaceAllStringFunc(msg, func(m string) string {
		list := oneOfList.FindStringSubmatch(m)[1]
		values := strings.Split(list, ", ")
		sort.Strings(values)
		return strings.Replace(m, list, strings.Join(values, ", "), 1)
	})
}

// TestHVParamsAgainstGaneti: for every hypervisor but KVM (its checks
// run qemu; TestHypervisorValidateParams has them), Ganeti's defaults and
// a bad value for each check get the answer Ganeti 3.0's own code gives
// on this node: the master's syntax check, then the node's.
func TestHVParamsAgainstGaneti(t *testing.T) {
	var defaults map[string]map[string]any
	if err := json.Unmarshal(runGanetiHVValidate(t, "defaults", nil), &defaults); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	// Parameter sets that pass the node's file checks start from these.
	onNode := map[string]map[string]any{
		"xen-pvm": {"kernel_path": file},
		"xen-hvm": {"kernel_path": file, "device_model": file, "vnc_password_file": file},
	}
	const del = "<delete>"
	cases := []struct {
		hv      string
		raw     bool // Ganeti's defaults as they are, without onNode
		changes map[string]any
	}{
		{hv: "fake"},
		{hv: "fake", changes: map[string]any{"migration_mode": ""}},
		{hv: "fake", changes: map[string]any{"migration_mode": "fast"}},
		{hv: "fake", changes: map[string]any{"migration_mode": del}},
		{hv: "vmware"},

		{hv: "chroot"},
		{hv: "chroot", changes: map[string]any{"init_script": ""}},
		{hv: "chroot", changes: map[string]any{"init_script": "ganeti-chroot"}},
		{hv: "chroot", changes: map[string]any{"init_script": "/sbin/../init"}},
		{hv: "chroot", changes: map[string]any{"init_script": "/sbin/init/"}},
		{hv: "chroot", changes: map[string]any{"init_script": "//sbin/init"}},
		{hv: "chroot", changes: map[string]any{"init_script": "///sbin/init"}},
		{hv: "chroot", changes: map[string]any{"init_script": del}},

		{hv: "lxc"},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "0-2,5"}},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "all"}},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "2-1"}},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "0:1"}},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "1-2-3"}},
		{hv: "lxc", changes: map[string]any{"cpu_mask": "0,,1"}},
		{hv: "lxc", changes: map[string]any{"num_ttys": 0}},
		{hv: "lxc", changes: map[string]any{"num_ttys": -1}},
		{hv: "lxc", changes: map[string]any{"num_ttys": ""}},
		{hv: "lxc", changes: map[string]any{"startup_timeout": -5}},
		{hv: "lxc", changes: map[string]any{"startup_timeout": ""}},
		{hv: "lxc", changes: map[string]any{"devices": del}},

		{hv: "xen-pvm", raw: true},
		{hv: "xen-pvm"},
		{hv: "xen-pvm", changes: map[string]any{"root_path": "/dev/sda5"}},
		{hv: "xen-pvm", changes: map[string]any{"kernel_path": ""}},
		{hv: "xen-pvm", changes: map[string]any{"kernel_path": "vmlinuz"}},
		{hv: "xen-pvm", changes: map[string]any{"kernel_path": dir}},
		{hv: "xen-pvm", changes: map[string]any{"bootloader_path": "/nonexistent/pygrub"}},
		{hv: "xen-pvm", changes: map[string]any{"bootloader_path": file, "use_bootloader": true}},
		{hv: "xen-pvm", changes: map[string]any{"initrd_path": "/boot/../initrd"}},
		{hv: "xen-pvm", changes: map[string]any{"initrd_path": "/nonexistent/initrd"}},
		{hv: "xen-pvm", changes: map[string]any{"migration_port": 0}},
		{hv: "xen-pvm", changes: map[string]any{"migration_port": 65535}},
		{hv: "xen-pvm", changes: map[string]any{"migration_port": 65534}},
		{hv: "xen-pvm", changes: map[string]any{"migration_mode": "fast"}},
		{hv: "xen-pvm", changes: map[string]any{"reboot_behavior": "halt"}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_mask": "0-1:3:all"}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_mask": "0::1"}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_mask": "3-1"}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_mask": "x"}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_cap": -1}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_weight": 0}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_weight": 65535}},
		{hv: "xen-pvm", changes: map[string]any{"cpu_weight": 65536}},
		{hv: "xen-pvm", changes: map[string]any{"vif_script": "/nonexistent/vif"}},
		{hv: "xen-pvm", changes: map[string]any{"xen_cmd": "xe"}},
		{hv: "xen-pvm", changes: map[string]any{"xen_cmd": ""}},
		{hv: "xen-pvm", changes: map[string]any{"xen_cmd": "xl"}},
		{hv: "xen-pvm", changes: map[string]any{"soundhw": del}},

		{hv: "xen-hvm", raw: true},
		{hv: "xen-hvm"},
		{hv: "xen-hvm", changes: map[string]any{"acpi": false, "pae": true}},
		{hv: "xen-hvm", changes: map[string]any{"boot_order": ""}},
		{hv: "xen-hvm", changes: map[string]any{"boot_order": "cdx"}},
		{hv: "xen-hvm", changes: map[string]any{"boot_order": "c d"}},
		{hv: "xen-hvm", changes: map[string]any{"boot_order": "ndca"}},
		{hv: "xen-hvm", changes: map[string]any{"cdrom_image_path": "http://example.com/x.iso"}},
		{hv: "xen-hvm", changes: map[string]any{"cdrom_image_path": "/nonexistent/x.iso"}},
		{hv: "xen-hvm", changes: map[string]any{"cdrom_image_path": file}},
		{hv: "xen-hvm", changes: map[string]any{"disk_type": "scsi"}},
		{hv: "xen-hvm", changes: map[string]any{"nic_type": "virtio"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": "::1"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": "1.2.3"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": "01.2.3.4"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": "::ffff:1.2.3.4"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": "127.0.0.1"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_bind_address": ""}},
		{hv: "xen-hvm", changes: map[string]any{"kernel_path": "/nonexistent/hvmloader"}},
		{hv: "xen-hvm", changes: map[string]any{"device_model": "/nonexistent/qemu-dm"}},
		{hv: "xen-hvm", changes: map[string]any{"device_model": "qemu-dm"}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_password_file": ""}},
		{hv: "xen-hvm", changes: map[string]any{"vnc_password_file": dir}},
		{hv: "xen-hvm", changes: map[string]any{"migration_port": 65535}},
		{hv: "xen-hvm", changes: map[string]any{"migration_mode": ""}},
		{hv: "xen-hvm", changes: map[string]any{"reboot_behavior": "halt"}},
		{hv: "xen-hvm", changes: map[string]any{"cpu_mask": "0-"}},
		{hv: "xen-hvm", changes: map[string]any{"cpu_cap": -1}},
		{hv: "xen-hvm", changes: map[string]any{"cpu_weight": 65535}},
		{hv: "xen-hvm", changes: map[string]any{"cpu_weight": 65534}},
		{hv: "xen-hvm", changes: map[string]any{"vif_type": "tap"}},
		{hv: "xen-hvm", changes: map[string]any{"vif_type": ""}},
		{hv: "xen-hvm", changes: map[string]any{"vif_script": file}},
		{hv: "xen-hvm", changes: map[string]any{"xen_cmd": "xe"}},
		{hv: "xen-hvm", changes: map[string]any{"cpuid": del}},
	}
	type pyCase struct {
		HV     string         `json:"hv"`
		Params map[string]any `json:"params"`
	}
	var inputs []pyCase
	for _, c := range cases {
		p := map[string]any{}
		for k, v := range defaults[c.hv] {
			p[k] = v
		}
		if !c.raw {
			for k, v := range onNode[c.hv] {
				p[k] = v
			}
		}
		for k, v := range c.changes {
			if v == del {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		inputs = append(inputs, pyCase{c.hv, p})
	}
	var want []*string
	if err := json.Unmarshal(runGanetiHVValidate(t, "check", inputs), &want); err != nil || len(want) != len(cases) {
		t.Fatalf("hv-validate.py gave %d answers for %d cases: %v", len(want), len(cases), err)
	}
	n, _ := newTestNode(t)
	for i, in := range inputs {
		r := call(t, n, "hypervisor_validate_params", in.HV, in.Params)
		var got string
		if !r.OK {
			json.Unmarshal(r.Result, &got)
		}
		exp := ""
		if want[i] != nil {
			exp = sortOneOf(*want[i])
		}
		if r.OK != (want[i] == nil) || sortOneOf(got) != exp {
			t.Errorf("%s %v: got ok=%v %q, Ganeti %q", in.HV, cases[i].changes, r.OK, got, exp)
		}
	}
}

// hvNumber, hvInt and the syntax checks read one range: a value the
// checks pass is the value used, and none converts past int's range.
func TestHVNumberRange(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int
		ok   bool
	}{
		{float64(4096), 4096, true},
		{float64(1 << 32), 1 << 32, true}, // once read as 0 (unset)
		{float64(hvMaxInt), hvMaxInt, true},
		{float64(1 << 63), 0, false},
		{-float64(1 << 63), 0, false},
		{1.5, 0, false},
		{"12", 0, false},
	} {
		n, ok := hvNumber(tc.v)
		if ok != tc.ok || ok && n != tc.want {
			t.Errorf("hvNumber(%v) = %d, %v; want %d, %v", tc.v, n, ok, tc.want, tc.ok)
		}
		if got := hvInt(map[string]any{"k": tc.v}, "k"); got != tc.want {
			t.Errorf("hvInt(%v) = %d, want %d", tc.v, got, tc.want)
		}
		check := hvNonNegCheck("k", true)
		if check.syntax(tc.v) != (tc.ok && tc.want >= 0) {
			t.Errorf("non-negative check of %v: %v", tc.v, check.syntax(tc.v))
		}
	}
	// A bandwidth the checks pass but whose bytes overflow is refused.
	if _, err := checkedMul(int64(hvInt(map[string]any{"b": float64(hvMaxInt)}, "b")), 1<<20, "bandwidth"); err == nil {
		t.Error("2^53 MiB/s in bytes did not overflow")
	}
}

// noValidatorHV is a hypervisor module without parameter checks.
type noValidatorHV struct{ hypervisor }

// A module without a paramValidator is refused, not trusted.
func TestValidateHVParamsRefusesUncheckedModule(t *testing.T) {
	n, _ := newTestNode(t)
	hvModules["unchecked-hv"] = func(n *node) any { return noValidatorHV{&fakeHypervisor{n: n, dir: n.paths.FakeHVDir}} }
	defer delete(hvModules, "unchecked-hv")
	mustFailWith(t, call(t, n, "hypervisor_validate_params", "unchecked-hv", map[string]any{"kernel_path": "relative; rm -rf /"}),
		"Hypervisor 'unchecked-hv' has no parameter checks on this node")
}

// Every registered hypervisor checks its parameters.
func TestEveryHVModuleValidates(t *testing.T) {
	n, _ := newTestNode(t)
	for name, module := range hvModules {
		if _, ok := module(n).(paramValidator); !ok {
			t.Errorf("hypervisor module %q has no paramValidator", name)
		}
	}
}
