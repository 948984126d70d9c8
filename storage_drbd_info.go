package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The kernel's DRBD state as Ganeti reads it: /proc/drbd (the version and
// one status per minor) and `drbdsetup show` (a minor's configuration).
// testdata/drbd/ganeti holds what Ganeti 3.0's own parsers make of the
// same texts (storage_drbd_info_test.go compares).

// drbdVersionInfo is /proc/drbd's first line.
type drbdVersionInfo struct {
	major, minor, point int
	// fixSep and fix are a fourth component ("8.4.10-1"), both or neither.
	fixSep, fix string
	api, proto  int
	proto2      string // the upper end of the protocol range, if any
}

var drbdVersionLine = regexp.MustCompile(`^version: (\d+)\.(\d+)\.(\d+)(?:([.-])(\d+))? \(api:(\d+)/proto:(\d+)(?:-(\d+))?\)`)

// maxDRBDNumber bounds the numbers read from the kernel's texts (minors
// stay below 2^20, versions and protocols far below).
const maxDRBDNumber = 1 << 20

func parseDRBDVersion(first string) (drbdVersionInfo, error) {
	first = strings.TrimSpace(first)
	m := drbdVersionLine.FindStringSubmatch(first)
	var v drbdVersionInfo
	bad := m == nil
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil || n > maxDRBDNumber {
			bad = true
		}
		return n
	}
	if !bad {
		v = drbdVersionInfo{major: num(m[1]), minor: num(m[2]), point: num(m[3]), fixSep: m[4], fix: m[5],
			api: num(m[6]), proto: num(m[7]), proto2: m[8]}
	}
	if bad {
		return drbdVersionInfo{}, fmt.Errorf("Can't parse DRBD version from '%s'", first)
	}
	return v, nil
}

// String is Ganeti's version string: "8.4.11 (api:1/proto:86-101)".
func (v drbdVersionInfo) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.point)
	if v.fixSep != "" {
		s += v.fixSep + v.fix
	}
	s += fmt.Sprintf(" (api:%d/proto:%d", v.api, v.proto)
	if v.proto2 != "" {
		s += "-" + v.proto2
	}
	return s + ")"
}

// drbdProcInfo is /proc/drbd: the version and each minor's status line,
// its continuation lines joined to it.
type drbdProcInfo struct {
	version drbdVersionInfo
	minors  []int // in the file's order
	lines   map[int]string
	// Each listed minor's line parsed once, or why it does not parse:
	// the info is read by many callers (drbdProcCache) and never changed.
	statuses  map[int]drbdMinorStatus
	statusErr map[int]error
}

var drbdMinorStart = regexp.MustCompile(`^ *([0-9]+): cs:([^ ]+)`)

func parseDRBDProc(text string) (*drbdProcInfo, error) {
	lines := pySplitLines(text)
	if len(lines) == 0 {
		return nil, fmt.Errorf("Can't read any data from /proc/drbd")
	}
	v, err := parseDRBDVersion(lines[0])
	if err != nil {
		return nil, err
	}
	p := &drbdProcInfo{version: v, minors: []int{}, lines: map[int]string{}}
	current := -1
	for _, line := range lines {
		if line == "" {
			continue
		}
		if m := drbdMinorStart.FindStringSubmatch(line); m != nil {
			minor, err := strconv.Atoi(m[1])
			if err != nil || minor >= maxDRBDNumber {
				return nil, fmt.Errorf("Can't parse input data '%s'", line)
			}
			p.minors = append(p.minors, minor)
			p.lines[minor] = line
			current = minor
		} else if current >= 0 {
			p.lines[current] += " " + strings.TrimSpace(line)
		}
	}
	p.statuses, p.statusErr = map[int]drbdMinorStatus{}, map[int]error{}
	for _, m := range p.minors {
		if st, err := parseDRBDMinorStatus(p.lines[m]); err != nil {
			p.statusErr[m] = err
		} else {
			p.statuses[m] = st
		}
	}
	return p, nil
}

