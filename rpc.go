package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// procedure implements one RPC: it receives the decoded JSON argument list
// and returns the result, or an error that becomes [false, "message"].
type procedure func(n *node, args []json.RawMessage) (any, error)

// procedures maps every RPC of Ganeti 3.0's node daemon (plus resize_disk of
// 3.1) to its handler. A nil entry is a procedure not implemented yet: it
// answers [false, "<name>: not implemented"].
var procedures = map[string]procedure{
	// daemon and cluster files
	"version":                 rpcVersion,
	"test_delay":              rpcTestDelay,
	"master_node_name":        rpcMasterNodeName,
	"node_has_ip_address":     rpcNodeHasIPAddress,
	"get_watcher_pause":       rpcGetWatcherPause,
	"set_watcher_pause":       rpcSetWatcherPause,
	"write_ssconf_files":      rpcWriteSsconfFiles,
	"upload_file":             rpcUploadFile,
	"upload_file_single":      rpcUploadFileSingle,
	"get_file_info":           rpcGetFileInfo,
	"jobqueue_update":         rpcJobqueueUpdate,
	"jobqueue_purge":          rpcJobqueuePurge,
	"jobqueue_rename":         rpcJobqueueRename,
	"jobqueue_set_drain_flag": rpcJobqueueSetDrainFlag,
	"etc_hosts_modify":        rpcEtcHostsModify,
	"bridges_exist":           rpcBridgesExist,

	// node
	"node_info": rpcNodeInfo, "node_verify": rpcNodeVerify, "node_verify_light": rpcNodeVerify,
	"node_start_master_daemons": rpcNodeStartMasterDaemons, "node_activate_master_ip": rpcNodeActivateMasterIP,
	"node_deactivate_master_ip": rpcNodeDeactivateMasterIP, "node_stop_master": rpcNodeStopMaster,
	"node_change_master_netmask": rpcNodeChangeMasterNetmask, "node_leave_cluster": rpcNodeLeaveCluster,
	"node_volumes": rpcNodeVolumes, "node_demote_from_mc": rpcNodeDemoteFromMC, "node_powercycle": rpcNodePowercycle,
	"node_configure_ovs": rpcNodeConfigureOVS, "node_crypto_tokens": rpcNodeCryptoTokens,
	"node_ensure_daemon": rpcNodeEnsureDaemon, "node_ssh_key_add": rpcNodeSSHKeyAdd,
	"node_ssh_keys_renew": rpcNodeSSHKeysRenew, "node_ssh_key_remove": rpcNodeSSHKeyRemove,
	"run_oob": rpcRunOOB, "restricted_command": rpcRestrictedCommand, "hooks_runner": rpcHooksRunner,
	"iallocator_runner": rpcIallocatorRunner,

	// storage
	"blockdev_create": rpcBlockdevCreate, "blockdev_convert": rpcBlockdevConvert,
	"blockdev_pause_resume_sync": rpcBlockdevPauseResumeSync, "blockdev_image": rpcBlockdevImage,
	"blockdev_wipe": rpcBlockdevWipe, "blockdev_remove": rpcBlockdevRemove, "blockdev_rename": rpcBlockdevRename,
	"blockdev_assemble": rpcBlockdevAssemble, "blockdev_shutdown": rpcBlockdevShutdown,
	"blockdev_addchildren": nil, "blockdev_removechildren": nil,
	"blockdev_getmirrorstatus": rpcBlockdevGetmirrorstatus, "blockdev_getmirrorstatus_multi": rpcBlockdevGetmirrorstatusMulti,
	"blockdev_find": rpcBlockdevFind, "blockdev_snapshot": rpcBlockdevSnapshot, "blockdev_grow": rpcBlockdevGrow,
	"blockdev_close": rpcBlockdevClose, "blockdev_open": rpcBlockdevOpen, "blockdev_getdimensions": rpcBlockdevGetdimensions,
	"blockdev_setinfo": rpcBlockdevSetinfo, "drbd_disconnect_net": nil,
	"drbd_attach_net": nil, "drbd_wait_sync": nil,
	"drbd_needs_activation": nil, "drbd_helper": rpcDRBDHelper, "bdev_sizes": rpcBdevSizes,
	"lv_list": rpcLVList, "vg_list": rpcVGList, "storage_list": rpcStorageList,
	"storage_modify": rpcStorageModify, "storage_execute": rpcStorageExecute,
	"file_storage_dir_create": rpcFileStorageDirCreate, "file_storage_dir_remove": rpcFileStorageDirRemove,
	"file_storage_dir_rename": rpcFileStorageDirRename,

	// instances and hypervisors
	"instance_shutdown": rpcInstanceShutdown, "instance_start": rpcInstanceStart, "hotplug_device": rpcHotplugDevice,
	"hotplug_supported": rpcHotplugSupported, "instance_metadata_modify": rpcInstanceMetadataModify,
	"migration_info": rpcMigrationInfo, "accept_instance": rpcAcceptInstance,
	"instance_finalize_migration_dst": rpcFinalizeMigrationDst, "instance_migrate": rpcInstanceMigrate,
	"instance_finalize_migration_src": rpcFinalizeMigrationSrc,
	"instance_get_migration_status":   rpcMigrationStatus, "instance_reboot": rpcInstanceReboot,
	"instance_balloon_memory": rpcInstanceBalloonMemory, "instance_info": rpcInstanceInfo,
	"instance_migratable": rpcInstanceMigratable, "all_instances_info": rpcAllInstancesInfo,
	"instance_console_info": rpcInstanceConsoleInfo, "instance_list": rpcInstanceList,
	"hypervisor_validate_params": rpcHypervisorValidateParams, "resize_disk": rpcResizeDisk,

	// OS, import and export
	"instance_os_add": rpcInstanceOSAdd, "instance_run_rename": rpcInstanceRunRename, "os_diagnose": rpcOSDiagnose,
	"os_validate": rpcOSValidate, "os_export": rpcOSExport, "extstorage_diagnose": rpcExtStorageDiagnose,
	"finalize_export": rpcFinalizeExport, "export_info": rpcExportInfo, "export_list": rpcExportList,
	"export_remove": rpcExportRemove, "x509_cert_create": rpcX509CertCreate, "x509_cert_remove": rpcX509CertRemove,
	"import_start": rpcImportStart, "export_start": rpcExportStart, "impexp_status": rpcImpexpStatus,
	"impexp_abort": rpcImpexpAbort, "impexp_cleanup": rpcImpexpCleanup,
}

