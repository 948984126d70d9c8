package main

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rpcNodeVerify runs the checks the master asks for: [what, cluster_name,
// all_hvparams] → {check: result}. Checks run in Ganeti's order; those
// marked vm are skipped on nodes listed in "nonvmnodes".
func rpcNodeVerify(n *node, args []json.RawMessage) (any, error) {
	var what map[string]json.RawMessage
	var clusterName string
	var allHV map[string]map[string]any
	if err := decodeArgs(args, &what, &clusterName, &allHV); err != nil {
		return nil, err
	}
	v := &verifier{n: n, what: what, clusterName: clusterName, allHV: allHV, result: map[string]any{}}
	v.myName = n.fqdn()
	var nonVM []string
	if err := v.arg("nonvmnodes", &nonVM); err != nil {
		return nil, err
	}
	v.vmCapable = !slices.Contains(nonVM, v.myName)
	for _, c := range verifyChecks {
		raw, asked := what[c.key]
		if !asked || (c.vm && !v.vmCapable) {
			continue
		}
		if err := c.run(v, raw); err != nil {
			return nil, err
		}
	}
	return v.result, nil
}

// verifier carries one node_verify call.
type verifier struct {
	n           *node
	what        map[string]json.RawMessage
	clusterName string
	allHV       map[string]map[string]any
	myName      string
	vmCapable   bool
	result      map[string]any
}

// arg decodes the master's value for key into dst (absent: left as is).
func (v *verifier) arg(key string, dst any) error {
	raw, ok := v.what[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("node_verify: bad value for %s: %v", key, err)
	}
	return nil
}

// verifyCheck is one key of node_verify's "what" dict.
type verifyCheck struct {
	key string
	vm  bool // only on vm-capable nodes
	run func(v *verifier, raw json.RawMessage) error
}

// verifyChecks in Ganeti's order (it matters for "time" and for which
// failure surfaces first).
var verifyChecks = []verifyCheck{
	{"hypervisor", true, (*verifier).checkHypervisors},
	{"hvparms", true, (*verifier).checkHVParams},
	{"filelist", false, (*verifier).checkFileList},
	{"client-cert", false, (*verifier).checkClientCert},
	{"ssh-setup", false, (*verifier).checkSSHSetup},
	{"nodelist", false, (*verifier).checkNodeList},
	{"node-net-test", false, (*verifier).checkNetTest},
	{"master-ip", false, (*verifier).checkMasterIP},
	{"user-scripts", false, (*verifier).checkUserScripts},
	{"oob-paths", false, (*verifier).checkOOBPaths},
	{"lvlist", true, (*verifier).checkLVList},
	{"instancelist", true, (*verifier).checkInstanceList},
	{"vglist", true, (*verifier).checkVGList},
	{"pvlist", true, (*verifier).checkPVList},
	{"version", false, func(v *verifier, _ json.RawMessage) error {
		v.result["version"] = []any{protocolVersion, releaseVersion}
		return nil
	}},
	{"hvinfo", true, (*verifier).checkHVInfo},
	{"drbd-version", true, (*verifier).checkDRBDVersion},
	{"drbd-list", true, (*verifier).checkDRBDList},
	{"drbd-helper", true, (*verifier).checkDRBDHelper},
	{"nodesetup", false, (*verifier).checkNodeSetup},
	{"time", false, func(v *verifier, _ json.RawMessage) error {
		us := time.Now().UnixMicro()
		v.result["time"] = []int64{us / 1e6, us % 1e6}
		return nil
	}},
	{"oslist", true, func(v *verifier, _ json.RawMessage) error {
		v.result["oslist"] = v.n.diagnoseOS()
		return nil
	}},
	{"bridges", true, (*verifier).checkBridges},
	{"allowed-file-storage-paths", false, (*verifier).checkAllowedFileStoragePaths},
	{"file-storage-path", false, func(v *verifier, raw json.RawMessage) error {
		return v.checkStorageDir("file-storage-path", raw)
	}},
	{"shared-file-storage-path", false, func(v *verifier, raw json.RawMessage) error {
		return v.checkStorageDir("shared-file-storage-path", raw)
	}},
}

func (v *verifier) checkHypervisors(raw json.RawMessage) error {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return fmt.Errorf("node_verify: bad hypervisor list: %v", err)
	}
	out := map[string]any{}
	for _, name := range names {
		hv, err := v.n.hypervisorFor(name)
		if err != nil {
			out[name] = "Error while checking hypervisor: " + err.Error()
			continue
		}
		if msg := hv.Verify(v.allHV[name]); msg != "" {
			out[name] = msg
		} else {
			out[name] = nil
		}
	}
	v.result["hypervisor"] = out
	return nil
}