// pySplitLines is Python's str.splitlines for the line ends a kernel
// file can hold.
func pySplitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// usedMinors are the configured minors.
func (p *drbdProcInfo) usedMinors() ([]int, error) {
	used := []int{}
	for _, m := range p.minors {
		st, err := p.status(m)
		if err != nil {
			return nil, err
		}
		if st.inUse() {
			used = append(used, m)
		}
	}
	return used, nil
}

// hasMinor tells whether /proc/drbd lists the minor at all.
func (p *drbdProcInfo) hasMinor(minor int) bool {
	_, ok := p.lines[minor]
	return ok
}

func (p *drbdProcInfo) status(minor int) (drbdMinorStatus, error) {
	if st, ok := p.statuses[minor]; ok {
		return st, nil
	}
	if err, ok := p.statusErr[minor]; ok {
		return drbdMinorStatus{}, err
	}
	return parseDRBDMinorStatus(p.lines[minor])
}

// drbdMinorStatus is one minor's line: connection state, roles, disk
// states and, while syncing, progress.
type drbdMinorStatus struct {
	cstatus, lrole, rrole, ldisk, rdisk string
	syncPercent                         *float64
	estTime                             *int // seconds
}

var (
	drbdUnconfiguredLine = regexp.MustCompile(`^\s*[0-9]+:\s*cs:Unconfigured$`)
	// Ganeti's pattern ends in \s+.*$, which a line (its continuation
	// lines joined by spaces, no newline left) always matches after \s;
	// without it Go's matcher does not backtrack through the whole line.
	drbdStatusLine = regexp.MustCompile(`^\s*[0-9]+:\s*cs:(\S+)\s+(?:st|ro):([^/]+)/(\S+)\s+ds:([^/]+)/(\S+)\s`)
	// The kernel once printed "...)Mfinish:", hence the M.
	drbdSyncText = regexp.MustCompile(`^.*\ssync'ed:\s*([0-9.]+)%.*(?:\s|M)finish: ([0-9]+):([0-9]+):([0-9]+)\s.*$`)
)

// drbdResyncStates are the connection states of a resync.
var drbdResyncStates = []string{"WFReportParams", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT",
	"WFSyncUUID", "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT"}

func parseDRBDMinorStatus(line string) (drbdMinorStatus, error) {
	var s drbdMinorStatus
	if drbdUnconfiguredLine.MatchString(line) {
		s.cstatus = "Unconfigured"
		return s, nil
	}
	m := drbdStatusLine.FindStringSubmatch(line)
	if m == nil {
		return s, fmt.Errorf("Can't parse input data '%s'", line)
	}
	s.cstatus, s.lrole, s.rrole, s.ldisk, s.rdisk = m[1], m[2], m[3], m[4], m[5]
	// The literal first: most lines have no resync, and the pattern's
	// leading .* costs a backtracking pass through the line.
	if sm := drbdSyncMatch(line); sm != nil {
		pct, err := strconv.ParseFloat(sm[1], 64)
		if err != nil {
			return s, fmt.Errorf("Can't parse the sync percentage '%s'", sm[1])
		}
		var hms [3]int
		for i := range hms {
			if hms[i], err = strconv.Atoi(sm[2+i]); err != nil || hms[i] > maxDRBDNumber {
				return s, fmt.Errorf("Can't parse the sync time in '%s'", line)
			}
		}
		est := hms[0]*3600 + hms[1]*60 + hms[2]
		s.syncPercent, s.estTime = &pct, &est
	} else if s.inResync() {
		// Ganeti reports 0% for a resync that shows no progress yet.
		zero := 0.0
		s.syncPercent = &zero
	}
	return s, nil
}

func drbdSyncMatch(line string) []string {
	if !strings.Contains(line, "sync'ed:") {
		return nil
	}
	return drbdSyncText.FindStringSubmatch(line)
}

