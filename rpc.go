package main

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// procedure implements one RPC: it receives the decoded JSON argument list
// and returns the result, or an error that becomes [false, "message"].
type procedure func(n *node, args []json.RawMessage) (any, error)

// rpcProcedure is one entry of the procedure table.
type rpcProcedure struct {
	// args is how many arguments the master sends (the length of the
	// call's argument list in Ganeti's rpc_defs.py): a body listing more is
	// refused before it is decoded.
	args int
	// run is the handler; nil is a procedure not implemented yet, which
	// answers [false, "<name>: not implemented"].
	run procedure
	// object says what a body that is a JSON object rather than a list
	// means: Ganeti's query daemon (its Haskell RPC client) sends a few
	// calls so.
	object objectBody
}

// objectBody is how a procedure takes a request body that is an object.
type objectBody int

const (
	objectRefused  objectBody = iota // a body must be a list (most procedures)
	objectIsNoArgs                   // the empty record of a call without arguments (version, export_list)
	objectIsArg                      // the one argument, sent bare (instance_console_info)
)

// procedures maps every RPC of Ganeti 3.0's node daemon (plus resize_disk of
// 3.1) to its argument count and handler.
var procedures = map[string]rpcProcedure{
	// node_queries.go
	"version":             {args: 0, run: rpcVersion, object: objectIsNoArgs},
	"test_delay":          {args: 1, run: rpcTestDelay},
	"master_node_name":    {args: 0, run: rpcMasterNodeName},
	"node_has_ip_address": {args: 1, run: rpcNodeHasIPAddress},
	"bridges_exist":       {args: 1, run: rpcBridgesExist},

	// watcher_pause.go
	"get_watcher_pause": {args: 0, run: rpcGetWatcherPause},
	"set_watcher_pause": {args: 1, run: rpcSetWatcherPause},

	// ssconf.go
	"write_ssconf_files": {args: 1, run: rpcWriteSsconfFiles},

	// file_upload.go
	"upload_file":        {args: 1, run: rpcUploadFile},
	"upload_file_single": {args: 7, run: rpcUploadFileSingle},
	"get_file_info":      {args: 1, run: rpcGetFileInfo},

	// etc_hosts.go
	"etc_hosts_modify": {args: 3, run: rpcEtcHostsModify},

	// jobqueue.go
	"jobqueue_update":         {args: 2, run: rpcJobqueueUpdate},
	"jobqueue_purge":          {args: 0, run: rpcJobqueuePurge},
	"jobqueue_rename":         {args: 1, run: rpcJobqueueRename},
	"jobqueue_set_drain_flag": {args: 1, run: rpcJobqueueSetDrainFlag},

	// node.go
	"node_info": {args: 2, run: rpcNodeInfo},

	// verify.go
	"node_verify":       {args: 3, run: rpcNodeVerify},
	"node_verify_light": {args: 3, run: rpcNodeVerify},

	// master.go
	"node_start_master_daemons":  {args: 1, run: rpcNodeStartMasterDaemons},
	"node_activate_master_ip":    {args: 2, run: rpcNodeActivateMasterIP},
	"node_deactivate_master_ip":  {args: 2, run: rpcNodeDeactivateMasterIP},
	"node_stop_master":           {args: 0, run: rpcNodeStopMaster},
	"node_change_master_netmask": {args: 4, run: rpcNodeChangeMasterNetmask},

	// node_admin.go
	"node_leave_cluster":  {args: 1, run: rpcNodeLeaveCluster},
	"node_demote_from_mc": {args: 0, run: rpcNodeDemoteFromMC},
	"node_powercycle":     {args: 2, run: rpcNodePowercycle},
	"node_configure_ovs":  {args: 2, run: rpcNodeConfigureOVS},
	"node_ensure_daemon":  {args: 2, run: rpcNodeEnsureDaemon},

	// crypto.go
	"node_crypto_tokens": {args: 1, run: rpcNodeCryptoTokens},
	"x509_cert_create":   {args: 1, run: rpcX509CertCreate},
	"x509_cert_remove":   {args: 1, run: rpcX509CertRemove},

	// sshkeys.go
	"node_ssh_key_add":    {args: 6, run: rpcNodeSSHKeyAdd},
	"node_ssh_keys_renew": {args: 7, run: rpcNodeSSHKeysRenew},
	"node_ssh_key_remove": {args: 9, run: rpcNodeSSHKeyRemove},

	// restricted.go
	"run_oob":            {args: 4, run: rpcRunOOB},
	"restricted_command": {args: 1, run: rpcRestrictedCommand},

	// hooks.go
	"hooks_runner":      {args: 3, run: rpcHooksRunner},
	"iallocator_runner": {args: 3, run: rpcIallocatorRunner},

	// blockdev_rpc.go
	"blockdev_create":                {args: 6, run: rpcBlockdevCreate},
	"blockdev_convert":               {args: 2, run: rpcBlockdevConvert},
	"blockdev_pause_resume_sync":     {args: 2, run: rpcBlockdevPauseResumeSync},
	"blockdev_image":                 {args: 3, run: rpcBlockdevImage},
	"blockdev_wipe":                  {args: 3, run: rpcBlockdevWipe},
	"blockdev_remove":                {args: 1, run: rpcBlockdevRemove},
	"blockdev_rename":                {args: 1, run: rpcBlockdevRename},
	"blockdev_assemble":              {args: 4, run: rpcBlockdevAssemble},
	"blockdev_shutdown":              {args: 1, run: rpcBlockdevShutdown},
	"blockdev_getmirrorstatus":       {args: 1, run: rpcBlockdevGetmirrorstatus},
	"blockdev_getmirrorstatus_multi": {args: 1, run: rpcBlockdevGetmirrorstatusMulti},
	"blockdev_find":                  {args: 1, run: rpcBlockdevFind},
	"blockdev_snapshot":              {args: 3, run: rpcBlockdevSnapshot},
	"blockdev_grow":                  {args: 5, run: rpcBlockdevGrow},
	"blockdev_close":                 {args: 2, run: rpcBlockdevClose},
	"blockdev_open":                  {args: 3, run: rpcBlockdevOpen},
	"blockdev_getdimensions":         {args: 1, run: rpcBlockdevGetdimensions},
	"blockdev_setinfo":               {args: 2, run: rpcBlockdevSetinfo},

	// storage_file_paths.go
	"file_storage_dir_create": {args: 1, run: rpcFileStorageDirCreate},
	"file_storage_dir_remove": {args: 1, run: rpcFileStorageDirRemove},
	"file_storage_dir_rename": {args: 2, run: rpcFileStorageDirRename},

	// storage_rpc.go
	"bdev_sizes":      {args: 1, run: rpcBdevSizes},
	"storage_list":    {args: 4, run: rpcStorageList},
	"storage_modify":  {args: 4, run: rpcStorageModify},
	"storage_execute": {args: 4, run: rpcStorageExecute},

	// storage_lvm.go
	"node_volumes": {args: 0, run: rpcNodeVolumes},
	"lv_list":      {args: 1, run: rpcLVList},
	"vg_list":      {args: 0, run: rpcVGList},

	// storage_drbd.go
	"drbd_helper": {args: 0, run: rpcDRBDHelper},

	// instance.go
	"instance_shutdown":               {args: 3, run: rpcInstanceShutdown},
	"instance_start":                  {args: 3, run: rpcInstanceStart},
	"hotplug_device":                  {args: 6, run: rpcHotplugDevice},
	"hotplug_supported":               {args: 1, run: rpcHotplugSupported},
	"migration_info":                  {args: 1, run: rpcMigrationInfo},
	"accept_instance":                 {args: 3, run: rpcAcceptInstance},
	"instance_finalize_migration_dst": {args: 3, run: rpcFinalizeMigrationDst},
	"instance_migrate":                {args: 4, run: rpcInstanceMigrate},
	"instance_finalize_migration_src": {args: 3, run: rpcFinalizeMigrationSrc},
	"instance_get_migration_status":   {args: 1, run: rpcMigrationStatus},
	"instance_reboot":                 {args: 4, run: rpcInstanceReboot},
	"instance_balloon_memory":         {args: 2, run: rpcInstanceBalloonMemory},
	"instance_info":                   {args: 3, run: rpcInstanceInfo},
	"instance_migratable":             {args: 1, run: rpcInstanceMigratable},
	"instance_console_info":           {args: 1, run: rpcInstanceConsoleInfo, object: objectIsArg},
	"resize_disk":                     {args: 3, run: rpcResizeDisk},

	// instance_info.go
	"all_instances_info": {args: 2, run: rpcAllInstancesInfo},
	"instance_list":      {args: 2, run: rpcInstanceList},

	// hypervisor.go
	"hypervisor_validate_params": {args: 2, run: rpcHypervisorValidateParams},

	// metad.go
	"instance_metadata_modify": {args: 1, run: rpcInstanceMetadataModify},

	// os_definitions.go
	"os_diagnose": {args: 0, run: rpcOSDiagnose},
	"os_validate": {args: 5, run: rpcOSValidate},

	// os_scripts.go
	"instance_os_add":     {args: 3, run: rpcInstanceOSAdd},
	"instance_run_rename": {args: 3, run: rpcInstanceRunRename},
	"os_export":           {args: 2, run: rpcOSExport},

	// extstorage.go
	"extstorage_diagnose": {args: 0, run: rpcExtStorageDiagnose},

	// exports.go
	"export_info":   {args: 1, run: rpcExportInfo},
	"export_list":   {args: 0, run: rpcExportList, object: objectIsNoArgs},
	"export_remove": {args: 1, run: rpcExportRemove},

	// exportconf.go
	"finalize_export": {args: 2, run: rpcFinalizeExport},

	// impexp.go
	"import_start":   {args: 4, run: rpcImportStart},
	"export_start":   {args: 6, run: rpcExportStart},
	"impexp_status":  {args: 1, run: rpcImpexpStatus},
	"impexp_abort":   {args: 1, run: rpcImpexpAbort},
	"impexp_cleanup": {args: 1, run: rpcImpexpCleanup},

	// storage_drbd_rpc.go
	"blockdev_addchildren":    {args: 2, run: rpcBlockdevAddchildren},
	"blockdev_removechildren": {args: 2, run: rpcBlockdevRemovechildren},
	"drbd_disconnect_net":     {args: 1, run: rpcDRBDDisconnectNet},
	"drbd_attach_net":         {args: 2, run: rpcDRBDAttachNet},
	"drbd_wait_sync":          {args: 1, run: rpcDRBDWaitSync},
	"drbd_needs_activation":   {args: 1, run: rpcDRBDNeedsActivation},
}

