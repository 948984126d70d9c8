package main

import (
	"fmt"
	"io"
	stdlog "log"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// logLevel orders messages as Python's logging module does.
type logLevel int

const (
	levelDebug logLevel = iota
	levelInfo
	levelWarning
	levelError
	levelCritical
)

func (l logLevel) String() string {
	return [...]string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}[l]
}

// logger writes Ganeti's line format
// ("2026-11-24 13:15:06,277: ganeti-noded pid=4349 INFO message") to the
// log file, to stderr in the foreground, and to syslog on request.
type logger struct {
	mu      sync.Mutex
	debug   bool
	path    string // "" when the file is not used (--syslog=only, tests)
	file    *os.File
	stderr  io.Writer // nil unless in the foreground
	syslog  *syslog.Writer
	pid     int
	nowFunc func() time.Time
}

// newLogger opens the log file (unless path is empty) and syslog (when
// useSyslog). A log file that cannot be opened is an error: a daemon that
// logs nowhere cannot be audited.
func newLogger(path string, debug bool, stderr io.Writer, useSyslog bool) (*logger, error) {
	l := &logger{debug: debug, path: path, stderr: stderr, pid: os.Getpid(), nowFunc: time.Now}
	if path != "" {
		if err := l.Reopen(); err != nil {
			return nil, err
		}
	}
	if useSyslog {
		w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, daemonName)
		if err != nil {
			if l.file != nil {
				l.file.Close()
			}
			return nil, fmt.Errorf("cannot connect to syslog: %w", err)
		}
		l.syslog = w
	}
	return l, nil
}

// Reopen reopens the log file; SIGHUP calls it after log rotation.
func (l *logger) Reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open log file: %w", err)
	}
	l.mu.Lock()
	old := l.file
	l.file = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (l *logger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
	if l.syslog != nil {
		l.syslog.Close()
		l.syslog = nil
	}
}

func (l *logger) log(level logLevel, format string, args ...any) {
	if l == nil || (level == levelDebug && !l.debug) {
		return
	}
	msg := escapeLogText(fmt.Sprintf(format, args...))
	now := l.nowFunc()
	line := fmt.Sprintf("%s,%03d: %s pid=%d %s %s\n", now.Format("2006-01-02 15:04:05"),
		now.Nanosecond()/1e6, daemonName, l.pid, level, msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.WriteString(line)
	}
	if l.stderr != nil {
		io.WriteString(l.stderr, line)
	}
	if l.syslog != nil && level >= levelInfo { // never debug over syslog, as Ganeti
		text := fmt.Sprintf("%s %s", level, msg)
		switch level {
		case levelInfo:
			l.syslog.Info(text)
		case levelWarning:
			l.syslog.Warning(text)
		case levelError:
			l.syslog.Err(text)
		default:
			l.syslog.Crit(text)
		}
	}
}

// escapeLogText makes a message safe for one log line: whatever a caller
// passes (an error quoting a host name, a command's output), one call is
// one line, so nobody can write a line that passes for the daemon's own
// (an audit "rpc peer=..." line). Newlines and carriage returns become \n
// and \r, other control characters (C0 but the tab, DEL, C1) and the
// Unicode line and paragraph separators \xNN or \uNNNN, and invalid UTF-8
// bytes \xNN. Printable text, tabs and backslashes pass unchanged.
func escapeLogText(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\n':
			esc = `\n`
		case r == '\r':
			esc = `\r`
		case r == '\t':
		case r < 0x20 || r == 0x7f:
			esc = fmt.Sprintf(`\x%02x`, r)
		case (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			esc = fmt.Sprintf(`\u%04x`, r)
		}
		if esc != "" {
			b.WriteString(s[done:i])
			b.WriteString(esc)
			done = i + size
		}
		i += size
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// Outputf logs a header (format and args) and then each line of a
// command's output as an entry of its own, indented, so multi-line output
// stays readable while every line of the file still starts with the
// daemon's prefix.
func (l *logger) Outputf(level logLevel, output, format string, args ...any) {
	l.log(level, format, args...)
	for _, line := range strings.Split(strings.TrimRight(output, "\n"), "\n") {
		if strings.TrimSpace(line) != "" {
			l.log(level, "  %s", strings.TrimRight(line, "\r"))
		}
	}
}

func (l *logger) Debugf(format string, args ...any)   { l.log(levelDebug, format, args...) }
func (l *logger) Infof(format string, args ...any)    { l.log(levelInfo, format, args...) }
func (l *logger) Warningf(format string, args ...any) { l.log(levelWarning, format, args...) }
func (l *logger) Errorf(format string, args ...any)   { l.log(levelError, format, args...) }

// stdLogger adapts the logger for net/http's ErrorLog (TLS handshake
// failures and the like).
func (l *logger) stdLogger(level logLevel) *stdlog.Logger {
	return stdlog.New(logWriter{l, level}, "", 0)
}

type logWriter struct {
	l     *logger
	level logLevel
}

func (w logWriter) Write(p []byte) (int, error) {
	w.l.log(w.level, "%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
