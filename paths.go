package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Constants of Debian's Ganeti 3.0 build (_constants.py and pathutils.py of
// the installed package). Every path the daemon touches is derived here.
const (
	releaseVersion    = "3.0.2"
	protocolVersion   = 3000000
	daemonName        = "ganeti-noded"
	defaultNodedPort  = 1811
	ssconfFilePrefix  = "ssconf_"
	cryptoBootstrap   = "bootstrap"
	virtualPathPrefix = "/###-VIRTUAL-PATH-###,"

	pkgLibDir = "/usr/lib/ganeti"
	toolsDir  = pkgLibDir + "/tools"
)

// layout holds every node-local path, optionally below a virtual-cluster
// root (GANETI_ROOTDIR). Handlers take paths from here and nowhere else, so
// tests can run a whole node inside a temporary directory, in parallel with
// other nodes. Left out, as fixed kernel interfaces rather than places:
// /proc's process entries (/proc/self, /proc/<pid>, the scan of /proc for
// the uid pool), /sys/devices/system/cpu/online, /dev/net/tun, /dev/zero,
// and the system directories file storage may never use.
type layout struct {
	Root     string // "" on a real node
	Hostname string // the virtual hostname, "" on a real node

	SysconfDir string // /etc
	ConfDir    string // /etc/ganeti
	EtcHosts   string
	DataDir    string // /var/lib/ganeti
	RunDir     string // /var/run/ganeti
	LogDir     string // /var/log/ganeti
	LockDir    string // /var/lock

	ExportDir             string
	FileStorageDir        string
	SharedFileStorageDir  string
	GlusterStorageDir     string
	XenConfigDir          string
	QueueDir              string
	QueueArchiveDir       string
	QueueLockFile         string
	QueueVersionFile      string
	QueueSerialFile       string
	QueueDrainFile        string
	NodedCertFile         string
	NodedClientCertFile   string
	ClusterConfFile       string
	RapiCertFile          string
	RapiUsersFile         string
	SpiceCertFile         string
	SpiceCACertFile       string
	ConfdHmacKey          string
	ClusterDomainSecret   string
	KnownHostsFile        string
	VncPasswordFile       string
	SsconfLockFile        string
	WatcherPauseFile      string
	PidFile               string
	LogFile               string
	FileStoragePathsFile  string
	RestrictedCommandsDir string
	HooksBaseDir          string

	// Hypervisors.
	FakeHVDir         string // /var/run/ganeti/fake-hypervisor
	KVMRunDir         string // /var/run/ganeti/kvm-hypervisor
	KVMLogDir         string // /var/log/ganeti/kvm, qemu's -D logs
	KvmdPidFile       string // /var/run/ganeti/ganeti-kvmd.pid
	KVMIfup           string // /usr/lib/ganeti/kvm-ifup, never below the root
	KVMConsoleWrapper string // /usr/lib/ganeti/tools/kvm-console-wrapper, never below the root

	// Programs, search paths and system files. None moves below
	// GANETI_ROOTDIR (Ganeti runs the installed tools and reads the running
	// kernel's files in a virtual cluster too); tests point them at
	// stand-ins in their own node's layout.
	DaemonUtil           string   // /usr/lib/ganeti/daemon-util
	MasterIPSetup        string   // /usr/lib/ganeti/tools/master-ip-setup, the default script
	IPCommand            string   // /bin/ip
	SSHUpdateTool        string   // /usr/lib/ganeti/ssh-update, run on other nodes over ssh
	SSHDir               string   // root's ~/.ssh
	OSSearchPath         []string // where OS definitions are looked for
	ExtStorageSearchPath []string // where ExtStorage providers are looked for
	IallocatorSearchPath []string // where allocator plugins are looked for
	SysClassNet          string   // the kernel's network interfaces
	SysBlockDir          string   // the kernel's block devices
	ProcSysDir           string   // /proc/sys
	SysrqTrigger         string   // node_powercycle writes "b" here
	ProcMeminfo          string
	ProcCPUinfo          string
	BootIDFile           string // changes on every boot; the master notices reboots by it
	VhostNetDevice       string // the kernel's virtio-net accelerator
	ServicesFile         string // /etc/services, for the node daemon's port
	DRBDProcFile         string // where the DRBD module reports itself; absent when not loaded
	DRBDHelperFile       string // the DRBD module's usermode helper
}