const (
	// maxRequestBody admits the largest legitimate call, a compressed
	// configuration upload of a large cluster, with room to spare.
	maxRequestBody = 64 << 20
)

// ioTimeout is Ganeti's HTTP read and write timeout. It is a variable only
// so that the tests' daemon processes (the re-run test binary, see TestMain
// in daemon_test.go) can shorten it; the daemon never changes it.
var ioTimeout = 10 * time.Second

// rpcHandler serves POST /<procedure>.
type rpcHandler struct {
	node *node
}

func (h *rpcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := strings.TrimPrefix(r.URL.Path, "/")
	outcome := "ok"
	defer func() {
		h.node.log.Infof("rpc peer=%s cert=%s proc=%q duration=%s outcome=%q",
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
	body, err := readBody(w, r)
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
	args, err := decodeBody(name, proc.args, body)
	if err != nil {
		outcome = "refused: " + err.Error()
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}

	result, err := h.node.call(name, proc.run, args)
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

// maxBodyValues bounds the JSON values one request may hold. Decoding
// costs memory per value far beyond its bytes (a 64 MiB list of zeros
// makes 33 million Go values), while the largest legitimate calls
// (node_verify of a large cluster, mirror status of every disk) hold some
// ten thousand.
const maxBodyValues = 1 << 20

// readBody reads the request body, at most maxRequestBody bytes, into a
// buffer sized once from Content-Length when the client sent one.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= maxRequestBody {
		buf.Grow(int(r.ContentLength) + 1) // +1: ReadFrom's EOF probe fits
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestBody))
	return buf.Bytes(), err
}

