package main

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// maxDecompressed bounds what one compressed argument may expand to, so a
// small request cannot make the daemon allocate without limit.
const maxDecompressed = 256 << 20

// argError marks a malformed call (wrong count or type of arguments).
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

// decodeArgs unpacks the JSON argument list into dst, one value each, in
// order. Structs decode with encoding/json, which ignores unknown fields.
func decodeArgs(args []json.RawMessage, dst ...any) error {
	if len(args) != len(dst) {
		return &argError{fmt.Sprintf("expected %d arguments, got %d", len(dst), len(args))}
	}
	for i, d := range dst {
		if err := json.Unmarshal(args[i], d); err != nil {
			return &argError{fmt.Sprintf("argument %d: %v", i+1, err)}
		}
	}
	return nil
}

// compressedText is an argument the master may compress (rpc's
// ED_COMPRESS): [0, "plain text"] or [1, "<base64 of zlib data>"]. A plain
// JSON string is accepted too.
type compressedText string

func (c *compressedText) UnmarshalJSON(b []byte) error {
	var plain string
	if err := json.Unmarshal(b, &plain); err == nil {
		*c = compressedText(plain)
		return nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("compressed data must be [encoding, data]")
	}
	var enc int
	var data string
	if err := json.Unmarshal(pair[0], &enc); err != nil {
		return fmt.Errorf("compressed data: bad encoding: %v", err)
	}
	if err := json.Unmarshal(pair[1], &data); err != nil {
		return fmt.Errorf("compressed data: bad payload: %v", err)
	}
	switch enc {
	case 0:
		*c = compressedText(data)
		return nil
	case 1:
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
		if err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		if len(out) > maxDecompressed {
			return fmt.Errorf("compressed data expands beyond %d bytes", maxDecompressed)
		}
		*c = compressedText(out)
		return nil
	default:
		return fmt.Errorf("unknown data encoding %d", enc)
	}
}