func (s drbdMinorStatus) inUse() bool        { return s.cstatus != "Unconfigured" }
func (s drbdMinorStatus) isStandalone() bool { return s.cstatus == "StandAlone" }
func (s drbdMinorStatus) isConnected() bool  { return s.cstatus == "Connected" }
func (s drbdMinorStatus) isPrimary() bool    { return s.lrole == "Primary" }
func (s drbdMinorStatus) peerPrimary() bool  { return s.rrole == "Primary" }
func (s drbdMinorStatus) isDiskless() bool   { return s.ldisk == "Diskless" }
func (s drbdMinorStatus) diskUpToDate() bool { return s.ldisk == "UpToDate" }
func (s drbdMinorStatus) inResync() bool {
	for _, st := range drbdResyncStates {
		if s.cstatus == st {
			return true
		}
	}
	return false
}

// drbdShowInfo is what Ganeti reads of `drbdsetup show`: the local disk
// and metadata device, and the two network ends. The has* fields say
// which were shown.
type drbdShowInfo struct {
	localDev, metaDev       string
	metaIndex               int
	hasLocalDev, hasMetaDev bool
	hasMetaIndex            bool
	localAddr, remoteAddr   drbdAddr
	hasLocal, hasRemote     bool
}

// drbdAddr is one end of a DRBD connection, as drbdsetup prints it.
type drbdAddr struct {
	host string
	port int
}

// showNode is a statement of drbdsetup show's output: a keyword, its
// values and, for a section, the statements inside.
type showNode struct {
	key     string
	values  []string
	quoted  []bool
	section bool
	body    []*showNode
}

// showTokens splits drbdsetup show's output: words, "quoted strings"
// (unquoted, marked), and the punctuation { } ;. Comments (#) end at the
// line's end.
func showTokens(text string) (toks []string, quoted []bool, err error) {
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '{' || c == '}' || c == ';':
			toks, quoted = append(toks, string(c)), append(quoted, false)
			i++
		case c == '"':
			end := strings.IndexByte(text[i+1:], '"')
			if end < 0 {
				return nil, nil, fmt.Errorf("unterminated string at char %d", i)
			}
			toks, quoted = append(toks, text[i+1:i+1+end]), append(quoted, true)
			i += end + 2
		default:
			j := i
			for j < len(text) && !strings.ContainsRune(" \t\n\r#{};\"", rune(text[j])) {
				j++
			}
			toks, quoted = append(toks, text[i:j]), append(quoted, false)
			i = j
		}
	}
	return toks, quoted, nil
}

// parseShowBody reads statements up to a closing brace (or the end, at
// the top level).
func parseShowBody(toks []string, quoted []bool, pos *int, top bool, depth int) ([]*showNode, error) {
	if depth > 16 {
		return nil, fmt.Errorf("sections nested too deep")
	}
	var out []*showNode
	for *pos < len(toks) {
		if toks[*pos] == "}" && !quoted[*pos] {
			if top {
				return nil, fmt.Errorf("unexpected '}'")
			}
			*pos++
			return out, nil
		}
		n := &showNode{key: toks[*pos]}
		if quoted[*pos] || n.key == "{" || n.key == ";" {
			return nil, fmt.Errorf("expected a keyword, found '%s'", n.key)
		}
		*pos++
		for {
			if *pos >= len(toks) {
				return nil, fmt.Errorf("unexpected end of text after '%s'", n.key)
			}
			t, q := toks[*pos], quoted[*pos]
			*pos++
			if !q && t == ";" {
				break
			}
			if !q && t == "{" {
				n.section = true
				body, err := parseShowBody(toks, quoted, pos, false, depth+1)
				if err != nil {
					return nil, err
				}
				n.body = body
				break
			}
			if !q && t == "}" {
				return nil, fmt.Errorf("expected ';', found '}'")
			}
			n.values, n.quoted = append(n.values, t), append(n.quoted, q)
		}
		out = append(out, n)
	}
	if !top {
		return nil, fmt.Errorf("expected '}', found end of text")
	}
	return out, nil
}