// decodeBody splits a request body into the procedure's arguments without
// decoding them. It refuses, before building anything, a body that is not
// one JSON value, holds more than maxBodyValues values, or lists more
// arguments than the procedure takes (arity); the handler checks the exact
// count and the types.
func decodeBody(name string, arity int, body []byte) ([]json.RawMessage, error) {
	const notList = "Request body must be a JSON list of arguments"
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !json.Valid(body) {
		return nil, errors.New(notList)
	}
	if n := countJSONValues(body); n > maxBodyValues {
		return nil, fmt.Errorf("Request body holds more than %d JSON values", maxBodyValues)
	}
	switch {
	case arity == 0 && bytes.Equal(body, []byte("null")):
		// Ganeti's daemon ignores the body of a procedure without
		// arguments; null is what Python's json encodes for none.
		return nil, nil
	case body[0] == '{' && procedures[name].object == objectIsArg:
		return []json.RawMessage{body}, nil
	case body[0] == '{' && procedures[name].object == objectIsNoArgs:
		// RpcCallVersion and RpcCallExportList encode their empty record
		// as {} (gnt-backup list asks luxid, which calls export_list so).
		return nil, nil
	case body[0] != '[':
		return nil, errors.New(notList)
	}
	args, more := splitJSONList(body, arity)
	if more {
		return nil, fmt.Errorf("%s takes %d arguments, the request lists more", name, arity)
	}
	return args, nil
}