func (v *verifier) checkHVParams(raw json.RawMessage) error {
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return fmt.Errorf("node_verify: bad hvparms: %v", err)
	}
	out := [][]any{}
	for _, e := range entries {
		var source, hvName string
		var params map[string]any
		if err := decodeTuple(e, &source, &hvName, &params); err != nil {
			return fmt.Errorf("node_verify: hvparms entries must be [source, hypervisor, params]: %v", err)
		}
		if err := v.n.validateHVParams(hvName, params); err != nil {
			var pe *hvParamError
			if !errors.As(err, &pe) {
				return err
			}
			out = append(out, []any{source, hvName, pe.msg})
		}
	}
	v.result["hvparms"] = out
	return nil
}

// checkFileList answers the SHA-1 of each listed regular file; missing
// files are left out.
func (v *verifier) checkFileList(raw json.RawMessage) error {
	var files []string
	if err := json.Unmarshal(raw, &files); err != nil {
		return fmt.Errorf("node_verify: bad filelist: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		path := v.n.paths.localize(f)
		if !fileIsRegular(path) {
			continue
		}
		sum, err := sha1File(path)
		if err != nil {
			return err
		}
		out[f] = sum
	}
	v.result["filelist"] = out
	return nil
}

func sha1File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// certExpiryGrace is how far ahead Ganeti looks when judging validity.
const certExpiryGrace = 150 * time.Second

// checkClientCert validates the node's client certificate: [null, digest]
// when fine, else ["ERROR"|"WARNING", message].
func (v *verifier) checkClientCert(json.RawMessage) error {
	v.result["client-cert"] = clientCertStatus(v.n.paths.NodedClientCertFile, time.Now())
	return nil
}

func clientCertStatus(path string, now time.Time) []any {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		return []any{"ERROR", "The client certificate does not exist. Run 'gnt-cluster renew-crypto --new-node-certificates' to create client certificates for all nodes."}
	}
	var cert *x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return []any{"ERROR", fmt.Sprintf("Failed to load X509 certificate %s: no certificate found", path)}
		}
		if b.Type == "CERTIFICATE" {
			if cert, err = x509.ParseCertificate(b.Bytes); err != nil {
				return []any{"ERROR", fmt.Sprintf("Failed to load X509 certificate %s: %v", path, err)}
			}
			break
		}
	}
	now = now.Add(certExpiryGrace)
	const stamp = "2006-01-02 15:04:05"
	var errs, warns []string
	switch {
	case now.After(cert.NotAfter):
		errs = append(errs, fmt.Sprintf("Certificate is expired (valid from %s to %s)", cert.NotBefore.Local().Format(stamp), cert.NotAfter.Local().Format(stamp)))
	case now.Before(cert.NotBefore):
		warns = append(warns, fmt.Sprintf("Certificate not yet valid (valid from %s)", cert.NotBefore.Local().Format(stamp)))
	default:
		days := int(cert.NotAfter.Sub(now).Hours() / 24)
		msg := fmt.Sprintf("Certificate expires in about %d days", days)
		if days <= 7 {
			errs = append(errs, msg)
		} else if days <= 30 {
			warns = append(warns, msg)
		}
	}
	if cert.SignatureAlgorithm == x509.SHA1WithRSA {
		warns = append(warns, "weak signature algorithm 'sha1WithRSAEncryption', consider running gnt-cluster renew-crypto")
	}
	if pub, ok := cert.PublicKey.(interface{ Size() int }); ok && pub.Size()*8 < 2048 {
		warns = append(warns, fmt.Sprintf("weak public/private keypair: %d bits, should be at least 2048 bits, consider running gnt-cluster renew-crypto", pub.Size()*8))
	}
	if len(errs) > 0 {
		return []any{"ERROR", fmt.Sprintf("While verifying %s: %s", path, strings.Join(errs, ", "))}
	}
	if len(warns) > 0 {
		return []any{"WARNING", fmt.Sprintf("While verifying %s: %s", path, strings.Join(warns, ", "))}
	}
	if cert.Subject.CommonName == cert.Issuer.CommonName {
		return []any{"WARNING", fmt.Sprintf("The certificate '%s' is self-signed. Please run 'gnt-cluster renew-crypto --new-node-certificates' to get a properly signed certificate.", path)}
	}
	return []any{nil, certDigest(cert)}
}

