package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// exportInstance is the part of an instance finalize_export records. The
// parameter dictionaries stay raw so that their order and their number
// literals are written as the master sent them.
type exportInstance struct {
	Name            string          `json:"name"`
	PrimaryNode     string          `json:"primary_node"`
	OS              string          `json:"os"`
	Hypervisor      string          `json:"hypervisor"`
	Tags            []string        `json:"tags"`
	NICs            []exportNIC     `json:"nics"`
	BEParams        json.RawMessage `json:"beparams"`
	HVParams        json.RawMessage `json:"hvparams"`
	OSParams        json.RawMessage `json:"osparams"`
	OSParamsPrivate json.RawMessage `json:"osparams_private"`
}

type exportNIC struct {
	MAC       json.RawMessage            `json:"mac"`
	IP        json.RawMessage            `json:"ip"`
	Network   json.RawMessage            `json:"network"`
	Name      json.RawMessage            `json:"name"`
	NICParams map[string]json.RawMessage `json:"nicparams"`
}

// hvGlobalParams are cluster-wide hypervisor parameters an export leaves out.
var hvGlobalParams = map[string]bool{"migration_bandwidth": true, "migration_mode": true, "migration_port": true, "xen_cmd": true}

// rpcFinalizeExport writes config.ini into <export dir>/<instance>.new, where
// the disk transfers put the dumps, and moves that directory over the
// instance's previous export: [instance, snapshot disks or false].
func rpcFinalizeExport(n *node, args []json.RawMessage) (any, error) {
	var inst exportInstance
	var snaps []json.RawMessage
	if err := decodeArgs(args, &inst, &snaps); err != nil {
		return nil, err
	}
	if !hostnamePattern.MatchString(inst.Name) {
		return nil, fmt.Errorf("Invalid instance name '%s'", inst.Name)
	}
	disks := make([]*disk, len(snaps))
	for i, raw := range snaps {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("false")) || bytes.Equal(bytes.TrimSpace(raw), []byte("true")) {
			continue // a disk whose snapshot or transfer failed
		}
		disks[i] = new(disk)
		if err := json.Unmarshal(raw, disks[i]); err != nil {
			return nil, &argError{msg: fmt.Sprintf("snapshot disk %d: %v", i, err)}
		}
	}
	conf, err := exportConfig(&inst, disks, time.Now())
	if err != nil {
		return nil, fmt.Errorf("finalize_export %s: %w", inst.Name, err)
	}
	staging := filepath.Join(n.paths.ExportDir, inst.Name+".new")
	final := filepath.Join(n.paths.ExportDir, inst.Name)
	if err := writeFile(filepath.Join(staging, exportConfFile), conf, 0o600); err != nil {
		return nil, fmt.Errorf("finalize_export %s: %w", inst.Name, err)
	}
	if err := os.RemoveAll(final); err != nil {
		return nil, fmt.Errorf("finalize_export %s: %w", inst.Name, err)
	}
	if err := os.Rename(staging, final); err != nil {
		return nil, fmt.Errorf("finalize_export %s: %w", inst.Name, err)
	}
	return nil, syncDir(n.paths.ExportDir)
}

// exportConfig renders Ganeti's config.ini (export version 0).
func exportConfig(inst *exportInstance, disks []*disk, now time.Time) ([]byte, error) {
	var ini iniWriter
	ini.section("export")
	ini.set("version", "0")
	ini.set("timestamp", strconv.FormatInt(now.Unix(), 10))
	ini.set("source", inst.PrimaryNode)
	ini.set("os", inst.OS)
	ini.set("compression", "none")

	if err := writeInstanceSection(&ini, inst, disks); err != nil {
		return nil, err
	}
	for _, sec := range []struct {
		name string
		raw  json.RawMessage
		skip map[string]bool
	}{{"hypervisor", inst.HVParams, hvGlobalParams}, {"backend", inst.BEParams, nil},
		{"os", inst.OSParams, nil}, {"os_private", inst.OSParamsPrivate, nil}} {
		kvs, err := orderedObject(sec.raw)
		if err != nil {
			return nil, fmt.Errorf("%s parameters: %w", sec.name, err)
		}
		ini.section(sec.name)
		for _, kv := range kvs {
			if !sec.skip[kv.key] {
				ini.set(kv.key, pythonStr(kv.value))
			}
		}
	}
	return ini.bytes(), nil
}

// writeInstanceSection writes the [instance] section: sizes from the
// backend parameters, then the NICs and the disks that were exported.
func writeInstanceSection(ini *iniWriter, inst *exportInstance, disks []*disk) error {
	be, err := orderedObject(inst.BEParams)
	if err != nil {
		return fmt.Errorf("beparams: %w", err)
	}
	ini.section("instance")
	ini.set("name", inst.Name)
	for _, p := range [][2]string{{"maxmem", "maxmem"}, {"minmem", "minmem"}, {"memory", "maxmem"}, {"vcpus", "vcpus"}} {
		v, err := wholeBEParam(be, p[1])
		if err != nil {
			return err
		}
		ini.set(p[0], v)
	}
	ini.set("disk_template", diskTemplateOf(disks))
	ini.set("hypervisor", inst.Hypervisor)
	ini.set("tags", strings.Join(inst.Tags, " "))
	writeExportNICs(ini, inst.NICs)
	writeExportDisks(ini, disks)
	return nil
}