// splitJSONList returns the elements of a valid JSON list as slices of it
// (no copies), at most max of them; more reports that the list is longer.
func splitJSONList(list []byte, max int) (elems []json.RawMessage, more bool) {
	var scan jsonScan
	depth, start := 0, -1
	for i, c := range list {
		opening := !scan.inString
		if scan.inStringAt(c) && !opening {
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if depth == 1 && start < 0 && c != ']' && c != ',' {
			if len(elems) == max {
				return nil, true
			}
			start = i
		}
		switch c {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		if depth == 1 && c == ',' || depth == 0 {
			if start >= 0 {
				elems = append(elems, json.RawMessage(bytes.TrimSpace(list[start:i])))
				start = -1
			}
		}
	}
	return elems, false
}

// countJSONValues returns an upper bound of the values in valid JSON: every
// value but the first in a container follows a comma, the first is counted
// by the container's opening bracket.
func countJSONValues(data []byte) int {
	var scan jsonScan
	n := 1
	for _, c := range data {
		if !scan.inStringAt(c) && (c == ',' || c == '[' || c == '{') {
			n++
		}
	}
	return n
}

// jsonScan follows valid JSON a byte at a time, for the scanners above.
type jsonScan struct{ inString, escaped bool }

// inStringAt reports whether c, the next byte, belongs to a string
// literal, its quotes included.
func (s *jsonScan) inStringAt(c byte) bool {
	switch {
	case s.escaped:
		s.escaped = false
	case s.inString:
		switch c {
		case '\\':
			s.escaped = true
		case '"':
			s.inString = false
		}
	case c == '"':
		s.inString = true
	default:
		return false
	}
	return true
}

// maxPendingHandshakes bounds the connections that have not yet proven a
// client certificate; past it the oldest is dropped. Far above what the
// master and its candidates open at once, so only a flood is affected, and
// a flood cannot hold the newest (likely legitimate) handshake.
const maxPendingHandshakes = 1024

// handshakeTimeout bounds one TLS handshake, whatever the client trickles.
// It is longer than Ganeti's RPC connect timeout (5 s, which covers the
// handshake), so the daemon never ends a handshake the master still waits
// for: a master daemon on a slow node (seen: Haskell's wconfd in an
// emulated guest) can take more than 4 s. Handshakes hold no slot, so a
// long bound costs only a pending entry (maxPendingHandshakes).
const handshakeTimeout = 10 * time.Second

// gateListener accepts connections at once, runs their TLS handshakes
// (certificate rules included) outside the --max-clients slots, and hands
// the HTTP server only authenticated connections, each holding a slot until
// it closes. Authenticated clients beyond the slots wait, accepted but not
// answered, as ganeti-noded(8) says; unauthenticated ones can neither take
// a slot nor hold a handshake for long.
type gateListener struct {
	inner net.Listener
	tls   *tls.Config // nil: plain HTTP (--no-ssl), no handshake
	slots chan struct{}
	ready chan net.Conn // authenticated, holding a slot
	log   *logger

	maxPending       int           // maxPendingHandshakes; tests lower it
	handshakeTimeout time.Duration // handshakeTimeout; tests lower it

	refusals rateLimitedLog // refused handshakes: anyone can cause them

	// cluster tells whether an address is one of the cluster's own
	// (clusterAddresses); their handshakes skip the crypto queue that
	// other clients share, so a flood of ClientHellos cannot starve the
	// master. nil: everybody shares the queue.
	cluster func(ip string) bool
	crypto  chan struct{} // other clients' handshakes doing crypto at once

	mu      sync.Mutex
	pending *list.List // of *pendingConn, oldest first

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	acceptErr chan error // the inner listener's failure, once
}

// newGateListener serves inner's connections through cfg (nil for plain
// HTTP), at most maxClients at once; cluster (may be nil) names the
// addresses whose handshakes skip the crypto queue.
func newGateListener(inner net.Listener, cfg *tls.Config, maxClients int, cluster func(ip string) bool, log *logger) *gateListener {
	l := &gateListener{
		inner: inner, tls: cfg, log: log, cluster: cluster,
		maxPending: maxPendingHandshakes, handshakeTimeout: handshakeTimeout,
		crypto:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)), // a core stays free for the cluster
		slots:     make(chan struct{}, maxClients),
		ready:     make(chan net.Conn),
		pending:   list.New(),
		done:      make(chan struct{}),
		acceptErr: make(chan error, 1),
	}
	if cfg != nil {
		l.tls = cfg.Clone()
		l.tls.GetConfigForClient = l.waitCryptoQueue
	}
	return l
}