// netTestTimeout is Ganeti's TCP reachability timeout.
const netTestTimeout = 10 * time.Second

// tcpPing connects to ip:port from source (may be empty); a refused
// connection still proves the address answers.
func tcpPing(ip string, port int, source string) bool {
	d := net.Dialer{Timeout: netTestTimeout}
	if source != "" {
		if sip := net.ParseIP(source); sip != nil {
			d.LocalAddr = &net.TCPAddr{IP: sip}
		}
	}
	c, err := d.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err == nil {
		c.Close()
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if source != "" && errors.Is(err, syscall.EADDRNOTAVAIL) {
		return tcpPing(ip, port, "") // Ganeti ignores bind errors
	}
	return false
}

func (v *verifier) nodedPort() int {
	return daemonPort(&options{}, v.n.paths.ServicesFile)
}

func (v *verifier) checkNetTest(raw json.RawMessage) error {
	var nodes [][]string
	var mcs []string
	if decodeTuple(raw, &nodes, &mcs) != nil {
		return errors.New("node_verify: node-net-test must be [nodes, master_candidates]")
	}
	out := map[string]string{}
	v.result["node-net-test"] = out
	if !slices.Contains(mcs, v.myName) {
		return nil
	}
	var myPIP, mySIP string
	for _, nd := range nodes {
		if len(nd) == 3 && nd[0] == v.myName {
			myPIP, mySIP = nd[1], nd[2]
		}
	}
	if myPIP == "" {
		out[v.myName] = "Can't find my own primary/secondary IP in the node list"
		return nil
	}
	port := v.nodedPort()
	for _, nd := range nodes {
		if len(nd) != 3 {
			return errors.New("node_verify: node-net-test nodes must be [name, primary, secondary]")
		}
		name, pip, sip := nd[0], nd[1], nd[2]
		if net.ParseIP(pip) == nil || net.ParseIP(sip) == nil {
			return fmt.Errorf("node_verify: invalid address for node %s", name)
		}
		if tcpPing(pip, port, myPIP) {
			continue
		}
		if sip != pip && tcpPing(sip, port, mySIP) {
			out[name] = "failure using the primary interface(s)"
		} else {
			out[name] = "failure using the primary and secondary interface(s)"
		}
	}
	return nil
}

func (v *verifier) checkMasterIP(raw json.RawMessage) error {
	var masterName, masterIP string
	var mcs []string
	if decodeTuple(raw, &masterName, &masterIP, &mcs) != nil {
		return errors.New("node_verify: master-ip must be [master_name, master_ip, master_candidates]")
	}
	if !slices.Contains(mcs, v.myName) {
		v.result["master-ip"] = nil
		return nil
	}
	if net.ParseIP(masterIP) == nil {
		return fmt.Errorf("node_verify: invalid master IP '%s'", masterIP)
	}
	source := ""
	if masterName == v.myName {
		source = "127.0.0.1"
		if strings.Contains(masterIP, ":") {
			source = "::1"
		}
	}
	v.result["master-ip"] = tcpPing(masterIP, v.nodedPort(), source)
	return nil
}

func (v *verifier) checkUserScripts(raw json.RawMessage) error {
	var scripts []string
	if err := json.Unmarshal(raw, &scripts); err != nil {
		return fmt.Errorf("node_verify: bad user-scripts: %v", err)
	}
	bad := []string{}
	for _, s := range scripts {
		if !fileIsRegular(s) || syscall.Access(s, 1) != nil {
			bad = append(bad, s)
		}
	}
	v.result["user-scripts"] = bad
	return nil
}

func (v *verifier) checkOOBPaths(raw json.RawMessage) error {
	var paths []string
	if err := json.Unmarshal(raw, &paths); err != nil {
		return fmt.Errorf("node_verify: bad oob-paths: %v", err)
	}
	out := []any{}
	for _, p := range paths {
		out = append(out, oobPathProblem(p))
	}
	v.result["oob-paths"] = out
	return nil
}

// oobPathProblem is nil for a usable out-of-band helper, else why not.
func oobPathProblem(p string) any {
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return fmt.Sprintf("error stating out of band helper: %v", err)
	case !st.Mode().IsRegular():
		return fmt.Sprintf("out of band helper %s is not a file", p)
	case st.Mode().Perm()&0o100 == 0:
		return fmt.Sprintf("out of band helper %s is not executable", p)
	}
	return nil
}