// newLayout builds the paths below root ("" for a real node).
func newLayout(root, hostname string) *layout {
	p := func(path string) string {
		if root == "" {
			return path
		}
		return filepath.Join(root, path)
	}
	l := &layout{Root: root, Hostname: hostname}
	l.SysconfDir = p("/etc")
	l.ConfDir = l.SysconfDir + "/ganeti"
	// Ganeti leaves /etc/hosts unprefixed in a virtual cluster; we prefix it
	// so that a test node never edits the host's real file.
	l.EtcHosts = p("/etc/hosts")
	l.DataDir = p("/var/lib/ganeti")
	l.RunDir = p("/var/run/ganeti")
	l.LogDir = p("/var/log/ganeti")
	l.LockDir = p("/var/lock")
	l.ExportDir = p("/var/lib/ganeti/export")
	l.FileStorageDir = p("/srv/ganeti/file-storage")
	l.SharedFileStorageDir = p("/srv/ganeti/shared-file-storage")
	l.GlusterStorageDir = p("/var/run/ganeti/gluster")
	l.XenConfigDir = p("/etc/xen")
	l.QueueDir = l.DataDir + "/queue"
	l.QueueArchiveDir = l.QueueDir + "/archive"
	l.QueueLockFile = l.QueueDir + "/lock"
	l.QueueVersionFile = l.QueueDir + "/version"
	l.QueueSerialFile = l.QueueDir + "/serial"
	l.QueueDrainFile = l.QueueDir + "/drain"
	l.NodedCertFile = l.DataDir + "/server.pem"
	l.NodedClientCertFile = l.DataDir + "/client.pem"
	l.ClusterConfFile = l.DataDir + "/config.data"
	l.RapiCertFile = l.DataDir + "/rapi.pem"
	l.RapiUsersFile = l.DataDir + "/rapi/users"
	l.SpiceCertFile = l.DataDir + "/spice.pem"
	l.SpiceCACertFile = l.DataDir + "/spice-ca.pem"
	l.ConfdHmacKey = l.DataDir + "/hmac.key"
	l.ClusterDomainSecret = l.DataDir + "/cluster-domain-secret"
	l.KnownHostsFile = l.DataDir + "/known_hosts"
	l.VncPasswordFile = l.ConfDir + "/vnc-cluster-password"
	l.SsconfLockFile = l.LockDir + "/ganeti-ssconf.lock"
	l.WatcherPauseFile = l.DataDir + "/watcher.pause"
	l.PidFile = l.RunDir + "/" + daemonName + ".pid"
	l.LogFile = l.LogDir + "/node-daemon.log"
	l.FileStoragePathsFile = l.ConfDir + "/file-storage-paths"
	l.RestrictedCommandsDir = l.ConfDir + "/restricted-commands"
	l.HooksBaseDir = l.ConfDir + "/hooks"

	// Hypervisors.
	l.FakeHVDir = l.RunDir + "/fake-hypervisor"
	l.KVMRunDir = l.RunDir + "/kvm-hypervisor"
	l.KVMLogDir = l.LogDir + "/kvm"
	l.KvmdPidFile = l.RunDir + "/ganeti-kvmd.pid"
	// Ganeti's helper scripts are installed once per machine: a virtual
	// cluster's nodes share them.
	l.KVMIfup = pkgLibDir + "/kvm-ifup"
	l.KVMConsoleWrapper = toolsDir + "/kvm-console-wrapper"

	// Programs, search paths and system files.
	l.DaemonUtil = pkgLibDir + "/daemon-util"
	l.MasterIPSetup = toolsDir + "/master-ip-setup"
	l.IPCommand = "/bin/ip"
	l.SSHUpdateTool = pkgLibDir + "/ssh-update"
	l.SSHDir = "/root/.ssh"
	l.OSSearchPath = []string{"/srv/ganeti/os", "/usr/local/lib/ganeti/os", "/usr/lib/ganeti/os", "/usr/share/ganeti/os"}
	l.ExtStorageSearchPath = []string{"/srv/ganeti/extstorage", "/usr/local/lib/ganeti/extstorage", "/usr/lib/ganeti/extstorage", "/usr/share/ganeti/extstorage"}
	l.IallocatorSearchPath = []string{"/usr/local/lib/ganeti/iallocators", "/usr/lib/ganeti/iallocators"}
	l.SysClassNet = "/sys/class/net"
	l.SysBlockDir = "/sys/block"
	l.ProcSysDir = "/proc/sys"
	l.SysrqTrigger = "/proc/sysrq-trigger"
	l.ProcMeminfo = "/proc/meminfo"
	l.ProcCPUinfo = "/proc/cpuinfo"
	l.BootIDFile = "/proc/sys/kernel/random/boot_id"
	l.VhostNetDevice = "/dev/vhost-net"
	l.ServicesFile = "/etc/services"
	l.DRBDProcFile = "/proc/drbd"
	l.DRBDHelperFile = "/sys/module/drbd/parameters/usermode_helper"
	return l
}