// start begins accepting connections; the gate's settings are fixed from
// here on.
func (l *gateListener) start() *gateListener {
	go l.acceptLoop()
	return l
}

func (l *gateListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
				errors.Is(err, syscall.ECONNABORTED) {
				// Out of descriptors or a connection reset before accept:
				// wait a little, as net/http does, instead of giving up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warningf("accept: %v; retrying in %s", err, backoff)
				time.Sleep(backoff)
				continue
			}
			l.acceptErr <- err
			return
		}
		backoff = 0
		l.admit(c)
	}
}

// admit starts the handshake of a new connection, dropping the oldest
// pending one when too many are.
func (l *gateListener) admit(c net.Conn) {
	l.mu.Lock()
	select {
	case <-l.done: // accepted while Close ran: not worth a handshake
		l.mu.Unlock()
		c.Close()
		return
	default:
	}
	if l.pending.Len() >= l.maxPending {
		// The oldest outside the cluster's addresses, else the oldest.
		victim := l.pending.Front()
		for e := victim; e != nil; e = e.Next() {
			if !e.Value.(*pendingConn).cluster {
				victim = e
				break
			}
		}
		l.pending.Remove(victim)
		victim.Value.(*pendingConn).Close()
		victim.Value = nil // tells its handshake it was dropped
	}
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	elem := l.pending.PushBack(&pendingConn{Conn: c, cluster: l.cluster != nil && l.cluster(host)})
	l.mu.Unlock()
	go l.authenticate(c, elem)
}

// pendingConn is a connection still handshaking.
type pendingConn struct {
	net.Conn
	cluster bool // from one of the cluster's addresses
}

// authenticate runs the handshake, then waits for a slot and hands the
// connection over.
func (l *gateListener) authenticate(raw net.Conn, elem *list.Element) {
	sc := &slotConn{Conn: raw, slots: l.slots}
	var conn net.Conn = sc
	if l.tls != nil {
		sc.deadline = time.Now().Add(l.handshakeTimeout)
		tc := tls.Server(sc, l.tls)
		raw.SetDeadline(sc.deadline)
		err := tc.Handshake()
		if sc.queued.Swap(false) {
			<-l.crypto
		}
		if err != nil {
			l.unpend(elem)
			raw.Close()
			select {
			case <-l.done:
			default:
				l.refusals.logf(l.log, "TLS handshake with %s refused: %v", raw.RemoteAddr(), err)
			}
			return
		}
		raw.SetDeadline(time.Time{})
		conn = tc
	}
	if !l.unpend(elem) {
		raw.Close() // dropped as the oldest while it finished
		return
	}
	select {
	case l.slots <- struct{}{}:
		sc.held.Store(true)
	case <-l.done:
		raw.Close()
		return
	}
	select {
	case l.ready <- conn:
	case <-l.done:
		conn.Close()
	}
}