const (
	// maxRequestBody admits the largest legitimate call, a compressed
	// configuration upload of a large cluster, with room to spare.
	maxRequestBody = 64 << 20
	ioTimeout      = 10 * time.Second // Ganeti's HTTP read and write timeout
)

// node is the daemon's state shared by all procedures.
type node struct {
	paths *layout
	log   *logger

	ents    *ganetiEnts
	queueMu sync.Mutex // serialises job-queue procedures within the process

	// stop asks the daemon to shut down after the current reply (used by
	// node_leave_cluster); nil in tests that do not need it.
	stop func()

	// transferExe is the program disk transfers run; "" is this binary
	// again (tests use a built daemon or Ganeti's own helper).
	transferExe string
}

// objectBodyNoArgs: procedures without arguments that Ganeti's query
// daemon (its Haskell RPC client) calls with the body {} rather than []:
// RpcCallVersion and RpcCallExportList encode their empty record as an
// object (gnt-backup list asks luxid, which calls export_list so).
var objectBodyNoArgs = map[string]bool{"version": true, "export_list": true}

// rpcHandler serves POST /<procedure>.
type rpcHandler struct {
	node *node
}

func (h *rpcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := strings.TrimPrefix(r.URL.Path, "/")
	outcome := "ok"
	defer func() {
		h.node.log.Infof("rpc peer=%s cert=%s proc=%q duration=%s outcome=%s",
			r.RemoteAddr, peerDigest(r), name, time.Since(start).Round(time.Microsecond), outcome)
	}()
	w.Header().Set("Connection", "close")

	if r.Method != http.MethodPost {
		outcome = "refused: method " + r.Method
		httpError(w, http.StatusBadRequest, "Only the POST method is supported")
		return
	}
	proc, known := procedures[name]
	if !known {
		outcome = "refused: unknown procedure"
		httpError(w, http.StatusNotFound, fmt.Sprintf("Unknown procedure %q", name))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			outcome = "refused: body too large"
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body larger than %d bytes", maxRequestBody))
			return
		}
		outcome = "refused: " + err.Error()
		httpError(w, http.StatusBadRequest, "Cannot read request body: "+err.Error())
		return
	}
	var args []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if name == "instance_console_info" && len(trimmed) > 0 && trimmed[0] == '{' {
		// Ganeti's query daemon sends this one's argument as a bare object.
		args = []json.RawMessage{trimmed}
	} else if objectBodyNoArgs[name] && len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		// and these, which take no arguments, as an empty object; the
		// Python daemon ignores their body.
		args = nil
	} else if len(trimmed) == 0 || trimmed[0] != '[' || json.Unmarshal(trimmed, &args) != nil {
		outcome = "refused: body is not a JSON list"
		httpError(w, http.StatusBadRequest, "Request body must be a JSON list of arguments")
		return
	}

	result, err := h.node.call(name, proc, args)
	var reply []byte
	if err != nil {
		outcome = "failed: " + truncate(err.Error(), 200)
		reply, _ = json.Marshal([]any{false, err.Error()})
	} else {
		reply, err = json.Marshal([]any{true, result})
		if err != nil {
			outcome = "failed: cannot encode result: " + err.Error()
			reply, _ = json.Marshal([]any{false, "Error while executing backend function: cannot encode result: " + err.Error()})
		}
	}
	// The write, not the procedure, is bounded: procedures may legitimately
	// run for minutes (instance shutdown, test_delay).
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ioTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.Write(reply)
}

// call runs one procedure, turning a panic into Ganeti's backend error.
func (n *node) call(name string, proc procedure, args []json.RawMessage) (result any, err error) {
	if proc == nil {
		return nil, fmt.Errorf("%s: not implemented", name)
	}
	defer func() {
		if p := recover(); p != nil {
			n.log.Errorf("panic in procedure %s: %v", name, p)
			result, err = nil, fmt.Errorf("Error while executing backend function: %v", p)
		}
	}()
	result, err = proc(n, args)
	var ae *argError
	if errors.As(err, &ae) {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return result, err
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), msg)
}

func peerDigest(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "-"
	}
	return certDigest(r.TLS.PeerCertificates[0])
}

// certDigest is OpenSSL's "sha1" digest as Ganeti stores it in ssconf:
// upper-case hex pairs separated by colons.
func certDigest(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	const hexdigits = "0123456789ABCDEF"
	out := make([]byte, 0, len(sum)*3)
	for i, b := range sum {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[b>>4], hexdigits[b&15])
	}
	return string(out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// limitListener serves at most cap(slots) connections at once. Further
// connections wait in the kernel's accept queue, as the man page describes
// for --max-clients.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// newHTTPServer builds the server; the caller provides the listener.
func newHTTPServer(n *node) *http.Server {
	return &http.Server{
		Handler:           &rpcHandler{node: n},
		ReadHeaderTimeout: ioTimeout,
		ReadTimeout:       ioTimeout,
		IdleTimeout:       ioTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          n.log.stdLogger(levelWarning),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
}