// parseDRBDShow reads DRBD 8.4's drbdsetup show: resource R { ... }.
func parseDRBDShow(text string) (drbdShowInfo, error) {
	var info drbdShowInfo
	if strings.TrimSpace(text) == "" {
		return info, nil
	}
	fail := func(err error) (drbdShowInfo, error) {
		return drbdShowInfo{}, fmt.Errorf("Can't parse drbdsetup show output: %v", err)
	}
	toks, quoted, err := showTokens(text)
	if err != nil {
		return fail(err)
	}
	pos := 0
	top, err := parseShowBody(toks, quoted, &pos, true, 0)
	if err != nil {
		return fail(err)
	}
	if len(top) == 0 || top[0].key != "resource" || !top[0].section || len(top[0].values) != 1 {
		return fail(fmt.Errorf("expected 'resource NAME { ... }'"))
	}
	top = top[0].body
	for _, sec := range top {
		if !sec.section {
			continue
		}
		switch sec.key {
		case "_this_host":
			for _, st := range sec.body {
				switch {
				case st.key == "address" && !st.section:
					if info.localAddr, err = parseShowAddr(st.values); err != nil {
						return fail(err)
					}
					info.hasLocal = true
				case st.key == "volume" && st.section:
					if err := info.readDisks(st.body); err != nil {
						return fail(err)
					}
				}
			}
		case "_remote_host":
			for _, st := range sec.body {
				if st.key == "address" && !st.section {
					if info.remoteAddr, err = parseShowAddr(st.values); err != nil {
						return fail(err)
					}
					info.hasRemote = true
				}
			}
		}
	}
	return info, nil
}

// readDisks reads a volume's disk and meta-disk statements.
func (info *drbdShowInfo) readDisks(stmts []*showNode) error {
	for _, st := range stmts {
		if st.section {
			continue // disk { options }
		}
		switch st.key {
		case "disk":
			if len(st.values) == 1 {
				info.localDev, info.hasLocalDev = st.values[0], true
			}
		case "meta-disk":
			switch {
			case len(st.values) == 1:
				info.metaDev, info.hasMetaDev = st.values[0], true
			case len(st.values) == 4 && st.values[1] == "[" && st.values[3] == "]":
				idx, err := strconv.Atoi(st.values[2])
				if err != nil || idx < 0 || idx > maxDRBDNumber {
					return fmt.Errorf("bad meta-disk index '%s'", st.values[2])
				}
				info.metaDev, info.hasMetaDev = st.values[0], true
				info.metaIndex, info.hasMetaIndex = idx, true
			default:
				return fmt.Errorf("bad meta-disk statement")
			}
		}
	}
	return nil
}

// parseShowAddr reads "ipv4 192.0.2.1:11000" or "ipv6 [2001:db8::1]:11000".
func parseShowAddr(values []string) (drbdAddr, error) {
	if len(values) != 2 || values[0] != "ipv4" && values[0] != "ipv6" {
		return drbdAddr{}, fmt.Errorf("bad address '%s'", strings.Join(values, " "))
	}
	i := strings.LastIndexByte(values[1], ':')
	if i < 0 {
		return drbdAddr{}, fmt.Errorf("bad address '%s'", values[1])
	}
	host, portText := values[1][:i], values[1][i+1:]
	if values[0] == "ipv6" {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 || host == "" {
		return drbdAddr{}, fmt.Errorf("bad address '%s'", values[1])
	}
	return drbdAddr{host, port}, nil
}

// maxDRBDMinor is the highest minor Ganeti's node side uses.
const maxDRBDMinor = 255

// unusedMinor is the first unconfigured minor /proc/drbd lists, or the
// one after the highest: Ganeti never fills gaps in the numbering.
func (p *drbdProcInfo) unusedMinor() (int, error) {
	highest := -1
	for _, m := range p.minors {
		st, err := p.status(m)
		if err != nil {
			return 0, err
		}
		if !st.inUse() {
			return m, nil
		}
		highest = max(highest, m)
	}
	if highest >= maxDRBDMinor {
		return 0, fmt.Errorf("Can't find a free DRBD minor")
	}
	return highest + 1, nil
}