// layoutFromEnv applies Ganeti's virtual-cluster convention: GANETI_ROOTDIR
// and GANETI_HOSTNAME are set together, the root is absolute, and its last
// component is the hostname.
func layoutFromEnv() (*layout, error) {
	root := os.Getenv("GANETI_ROOTDIR")
	host := os.Getenv("GANETI_HOSTNAME")
	if root == "" && host == "" {
		return newLayout("", ""), nil
	}
	if root == "" || host == "" {
		return nil, fmt.Errorf("GANETI_ROOTDIR and GANETI_HOSTNAME must be set together")
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("root directory in GANETI_ROOTDIR must be absolute: %s", root)
	}
	root = filepath.Clean(root)
	if filepath.Base(host) != host || strings.ContainsRune(host, '/') {
		return nil, fmt.Errorf("hostname %q can not be used for a file system path", host)
	}
	if filepath.Base(root) != host {
		return nil, fmt.Errorf("last component of root directory %q must match hostname %q", root, host)
	}
	return newLayout(root, host), nil
}

// localize turns a path sent by the master into a node path: a virtual path
// (virtual clusters) gets this node's root; a plain one is used as is.
func (l *layout) localize(path string) string {
	if rest, ok := strings.CutPrefix(path, virtualPathPrefix); ok {
		if l.Root == "" {
			return rest
		}
		return filepath.Join(l.Root, rest)
	}
	return path
}

// ssconfPath is the file holding one ssconf key.
func (l *layout) ssconfPath(key string) string {
	return filepath.Join(l.DataDir, ssconfFilePrefix+key)
}

// tempDir is a directory the daemon writes files into with
// writeFilesAtomic; Only, when set, restricts it to those file names (the
// directory is shared with other programs).
type tempDir struct {
	Dir  string
	Only []string
}

// tempDirs lists the fixed directories the daemon writes atomically, where
// a daemon killed mid-write leaves its temporaries. Per-instance and
// per-transfer directories below the run directory (a tmpfs, emptied at
// boot) are not listed.
func (l *layout) tempDirs() []tempDir {
	dirs := []tempDir{
		{Dir: l.DataDir},           // ssconf_*, config.data, certificates, known_hosts, ...
		{Dir: l.DataDir + "/rapi"}, // users
		{Dir: l.QueueDir},          // job-*, serial, version
		{Dir: l.ConfDir},           // vnc-cluster-password, kvm-vif-bridge
		{Dir: l.RunDir + "/instance-reason"},
		{Dir: l.RunDir + "/bdev-cache"},
		{Dir: l.KVMRunDir + "/conf"},
		{Dir: l.KVMRunDir + "/uid"},
		{Dir: l.FakeHVDir},
		{Dir: filepath.Dir(l.EtcHosts), Only: []string{filepath.Base(l.EtcHosts)}},
		{Dir: l.XenConfigDir, Only: []string{"xend-config.sxp"}},
		{Dir: l.XenConfigDir + "/xen", Only: []string{"xl.conf"}},
		{Dir: l.XenConfigDir + "/scripts", Only: []string{"vif-bridge"}},
	}
	if l.Root == "" {
		// root's ssh directory does not move with GANETI_ROOTDIR: a test
		// daemon leaves the host's alone.
		dirs = append(dirs, tempDir{Dir: l.SSHDir, Only: []string{"authorized_keys"}})
	}
	return dirs
}