func (v *verifier) checkInstanceList(raw json.RawMessage) error {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return fmt.Errorf("node_verify: bad instancelist: %v", err)
	}
	all := []string{}
	for _, name := range names {
		hv, err := v.n.hypervisorFor(name)
		if err == nil {
			var list []string
			if list, err = hv.ListInstances(v.allHV[name]); err == nil {
				all = append(all, list...)
				continue
			}
		}
		v.result["instancelist"] = fmt.Sprintf("Error enumerating instances (hypervisor %s): %v", name, err)
		return nil
	}
	v.result["instancelist"] = all
	return nil
}

func (v *verifier) checkHVInfo(raw json.RawMessage) error {
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return fmt.Errorf("node_verify: bad hvinfo: %v", err)
	}
	hv, err := v.n.hypervisorFor(name)
	if err != nil {
		return err
	}
	info, err := hv.NodeInfo(v.allHV[name])
	if err != nil {
		return err
	}
	v.result["hvinfo"] = info
	return nil
}

func (v *verifier) checkNodeSetup(json.RawMessage) error {
	out := []string{}
	if !isDir(v.n.paths.SysBlockDir) || !isDir(v.n.paths.SysClassNet) {
		out = append(out, "The sysfs filesytem doesn't seem to be mounted under /sys, missing required directories /sys/block and /sys/class/net")
	}
	if !isDir(v.n.paths.ProcSysDir) || !fileIsRegular(v.n.paths.SysrqTrigger) {
		out = append(out, "The procfs filesystem doesn't seem to be mounted under /proc, missing required directory /proc/sys and the file /proc/sysrq-trigger")
	}
	v.result["nodesetup"] = out
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func (v *verifier) checkBridges(raw json.RawMessage) error {
	var bridges []string
	if err := json.Unmarshal(raw, &bridges); err != nil {
		return fmt.Errorf("node_verify: bad bridges: %v", err)
	}
	missing := []string{}
	for _, b := range bridges {
		if !v.n.bridgeExists(b) {
			missing = append(missing, b)
		}
	}
	v.result["bridges"] = missing
	return nil
}

// fqdn is the node's fully qualified name, lower-case, as Ganeti compares
// it with the names the master sends.
func (n *node) fqdn() string {
	name := n.hostname()
	if !strings.Contains(name, ".") && n.paths.Hostname == "" {
		if addrs, err := net.LookupHost(name); err == nil && len(addrs) > 0 {
			if names, err := net.LookupAddr(addrs[0]); err == nil {
				for _, nm := range names {
					if strings.Contains(strings.TrimSuffix(nm, "."), ".") {
						name = nm
						break
					}
				}
			}
		}
	}
	return strings.ToLower(strings.TrimRight(name, "."))
}

// shuffle puts a copy of names in random order (Ganeti spreads ssh checks).
func shuffle(names []string) []string {
	out := slices.Clone(names)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