// waitCryptoQueue is the TLS configuration's GetConfigForClient: it runs
// once the ClientHello has arrived, before the key exchange and signature
// the server then computes, and makes a client outside the cluster's
// addresses wait (until its handshake deadline) for a place in the crypto
// queue; authenticate frees the place after the handshake.
func (l *gateListener) waitCryptoQueue(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	sc, ok := hello.Conn.(*slotConn)
	if !ok {
		return nil, errors.New("handshake on a connection the gate did not accept")
	}
	host, _, _ := net.SplitHostPort(sc.RemoteAddr().String())
	if l.cluster != nil && l.cluster(host) {
		return nil, nil
	}
	timer := time.NewTimer(time.Until(sc.deadline))
	defer timer.Stop()
	select {
	case l.crypto <- struct{}{}:
		sc.queued.Store(true)
		return nil, nil
	case <-timer.C:
		return nil, errors.New("no place in the handshake queue before the timeout")
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// clusterAddresses reports whether ip is this cluster's: loopback, the
// master IP, or a node's primary or secondary address in ssconf. The
// files are read again at most every second, so a changed cluster takes
// effect at once and a flood of connections costs no file reads.
func clusterAddresses(paths *layout) func(ip string) bool {
	var mu sync.Mutex
	var read time.Time
	var known map[string]bool
	return func(ip string) bool {
		addr := net.ParseIP(ip)
		if addr == nil {
			return false
		}
		if addr.Equal(net.IPv4(127, 0, 0, 1)) || addr.Equal(net.IPv6loopback) {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(read) > time.Second {
			known = map[string]bool{}
			for _, key := range []string{"master_ip", "node_primary_ips", "node_secondary_ips"} {
				text, _ := paths.readSsconf(key)
				for _, field := range strings.Fields(text) {
					if other := net.ParseIP(field); other != nil {
						known[other.String()] = true
					}
				}
			}
			read = time.Now()
		}
		return known[addr.String()]
	}
}

// unpend removes a connection from the pending list; false when it was
// dropped already.
func (l *gateListener) unpend(elem *list.Element) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if elem.Value == nil {
		return false
	}
	l.pending.Remove(elem)
	elem.Value = nil
	return true
}

// Accept returns the next authenticated connection.
func (l *gateListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.acceptErr:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and drops the connections not yet handed over.
func (l *gateListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.done) // under mu: admit sees it or its connection is listed below
		for e := l.pending.Front(); e != nil; e = e.Next() {
			e.Value.(*pendingConn).Close()
		}
		l.mu.Unlock()
		err = l.inner.Close()
	})
	return err
}

func (l *gateListener) Addr() net.Addr { return l.inner.Addr() }

// slotConn frees its slot, if it took one, when closed (once, however
// often Close is called).
type slotConn struct {
	net.Conn
	slots chan struct{}
	held  atomic.Bool
	once  sync.Once

	deadline time.Time   // of its handshake, set before it starts
	queued   atomic.Bool // holds a place in the gate's crypto queue
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	if c.held.Load() {
		c.once.Do(func() { <-c.slots })
	}
	return err
}

// rateLimitedLog writes at most refusalLogBurst lines per refusalLogWindow
// and then one line counting those it left out, so that a client that
// connects in a loop cannot fill the log disk.
type rateLimitedLog struct {
	mu         sync.Mutex
	window     time.Time // start of the current window
	lines      int       // written in it
	suppressed int       // left out in it
}

const (
	refusalLogWindow = 10 * time.Second
	refusalLogBurst  = 20
)

func (r *rateLimitedLog) logf(log *logger, format string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.window) >= refusalLogWindow {
		if r.suppressed > 0 {
			log.Warningf("%d more refused TLS handshakes not logged in %s", r.suppressed, refusalLogWindow)
		}
		r.window, r.lines, r.suppressed = now, 0, 0
	}
	write := r.lines < refusalLogBurst
	if write {
		r.lines++
	} else {
		r.suppressed++
	}
	r.mu.Unlock()
	if write {
		log.Warningf(format, args...)
	}
}