// wholeBEParam is a backend parameter written as Python's %d writes it.
func wholeBEParam(be []keyValue, key string) (string, error) {
	for _, kv := range be {
		if kv.key == key {
			f, err := strconv.ParseFloat(string(kv.value), 64)
			if err != nil {
				return "", fmt.Errorf("beparams %s is not a number: %s", key, kv.value)
			}
			// Written as Python's %d: the fraction is dropped.
			i, err := wholeParam(math.Trunc(f), "beparams "+key, 0, maxMiB)
			if err != nil {
				return "", err
			}
			return strconv.FormatInt(i, 10), nil
		}
	}
	return "", fmt.Errorf("beparams lack %s", key)
}

// writeExportNICs writes nic<i>_* for each NIC, then nic_count.
func writeExportNICs(ini *iniWriter, nics []exportNIC) {
	for i, nic := range nics {
		for _, f := range []struct {
			name  string
			value json.RawMessage
		}{{"mac", nic.MAC}, {"ip", nic.IP}, {"network", nic.Network}, {"name", nic.Name},
			{"link", nic.NICParams["link"]}, {"mode", nic.NICParams["mode"]}, {"vlan", nic.NICParams["vlan"]}} {
			ini.set(fmt.Sprintf("nic%d_%s", i, f.name), pythonStr(f.value))
		}
	}
	ini.set("nic_count", strconv.Itoa(len(nics)))
}

// writeExportDisks writes disk<i>_* for each exported disk, then
// disk_count; a failed disk keeps its index but is not counted.
func writeExportDisks(ini *iniWriter, disks []*disk) {
	count := 0
	for i, d := range disks {
		if d == nil {
			continue
		}
		count++
		name := "None"
		if d.Name != nil {
			name = *d.Name
		}
		ini.set(fmt.Sprintf("disk%d_ivname", i), d.IVName)
		ini.set(fmt.Sprintf("disk%d_dump", i), d.UUID)
		ini.set(fmt.Sprintf("disk%d_size", i), strconv.FormatInt(int64(d.Size), 10))
		ini.set(fmt.Sprintf("disk%d_name", i), name)
	}
	ini.set("disk_count", strconv.Itoa(count))
}

// diskTemplateOf summarises the disks' types as Ganeti does: none is
// diskless, several kinds are mixed.
func diskTemplateOf(disks []*disk) string {
	kinds := map[string]bool{}
	kind := "diskless"
	for _, d := range disks {
		if d != nil {
			kinds[d.DevType] = true
			kind = d.DevType
		}
	}
	if len(kinds) > 1 {
		return "mixed"
	}
	return kind
}

// iniWriter writes what Python's configparser writes: "[section]", then
// "key = value" lines (keys lower-cased, continuation lines indented by a
// tab), and a blank line after each section. A key set twice keeps its
// first place and its last value. The master reads values with "%"
// interpolation, so a literal "%" is written as "%%" (Ganeti 3.0 fails to
// write such a value).
type iniWriter struct {
	sections []string
	keys     map[string][]string
	values   map[string]string
	current  string
}

func (w *iniWriter) section(name string) {
	if w.keys == nil {
		w.keys, w.values = map[string][]string{}, map[string]string{}
	}
	w.sections = append(w.sections, name)
	w.current = name
}

func (w *iniWriter) set(key, value string) {
	key = strings.ToLower(key)
	id := w.current + "\x00" + key
	if _, seen := w.values[id]; !seen {
		w.keys[w.current] = append(w.keys[w.current], key)
	}
	w.values[id] = value
}

func (w *iniWriter) bytes() []byte {
	var b bytes.Buffer
	for _, s := range w.sections {
		fmt.Fprintf(&b, "[%s]\n", s)
		for _, k := range w.keys[s] {
			fmt.Fprintf(&b, "%s = %s\n", k, iniEscape.Replace(w.values[s+"\x00"+k]))
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

var iniEscape = strings.NewReplacer("\n", "\n\t", "%", "%%")

type keyValue struct {
	key   string
	value json.RawMessage
}

// orderedObject lists a JSON object's members in the order they were sent;
// null or absent is an empty object.
func orderedObject(raw json.RawMessage) ([]keyValue, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []keyValue
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, keyValue{t.(string), v})
	}
	return out, nil
}

// pythonStr renders a JSON value as Python's str() renders the decoded
// value, which is what Ganeti writes into config.ini.
func pythonStr(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "None"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	if s, ok := v.(string); ok {
		return s
	}
	return pythonRepr(v)
}

func pythonRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'"
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			return s
		}
		f, err := v.Float64()
		if err != nil {
			return s
		}
		if f == float64(int64(f)) && f < 1e16 && f > -1e16 {
			return strconv.FormatFloat(f, 'f', 1, 64)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = pythonRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		parts := make([]string, 0, len(v))
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, pythonRepr(k)+": "+pythonRepr(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
